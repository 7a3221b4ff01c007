//! The two child stages of `exec` (a "tenant" process entering a running container; youki's name).
//!
//! **Stage 1 (T1)**, forked by the runtime: waits until the runtime put it in the container's cgroup, sets the
//! process's `oomScoreAdj` (inherited by the tenant), joins the container's user namespace first (it owns the
//! others) and becomes root in it, then the ipc, uts, net, pid, cgroup and time namespaces (runc's order), and
//! forks the tenant with `CLONE_PARENT` (so the runtime is its parent, and it lives in the pid and time
//! namespaces, which only apply to children) and exits.
//!
//! **Stage 2 (T2)**, the exec'd process: joins the mount namespace last, prepares the process (cwd, environment,
//! executable, rlimits, terminal, umask, LSM labels), marks every fd but stdio and `--preserve-fds`
//! close-on-exec, then seccomp and credentials by the container init's rule (see `crate::init`, "Seccomp
//! order"): with no_new_privs the filter is loaded last, right before `execve`; without, before the user switch.
//! Then it `execve`s. Until `execve` its end of the channel is open; the runtime reads an error from
//! it, or EOF once the exec succeeded (the channel is close-on-exec).
//!
//! Both stages are single-threaded and not dumpable, so nothing in the container can read their memory or their
//! host fds through `/proc/<pid>` before the exec (the runc CVE-2016-9962 class).

use crate::channel::{Channel, Msg};
use crate::process;
use crate::stages::{self, JoinNs};
use crate::{Error, Result};
use holm_sys::process::exit_now;
use oci_spec::runtime::Process;
use std::io::Write;
use std::os::fd::RawFd;

/// Everything the tenant stages need, prepared by the runtime before the fork.
pub struct TenantArgs<'a> {
    /// The process to run (already merged from the container's config and the `exec` flags, or `--process`).
    pub process: &'a Process,
    /// Namespaces to join, in order, the user namespace first; the mount namespace is in `mnt`.
    pub join: Vec<JoinNs>,
    /// The container's mount namespace, joined by stage 2.
    pub mnt: Option<JoinNs>,
    /// The child end of the sync channel.
    pub chan: Channel,
    /// The runtime's end of the channel and its lock fd on the state directory: closed at once in the children.
    pub close: Vec<RawFd>,
    /// Connected `--console-socket` (or the runtime's own socket) when the process has a terminal.
    pub console: Option<std::os::unix::net::UnixStream>,
    /// `--preserve-fds`: fds 3..3+N stay open in the process.
    pub preserve_fds: i32,
    /// The runtime's pid (stage 1's parent).
    pub runtime_pid: i32,
    /// The container's compiled `linux.seccomp` filter.
    pub seccomp: Option<crate::seccomp::Filter>,
    /// The container's `linux.memoryPolicy` as (mode, flags, nodes) ([`crate::sched::memory_policy`]).
    pub memory_policy: Option<(i32, i32, Vec<usize>)>,
}

/// Stage 1 entry point (in the forked child). Never returns.
pub fn stage1(a: TenantArgs<'_>) -> ! {
    stages::run_stage1(&a.chan, &a.close, || stage1_inner(&a))
}

fn stage1_inner(a: &TenantArgs<'_>) -> Result<()> {
    // Die with the runtime: a half-entered process helps nobody.
    holm_sys::process::set_parent_death_signal(libc::SIGKILL)?;
    if holm_sys::process::getppid() != a.runtime_pid {
        return Err(Error::Init("runtime exited during exec".into()));
    }
    // Not dumpable from here to execve (inherited by stage 2): processes of the container must not reach our
    // memory or host fds through /proc/<pid>/ once we share their pid namespace.
    holm_sys::process::set_dumpable(false)?;
    // The runtime first moves us into the container's cgroup: every child starts in it, and the cgroup namespace
    // joined below shows it as its root.
    a.chan.wait_go()?;
    // oom_score_adj is inherited by the tenant. Written here, by host root through the host's /proc, before any
    // namespace is joined: after joining a user namespace our /proc files belong to host root, whom we no longer
    // are there.
    if let Some(adj) = a.process.oom_score_adj() {
        std::fs::write("/proc/self/oom_score_adj", adj.to_string()).map_err(|e| {
            Error::config(
                "process.oomScoreAdj",
                format!("write /proc/self/oom_score_adj: {e}"),
            )
        })?;
    }
    for ns in &a.join {
        ns.enter()?;
        if ns.flag == holm_sys::ns::CLONE_NEWUSER {
            // The user namespace comes first (it owns the others, and joining it grants the capabilities needed to
            // join them). Become its root; switch_user sets the process's own ids later.
            stages::become_userns_root()?;
        }
    }
    // pid and time namespaces apply to children only: the tenant is forked into them here. The mount namespace is
    // joined by the tenant itself, because fork_sibling reads our /proc/self, which the container's /proc (seen
    // after joining its mount namespace) does not show: we are outside its pid namespace.
    stages::fork_stage2(&a.chan, a, stage2)
}

