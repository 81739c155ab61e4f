#!/bin/sh
# Boot the rentstack test guest under qemu (TCG, user-mode network) and wait
# for its marker line (managed by the guest_image role, which runs this under
# flock so concurrent runs take turns on the work directory and the port).
#
#   selftest.sh WORKDIR KERNEL INITRD DISK CMDLINE MEMORY PORT TIMEOUT MARKER [METADATA_HTTP]
#
# METADATA_HTTP: a file holding a whole HTTP response; qemu's guestfwd serves
# it at 169.254.169.254:80 (the slirp network is 169.254.0.0/16 so that
# address is inside it). Prints marker=, http=, elapsed=, burn= and powerdown=
# (seconds from the ACPI power button to power-off, or none after 30 s) lines;
# exit 1 with the console tail if the marker does not appear within TIMEOUT s.
set -u
work=$1 kernel=$2 initrd=$3 disk=$4 cmdline=$5 memory=$6 port=$7 limit=$8 marker=$9
meta=${10:-}

log=$work/serial.log
rm -f "$log" "$work/qemu.out" "$work/monitor.in" "$work/monitor.out"
# The human monitor on two FIFOs (qemu opens them read-write, so neither side blocks): system_powerdown
# presses the ACPI power button, as Nova's stop does.
mkfifo "$work/monitor.in" "$work/monitor.out"
netdev="user,id=n0,net=169.254.0.0/16,host=169.254.0.2,dhcpstart=169.254.0.15,dns=169.254.0.3"
netdev="$netdev,hostfwd=tcp:127.0.0.1:$port-:80"
[ -z "$meta" ] || netdev="$netdev,guestfwd=tcp:169.254.169.254:80-cmd:cat $meta"

start=$(date +%s)
# timeout is a backstop; normally the trap stops qemu as soon as we are done.
timeout "$((limit + 60))" qemu-system-x86_64 -machine pc,accel=tcg -m "$memory" \
    -display none -monitor "pipe:$work/monitor" -serial "file:$log" -no-reboot \
    -kernel "$kernel" -initrd "$initrd" -append "$cmdline" \
    -netdev "$netdev" -device virtio-net-pci,netdev=n0 \
    -drive "file=$disk,format=raw,if=virtio,snapshot=on" \
    </dev/null >"$work/qemu.out" 2>&1 &
qemu=$!
trap 'kill "$qemu" 2>/dev/null; wait "$qemu" 2>/dev/null' EXIT

pattern="$marker uuid=[-0-9a-z]* ip=[0-9a-z.]*"
line=
while [ "$(($(date +%s) - start))" -lt "$limit" ]; do
    line=$(tr -d '\r' < "$log" 2>/dev/null | grep -o "$pattern" | head -n 1)
    [ -z "$line" ] || break
    kill -0 "$qemu" 2>/dev/null || break
    sleep 0.5
done
elapsed=$(($(date +%s) - start))

if [ -z "$line" ]; then
    echo "no '$marker' line after ${elapsed}s; qemu said: $(cat "$work/qemu.out" 2>/dev/null)"
    echo "--- serial console tail ---"
    tr -d '\r' < "$log" 2>/dev/null | tail -n 25
    exit 1
fi

# What the guest's httpd serves (retry: httpd starts just before the marker).
http=
n=0
while [ "$n" -lt 10 ] && [ -z "$http" ]; do
    http=$(python3 - "$port" <<'EOF' 2>/dev/null
import sys, urllib.request
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
print(opener.open(f"http://127.0.0.1:{sys.argv[1]}/index.html", timeout=5).read().decode().strip())
EOF
)
    n=$((n + 1))
    [ -n "$http" ] || sleep 1
done

# Press the power button and wait for the guest to power off (-no-reboot: qemu exits).
echo system_powerdown > "$work/monitor.in"
pressed=$(date +%s)
powerdown=none
while [ "$(($(date +%s) - pressed))" -lt 30 ]; do
    if ! kill -0 "$qemu" 2>/dev/null; then powerdown=$(($(date +%s) - pressed)); break; fi
    sleep 0.5
done

echo "marker=$line"
echo "http=$http"
echo "elapsed=$elapsed"
if grep -q "started [0-9]* busy loop" "$log"; then echo "burn=yes"; else echo "burn=no"; fi
echo "powerdown=$powerdown"
