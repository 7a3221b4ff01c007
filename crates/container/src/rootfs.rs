//! The container's root filesystem (runtime-spec `config.md#root`, `#mounts`, `config-linux.md#devices`,
//! `#masked-paths`, `#readonly-paths`, `#rootfs-mount-propagation`), set up by the container init inside its own
//! mount namespace.
//!
//! Order (each step depends on the one before):
//! 1. `/` gets the rootfs propagation (default `rslave`) so nothing done here reaches the host, and the mount
//!    holding the rootfs is made private (pivot_root refuses shared parents);
//! 2. the rootfs is bind-mounted onto itself (pivot_root needs a mount point);
//! 3. `mounts` in config order, each destination resolved inside the rootfs ([`crate::resolve`]) and mounted onto
//!    `/proc/self/fd/N` of the verified fd;
//! 4. default devices and `linux.devices`, `/dev` symlinks;
//! 5. (hooks run by the caller), then `pivot_root` (or `MS_MOVE` + `chroot` with `--no-pivot`);
//! 6. masked and read-only paths, then `root.readonly`.

use crate::mountopts::{self, MountOptions};
use crate::resolve;
use crate::{Error, Result};
use holm_sys::fs::{fd_path, resolve as rflags};
use holm_sys::mount::*;
use oci_spec::runtime::{LinuxDevice, LinuxDeviceType, Mount, Spec};
use std::fs::File;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// What the rootfs setup needs besides the spec.
pub struct Context<'a> {
    /// The validated spec.
    pub spec: &'a Spec,
    /// Bundle directory (relative bind sources are relative to it).
    pub bundle: &'a Path,
    /// Absolute rootfs path (host view).
    pub rootfs: &'a Path,
    /// The container's cgroup, for `cgroup` mounts.
    pub cgroup: Option<&'a holm_cgroups::Cgroup>,
    /// The container has a new user namespace (device nodes are bind-mounted, not created).
    pub userns: bool,
    /// The container has a new cgroup namespace.
    pub cgroupns: bool,
    /// Detached id-mapped trees by `mounts` index, attached instead of a bind ([`crate::idmap`]).
    pub idmapped: &'a [(usize, OwnedFd)],
}

fn what(m: &Mount) -> String {
    let src = m
        .source()
        .as_ref()
        .map(|s| s.display().to_string())
        .or_else(|| m.typ().clone())
        .unwrap_or_default();
    format!("{src} on {}", m.destination().display())
}

