#!/bin/sh
# Runs inside the debootstrapped root file system (chroot) once, before it is
# imported as the lab host image. Every change here is part of the image's
# fingerprint: editing this file rebuilds the image on the next lab.yml run.
set -eu

# No loadable kernel modules in a container: systemd-modules-load would fail
# and leave the system "degraded" (lab notes).
ln -sf /dev/null /etc/systemd/system/systemd-modules-load.service

# Each host generates its own SSH host keys on first boot instead of sharing
# the ones debootstrap made.
rm -f /etc/ssh/ssh_host_*
mkdir -p /etc/systemd/system/ssh.service.d
cat > /etc/systemd/system/ssh.service.d/rentstack-hostkeys.conf <<'UNIT'
[Service]
ExecStartPre=
ExecStartPre=/usr/bin/ssh-keygen -A
ExecStartPre=/usr/sbin/sshd -t
UNIT
ln -sf /lib/systemd/system/ssh.service /etc/systemd/system/multi-user.target.wants/ssh.service
mkdir -p /root/.ssh
chmod 0700 /root/.ssh

# Keep downloaded .debs: /var/cache/apt/archives is shared by all lab hosts.
cat > /etc/apt/apt.conf.d/90rentstack-lab <<'APT'
Binary::apt::APT::Keep-Downloaded-Packages "true";
APT::Keep-Downloaded-Packages "true";
APT::Install-Recommends "false";
APT
rm -f /etc/apt/apt.conf.d/docker-clean

# Package installs are most of a fresh deploy's time on the lab machine. Like
# Debian's official container images, the lab hosts let dpkg skip its fsync
# per unpacked file (a lab host that loses power is rebuilt, not repaired) and
# keep no manual pages or documentation (no one reads them inside a lab host;
# the copyright files stay), so man-db has nothing to index either. Real hosts
# keep dpkg's defaults: this is the lab image, not a role.
printf 'force-unsafe-io\n' > /etc/dpkg/dpkg.cfg.d/rentstack-lab-unsafe-io
cat > /etc/dpkg/dpkg.cfg.d/rentstack-lab-nodoc <<'DPKG'
path-exclude /usr/share/man/*
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/info/*
DPKG
echo 'man-db man-db/auto-update boolean false' | debconf-set-selections

# The install guide: no 127.0.1.1 line for the host name.
printf '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n' > /etc/hosts

# No consoles to log in on inside a container.
ln -sf /dev/null /etc/systemd/system/getty@tty1.service
ln -sf /dev/null /etc/systemd/system/serial-getty@.service

apt-get clean
rm -rf /var/lib/apt/lists/*
