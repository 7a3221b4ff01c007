#!/usr/bin/env bash
# Installs the Debian packages holm's tests, quick start and benchmarks need, then checks that
# every tool they provide is really there. Runs as root (no sudo); safe to run repeatedly:
# apt is skipped when every package is already installed.
set -euo pipefail

packages=(busybox-static tini runc hyperfine libseccomp-dev pkg-config time iproute2 procps skopeo umoci podman debootstrap nftables
    docker-registry apache2-utils openssl)

installed() {
    [[ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null || true)" == "install ok installed" ]]
}

missing=()
for pkg in "${packages[@]}"; do
    installed "$pkg" || missing+=("$pkg")
done

if ((${#missing[@]} == 0)); then
    echo "install-test-deps: all packages already installed: ${packages[*]}"
else
    if [[ "$(id -u)" != 0 ]]; then
        echo "install-test-deps: need root to install: ${missing[*]}" >&2
        exit 1
    fi
    echo "install-test-deps: installing: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    # apt-get update can fail on a transient mirror error: retry a few times.
    for attempt in 1 2 3; do
        if apt-get update; then
            break
        fi
        if ((attempt == 3)); then
            echo "install-test-deps: apt-get update failed 3 times" >&2
            exit 1
        fi
        sleep $((attempt * 5))
    done
    apt-get install -y --no-install-recommends "${packages[@]}" </dev/null
fi

# Check that each tool exists and works, whatever apt said.
fail=0
check() {
    local what=$1
    shift
    if ! "$@" >/dev/null 2>&1; then
        echo "install-test-deps: MISSING: $what (check: $*)" >&2
        fail=1
    fi
}
check "static /bin/busybox (busybox-static)" /bin/busybox true
# ldd succeeds only for dynamically linked executables.
if command -v ldd >/dev/null 2>&1 && ldd /bin/busybox >/dev/null 2>&1; then
    echo "install-test-deps: /bin/busybox is dynamically linked; install busybox-static" >&2
    fail=1
fi
check "static tini (tini, for holm run --init)" /usr/bin/tini-static --version
check "runc" runc --version
check "hyperfine" hyperfine --version
check "pkg-config" pkg-config --version
check "libseccomp (libseccomp-dev)" pkg-config --exists libseccomp
check "/usr/bin/time (time)" /usr/bin/time -v true
check "ip (iproute2)" ip -V
check "ps (procps)" ps -p $$
check "nft (nftables, holm's bridge networking)" nft --version
check "skopeo" skopeo --version
check "docker-registry (the distribution registry, for pull tests)" docker-registry --version
check "openssl (certificates for the HTTPS registry test)" openssl version
check "htpasswd (apache2-utils)" sh -c 'htpasswd -nbB u p | grep -q "^u:"'
if ((fail)); then
    exit 1
fi
echo "install-test-deps: ok"
