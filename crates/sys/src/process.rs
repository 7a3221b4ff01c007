//! Processes: `fork(2)`, `waitpid(2)`, `execve(2)`, pidfds, credentials, `prctl(2)`, `prlimit(2)`.

use crate::{check, cpath, cstr, Error, Result};
use std::ffi::CString;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::path::Path;

/// Which side of a [`fork`] the caller is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fork {
    /// In the new child process.
    Child,
    /// In the parent; the child's pid (in the parent's pid namespace).
    Parent(i32),
}

/// Number of threads of the calling process, from `/proc/self/status` (`Threads:`).
pub fn thread_count() -> Result<usize> {
    let status = std::fs::read_to_string("/proc/self/status").map_err(|e| Error {
        syscall: "read",
        target: "/proc/self/status".into(),
        source: e,
    })?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| Error::from_errno("read", "/proc/self/status: Threads", libc::EINVAL))
}

/// `EDEADLK` from `syscall` (naming the thread count) unless the process has exactly one thread.
fn check_single_threaded(syscall: &'static str) -> Result<()> {
    match thread_count()? {
        1 => Ok(()),
        threads => Err(Error::from_errno(
            syscall,
            format!("{threads} threads running"),
            libc::EDEADLK,
        )),
    }
}

/// `fork()`. Refuses (EDEADLK) when the process has more than one thread: a child of a multi-threaded process may
/// inherit locks held by threads that do not exist in it, and holm's children allocate and do real work.
pub fn fork() -> Result<Fork> {
    check_single_threaded("fork")?;
    // SAFETY: the process is single-threaded (checked just above), so the child gets a consistent copy of every
    // lock and allocator state and may use the full Rust runtime.
    let pid = unsafe { libc::fork() };
    match pid {
        -1 => Err(Error::last("fork", "")),
        0 => Ok(Fork::Child),
        pid => Ok(Fork::Parent(pid)),
    }
}

/// How a child ended (or changed state), from `waitpid(2)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitStatus {
    /// It called `exit(code)`.
    Exited(i32),
    /// A signal killed it.
    Signaled(i32),
    /// Still running (only with `WNOHANG`).
    StillAlive,
}

impl WaitStatus {
    /// The shell convention: the exit code, or 128 + the signal number.
    pub fn exit_code(self) -> i32 {
        match self {
            WaitStatus::Exited(c) => c,
            WaitStatus::Signaled(s) => 128 + s,
            WaitStatus::StillAlive => 0,
        }
    }
}

/// How a process ended, for an error message: `exited with status 1`, `was killed by signal 9 (SIGKILL)`,
/// `is still running`.
impl std::fmt::Display for WaitStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {
            WaitStatus::Exited(c) => write!(f, "exited with status {c}"),
            WaitStatus::Signaled(s) => match crate::signal::signal_name(s) {
                Some(n) => write!(f, "was killed by signal {s} (SIG{n})"),
                None => write!(f, "was killed by signal {s}"),
            },
            WaitStatus::StillAlive => write!(f, "is still running"),
        }
    }
}

/// `waitpid(pid, flags)` for a child that exits or is killed; `EINTR` is retried. `pid` -1 waits for any child;
/// the returned pid is the one that changed state.
pub fn waitpid(pid: i32, flags: i32) -> Result<(i32, WaitStatus)> {
    loop {
        let mut status = 0;
        // SAFETY: `status` is a valid place for the kernel to write to.
        let ret = unsafe { libc::waitpid(pid, &mut status, flags) };
        if ret == -1 {
            let e = Error::last("waitpid", format!("pid {pid}"));
            if e.errno() == libc::EINTR {
                continue;
            }
            return Err(e);
        }
        if ret == 0 {
            return Ok((0, WaitStatus::StillAlive));
        }
        if libc::WIFEXITED(status) {
            return Ok((ret, WaitStatus::Exited(libc::WEXITSTATUS(status))));
        }
        if libc::WIFSIGNALED(status) {
            return Ok((ret, WaitStatus::Signaled(libc::WTERMSIG(status))));
        }
    }
}

/// `execve(path, argv, envp)`: replaces the process image. Only returns on failure.
pub fn execve(path: &Path, argv: &[String], envp: &[String]) -> Error {
    match Exec::new(path, argv, envp) {
        Ok(x) => x.run(),
        Err(e) => e,
    }
}

