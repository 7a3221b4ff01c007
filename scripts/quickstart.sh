#!/usr/bin/env bash
# Quick start: build holm and run containers from an image, offline.
# Runs as root (no sudo). Makes a busybox image from Debian's busybox-static (scripts/make-busybox-image.sh), loads
# it into holm's store (--root, default /var/lib/holm, where it stays for you to play with) and runs two
# containers with --rm, so no container is left behind.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# Debian packages, checked by what each provides (README "Quick start" lists them):
#   build:    gcc + libc6-dev (the C compiler and linker rustc calls; sqlite and zstd are compiled from C),
#             pkg-config + libseccomp-dev (libseccomp, linked into holm);
#   run time: nftables (`nft`: the default bridge network's NAT table), procps (`ps`: holm top),
#             tini (`docker-init` for holm run --init);
#   demo:     busybox-static and python3 (scripts/make-busybox-image.sh).
need_pkgs=()
need() { # PACKAGE CHECK...: the package is needed when the check fails
    local pkg=$1
    shift
    "$@" >/dev/null 2>&1 || need_pkgs+=("$pkg")
}
need gcc command -v gcc
need libc6-dev test -e /usr/include/stdio.h
need pkg-config command -v pkg-config
need libseccomp-dev sh -c 'command -v pkg-config && pkg-config --exists libseccomp'
need nftables sh -c 'command -v nft || test -x /usr/sbin/nft'
need procps command -v ps
need tini test -x /usr/bin/tini-static
need busybox-static sh -c '/bin/busybox true && ! ldd /bin/busybox'
need python3 command -v python3
if ((${#need_pkgs[@]})); then
    if ! command -v apt-get >/dev/null 2>&1; then
        echo "quickstart: missing Debian packages (or their equivalents): ${need_pkgs[*]}" >&2
        exit 1
    fi
    echo "quickstart: installing ${need_pkgs[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update
    apt-get install -y --no-install-recommends "${need_pkgs[@]}" </dev/null
fi
# Debian puts nft in /usr/sbin, which a non-login root shell may lack on PATH.
case ":$PATH:" in *:/usr/sbin:*) ;; *) export PATH="$PATH:/usr/sbin:/sbin" ;; esac

echo "quickstart: cargo build --release -p holm"
cargo build --release -p holm
holm="${CARGO_TARGET_DIR:-$PWD/target}/release/holm"
# The per-container monitor; holm finds it next to itself.
[[ -x "${holm%/*}/holm-monitor" ]] || { echo "quickstart: ${holm%/*}/holm-monitor was not built" >&2; exit 1; }

tmp="$(mktemp -d /tmp/holm-quickstart.XXXXXX)"
trap 'rm -rf "$tmp"' EXIT
scripts/make-busybox-image.sh "$tmp/busybox.tar" busybox:latest

run() {
    echo "+ holm $*"
    "$holm" "$@"
}
run load -i "$tmp/busybox.tar"
run run --rm busybox echo hello from holm
# Isolation: its own hostname, pid namespace (the shell is pid 1) and root filesystem.
run run --rm --hostname quickstart busybox sh -c \
    'echo "hostname: $(hostname), my pid: $$, root: $(echo /*)"; ps -o pid,user,comm'

cat <<MSG

quickstart: done. holm and the holm-monitor it runs per container are in ${holm%/*} (to install them, copy
both into one directory on your PATH, e.g. cp ${holm} ${holm%/*}/holm-monitor /usr/local/bin/).
To use them from this shell:
  export PATH="${holm%/*}:\$PATH"
The image stays loaded in holm's store (/var/lib/holm); try:
  holm run -d --name web busybox sh -c 'while true; do date; sleep 1; done'
  holm ps; holm logs -f web; holm exec web ps; holm stop web; holm rm web
With internet access, holm pulls images from Docker Hub:
  holm run --rm docker.io/library/alpine echo hello
MSG
