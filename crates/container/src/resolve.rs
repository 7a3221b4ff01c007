//! Resolving and creating paths *inside* a root directory without ever leaving it.
//!
//! Every lookup goes through `openat2(2)` with `RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS` on an fd of the root, so
//! `..`, absolute paths and symlinks (even `../../../../tmp/escape`) are resolved as if the root were `/`. Callers
//! then act on the returned fd (mount onto `/proc/self/fd/N`, `mknodat` in a parent fd), never on a path string
//! that could be swapped underneath them.

use crate::{Error, Result};
use holm_sys::fs::{self, resolve};
use std::ffi::OsString;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Component, Path, PathBuf};

const RESOLVE: u64 = resolve::IN_ROOT | resolve::NO_MAGICLINKS;
const MAX_LINKS: usize = 40;

/// Lexically cleans `path` into root-relative components: `.` dropped, `..` pops (never above the root), the
/// leading `/` removed. `"/a/./b/../c"` → `"a/c"`; `"/../x"` → `"x"`.
pub fn clean(path: &Path) -> PathBuf {
    let mut out: Vec<OsString> = Vec::new();
    for c in path.components() {
        match c {
            Component::Normal(n) => out.push(n.to_os_string()),
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir | Component::RootDir | Component::Prefix(_) => {}
        }
    }
    out.iter().collect()
}

fn dot(p: &Path) -> &Path {
    if p.as_os_str().is_empty() {
        Path::new(".")
    } else {
        p
    }
}

/// Opens `path` inside `root` (see the module doc) with `O_*` `flags`.
///
/// Errors: `openat2` naming the in-root path (`ENOENT`, `ENOTDIR`, `ELOOP` for magic links, …).
pub fn open(root: BorrowedFd<'_>, path: &Path, flags: i32) -> Result<OwnedFd> {
    let rel = clean(path);
    fs::openat2(root, dot(&rel), flags, 0, RESOLVE).map_err(|e| in_root(e, path))
}

fn in_root(mut e: holm_sys::Error, path: &Path) -> Error {
    e.target = format!("{} (in rootfs)", Path::new("/").join(clean(path)).display());
    Error::Sys(e)
}

/// Makes sure the directory `path` exists inside `root`, creating missing components with `mode` (like
/// `mkdir -p`), and returns an `O_PATH` fd of it. A dangling symlink on the way is followed *inside* the root and
/// its target created there.
///
/// Errors: a component exists but is not a directory (`ENOTDIR`), too many symlinks (`ELOOP`), or the underlying
/// `openat2`/`mkdirat` failure, each naming the in-root path.
pub fn mkdir_all(root: BorrowedFd<'_>, path: &Path, mode: u32) -> Result<OwnedFd> {
    mkdir_all_depth(root, &clean(path), mode, 0)
}

fn mkdir_all_depth(root: BorrowedFd<'_>, rel: &Path, mode: u32, depth: usize) -> Result<OwnedFd> {
    let dir_flags = libc::O_PATH | libc::O_DIRECTORY;
    if depth > MAX_LINKS {
        return Err(in_root(
            holm_sys::Error::from_errno("mkdir", "", libc::ELOOP),
            rel,
        ));
    }
    let mut done = PathBuf::new();
    let mut last = fs::openat2(root, Path::new("."), dir_flags, 0, RESOLVE)?;
    for comp in rel.components() {
        let next = done.join(comp);
        match fs::openat2(root, &next, dir_flags, 0, RESOLVE) {
            Ok(fd) => last = fd,
            Err(e) if e.errno() == libc::ENOENT => {
                let name = Path::new(comp.as_os_str());
                match fs::mkdirat(last.as_fd(), name, mode) {
                    Ok(()) => {}
                    Err(e) if e.errno() == libc::EEXIST => {}
                    Err(e) => return Err(in_root(e, &next)),
                }
                last = match fs::openat2(root, &next, dir_flags, 0, RESOLVE) {
                    Ok(fd) => fd,
                    Err(e) if e.errno() == libc::ENOENT => {
                        // `name` exists but does not resolve: a dangling symlink. Create its target inside the root.
                        let target =
                            fs::readlinkat(last.as_fd(), name).map_err(|_| in_root(e, &next))?;
                        let base = if target.is_absolute() {
                            PathBuf::new()
                        } else {
                            done.clone()
                        };
                        mkdir_all_depth(root, &clean(&base.join(target)), mode, depth + 1)?;
                        fs::openat2(root, &next, dir_flags, 0, RESOLVE)
                            .map_err(|e| in_root(e, &next))?
                    }
                    Err(e) => return Err(in_root(e, &next)),
                };
            }
            Err(e) => return Err(in_root(e, &next)),
        }
        done = next;
    }
    Ok(last)
}

