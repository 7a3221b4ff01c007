#!/usr/bin/env bash
# Log benchmark: holm (holm-monitor, json-file) vs podman (conmon, k8s-file) on the same busybox image, in one run.
#
#   bench/logs.sh                     # WRITE_MB=200 MiB through the monitor, a LOG_MB=1024 MiB log read back
#   PROFILE=dist bench/logs.sh        # holm built with the dist profile
#
# 1. Writing: a container prints WRITE_MB MiB of 100-byte lines (`yes LINE | head -c N`, then `END`, then
#    sleeps); the time from `run -d` until its log file holds the `END` record (best of REPEAT; bytes/s =
#    WRITE_MB MiB / that time, container start included, ~0.1 s for both), and the CPU time and write(2) count
#    of the monitor process (median), which a loaded machine disturbs less than the wall time.
# 2. Reading: the same records (70-byte lines, as many as make holm's json-file LOG_MB MiB) written straight into
#    the log file of an exited container of each engine, in its own format (holm: json-file; podman: k8s-file,
#    which is smaller), then `logs --tail 1` and a full `logs` (output to /dev/null): wall time (measured around
#    the command) and peak RSS (/usr/bin/time), best of REPEAT.
# podman runs with --runtime runc --cgroup-manager cgroupfs (no systemd here), --network none, --log-driver
# k8s-file (its default without journald) and raised rlimits (podman's defaults exceed this machine's hard
# limits). Both engines use private roots in a temp dir, removed at the end. Prints Markdown for BENCHMARKS.md.
# Runs as root; needs podman, runc, python3 and GNU time (/usr/bin/time).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

WRITE_MB="${WRITE_MB:-200}"
LOG_MB="${LOG_MB:-1024}"
REPEAT="${REPEAT:-3}"
PROFILE="${PROFILE:-release}"
for tool in podman runc python3 /usr/bin/time; do
    command -v "$tool" >/dev/null 2>&1 || {
        echo "logs.sh: missing $tool; run scripts/install-test-deps.sh" >&2
        exit 1
    }
done

echo "logs.sh: cargo build --profile $PROFILE -p holm" >&2
cargo build --profile "$PROFILE" -p holm >&2
PROFILE_DIR="$PROFILE"
[[ "$PROFILE" == dev ]] && PROFILE_DIR=debug
HOLM_BIN="${CARGO_TARGET_DIR:-$PWD/target}/$PROFILE_DIR/holm"

TMP="$(mktemp -d /tmp/holm-bench-logs.XXXXXX)"
holm() { "$HOLM_BIN" --root "$TMP/holm-root" --runroot "$TMP/holm-run" "$@"; }
pod() {
    podman --root "$TMP/podman-root" --runroot "$TMP/podman-run" --runtime runc \
        --cgroup-manager cgroupfs --events-backend file "$@"
}
POD_RUN=(--ulimit nofile=20000:20000 --ulimit nproc=32768:32768 --network none --log-driver k8s-file)
cleanup() {
    holm rm -f $(holm ps -aq 2>/dev/null) >/dev/null 2>&1 || true
    pod rm -fa >/dev/null 2>&1 || true
    pod rmi -af >/dev/null 2>&1 || true
    local m
    for m in $(awk -v t="$TMP" '$5 ~ "^"t {print $5}' /proc/self/mountinfo | sort -r); do
        umount -l "$m" 2>/dev/null || true
    done
    if grep -qF " $TMP" /proc/self/mountinfo; then
        echo "logs.sh: NOT removing $TMP: something is still mounted inside it" >&2
    else
        rm -rf "$TMP"
    fi
}
trap cleanup EXIT

scripts/make-busybox-image.sh "$TMP/busybox.tar" busybox:bench >&2
holm load -i "$TMP/busybox.tar" >&2
pod load -q -i "$TMP/busybox.tar" >&2
IMG=docker.io/library/busybox:bench
PIMG=localhost/busybox:bench

