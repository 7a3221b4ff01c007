#!/usr/bin/env bash
# Installs the Debian packages holm's tests, quick start and benchmarks need, then checks that
# every tool they provide is really there. Runs as root (no sudo); safe to run repeatedly:
# apt is skipped when every package is already installed.
set -euo pipefail

# docker.io, containerd, curl and bsdutils (script) are for the engine suite (crates/holm-runtime/tests/engines_*.rs),
# which starts its own dockerd and containerd: the packages' own services must not start (see policy-rc.d below).
packages=(busybox-static tini runc hyperfine libseccomp-dev pkg-config time iproute2 procps skopeo umoci podman debootstrap nftables
    docker-registry apache2-utils openssl docker.io containerd curl bsdutils slirp4netns)
# VM isolation (crates/vm, holm-runtime's vm_* tests): the VMM, and unshare(1) for the jail test's network namespace.
packages+=(qemu-system-x86 util-linux)
# Docker Engine API (crates/holm/tests/api_*.rs): docker-py and docker-compose (1.29, python) drive `holm system service` (the docker CLI comes
# with docker.io above; no dockerd is started for those tests).
packages+=(python3-docker docker-compose)
# The venv of the CRI client (below), and the CNI plugins (bridge, host-local, loopback in /usr/lib/cni) of the CRI
# pod-network test (engines_vm.rs); podman's CNI networks use them too.
packages+=(python3-venv containernetworking-plugins)
# The guest kernel (scripts/build-guest-kernel.sh): Debian's kernel source and the tools to build it.
packages+=(linux-source-6.1 make gcc bc bison flex libelf-dev libssl-dev xz-utils lz4 cpio)

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
    # Without systemd, docker.io's and containerd's maintainer scripts would start system daemons through
    # invoke-rc.d; a policy-rc.d that denies every start prevents it (kept if the machine already has one).
    policy=/usr/sbin/policy-rc.d
    made_policy=0
    if [[ ! -e $policy ]]; then
        printf '#!/bin/sh\n# install-test-deps.sh: no service starts during this install\nexit 101\n' >"$policy"
        chmod 755 "$policy"
        made_policy=1
    fi
    rc=0
    apt-get install -y --no-install-recommends "${packages[@]}" </dev/null || rc=$?
    if ((made_policy)); then
        rm -f "$policy"
    fi
    if ((rc != 0)); then
        echo "install-test-deps: apt-get install failed ($rc)" >&2
        exit "$rc"
    fi
fi

# The CRI client of the VM engine test (crates/holm-runtime/tests/engines_vm.rs, containerd's CRI plugin): Debian 12
# packages none (crictl is only a Go module, too new for Debian's Go), so PyPI's container-runtime-interface-api (the
# CRI v1 gRPC stubs, with grpcio and protobuf) goes into a venv of its own.
cri_venv=/var/lib/holm/test-venv/cri
if ! "$cri_venv/bin/python" -c 'import cri_api.v1.api_pb2_grpc, grpc' >/dev/null 2>&1; then
    mkdir -p "$(dirname "$cri_venv")"
    python3 -m venv "$cri_venv"
    "$cri_venv/bin/pip" install --quiet 'container-runtime-interface-api==2.0.1'
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
check "dockerd (docker.io)" /usr/sbin/dockerd --version
check "docker CLI (docker.io)" /usr/bin/docker --version
check "docker-proxy (docker.io)" test -x /usr/sbin/docker-proxy
check "docker-py (python3-docker, the API tests' client)" python3 -c 'import docker'
check "docker-compose (the API's compose test)" docker-compose version
check "containerd" /usr/bin/containerd --version
check "ctr (containerd)" /usr/bin/ctr --version
check "containerd-shim-runc-v2 (containerd)" test -x /usr/bin/containerd-shim-runc-v2
check "podman" podman --version
check "curl" curl --version
check "script (bsdutils)" /usr/bin/script --version
check "debootstrap (the fresh Debian 12 of test-fresh-quickstart.sh)" sh -c 'PATH=$PATH:/usr/sbin command -v debootstrap'
check "slirp4netns (network for test-fresh-quickstart.sh)" slirp4netns --version
check "linux-source-6.1 (the guest kernel's source)" test -f /usr/src/linux-source-6.1.tar.xz
check "kernel build tools (make gcc bc bison flex libelf-dev lz4)" sh -c 'make --version && gcc --version && bc --version && bison --version && flex --version && lz4 --version && test -f /usr/include/libelf.h'
check "qemu's microvm machine" sh -c 'qemu-system-x86_64 -machine help | grep -q "^microvm"'
check "virtiofsd (qemu-system-x86)" test -x /usr/lib/qemu/virtiofsd
check "htpasswd (apache2-utils)" sh -c 'htpasswd -nbB u p | grep -q "^u:"'
check "qemu-system-x86_64 (qemu-system-x86, the VMM of --isolation vm)" qemu-system-x86_64 --version
check "unshare (util-linux)" unshare --version
check "CNI plugins bridge, host-local, loopback (containernetworking-plugins)" test -x /usr/lib/cni/bridge -a -x /usr/lib/cni/host-local -a -x /usr/lib/cni/loopback
check "CRI client venv (pip: container-runtime-interface-api)" "$cri_venv/bin/python" -c 'import cri_api.v1.api_pb2_grpc, grpc'
if ((fail)); then
    exit 1
fi
echo "install-test-deps: ok"
