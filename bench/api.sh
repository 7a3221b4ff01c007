#!/usr/bin/env bash
# Docker Engine API benchmark: the same clients, side by side in one run, against
#   - holm's socket (`holm system service --time 0`),
#   - dockerd (Debian's docker.io, started here with its own --data-root/--exec-root, cgroupfs, its docker0 on
#     BIP, no iptables rules: the runs need no NAT),
#   - podman's socket (`podman system service --time 0`, runc, cgroupfs, file events),
# each with a private root in a temp dir. Measured with hyperfine:
#   1. `docker run --rm busybox true` (each server's default network) — RUNS runs after WARMUP;
#   2. `docker ps -a` (one API round trip with little work);
#   3. `docker-compose up -d` of crates/holm/tests/compose/docker-compose.yml (the api_compose test's project:
#      httpd with a healthcheck + a client that waits for it to be healthy and reaches it by name) until web is
#      healthy and client runs — COMPOSE_RUNS runs after COMPOSE_WARMUP, `docker-compose down -v` before each.
#      A server on which one probe cycle does not finish within COMPOSE_TIMEOUT seconds is left out of the
#      timing and reported with its state. podman's healthchecks are run by a loop here (see health_loop).
# Prints Markdown for BENCHMARKS.md (tables, means, ratios to holm). Everything it started (servers,
# containers, networks, volumes, mounts, the bridges it created) is removed at exit, also on failure.
# Runs as root; needs docker.io, podman, runc, hyperfine, docker-compose, python3 (scripts/install-test-deps.sh).
#
#   bench/api.sh                 # RUNS=20 WARMUP=3 COMPOSE_RUNS=5 COMPOSE_WARMUP=1, holm's release profile
#   PROFILE=dist RUNS=50 bench/api.sh
#   HOLM_BIN=target/debug/holm PROFILE=dev RUNS=1 WARMUP=0 COMPOSE_RUNS=1 COMPOSE_WARMUP=0 bench/api.sh  # a dry run
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

RUNS="${RUNS:-20}"
WARMUP="${WARMUP:-3}"
COMPOSE_RUNS="${COMPOSE_RUNS:-5}"
COMPOSE_WARMUP="${COMPOSE_WARMUP:-1}"
COMPOSE_TIMEOUT="${COMPOSE_TIMEOUT:-90}"
PROFILE="${PROFILE:-release}"
DOCKER="${DOCKER:-$(command -v docker)}"
BIP="${BIP:-10.213.0.1/24}"
for tool in "$DOCKER" /usr/sbin/dockerd podman runc hyperfine docker-compose python3; do
    command -v "$tool" >/dev/null 2>&1 || {
        echo "api.sh: missing $tool; run scripts/install-test-deps.sh" >&2
        exit 1
    }
done

if [[ -z "${HOLM_BIN:-}" ]]; then
    echo "api.sh: cargo build --profile $PROFILE -p holm" >&2
    cargo build --profile "$PROFILE" -p holm >&2
    PROFILE_DIR="$PROFILE"
    [[ "$PROFILE" == dev ]] && PROFILE_DIR=debug
    HOLM_BIN="${CARGO_TARGET_DIR:-$PWD/target}/$PROFILE_DIR/holm"
fi
COMPOSE_SRC="$PWD/crates/holm/tests/compose/docker-compose.yml"

