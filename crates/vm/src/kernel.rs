//! The guest kernel: where holm finds it.
//!
//! holm's guest kernel is built by `scripts/build-guest-kernel.sh` from Debian's `linux-source-6.1` with the config
//! fragment `vm/guest-kernel.config` (tinyconfig + virtio-mmio, virtio console/net/blk/balloon, 9p, virtio-fs,
//! overlayfs, namespaces, cgroup v2, seccomp, PVH entry; no modules, no PCI), cached under `/var/cache/holm/guest-kernel/<hash>/` and
//! installed at [`DEFAULT_KERNEL_PATH`].
//!
//! Lookup order of [`find_kernel`], first match wins:
//! 1. the path given by the caller: `--vm-kernel PATH` (holm-runtime's global flag; `holm run|create --vm-kernel`,
//!    which the engine's monitor passes to holm-runtime as `HOLM_VM_KERNEL`). holm has no configuration file, so
//!    there is no config setting;
//! 2. the `HOLM_VM_KERNEL` environment variable ([`KERNEL_ENV`]), when set and not empty;
//! 3. [`DEFAULT_KERNEL_PATH`].
//!
//! The first source that is set must name a usable kernel: a path given explicitly that does not exist is an error,
//! never a silent fall-through to the next source.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

/// Where `scripts/build-guest-kernel.sh` installs the guest kernel, replaced atomically on rebuild: the uncompressed
/// `vmlinux` (an ELF with a PVH entry note, which qemu boots without the bzImage's decompression), or the bzImage
/// with `HOLM_KERNEL_IMAGE=bzImage`. The name stays `vmlinuz` for the paths users and scripts already name.
pub const DEFAULT_KERNEL_PATH: &str = "/var/lib/holm/vm/vmlinuz";

/// The environment variable that overrides [`DEFAULT_KERNEL_PATH`] (below an explicit `--vm-kernel PATH`).
pub const KERNEL_ENV: &str = "HOLM_VM_KERNEL";

/// Where a kernel path came from, for error messages and notices.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KernelSource {
    /// Given by the caller (`--vm-kernel PATH` or a config setting).
    Explicit,
    /// The `HOLM_VM_KERNEL` environment variable.
    Env,
    /// [`DEFAULT_KERNEL_PATH`].
    Default,
}

impl std::fmt::Display for KernelSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            KernelSource::Explicit => "--vm-kernel",
            KernelSource::Env => KERNEL_ENV,
            KernelSource::Default => "the default guest kernel",
        })
    }
}

/// A guest kernel that exists and looks like one qemu can boot directly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuestKernel {
    /// The kernel image's path, as found (not canonicalized).
    pub path: PathBuf,
    /// Which lookup step it came from.
    pub source: KernelSource,
}

/// Errors of the guest kernel lookup. Each names the path and the lookup step it came from.
#[derive(Debug, thiserror::Error)]
pub enum KernelError {
    /// The default kernel is not installed.
    #[error(
        "guest kernel {path}: not found (build and install it with scripts/build-guest-kernel.sh, or give one \
         with --vm-kernel PATH or {KERNEL_ENV})"
    )]
    NotInstalled {
        /// The default path.
        path: PathBuf,
    },
    /// A kernel named by `--vm-kernel` or `HOLM_VM_KERNEL` could not be opened.
    #[error("guest kernel {path} (from {source_name}): {error}")]
    Open {
        /// The path given.
        path: PathBuf,
        /// Where the path came from.
        source_name: KernelSource,
        /// The error of open(2)/read(2) (in the message, not a `source`: callers that print the chain would
        /// print it twice).
        error: std::io::Error,
    },
    /// The file is not a bzImage nor an ELF kernel image.
    #[error(
        "guest kernel {path} (from {source_name}): not a kernel image (expected an x86 bzImage with the 'HdrS' boot \
         header, or an ELF vmlinux)"
    )]
    NotAKernel {
        /// The path given.
        path: PathBuf,
        /// Where the path came from.
        source_name: KernelSource,
    },
}

/// Finds the guest kernel: `explicit` (from `--vm-kernel PATH`), else `$HOLM_VM_KERNEL`, else
/// [`DEFAULT_KERNEL_PATH`]. See the module doc for the order. The file must be a regular file that is an x86 bzImage
/// (boot protocol header `HdrS` at offset 0x202, Documentation/x86/boot.rst) or an ELF image (qemu boots a PVH
/// vmlinux too).
///
/// # Errors
/// [`KernelError::NotInstalled`] when nothing is given and the default kernel is missing; [`KernelError::Open`] or
/// [`KernelError::NotAKernel`] for a path that cannot be read or is no kernel.
pub fn find_kernel(explicit: Option<&Path>) -> Result<GuestKernel, KernelError> {
    let env = std::env::var_os(KERNEL_ENV)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from);
    find_kernel_in(explicit, env.as_deref(), Path::new(DEFAULT_KERNEL_PATH))
}