/// Steps 1–4: propagation, rootfs bind, `mounts`, devices. Returns an fd of the rootfs mount.
pub fn prepare(ctx: &Context<'_>) -> Result<OwnedFd> {
    let linux = ctx.spec.linux().as_ref();
    let prop = linux
        .and_then(|l| l.rootfs_propagation().as_deref())
        .filter(|p| !p.is_empty())
        .and_then(mountopts::propagation)
        .unwrap_or(MS_SLAVE | MS_REC);
    mount(None, Path::new("/"), None, prop, None, "propagation of /")?;
    // pivot_root (and MS_MOVE for --no-pivot) fails with EINVAL when the new root or its parent mount is shared, and
    // binding an unbindable mount fails: make the mount holding the rootfs private first, as runc does. The rootfs
    // propagation is given to the new `/` after the pivot ([`finish`]).
    make_parent_private(ctx.rootfs)?;
    mount(
        Some(ctx.rootfs),
        ctx.rootfs,
        None,
        MS_BIND | MS_REC,
        None,
        &format!("rootfs {}", ctx.rootfs.display()),
    )?;
    let root: OwnedFd = File::options()
        .read(true)
        .custom_flags(libc::O_DIRECTORY | libc::O_NOFOLLOW)
        .open(ctx.rootfs)
        .map_err(|e| Error::io("open rootfs", ctx.rootfs, e))?
        .into();

    let mut dev_bound = false;
    // Read-only tmpfs mounts are mounted read-write and made read-only once everything is in place (runc's
    // order): a `ro` /dev still gets its devices and the devpts, mqueue and shm mounts below it; tmpcopyup and
    // the covered directory's mode still apply.
    let mut read_only_later = Vec::new();
    for (i, m) in ctx.spec.mounts().iter().flatten().enumerate() {
        let mut opts = mountopts::parse(m.options().as_deref().unwrap_or_default())
            .map_err(|msg| Error::config(format!("mounts[{i}].options"), msg))?;
        if m.typ().as_deref() == Some("tmpfs") && opts.flags & MS_RDONLY != 0 && !opts.bind {
            opts.flags &= !MS_RDONLY;
            read_only_later.push(m);
        }
        let is_bind = opts.bind || m.typ().as_deref() == Some("bind");
        if is_bind && resolve::clean(m.destination()) == Path::new("dev") {
            dev_bound = true;
        }
        // A failure names the entry (and the data the kernel was given, which an EINVAL is usually about).
        let in_entry = |e: Error| match e {
            Error::Config { .. } => e,
            e if opts.data.is_empty() => Error::config(format!("mounts[{i}]"), e.to_string()),
            e => Error::config(
                format!("mounts[{i}]"),
                format!("{e} (data `{}`)", opts.data_string()),
            ),
        };
        mount_one(ctx, root.as_fd(), i, m, &opts, is_bind).map_err(in_entry)?;
        // Recursive attributes (`rro`, `rnosuid`, …) hold for the mount and everything below it.
        if opts.rec != holm_sys::mount_attr::MountAttr::default() {
            let fd =
                resolve::open(root.as_fd(), m.destination(), libc::O_PATH).map_err(in_entry)?;
            holm_sys::mount_attr::mount_setattr(fd.as_fd(), true, opts.rec, None, &what(m))
                .map_err(|e| in_entry(e.into()))?;
        }
    }
    if !dev_bound {
        create_devices(ctx, root.as_fd())?;
    }
    for m in read_only_later {
        let fd = resolve::open(root.as_fd(), m.destination(), libc::O_PATH)?;
        let keep = locked_flags(fd.as_fd())?;
        mount(
            None,
            &fd_path(fd.as_fd()),
            None,
            MS_BIND | MS_REMOUNT | MS_RDONLY | keep,
            None,
            &format!("read-only remount of {}", what(m)),
        )?;
    }
    Ok(root)
}

