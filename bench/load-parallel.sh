#!/usr/bin/env bash
# Concurrent imports: three `holm load`s of images that share a base layer, run at the same time, against the same
# three loads one after another (each into a new empty --root).
#
#   bench/load-parallel.sh            # RUNS=3 by default; BASE=/usr/share/doc for a smaller base layer
#
# The base layer is a tar of $BASE (default /usr/lib/x86_64-linux-gnu, several hundred MB of real files) with
# numeric owners, gzip-compressed once and shipped in all three images (OCI layout directories); each image adds
# one small layer of its own. With per-layer locks the base is unpacked once: the parallel loads wait for it
# instead of each unpacking it (before: 10 s in parallel vs 3.6 s one after another for Debian images).
# Prints a Markdown table for BENCHMARKS.md. Runs as root; needs python3 and tar.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

RUNS="${RUNS:-3}"
BASE="${BASE:-/usr/lib/x86_64-linux-gnu}"
echo "load-parallel: cargo build --release -p holm" >&2
cargo build --release -p holm >&2
HOLM="${CARGO_TARGET_DIR:-$PWD/target}/release/holm"

TMP="$(mktemp -d /var/tmp/holm-load-parallel.XXXXXX)"
trap 'rm -rf "$TMP"' EXIT

echo "load-parallel: packing $BASE as the shared base layer" >&2
python3 - "$BASE" "$TMP" <<'PY'
import gzip, hashlib, io, json, os, subprocess, sys, tarfile
base, out = sys.argv[1], sys.argv[2]
base_tar = subprocess.run(["tar", "--numeric-owner", "-C", base, "-cf", "-", "."],
                          check=True, stdout=subprocess.PIPE).stdout
base_gz = gzip.compress(base_tar, compresslevel=1, mtime=0)
for i in range(3):
    d = f"{out}/img{i}"
    os.makedirs(f"{d}/blobs/sha256")
    def blob(data):
        h = hashlib.sha256(data).hexdigest()
        with open(f"{d}/blobs/sha256/{h}", "wb") as f:
            f.write(data)
        return {"digest": f"sha256:{h}", "size": len(data)}
    own = io.BytesIO()
    with tarfile.open(fileobj=own, mode="w") as t:
        data = f"image {i}\n".encode()
        ti = tarfile.TarInfo(f"own-{i}")
        ti.size = len(data)
        t.addfile(ti, io.BytesIO(data))
    own = own.getvalue()
    layers = [(base_tar, base_gz), (own, gzip.compress(own, mtime=0))]
    descs = [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", **blob(gz)} for _, gz in layers]
    config = {"architecture": "amd64", "os": "linux", "created": "2024-01-01T00:00:00Z", "config": {},
              "rootfs": {"type": "layers",
                         "diff_ids": ["sha256:" + hashlib.sha256(t).hexdigest() for t, _ in layers]}}
    cfg = {"mediaType": "application/vnd.oci.image.config.v1+json", **blob(json.dumps(config).encode())}
    manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": cfg, "layers": descs}
    m = {"mediaType": "application/vnd.oci.image.manifest.v1+json", **blob(json.dumps(manifest).encode()),
         "annotations": {"io.containerd.image.name": f"localhost/bench/shared{i}:latest"}}
    with open(f"{d}/index.json", "w") as f:
        json.dump({"schemaVersion": 2, "manifests": [m]}, f)
    with open(f"{d}/oci-layout", "w") as f:
        f.write('{"imageLayoutVersion":"1.0.0"}')
with open(f"{out}/sizes", "w") as f:
    f.write(f"{len(base_tar)} {len(base_gz)}\n")
PY
read -r TAR_BYTES GZ_BYTES <"$TMP/sizes"
echo "load-parallel: base $((TAR_BYTES / 1000000)) MB uncompressed, $((GZ_BYTES / 1000000)) MB gzip" >&2

# Warm-up (page cache, binary).
"$HOLM" --root "$TMP/root-warm" load -i "$TMP/img0" >/dev/null

: >"$TMP/times"
for round in $(seq "$RUNS"); do
    for mode in sequential parallel; do
        root="$TMP/root-$mode-$round"
        sync
        t0=$(date +%s.%N)
        if [[ $mode == sequential ]]; then
            for i in 0 1 2; do "$HOLM" --root "$root" load -i "$TMP/img$i" >/dev/null; done
        else
            pids=()
            for i in 0 1 2; do
                "$HOLM" --root "$root" load -i "$TMP/img$i" >/dev/null &
                pids+=($!)
            done
            for p in "${pids[@]}"; do wait "$p"; done
        fi
        t1=$(date +%s.%N)
        n=$(ls "$root/image/layers" | wc -l)
        echo "$mode $t0 $t1" >>"$TMP/times"
        echo "load-parallel: round $round $mode $(python3 -c "print(f'{$t1 - $t0:.2f}')") s, $n layers" >&2
        [[ $n == 4 ]] || { echo "load-parallel: expected 4 layers in $root, found $n" >&2; exit 1; }
    done
done

python3 - "$TMP/times" "$TAR_BYTES" "$GZ_BYTES" "$(git rev-parse --short HEAD)" "$BASE" <<'PY'
import sys, datetime, statistics
times = {}
for line in open(sys.argv[1]):
    mode, t0, t1 = line.split()
    times.setdefault(mode, []).append(float(t1) - float(t0))
tar_bytes, gz_bytes, commit, base = int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
print(f"3 images sharing a base layer ({base}: {tar_bytes/1e6:.0f} MB uncompressed, {gz_bytes/1e6:.0f} MB gzip) "
      f"+ one small layer each; {datetime.date.today()}, commit {commit}, {len(times['parallel'])} runs each\n")
print("| 3 × `holm load` | median s | min s | max s |")
print("|---|---:|---:|---:|")
for mode in ["sequential", "parallel"]:
    v = times[mode]
    print(f"| {mode} | {statistics.median(v):.2f} | {min(v):.2f} | {max(v):.2f} |")
PY