/// [`find_kernel`] with the environment value and the default path given (for tests and callers that read their
/// own configuration).
///
/// # Errors
/// As [`find_kernel`].
pub fn find_kernel_in(
    explicit: Option<&Path>,
    env: Option<&Path>,
    default: &Path,
) -> Result<GuestKernel, KernelError> {
    let (path, source) = match (explicit, env) {
        (Some(p), _) => (p, KernelSource::Explicit),
        (None, Some(p)) => (p, KernelSource::Env),
        (None, None) => (default, KernelSource::Default),
    };
    let open_err = |error| KernelError::Open {
        path: path.to_path_buf(),
        source_name: source,
        error,
    };
    let mut file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && source == KernelSource::Default => {
            return Err(KernelError::NotInstalled {
                path: path.to_path_buf(),
            });
        }
        Err(e) => return Err(open_err(e)),
    };
    let meta = file.metadata().map_err(open_err)?;
    if !meta.is_file() {
        return Err(KernelError::NotAKernel {
            path: path.to_path_buf(),
            source_name: source,
        });
    }
    let mut head = [0u8; 0x206];
    let mut filled = 0;
    while filled < head.len() {
        match file.read(&mut head[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(open_err(e)),
        }
    }
    let is_elf = filled >= 4 && head[..4] == *b"\x7fELF";
    let is_bzimage = filled >= 0x206 && head[0x202..0x206] == *b"HdrS";
    if !is_elf && !is_bzimage {
        return Err(KernelError::NotAKernel {
            path: path.to_path_buf(),
            source_name: source,
        });
    }
    Ok(GuestKernel {
        path: path.to_path_buf(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bzimage(dir: &Path, name: &str) -> PathBuf {
        let mut data = vec![0u8; 0x400];
        data[0x202..0x206].copy_from_slice(b"HdrS");
        let p = dir.join(name);
        std::fs::write(&p, data).unwrap();
        p
    }

    #[test]
    fn order_explicit_then_env_then_default() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b, c) = (
            bzimage(dir.path(), "a"),
            bzimage(dir.path(), "b"),
            bzimage(dir.path(), "c"),
        );
        let k = find_kernel_in(Some(&a), Some(&b), &c).unwrap();
        assert_eq!(
            (k.path.as_path(), k.source),
            (a.as_path(), KernelSource::Explicit)
        );
        let k = find_kernel_in(None, Some(&b), &c).unwrap();
        assert_eq!(
            (k.path.as_path(), k.source),
            (b.as_path(), KernelSource::Env)
        );
        let k = find_kernel_in(None, None, &c).unwrap();
        assert_eq!(
            (k.path.as_path(), k.source),
            (c.as_path(), KernelSource::Default)
        );
    }

    #[test]
    fn a_given_path_that_is_missing_does_not_fall_through() {
        let dir = tempfile::tempdir().unwrap();
        let good = bzimage(dir.path(), "good");
        let missing = dir.path().join("missing");
        let err = find_kernel_in(Some(&missing), Some(&good), &good).unwrap_err();
        assert!(
            matches!(
                err,
                KernelError::Open {
                    source_name: KernelSource::Explicit,
                    ..
                }
            ),
            "{err}"
        );
        assert!(
            err.to_string().contains("missing") && err.to_string().contains("--vm-kernel"),
            "{err}"
        );
        let err = find_kernel_in(None, Some(&missing), &good).unwrap_err();
        assert!(err.to_string().contains(KERNEL_ENV), "{err}");
        let err = find_kernel_in(None, None, &missing).unwrap_err();
        assert!(matches!(err, KernelError::NotInstalled { .. }), "{err}");
        assert!(err.to_string().contains("build-guest-kernel.sh"), "{err}");
    }

    #[test]
    fn rejects_files_that_are_no_kernel() {
        let dir = tempfile::tempdir().unwrap();
        let text = dir.path().join("text");
        std::fs::write(&text, "hello").unwrap();
        let err = find_kernel_in(Some(&text), None, &text).unwrap_err();
        assert!(matches!(err, KernelError::NotAKernel { .. }), "{err}");
        let err = find_kernel_in(Some(dir.path()), None, &text).unwrap_err();
        assert!(matches!(err, KernelError::NotAKernel { .. }), "{err}");
        let elf = dir.path().join("vmlinux");
        std::fs::write(&elf, b"\x7fELF\x02\x01\x01").unwrap();
        assert_eq!(find_kernel_in(Some(&elf), None, &text).unwrap().path, elf);
    }
}
