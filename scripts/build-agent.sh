#!/usr/bin/env bash
# Builds holm-agent, the guest's pid 1, as a STATIC binary (glibc static-pie: `-C target-feature=+crt-static`;
# libseccomp.a comes from Debian's libseccomp-dev) and prints its path.
#
#   scripts/build-agent.sh [--debug] [--install DIR]...
#
# The explicit --target keeps the static flag off build scripts and proc macros (they must stay dynamic). Output:
# target/x86_64-unknown-linux-gnu/{release,debug}/holm-agent. holm finds the agent at $HOLM_VM_AGENT, else as
# `holm-agent` next to its own executable: `--install DIR` copies it there (for an installation; in a cargo
# tree every `cargo build` puts its own dynamic target/debug/holm-agent back, so use HOLM_VM_AGENT there, as
# scripts/test.sh does: HOLM_VM_AGENT="$(scripts/build-agent.sh)").
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
profile=agent
dirs=()
while [ $# -gt 0 ]; do
    case "$1" in
        --debug) profile=debug ;;
        --install) dirs+=("$2"); shift ;;
        *) echo "build-agent.sh: unknown argument '$1'" >&2; exit 2 ;;
    esac
    shift
done
target=x86_64-unknown-linux-gnu
flags=()
[ "$profile" = agent ] && flags+=(--profile agent)
LIBSECCOMP_LINK_TYPE=static LIBSECCOMP_LIB_PATH="${LIBSECCOMP_LIB_PATH:-/usr/lib/x86_64-linux-gnu}" \
    RUSTFLAGS="${RUSTFLAGS:-} -C target-feature=+crt-static" \
    cargo build --quiet -p holm-agent --target "$target" "${flags[@]}" >&2
bin="target/$target/$profile/holm-agent"
# A static-pie has neither an ELF interpreter nor NEEDED libraries (readelf is in binutils, which cargo needs).
if readelf -l "$bin" | grep -q 'INTERP' || readelf -d "$bin" | grep -q 'NEEDED'; then
    echo "build-agent.sh: $bin is not static:" >&2
    readelf -d "$bin" | grep NEEDED >&2 || true
    exit 1
fi
for d in "${dirs[@]}"; do
    install -m 0755 "$bin" "$d/holm-agent.tmp.$$" && mv -f "$d/holm-agent.tmp.$$" "$d/holm-agent"
done
realpath "$bin"