TMP="$(mktemp -d /tmp/holm-bench-api.XXXXXX)"
export DOCKER_CONFIG="$TMP/docker-config" HOLM_COMPOSE_IMAGE=busybox:bench COMPOSE_INTERACTIVE_NO_CLI=1
NAMES=(holm dockerd podman)
declare -A SOCK=([holm]="$TMP/holm.sock" [dockerd]="$TMP/dockerd.sock" [podman]="$TMP/podman.sock")
# bridges the servers may create; removed at exit if they were not there before (and nothing is on them)
NEW_BRIDGES=()
for b in docker0 cni-podman0; do ip link show "$b" >/dev/null 2>&1 || NEW_BRIDGES+=("$b"); done
pids=()
pod() {
    podman --root "$TMP/podman-root" --runroot "$TMP/podman-run" --runtime runc \
        --cgroup-manager cgroupfs --events-backend file "$@"
}
cleanup() {
    local p m n s b
    set +e
    for n in "${NAMES[@]}"; do
        s="${SOCK[$n]}"
        [[ -S "$s" ]] || continue
        [[ -d "$TMP/compose-$n" ]] && (cd "$TMP/compose-$n" && DOCKER_HOST="unix://$s" timeout 60 \
            docker-compose -p "bench$n" down -v -t 1 >/dev/null 2>&1)
        ids=$("$DOCKER" -H "unix://$s" ps -aq 2>/dev/null)
        [[ -n "$ids" ]] && "$DOCKER" -H "unix://$s" rm -f $ids >/dev/null 2>&1
    done
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
    if pgrep -f "$TMP" >/dev/null; then
        echo "api.sh: still running after cleanup: $(pgrep -af "$TMP" | cut -c1-200)" >&2
    fi
    [[ -f "$TMP/dockerd.pid" ]] && kill "$(cat "$TMP/dockerd.pid")" 2>/dev/null
    sleep 1
    for m in $(awk -v t="$TMP" '$5 ~ "^"t {print $5}' /proc/self/mountinfo | sort -r); do
        umount -l "$m" 2>/dev/null
    done
    for b in "${NEW_BRIDGES[@]}"; do
        if ip link show "$b" >/dev/null 2>&1 && [[ -z "$(ip -br link show master "$b" 2>/dev/null)" ]]; then
            ip link del "$b" 2>/dev/null
        fi
    done
    if grep -qF " $TMP" /proc/self/mountinfo; then
        echo "api.sh: NOT removing $TMP: something is still mounted inside it" >&2
    else
        rm -rf "$TMP"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

scripts/make-busybox-image.sh "$TMP/busybox.tar" busybox:bench >&2

# (started directly, not through a shell function: `$!` must be the server's pid, not a subshell's)
"$HOLM_BIN" --root "$TMP/holm-root" --runroot "$TMP/holm-run" system service --time 0 "unix://${SOCK[holm]}" \
    2>"$TMP/holm-service.log" &
pids+=($!)
/usr/sbin/dockerd --data-root "$TMP/dockerd-data" --exec-root "$TMP/dockerd-exec" --pidfile "$TMP/dockerd.pid" \
    -H "unix://${SOCK[dockerd]}" --bip "$BIP" --iptables=false --ip-forward=false --ip-masq=false \
    --exec-opt native.cgroupdriver=cgroupfs >"$TMP/dockerd.log" 2>&1 &
pids+=($!)
# (this machine's hard NOFILE limit is 20000 and root lacks CAP_SYS_RESOURCE: podman's default nofile ulimit of
# 1048576 fails every start, so its service gets the limits bench/logs.sh gives `podman run`)
printf '[containers]\ndefault_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]\n' >"$TMP/containers.conf"
CONTAINERS_CONF="$TMP/containers.conf" podman --root "$TMP/podman-root" --runroot "$TMP/podman-run" \
    --runtime runc --cgroup-manager cgroupfs --events-backend file \
    system service --time 0 "unix://${SOCK[podman]}" 2>"$TMP/podman-service.log" &
pids+=($!)

for n in "${NAMES[@]}"; do
    s="${SOCK[$n]}"
    for _ in $(seq 300); do
        "$DOCKER" -H "unix://$s" version >/dev/null 2>&1 && break
        sleep 0.1
    done
    "$DOCKER" -H "unix://$s" version >/dev/null || {
        echo "api.sh: no server on $s ($n)" >&2
        exit 1
    }
    "$DOCKER" -H "unix://$s" load -i "$TMP/busybox.tar" >&2
    mkdir -p "$TMP/compose-$n"
    cp "$COMPOSE_SRC" "$TMP/compose-$n/docker-compose.yml"
done

# One compose cycle, as hyperfine runs it (no shell: these are scripts): `up -d`, then poll until web is healthy
# and client runs. `down.sh` is the --prepare of each run.
cat >"$TMP/up.sh" <<EOF
#!/usr/bin/env bash
set -eu
cd "$TMP/compose-\$1"
export DOCKER_HOST="unix://\$2"
docker-compose -p "bench\$1" up -d >/dev/null 2>&1
for _ in \$(seq 6000); do
    web=\$("$DOCKER" inspect -f '{{.State.Health.Status}}' "bench\$1_web_1" 2>/dev/null || true)
    client=\$("$DOCKER" inspect -f '{{.State.Running}}' "bench\$1_client_1" 2>/dev/null || true)
    [[ "\$web" == healthy && "\$client" == true ]] && exit 0
    sleep 0.05
done
exit 1
EOF
cat >"$TMP/down.sh" <<EOF
#!/usr/bin/env bash
cd "$TMP/compose-\$1"
DOCKER_HOST="unix://\$2" docker-compose -p "bench\$1" down -v -t 1 >/dev/null 2>&1
exit 0
EOF
chmod +x "$TMP/up.sh" "$TMP/down.sh"

# podman runs healthchecks from systemd timers; this machine has no systemd, so this loop does their job
# (`podman healthcheck run` on each container every second), only while podman's compose cycles run.
health_loop() {
    while :; do
        for c in $(pod ps -q 2>/dev/null); do pod healthcheck run "$c" >/dev/null 2>&1 || true; done
        sleep 1
    done
}

run_args=() ps_args=()
for n in "${NAMES[@]}"; do
    run_args+=(-n "$n" "$DOCKER -H unix://${SOCK[$n]} run --rm busybox:bench true")
    ps_args+=(-n "$n" "$DOCKER -H unix://${SOCK[$n]} ps -a")
done
hyperfine -N --warmup "$WARMUP" --runs "$RUNS" --export-json "$TMP/run.json" "${run_args[@]}" >&2
hyperfine -N --warmup "$WARMUP" --runs "$RUNS" --export-json "$TMP/ps.json" "${ps_args[@]}" >&2

declare -A COMPOSE_NOTE=()
for n in "${NAMES[@]}"; do
    s="${SOCK[$n]}"
    hpid=""
    if [[ "$n" == podman ]]; then
        health_loop &
        hpid=$!
        pids+=("$hpid")
    fi
    # a probe cycle: a server that cannot finish it is reported, not timed
    if timeout "$COMPOSE_TIMEOUT" "$TMP/up.sh" "$n" "$s" >/dev/null 2>&1; then
        "$TMP/down.sh" "$n" "$s"
        hyperfine -N --warmup "$COMPOSE_WARMUP" --runs "$COMPOSE_RUNS" --export-json "$TMP/compose-$n.json" \
            --prepare "$TMP/down.sh $n $s" -n "$n" "$TMP/up.sh $n $s" >&2
    else
        COMPOSE_NOTE[$n]="did not finish in ${COMPOSE_TIMEOUT} s: $("$DOCKER" -H "unix://$s" ps -a \
            --format '{{.Names}}: {{.Status}}' 2>&1 | tr '\n' ';' | sed 's/;$//')"
        echo "api.sh: compose on $n: ${COMPOSE_NOTE[$n]}" >&2
    fi
    "$TMP/down.sh" "$n" "$s"
    [[ -n "$hpid" ]] && kill "$hpid" 2>/dev/null && wait "$hpid" 2>/dev/null || true
