#!/usr/bin/env bash
# Network throughput through a published port (`-p 127.0.0.1::80`): a process container vs the same container with
# `--isolation vm`, side by side in one run. Each container serves a SIZE_MB file with busybox httpd; curl on the
# host downloads it through the port ROUNDS times (alternating process and VM), and the script prints MB/s (median,
# min, max) and the ratio. The data path of the VM: DNAT -> veth -> tc mirred -> tap -> qemu virtio-net -> guest;
# of the process container: DNAT -> veth. holm runs with a private --root/--runroot in a temp dir removed at exit.
#
#   bench/vm-net.sh                  # ROUNDS=5 SIZE_MB=64, holm from PROFILE=release (cargo build)
#   HOLM_BIN_DIR=target/debug bench/vm-net.sh   # use binaries already built (holm, holm-monitor, holm-runtime)
#
# Runs as root; needs curl, python3, qemu-system-x86, the guest kernel (scripts/build-guest-kernel.sh) and the agent
# (scripts/build-agent.sh), as scripts/install-test-deps.sh installs. TCG on hosts whose KVM cannot boot a guest.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

ROUNDS="${ROUNDS:-5}"
SIZE_MB="${SIZE_MB:-64}"
PROFILE="${PROFILE:-release}"
if [[ -z "${HOLM_BIN_DIR:-}" ]]; then
    echo "vm-net: cargo build --profile $PROFILE -p holm -p holm-runtime" >&2
    cargo build --profile "$PROFILE" -p holm -p holm-runtime >&2
    dir="$PROFILE"
    [[ "$PROFILE" == dev ]] && dir=debug
    HOLM_BIN_DIR="${CARGO_TARGET_DIR:-$PWD/target}/$dir"
fi
if [[ -z "${HOLM_VM_AGENT:-}" ]]; then
    HOLM_VM_AGENT="$(scripts/build-agent.sh)"
fi
export HOLM_VM_AGENT
scripts/build-guest-kernel.sh >&2

TMP="$(mktemp -d /tmp/holm-bench-vmnet.XXXXXX)"
holm() { "$HOLM_BIN_DIR/holm" --root "$TMP/root" --runroot "$TMP/run" "$@"; }
cleanup() {
    local c
    for c in $(holm ps -aq 2>/dev/null || true); do
        holm rm -f "$c" >/dev/null 2>&1 || true
    done
    if grep -qF " $TMP" /proc/self/mountinfo; then
        echo "vm-net: NOT removing $TMP: something is still mounted inside it" >&2
    else
        rm -rf "$TMP"
    fi
}
trap cleanup EXIT

scripts/make-busybox-image.sh "$TMP/busybox.tar" busybox:vmnet >/dev/null
holm load -i "$TMP/busybox.tar" >/dev/null
mkdir -p "$TMP/www"
head -c "$((SIZE_MB * 1024 * 1024))" /dev/urandom >"$TMP/www/blob"

# Starts a detached httpd container (extra flags in "$@") and prints host:port of its published port 80.
serve() {
    local id
    id=$(holm run -d -p 127.0.0.1::80 -v "$TMP/www:/w:ro" "$@" busybox:vmnet httpd -f -p 80 -h /w)
    holm port "$id" 80 | head -n1
}
proc_addr=$(serve)
vm_addr=$(serve --isolation vm --memory 256m)

# Waits until the server answers (a VM boots for a few seconds under TCG).
ready() {
    local i
    for i in $(seq 1 240); do
        curl -fsS -o /dev/null "http://$1/blob" --max-time 60 2>/dev/null && return 0
        sleep 0.5
    done
    echo "vm-net: http://$1 never answered" >&2
    return 1
}
ready "$proc_addr"
ready "$vm_addr"

# curl's average download speed in bytes/s.
speed() { curl -fsS -o /dev/null -w '%{speed_download}\n' "http://$1/blob"; }
: >"$TMP/proc.txt"
: >"$TMP/vm.txt"
for _ in $(seq 1 "$ROUNDS"); do
    speed "$proc_addr" >>"$TMP/proc.txt"
    speed "$vm_addr" >>"$TMP/vm.txt"
done

python3 - "$TMP/proc.txt" "$TMP/vm.txt" "$SIZE_MB" "$ROUNDS" <<'PY'
import statistics, sys
def load(p):
    return [float(x) / 1e6 for x in open(p).read().split()]
proc, vm = load(sys.argv[1]), load(sys.argv[2])
print(f"GET of a {sys.argv[3]} MiB file through -p 127.0.0.1::80 (busybox httpd), {sys.argv[4]} rounds, MB/s:\n")
print("| container | median MB/s | min | max | process / this (medians) |")
print("|---|---:|---:|---:|---:|")
pm = statistics.median(proc)
for name, xs in (("process", proc), ("--isolation vm", vm)):
    m = statistics.median(xs)
    print(f"| {name} | {m:.1f} | {min(xs):.1f} | {max(xs):.1f} | {pm / m:.2f} |")
PY
echo
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
