#!/usr/bin/env bash
# Engine benchmark: `holm run` vs `podman run` (with runc) on the same busybox image, on this machine.
#
#   bench/run.sh                      # RUNS=30 timed runs each, CONTAINERS=100 detached containers each
#   PROFILE=dist bench/run.sh         # holm built with the dist profile (fat LTO; slow to build)
#
# 1. Wall time of `run --rm IMAGE true` for both engines, side by side in one hyperfine invocation: both with
#    their default networking (holm: the holm0 bridge, a veth, nftables; podman 4: its CNI bridge `podman`,
#    a veth, iptables), and both again with `--network none`. Then the same four commands round-robin (one run
#    of each per round, medians), which is fair to all four when the machine's load drifts during the run. podman runs with `--runtime runc
#    --cgroup-manager cgroupfs` (this machine has no systemd) and `--ulimit nofile=1024:1024 --ulimit
#    nproc=1024:1024` (podman's default rlimits exceed this machine's hard limits, which root cannot raise
#    without CAP_SYS_RESOURCE).
# 2. Memory per detached container: CONTAINERS `sleep` containers per engine, then the Pss and private memory
#    (Private_Clean + Private_Dirty from /proc/PID/smaps_rollup) of every process that stays per container:
#    holm's monitor (by then the small `holm-monitor` executable), podman's conmon (runc exits after start on
#    both sides). The containers' own processes are the same busybox `sleep` for both and are not counted.
# SKIP_TIMING=1 skips part 1 (on a machine busy with other work the times mean little; memory does not care).
# Both engines use private roots in a temp dir; everything is removed at the end. Prints Markdown for
# BENCHMARKS.md. Runs as root; needs hyperfine, podman, runc, python3 (scripts/install-test-deps.sh).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

RUNS="${RUNS:-30}"
CONTAINERS="${CONTAINERS:-100}"
PROFILE="${PROFILE:-release}"
SKIP_TIMING="${SKIP_TIMING:-0}"
for tool in hyperfine podman runc python3; do
    command -v "$tool" >/dev/null 2>&1 || {
        echo "run.sh: missing $tool; run scripts/install-test-deps.sh" >&2
        exit 1
    }
done

echo "run.sh: cargo build --profile $PROFILE -p holm" >&2
cargo build --profile "$PROFILE" -p holm >&2
HOLM_BIN="${CARGO_TARGET_DIR:-$PWD/target}/$PROFILE/holm"