done

notes=""
for n in "${!COMPOSE_NOTE[@]}"; do notes+="$n=${COMPOSE_NOTE[$n]}"$'\n'; done
echo "### Docker Engine API: holm's socket vs dockerd vs podman's service"
echo
echo "docker CLI $("$DOCKER" version --format '{{.Client.Version}}' 2>/dev/null), dockerd $(/usr/sbin/dockerd --version | awk '{print $3}' | tr -d ,), $(podman --version), docker-compose $(docker-compose version --short), holm ($PROFILE); load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)."
echo
NOTES="$notes" python3 - "$TMP" "$RUNS" "$WARMUP" "$COMPOSE_RUNS" "$COMPOSE_WARMUP" <<'EOF'
import json, os, sys
tmp, runs, warm, cruns, cwarm = sys.argv[1:]
notes = dict(l.split("=", 1) for l in os.environ["NOTES"].splitlines() if l)
def table(title, paths, n_runs, n_warm):
    print(f"{title} ({n_runs} runs after {n_warm} warm-up):\n")
    print("| server | mean [ms] | ± σ [ms] | median [ms] | min [ms] | max [ms] | × holm (mean) | × holm (median) |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    res = {}
    for path in paths:
        if os.path.exists(path):
            res.update({r["command"]: r for r in json.load(open(path))["results"]})
    holm = res.get("holm", {})
    for n in ("holm", "dockerd", "podman"):
        r = res.get(n)
        if r is None:
            print(f"| {n} | – | – | – | – | – | {notes.get(n, 'not measured')} | – |")
            continue
        ratio = lambda k: f"{r[k] / holm[k]:.2f}" if holm.get(k) else "–"
        ms = lambda k: "–" if r.get(k) is None else f"{r[k] * 1e3:.0f}"
        print(f"| {n} | {ms('mean')} | {ms('stddev')} | {ms('median')} | {ms('min')} | {ms('max')} "
              f"| {ratio('mean')} | {ratio('median')} |")
    print()
table("`docker run --rm busybox true`", [f"{tmp}/run.json"], runs, warm)
table("`docker ps -a`", [f"{tmp}/ps.json"], runs, warm)
table("`docker-compose up -d` until web is healthy and client runs (`down -v` between runs)",
      [f"{tmp}/compose-{n}.json" for n in ("holm", "dockerd", "podman")], cruns, cwarm)
EOF
