//! Cgroup directories reached through open directory handles, never by following symlinks.
//!
//! A [`Dir`] is an open `O_DIRECTORY|O_NOFOLLOW` handle that was checked to lie on the expected cgroup hierarchy
//! (same device number). Its children are opened relative to it. Without `openat(2)` in `std` (and with no
//! `unsafe` in this crate), "relative to it" is spelled `/proc/self/fd/<fd>/<name>`: the kernel resolves the
//! `fd/<fd>` magic link to the very directory the handle refers to, and `O_NOFOLLOW` refuses a symlink as the
//! last component. `name` is always a single plain component.
//!
//! TODO(holm-sys): switch to `openat2(dirfd, name, RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_XDEV)`,
//! `mkdirat` and `unlinkat(AT_REMOVEDIR)` once holm-sys offers them; this also drops the need for `/proc`.

use std::fs::{DirBuilder, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Component, Path, PathBuf};

use crate::mountinfo::{DevId, HierarchyInfo};

/// An open cgroup directory.
#[derive(Debug)]
pub(crate) struct Dir {
    file: File,
    /// The path it was reached by, for error messages only.
    path: PathBuf,
    dev: DevId,
}

impl Dir {
    /// Opens the mount point of `h` and checks that it is the hierarchy's root (device number from mountinfo).
    pub(crate) fn open_mount_point(h: &HierarchyInfo) -> io::Result<Dir> {
        let file = open_dir(h.mount_point())?;
        let dir = Dir {
            file,
            path: h.mount_point().to_path_buf(),
            dev: h.dev(),
        };
        dir.check_dev(&dir.file)?;
        Ok(dir)
    }

    /// `path()/name`, for error messages.
    pub(crate) fn child_path(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    /// Opens the child directory `name`.
    pub(crate) fn open_dir(&self, name: &str) -> io::Result<Dir> {
        let file = open_dir(&self.at(name)?)?;
        self.check_dev(&file)?;
        Ok(Dir {
            file,
            path: self.path.join(name),
            dev: self.dev,
        })
    }

    /// Creates the child directory `name` (mode 0755). Returns `Ok(false)` if it already exists (then the caller
    /// opens it with [`Dir::open_dir`], which fails if it is not a directory).
    pub(crate) fn mkdir(&self, name: &str) -> io::Result<bool> {
        match DirBuilder::new().mode(0o755).create(self.at(name)?) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Removes the child directory `name` (`rmdir(2)`; never follows a symlink).
    pub(crate) fn rmdir(&self, name: &str) -> io::Result<()> {
        std::fs::remove_dir(self.at(name)?)
    }

    /// Reads the whole control file `name`.
    pub(crate) fn read(&self, name: &str) -> io::Result<String> {
        let mut file = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW)
            .open(self.at(name)?)?;
        self.check_dev(&file)?;
        let mut s = String::new();
        file.read_to_string(&mut s)?;
        Ok(s)
    }

    /// Writes `data` to the existing control file `name` with exactly one `write(2)`: cgroup files act on each
    /// write separately (`cgroup.procs` takes one pid per write), so a short write is an error, not a retry.
    pub(crate) fn write(&self, name: &str, data: &[u8]) -> io::Result<()> {
        let mut file = OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_NOFOLLOW)
            .open(self.at(name)?)?;
        self.check_dev(&file)?;
        let n = file.write(data)?;
        if n != data.len() {
            return Err(io::Error::new(
                io::ErrorKind::WriteZero,
                format!("short write: {n} of {} bytes accepted", data.len()),
            ));
        }
        Ok(())
    }

    /// True if the child `name` exists (any type; a symlink counts as existing and is refused later on open).
    pub(crate) fn exists(&self, name: &str) -> io::Result<bool> {
        match std::fs::symlink_metadata(self.at(name)?) {
            Ok(_) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Names of the child directories (child cgroups), sorted.
    pub(crate) fn subdirs(&self) -> io::Result<Vec<String>> {
        let me = PathBuf::from(format!("/proc/self/fd/{}", self.file.as_raw_fd()));
        let mut names = Vec::new();
        for e in std::fs::read_dir(me)? {
            let e = e?;
            if e.file_type()?.is_dir() {
                if let Ok(n) = e.file_name().into_string() {
                    names.push(n);
                }
            }
        }
        names.sort();
        Ok(names)
    }

    /// The open directory itself (for `bpf(BPF_PROG_ATTACH)`, which takes a cgroup directory fd).
    pub(crate) fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        use std::os::fd::AsFd;
        self.file.as_fd()
    }

    /// The path this directory was reached by (for error messages).
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// `/proc/self/fd/<fd>/<name>`, after checking that `name` is one plain component.
    fn at(&self, name: &str) -> io::Result<PathBuf> {
        let mut c = Path::new(name).components();
        match (c.next(), c.next()) {
            (Some(Component::Normal(n)), None) if n == name => {
                Ok(PathBuf::from(format!("/proc/self/fd/{}", self.file.as_raw_fd())).join(name))
            }
            _ => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("`{name}` is not a single file name"),
            )),
        }
    }

    /// Fails unless `file` is on this hierarchy: the device number shows that no symlink or mount led elsewhere.
    fn check_dev(&self, file: &File) -> io::Result<()> {
        let found = DevId::from_dev_t(file.metadata()?.dev());
        if found != self.dev {
            return Err(io::Error::other(format!(
                "not on the expected cgroup file system (device {found}, expected {})",
                self.dev
            )));
        }
        Ok(())
    }
}

fn open_dir(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECTORY | libc::O_NOFOLLOW)
        .open(path)
}
