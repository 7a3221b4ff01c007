//! Launches qemu jailed the way Firecracker's `jailer` launches Firecracker: the VMM sees an empty root holding only
//! what it needs, runs in its own namespaces and cgroup, with no capability on the host and no inherited fd but the
//! ones its command line names.
//!
//! [`spawn`] is one linear sequence (every ordering constraint is commented where it happens):
//!
//! 1. the caller (single-threaded: the VM shim) forks an *intermediate* process, which joins the container's
//!    network namespace, unshares a pid namespace and forks the *VMM process* with `CLONE_PARENT`
//!    ([`holm_sys::process::fork_sibling`]), so the caller is qemu's parent and can wait for it; the intermediate
//!    reports the VMM's host pid and exits;
//! 2. the caller moves the VMM process into its cgroup before it does anything else;
//! 3. the VMM process (pid 1 of its pid namespace, so its uid 0 cannot see or signal host processes) unshares
//!    mount, IPC, UTS and cgroup namespaces, mounts a tmpfs on the jail directory, binds read-only only what
//!    qemu needs into it (`/usr` and the host's `/lib*`/`/bin` symlinks or directories, `/etc/ld.so.cache`, the
//!    kernel, the initramfs, `/dev/null`, `/dev/urandom`, `/dev/kvm` only under KVM) plus the shared directories
//!    (read-only when the mount is), and a procfs of its own pid namespace (9p needs `/proc/self/fd`), `pivot_root`s into it, detaches the old root and makes `/` read-only;
//! 4. it then unshares a **user namespace**; the caller writes its maps: the identity map `0 0 4294967295`.
//!    *Why a user namespace with the identity map, not another uid:* 9p's `security_model=passthrough` must
//!    create files owned by the guest's uid (root-owned files in the rootfs, as a process container would), so
//!    qemu needs `CAP_CHOWN`/`CAP_DAC_OVERRIDE`/`CAP_FOWNER` over the rootfs's files. In a user namespace those
//!    capabilities hold only inside it: qemu can chown the files of the mounts it sees, but it has no capability
//!    in the host's user namespace (no module loading, no raw devices, no mknod of devices, no changes to the
//!    mount namespace, which the host's namespace owns because it was created *before* the user namespace).
//!    Its uid 0 would still match host root processes for `kill(2)`; the pid namespace keeps them out of reach.
//!    A distinct unprivileged uid would need `security_model=mapped-xattr`, which stores guest owners in xattrs
//!    and leaves the rootfs's real owners wrong for anything else that uses it;
//! 5. it limits its capability bounding set to what 9p passthrough needs, sets `no_new_privs` and
//!    `PR_SET_PDEATHSIG` (SIGKILL: a VM whose shim died has nobody serving it), places the command's fds at their
//!    numbers, marks every other fd close-on-exec and execs qemu, whose own `-sandbox` seccomp filter follows;
//! 6. (before the exec) it turns transparent huge pages off for qemu (`PR_SET_THP_DISABLE`): host memory is then
//!    what the guest and TCG touched, not that rounded up to 2 MiB pages.
//!
//! Errors in the VMM process before exec travel back over the sync socket and become this module's [`Error`].

use crate::qemu::QemuCommand;
use holm_sys::process::{self, Fork};
use std::fs::File;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};

/// Capabilities qemu keeps (in its user namespace) for 9p passthrough: chown/chmod of any file of the share,
/// reads and writes regardless of modes, set-id bits kept on write, and `mknod` of fifos/sockets.
pub const KEPT_CAPS: &[caps::Capability] = &[
    caps::Capability::CAP_CHOWN,
    caps::Capability::CAP_DAC_OVERRIDE,
    caps::Capability::CAP_DAC_READ_SEARCH,
    caps::Capability::CAP_FOWNER,
    caps::Capability::CAP_FSETID,
    caps::Capability::CAP_MKNOD,
];

/// The uid/gid map of the VMM's user namespace: the identity over the whole 32-bit range.
pub const ID_MAP: &str = "0 0 4294967295\n";