/// Opens the parent directory of `path` inside `root` (creating it like [`mkdir_all`]) and returns it with the
/// final component's name. Errors with `EINVAL` if `path` is the root itself.
pub fn parent_and_name(root: BorrowedFd<'_>, path: &Path, mode: u32) -> Result<(OwnedFd, PathBuf)> {
    let rel = clean(path);
    let name = rel
        .file_name()
        .map(PathBuf::from)
        .ok_or_else(|| in_root(fs::einval("resolve", ""), path))?;
    let parent = mkdir_all(root, rel.parent().unwrap_or(Path::new("")), mode)?;
    Ok((parent, name))
}

/// Makes sure a non-directory file exists at `path` inside `root` (an empty regular file is created if nothing is
/// there; parents are created) and returns an `O_PATH` fd of it, e.g. as a bind-mount target for a file.
///
/// A file that already exists is only ever opened `O_PATH`: the rootfs may put a FIFO there (opening it would block
/// forever) or a device node (opening it may have side effects, like arming a watchdog).
pub fn touch(root: BorrowedFd<'_>, path: &Path) -> Result<OwnedFd> {
    let (parent, _) = parent_and_name(root, path, 0o755)?;
    drop(parent);
    let rel = clean(path);
    match fs::openat2(root, &rel, libc::O_PATH, 0, RESOLVE) {
        Ok(fd) => return Ok(fd),
        Err(e) if e.errno() == libc::ENOENT => {}
        Err(e) => return Err(in_root(e, path)),
    }
    // O_NONBLOCK: should a FIFO appear here after all, opening it must not block.
    let fd = fs::openat2(
        root,
        &rel,
        libc::O_CREAT | libc::O_RDONLY | libc::O_NOCTTY | libc::O_NONBLOCK,
        0o644,
        RESOLVE,
    )
    .map_err(|e| in_root(e, path))?;
    drop(fd);
    fs::openat2(root, &rel, libc::O_PATH, 0, RESOLVE).map_err(|e| in_root(e, path))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn clean_clamps_at_root() {
        assert_eq!(clean(Path::new("/a/./b/../c")), PathBuf::from("a/c"));
        assert_eq!(clean(Path::new("/../../x")), PathBuf::from("x"));
        assert_eq!(clean(Path::new("/")), PathBuf::new());
    }

    #[test]
    fn mkdir_all_stays_inside_through_escaping_symlinks() {
        let outer = tempfile::tempdir().unwrap();
        let root = outer.path().join("root");
        std::fs::create_dir(&root).unwrap();
        symlink(
            "../../../../../../tmp/holm-escape-test-unused",
            root.join("data"),
        )
        .unwrap();
        symlink("/etc", root.join("abs")).unwrap();
        let rootfd = std::fs::File::open(&root).unwrap();
        mkdir_all(rootfd.as_fd(), Path::new("/data/sub"), 0o755).unwrap();
        assert!(root.join("tmp/holm-escape-test-unused/sub").is_dir());
        assert!(!Path::new("/tmp/holm-escape-test-unused").exists());
        mkdir_all(rootfd.as_fd(), Path::new("/abs/x"), 0o755).unwrap();
        assert!(root.join("etc/x").is_dir());
        touch(rootfd.as_fd(), Path::new("/../f/file")).unwrap();
        assert!(root.join("f/file").is_file());
        std::fs::write(root.join("plain"), b"").unwrap();
        assert!(mkdir_all(rootfd.as_fd(), Path::new("/plain/x"), 0o755).is_err());
    }
}
