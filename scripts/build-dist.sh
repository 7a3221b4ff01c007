#!/usr/bin/env bash
# Builds the distribution holm-runtime: the `dist` profile (fat LTO, one codegen unit, stripped), linked statically
# (glibc static-pie, libseccomp.a from Debian's libseccomp-dev). No dynamic loader at start-up: lower peak RSS and
# faster start than the dynamically linked release build (see BENCHMARKS.md). Prints the binary's path.
#
# crt-static needs an explicit --target (otherwise it would also apply to proc-macro crates, which cannot be static).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
triple="$(rustc -vV | sed -n 's/^host: //p')"
RUSTFLAGS="-C target-feature=+crt-static" \
LIBSECCOMP_LINK_TYPE=static \
LIBSECCOMP_LIB_PATH="/usr/lib/$(gcc -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)" \
    cargo build --profile dist -p holm-runtime --target "$triple" >&2
echo "${CARGO_TARGET_DIR:-$PWD/target}/$triple/dist/holm-runtime"