/// Errors launching the jailed VMM.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A system call in the launching process failed.
    #[error("jail: {0}")]
    Sys(#[from] holm_sys::Error),
    /// A step of the jail setup failed in the VMM process before qemu ran; the message names the step.
    #[error("jail: {0}")]
    Setup(String),
    /// Writing the VMM process's cgroup or user-namespace maps failed.
    #[error("jail: {what}: {source}")]
    Host {
        /// The step (`uid_map of pid 1234`, `cgroup`).
        what: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The cgroup could not take the VMM process.
    #[error("jail: cgroup: {0}")]
    Cgroup(#[from] holm_cgroups::Error),
}

/// A host path bound into the jail.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Bind {
    /// The file or directory on the host.
    pub host: PathBuf,
    /// Where qemu sees it (absolute, inside the jail).
    pub jail: PathBuf,
    /// Bind read-only.
    pub readonly: bool,
}

/// What [`spawn`] needs.
pub struct JailSpec<'a> {
    /// The command (argv paths and share paths are jail paths).
    pub qemu: QemuCommand,
    /// An empty directory on the host that becomes the jail's root (a tmpfs is mounted on it inside the VMM's
    /// mount namespace only; the host sees it stay empty).
    pub root: PathBuf,
    /// The kernel, initramfs and shared directories, at the jail paths the command names.
    pub binds: Vec<Bind>,
    /// Bind `/dev/kvm` (the VM runs under KVM).
    pub kvm: bool,
    /// The network namespace qemu runs in (the container's).
    pub netns: NetNs<'a>,
    /// The cgroup the VMM runs in (created and limited by the caller).
    pub cgroup: Option<&'a holm_cgroups::Cgroup>,
    /// qemu's stdout and stderr (its error messages); `/dev/null` when absent.
    pub stderr: Option<BorrowedFd<'a>>,
}

/// Which network namespace the VMM runs in.
#[derive(Debug, Clone, Copy)]
pub enum NetNs<'a> {
    /// The caller's (the container asked for no network namespace of its own).
    Inherit,
    /// An existing one: an open `/proc/PID/ns/net` or a bind mount of one (`linux.namespaces[].path`).
    Join(BorrowedFd<'a>),
    /// A new, empty one (a network namespace without a path).
    New,
}

/// The running VMM.
#[derive(Debug)]
pub struct Vmm {
    /// qemu's pid on the host (the container's `state.pid`); the caller is its parent.
    pub pid: i32,
}

/// Starts qemu in its jail and returns once it has exec'd. The caller must be single-threaded (it forks) and
/// root. Errors: [`Error`] naming the failed step; nothing stays behind (the VMM process is killed and reaped,
/// the jail root's tmpfs lived only in its mount namespace).
pub fn spawn(spec: JailSpec<'_>) -> Result<Vmm, Error> {
    let (ours, theirs) = holm_sys::socket::seqpacket_pair()?;
    // Everything the VMM process needs is prepared here, before the fork: it then only makes system calls.
    let exec = process::Exec::new(&spec.qemu.binary, &spec.qemu.argv, &[])?;
    let devnull = File::options().read(true).write(true).open("/dev/null");
    let devnull = devnull.map_err(|e| Error::Host {
        what: "open /dev/null".into(),
        source: e,
    })?;
    let pid = match process::fork()? {
        Fork::Child => {
            drop(ours);
            intermediate(&spec, &theirs, &exec, devnull.as_fd())
        }
        Fork::Parent(pid) => pid,
    };
    drop(theirs);
    // Step 1: the intermediate reports the VMM's pid (or its error) and exits.
    let first = recv(&ours);
    let _ = process::waitpid(pid, 0);
    let vmm = match first? {
        Msg::Pid(p) => p,
        Msg::Err(e) => return Err(Error::Setup(e)),
        other => return Err(Error::Setup(format!("unexpected message {other:?}"))),
    };
    let kill = |e: Error| {
        let _ = process::kill(vmm, libc::SIGKILL);
        let _ = process::waitpid(vmm, 0);
        e
    };
    // Step 2: the cgroup, before the VMM allocates anything (its mount namespace and tmpfs are charged to it).
    if let Some(cg) = spec.cgroup {
        cg.add_pid(vmm).map_err(|e| kill(e.into()))?;
    }
    send(&ours, "go").map_err(|e| kill(e.into()))?;
    // Step 4: the VMM process has unshared its user namespace; write its maps (the process itself could map only
    // its own uid).
    match recv(&ours) {
        Ok(Msg::Userns) => {}
        Ok(Msg::Err(e)) => return Err(kill(Error::Setup(e))),
        Ok(other) => return Err(kill(Error::Setup(format!("unexpected {other:?}")))),
        Err(e) => return Err(kill(e)),
    }
    for f in ["uid_map", "gid_map"] {
        let path = format!("/proc/{vmm}/{f}");
        std::fs::write(&path, ID_MAP).map_err(|e| {
            kill(Error::Host {
                what: format!("write {path}"),
                source: e,
            })
        })?;
    }
    send(&ours, "go").map_err(|e| kill(e.into()))?;
    // Step 5: EOF (the socket is close-on-exec) means qemu runs; a message is an error.
    match recv(&ours) {
        Ok(Msg::Eof) => Ok(Vmm { pid: vmm }),
        Ok(Msg::Err(e)) => Err(kill(Error::Setup(e))),
        Ok(other) => Err(kill(Error::Setup(format!("unexpected {other:?}")))),
        Err(e) => Err(kill(e)),
    }
}