LINE=$(printf 'x%.0s' $(seq 1 99))   # 99 characters + newline = 100-byte lines
SCRIPT="yes $LINE | head -c $((WRITE_MB * 1024 * 1024)); echo END; sleep 1000"
now() { date +%s.%N; }

# Waits until the last bytes of log file $1 hold the END record.
wait_end() {
    local f=$1
    until [[ -f "$f" ]] && tail -c 200 "$f" | grep -q 'END'; do sleep 0.01; done
}

# 1. Writing. Prints "seconds cpu_seconds write_syscalls" of one run: the time until the log holds END, and the
# monitor's (holm-monitor's, conmon's) CPU time and write(2) count from /proc/PID/stat and /proc/PID/io then
# (the container still runs: `sleep` after END).
stats() {
    local pid=$1 t0=$2 ticks syscw
    ticks=$(awk '{print $14 + $15}' "/proc/$pid/stat")
    syscw=$(awk '/^syscw/ {print $2}' "/proc/$pid/io")
    python3 -c "print(f'{$(now) - $t0:.3f} {$ticks / $(getconf CLK_TCK):.2f} $syscw')"
}
write_holm() {
    local t0 id log mon
    t0=$(now)
    id=$(holm run -d --network none "$IMG" sh -c "$SCRIPT")
    log=$(holm inspect -f '{{.LogPath}}' "$id")
    wait_end "$log"
    mon=$(pgrep -f -- "holm-monitor --root $TMP/holm-root .*--id $id")
    stats "$mon" "$t0"
    holm rm -f "$id" >/dev/null
}
write_pod() {
    local t0 id log mon
    t0=$(now)
    id=$(pod run -d "${POD_RUN[@]}" "$PIMG" sh -c "$SCRIPT")
    log=$(pod inspect -f '{{.HostConfig.LogConfig.Path}}' "$id")
    wait_end "$log"
    mon=$(pgrep -f -- "conmon .*$id")
    stats "$mon" "$t0"
    pod rm -f "$id" >/dev/null
}
hw=() pw=()
for _ in $(seq "$REPEAT"); do
    hw+=("$(write_holm)")
    pw+=("$(write_pod)")
done
echo "logs.sh: write (seconds cpu writes): holm ${hw[*]}, podman ${pw[*]}" >&2

# 2. Reading: a log written straight into each engine's log file of an exited container.
hid=$(holm run -d --network none "$IMG" true)
holm wait "$hid" >/dev/null
pid=$(pod run -d "${POD_RUN[@]}" "$PIMG" true)
pod wait "$pid" >/dev/null
HLOG=$(holm inspect -f '{{.LogPath}}' "$hid")
PLOG=$(pod inspect -f '{{.HostConfig.LogConfig.Path}}' "$pid")
python3 - "$HLOG" "$PLOG" "$LOG_MB" <<'PY'
import sys
hlog, plog, mb = sys.argv[1], sys.argv[2], int(sys.argv[3])
text = "y" * 60
t = "2026-01-01T00:00:00.000000000"
hrec = lambda i: f'{{"log":"{text} {i:08}\\n","stream":"stdout","time":"{t}Z"}}\n'
prec = lambda i: f"{t}+00:00 stdout F {text} {i:08}\n"
# The same records in both: as many as make holm's json-file LOG_MB MiB (podman's k8s-file is smaller).
chunks = mb * 1024 * 1024 // len("".join(hrec(i) for i in range(10000)))
def write(path, rec):
    chunk = "".join(rec(i) for i in range(10000)).encode()
    with open(path, "wb") as f:
        for _ in range(chunks):
            f.write(chunk)
        f.write(rec(-1).replace(text, "the last line").encode())
write(hlog, hrec)
write(plog, prec)
PY
[[ "$(holm logs --tail 1 "$hid")" == "the last line -0000001" ]]
[[ "$(pod logs --tail 1 "$pid")" == "the last line -0000001" ]]

