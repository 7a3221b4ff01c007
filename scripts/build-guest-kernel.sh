#!/usr/bin/env bash
# Builds holm's guest kernel for qemu `-machine microvm` from Debian's linux-source-6.1 and installs it at
# holm's default path, /var/lib/holm/vm/vmlinuz (see crates/vm/src/kernel.rs).
#
#   scripts/build-guest-kernel.sh [--no-install] [--print-path]
#
# Two images come out of one build: `vmlinux`, the uncompressed kernel as a stripped ELF with a PVH entry note
# (CONFIG_PVH: qemu loads it and jumps to the 64-bit kernel directly, no real-mode setup and no decompression,
# which under TCG is a large part of the boot), and the classic `bzImage`. The installed one is vmlinux unless
# HOLM_KERNEL_IMAGE=bzImage. qemu (and holm's --vm-kernel) boots either.
#
# The config is `make tinyconfig` + vm/guest-kernel.config (merged with the kernel's merge_config.sh, then
# olddefconfig); every option of the fragment is then checked to be set exactly as asked (the build fails
# naming the ones that are not, e.g. when a dependency is missing). No modules.
#
# Cache: /var/cache/holm/guest-kernel/<sha256 of (linux-source version, fragment, this script)>/ holds
# vmlinux, bzImage, config and build-info. A cached kernel is reused (a run takes well under a second); a new one is built
# in a temporary directory beside the cache and renamed in when complete, so a killed build leaves no half
# cache. One build at a time (flock on the cache directory's lock file).
#
# Environment:
#   HOLM_KERNEL_SOURCE   the kernel source tarball (default /usr/src/linux-source-6.1.tar.xz)
#   HOLM_KERNEL_CACHE    the cache directory (default /var/cache/holm/guest-kernel)
#   HOLM_KERNEL_INSTALL  where the kernel is installed (default /var/lib/holm/vm/vmlinuz), replaced atomically
#   HOLM_KERNEL_JOBS     make -j (default $(nproc))
#   HOLM_KERNEL_IMAGE    which image is installed/printed: vmlinux (default) or bzImage
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
script="$here/scripts/build-guest-kernel.sh"
fragment="$here/vm/guest-kernel.config"
source_tar="${HOLM_KERNEL_SOURCE:-/usr/src/linux-source-6.1.tar.xz}"
cache="${HOLM_KERNEL_CACHE:-/var/cache/holm/guest-kernel}"
install_path="${HOLM_KERNEL_INSTALL:-/var/lib/holm/vm/vmlinuz}"
jobs="${HOLM_KERNEL_JOBS:-$(nproc)}"
image_name="${HOLM_KERNEL_IMAGE:-vmlinux}"

do_install=1
print_path=0
for arg in "$@"; do
    case "$arg" in
    --no-install) do_install=0 ;;
    --print-path) print_path=1 ;;
    -h | --help)
        sed -n '2,25p' "$script" | sed 's/^# \{0,1\}//'
        exit 0
        ;;
    *)
        echo "build-guest-kernel: unknown argument '$arg' (expected --no-install or --print-path)" >&2
        exit 2
        ;;
    esac
done

say() { echo "build-guest-kernel: $*" >&2; }
die() {
    say "$*"
    exit 1
}

case "$image_name" in
vmlinux | bzImage) ;;
*) die "HOLM_KERNEL_IMAGE='$image_name': expected vmlinux or bzImage" ;;
esac
[[ -f "$fragment" ]] || die "config fragment $fragment: not found"
[[ -f "$source_tar" ]] || die "kernel source $source_tar: not found (install Debian's linux-source-6.1)"

# The source's identity: the Debian package version when the tarball is the package's, else the tarball's hash.
source_id=""
if [[ "$source_tar" == /usr/src/linux-source-6.1.tar.xz ]]; then
    source_id="linux-source-6.1 $(dpkg-query -W -f='${Version}' linux-source-6.1 2>/dev/null || true)"
fi
if [[ "$source_id" == "linux-source-6.1 " || -z "$source_id" ]]; then
    source_id="tarball sha256 $(sha256sum "$source_tar" | cut -d' ' -f1)"
fi
hash="$( (
    printf '%s\n' "$source_id"
    cat "$fragment" "$script"
) | sha256sum | cut -d' ' -f1)"
entry="$cache/$hash"

install_kernel() {
    local image="$entry/$image_name"
    if ((do_install)); then
        local dir
        dir="$(dirname "$install_path")"
        mkdir -p "$dir"
        if ! cmp -s "$image" "$install_path" 2>/dev/null; then
            local tmp
            tmp="$(mktemp "$dir/.vmlinuz.XXXXXX")"
            cp "$image" "$tmp"
            chmod 644 "$tmp"
            mv -f "$tmp" "$install_path"
            say "installed $install_path ($image_name, $hash)"
        else
            say "$install_path is up to date ($image_name, $hash)"
        fi
    fi
    if ((print_path)); then
        if ((do_install)); then echo "$install_path"; else echo "$image"; fi
    fi
}

if [[ -f "$entry/vmlinux" ]]; then
    install_kernel
    exit 0
fi

mkdir -p "$cache"
exec 9>"$cache/.lock"
flock 9
# Another run may have finished the same build while this one waited for the lock.
if [[ -f "$entry/vmlinux" ]]; then
    install_kernel
    exit 0
