#!/usr/bin/env bash
# The one test command: formatting, lints, build, then every test of the workspace.
# Needs root (containers need namespaces, mounts and cgroups); tests fail rather than skip.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

step() { printf '\n==> %s\n' "$*"; }

step "cargo fmt --check"
cargo fmt --all -- --check

step "install test dependencies"
scripts/install-test-deps.sh

step "guest kernel for VM isolation (cached: seconds when vm/guest-kernel.config and the source are unchanged)"
scripts/build-guest-kernel.sh

step "static guest agent for VM isolation (holm-agent, glibc static-pie; cargo's own target/debug/holm-agent is dynamic)"
HOLM_VM_AGENT="$(scripts/build-agent.sh)"
export HOLM_VM_AGENT

step "cargo clippy"
cargo clippy --workspace --all-targets -- -D warnings

step "cargo build"
cargo build --workspace --all-targets

step "cargo test"
# Tests are parallel-safe: unique container ids, private state roots and temp dirs.
cargo test --workspace --no-fail-fast -- --test-threads=4

step "the quick start on a fresh Debian 12"
# Needs Debian's mirror and crates.io; the release build in the fresh root takes a few minutes.
scripts/test-fresh-quickstart.sh

step "all tests passed"