#[derive(Debug)]
enum Msg {
    Pid(i32),
    Userns,
    Go,
    Err(String),
    Eof,
}

fn send(sock: &OwnedFd, msg: &str) -> holm_sys::Result<()> {
    holm_sys::socket::send_with_fds(sock.as_fd(), msg.as_bytes(), &[])
}

fn recv(sock: &OwnedFd) -> Result<Msg, Error> {
    let mut buf = [0u8; 4096];
    let (n, _) = holm_sys::socket::recv_with_fds(sock.as_fd(), &mut buf)?;
    let text = String::from_utf8_lossy(&buf[..n]);
    let s: &str = &text;
    Ok(match s.split_once(' ').unwrap_or((s, "")) {
        ("", _) if n == 0 => Msg::Eof,
        ("pid", p) => Msg::Pid(
            p.parse()
                .map_err(|_| Error::Setup(format!("bad pid {p:?}")))?,
        ),
        ("userns", _) => Msg::Userns,
        ("go", _) => Msg::Go,
        ("err", e) => Msg::Err(e.to_string()),
        _ => Msg::Err(format!("unexpected message {s:?}")),
    })
}

/// The intermediate process: never returns.
fn intermediate(
    spec: &JailSpec<'_>,
    sock: &OwnedFd,
    exec: &process::Exec,
    devnull: BorrowedFd<'_>,
) -> ! {
    let res = (|| -> Result<i32, String> {
        // The network namespace first: setns needs CAP_SYS_ADMIN in the host's user namespace, which the VMM
        // process will not have.
        match spec.netns {
            NetNs::Inherit => {}
            NetNs::Join(ns) => holm_sys::ns::setns(
                ns,
                holm_sys::ns::CLONE_NEWNET,
                "container network namespace",
            )
            .map_err(|e| e.to_string())?,
            NetNs::New => {
                holm_sys::ns::unshare(holm_sys::ns::CLONE_NEWNET).map_err(|e| e.to_string())?
            }
        }
        holm_sys::ns::unshare(holm_sys::ns::CLONE_NEWPID).map_err(|e| e.to_string())?;
        match process::fork_sibling().map_err(|e| e.to_string())? {
            Fork::Child => vmm_process(spec, sock, exec, devnull),
            Fork::Parent(pid) => Ok(pid),
        }
    })();
    let msg = match res {
        Ok(pid) => format!("pid {pid}"),
        Err(e) => format!("err {e}"),
    };
    let _ = send(sock, &msg);
    process::exit_now(0)
}

/// The VMM process: sets up the jail and execs qemu; on failure reports and exits.
fn vmm_process(
    spec: &JailSpec<'_>,
    sock: &OwnedFd,
    exec: &process::Exec,
    devnull: BorrowedFd<'_>,
) -> ! {
    let err = match jail_and_exec(spec, sock, exec, devnull) {
        Ok(e) | Err(e) => e,
    };
    let _ = send(sock, &format!("err {err}"));
    process::exit_now(1)
}

fn wait_go(sock: &OwnedFd) -> Result<(), String> {
    match recv(sock) {
        Ok(Msg::Go) => Ok(()),
        Ok(m) => Err(format!("waiting for the launcher: got {m:?}")),
        Err(e) => Err(format!("waiting for the launcher: {e}")),
    }
}