# Best (lowest time) of REPEAT runs of `CMD > /dev/null`: "seconds maxrss_kib" (wall time measured here: GNU
# time's %e has 10 ms steps).
measure() {
    local best="" out t0 rss
    for _ in $(seq "$REPEAT"); do
        t0=$(now)
        rss=$(/usr/bin/time -f '%M' "$@" 2>&1 >/dev/null | tail -1)
        out="$(python3 -c "print(f'{$(now) - $t0:.3f}')") $rss"
        if [[ -z "$best" ]] || python3 -c "import sys; sys.exit(0 if float('${out% *}') < float('${best% *}') else 1)"; then
            best=$out
        fi
    done
    echo "$best"
}
h_tail=$(measure "$HOLM_BIN" --root "$TMP/holm-root" --runroot "$TMP/holm-run" logs --tail 1 "$hid")
p_tail=$(measure podman --root "$TMP/podman-root" --runroot "$TMP/podman-run" --runtime runc \
    --cgroup-manager cgroupfs --events-backend file logs --tail 1 "$pid")
h_full=$(measure "$HOLM_BIN" --root "$TMP/holm-root" --runroot "$TMP/holm-run" logs "$hid")
p_full=$(measure podman --root "$TMP/podman-root" --runroot "$TMP/podman-run" --runtime runc \
    --cgroup-manager cgroupfs --events-backend file logs "$pid")

python3 - "$WRITE_MB" "$LOG_MB" "$PROFILE" "$(stat -c %s "$HLOG")" "$(stat -c %s "$PLOG")" \
    "$(printf '%s,' "${hw[@]}")" "$(printf '%s,' "${pw[@]}")" "$h_tail" "$p_tail" "$h_full" "$p_full" <<'PY'
import sys
wmb, lmb, profile, hsize, psize = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
def runs(arg):
    # Each run: seconds, monitor CPU seconds, monitor write(2)s; the fastest run and the median CPU.
    r = [tuple(map(float, x.split())) for x in arg.split(",") if x]
    cpu = sorted(c for _, c, _ in r)[len(r) // 2]
    return min(r), cpu
(hw, _, hwr), hcpu = runs(sys.argv[6])
(pw, _, pwr), pcpu = runs(sys.argv[7])
def tr(s):
    t, m = s.split()
    return float(t), int(m)
ht, pt, hf, pf = (tr(s) for s in sys.argv[8:12])
mib = 1024 * 1024
print(f"| writing: `yes` 100-byte lines, {wmb} MiB, container stdout → log file (holm {profile}) | seconds (best) | MiB/s | monitor CPU s (median) | monitor write(2)s | time podman / holm | CPU podman / holm |")
print("|---|---|---|---|---|---|---|")
print(f"| holm (holm-monitor, json-file) | {hw:.2f} | {wmb / hw:.0f} | {hcpu:.2f} | {hwr:.0f} | {pw / hw:.2f} | {pcpu / max(hcpu, 0.01):.2f} |")
print(f"| podman (conmon, k8s-file) | {pw:.2f} | {wmb / pw:.0f} | {pcpu:.2f} | {pwr:.0f} | 1.00 | 1.00 |")
print()
print(f"| reading the same records: holm json-file {hsize / mib:.0f} MiB, podman k8s-file {psize / mib:.0f} MiB | seconds | peak RSS MiB | time podman / holm | RSS podman / holm |")
print("|---|---|---|---|---|")
for what, h, p in (("`logs --tail 1`", ht, pt), ("`logs` (all, to /dev/null)", hf, pf)):
    print(f"| holm {what} | {h[0]:.3f} | {h[1] / 1024:.1f} | {p[0] / h[0]:.2f} | {p[1] / h[1]:.2f} |")
    print(f"| podman {what} | {p[0]:.3f} | {p[1] / 1024:.1f} | 1.00 | 1.00 |")
PY
