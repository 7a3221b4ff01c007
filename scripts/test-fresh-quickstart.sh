#!/usr/bin/env bash
# Proves the README's quick start on a fresh Debian 12 that has nothing but a Rust toolchain (issue 12):
#
# 1. A clean Debian 12 root from `debootstrap --variant=minbase` (no C compiler, no pkg-config, no nft, no ps,
#    no CA certificates), from the Debian mirror this host's apt uses. The root is cached as a tarball under
#    $HOLM_FRESH_CACHE (default /var/tmp/holm-fresh-debian12) and unpacked anew for every run.
# 2. Into it: this host's Rust toolchain (~/.rustup and ~/.cargo, with cargo's registry cache, as read-only
#    lower layers of overlay mounts: nothing is copied and nothing written back), the host's CA bundle (these
#    machines reach the registries through it), the holm source (the files git knows), and ~/.profile sourcing
#    ~/.cargo/env as rustup's installer writes it.
# 3. In private mount, pid and network namespaces (so holm's bridge, nft table and /run state there are the fresh
#    machine's own; slirp4netns gives that network namespace its way out to the mirror and crates.io), chroot
#    into it and run `scripts/quickstart.sh` from a login shell as a new user would. The quick start must
#    install what it needs with apt, build holm and end with its containers' output.
#
# Needs root, debootstrap and slirp4netns (scripts/install-test-deps.sh installs both). The release build
# dominates: from scratch ~10 minutes on 2 idle cores, a few when the kept target/ only needs holm's crates (see
# target_cache below). Run by scripts/test.sh (hence by .ci/run). Leaves nothing behind but the cache.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

say() { printf 'test-fresh-quickstart: %s\n' "$*"; }
die() {
    printf 'test-fresh-quickstart: %s\n' "$*" >&2
    exit 1
}

[[ "$(id -u)" == 0 ]] || die "needs root (debootstrap, chroot, namespaces)"
for tool in debootstrap:debootstrap slirp4netns:slirp4netns unshare:util-linux chroot:coreutils git:git; do
    command -v "${tool%%:*}" >/dev/null 2>&1 || [[ -x "/usr/sbin/${tool%%:*}" ]] ||
        die "\`${tool%%:*}\` not found: install Debian's ${tool#*:} package (scripts/install-test-deps.sh does)"
done
export PATH="$PATH:/usr/sbin:/sbin"

rustup_home=${RUSTUP_HOME:-$HOME/.rustup}
cargo_home=${CARGO_HOME:-$HOME/.cargo}
[[ -x "$cargo_home/bin/cargo" && -d "$rustup_home/toolchains" ]] ||
    die "no rustup toolchain in $rustup_home with cargo in $cargo_home/bin"
ca_bundle=/etc/ssl/certs/ca-certificates.crt
[[ -s "$ca_bundle" ]] || die "no CA bundle at $ca_bundle"

# The Debian mirror this host's apt uses (one-line or deb822 sources), unless HOLM_DEBIAN_MIRROR says.
mirror=${HOLM_DEBIAN_MIRROR:-}
if [[ -z "$mirror" ]]; then
    mirror=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources 2>/dev/null |
        sed -n -e 's/^URIs:[[:space:]]*//p' -e 's/^deb[[:space:]]\{1,\}\(\[[^]]*\][[:space:]]*\)\{0,1\}\([^[:space:]]\{1,\}\).*/\2/p' |
        tr ' ' '\n' | grep -E '^https?://.*/debian/?$' | head -n 1 || true)
fi
[[ -n "$mirror" ]] || die "no Debian mirror (a URI ending in /debian) in /etc/apt/sources.list*: set HOLM_DEBIAN_MIRROR"

cache=${HOLM_FRESH_CACHE:-/var/tmp/holm-fresh-debian12}
tarball=$cache/bookworm-minbase.tar
mkdir -p "$cache"
(
    # One builder at a time; others wait and use its tarball.
    flock 9
    if [[ ! -s "$tarball" ]]; then
        build=$(mktemp -d "$cache/build.XXXXXX")
        trap 'rm -rf "$build"' EXIT
        say "debootstrap --variant=minbase bookworm from $mirror (once; cached in $tarball)"
        debootstrap --variant=minbase bookworm "$build" "$mirror" >"$cache/debootstrap.log" 2>&1 ||
            die "debootstrap failed; see $cache/debootstrap.log"
        tar -C "$build" -cf "$tarball.tmp" .
        mv "$tarball.tmp" "$tarball"
    fi
) 9>"$cache/lock"

# The chroot's target/ is kept between runs, keyed by what decides the build environment: the toolchain and the
# quick start itself (its package list). A change to either builds from scratch; otherwise cargo rebuilds what
# changed (holm's crates, and any dependency Cargo.lock adds or updates, whose build scripts then run in the fresh
# root), and linking (cc, libc6-dev, libseccomp-dev) is checked every time. HOLM_FRESH_TARGET=0 builds from
# scratch regardless. One run at a time uses a key's target (flock).
key=$( (
    "$cargo_home/bin/rustc" -vV
    cat scripts/quickstart.sh
) | sha256sum | cut -c1-16)
target_cache=$cache/target-$key
if [[ "${HOLM_FRESH_TARGET:-1}" == 0 ]]; then
    rm -rf "$target_cache"
