//! A procfs handle that a container's mount tree cannot shadow, for every write the runtime makes into `/proc`
//! from inside the container (sysctls, LSM attributes). A bind mount over `/proc/sys/...`, a tmpfs on
//! `/proc/self/attr`, or a symlink cannot redirect these writes: the handle is a private procfs instance
//! (`fsopen`/`fsmount`, attached nowhere), or, where the kernel refuses that, the container's `/proc` after checking
//! it is procfs; paths under it are opened with `RESOLVE_BENEATH | RESOLVE_NO_XDEV | RESOLVE_NO_SYMLINKS`, so any
//! mount or symlink on the way is an error, never a write elsewhere (the runc CVE-2019-16884 / CVE-2019-19921
//! class).

use crate::{Error, Result};
use holm_sys::fs::resolve;
use std::fs::File;
use std::io::Write;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

const PROC_SUPER_MAGIC: i64 = 0x9fa0;

/// A verified procfs directory fd.
#[derive(Debug)]
pub struct ProcFs(OwnedFd);

impl ProcFs {
    /// A private procfs instance for the caller's pid namespace, or the mounted `/proc` if the kernel refuses a new
    /// instance; either way checked to be procfs (`fstatfs`). Errors: neither is available or `/proc` is not procfs.
    pub fn open() -> Result<ProcFs> {
        let fd = match holm_sys::mount::private_procfs() {
            Ok(fd) => fd,
            Err(_) => File::options()
                .read(true)
                .custom_flags(libc::O_DIRECTORY | libc::O_NOFOLLOW)
                .open("/proc")
                .map_err(|e| Error::io("open", "/proc", e))?
                .into(),
        };
        if holm_sys::fs::fs_magic(fd.as_fd())? != PROC_SUPER_MAGIC {
            return Err(Error::Init(
                "/proc is not a procfs: refusing to write through it".into(),
            ));
        }
        Ok(ProcFs(fd))
    }

    /// Opens `rel` (relative to the procfs root, e.g. `sys/net/ipv4/ip_forward`, `1234/attr/exec`) for writing,
    /// refusing symlinks and mount crossings on the way.
    pub fn open_write(&self, rel: &Path) -> Result<File> {
        let flags =
            resolve::BENEATH | resolve::NO_XDEV | resolve::NO_SYMLINKS | resolve::NO_MAGICLINKS;
        Ok(File::from(holm_sys::fs::openat2(
            self.0.as_fd(),
            rel,
            libc::O_WRONLY,
            0,
            flags,
        )?))
    }

    /// Writes `value` to `rel` in one `write(2)`.
    pub fn write(&self, rel: &Path, value: &str) -> Result<()> {
        self.open_write(rel)?
            .write_all(value.as_bytes())
            .map_err(|e| Error::io("write", Path::new("/proc").join(rel), e))
    }
}
