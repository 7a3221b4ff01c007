#!/usr/bin/env bash
# Docker Engine API benchmark: the same docker CLI (`docker run --rm --network none busybox true`) against
#   - holm's socket (`holm system service --time 0`),
#   - dockerd (Debian's docker.io, started here with its own --data-root/--exec-root, no iptables, cgroupfs),
#   - podman's socket (`podman system service --time 0`, runc, cgroupfs, file events),
# measured with hyperfine (RUNS runs after WARMUP), plus the same for `docker ps -a` (an API round trip with
# little work). Every engine has a private root in a temp dir, removed at the end. Prints Markdown for
# BENCHMARKS.md. Runs as root; needs docker.io, podman, runc, hyperfine (scripts/install-test-deps.sh).
#
#   bench/api.sh                 # RUNS=20 WARMUP=3, holm built with the release profile
#   PROFILE=dist RUNS=50 bench/api.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

RUNS="${RUNS:-20}"
WARMUP="${WARMUP:-3}"
PROFILE="${PROFILE:-release}"
DOCKER="${DOCKER:-$(command -v docker)}"
for tool in "$DOCKER" /usr/sbin/dockerd podman runc hyperfine; do
    command -v "$tool" >/dev/null 2>&1 || {
        echo "api.sh: missing $tool; run scripts/install-test-deps.sh" >&2
        exit 1
    }
done

echo "api.sh: cargo build --profile $PROFILE -p holm" >&2
cargo build --profile "$PROFILE" -p holm >&2
PROFILE_DIR="$PROFILE"
[[ "$PROFILE" == dev ]] && PROFILE_DIR=debug
HOLM_BIN="${CARGO_TARGET_DIR:-$PWD/target}/$PROFILE_DIR/holm"

TMP="$(mktemp -d /tmp/holm-bench-api.XXXXXX)"
export DOCKER_CONFIG="$TMP/docker-config"
HOLM_SOCK="$TMP/holm.sock" DOCKERD_SOCK="$TMP/dockerd.sock" PODMAN_SOCK="$TMP/podman.sock"
pids=()
holm() { "$HOLM_BIN" --root "$TMP/holm-root" --runroot "$TMP/holm-run" "$@"; }
pod() {
    podman --root "$TMP/podman-root" --runroot "$TMP/podman-run" --runtime runc \
        --cgroup-manager cgroupfs --events-backend file "$@"
}
cleanup() {
    local p m
    for s in "$HOLM_SOCK" "$DOCKERD_SOCK" "$PODMAN_SOCK"; do
        [[ -S "$s" ]] && "$DOCKER" -H "unix://$s" rm -f $("$DOCKER" -H "unix://$s" ps -aq 2>/dev/null) >/dev/null 2>&1
    done
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
    [[ -f "$TMP/dockerd.pid" ]] && kill "$(cat "$TMP/dockerd.pid")" 2>/dev/null || true
    sleep 1
    for m in $(awk -v t="$TMP" '$5 ~ "^"t {print $5}' /proc/self/mountinfo | sort -r); do
        umount -l "$m" 2>/dev/null || true
    done
    if grep -qF " $TMP" /proc/self/mountinfo; then
        echo "api.sh: NOT removing $TMP: something is still mounted inside it" >&2
    else
        rm -rf "$TMP"
    fi
}
trap cleanup EXIT

scripts/make-busybox-image.sh "$TMP/busybox.tar" busybox:bench >&2

# holm
holm system service --time 0 "unix://$HOLM_SOCK" 2>"$TMP/holm-service.log" &
pids+=($!)
# dockerd (its own containerd, no bridge: the runs use --network none)
/usr/sbin/dockerd --data-root "$TMP/dockerd-data" --exec-root "$TMP/dockerd-exec" --pidfile "$TMP/dockerd.pid" \
    -H "unix://$DOCKERD_SOCK" --bridge none --iptables=false --ip-forward=false --ip-masq=false \
    --exec-opt native.cgroupdriver=cgroupfs >"$TMP/dockerd.log" 2>&1 &
pids+=($!)
# podman
pod system service --time 0 "unix://$PODMAN_SOCK" 2>"$TMP/podman-service.log" &
pids+=($!)

for s in "$HOLM_SOCK" "$DOCKERD_SOCK" "$PODMAN_SOCK"; do
    for _ in $(seq 300); do
        "$DOCKER" -H "unix://$s" version >/dev/null 2>&1 && break
        sleep 0.1
    done
    "$DOCKER" -H "unix://$s" version >/dev/null || {
        echo "api.sh: no server on $s" >&2
        exit 1
    }
    "$DOCKER" -H "unix://$s" load -i "$TMP/busybox.tar" >&2
done

run_cmd() { echo "$DOCKER -H unix://$1 run --rm --network none busybox:bench true"; }
ps_cmd() { echo "$DOCKER -H unix://$1 ps -a"; }
hyperfine -N --warmup "$WARMUP" --runs "$RUNS" --export-markdown "$TMP/run.md" \
    -n holm "$(run_cmd "$HOLM_SOCK")" -n dockerd "$(run_cmd "$DOCKERD_SOCK")" \
    -n podman "$(run_cmd "$PODMAN_SOCK")" >&2
hyperfine -N --warmup "$WARMUP" --runs "$RUNS" --export-markdown "$TMP/ps.md" \
    -n holm "$(ps_cmd "$HOLM_SOCK")" -n dockerd "$(ps_cmd "$DOCKERD_SOCK")" \
    -n podman "$(ps_cmd "$PODMAN_SOCK")" >&2

echo "### Docker Engine API: \`docker run --rm --network none busybox true\` through each server"
echo
echo "docker CLI $("$DOCKER" version --format '{{.Client.Version}}'), dockerd $(/usr/sbin/dockerd --version | awk '{print $3}' | tr -d ,), $(podman --version), holm ($PROFILE); $RUNS runs after $WARMUP warm-up."
echo
cat "$TMP/run.md"
echo
echo "\`docker ps -a\` (one API round trip):"
echo
cat "$TMP/ps.md"