/// An `execve(2)` prepared in advance: the path, argv and envp as C strings with their NULL-terminated pointer
/// arrays. [`Exec::run`] then makes no allocation and no system call but `execve` itself, so a seccomp filter
/// loaded just before it need allow nothing else.
pub struct Exec {
    path: CString,
    display: String,
    // The pointer arrays point into these strings' heap buffers, which do not move when the struct does.
    _argv: Vec<CString>,
    _envp: Vec<CString>,
    argv_ptrs: Vec<*const libc::c_char>,
    envp_ptrs: Vec<*const libc::c_char>,
}

impl std::fmt::Debug for Exec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Exec").field("path", &self.display).finish()
    }
}

impl Exec {
    /// Prepares `execve(path, argv, envp)`. Errors: `EINVAL` naming the string that contains a NUL byte.
    pub fn new(path: &Path, argv: &[String], envp: &[String]) -> Result<Exec> {
        let conv = |v: &[String]| {
            v.iter()
                .map(|s| cstr("execve", s))
                .collect::<Result<Vec<_>>>()
        };
        let (a, e) = (conv(argv)?, conv(envp)?);
        let ptrs = |v: &[CString]| {
            v.iter()
                .map(|s| s.as_ptr())
                .chain(std::iter::once(std::ptr::null()))
                .collect()
        };
        Ok(Exec {
            path: cpath("execve", path)?,
            display: path.display().to_string(),
            argv_ptrs: ptrs(&a),
            envp_ptrs: ptrs(&e),
            _argv: a,
            _envp: e,
        })
    }

    /// Replaces the process image. Only returns on failure (building the error allocates).
    pub fn run(&self) -> Error {
        // SAFETY: `path` and every non-NULL element of the pointer arrays are NUL-terminated strings owned by
        // `self` (heap buffers of `_argv`/`_envp`, alive and unmoved while `self` is borrowed); both arrays end
        // with NULL as execve requires.
        unsafe {
            libc::execve(
                self.path.as_ptr(),
                self.argv_ptrs.as_ptr(),
                self.envp_ptrs.as_ptr(),
            )
        };
        Error::last("execve", self.display.clone())
    }
}

/// `_exit(code)`: ends the process at once, without running destructors or flushing stdio buffers shared with the
/// parent. Used by forked children.
pub fn exit_now(code: i32) -> ! {
    // SAFETY: _exit never returns and has no preconditions.
    unsafe { libc::_exit(code) }
}

/// `kill(pid, sig)`.
pub fn kill(pid: i32, sig: i32) -> Result<()> {
    // SAFETY: kill takes plain integers.
    let ret = unsafe { libc::kill(pid, sig) };
    check(ret as _, "kill", || format!("pid {pid}")).map(drop)
}

/// `pidfd_open(pid, 0)`: a stable handle on a process that cannot be confused with a later process given the same
/// pid.
pub fn pidfd_open(pid: i32) -> Result<OwnedFd> {
    // SAFETY: pidfd_open takes plain integers.
    let ret = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    let fd = check(ret, "pidfd_open", || format!("pid {pid}"))?;
    // SAFETY: the kernel returned a new fd that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// `pidfd_send_signal(pidfd, sig, NULL, 0)`. `ESRCH` means the process has exited.
pub fn pidfd_send_signal(pidfd: BorrowedFd<'_>, sig: i32) -> Result<()> {
    // SAFETY: a NULL siginfo is allowed; the rest are integers.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd.as_raw_fd(),
            sig,
            std::ptr::null::<libc::siginfo_t>(),
            0,
        )
    };
    check(ret, "pidfd_send_signal", || {
        format!("pidfd {}", pidfd.as_raw_fd())
    })
    .map(drop)
}

