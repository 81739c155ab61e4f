#!/bin/sh
# Build the rentstack test guest from two Debian packages (managed by the
# guest_image role; it runs this only when an input changed).
#
#   build-guest.sh KERNEL_DEB BUSYBOX_DEB SRC_DIR OUT_DIR DISK_SIZE MODULE...
#
# SRC_DIR holds the rendered `init` and `udhcpc.script`. Writes OUT_DIR/vmlinuz,
# OUT_DIR/initrd.gz (cpio newc, gzip; byte-for-byte reproducible for the same
# inputs), OUT_DIR/disk.raw (zeros) and OUT_DIR/manifest.txt.
set -eu

kernel_deb=$1
busybox_deb=$2
src=$3
out=$4
disk_size=$5
shift 5

tmp=$(mktemp -d "$out/.build.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# The kernel package: vmlinuz and the module tree (lib/modules or, merged-usr, usr/lib/modules).
dpkg-deb -x "$kernel_deb" "$tmp/kernel"
vmlinuz=$(find "$tmp/kernel/boot" -maxdepth 1 -name 'vmlinuz-*' | head -n 1)
[ -n "$vmlinuz" ] || { echo "no boot/vmlinuz-* in $kernel_deb" >&2; exit 1; }
if [ -d "$tmp/kernel/usr/lib/modules" ]; then base=$tmp/kernel/usr; else base=$tmp/kernel; fi
kver=$(basename "$(find "$base/lib/modules" -mindepth 1 -maxdepth 1 -type d | head -n 1)")
depmod -b "$base" "$kver"

root=$tmp/root
mkdir -p "$root/bin" "$root/sbin" "$root/usr/bin" "$root/usr/sbin" "$root/etc" \
    "$root/lib/modules" "$root/dev" "$root/proc" "$root/sys" "$root/tmp" "$root/run" "$root/www"

# Modules in load order: modprobe --show-depends prints each module's
# dependencies first ("insmod PATH") or "builtin NAME" for built-in code.
: > "$tmp/order"
: > "$tmp/builtin"
for mod in "$@"; do
    modprobe -d "$base" -S "$kver" --show-depends "$mod" > "$tmp/deps"
    while read -r verb path _rest; do
        case $verb in
            insmod) grep -qxF "$path" "$tmp/order" || echo "$path" >> "$tmp/order" ;;
            builtin) echo "$path" >> "$tmp/builtin" ;;
        esac
    done < "$tmp/deps"
done
: > "$root/etc/rentstack-modules"
while read -r path; do
    name=$(basename "$path")
    case $name in
        *.ko.xz) xz -dc "$path" > "$root/lib/modules/${name%.xz}"; name=${name%.xz} ;;
        *.ko.zst) zstd -qdc "$path" > "$root/lib/modules/${name%.zst}"; name=${name%.zst} ;;
        *.ko.gz) gzip -dc "$path" > "$root/lib/modules/${name%.gz}"; name=${name%.gz} ;;
        *) cp "$path" "$root/lib/modules/$name" ;;
    esac
    echo "$name" >> "$root/etc/rentstack-modules"
done < "$tmp/order"

# busybox (static) is the whole userland; init creates the applet links at boot.
dpkg-deb -x "$busybox_deb" "$tmp/busybox"
cp "$tmp/busybox/bin/busybox" "$root/bin/busybox"
install -m 0755 "$src/init" "$root/init"
install -m 0755 "$src/udhcpc.script" "$root/etc/udhcpc.script"
# The kernel opens /dev/console for init before anything is mounted.
mknod -m 0600 "$root/dev/console" c 5 1
mknod -m 0666 "$root/dev/null" c 1 3

# Reproducible archive: fixed owner and mtimes, sorted names, no gzip timestamp.
find "$root" -exec touch -h -d @0 {} +
(cd "$root" && find . -print0 | LC_ALL=C sort -z |
    cpio --quiet --null -o -H newc -R 0:0 --reproducible) | gzip -9 -n > "$tmp/initrd.gz"

cp "$vmlinuz" "$tmp/vmlinuz"
truncate -s "$disk_size" "$tmp/disk.raw"

{
    echo "kernel_package=$(dpkg-deb -f "$kernel_deb" Package) $(dpkg-deb -f "$kernel_deb" Version)"
    echo "kernel_release=$kver"
    echo "busybox_package=$(dpkg-deb -f "$busybox_deb" Package) $(dpkg-deb -f "$busybox_deb" Version)"
    echo "modules_loaded=$(tr '\n' ' ' < "$root/etc/rentstack-modules" | sed 's/ $//')"
    echo "modules_builtin=$(sort -u "$tmp/builtin" | tr '\n' ' ' | sed 's/ $//')"
    echo "initrd_bytes=$(stat -c %s "$tmp/initrd.gz")"
} > "$tmp/manifest.txt"

for f in vmlinuz initrd.gz disk.raw manifest.txt; do
    chmod 0644 "$tmp/$f"
    mv -f "$tmp/$f" "$out/$f"
done
cat "$out/manifest.txt"
