#!/usr/bin/env bash
# Image import + unpack benchmark: `holm load` vs `umoci unpack` vs `podman load` + `podman image mount`.
#
#   bench/unpack.sh               # RUNS=5 by default; RUNS=10 bench/unpack.sh for tighter numbers
#
# 1. Makes a Debian 12 root filesystem with `debootstrap --variant=minbase` (cached in
#    $CACHE, default /var/tmp/holm-bench/debian-rootfs; needs the Debian mirror).
# 2. Packs it as a 4-layer OCI image (gzip layers): the rest of the tree, then usr/{bin,sbin,libexec},
#    usr/share and usr/lib, each a GNU tar with numeric owners. Written as an OCI layout directory (for
#    holm and umoci) and as an OCI archive (for podman load).
# 3. Times, in interleaved rounds, each run into a new empty directory (all removed at the end):
#      holm    holm --root R load -i LAYOUT        verify blobs, unpack every layer (in parallel), verify diff_ids
#      umoci   umoci unpack --image LAYOUT:deb B   verify blobs, apply the layers into one rootfs, write its mtree
#      podman  podman load -i ARCHIVE && podman image mount    (overlay storage driver)
# 4. Prints a Markdown table (median seconds, MB/s of uncompressed layer data, ratio to holm) to
#    paste into BENCHMARKS.md.
# Runs as root; needs debootstrap, umoci, podman and python3 (scripts/install-test-deps.sh).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

RUNS="${RUNS:-5}"
CACHE="${CACHE:-/var/tmp/holm-bench/debian-rootfs}"
MIRROR="${MIRROR:-http://deb.debian.org/debian}"
for tool in debootstrap umoci podman python3 tar; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "unpack: missing $tool; run scripts/install-test-deps.sh" >&2
        exit 1
    fi
done

echo "unpack: cargo build --release -p holm" >&2
cargo build --release -p holm >&2
HOLM="${CARGO_TARGET_DIR:-$PWD/target}/release/holm"

if [[ ! -x "$CACHE/bin/sh" ]]; then
    echo "unpack: debootstrap --variant=minbase bookworm $CACHE" >&2
    rm -rf "$CACHE"
    mkdir -p "$(dirname "$CACHE")"
    debootstrap --variant=minbase bookworm "$CACHE" "$MIRROR" >&2
fi

TMP="$(mktemp -d /var/tmp/holm-unpack.XXXXXX)"
podman_r() { podman --root "$TMP/podman-root-$1" --runroot "$TMP/podman-run-$1" --storage-driver overlay "${@:2}"; }
cleanup() {
    local d
    for d in "$TMP"/podman-root-*; do
        [[ -d "$d" ]] && podman_r "${d##*-}" image unmount -a >/dev/null 2>&1
    done
    if grep -qF " $TMP" /proc/self/mountinfo; then
        echo "unpack: NOT removing $TMP: something is still mounted inside it" >&2
    else
        rm -rf "$TMP"
    fi
}
trap cleanup EXIT

echo "unpack: packing $CACHE as a 4-layer OCI image" >&2
python3 - "$CACHE" "$TMP/layout" <<'PY'
import gzip, hashlib, json, os, subprocess, sys
rootfs, out = sys.argv[1], sys.argv[2]
os.makedirs(f"{out}/blobs/sha256")
split = ["./usr/lib", "./usr/share"]
mid = [p for p in ["./usr/bin", "./usr/sbin", "./usr/libexec"] if os.path.exists(os.path.join(rootfs, p))]
excl = split + mid
def tar(args):
    return subprocess.run(["tar", "--numeric-owner", "--xattrs", "-C", rootfs, "-cf", "-", *args],
                          check=True, stdout=subprocess.PIPE).stdout
layers = [tar([f"--exclude={e}" for e in excl] + ["."]), tar(mid), tar(["./usr/share"]), tar(["./usr/lib"])]
def blob(data):
    d = hashlib.sha256(data).hexdigest()
    with open(f"{out}/blobs/sha256/{d}", "wb") as f:
        f.write(data)
    return {"digest": f"sha256:{d}", "size": len(data)}
descs, diff_ids = [], []
for t in layers:
    diff_ids.append("sha256:" + hashlib.sha256(t).hexdigest())
    descs.append({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                  **blob(gzip.compress(t, compresslevel=6, mtime=0))})