/// Stage 2 entry point (the exec'd process). Never returns: it `execve`s or exits.
fn stage2(a: &TenantArgs<'_>) -> ! {
    let e = match stage2_inner(a) {
        Ok(never) => match never {},
        Err(e) => e,
    };
    if a.chan.send(&Msg::Error(e.to_string())).is_err() {
        let _ = writeln!(std::io::stderr(), "holm-runtime: exec: {e}");
    }
    exit_now(127)
}

fn stage2_inner(a: &TenantArgs<'_>) -> Result<std::convert::Infallible> {
    let p = a.process;
    // Dies with the runtime until the exec. The runtime is outside our pid namespace (getppid() is 0), so a runtime
    // that died before this line goes unnoticed here; it took stage 1 with it, and nobody waits for us.
    holm_sys::process::set_parent_death_signal(libc::SIGKILL)?;
    // Its own process group, as runc's exec'd process (a shell's job control and `kill -- -PGID` rely on it); with a
    // terminal, the setsid of the console setup makes it a group (and session) leader instead.
    if a.console.is_none() {
        holm_sys::process::setpgid_self()?;
    }
    // The mount namespace last: setns makes its root our root and cwd, so every path below is the container's.
    if let Some(ns) = &a.mnt {
        ns.enter()?;
    }
    // cwd must exist (runc's rule for exec: it is not created). A directory that root cannot search (root in a user
    // namespace without CAP_DAC_OVERRIDE over it) is tried again as the process's user, after switch_user.
    let cwd = p.cwd();
    let cwd_later = match std::env::set_current_dir(cwd) {
        Ok(()) => false,
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => true,
        Err(e) => return Err(Error::io("chdir to process.cwd", cwd, e)),
    };
    let passwd = process::read_small("/etc/passwd");
    let env = process::environment(p, passwd.as_deref());
    let args = p.args().clone().unwrap_or_default();
    let arg0 = args
        .first()
        .ok_or_else(|| Error::Invalid("exec: process.args must not be empty".into()))?;
    let exe = process::find_executable(arg0, &env)?;
    process::apply_rlimits(p)?;
    crate::sched::apply_scheduler(p)?;
    if let Some((mode, flags, nodes)) = &a.memory_policy {
        holm_sys::sched::set_mempolicy(*mode, *flags, nodes)
            .map_err(|e| Error::config("linux.memoryPolicy", e.to_string()))?;
    }
    let proc = crate::procfs::ProcFs::open()?;
    if let Some(sock) = &a.console {
        crate::console::setup_tenant(sock, p)?;
    }
    holm_sys::fs::umask(p.user().umask().unwrap_or(0o022));
    crate::lsm::apply(p, &proc)?;
    drop(proc);
    // The execve, prepared now: after a late seccomp filter nothing may allocate or make a system call but it.
    let exec = holm_sys::process::Exec::new(&exe, &args, &env)?;
    // Only fds 0-2 and --preserve-fds survive the execve. Before any seccomp filter: a profile need not allow
    // close_range or fcntl.
    holm_sys::fs::cloexec_from(3 + a.preserve_fds)?;
    holm_sys::fs::keep_across_exec(3, a.preserve_fds)?;
    // Seccomp in the container init's order (see `crate::init`, "Seccomp order"): without no_new_privs a filter
    // needs CAP_SYS_ADMIN to load, so it goes before the capabilities are dropped (then the user switch, the late
    // chdir, prctl and rt_sigaction follow it); with it, last before execve. The channel stays open until the
    // execve, so a notify listener fd is sent right after a late load too (sendmsg is then the one other call).
    let nnp = p.no_new_privileges().unwrap_or(false);
    if !nnp {
        crate::seccomp::load_and_report(a.seccomp.as_ref(), &a.chan)?;
    }
    process::switch_user(p)?;
    if cwd_later {
        std::env::set_current_dir(cwd).map_err(|e| Error::io("chdir to process.cwd", cwd, e))?;
    }
    // A detached tenant outlives the runtime (its parent becomes the container's init).
    holm_sys::process::set_parent_death_signal(0)?;
    holm_sys::signal::reset_all()?;
    if nnp {
        crate::seccomp::load_and_report(a.seccomp.as_ref(), &a.chan)?;
    }
    Err(Error::Init(exec.run().to_string()))
}
