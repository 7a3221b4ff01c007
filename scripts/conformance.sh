#!/usr/bin/env bash
# OCI runtime-tools validation suite against holm-runtime and runc in the same run (CONFORMANCE.md).
# usage: scripts/conformance.sh [HOLM_RUNTIME] [OUTDIR]
# Needs root and the suite's script at ../shared/conformance/runtime-tools.sh (or $RUNTIME_TOOLS); builds
# holm-runtime (release) unless a binary is given. Prints each runtime's summary and the files whose counts differ.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
suite=${RUNTIME_TOOLS:-$(realpath -m ../shared/conformance/runtime-tools.sh)}
[[ -f $suite ]] || { echo "conformance: no runtime-tools.sh at $suite (set RUNTIME_TOOLS)" >&2; exit 2; }
holm=${1:-}
if [[ -z $holm ]]; then
    cargo build --release -p holm-runtime >&2
    holm="${CARGO_TARGET_DIR:-$PWD/target}/release/holm-runtime"
fi
out=${2:-/tmp/holm-conformance}
mkdir -p "$out"
command -v runc >/dev/null || { echo "conformance: runc is not installed (apt-get install runc)" >&2; exit 2; }
bash "$suite" "$(command -v runc)" "$out/runc" >"$out/runc.log" 2>&1 || true
bash "$suite" "$holm" "$out/holm" >"$out/holm.log" 2>&1 || true
for r in runc holm; do
    printf '%-5s %s\n' "$r" "$(cat "$out/$r/summary.txt")"
done
# Per test file: ok / not ok counts for each runtime, where they differ.
count() {
    local d=$1 f
    for f in "$d"/*.tap; do
        printf '%s %s %s\n' "$(basename "$f" .tap)" "$(grep -c '^ok' "$f" || true)" "$(grep -c '^not ok' "$f" || true)"
    done | sort
}
echo "file runc_ok runc_not_ok holm_ok holm_not_ok (files whose counts differ)"
join <(count "$out/runc") <(count "$out/holm") | awk '$2 != $4 || $3 != $5'
