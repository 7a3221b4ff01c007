#!/usr/bin/env bash
# Makes a busybox image offline, as a docker-archive (what `docker save` writes), from Debian's static busybox:
#   scripts/make-busybox-image.sh OUT.tar [NAME:TAG]      (default name: busybox:latest)
# Then: holm load -i OUT.tar   (or podman load -i OUT.tar).
# IMAGE_CMD (a JSON array, default ["sh"]) sets the image's Cmd, e.g. IMAGE_CMD='["sleep","2147483647"]' for a
# pod sandbox ("pause") image.
# Needs /bin/busybox from Debian's busybox-static, tar, sha256sum and python3. Reproducible: fixed mtimes/owners.
set -euo pipefail

out=${1:?usage: make-busybox-image.sh OUT.tar [NAME:TAG]}
name=${2:-busybox:latest}
busybox=${BUSYBOX:-/bin/busybox}
if ! "$busybox" true 2>/dev/null || ldd "$busybox" >/dev/null 2>&1; then
    echo "make-busybox-image: $busybox is not a static busybox (apt-get install busybox-static)" >&2
    exit 1
fi

work=$(mktemp -d /tmp/holm-bbimg.XXXXXX)
trap 'rm -rf "$work"' EXIT
root=$work/rootfs
mkdir -p "$root"/{bin,etc,root,tmp,proc,sys,dev,home,var/tmp}
chmod 1777 "$root/tmp" "$root/var/tmp"
chmod 700 "$root/root"
cp "$busybox" "$root/bin/busybox"
for applet in $("$root/bin/busybox" --list); do
    [[ $applet == busybox ]] || ln -s busybox "$root/bin/$applet"
done
printf 'root:x:0:0:root:/root:/bin/sh\ndaemon:x:1:1:daemon:/usr/sbin:/bin/false\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$root/etc/passwd"
printf 'root:x:0:\ndaemon:x:1:\nnogroup:x:65534:\n' >"$root/etc/group"

layer=$work/layer.tar
tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner --format=posix \
    --pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime \
    -C "$root" -cf "$layer" .
layer_hex=$(sha256sum "$layer" | cut -d' ' -f1)

mkdir -p "$work/archive/$layer_hex"
mv "$layer" "$work/archive/$layer_hex/layer.tar"
python3 - "$work/archive" "$layer_hex" "$name" "${IMAGE_CMD:-[\"sh\"]}" <<'PY'
import hashlib, json, os, sys
archive, layer_hex, name, cmd = sys.argv[1:]
cmd = json.loads(cmd)
if not isinstance(cmd, list) or not all(isinstance(a, str) for a in cmd):
    sys.exit("make-busybox-image: IMAGE_CMD must be a JSON array of strings")
if ":" not in name.rsplit("/", 1)[-1]:
    name += ":latest"
config = {
    "architecture": "amd64",
    "os": "linux",
    "created": "1970-01-01T00:00:00Z",
    "config": {
        "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
        "Cmd": cmd,
    },
    "rootfs": {"type": "layers", "diff_ids": ["sha256:" + layer_hex]},
    "history": [{"created": "1970-01-01T00:00:00Z", "created_by": "scripts/make-busybox-image.sh"}],
}
data = json.dumps(config, separators=(",", ":"), sort_keys=True).encode()
config_hex = hashlib.sha256(data).hexdigest()
with open(os.path.join(archive, config_hex + ".json"), "wb") as f:
    f.write(data)
manifest = [{"Config": config_hex + ".json", "RepoTags": [name], "Layers": [layer_hex + "/layer.tar"]}]
with open(os.path.join(archive, "manifest.json"), "w") as f:
    json.dump(manifest, f)
PY
tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C "$work/archive" -cf "$out.tmp" .
mv "$out.tmp" "$out"
echo "make-busybox-image: wrote $out ($name)"