/// Returns only on failure: `Err` for a setup step, `Ok` for exec's own error.
fn jail_and_exec(
    spec: &JailSpec<'_>,
    sock: &OwnedFd,
    exec: &process::Exec,
    devnull: BorrowedFd<'_>,
) -> Result<String, String> {
    use holm_sys::mount::*;
    let s = |e: holm_sys::Error| e.to_string();
    // Step 2 is the parent's: wait until we are in the cgroup before unsharing the cgroup namespace.
    wait_go(sock)?;
    holm_sys::ns::unshare(
        holm_sys::ns::CLONE_NEWNS
            | holm_sys::ns::CLONE_NEWIPC
            | holm_sys::ns::CLONE_NEWUTS
            | holm_sys::ns::CLONE_NEWCGROUP,
    )
    .map_err(s)?;
    // Nothing mounted here may propagate back to the host.
    mount(
        None,
        Path::new("/"),
        None,
        (MS_SLAVE | MS_REC) as _,
        None,
        "/ (MS_SLAVE)",
    )
    .map_err(s)?;
    let root = &spec.root;
    mount(
        Some(Path::new("tmpfs")),
        root,
        Some("tmpfs"),
        (MS_NOSUID | MS_NODEV) as _,
        Some("mode=0755,size=1m,nr_inodes=256"),
        "jail root tmpfs",
    )
    .map_err(s)?;
    // The host's /lib, /lib64, /bin, /sbin are symlinks into /usr on merged-/usr systems (Debian 12): copy the
    // link; otherwise bind the directory.
    let mut binds: Vec<Bind> = vec![Bind {
        host: "/usr".into(),
        jail: "/usr".into(),
        readonly: true,
    }];
    for d in ["/lib", "/lib64", "/lib32", "/libx32", "/bin", "/sbin"] {
        let p = Path::new(d);
        match std::fs::symlink_metadata(p) {
            Ok(m) if m.file_type().is_symlink() => {
                let target = std::fs::read_link(p).map_err(|e| format!("readlink {d}: {e}"))?;
                let at = join(root, p);
                std::os::unix::fs::symlink(&target, &at)
                    .map_err(|e| format!("symlink {}: {e}", at.display()))?;
            }
            Ok(m) if m.is_dir() => binds.push(Bind {
                host: p.into(),
                jail: p.into(),
                readonly: true,
            }),
            _ => {}
        }
    }
    let mut devices = vec!["/dev/null", "/dev/urandom"];
    if spec.kvm {
        devices.push("/dev/kvm");
    }
    for d in devices {
        binds.push(Bind {
            host: d.into(),
            jail: d.into(),
            readonly: false,
        });
    }
    if Path::new("/etc/ld.so.cache").exists() {
        binds.push(Bind {
            host: "/etc/ld.so.cache".into(),
            jail: "/etc/ld.so.cache".into(),
            readonly: true,
        });
    }
    binds.extend(spec.binds.iter().cloned());
    for b in &binds {
        bind_into(root, b)?;
    }
    // qemu's 9p passthrough changes modes through /proc/self/fd/N (hw/9pfs/9p-local.c, fchmodat_nofollow): a
    // procfs of the VMM's own pid namespace, where it is the only process.
    let proc_dir = join(root, Path::new("/proc"));
    std::fs::create_dir(&proc_dir).map_err(|e| format!("mkdir {}: {e}", proc_dir.display()))?;
    mount(
        Some(Path::new("proc")),
        &proc_dir,
        Some("proc"),
        (MS_NOSUID | MS_NODEV | MS_NOEXEC) as _,
        None,
        "jail /proc",
    )
    .map_err(s)?;
    // pivot_root(".", ".") stacks the old root under the new one; detaching it leaves only the jail.
    let rootdir = File::open(root).map_err(|e| format!("open {}: {e}", root.display()))?;
    holm_sys::fs::fchdir(rootdir.as_fd()).map_err(s)?;
    pivot_root(Path::new("."), Path::new(".")).map_err(s)?;
    umount2(Path::new("."), MNT_DETACH).map_err(s)?;
    std::env::set_current_dir("/").map_err(|e| format!("chdir /: {e}"))?;
    mount(
        None,
        Path::new("/"),
        None,
        (MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV) as _,
        None,
        "/ read-only",
    )
    .map_err(s)?;
    // Step 4: the user namespace last, so the mount namespace above belongs to the host's user namespace and
    // qemu cannot change it.
    holm_sys::ns::unshare(holm_sys::ns::CLONE_NEWUSER).map_err(s)?;
    send(sock, "userns").map_err(s)?;
    wait_go(sock)?;
    // Step 5. If the shim dies, the VM dies with it (nobody would serve its agent). Set after the credential
    // changes above, which may clear it.
    process::set_parent_death_signal(libc::SIGKILL).map_err(s)?;
    for c in caps::all() {
        if !KEPT_CAPS.contains(&c) {
            caps::drop(None, caps::CapSet::Bounding, c)
                .map_err(|e| format!("drop {c} from the bounding set: {e}"))?;
        }
    }
    caps::clear(None, caps::CapSet::Ambient)
        .map_err(|e| format!("clear ambient capabilities: {e}"))?;
    process::set_no_new_privs().map_err(s)?;
    // Step 6. qemu marks guest RAM and TCG's code buffer MADV_HUGEPAGE; with transparent huge pages on the host
    // every guest page or translation touched then commits a whole 2 MiB page. Without them an idle VM with a
    // 128 MiB guest held 33 MiB of guest RAM instead of 52 MiB, at the same qemu CPU time (BENCHMARKS.md, VM
    // isolation).
    process::set_thp_disable().map_err(s)?;
    place_fds(&spec.qemu.fds, devnull, spec.stderr.unwrap_or(devnull)).map_err(s)?;
    // The sync socket is close-on-exec (like everything above the command's fds): exec closes it and the
    // launcher reads EOF.
    holm_sys::fs::set_cloexec(sock.as_fd(), true).map_err(s)?;
    Ok(exec.run().to_string())
}

