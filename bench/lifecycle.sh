#!/usr/bin/env bash
# Lifecycle benchmark: holm-runtime vs runc on this machine.
#
#   bench/lifecycle.sh            # RUNS=50 by default; RUNS=200 bench/lifecycle.sh for more
#
# 1. Wall time of one full `run` (create, start, wait, delete) of a busybox container running
#    /bin/true, measured by hyperfine for both runtimes in one invocation.
# 2. Peak RSS (`/usr/bin/time -v`, "Maximum resident set size": the largest process of the
#    runtime's tree, so the runtime's own init stage counts) over 5 runs each.
# Prints a Markdown table to paste into BENCHMARKS.md. Runs as root; needs hyperfine, runc,
# time and python3 (scripts/install-test-deps.sh installs them).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

RUNS="${RUNS:-50}"
RSS_RUNS=5
RUNC="$(command -v runc || true)"
for tool in hyperfine python3 "$RUNC" /usr/bin/time; do
    if [[ -z "$tool" ]] || ! command -v "$tool" >/dev/null 2>&1; then
        echo "lifecycle: missing ${tool:-runc}; run scripts/install-test-deps.sh" >&2
        exit 1
    fi
done

echo "lifecycle: scripts/build-dist.sh (dist profile, statically linked)" >&2
HOLM="$(scripts/build-dist.sh)"

TMP="$(mktemp -d /tmp/holm-bench.XXXXXX)"
cleanup() {
    local rt root bin id
    for rt in holm runc; do
        root="$TMP/state-$rt"
        [[ -d "$root" ]] || continue
        if [[ "$rt" == holm ]]; then bin="$HOLM"; else bin="$RUNC"; fi
        for id in $("$bin" --root "$root" list -q 2>/dev/null || true); do
            "$bin" --root "$root" delete --force "$id" >/dev/null 2>&1 || true
        done
    done
    umount "$TMP/state-holm" "$TMP/state-runc" 2>/dev/null || true
    if grep -qF " $TMP" /proc/self/mountinfo; then
        echo "lifecycle: NOT removing $TMP: something is still mounted inside it" >&2
    else
        rm -rf "$TMP"
    fi
}
trap cleanup EXIT

# One bundle shared by both runtimes: busybox rootfs, runc's default spec, no terminal,
# process /bin/true. The same config.json for both keeps the comparison fair.
B="$TMP/bundle"
mkdir -p "$B/rootfs"/{bin,proc,sys,dev,tmp,etc,root} "$TMP/state-holm" "$TMP/state-runc"
# State roots on tmpfs, as /run is on most hosts (runc's default root /run/runc, holm's /run/holm): both runtimes
# then pay nothing for fsync of their state files, as in production.
mount -t tmpfs -o size=64m tmpfs "$TMP/state-holm"
mount -t tmpfs -o size=64m tmpfs "$TMP/state-runc"
cp /bin/busybox "$B/rootfs/bin/busybox"
for applet in $("$B/rootfs/bin/busybox" --list); do
    [[ "$applet" == busybox ]] || ln -s busybox "$B/rootfs/bin/$applet"
done
(cd "$B" && "$RUNC" spec)
python3 - "$B/config.json" <<'PY'
import json, sys
path = sys.argv[1]
with open(path) as f:
    spec = json.load(f)
spec["process"]["terminal"] = False
spec["process"]["args"] = ["/bin/true"]
with open(path, "w") as f:
    json.dump(spec, f, indent=2)
PY

# Each sample needs a fresh container id: `sh -c` gets a new pid ($$) per run. A foreground
# `run` deletes its container when it exits, so no separate `delete` is timed; leftovers (if a
# runtime does not) are removed on exit. The same sh wrapper costs both runtimes the same.
cmd_for() { # <runtime binary> <state root>
    printf "sh -c '\"%s\" --root \"%s\" run --bundle \"%s\" b\$\$ >/dev/null'" "$1" "$2" "$B"
}
HOLM_CMD="$(cmd_for "$HOLM" "$TMP/state-holm")"
RUNC_CMD="$(cmd_for "$RUNC" "$TMP/state-runc")"

# Fail early with the runtime's own message if a single run does not work.
check_run() { # <runtime binary> <state root>
    local out
    if ! out="$("$1" --root "$2" run --bundle "$B" "check-$$" 2>&1)"; then
        echo "lifecycle: a single run with $1 fails:" >&2
        echo "$out" >&2
        exit 1
    fi
    "$1" --root "$2" delete --force "check-$$" >/dev/null 2>&1 || true
}
check_run "$HOLM" "$TMP/state-holm"
check_run "$RUNC" "$TMP/state-runc"

hyperfine --warmup 3 --runs "$RUNS" -N \
    --export-json "$TMP/lifecycle.json" \
    --command-name holm-runtime "$HOLM_CMD" \
    --command-name runc "$RUNC_CMD" >&2

peak_rss_kb() { # <runtime binary> <state root>; prints max "Maximum resident set size" in kB
    local max=0 i kb
    for ((i = 0; i < RSS_RUNS; i++)); do
        "$1" --root "$2" delete --force "rss-$i-$$" >/dev/null 2>&1 || true
        kb="$(/usr/bin/time -v "$1" --root "$2" run --bundle "$B" "rss-$i-$$" 2>&1 >/dev/null |
            awk -F': ' '/Maximum resident set size/ {print $2}')"
        if [[ -z "$kb" ]]; then
            echo "lifecycle: no RSS reported for $1" >&2
            exit 1
        fi
        if ((kb > max)); then
            max=$kb
        fi
    done
    echo "$max"
}
HOLM_RSS="$(peak_rss_kb "$HOLM" "$TMP/state-holm")"
RUNC_RSS="$(peak_rss_kb "$RUNC" "$TMP/state-runc")"

python3 - "$TMP/lifecycle.json" "$HOLM_RSS" "$RUNC_RSS" "$RUNS" \
    "$(uname -r)" "$(nproc)" "$("$RUNC" --version | head -n1)" "$(hyperfine --version)" <<'PY'
import json, sys
path, holm_rss, runc_rss, runs, kernel, cpus, runc_version, hyperfine_version = sys.argv[1:]
results = {r["command"]: r for r in json.load(open(path))["results"]}
holm, runc = results["holm-runtime"], results["runc"]
hm, rm = holm["median"] * 1000, runc["median"] * 1000
hs, rs = holm["stddev"] * 1000, runc["stddev"] * 1000
hr, rr = int(holm_rss) / 1024, int(runc_rss) / 1024
print()
print(f"Kernel {kernel}, {cpus} CPUs, {runc_version}, {hyperfine_version}, {runs} runs.")
print()
print("| metric | holm-runtime | runc | holm / runc |")
print("|---|---:|---:|---:|")
print(f"| `run` of busybox `/bin/true`, median wall time | {hm:.2f} ms (σ {hs:.2f}) "
      f"| {rm:.2f} ms (σ {rs:.2f}) | {hm / rm:.2f} |")
print(f"| peak RSS, max of 5 runs | {hr:.1f} MiB | {rr:.1f} MiB | {hr / rr:.2f} |")
PY