config = {"architecture": "amd64", "os": "linux", "created": "2024-01-01T00:00:00Z",
          "config": {"Cmd": ["/bin/bash"], "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]},
          "rootfs": {"type": "layers", "diff_ids": diff_ids}}
cfg = {"mediaType": "application/vnd.oci.image.config.v1+json", **blob(json.dumps(config).encode())}
manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": cfg, "layers": descs}
m = {"mediaType": "application/vnd.oci.image.manifest.v1+json", **blob(json.dumps(manifest).encode()),
     "annotations": {"org.opencontainers.image.ref.name": "deb",
                     "io.containerd.image.name": "localhost/bench/debian:deb"}}
with open(f"{out}/index.json", "w") as f:
    json.dump({"schemaVersion": 2, "manifests": [m]}, f)
with open(f"{out}/oci-layout", "w") as f:
    f.write('{"imageLayoutVersion":"1.0.0"}')
with open(f"{out}/../sizes", "w") as f:
    f.write(f"{sum(len(t) for t in layers)} {sum(d['size'] for d in descs)} {len(layers)}\n")
PY
tar -C "$TMP/layout" -cf "$TMP/image.tar" .
read -r TAR_BYTES GZ_BYTES NLAYERS <"$TMP/sizes"
echo "unpack: $NLAYERS layers, $((TAR_BYTES / 1000000)) MB uncompressed, $((GZ_BYTES / 1000000)) MB gzip" >&2

# A warm-up of each, so that page cache and binaries are equally hot.
"$HOLM" --root "$TMP/holm-root-0" load -i "$TMP/layout" >/dev/null
umoci unpack --image "$TMP/layout:deb" "$TMP/umoci-bundle-0" >/dev/null
podman_r 0 load -q -i "$TMP/image.tar" >/dev/null

# Rounds interleave the three tools (holm, umoci, podman, holm, …) so that load from other work on a
# shared machine hits them alike. Every run writes into a new directory and nothing is deleted until
# the end: ext4 spends most of its time skipping recently deleted inodes when files are created right
# after a large `rm -rf`, which would measure the previous run's cleanup instead of the tool.
measure() {
    case "$1" in
    holm) "$HOLM" --root "$TMP/holm-root-$2" load -i "$TMP/layout" ;;
    umoci) umoci unpack --image "$TMP/layout:deb" "$TMP/umoci-bundle-$2" ;;
    podman) podman_r "$2" load -q -i "$TMP/image.tar" && podman_r "$2" image mount localhost/bench/debian:deb ;;
    esac
}
: >"$TMP/times"
for round in $(seq "$RUNS"); do
    for tool in holm umoci podman; do
        sync
        t0=$(date +%s.%N)
        measure "$tool" "$round" >/dev/null
        t1=$(date +%s.%N)
        echo "$tool $t0 $t1" >>"$TMP/times"
        echo "unpack: round $round $tool $(python3 -c "print(f'{$t1 - $t0:.2f}')") s" >&2
    done
done

python3 - "$TMP/times" "$TAR_BYTES" "$GZ_BYTES" "$NLAYERS" "$(git rev-parse --short HEAD)" <<'PY'
import sys, datetime, statistics
times = {}
for line in open(sys.argv[1]):
    tool, t0, t1 = line.split()
    times.setdefault(tool, []).append(float(t1) - float(t0))
res = {t: {"median": statistics.median(v), "min": min(v), "max": max(v), "times": v} for t, v in times.items()}
tar_bytes, gz_bytes, n, commit = int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
holm = res["holm"]["median"]
print(f"Debian 12 minbase, {n} gzip layers, {tar_bytes/1e6:.0f} MB uncompressed ({gz_bytes/1e6:.0f} MB gzip); "
      f"{datetime.date.today()}, commit {commit}, {len(res['holm']['times'])} runs each\n")
print("| tool | median s | min s | max s | MB/s (uncompressed) | time / holm |")
print("|---|---:|---:|---:|---:|---:|")
for name in ["holm", "umoci", "podman"]:
    r = res[name]
    print(f"| {name} | {r['median']:.2f} | {r['min']:.2f} | {r['max']:.2f} | "
          f"{tar_bytes / 1e6 / r['median']:.0f} | {r['median'] / holm:.2f} |")
PY