fi
# Older keys' targets are garbage.
find "$cache" -maxdepth 1 -name 'target-*' ! -name "target-$key" ! -name "target-$key.lock" -exec rm -rf {} +
mkdir -p "$target_cache"
exec 8>"$target_cache.lock"
flock 8
# The binaries go, so cargo links them again in the fresh root (cc, libc6-dev, libseccomp-dev) even when nothing
# changed.
rm -f "$target_cache"/release/holm "$target_cache"/release/holm-monitor \
    "$target_cache"/release/deps/holm-* "$target_cache"/release/deps/holm_monitor-*

work=$(mktemp -d /var/tmp/holm-fresh-quickstart.XXXXXX)
slirp_pid=
cleanup() {
    [[ -z "$slirp_pid" ]] || kill "$slirp_pid" 2>/dev/null || true
    # The mounts lived in the private mount namespace and went with it; never delete through one that did not.
    if findmnt -rn -o TARGET | grep -q "^$work"; then
        echo "test-fresh-quickstart: mounts remain under $work; not removing it" >&2
    else
        rm -rf "$work"
    fi
}
trap cleanup EXIT
root=$work/root
mkdir -p "$root"
tar -C "$root" -xf "$tarball"

# The source as a fresh clone has it (plus uncommitted edits of tracked files and new unignored files).
mkdir -p "$root/root/holm"
git ls-files -z -c -o --exclude-standard |
    tar --null --ignore-failed-read -T - -cf - 2>/dev/null |
    tar -C "$root/root/holm" -xf -
mkdir -p "$root/etc/ssl/certs"
cp "$ca_bundle" "$root/etc/ssl/certs/ca-certificates.crt"
# slirp4netns's DNS forwarder.
echo "nameserver 10.0.2.3" >"$root/etc/resolv.conf"
# What rustup's installer adds for a new user's login shells.
echo '. "$HOME/.cargo/env"' >>"$root/root/.profile"

# Runs in the new namespaces: network up through slirp4netns, mounts, then the chroot.
inner=$(
    cat <<'INNER'
set -euo pipefail
root=$1 work=$2 rustup_home=$3 cargo_home=$4 target_cache=$5
ip link set lo up
for _ in $(seq 100); do ip route show default | grep -q . && break; sleep 0.1; done
ip route show default | grep -q . || { echo "test-fresh-quickstart: slirp4netns did not configure the network" >&2; exit 1; }
# On a real machine `/` is a mount point (holm makes its propagation private): make the chroot's one.
mount --bind "$root" "$root"
mount -t proc proc "$root/proc"
mount --rbind /sys "$root/sys"
mount --rbind /dev "$root/dev"
mount -t tmpfs -o mode=1777 tmpfs "$root/tmp"
mount -t tmpfs -o mode=755 tmpfs "$root/run"
mkdir -p "$root/root/holm/target"
mount --bind "$target_cache" "$root/root/holm/target"
for d in rustup:"$rustup_home" cargo:"$cargo_home"; do
    name=${d%%:*} lower=${d#*:}
    mkdir -p "$work/$name.upper" "$work/$name.work" "$root/root/.$name"
    mount -t overlay overlay -o "lowerdir=$lower,upperdir=$work/$name.upper,workdir=$work/$name.work" "$root/root/.$name"
done
exec chroot "$root" /usr/bin/env -i HOME=/root TERM=dumb LANG=C.UTF-8 \
    PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    /bin/bash -lc 'cd ~/holm && scripts/quickstart.sh'
INNER
)

log=$work/quickstart.log
say "scripts/quickstart.sh in a fresh Debian 12 chroot ($root)"
unshare --net --mount --propagation private --pid --fork --kill-child \
    bash -c "$inner" inner "$root" "$work" "$rustup_home" "$cargo_home" "$target_cache" </dev/null >"$log" 2>&1 &
ns_pid=$!
# unshare itself is in the new network namespace (only its child is in the new pid namespace).
for _ in $(seq 50); do
    [[ "$(readlink "/proc/$ns_pid/ns/net" 2>/dev/null)" != "$(readlink /proc/self/ns/net)" ]] && break
    sleep 0.1
done
slirp4netns --configure --mtu=65520 --disable-host-loopback "$ns_pid" tap0 >"$work/slirp.log" 2>&1 &
slirp_pid=$!
rc=0
wait "$ns_pid" || rc=$?
kill "$slirp_pid" 2>/dev/null || true
wait "$slirp_pid" 2>/dev/null || true
slirp_pid=

if ((rc != 0)); then
    tail -n 60 "$log" >&2
    die "the quick start failed (exit $rc) on a fresh Debian 12"
fi
# It must have run the containers: their output, exactly as the README shows it.
grep -qx 'hello from holm' "$log" || {
    tail -n 40 "$log" >&2
    die "no 'hello from holm' from the container"
}
grep -qE '^hostname: quickstart, my pid: 1, root: /bin ' "$log" || {
    tail -n 40 "$log" >&2
    die "no isolation line from the second container"
}
grep -q '^quickstart: installing .*gcc' "$log" || die "the quick start installed no C compiler: was the root not fresh?"
# What the containers printed, for the CI log.
sed -n '/^+ holm run/,/^quickstart: done/p' "$log"
say "ok: the quick start installed $(sed -n 's/^quickstart: installing //p' "$log"), built holm and ran its containers"