fn join(root: &Path, p: &Path) -> PathBuf {
    root.join(p.strip_prefix("/").unwrap_or(p))
}

/// Creates the mount point (a directory or an empty file, like the source) under `root` and binds `b` on it.
fn bind_into(root: &Path, b: &Bind) -> Result<(), String> {
    use holm_sys::mount::*;
    if !b.jail.is_absolute() || b.jail.components().any(|c| c.as_os_str() == "..") {
        return Err(format!(
            "jail path {}: expected an absolute path without ..",
            b.jail.display()
        ));
    }
    let meta = std::fs::metadata(&b.host).map_err(|e| format!("bind {}: {e}", b.host.display()))?;
    let at = join(root, &b.jail);
    if let Some(parent) = at.parent() {
        std::fs::create_dir_all(parent).map_err(|e| format!("mkdir {}: {e}", parent.display()))?;
    }
    if meta.is_dir() {
        std::fs::create_dir_all(&at)
    } else {
        File::create(&at).map(drop)
    }
    .map_err(|e| format!("create {}: {e}", at.display()))?;
    let what = format!("bind {} on {}", b.host.display(), b.jail.display());
    mount(
        Some(&b.host),
        &at,
        None,
        (MS_BIND | MS_REC) as _,
        None,
        &what,
    )
    .map_err(|e| e.to_string())?;
    let mut flags = MS_REMOUNT | MS_BIND | MS_NOSUID;
    if b.readonly {
        flags |= MS_RDONLY;
    }
    // Devices need their nodes to work; everything else is nodev.
    if !b.host.starts_with("/dev") {
        flags |= MS_NODEV;
    }
    mount(None, &at, None, flags as _, None, &what).map_err(|e| e.to_string())
}

/// stdin from /dev/null, stdout/stderr to `stderr`; the command's fds at their numbers; everything else
/// close-on-exec. Sources are first moved above every target so no `dup3` overwrites a source not yet placed.
fn place_fds(
    fds: &[(RawFd, OwnedFd)],
    devnull: BorrowedFd<'_>,
    stderr: BorrowedFd<'_>,
) -> holm_sys::Result<()> {
    let top = 3 + fds.len() as RawFd;
    let high: Vec<(RawFd, OwnedFd)> = fds
        .iter()
        .map(|(n, fd)| dup_above(fd.as_fd(), top).map(|h| (*n, h)))
        .collect::<holm_sys::Result<_>>()?;
    let (devnull, stderr) = (dup_above(devnull, top)?, dup_above(stderr, top)?);
    holm_sys::fs::dup_onto(devnull.as_fd(), 0)?;
    holm_sys::fs::dup_onto(stderr.as_fd(), 1)?;
    holm_sys::fs::dup_onto(stderr.as_fd(), 2)?;
    for (n, fd) in &high {
        holm_sys::fs::dup_onto(fd.as_fd(), *n)?;
    }
    holm_sys::fs::cloexec_from(top)
}

/// A close-on-exec duplicate of `fd` numbered at least `min`.
fn dup_above(fd: BorrowedFd<'_>, min: RawFd) -> holm_sys::Result<OwnedFd> {
    let mut held = Vec::new();
    loop {
        let d = holm_sys::fs::dup_raw(fd.as_raw_fd())?;
        if d.as_raw_fd() >= min {
            return Ok(d);
        }
        held.push(d);
    }
}
