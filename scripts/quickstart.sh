#!/usr/bin/env bash
# Quick start: build holm-runtime and run one busybox container with it.
# Runs as root (no sudo). Leaves nothing behind: the bundle lives in a temp dir removed on exit.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

need_pkgs=()
if ! /bin/busybox true >/dev/null 2>&1 || ldd /bin/busybox >/dev/null 2>&1; then
    need_pkgs+=(busybox-static)
fi
command -v python3 >/dev/null 2>&1 || need_pkgs+=(python3)
if ((${#need_pkgs[@]})); then
    echo "quickstart: installing ${need_pkgs[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update
    apt-get install -y --no-install-recommends "${need_pkgs[@]}" </dev/null
fi

echo "quickstart: cargo build --release -p holm-runtime"
cargo build --release -p holm-runtime
runtime="$PWD/target/release/holm-runtime"

id="quickstart-$$"
tmp="$(mktemp -d /tmp/holm-quickstart.XXXXXX)"
# shellcheck disable=SC2317  # called through the EXIT trap
cleanup() {
    "$runtime" delete --force "$id" >/dev/null 2>&1 || true
    # Never rm -rf through a mount a failed run may have left inside the bundle.
    if grep -qF " $tmp" /proc/self/mountinfo; then
        echo "quickstart: NOT removing $tmp: something is still mounted inside it" >&2
    else
        rm -rf "$tmp"
    fi
}
trap cleanup EXIT

bundle="$tmp/bundle"
rootfs="$bundle/rootfs"
mkdir -p "$rootfs"/{bin,proc,sys,dev,tmp,etc,root}
chmod 1777 "$rootfs/tmp"
cp /bin/busybox "$rootfs/bin/busybox"
for applet in $("$rootfs/bin/busybox" --list); do
    [[ "$applet" == busybox ]] || ln -s busybox "$rootfs/bin/$applet"
done
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' \
    >"$rootfs/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$rootfs/etc/group"

# runc's default spec, made non-interactive: no terminal, and a command that shows where it runs.
"$runtime" spec --bundle "$bundle"
python3 - "$bundle/config.json" <<'PY'
import json, sys
path = sys.argv[1]
with open(path) as f:
    spec = json.load(f)
spec["process"]["terminal"] = False
spec["process"]["args"] = ["sh", "-c", "echo hello from holm; hostname; id; ps"]
with open(path, "w") as f:
    json.dump(spec, f, indent=2)
PY

echo "quickstart: holm-runtime run --bundle $bundle $id"
rc=0
"$runtime" run --bundle "$bundle" "$id" </dev/null || rc=$?
echo "quickstart: container exited with code $rc"
exit "$rc"
