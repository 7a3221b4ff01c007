#!/usr/bin/env bash
# Pull benchmark: `holm pull` vs `podman pull` (and `skopeo copy` to an OCI layout, which downloads without
# unpacking) of the same image from a local registry, on this machine.
#
#   bench/pull.sh                  # SIZE_MB=200 MB incompressible layer, RUNS=5 timed pulls each
#
# A private registry (Debian's docker-registry) listens on 127.0.0.1 with its storage in a temp dir; the image
# (static busybox + SIZE_MB of random bytes in one gzip layer) is pushed with skopeo. Each timed pull starts from
# an empty store (hyperfine --prepare removes it), so every run downloads, verifies and unpacks the whole layer.
# Peak RSS comes from one `/usr/bin/time -v` run each: it shows whether a blob is streamed or held in memory.
# Prints Markdown for BENCHMARKS.md. Runs as root; needs hyperfine, podman, skopeo, docker-registry, python3
# (scripts/install-test-deps.sh).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

SIZE_MB="${SIZE_MB:-200}"
RUNS="${RUNS:-5}"
PROFILE="${PROFILE:-release}"
for tool in hyperfine podman skopeo docker-registry python3 /usr/bin/time; do
    command -v "$tool" >/dev/null 2>&1 || {
        echo "pull.sh: missing $tool; run scripts/install-test-deps.sh" >&2
        exit 1
    }
done

echo "pull.sh: cargo build --profile $PROFILE -p holm" >&2
cargo build --profile "$PROFILE" -p holm >&2
HOLM_BIN="${CARGO_TARGET_DIR:-$PWD/target}/$PROFILE/holm"

TMP="$(mktemp -d /tmp/holm-bench-pull.XXXXXX)"
REG_PID=
cleanup() {
    if [[ -n "$REG_PID" ]]; then
        kill "$REG_PID" 2>/dev/null || true
        wait "$REG_PID" 2>/dev/null || true
    fi
    podman --root "$TMP/podman-root" --runroot "$TMP/podman-run" rmi -af >/dev/null 2>&1 || true
    local m
    for m in $(awk -v t="$TMP" '$5 ~ "^"t {print $5}' /proc/self/mountinfo | sort -r); do
        umount -l "$m" 2>/dev/null || true
    done
    rm -rf "$TMP"
}
trap cleanup EXIT

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat >"$TMP/registry.yml" <<EOF
version: 0.1
log:
  level: error
storage:
  filesystem:
    rootdirectory: $TMP/registry
http:
  addr: 127.0.0.1:$PORT
EOF
docker-registry serve "$TMP/registry.yml" >"$TMP/registry.log" 2>&1 &
REG_PID=$!
for _ in $(seq 100); do
    python3 -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$PORT/v2/')" 2>/dev/null && break
    sleep 0.1
done

# The image: a docker-archive with busybox and SIZE_MB random bytes in one layer.
python3 - "$TMP" "$SIZE_MB" <<'EOF'
import hashlib, io, json, os, sys, tarfile
tmp, size_mb = sys.argv[1], int(sys.argv[2])
arc = os.path.join(tmp, "arc")
os.makedirs(arc)
with open(os.path.join(tmp, "random.bin"), "wb") as f:
    for _ in range(size_mb):
        f.write(os.urandom(1 << 20))
with tarfile.open(os.path.join(arc, "layer.tar"), "w", format=tarfile.PAX_FORMAT) as t:
    t.add("/bin/busybox", arcname="bin/busybox")
    t.add(os.path.join(tmp, "random.bin"), arcname="random.bin")
h = hashlib.sha256()
with open(os.path.join(arc, "layer.tar"), "rb") as f:
    for chunk in iter(lambda: f.read(1 << 20), b""):
        h.update(chunk)
cfg = json.dumps({"architecture": "amd64", "os": "linux", "config": {"Cmd": ["/bin/busybox", "true"]},
                  "rootfs": {"type": "layers", "diff_ids": ["sha256:" + h.hexdigest()]}}).encode()
cfg_name = hashlib.sha256(cfg).hexdigest() + ".json"
open(os.path.join(arc, cfg_name), "wb").write(cfg)
json.dump([{"Config": cfg_name, "RepoTags": ["big:1"], "Layers": ["layer.tar"]}],
          open(os.path.join(arc, "manifest.json"), "w"))
EOF
tar -C "$TMP/arc" -cf "$TMP/big.tar" .
rm -rf "$TMP/arc" "$TMP/random.bin"
IMG="127.0.0.1:$PORT/big:1"
skopeo copy -q --dest-tls-verify=false "docker-archive:$TMP/big.tar" "docker://$IMG" >&2
rm -f "$TMP/big.tar"

HOLM="$HOLM_BIN --root $TMP/holm-root --runroot $TMP/holm-run pull -q $IMG"
PODMAN="podman --root $TMP/podman-root --runroot $TMP/podman-run --cgroup-manager cgroupfs --events-backend file pull -q --tls-verify=false $IMG"
SKOPEO="skopeo copy -q --src-tls-verify=false docker://$IMG oci:$TMP/skopeo-oci:big"
CLEAN="rm -rf $TMP/holm-root $TMP/holm-run $TMP/skopeo-oci; podman --root $TMP/podman-root --runroot $TMP/podman-run rmi -af >/dev/null 2>&1 || true"

hyperfine -w 1 -r "$RUNS" --prepare "$CLEAN" --export-markdown "$TMP/times.md" \
    -n "holm pull" "$HOLM" -n "podman pull" "$PODMAN" -n "skopeo copy (no unpack)" "$SKOPEO" >&2

rss() {
    bash -c "$CLEAN"
    /usr/bin/time -v "$@" 2>&1 >/dev/null | awk -F': ' '/Maximum resident set size/ {print $2}'
}
echo "### Results"
echo
echo "Image: one gzip layer, static busybox + ${SIZE_MB} MB of random bytes; registry on 127.0.0.1 (HTTP)."
echo
cat "$TMP/times.md"
echo
echo "| peak RSS (one run) | KiB |"
echo "|---|---:|"
echo "| holm pull | $(rss $HOLM) |"
echo "| podman pull | $(rss $PODMAN) |"
echo "| skopeo copy (no unpack) | $(rss $SKOPEO) |"