/// `poll(fd, POLLIN, timeout_ms)`: true if `fd` became readable (for a pidfd: the process exited) before the
/// timeout (-1 waits forever). `EINTR` is retried.
pub fn poll_readable(fd: BorrowedFd<'_>, timeout_ms: i32) -> Result<bool> {
    let mut pfd = libc::pollfd {
        fd: fd.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    loop {
        // SAFETY: `pfd` is one valid pollfd.
        let ret = unsafe { libc::poll(&mut pfd, 1, timeout_ms) };
        if ret == -1 {
            let e = Error::last("poll", format!("fd {}", fd.as_raw_fd()));
            if e.errno() == libc::EINTR {
                continue;
            }
            return Err(e);
        }
        return Ok(ret > 0);
    }
}

/// `setresuid(uid, uid, uid)` for the calling thread (holm's container processes are single-threaded).
///
/// Errors: `EINVAL` for `u32::MAX`, which the kernel reads as -1, "leave this id unchanged": passed on, it would
/// keep the caller's uid (root) instead of switching.
pub fn set_uid(uid: u32) -> Result<()> {
    set_res_id(libc::SYS_setresuid, "setresuid", uid)
}

/// `setresgid(gid, gid, gid)` for the calling thread. Errors: `EINVAL` for `u32::MAX` (see [`set_uid`]).
pub fn set_gid(gid: u32) -> Result<()> {
    set_res_id(libc::SYS_setresgid, "setresgid", gid)
}

/// `setresuid`/`setresgid` (`nr`, named `name`) with all three ids set to `id`; `u32::MAX` refused.
fn set_res_id(nr: libc::c_long, name: &'static str, id: u32) -> Result<()> {
    if id == u32::MAX {
        return Err(Error::from_errno(name, id.to_string(), libc::EINVAL));
    }
    // SAFETY: `nr` is SYS_setresuid or SYS_setresgid, which take three integers; using the raw syscall (not glibc's
    // wrapper) avoids glibc's cross-thread signalling, which is irrelevant in a single-threaded process.
    let ret = unsafe { libc::syscall(nr, id, id, id) };
    check(ret, name, || id.to_string()).map(drop)
}

/// `setgroups(groups)`: the supplementary group list.
pub fn set_groups(groups: &[u32]) -> Result<()> {
    // SAFETY: the pointer and length describe `groups`, which outlives the call.
    let ret = unsafe { libc::syscall(libc::SYS_setgroups, groups.len(), groups.as_ptr()) };
    check(ret, "setgroups", || format!("{groups:?}")).map(drop)
}

/// `prlimit(0, resource, {soft, hard}, NULL)`: sets a resource limit of the calling process. `u64::MAX` is
/// `RLIM_INFINITY`.
pub fn set_rlimit(resource: i32, soft: u64, hard: u64, name: &str) -> Result<()> {
    let lim = libc::rlimit64 {
        rlim_cur: soft,
        rlim_max: hard,
    };
    // SAFETY: `lim` is a valid rlimit64 read by the kernel; old-limit pointer is NULL.
    let ret = unsafe { libc::prlimit64(0, resource as _, &lim, std::ptr::null_mut()) };
    check(ret as _, "prlimit", || name.to_string()).map(drop)
}

/// `prlimit(0, resource, NULL, &old)`: reads a resource limit as (soft, hard).
pub fn get_rlimit(resource: i32) -> Result<(u64, u64)> {
    let mut lim = libc::rlimit64 {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `lim` is a valid place for the kernel to write the old limit.
    let ret = unsafe { libc::prlimit64(0, resource as _, std::ptr::null(), &mut lim) };
    check(ret as _, "prlimit", || resource.to_string())?;
    Ok((lim.rlim_cur, lim.rlim_max))
}

/// `setsid()`: makes the caller a session and process-group leader (needed before taking a controlling terminal).
pub fn setsid() -> Result<()> {
    // SAFETY: no arguments.
    let ret = unsafe { libc::setsid() };
    check(ret as _, "setsid", String::new).map(drop)
}

/// `setpgid(0, 0)`: makes the caller the leader of a new process group of its own (its pid becomes its pgid).
/// Fails with `EPERM` for a session leader.
pub fn setpgid_self() -> Result<()> {
    // SAFETY: integer arguments only.
    let ret = unsafe { libc::setpgid(0, 0) };
    check(ret as _, "setpgid", String::new).map(drop)
}

fn prctl(op: i32, arg: libc::c_ulong, name: &'static str) -> Result<()> {
    // SAFETY: every op used through this helper takes one integer argument and no pointers.
    let ret = unsafe {
        libc::prctl(
            op,
            arg,
            0 as libc::c_ulong,
            0 as libc::c_ulong,
            0 as libc::c_ulong,
        )
    };
    check(ret as _, name, String::new).map(drop)
}

/// `prctl(PR_SET_THP_DISABLE, 1)`: no transparent huge pages for this process's memory, inherited by its children
/// and kept across execve. Anonymous memory is then committed page by page instead of 2 MiB at a time.
pub fn set_thp_disable() -> Result<()> {
    prctl(libc::PR_SET_THP_DISABLE, 1, "prctl(PR_SET_THP_DISABLE)")
}

/// `prctl(PR_SET_NO_NEW_PRIVS, 1)`: execve can no longer grant privileges (setuid bits, file caps).
pub fn set_no_new_privs() -> Result<()> {
    prctl(libc::PR_SET_NO_NEW_PRIVS, 1, "prctl(PR_SET_NO_NEW_PRIVS)")
}

/// `prctl(PR_SET_KEEPCAPS, on)`: keep permitted capabilities across a switch away from uid 0.
pub fn set_keepcaps(on: bool) -> Result<()> {
    prctl(libc::PR_SET_KEEPCAPS, on as _, "prctl(PR_SET_KEEPCAPS)")
}

/// `prctl(PR_SET_PDEATHSIG, sig)`: the signal this process gets when its parent dies (0 clears it).
pub fn set_parent_death_signal(sig: i32) -> Result<()> {
    prctl(libc::PR_SET_PDEATHSIG, sig as _, "prctl(PR_SET_PDEATHSIG)")
}

/// Makes the process `cmd` spawns get SIGKILL when the thread that spawned it ends (`PR_SET_PDEATHSIG` in the
/// child between fork and exec, then a check that the parent is still the spawner: if it died in between the
/// spawn fails with `ESRCH`). For helpers such as a probe `qemu` that must not outlive a killed caller. The
/// signal is tied to the spawning *thread* (prctl(2)): spawn and wait from the same thread.
pub fn kill_with_parent(cmd: &mut std::process::Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: getpid is a plain syscall.
    let parent = unsafe { libc::getpid() };
    // SAFETY: the hook runs between fork and exec and makes only async-signal-safe syscalls (prctl, getppid);
    // it allocates nothing on success; on failure it builds an io::Error from an errno value (no allocation).
    unsafe {
        cmd.pre_exec(move || {
            if libc::prctl(
                libc::PR_SET_PDEATHSIG,
                libc::SIGKILL as libc::c_ulong,
                0,
                0,
                0,
            ) != 0
            {
                return Err(std::io::Error::last_os_error());
            }
            if libc::getppid() != parent {
                return Err(std::io::Error::from_raw_os_error(libc::ESRCH));
            }
            Ok(())
        });
    }
}

/// `prctl(PR_SET_CHILD_SUBREAPER, 1)`: orphaned descendants are re-parented to this process.
pub fn set_child_subreaper() -> Result<()> {
    prctl(
        libc::PR_SET_CHILD_SUBREAPER,
        1,
        "prctl(PR_SET_CHILD_SUBREAPER)",
    )
}

/// `prctl(PR_SET_DUMPABLE, on)`: a non-dumpable process's `/proc/PID` files (`exe`, `fd`, `mem`…) are owned by
/// root and not reachable by ptrace-less peers.
pub fn set_dumpable(on: bool) -> Result<()> {
    prctl(libc::PR_SET_DUMPABLE, on as _, "prctl(PR_SET_DUMPABLE)")
}

/// `getpid()`.
pub fn getpid() -> i32 {
    // SAFETY: cannot fail.
    unsafe { libc::getpid() }
}

/// `geteuid()`.
pub fn geteuid() -> u32 {
    // SAFETY: cannot fail.
    unsafe { libc::geteuid() }
}

/// True if a process with this pid exists (`kill(pid, 0)` does not fail with `ESRCH`).
pub fn pid_exists(pid: i32) -> bool {
    pid > 0 && kill(pid, 0).map_or_else(|e| e.errno() != libc::ESRCH, |_| true)
}

/// `getppid()`.
pub fn getppid() -> i32 {
    // SAFETY: cannot fail.
    unsafe { libc::getppid() }
}

/// Like [`fork`], but the new process becomes a child of the caller's *parent* (`clone(CLONE_PARENT)`), so the
/// runtime can wait for the container init even though an intermediate process created it. Refuses when
/// multi-threaded, like [`fork`].
pub fn fork_sibling() -> Result<Fork> {
    check_single_threaded("clone")?;
    // SAFETY: with a NULL stack, clone(2) behaves like fork(2): the child runs on a copy-on-write copy of the
    // caller's stack and returns 0 here. The process is single-threaded (checked above), so the child's copy of
    // every lock and of the allocator is consistent. glibc's cached thread id is not refreshed by a raw clone;
    // nothing in holm's child paths depends on it (Rust's own thread ids and locks do not use it).
    let ret = unsafe {
        libc::syscall(
            libc::SYS_clone,
            (libc::CLONE_PARENT | libc::SIGCHLD) as libc::c_ulong,
            std::ptr::null_mut::<libc::c_void>(),
            std::ptr::null_mut::<libc::c_int>(),
            std::ptr::null_mut::<libc::c_int>(),
            0 as libc::c_ulong,
        )
    };
    match ret {
        -1 => Err(Error::last("clone", "CLONE_PARENT")),
        0 => Ok(Fork::Child),
        pid => Ok(Fork::Parent(pid as i32)),
    }
}

/// Closes a raw fd in a freshly forked child whose owner (an `OwnedFd`/`File` of the parent's code) will never run
/// its destructor there (the child ends with `execve` or [`exit_now`]). Used to drop inherited lock fds at once.
pub fn close_inherited(fd: RawFd) {
    // SAFETY: the caller states that no live Rust owner will use or close `fd` again in this process; closing an
    // fd number that is not open is harmless (EBADF).
    unsafe { libc::close(fd) };
}

/// `poll(2)` on several fds for `POLLIN`; returns which became readable (or hung up) before `timeout_ms`
/// (-1: wait forever). `EINTR` is retried.
pub fn poll_any(fds: &[BorrowedFd<'_>], timeout_ms: i32) -> Result<Vec<bool>> {
    let mut p: Vec<libc::pollfd> = fds
        .iter()
        .map(|f| libc::pollfd {
            fd: f.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    loop {
        // SAFETY: `p` is a valid array of `p.len()` pollfd structs.
        let ret = unsafe { libc::poll(p.as_mut_ptr(), p.len() as libc::nfds_t, timeout_ms) };
        if ret == -1 {
            let e = Error::last("poll", "");
            if e.errno() == libc::EINTR {
                continue;
            }
            return Err(e);
        }
        return Ok(p.iter().map(|x| x.revents != 0).collect());
    }
}

/// `poll(2)` with per-fd events (`POLLIN`, `POLLOUT`); returns each fd's `revents` (0: not ready) once one is
/// ready or `timeout_ms` passed (-1: wait forever). `EINTR` is retried.
pub fn poll_events(fds: &[(BorrowedFd<'_>, i16)], timeout_ms: i32) -> Result<Vec<i16>> {
    let mut p: Vec<libc::pollfd> = fds
        .iter()
        .map(|(f, events)| libc::pollfd {
            fd: f.as_raw_fd(),
            events: *events,
            revents: 0,
        })
        .collect();
    loop {
        // SAFETY: `p` is a valid array of `p.len()` pollfd structs.
        let ret = unsafe { libc::poll(p.as_mut_ptr(), p.len() as libc::nfds_t, timeout_ms) };
        if ret == -1 {
            let e = Error::last("poll", "");
            if e.errno() == libc::EINTR {
                continue;
            }
            return Err(e);
        }
        return Ok(p.iter().map(|x| x.revents).collect());
    }
}

/// `getegid()`.
pub fn getegid() -> u32 {
    // SAFETY: cannot fail.
    unsafe { libc::getegid() }
}

/// Name prefix of the sealed in-memory copy of the runtime binary (see [`run_from_sealed_copy`]).
pub const SEALED_EXE_NAME: &str = "holm-sealed-exe";

/// Makes sure the process runs from a sealed, in-memory copy of its own executable (the runc CVE-2019-5736 class).
///
/// While the runtime sets up a container it *is* the runtime binary; if the container's entry point is a script
/// such as `#!/proc/self/exe`, or a process inside can open `/proc/<pid>/exe` of the runtime, that path leads to
/// the host's binary file, and a root process in the container could write to it. Running from a
/// `memfd_create(MFD_ALLOW_SEALING)` copy sealed with `F_SEAL_SEAL|SHRINK|GROW|WRITE` makes `/proc/<pid>/exe` an
/// anonymous file that nobody can modify.
///
/// If `/proc/self/exe` is already such a copy, returns `Ok(())`. Otherwise copies the binary (`sendfile`), seals it
/// and `execveat(fd, "", argv, envp, AT_EMPTY_PATH)`s it with the current arguments and environment, so on
/// success this function does not return. Call it early, single-threaded, before any state is created.
pub fn run_from_sealed_copy() -> Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let link = std::fs::read_link("/proc/self/exe").map_err(|e| Error {
        syscall: "readlink",
        target: "/proc/self/exe".into(),
        source: e,
    })?;
    let exe = std::fs::File::open("/proc/self/exe").map_err(|e| Error {
        syscall: "open",
        target: "/proc/self/exe".into(),
        source: e,
    })?;
    const WANT: libc::c_int =
        libc::F_SEAL_SEAL | libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_WRITE;
    if link
        .as_os_str()
        .as_bytes()
        .starts_with(format!("/memfd:{SEALED_EXE_NAME}").as_bytes())
    {
        // SAFETY: F_GET_SEALS reads the seals of an fd we own.
        let seals = unsafe { libc::fcntl(exe.as_raw_fd(), libc::F_GET_SEALS) };
        if seals != -1 && seals & WANT == WANT {
            return Ok(());
        }
    }
    let size = exe
        .metadata()
        .map_err(|e| Error {
            syscall: "fstat",
            target: "/proc/self/exe".into(),
            source: e,
        })?
        .len();
    let name = cstr("memfd_create", SEALED_EXE_NAME)?;
    // SAFETY: `name` is NUL-terminated and outlives the call.
    let mfd =
        unsafe { libc::memfd_create(name.as_ptr(), libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING) };
    let mfd = check(mfd as _, "memfd_create", || SEALED_EXE_NAME.into())?;
    // SAFETY: the kernel returned a new fd that nothing else owns.
    let mfd = unsafe { OwnedFd::from_raw_fd(mfd as RawFd) };
    let mut left = size;
    while left > 0 {
        // SAFETY: sendfile copies between two fds we own; a NULL offset uses the file positions.
        let n = unsafe {
            libc::sendfile(
                mfd.as_raw_fd(),
                exe.as_raw_fd(),
                std::ptr::null_mut(),
                left as usize,
            )
        };
        let n = check(n as _, "sendfile", || "/proc/self/exe".into())?;
        if n == 0 {
            return Err(Error::from_errno(
                "sendfile",
                "/proc/self/exe: short copy",
                libc::EIO,
            ));
        }
        left -= n as u64;
    }
    // F_SEAL_WRITE fails with EBUSY while a page of the file still has a transient extra reference (the kernel
    // drains its LRU batches and waits ~150 ms, `memfd_wait_for_pins`); seen under load right after the copy
    // (2 of ~140 test binaries' holm starts in one CI run). Nothing else holds this fresh memfd, so it clears: retry
    // for up to ~2 s before giving up.
    let mut tries = 0;
    loop {
        // SAFETY: F_ADD_SEALS takes an integer argument.
        let ret = unsafe { libc::fcntl(mfd.as_raw_fd(), libc::F_ADD_SEALS, WANT) };
        let busy = ret == -1 && std::io::Error::last_os_error().raw_os_error() == Some(libc::EBUSY);
        if busy && tries < 10 {
            tries += 1;
            std::thread::sleep(std::time::Duration::from_millis(5 * tries));
            continue;
        }
        check(ret as _, "fcntl(F_ADD_SEALS)", || SEALED_EXE_NAME.into())?;
        break;
    }
    let args: Vec<std::ffi::CString> = std::env::args_os()
        .map(|a| {
            std::ffi::CString::new(a.as_bytes())
                .map_err(|_| Error::from_errno("execveat", "argument with NUL", libc::EINVAL))
        })
        .collect::<Result<_>>()?;
    let envs: Vec<std::ffi::CString> = std::env::vars_os()
        .map(|(k, v)| {
            let mut kv = k.as_bytes().to_vec();
            kv.push(b'=');
            kv.extend_from_slice(v.as_bytes());
            std::ffi::CString::new(kv)
                .map_err(|_| Error::from_errno("execveat", "environment with NUL", libc::EINVAL))
        })
        .collect::<Result<_>>()?;
    let mut argv: Vec<*const libc::c_char> = args.iter().map(|a| a.as_ptr()).collect();
    argv.push(std::ptr::null());
    let mut envp: Vec<*const libc::c_char> = envs.iter().map(|a| a.as_ptr()).collect();
    envp.push(std::ptr::null());
    let empty = c"";
    // SAFETY: `argv`/`envp` are NULL-terminated arrays of pointers into `args`/`envs`, alive until the call; the
    // path is an empty C string used with AT_EMPTY_PATH. On success the call does not return.
    unsafe {
        libc::syscall(
            libc::SYS_execveat,
            mfd.as_raw_fd(),
            empty.as_ptr(),
            argv.as_ptr(),
            envp.as_ptr(),
            libc::AT_EMPTY_PATH,
        )
    };
    Err(Error::last("execveat", SEALED_EXE_NAME))
}

/// Environment variable through which [`protect_exe`] hands the original mount namespace fd across its re-exec.
const ORIG_MNTNS_ENV: &str = "_HOLM_ORIG_MNTNS";

/// Makes sure `/proc/self/exe` cannot be opened for writing by anyone (the runc CVE-2019-5736 class), at the
/// lowest cost available:
///
/// 1. If the executable already lives on a read-only mount, nothing is done.
/// 2. Otherwise (runc 1.2's approach) the process enters a private mount namespace, bind-mounts its own executable
///    read-only over its path, re-executes itself through that mount, and right after the re-exec returns to the
///    original mount namespace (the fd travels in `_HOLM_ORIG_MNTNS`). `/proc/<pid>/exe` of this process and of
///    every child it forks then refers to a read-only mount: writes fail with `EROFS`, even through a reopened
///    `O_PATH` handle. Hooks and everything else run in the original mount namespace. No copy is made: about
///    1 ms instead of the 4 ms a 4 MiB copy costs.
/// 3. If that is impossible (no `CAP_SYS_ADMIN`, deleted binary), falls back to [`run_from_sealed_copy`].
///
/// Call it early, single-threaded, before any state is created; on the re-exec paths it does not return.
pub fn protect_exe() -> Result<()> {
    use std::os::unix::ffi::OsStrExt;
    if let Some(v) = std::env::var_os(ORIG_MNTNS_ENV) {
        // Second half of step 2: back to the caller's mount namespace; the read-only exe mount stays pinned by
        // this process's exe link even after the private namespace is gone.
        std::env::remove_var(ORIG_MNTNS_ENV);
        let fd: RawFd = std::str::from_utf8(v.as_bytes())
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| Error::from_errno("setns", ORIG_MNTNS_ENV, libc::EINVAL))?;
        // SAFETY: the fd was opened by our pre-exec self on /proc/self/ns/mnt and deliberately left open across
        // execve; nothing else in this fresh process owns it.
        let ns = unsafe { OwnedFd::from_raw_fd(fd) };
        back_to_mount_ns(ns.as_fd())?;
        // The variable is only a claim (anyone can set it): the protection holds only if the exe really is on a
        // read-only mount now.
        let exe = std::fs::File::open("/proc/self/exe").map_err(|e| Error {
            syscall: "open",
            target: "/proc/self/exe".into(),
            source: e,
        })?;
        if crate::fs::mount_flags(exe.as_fd())? & libc::ST_RDONLY != 0 {
            return Ok(());
        }
        return run_from_sealed_copy();
    }
    let exe = std::fs::File::open("/proc/self/exe").map_err(|e| Error {
        syscall: "open",
        target: "/proc/self/exe".into(),
        source: e,
    })?;
    if crate::fs::mount_flags(exe.as_fd())? & libc::ST_RDONLY != 0 {
        return Ok(());
    }
    let path = std::fs::read_link("/proc/self/exe").map_err(|e| Error {
        syscall: "readlink",
        target: "/proc/self/exe".into(),
        source: e,
    })?;
    if !path.is_absolute() || path.as_os_str().as_bytes().ends_with(b" (deleted)") || !path.exists()
    {
        return run_from_sealed_copy();
    }
    match reexec_through_ro_bind(&path) {
        Ok(never) => match never {},
        Err(_) => run_from_sealed_copy(),
    }
}

fn reexec_through_ro_bind(path: &Path) -> Result<std::convert::Infallible> {
    use std::os::unix::ffi::OsStrExt;
    let orig = std::fs::File::open("/proc/self/ns/mnt").map_err(|e| Error {
        syscall: "open",
        target: "/proc/self/ns/mnt".into(),
        source: e,
    })?;
    crate::ns::unshare(libc::CLONE_NEWNS)?;
    let undo = |e: Error| {
        // Back to the original namespace before falling back, so nothing later runs in the private one.
        let _ = back_to_mount_ns(orig.as_fd());
        e
    };
    let p = Path::new;
    crate::mount::mount(
        None,
        p("/"),
        None,
        libc::MS_REC | libc::MS_PRIVATE,
        None,
        "private /",
    )
    .map_err(undo)?;
    // /proc/self/exe itself cannot be the source (its mount belongs to the old namespace): bind the path, then
    // check that it is still the very file this process runs.
    crate::mount::mount(
        Some(path),
        path,
        None,
        libc::MS_BIND,
        None,
        "runtime binary",
    )
    .map_err(undo)?;
    let same = |a: &Path, b: &Path| -> bool {
        use std::os::unix::fs::MetadataExt;
        match (std::fs::metadata(a), std::fs::metadata(b)) {
            (Ok(x), Ok(y)) => (x.dev(), x.ino()) == (y.dev(), y.ino()),
            _ => false,
        }
    };
    if !same(path, p("/proc/self/exe")) {
        return Err(undo(Error::from_errno(
            "mount",
            path.display().to_string(),
            libc::ESTALE,
        )));
    }
    let flags =
        libc::MS_BIND | libc::MS_REMOUNT | libc::MS_RDONLY | libc::MS_NOSUID | libc::MS_NODEV;
    crate::mount::mount(None, path, None, flags, None, "runtime binary read-only").map_err(undo)?;
    // The namespace fd must survive execve.
    crate::fs::set_cloexec(orig.as_fd(), false).map_err(undo)?;
    // Arguments and environment as the raw bytes they are (a bundle path need not be UTF-8).
    let cstrings = |v: Vec<Vec<u8>>| -> Result<Vec<CString>> {
        v.into_iter()
            .map(|b| {
                CString::new(b).map_err(|_| Error::from_errno("execve", "NUL byte", libc::EINVAL))
            })
            .collect()
    };
    let mut env: Vec<Vec<u8>> = std::env::vars_os()
        .map(|(k, v)| [k.as_bytes(), b"=", v.as_bytes()].concat())
        .collect();
    env.push(format!("{ORIG_MNTNS_ENV}={}", orig.as_raw_fd()).into_bytes());
    let args =
        cstrings(std::env::args_os().map(|a| a.as_bytes().to_vec()).collect()).map_err(undo)?;
    let env = cstrings(env).map_err(undo)?;
    let exe = cpath("execve", path).map_err(undo)?;
    let mut argv: Vec<*const libc::c_char> = args.iter().map(|a| a.as_ptr()).collect();
    argv.push(std::ptr::null());
    let mut envp: Vec<*const libc::c_char> = env.iter().map(|a| a.as_ptr()).collect();
    envp.push(std::ptr::null());
    // SAFETY: `exe` and every element of `argv`/`envp` are NUL-terminated strings kept alive by `exe`, `args` and
    // `env` until after the call; both arrays end with NULL. On success the call does not return.
    unsafe { libc::execve(exe.as_ptr(), argv.as_ptr(), envp.as_ptr()) };
    let e = Error::last("execve", path.display().to_string());
    Err(undo(e))
}

/// `setns` into the mount namespace `ns`, keeping the current working directory (setns moves it to the
/// namespace's root).
fn back_to_mount_ns(ns: BorrowedFd<'_>) -> Result<()> {
    let cwd = std::fs::File::open(".").map_err(|e| Error {
        syscall: "open",
        target: ".".into(),
        source: e,
    })?;
    crate::ns::setns(ns, libc::CLONE_NEWNS, "original mount namespace")?;
    crate::fs::fchdir(cwd.as_fd())
}

/// The local time zone's offset from UTC, in seconds east, at `unix_secs` (`localtime_r`'s `tm_gmtoff`: `TZ`,
/// else `/etc/localtime`). 0 if the time cannot be converted.
pub fn local_utc_offset(unix_secs: i64) -> i64 {
    let t = unix_secs as libc::time_t;
    let mut tm = std::mem::MaybeUninit::<libc::tm>::zeroed();
    // SAFETY: `t` and `tm` are valid for the call; localtime_r is the reentrant form and writes only into `tm`.
    let r = unsafe { libc::localtime_r(&t, tm.as_mut_ptr()) };
    if r.is_null() {
        return 0;
    }
    // SAFETY: localtime_r succeeded, so `tm` was filled in (and it was zeroed before anyway).
    let tm = unsafe { tm.assume_init() };
    tm.tm_gmtoff
}

/// Syncs filesystems and restarts the machine (`reboot(RB_AUTOBOOT)`, reboot(2)); for a VM guest's pid 1: qemu
/// started with `-no-reboot` exits instead of restarting. (`RB_POWER_OFF` only halts a guest without ACPI, such as
/// a microvm guest, leaving qemu running.) Returns only on failure (e.g. `EPERM` without `CAP_SYS_BOOT`).
pub fn reboot_now() -> Error {
    // SAFETY: sync(2) takes no arguments and cannot fail.
    unsafe { libc::sync() };
    // SAFETY: reboot(2) with a valid command constant; it does not touch our memory.
    unsafe { libc::reboot(libc::RB_AUTOBOOT) };
    Error::last("reboot", "RB_AUTOBOOT")
}
