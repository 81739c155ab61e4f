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

# The install guide: no 127.0.1.1 line for the host name.
printf '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n' > /etc/hosts

# No consoles to log in on inside a container.
ln -sf /dev/null /etc/systemd/system/getty@tty1.service
ln -sf /dev/null /etc/systemd/system/serial-getty@.service

apt-get clean
rm -rf /var/lib/apt/lists/*