fi
# The source tree (~1.3 GB) is extracted and built in a tmpfs when one has room (/dev/shm: much faster than a
# busy disk, and nothing to sync); only the result is staged beside the cache, then renamed in.
scratch_parent="${HOLM_KERNEL_WORKDIR:-}"
if [[ -z "$scratch_parent" ]]; then
    scratch_parent="$cache"
    if [[ -d /dev/shm && -w /dev/shm ]] && (($(df -Pk /dev/shm | awk 'NR==2 {print $4}') > 3 * 1024 * 1024)); then
        scratch_parent=/dev/shm
    fi
fi
# Holding the lock, any build directory left here belongs to a run that was killed.
rm -rf "$cache"/.build.* "$scratch_parent"/.holm-guest-kernel-build.*

stage="$(mktemp -d "$cache/.build.XXXXXX")"
work="$(mktemp -d "$scratch_parent/.holm-guest-kernel-build.XXXXXX")"
trap 'rm -rf "$work" "$stage"' EXIT
log="$stage/build.log"
started=$(date +%s)
say "building $hash from $source_id (log: $log)"

say "extracting $source_tar"
mkdir "$work/src"
tar -xJf "$source_tar" -C "$work/src" --strip-components=1
src="$work/src"
kmake() { make -C "$src" ARCH=x86_64 "$@" >>"$log" 2>&1; }

fail_with_log() {
    tail -n 40 "$log" >&2 || true
    die "$1"
}

say "configuring: tinyconfig + $(basename "$fragment")"
kmake tinyconfig || fail_with_log "make tinyconfig failed"
(cd "$src" && ARCH=x86_64 scripts/kconfig/merge_config.sh -m .config "$fragment" >>"$log" 2>&1) ||
    fail_with_log "merge_config.sh failed"
kmake olddefconfig || fail_with_log "make olddefconfig failed"

# Every option of the fragment must be set as asked after olddefconfig resolved dependencies.
bad=()
while IFS= read -r line; do
    line="${line%%#*}"
    line="${line//[[:space:]]/}"
    [[ -z "$line" ]] && continue
    name="${line%%=*}"
    want="${line#*=}"
    if [[ "$want" == n ]]; then
        if grep -q "^$name=" "$src/.config"; then
            bad+=("$name (want n, got $(grep "^$name=" "$src/.config" | cut -d= -f2-))")
        fi
    elif ! grep -qxF "$name=$want" "$src/.config"; then
        got="$(grep "^$name=" "$src/.config" | cut -d= -f2- || true)"
        bad+=("$name (want $want, got ${got:-not set})")
    fi
done <"$fragment"
if ((${#bad[@]})); then
    die "options of $(basename "$fragment") not set after olddefconfig (a dependency missing?): ${bad[*]}"
fi

say "compiling vmlinux and bzImage with -j$jobs"
kmake -j"$jobs" bzImage || fail_with_log "make bzImage failed"

out="$stage/out"
mkdir "$out"
cp "$src/arch/x86/boot/bzImage" "$out/bzImage"
# The symbol table is only for debugging; the PVH note (XEN_ELFNOTE_PHYS32_ENTRY) is what qemu needs.
strip --strip-all -o "$out/vmlinux" "$src/vmlinux" || fail_with_log "strip vmlinux failed"
has_pvh_note() { # <elf>: a PT_NOTE entry named "Xen" of type 18 (XEN_ELFNOTE_PHYS32_ENTRY)
    python3 - "$1" <<'PY'
import struct, sys
d = open(sys.argv[1], "rb").read()
if d[:4] != b"\x7fELF" or d[4] != 2:
    sys.exit(1)
phoff, = struct.unpack_from("<Q", d, 0x20)
phentsize, phnum = struct.unpack_from("<HH", d, 0x36)
for i in range(phnum):
    p_type, _, p_offset, _, _, p_filesz = struct.unpack_from("<IIQQQQ", d, phoff + i * phentsize)
    off, end = p_offset, p_offset + p_filesz
    while p_type == 4 and off + 12 <= end:
        namesz, descsz, ntype = struct.unpack_from("<III", d, off)
        if d[off + 12:off + 12 + namesz].rstrip(b"\0") == b"Xen" and ntype == 18:
            sys.exit(0)
        off += 12 + (namesz + 3) // 4 * 4 + (descsz + 3) // 4 * 4
sys.exit(1)
PY
}
has_pvh_note "$out/vmlinux" || die "$out/vmlinux has no PVH entry note (XEN_ELFNOTE_PHYS32_ENTRY): is CONFIG_PVH set?"
cp "$src/.config" "$out/config"
cp "$log" "$out/build.log"
{
    echo "source: $source_id"
    echo "fragment-sha256: $(sha256sum "$fragment" | cut -d' ' -f1)"
    echo "sizes: vmlinux $(stat -c %s "$out/vmlinux"), bzImage $(stat -c %s "$out/bzImage") bytes"
    echo "kernelrelease: $(make -s -C "$src" ARCH=x86_64 kernelrelease 2>/dev/null || echo unknown)"
    echo "built: $(date -u +%Y-%m-%dT%H:%M:%SZ) in $(($(date +%s) - started)) s with -j$jobs"
} >"$out/build-info"
mv -T "$out" "$entry"
rm -rf "$work"
say "built $entry/{vmlinux,bzImage} in $(($(date +%s) - started)) s"
install_kernel
