#!/usr/bin/env bash
# Disk footprint of the image store: the same docker-archives loaded into `holm` and into `podman` (overlay
# storage driver), each into a new empty root; prints the space each root takes (du, allocated blocks) and the
# ratio holm/podman as a Markdown table for BENCHMARKS.md.
#
#   bench/footprint.sh                       # HOLM=path/to/holm to measure another build (the size does not
#                                            # depend on the build profile)
#
# Images (no network needed): four docker-archives made from this host's files, each a base layer plus one of
# its own, as `docker save` writes them (uncompressed layer tars):
#   lib:   /usr/lib/gcc + /usr/lib/python3.11      doc: /usr/share/doc
#   bin:   /usr/libexec + /usr/lib/python3          locale: /usr/share/locale
# with a common base layer (/usr/share/doc) under the first two. Runs as root; needs podman, python3, tar.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

if [[ -z "${HOLM:-}" ]]; then
    echo "footprint: cargo build --release -p holm" >&2
    cargo build --release -p holm >&2
    HOLM="${CARGO_TARGET_DIR:-$PWD/target}/release/holm"
fi
TMP="$(mktemp -d /var/tmp/holm-footprint.XXXXXX)"
podman_r() { podman --root "$TMP/podman-root" --runroot "$TMP/podman-run" --storage-driver overlay "$@"; }
cleanup() {
    podman_r rmi -a -f >/dev/null 2>&1 || true
    if grep -qF " $TMP" /proc/self/mountinfo; then
        echo "footprint: NOT removing $TMP: something is still mounted inside it" >&2
    else
        rm -rf "$TMP"
    fi
}
trap cleanup EXIT

echo "footprint: making the docker-archives" >&2
python3 - "$TMP" <<'PY'
import hashlib, io, json, os, subprocess, sys, tarfile
out = sys.argv[1]
def tar(*dirs):
    dirs = [d for d in dirs if os.path.isdir(d)]
    return subprocess.run(["tar", "--numeric-owner", "--sort=name", "--mtime=@0", "-C", "/", "-cf", "-",
                           *[d.lstrip("/") for d in dirs]], check=True, stdout=subprocess.PIPE).stdout
base = tar("/usr/share/doc")
images = {
    "lib": [base, tar("/usr/lib/gcc", "/usr/lib/python3.11")],
    "bin": [base, tar("/usr/libexec", "/usr/lib/python3")],
    "locale": [tar("/usr/share/locale")],
}
total = 0
for name, layers in images.items():
    files = []
    diff_ids = ["sha256:" + hashlib.sha256(l).hexdigest() for l in layers]
    cfg = json.dumps({"architecture": "amd64", "os": "linux", "created": "2024-01-01T00:00:00Z",
                      "config": {"Cmd": ["/bin/sh"]}, "rootfs": {"type": "layers", "diff_ids": diff_ids}}).encode()
    cfg_name = hashlib.sha256(cfg).hexdigest() + ".json"
    files.append((cfg_name, cfg))
    paths = []
    for d, l in zip(diff_ids, layers):
        p = d.split(":")[1] + "/layer.tar"
        files.append((p, l))
        paths.append(p)
    files.append(("manifest.json", json.dumps([{"Config": cfg_name, "RepoTags": [f"localhost/fp/{name}:1"],
                                                 "Layers": paths}]).encode()))
    with tarfile.open(f"{out}/{name}.tar", "w") as t:
        for n, b in files:
            ti = tarfile.TarInfo(n)
            ti.size = len(b)
            t.addfile(ti, io.BytesIO(b))
uniq = {hashlib.sha256(l).hexdigest(): len(l) for ls in images.values() for l in ls}
with open(f"{out}/sizes", "w") as f:
    f.write(f"{sum(uniq.values())} {len(uniq)}\n")
PY
read -r TAR_BYTES NLAYERS <"$TMP/sizes"

sync
t0=$(date +%s.%N)
for name in lib bin locale; do
    "$HOLM" --root "$TMP/holm-root" --runroot "$TMP/holm-run" load -i "$TMP/$name.tar" >/dev/null
done
t1=$(date +%s.%N)
sync
for name in lib bin locale; do
    podman_r load -q -i "$TMP/$name.tar" >/dev/null
done
t2=$(date +%s.%N)
HT=$(python3 -c "print(f'{$t1 - $t0:.1f}')")
PT=$(python3 -c "print(f'{$t2 - $t1:.1f}')")
# The holm root's reserve (1 MiB, see crates/engine/src/space.rs) is not made by `load`; podman's root has no
# containers either. du counts allocated blocks.
kib() { du -sk "$1" | cut -f1; }
H=$(kib "$TMP/holm-root")
P=$(kib "$TMP/podman-root")
HB=$(kib "$TMP/holm-root/image/blobs")
HL=$(kib "$TMP/holm-root/image/layers")
python3 - "$H" "$P" "$HB" "$HL" "$TAR_BYTES" "$NLAYERS" "$(git rev-parse --short HEAD)" "$HT" "$PT" <<'PY'
import sys, datetime
h, p, hb, hl, tar_bytes, n, commit, ht, pt = sys.argv[1:]
h, p, hb, hl, tar_bytes = int(h), int(p), int(hb), int(hl), int(tar_bytes)
print(f"3 docker-archives ({n} distinct layers, {tar_bytes/1e6:.0f} MB of layer tars) from this host's files; "
      f"{datetime.date.today()}, commit {commit}\n")
print("| store | MB on disk | of which layer blobs | of which unpacked layers | / podman | 3 loads, s |")
print("|---|---:|---:|---:|---:|---:|")
print(f"| holm | {h/1024:.0f} | {hb/1024:.0f} | {hl/1024:.0f} | {h/p:.2f}× | {ht} |")
print(f"| podman (overlay) | {p/1024:.0f} | | | 1.00× | {pt} |")
PY
