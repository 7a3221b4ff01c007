#!/usr/bin/env bash
# Root filesystem sharing for VM isolation: 9p (qemu's built-in server) vs virtio-fs (qemu 7.2's virtiofsd), on a
# real Debian 12 minbase rootfs, in holm's guest kernel under qemu microvm (TCG unless ACCEL=kvm).
#
#   bench/vm-fs.sh            # RUNS=3 ROOTFS_TAR=/var/tmp/holm-fresh-debian12/bookworm-minbase.tar MEM=512
#
# Per mode and run, measured inside the guest with /proc/uptime (10 ms resolution) except the first column:
#   boot→shell   host wall time from qemu's start to `chroot /mnt /bin/sh -c 'echo'` answering from the share
#   find         `find /usr | wc -l` on the share (cold guest cache, warm host cache)
#   read         `cat` of a 64 MiB file on the share to /dev/null
#   write        `dd bs=1M count=64 conv=fsync` of a new file on the share
#   PSS          host memory of qemu + virtiofsd (sum of /proc/PID/smaps_rollup Pss) once the shell answered
#                (idle) and after the three steps (the guest's page cache then counts: it is guest RAM)
# Modes: 9p with security_model=passthrough and mapped-xattr, guest cache=none/mmap/loose (msize=512000); virtio-fs
# with virtiofsd cache=auto/always/none (guest RAM in a shared memfd, as vhost-user needs).
# Needs qemu-system-x86, busybox-static, cpio, the guest kernel (scripts/build-guest-kernel.sh); runs as root.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

RUNS="${RUNS:-3}"
KERNEL="${KERNEL:-/var/lib/holm/vm/vmlinuz}"
ACCEL="${ACCEL:-tcg}"
MEM="${MEM:-512}"
ROOTFS_TAR="${ROOTFS_TAR:-/var/tmp/holm-fresh-debian12/bookworm-minbase.tar}"
VIRTIOFSD="${VIRTIOFSD:-/usr/lib/qemu/virtiofsd}"
MODES="${MODES:-9p-passthrough-none 9p-passthrough-mmap 9p-passthrough-loose 9p-mapped-loose virtiofs-auto virtiofs-always virtiofs-none}"

tmp="$(mktemp -d /var/tmp/holm-vm-fs.XXXXXX)"
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$tmp"
}
trap cleanup EXIT

echo "vm-fs: extracting $ROOTFS_TAR" >&2
mkdir "$tmp/rootfs"
tar -xf "$ROOTFS_TAR" -C "$tmp/rootfs"
mkdir -p "$tmp/rootfs/holm-bench"
head -c $((64 << 20)) /dev/urandom >"$tmp/rootfs/holm-bench/big"

# The test initramfs: busybox as /init's shell; the mode comes as environment from the kernel command line.
init="$tmp/init-root"
mkdir -p "$init"/{bin,proc,dev,sys,mnt}
cp /bin/busybox "$init/bin/busybox"
ln -s busybox "$init/bin/sh"
cat >"$init/init" <<'EOF'
#!/bin/busybox sh
B=/bin/busybox
$B mount -t proc proc /proc
$B mount -t devtmpfs dev /dev
up() { $B cut -d' ' -f1 /proc/uptime; }
if [ "$holmfs" = 9p ]; then
    $B mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000,cache=$holmcache rootfs /mnt || echo MOUNT-FAILED
else
    $B mount -t virtiofs rootfs /mnt || echo MOUNT-FAILED
fi
$B chroot /mnt /bin/sh -c 'echo HOLM-READY'
echo HOLM-PSS-IDLE
$B sleep 2
t0=$(up); n=$($B find /mnt/usr | $B wc -l)
t1=$(up); $B cat /mnt/holm-bench/big >/dev/null
t2=$(up); $B dd if=/dev/zero of=/mnt/holm-bench/w bs=1M count=64 conv=fsync 2>/dev/null
t3=$(up); $B rm -f /mnt/holm-bench/w
d() { $B awk "BEGIN { printf \"%.2f\", $2 - $1 }"; }
echo "HOLM-RESULT files=$n find=$(d $t0 $t1) read=$(d $t1 $t2) write=$(d $t2 $t3)"
echo HOLM-PSS-NOW
$B sleep 5
$B reboot -f
EOF
chmod 755 "$init/init"
(cd "$init" && find . -print0 | cpio --null -o -H newc --quiet) >"$tmp/initrd.cpio"

pss_kb() {
    local total=0 p v
    for p in "$@"; do
        v="$(awk '/^Pss:/ {print $2}' "/proc/$p/smaps_rollup" 2>/dev/null || echo 0)"
        total=$((total + ${v:-0}))
    done
    echo "$total"
}

