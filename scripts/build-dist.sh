#!/usr/bin/env bash
# Builds the distribution holm-runtime: the `dist` profile (fat LTO, one codegen unit, stripped), linked statically
# (glibc static-pie, libseccomp.a from Debian's libseccomp-dev). No dynamic loader at start-up: lower peak RSS and
# faster start than the dynamically linked release build (see BENCHMARKS.md). Prints the binary's path.
#
# crt-static needs an explicit --target (otherwise it would also apply to proc-macro crates, which cannot be static).
#
# `scripts/build-dist.sh engine` builds the engine instead: `holm` and `holm-monitor` (the per-container monitor
# that holm looks for in its own directory) with the dist profile, dynamically linked, copies both into
# `<target>/holm-dist/` and prints that directory (install its contents together).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
if [[ "${1:-}" == engine ]]; then
    cargo build --profile dist -p holm >&2
    out="${CARGO_TARGET_DIR:-$PWD/target}/holm-dist"
    mkdir -p "$out"
    cp "${CARGO_TARGET_DIR:-$PWD/target}/dist/holm" "${CARGO_TARGET_DIR:-$PWD/target}/dist/holm-monitor" "$out/"
    echo "$out"
    exit 0
fi
triple="$(rustc -vV | sed -n 's/^host: //p')"
RUSTFLAGS="-C target-feature=+crt-static" \
LIBSECCOMP_LINK_TYPE=static \
LIBSECCOMP_LIB_PATH="/usr/lib/$(gcc -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)" \
    cargo build --profile dist -p holm-runtime --target "$triple" >&2
echo "${CARGO_TARGET_DIR:-$PWD/target}/$triple/dist/holm-runtime"