TMP="$(mktemp -d /tmp/holm-bench-run.XXXXXX)"
holm() { "$HOLM_BIN" --root "$TMP/holm-root" --runroot "$TMP/holm-run" "$@"; }
pod() {
    podman --root "$TMP/podman-root" --runroot "$TMP/podman-run" --runtime runc \
        --cgroup-manager cgroupfs --events-backend file "$@"
}
POD_RUN=(--ulimit nofile=1024:1024 --ulimit nproc=1024:1024)
cleanup() {
    holm rm -f $(holm ps -aq 2>/dev/null) >/dev/null 2>&1 || true
    pod rm -fa >/dev/null 2>&1 || true
    pod rmi -af >/dev/null 2>&1 || true
    local m
    for m in $(awk -v t="$TMP" '$5 ~ "^"t {print $5}' /proc/self/mountinfo | sort -r); do
        umount -l "$m" 2>/dev/null || true
    done
    if grep -qF " $TMP" /proc/self/mountinfo; then
        echo "run.sh: NOT removing $TMP: something is still mounted inside it" >&2
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
# Both work before timing.
[[ "$(holm run --rm "$IMG" echo ok)" == ok ]]
[[ "$(pod run --rm "${POD_RUN[@]}" "$PIMG" echo ok)" == ok ]]

HOLM_CMD="$HOLM_BIN --root $TMP/holm-root --runroot $TMP/holm-run run --rm"
POD_CMD="podman --root $TMP/podman-root --runroot $TMP/podman-run --runtime runc --cgroup-manager cgroupfs --events-backend file run --rm ${POD_RUN[*]}"
if [[ "$SKIP_TIMING" == 1 ]]; then
    echo '{"results": []}' >"$TMP/hyperfine.json"
    echo '{}' >"$TMP/roundrobin.json"
else
    hyperfine --warmup 3 --runs "$RUNS" --export-json "$TMP/hyperfine.json" \
        -n holm "$HOLM_CMD $IMG true" \
        -n podman "$POD_CMD $PIMG true" \
        -n "holm none" "$HOLM_CMD --network none $IMG true" \
        -n "podman none" "$POD_CMD --network none $PIMG true" >&2
    # The same four commands again, round-robin (one of each per round, the order rotating), so that a machine
    # whose load changes during the run (other builds) weighs on all four alike; hyperfine runs them one after
    # the other.
    echo "run.sh: $RUNS round-robin rounds" >&2
    python3 - "$TMP/roundrobin.json" "$RUNS" "$HOLM_CMD $IMG true" "$POD_CMD $PIMG true" \
        "$HOLM_CMD --network none $IMG true" "$POD_CMD --network none $PIMG true" <<'PY'
import json, subprocess, sys, time
out, rounds, cmds = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
names = ["holm", "podman", "holm none", "podman none"]
times = {n: [] for n in names}
for r in range(rounds):
    for k in range(len(cmds)):
        i = (r + k) % len(cmds)
        t = time.perf_counter()
        subprocess.run(cmds[i].split(), check=True, stdout=subprocess.DEVNULL)
        times[names[i]].append(time.perf_counter() - t)
json.dump(times, open(out, "w"))
PY
fi

echo "run.sh: starting $CONTAINERS detached containers per engine" >&2
for i in $(seq "$CONTAINERS"); do
    holm run -d "$IMG" sleep 3600 >/dev/null
    pod run -d "${POD_RUN[@]}" "$PIMG" sleep 3600 >/dev/null
done
sleep 2
mem() { # pids... → "count pss_kib private_kib"
    local p pss=0 priv=0 n=0 v
    for p in "$@"; do
        v=$(awk '/^Pss:/ {pss=$2} /^Private_(Clean|Dirty):/ {priv+=$2} END {print pss, priv}' "/proc/$p/smaps_rollup")
        pss=$((pss + ${v% *}))
        priv=$((priv + ${v#* }))
        n=$((n + 1))
    done
    echo "$n $pss $priv"
}
# Every holm monitor must be the small executable by now (`holm __monitor` only until its container runs).
big=$(pgrep -f -- "--root $TMP/holm-root .*__monitor" || true)
[[ -z "$big" ]] || echo "run.sh: WARNING: some monitors still run as the full holm: $big" >&2
monitors=$(pgrep -f -- "^holm-monitor --root $TMP/holm-root " || true)
read -r hn hpss hpriv <<<"$(mem $monitors)"
read -r pn ppss ppriv <<<"$(mem $(pgrep -f -- "conmon .*$TMP/podman"))"
[[ "$hn" == "$CONTAINERS" && "$pn" == "$CONTAINERS" ]] ||
    echo "run.sh: WARNING: $hn holm monitors and $pn conmons for $CONTAINERS containers each" >&2
# A single monitor, as a user with one container sees it (no sharing of the binary's pages with others).
one=$(head -1 <<<"$monitors")
dirty() { awk '/^Private_Dirty:/ {s+=$2} END {print s}' "/proc/$1/smaps_rollup"; }
hdirty=0
for p in $monitors; do hdirty=$((hdirty + $(dirty "$p"))); done
pdirty=0
for p in $(pgrep -f -- "conmon .*$TMP/podman"); do pdirty=$((pdirty + $(dirty "$p"))); done

python3 - "$TMP/hyperfine.json" "$hn" "$hpss" "$hpriv" "$pn" "$ppss" "$ppriv" "$RUNS" "$PROFILE" \
    "$(awk '/^Private_(Clean|Dirty):/ {s+=$2} END {print s}' /proc/$one/smaps_rollup)" "$hdirty" "$pdirty" \
    "$TMP/roundrobin.json" <<'PY'
import json, statistics, sys
hf, hn, hpss, hpriv, pn, ppss, ppriv, runs, profile, one, hdirty, pdirty, rr = sys.argv[1:]
res = {r["command"]: r for r in json.load(open(hf))["results"]}
rr = json.load(open(rr))
if rr:
    print(f"| `run --rm IMG true`, round-robin ({runs} rounds, holm {profile}) | median ms | p25 ms | p75 ms "
          "| podman / holm (medians) |")
    print("|---|---:|---:|---:|---:|")
    q = lambda v: statistics.quantiles(v, n=4)
    for net, suffix in (("default network", ""), ("--network none", " none")):
        h, p = rr["holm" + suffix], rr["podman" + suffix]
        for name, v in (("holm", h), ("podman + runc", p)):
            print(f"| {name}, {net} | {statistics.median(v)*1e3:.0f} | {q(v)[0]*1e3:.0f} | {q(v)[2]*1e3:.0f} | "
                  f"{statistics.median(p)/statistics.median(v):.2f} |")
    print()
hn, hpss, hpriv, pn, ppss, ppriv, hdirty, pdirty = map(int, (hn, hpss, hpriv, pn, ppss, ppriv, hdirty, pdirty))
if res:
    print(f"| `run --rm IMG true` ({runs} runs, holm {profile}) | mean ms | min ms | max ms | podman / holm |")
    print("|---|---:|---:|---:|---:|")
    for net, suffix in (("default network", ""), ("--network none", " none")):
        h, p = res["holm" + suffix], res["podman" + suffix]
        for name, r in (("holm", h), ("podman + runc", p)):
            print(f"| {name}, {net} | {r['mean']*1e3:.0f} ± {r['stddev']*1e3:.0f} | {r['min']*1e3:.0f} | "
                  f"{r['max']*1e3:.0f} | {p['mean']/r['mean']:.2f} |")
    print()
print("| per detached container | processes | Pss KiB (mean) | private KiB (mean) | Private_Dirty KiB (mean) "
      "| conmon / holm (private) |")
print("|---|---:|---:|---:|---:|---:|")
print(f"| holm monitor (holm-monitor) | {hn} | {hpss/hn:.0f} | {hpriv/hn:.0f} | {hdirty/hn:.0f} | "
      f"{(ppriv/pn)/(hpriv/hn):.2f} |")
print(f"| podman conmon | {pn} | {ppss/pn:.0f} | {ppriv/pn:.0f} | {pdirty/pn:.0f} | 1.00 |")
print()
print(f"One holm monitor's private memory, counting the binary pages it shares with the others: {one} KiB.")
PY