run_mode() {
    local mode=$1 fs cache model share=() mem=() append extra_pids=()
    case "$mode" in
    9p-*)
        fs=9p
        model="${mode#9p-}"
        model="${model%-*}"
        [[ "$model" == mapped ]] && model=mapped-xattr
        cache="${mode##*-}"
        share=(-fsdev "local,id=fs0,path=$tmp/rootfs,security_model=$model,multidevs=remap"
            -device virtio-9p-device,fsdev=fs0,mount_tag=rootfs)
        mem=(-m "$MEM")
        ;;
    virtiofs-*)
        fs=virtiofs
        cache="${mode#virtiofs-}"
        local sock="$tmp/vfs-$mode.sock"
        rm -f "$sock"
        "$VIRTIOFSD" --socket-path="$sock" -o source="$tmp/rootfs" -o cache="$cache" -o sandbox=chroot \
            -o log_level=err &
        extra_pids=($!)
        pids+=("${extra_pids[@]}")
        for _ in $(seq 1 100); do [[ -S "$sock" ]] && break; sleep 0.05; done
        share=(-chardev "socket,id=vfs,path=$sock" -device vhost-user-fs-device,chardev=vfs,tag=rootfs)
        mem=(-object "memory-backend-memfd,id=mem,size=${MEM}M,share=on" -m "$MEM")
        ;;
    esac
    local machine="microvm,x-option-roms=off,rtc=off,acpi=off"
    [[ $fs == virtiofs ]] && machine="$machine,memory-backend=mem"
    append="console=ttyS0 panic=-1 reboot=t quiet holmfs=$fs holmcache=$cache"
    local fifo="$tmp/out-$mode.fifo"
    rm -f "$fifo"
    mkfifo "$fifo"
    local start end ready="" result="" pss="" pss_idle=""
    start=$(date +%s.%N)
    # Modern (virtio 1.x) virtio-mmio: microvm's default is the legacy transport, which vhost-user (virtiofsd)
    # refuses ("virtio legacy devices aren't supported by libvhost-user").
    timeout 180 qemu-system-x86_64 -M "$machine" -accel "$ACCEL" -cpu max -smp 1 "${mem[@]}" -nodefaults \
        -global virtio-mmio.force-legacy=false \
        -no-user-config -display none -no-reboot -serial stdio -kernel "$KERNEL" -initrd "$tmp/initrd.cpio" \
        -append "$append" "${share[@]}" </dev/null >"$fifo" 2>&1 &
    local qpid=$!
    pids+=("$qpid")
    while IFS= read -r line; do
        case "$line" in
        *HOLM-READY*) ready=$(echo "$(date +%s.%N) - $start" | bc) ;;
        *HOLM-RESULT*) result="${line#*HOLM-RESULT }" ;;
        *HOLM-PSS-IDLE*)
            local qemu_pid0
            qemu_pid0="$(pgrep -P "$qpid" -x qemu-system-x86 || pgrep -P "$qpid" || echo "$qpid")"
            pss_idle=$(($(pss_kb "$qemu_pid0" "${extra_pids[@]}") / 1024))
            ;;
        *HOLM-PSS-NOW*)
            local qemu_pid
            qemu_pid="$(pgrep -P "$qpid" -x qemu-system-x86 || pgrep -P "$qpid" || echo "$qpid")"
            pss=$(($(pss_kb "$qemu_pid" "${extra_pids[@]}") / 1024))
            ;;
        *MOUNT-FAILED* | *"Kernel panic"*) echo "vm-fs: $mode: $line" >&2 ;;
        esac
    done <"$fifo"
    wait "$qpid" || true
    for p in "${extra_pids[@]}"; do
        kill "$p" 2>/dev/null || true
        wait "$p" 2>/dev/null || true
    done
    end=$(date +%s.%N)
    if [[ -z "$result" ]]; then
        echo "vm-fs: $mode: no result (qemu ran $(echo "$end - $start" | bc) s)" >&2
        return 1
    fi
    local files find read write
    files="$(sed -n 's/.*files=\([0-9]*\).*/\1/p' <<<"$result")"
    find="$(sed -n 's/.*find=\([0-9.]*\).*/\1/p' <<<"$result")"
    read="$(sed -n 's/.*read=\([0-9.]*\).*/\1/p' <<<"$result")"
    write="$(sed -n 's/.*write=\([0-9.]*\).*/\1/p' <<<"$result")"
    # No answer from the rootfs's own /bin/sh (e.g. mapped-xattr on a rootfs without its xattrs: no exec bits).
    [[ -n "$ready" ]] && ready="$(printf '%.2f' "$ready")" || ready="no shell"
    printf '| %s | %s | %s (%s entries) | %s | %s | %s | %s |\n' "$mode" "$ready" "$find" "$files" "$read" "$write" \
        "$pss_idle" "$pss"
}

echo "| mode | boot→shell (s) | find /usr (s) | read 64 MiB (s) | write+fsync 64 MiB (s) | PSS idle (MiB) | PSS after (MiB) |"
echo "| --- | --- | --- | --- | --- | --- | --- |"
for run in $(seq 1 "$RUNS"); do
    for mode in $MODES; do
        run_mode "$mode"
    done
done
echo "kernel $(basename "$KERNEL"), accel=$ACCEL, guest memory ${MEM} MiB, 1 vCPU, qemu $(qemu-system-x86_64 --version | head -1 | awk '{print $4}'), rootfs $(basename "$ROOTFS_TAR")"
