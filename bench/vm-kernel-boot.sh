#!/usr/bin/env bash
# Boot-to-init time of holm's guest kernel under qemu `-machine microvm` (TCG unless ACCEL=kvm), with a test
# initramfs whose /init is busybox-static: /init prints the guest's /proc/uptime and reboots (-no-reboot: qemu
# exits). Prints, per run, the wall time from qemu's start to qemu's exit and the guest uptime seen by /init.
#
#   bench/vm-kernel-boot.sh                 # RUNS=5 KERNEL=/var/lib/holm/vm/vmlinuz ACCEL=tcg MEM=256 CPUS=1
#
# Needs qemu-system-x86, busybox-static, cpio (scripts/install-test-deps.sh) and the guest kernel
# (scripts/build-guest-kernel.sh).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

RUNS="${RUNS:-5}"
KERNEL="${KERNEL:-/var/lib/holm/vm/vmlinuz}"
ACCEL="${ACCEL:-tcg}"
MEM="${MEM:-256}"
CPUS="${CPUS:-1}"

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
root="$tmp/root"
mkdir -p "$root"/{bin,proc,dev,sys}
cp /bin/busybox "$root/bin/busybox"
ln -s busybox "$root/bin/sh"
cat >"$root/init" <<'EOF'
#!/bin/busybox sh
/bin/busybox mount -t proc proc /proc
read -r up _ </proc/uptime
echo "HOLM-BOOT-INIT uptime=$up kernel=$(/bin/busybox uname -r)"
/bin/busybox reboot -f
EOF
chmod 755 "$root/init"
(cd "$root" && find . -print0 | cpio --null -o -H newc --quiet | gzip -1 >"$tmp/initrd.gz")

boot() {
    timeout 120 qemu-system-x86_64 -M microvm,x-option-roms=off,rtc=off,acpi=off -accel "$ACCEL" -cpu max -m "$MEM" \
        -smp "$CPUS" -nodefaults -no-user-config -nographic -no-reboot -serial stdio \
        -kernel "$KERNEL" -initrd "$tmp/initrd.gz" -append "console=ttyS0 panic=-1 reboot=t quiet" </dev/null
}

echo "| run | qemu start → exit (s) | guest uptime at /init (s) |"
echo "| --- | --- | --- |"
for i in $(seq 1 "$RUNS"); do
    start=$(date +%s.%N)
    out="$(boot 2>&1 || true)"
    end=$(date +%s.%N)
    line="$(grep -a HOLM-BOOT-INIT <<<"$out" || true)"
    if [[ -z "$line" ]]; then
        echo "vm-kernel-boot: run $i: no HOLM-BOOT-INIT line; console output:" >&2
        tail -n 30 <<<"$out" >&2
        exit 1
    fi
    up="$(sed -n 's/.*uptime=\([0-9.]*\).*/\1/p' <<<"$line")"
    printf '| %s | %.2f | %s |\n' "$i" "$(echo "$end - $start" | bc)" "$up"
done
echo "kernel: $(grep -a -o 'kernel=[^ ]*' <<<"$line" | head -1), accel=$ACCEL, mem=${MEM}M, cpus=$CPUS"