/// Makes the mount that holds `path` private: tries `path`, then each parent, until one is a mount point (the kernel
/// answers EINVAL for a directory that is not the root of a mount).
fn make_parent_private(path: &Path) -> Result<()> {
    let mut p = path;
    loop {
        match mount(None, p, None, MS_PRIVATE, None, "rootfs parent mount") {
            Ok(()) => return Ok(()),
            Err(e) if e.errno() == libc::EINVAL => {
                p = p.parent().ok_or(Error::Sys(e))?;
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// Destinations under `/proc` that may receive a bind mount from elsewhere (lxcfs-style virtualised files); the
/// same list runc accepts.
const PROC_BIND_ALLOWED: &[&str] = &[
    "proc/cpuinfo",
    "proc/diskstats",
    "proc/meminfo",
    "proc/stat",
    "proc/swaps",
    "proc/uptime",
    "proc/loadavg",
    "proc/slabinfo",
    "proc/net/dev",
    "proc/sys/kernel/ns_last_pid",
];

/// `/proc` must really be procfs (runc CVE-2019-16884 class): only a `proc` mount may land on `/proc`; below it,
/// a bind mount is allowed from procfs itself or onto the [`PROC_BIND_ALLOWED`] files; nothing else.
fn check_proc_mount(i: usize, dest: &Path, src: Option<BorrowedFd<'_>>, typ: &str) -> Result<()> {
    let rel = resolve::clean(dest);
    if !rel.starts_with("proc") {
        return Ok(());
    }
    if typ == "proc" {
        return Ok(());
    }
    let field = format!("mounts[{i}]");
    if rel == Path::new("proc") {
        return Err(Error::config(
            field,
            format!("only a procfs may be mounted on /proc, not {typ:?}"),
        ));
    }
    if let Some(src) = src {
        if holm_sys::fs::fs_magic(src)? == 0x9fa0 {
            return Ok(());
        }
        if PROC_BIND_ALLOWED.iter().any(|p| rel == Path::new(p)) {
            return Ok(());
        }
    }
    Err(Error::config(
        field,
        format!(
            "`{}`: mounts below /proc must come from procfs (or be one of the lxcfs-style files)",
            dest.display()
        ),
    ))
}

/// Where `dest` really is inside the rootfs, symlinks resolved (`/foo` when it is a symlink to `proc` gives
/// `/proc`), so the rules for `/proc` cannot be sidestepped through a link; `dest` itself if it does not resolve
/// yet (it is then created as a real directory or file where it stands).
fn resolved(root: BorrowedFd<'_>, dest: &Path) -> PathBuf {
    let real = resolve::open(root, dest, libc::O_PATH).ok().and_then(|fd| {
        let at = std::fs::read_link(fd_path(fd.as_fd())).ok()?;
        let base = std::fs::read_link(fd_path(root)).ok()?;
        at.strip_prefix(&base)
            .ok()
            .map(|rel| Path::new("/").join(rel))
    });
    real.unwrap_or_else(|| dest.to_path_buf())
}

fn mount_one(
    ctx: &Context<'_>,
    root: BorrowedFd<'_>,
    i: usize,
    m: &Mount,
    o: &MountOptions,
    bind: bool,
) -> Result<()> {
    let dest = m.destination();
    let w = what(m);
    let typ = m.typ().as_deref().unwrap_or(if bind { "bind" } else { "" });
    if bind {
        let src = bind_source(i, m, ctx.bundle)?;
        let bad_source = |e: &dyn std::fmt::Display| {
            Error::config(
                format!("mounts[{i}].source"),
                format!("`{}`: {e}", src.display()),
            )
        };
        let src_fd: OwnedFd = match src.strip_prefix(ctx.rootfs) {
            // A source inside the rootfs is looked up inside it: its symlinks (`/data -> /srv/data`) resolve as the
            // container sees them and none leads out to the host (runc would follow them on the host).
            Ok(rel) => resolve::open(root, rel, libc::O_PATH).map_err(|e| bad_source(&e))?,
            Err(_) => File::options()
                .read(true)
                .custom_flags(libc::O_PATH)
                .open(&src)
                .map_err(|e| bad_source(&e))?
                .into(),
        };
        check_proc_mount(i, dest, Some(src_fd.as_fd()), typ)?;
        check_proc_mount(i, &resolved(root, dest), Some(src_fd.as_fd()), typ)?;
        let is_dir = File::from(src_fd.try_clone().map_err(|e| Error::io("dup", &src, e))?)
            .metadata()
            .map_err(|e| Error::io("stat", &src, e))?
            .is_dir();
        let target = if is_dir {
            resolve::mkdir_all(root, dest, 0o755)?
        } else {
            resolve::touch(root, dest)?
        };
        let rec = if o.recursive { MS_REC } else { 0 };
        if let Some((_, tree)) = ctx.idmapped.iter().find(|(j, _)| *j == i) {
            holm_sys::mount_attr::move_mount(tree.as_fd(), target.as_fd(), &w)?;
        } else {
            mount(
                Some(&fd_path(src_fd.as_fd())),
                &fd_path(target.as_fd()),
                None,
                MS_BIND | rec,
                None,
                &w,
            )?;
        }
        let extra = o.flags & !(MS_BIND | MS_REC | MS_REMOUNT);
        if extra != 0 {
            let fd = resolve::open(root, dest, libc::O_PATH)?;
            let locked = locked_flags(fd.as_fd())?;
            mount(
                None,
                &fd_path(fd.as_fd()),
                None,
                MS_BIND | MS_REMOUNT | rec | extra | locked,
                None,
                &w,
            )?;
        }
    } else if typ == "cgroup" || typ == "cgroup2" {
        check_proc_mount(i, dest, None, typ)?;
        check_proc_mount(i, &resolved(root, dest), None, typ)?;
        mount_cgroup(ctx, root, dest, o, &w)?;
    } else {
        if typ.is_empty() {
            return Err(Error::config(
                format!("mounts[{i}].type"),
                "missing (expected proc, sysfs, tmpfs, bind, …)",
            ));
        }
        check_proc_mount(i, dest, None, typ)?;
        check_proc_mount(i, &resolved(root, dest), None, typ)?;
        // A tmpfs over an existing directory takes its mode and, with `tmpcopyup`, its contents.
        let covered = (typ == "tmpfs")
            .then(|| crate::tmpcopy::Covered::probe(root, dest, o.copyup))
            .transpose()?;
        let target = resolve::mkdir_all(root, dest, 0o755)?;
        if typ == "proc" || typ == "sysfs" {
            // procfs and sysfs must land on a real directory of the rootfs, never through a symlink.
            holm_sys::fs::openat2(
                root,
                &resolve::clean(dest),
                libc::O_PATH,
                0,
                rflags::NO_SYMLINKS | rflags::IN_ROOT,
            )
            .map_err(|_| {
                Error::Init(format!(
                    "mount {w}: destination `{}` must not be a symlink",
                    dest.display()
                ))
            })?;
        }
        let src = m.source().clone().unwrap_or_else(|| PathBuf::from(typ));
        let data = match &covered {
            Some(c) => c.data(o.data_string()),
            None => o.data_string(),
        };
        let before = crate::tmpcopy::Meta::of(target.as_fd(), dest)?;
        mount(
            Some(&src),
            &fd_path(target.as_fd()),
            Some(typ),
            o.flags & !MS_REMOUNT,
            Some(&data),
            &w,
        )?;
        if let Some(c) = covered {
            c.copy_up(root, dest, &before)?;
        }
    }
    for p in &o.propagation {
        let fd = resolve::open(root, dest, libc::O_PATH)?;
        mount(None, &fd_path(fd.as_fd()), None, *p, None, &w)?;
    }
    Ok(())
}

/// Flags of the mount holding `fd` that a remount must keep (the kernel refuses to clear them inside a user
/// namespace): nosuid, nodev, noexec, and atime flags.
fn locked_flags(fd: BorrowedFd<'_>) -> Result<libc::c_ulong> {
    let st = holm_sys::fs::mount_flags(fd)?;
    let mut f = 0;
    for (st_flag, ms) in [
        (libc::ST_NOSUID, MS_NOSUID),
        (libc::ST_NODEV, MS_NODEV),
        (libc::ST_NOEXEC, MS_NOEXEC),
        (libc::ST_NOATIME, MS_NOATIME),
        (libc::ST_NODIRATIME, MS_NODIRATIME),
        (libc::ST_RELATIME, MS_RELATIME),
    ] {
        if st & st_flag != 0 {
            f |= ms;
        }
    }
    Ok(f)
}

/// A `cgroup` mount: on a v2-only host one `cgroup2` mount; otherwise a tmpfs with one mount per hierarchy named
/// like the host's (`cpu`, `memory`, `systemd`, `unified`…). With a cgroup namespace each is a fresh cgroup mount
/// (the kernel shows the container's cgroup as its root); without one, the container's own cgroup directory is
/// bind-mounted so the host tree stays hidden.
fn mount_cgroup(
    ctx: &Context<'_>,
    root: BorrowedFd<'_>,
    dest: &Path,
    o: &MountOptions,
    w: &str,
) -> Result<()> {
    let cg = ctx
        .cgroup
        .ok_or_else(|| Error::Init(format!("mount {w}: the container has no cgroup")))?;
    let flags = o.flags & !MS_REMOUNT;
    let dirs: Vec<_> = cg.dirs().collect();
    let v2_only = dirs.iter().all(|(h, _)| h.is_v2());
    let mount_hier =
        |target: &Path, info: &holm_cgroups::HierarchyInfo, dir: &Path| -> Result<()> {
            let fd = resolve::mkdir_all(root, target, 0o755)?;
            if ctx.cgroupns {
                let (fstype, data) = if info.is_v2() {
                    ("cgroup2", String::new())
                } else if let Some(name) = info.name() {
                    let mut c = info.controllers().to_vec();
                    c.push(format!("name={name}"));
                    (
                        "cgroup",
                        if info.controllers().is_empty() {
                            format!("none,name={name}")
                        } else {
                            c.join(",")
                        },
                    )
                } else {
                    ("cgroup", info.controllers().join(","))
                };
                mount(
                    Some(Path::new(fstype)),
                    &fd_path(fd.as_fd()),
                    Some(fstype),
                    flags,
                    Some(&data),
                    w,
                )?;
            } else {
                mount(
                    Some(dir),
                    &fd_path(fd.as_fd()),
                    None,
                    MS_BIND | MS_REC,
                    None,
                    w,
                )?;
                let fd = resolve::open(root, target, libc::O_PATH)?;
                let locked = locked_flags(fd.as_fd())?;
                mount(
                    None,
                    &fd_path(fd.as_fd()),
                    None,
                    MS_BIND | MS_REMOUNT | flags | locked,
                    None,
                    w,
                )?;
            }
            Ok(())
        };
    if v2_only {
        let (info, dir) = dirs[0];
        return mount_hier(dest, info, dir);
    }
    let fd = resolve::mkdir_all(root, dest, 0o755)?;
    let tmp_flags = MS_NOSUID | MS_NODEV | MS_NOEXEC;
    mount(
        Some(Path::new("tmpfs")),
        &fd_path(fd.as_fd()),
        Some("tmpfs"),
        tmp_flags,
        Some("mode=755"),
        w,
    )?;
    for (info, dir) in &dirs {
        let name = info
            .mount_point()
            .file_name()
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("unified"));
        mount_hier(&dest.join(name), info, dir)?;
    }
    if flags & MS_RDONLY != 0 {
        let fd = resolve::open(root, dest, libc::O_PATH)?;
        mount(
            None,
            &fd_path(fd.as_fd()),
            None,
            MS_REMOUNT | MS_BIND | MS_RDONLY | tmp_flags,
            None,
            w,
        )?;
    }
    Ok(())
}

/// The devices every container gets (runtime-spec `config-linux.md#default-devices`): path, major, minor.
pub const DEFAULT_DEVICES: &[(&str, u64, u64)] = &[
    ("/dev/null", 1, 3),
    ("/dev/zero", 1, 5),
    ("/dev/full", 1, 7),
    ("/dev/random", 1, 8),
    ("/dev/urandom", 1, 9),
    ("/dev/tty", 5, 0),
];

fn create_devices(ctx: &Context<'_>, root: BorrowedFd<'_>) -> Result<()> {
    let mut list: Vec<DevEntry> = DEFAULT_DEVICES
        .iter()
        .map(|(p, ma, mi)| (PathBuf::from(p), libc::S_IFCHR, *ma, *mi, 0o666, None, None))
        .collect();
    for (i, d) in ctx
        .spec
        .linux()
        .as_ref()
        .and_then(|l| l.devices().as_ref())
        .into_iter()
        .flatten()
        .enumerate()
    {
        list.push(device_entry(i, d)?);
    }
    for (path, kind, major, minor, mode, uid, gid) in list {
        let (parent, name) = resolve::parent_and_name(root, &path, 0o755)?;
        match holm_sys::fs::unlinkat(parent.as_fd(), &name, 0) {
            Ok(()) => {}
            Err(e) if e.errno() == libc::ENOENT => {}
            Err(e) if e.errno() == libc::EISDIR => {
                return Err(Error::Init(format!(
                    "device `{}`: a directory is in the way",
                    path.display()
                )))
            }
            Err(e) => return Err(e.into()),
        }
        if ctx.userns {
            // mknod is not allowed in a user namespace: bind the host's node onto an empty file.
            bind_host_device(root, &path, kind, major, minor)?;
        } else {
            let old = holm_sys::fs::umask(0);
            let r = holm_sys::fs::mknodat(parent.as_fd(), &name, kind | mode, major, minor);
            holm_sys::fs::umask(old);
            match r {
                Ok(()) => {}
                // The device cgroup (joined before this step) may deny `m` for this device: as runc, bind the
                // host's node instead. Opening it stays subject to the same cgroup rules.
                Err(e) if e.errno() == libc::EPERM => {
                    bind_host_device(root, &path, kind, major, minor).map_err(|b| {
                        Error::Init(format!(
                            "device `{}`: mknod: {e}; bind of the host's node: {b}",
                            path.display()
                        ))
                    })?;
                    continue;
                }
                Err(e) => return Err(e.into()),
            }
            if uid.is_some() || gid.is_some() {
                let u = uid.unwrap_or(u32::MAX);
                let g = gid.unwrap_or(u32::MAX);
                holm_sys::fs::fchownat(parent.as_fd(), &name, u, g)?;
            }
        }
    }
    let dev = resolve::mkdir_all(root, Path::new("/dev"), 0o755)?;
    for (name, target) in [
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
        ("ptmx", "pts/ptmx"),
    ] {
        match holm_sys::fs::symlinkat(Path::new(target), dev.as_fd(), Path::new(name)) {
            Ok(()) => {}
            Err(e) if e.errno() == libc::EEXIST => {}
            Err(e) => return Err(e.into()),
        }
    }
    for d in ["pts", "shm"] {
        resolve::mkdir_all(root, &Path::new("/dev").join(d), 0o755)?;
    }
    Ok(())
}

/// Bind-mounts the host's node at `path` onto an empty file at `path` in the rootfs `root`, after checking that
/// the host's node is the device the config names (`kind` `S_IFCHR`/`S_IFBLK`/`S_IFIFO`, `major`:`minor`).
fn bind_host_device(
    root: BorrowedFd<'_>,
    path: &Path,
    kind: u32,
    major: u64,
    minor: u64,
) -> Result<()> {
    let host = File::options()
        .read(true)
        .custom_flags(libc::O_PATH)
        .open(path)
        .map_err(|e| Error::io("open host device", path, e))?;
    let meta = host
        .metadata()
        .map_err(|e| Error::io("stat host device", path, e))?;
    let same = meta.mode() & libc::S_IFMT == kind
        && (kind == libc::S_IFIFO
            || (u64::from(libc::major(meta.rdev())) == major
                && u64::from(libc::minor(meta.rdev())) == minor));
    if !same {
        return Err(Error::Init(format!(
            "device `{}`: the host's node is not {major}:{minor} of the configured type",
            path.display()
        )));
    }
    let target = resolve::touch(root, path)?;
    mount(
        Some(&fd_path(host.as_fd())),
        &fd_path(target.as_fd()),
        None,
        MS_BIND,
        None,
        &format!("device {}", path.display()),
    )?;
    Ok(())
}

/// (path, S_IF* kind, major, minor, permission bits, uid, gid) of a device node to create.
type DevEntry = (PathBuf, u32, u64, u64, u32, Option<u32>, Option<u32>);

fn device_entry(i: usize, d: &LinuxDevice) -> Result<DevEntry> {
    let kind = match d.typ() {
        LinuxDeviceType::C | LinuxDeviceType::U => libc::S_IFCHR,
        LinuxDeviceType::B => libc::S_IFBLK,
        LinuxDeviceType::P => libc::S_IFIFO,
        LinuxDeviceType::A => {
            return Err(Error::config(
                format!("linux.devices[{i}].type"),
                "expected c, b, u or p",
            ))
        }
    };
    if kind != libc::S_IFIFO && (d.major() < 0 || d.minor() < 0) {
        return Err(Error::config(
            format!("linux.devices[{i}]"),
            "major and minor must be set for c, b and u devices",
        ));
    }
    Ok((
        d.path().clone(),
        kind,
        d.major() as u64,
        d.minor() as u64,
        d.file_mode().unwrap_or(0o666) & 0o7777,
        d.uid(),
        d.gid(),
    ))
}

/// Step 5: makes the prepared rootfs the process's `/`. With `no_pivot`, moves it over `/` and `chroot`s
/// (for ramdisk roots where `pivot_root` is impossible).
pub fn pivot(rootfs: &Path, no_pivot: bool) -> Result<()> {
    let newroot = File::options()
        .read(true)
        .custom_flags(libc::O_DIRECTORY)
        .open(rootfs)
        .map_err(|e| Error::io("open rootfs", rootfs, e))?;
    holm_sys::fs::fchdir(newroot.as_fd())?;
    if no_pivot {
        crate::nopivot::hide_host_proc_and_sys(rootfs)?;
        mount(
            Some(rootfs),
            Path::new("/"),
            None,
            MS_MOVE,
            None,
            "rootfs onto /",
        )?;
        holm_sys::fs::chroot(Path::new("."))?;
    } else {
        let oldroot = File::options()
            .read(true)
            .custom_flags(libc::O_DIRECTORY)
            .open("/")
            .map_err(|e| Error::io("open", "/", e))?;
        pivot_root(Path::new("."), Path::new("."))?;
        // The old root is now stacked on "."; make it a slave so the detach does not propagate to the host.
        holm_sys::fs::fchdir(oldroot.as_fd())?;
        mount(
            None,
            Path::new("."),
            None,
            MS_SLAVE | MS_REC,
            None,
            "old root",
        )?;
        umount2(Path::new("."), MNT_DETACH)?;
    }
    std::env::set_current_dir("/").map_err(|e| Error::io("chdir", "/", e))
}

/// Step 6, after [`pivot`]: `linux.maskedPaths` (directories get a read-only tmpfs, files `/dev/null`, which must be
/// the real null device), `linux.readonlyPaths` (bind-mounted read-only onto themselves), then `root.readonly`
/// and `linux.rootfsPropagation` for the new `/`.
/// Paths that do not exist are skipped.
pub fn finish(spec: &Spec) -> Result<()> {
    let linux = spec.linux().as_ref();
    let root: OwnedFd = File::options()
        .read(true)
        .custom_flags(libc::O_DIRECTORY)
        .open("/")
        .map_err(|e| Error::io("open", "/", e))?
        .into();
    let masked = linux.and_then(|l| l.masked_paths().as_ref());
    if masked.is_some_and(|m| !m.is_empty()) {
        let null = File::options()
            .read(true)
            .custom_flags(libc::O_PATH | libc::O_NOFOLLOW)
            .open("/dev/null")
            .map_err(|e| Error::io("open", "/dev/null", e))?;
        let md = null
            .metadata()
            .map_err(|e| Error::io("stat", "/dev/null", e))?;
        if !md.file_type().is_char_device() || md.rdev() != libc::makedev(1, 3) {
            return Err(Error::Init(
                "masked paths: /dev/null in the container is not the null device (1:3)".into(),
            ));
        }
        for p in masked.into_iter().flatten() {
            let fd = match resolve::open(root.as_fd(), Path::new(p), libc::O_PATH) {
                Ok(fd) => fd,
                Err(Error::Sys(e)) if e.errno() == libc::ENOENT || e.errno() == libc::ENOTDIR => {
                    continue
                }
                Err(e) => return Err(e),
            };
            let is_dir = File::from(fd.try_clone().map_err(|e| Error::io("dup", p, e))?)
                .metadata()
                .map_err(|e| Error::io("stat", p, e))?
                .is_dir();
            let w = format!("masked path {p}");
            if is_dir {
                mount(
                    Some(Path::new("tmpfs")),
                    &fd_path(fd.as_fd()),
                    Some("tmpfs"),
                    MS_RDONLY,
                    None,
                    &w,
                )?;
            } else {
                mount(
                    Some(&fd_path(null.as_fd())),
                    &fd_path(fd.as_fd()),
                    None,
                    MS_BIND,
                    None,
                    &w,
                )?;
            }
        }
    }
    for p in linux
        .and_then(|l| l.readonly_paths().as_ref())
        .into_iter()
        .flatten()
    {
        let fd = match resolve::open(root.as_fd(), Path::new(p), libc::O_PATH) {
            Ok(fd) => fd,
            Err(Error::Sys(e)) if e.errno() == libc::ENOENT || e.errno() == libc::ENOTDIR => {
                continue
            }
            Err(e) => return Err(e),
        };
        let w = format!("readonly path {p}");
        mount(
            Some(&fd_path(fd.as_fd())),
            &fd_path(fd.as_fd()),
            None,
            MS_BIND | MS_REC,
            None,
            &w,
        )?;
        let fd = resolve::open(root.as_fd(), Path::new(p), libc::O_PATH)?;
        let locked = locked_flags(fd.as_fd())?;
        mount(
            None,
            &fd_path(fd.as_fd()),
            None,
            MS_BIND | MS_REMOUNT | MS_RDONLY | MS_REC | locked,
            None,
            &w,
        )?;
    }
    if spec
        .root()
        .as_ref()
        .and_then(|r| r.readonly())
        .unwrap_or(false)
    {
        let locked = locked_flags(root.as_fd())?;
        mount(
            None,
            Path::new("/"),
            None,
            MS_BIND | MS_REMOUNT | MS_RDONLY | locked,
            None,
            "read-only root",
        )?;
    }
    // Last: an unbindable `/` (runbindable) would refuse the bind mounts above.
    if let Some(prop) = linux
        .and_then(|l| l.rootfs_propagation().as_deref())
        .and_then(mountopts::propagation)
    {
        mount(None, Path::new("/"), None, prop, None, "rootfs propagation")?;
    }
    Ok(())
}

/// The host path of `mounts[i].source` for a bind mount: absolute as given, or relative to the bundle directory
/// (runtime-spec config.md § Mounts). Errors: no source, naming `mounts[i].source`.
pub(crate) fn bind_source(
    i: usize,
    m: &Mount,
    bundle: &std::path::Path,
) -> Result<std::path::PathBuf> {
    let src = m.source().as_ref().ok_or_else(|| {
        Error::config(format!("mounts[{i}].source"), "a bind mount needs a source")
    })?;
    Ok(if src.is_absolute() {
        src.clone()
    } else {
        bundle.join(src)
    })
}
