//! The two child stages of `create`.
//!
//! **Stage 1 (C1)**, forked by the runtime: waits until the runtime put it in the container's cgroup, enters or
//! creates the user namespace (the runtime writes the id maps), joins namespaces given by `path`, unshares the new
//! ones, writes time-namespace offsets, then forks the init with `CLONE_PARENT` (so the runtime is its parent and
//! the init is pid 1 of a new pid namespace and lives in the new time namespace) and exits.
//!
//! **Stage 2 (C2)**, the container init: sets up the rootfs, lets the runtime run `prestart`/`createRuntime` hooks,
//! runs `createContainer` hooks, pivots, applies sysctls, masked and read-only paths, prepares the process
//! (cwd, env, executable, rlimits, terminal, LSM label), marks every fd but stdio and `--preserve-fds`
//! close-on-exec, switches user and capabilities, reports `Created`, then blocks opening `exec.fifo` for writing
//! until `start` opens it for reading; then `startContainer` hooks, signal reset and `execve`.
//!
//! Both stages are single-threaded; each is one linear function with its ordering constraints commented.
//!
//! # Seccomp order
//!
//! runc's rule: once the filter is loaded, the init makes no system call a profile may deny except the final
//! `execve`, so a profile need allow nothing the runtime itself uses (e.g. `close_range`). Where the filter is
//! loaded, by `process.noNewPrivileges` (nnp) and whether the profile uses `SCMP_ACT_NOTIFY`:
//!
//! - nnp, no notify (what `runc spec` gives): last, after `startContainer` hooks and the signal reset, right
//!   before `execve`. Nothing but `execve` follows (the `execve` is prepared in advance, so no allocation
//!   either). A load error is written to the exec fifo and reported by `start`.
//! - nnp with notify: after the user switch and before `Created`, because the listener fd goes to the runtime
//!   over the channel, which closes at `Created`. Then follow: `sendmsg`/`recvmsg` on the channel (the fd, the
//!   handshake), `prctl(PR_SET_PDEATHSIG)`, `rt_sigaction`/`rt_sigprocmask`, `openat`/`write`/`close` of the exec
//!   fifo, the `startContainer` hooks (clone, wait4, pipes: they run under the filter, so a notify agent sees
//!   them), then `execve`.
//! - no nnp: loading needs `CAP_SYS_ADMIN`, so it comes before the user switch (as runc); following it:
//!   `setgroups`, `setresgid`, `setresuid`, `prctl` and `capset` of the switch, then the same list as above.
//!
//! The fds are marked close-on-exec (`close_range`, `fcntl`) before any load in every case.

use crate::channel::{Channel, Msg};
use crate::hooks;
use crate::process;
use crate::rootfs;
use crate::spec::Bundle;
use crate::stages::{self, JoinNs};
use crate::{Error, Result};
use holm_sys::process::exit_now;
use std::fs::File;
use std::io::Write;
use std::os::fd::OwnedFd;
use std::os::fd::{AsFd, AsRawFd, RawFd};
use std::os::unix::fs::OpenOptionsExt;

/// Everything the children need, prepared by the runtime before the first fork.
pub struct InitArgs<'a> {
    /// Validated bundle.
    pub bundle: &'a Bundle,
    /// The container's cgroup.
    pub cgroup: Option<&'a holm_cgroups::Cgroup>,
    /// Namespaces to join (`linux.namespaces[i].path`), in config order.
    pub join: Vec<JoinNs>,
    /// `CLONE_NEW*` flags of namespaces to create, except the user namespace.
    pub new_flags: i32,
    /// Create a new user namespace.
    pub new_userns: bool,
    /// The child end of the sync channel.
    pub chan: Channel,
    /// The runtime's lock fd on the state directory: closed at once in the children (an inherited copy would keep
    /// the lock held until the container execs).
    pub lock_fd: RawFd,
    /// The runtime's end of the channel, closed in the children.
    pub parent_chan_fd: RawFd,
    /// An `O_PATH` handle on `exec.fifo`, reopened for writing through `/proc/self/fd` (in a user namespace the
    /// init cannot search the runtime's 0700 state directory).
    pub exec_fifo: File,
    /// Connected `--console-socket`, when `process.terminal` is set.
    pub console: Option<std::os::unix::net::UnixStream>,
    /// `--no-pivot`.
    pub no_pivot: bool,
    /// `--preserve-fds`: fds 3..3+N stay open in the container.
    pub preserve_fds: i32,
    /// The runtime's pid (the init's parent).
    pub runtime_pid: i32,
    /// Detached id-mapped mount trees by `mounts` index ([`crate::idmap::prepare`]), attached by the init.
    pub idmapped: crate::idmap::Prepared,
    /// The compiled `linux.seccomp` filter (see "Seccomp order" in the module docs).
    pub seccomp: Option<crate::seccomp::Filter>,
}

/// Stage 1 entry point (in the forked child). Never returns.
pub fn stage1(a: InitArgs<'_>) -> ! {
    stages::run_stage1(&a.chan, &[a.lock_fd, a.parent_chan_fd], || stage1_inner(&a))
}

fn stage1_inner(a: &InitArgs<'_>) -> Result<()> {
    // Die with the runtime: an orphaned half-made container helps nobody.
    holm_sys::process::set_parent_death_signal(libc::SIGKILL)?;
    if holm_sys::process::getppid() != a.runtime_pid {
        return Err(Error::Init("runtime exited during create".into()));
    }
    // The runtime moves us into the container's cgroup first, so that the cgroup namespace unshared below is
    // rooted at the container's cgroup and every later child starts in it.
    a.chan.wait_go()?;
    log::debug!(
        "stage-1[{}]: in the cgroup; joining {} namespace(s), unsharing {:#x}",
        holm_sys::process::getpid(),
        a.join.len(),
        a.new_flags
    );

    // The user namespace comes first: it owns every namespace created after it.
    let is_user = |n: &&JoinNs| n.flag == holm_sys::ns::CLONE_NEWUSER;
    if let Some(ns) = a.join.iter().find(is_user) {
        ns.enter()?;
    } else if a.new_userns {
        holm_sys::ns::unshare(holm_sys::ns::CLONE_NEWUSER)?;
        a.chan.send(&Msg::UserNsReady)?;
        a.chan.wait_maps_written()?;
    }
    if a.new_userns || a.join.iter().any(|n| is_user(&n)) {
        stages::become_userns_root()?;
    }
    // Join the other namespaces given by path, in config order.
    for ns in a.join.iter().filter(|n| !is_user(n)) {
        ns.enter()?;
    }
    // Create the new ones. pid and time namespaces apply to children only: the init forked below.
    if a.new_flags != 0 {
        holm_sys::ns::unshare(a.new_flags)?;
    }
    // Time offsets must be written before any process lives in the new time namespace.
    if a.new_flags & holm_sys::ns::CLONE_NEWTIME != 0 {
        // The uid switch in a new user namespace made this process non-dumpable, which hands its /proc files to
        // the host's root; stage 1 runs no container code, so it may be dumpable again to write its own file.
        holm_sys::process::set_dumpable(true)?;
        write_time_offsets(a.bundle)?;
    }
    // The init: pid 1 of the new pid namespace, in the new time namespace.
    stages::fork_stage2(&a.chan, a, stage2)
}

fn write_time_offsets(b: &Bundle) -> Result<()> {
    let Some(offs) = b
        .spec
        .linux()
        .as_ref()
        .and_then(|l| l.time_offsets().as_ref())
    else {
        return Ok(());
    };
    let mut text = String::new();
    for (clock, o) in offs {
        text.push_str(&format!(
            "{clock} {} {}\n",
            o.secs().unwrap_or(0),
            o.nanosecs().unwrap_or(0)
        ));
    }
    std::fs::write("/proc/self/timens_offsets", text).map_err(|e| {
        Error::config(
            "linux.timeOffsets",
            format!("write /proc/self/timens_offsets: {e}"),
        )
    })
}

/// Stage 2 entry point (the container init). Never returns: it `execve`s the user process or exits.
fn stage2(a: &InitArgs<'_>) -> ! {
    let e = match stage2_inner(a) {
        Ok(never) => match never {},
        Err(e) => e,
    };
    // Before `Created` the runtime reads this from the channel; after it, the channel is closed and stderr is the
    // only way to say what went wrong.
    if a.chan.send(&Msg::Error(e.to_string())).is_err() {
        let _ = writeln!(std::io::stderr(), "holm-runtime: container init: {e}");
    }
    exit_now(127)
}

fn stage2_inner(a: &InitArgs<'_>) -> Result<std::convert::Infallible> {
    let spec = &a.bundle.spec;
    let proc_ = spec
        .process()
        .as_ref()
        .ok_or_else(|| Error::config("process", "missing"))?;
    // Until `Created` is acknowledged, a dying runtime takes the init with it (no orphan containers). The parent
    // is outside a new pid namespace (getppid() is 0 here), so a runtime that died before this line is noticed
    // instead by the channel: the next wait below sees EOF and the init exits.
    holm_sys::process::set_parent_death_signal(libc::SIGKILL)?;
    // Not dumpable until execve: other processes (of a shared pid namespace, or later `exec`s) cannot open this
    // process's /proc/<pid>/{fd,exe,mem,...}, which still lead to host objects.
    holm_sys::process::set_dumpable(false)?;
    let cgroupns = a.new_flags & holm_sys::ns::CLONE_NEWCGROUP != 0;
    let ctx = rootfs::Context {
        spec,
        bundle: &a.bundle.dir,
        rootfs: &a.bundle.rootfs,
        cgroup: a.cgroup,
        userns: a.new_userns || a.join.iter().any(|n| n.flag == holm_sys::ns::CLONE_NEWUSER),
        cgroupns,
        idmapped: &a.idmapped,
    };
    // A new network namespace starts with `lo` down; runc brings it up and programs expect 127.0.0.1 to work.
    if a.new_flags & holm_sys::ns::CLONE_NEWNET != 0 {
        let nl = holm_sys::netlink::Netlink::open()?;
        nl.set_up(holm_sys::netlink::link_index("lo")?)?;
    }
    let root_fd = rootfs::prepare(&ctx)?;
    drop(root_fd);

    // prestart and createRuntime hooks run in the runtime's namespaces, after the mounts and before pivot_root.
    a.chan.send(&Msg::MountsReady)?;
    let state_json = with_annotations(&a.chan.wait_hooks_done()?, spec);
    let hooks = spec.hooks().as_ref();
    if let Some(h) = hooks.and_then(|h| h.create_container().as_ref()) {
        // runc runs them from the rootfs (its init's cwd while it mounts).
        hooks::run_all_in("createContainer", h, &state_json, Some(&a.bundle.rootfs))?;
    }

    if let Some(h) = spec.hostname().as_deref().filter(|h| !h.is_empty()) {
        holm_sys::ns::sethostname(h)?;
    }
    if let Some(d) = spec.domainname().as_deref().filter(|d| !d.is_empty()) {
        holm_sys::ns::setdomainname(d)?;
    }
    log::debug!(
        "init: hooks done; pivot_root into {}",
        a.bundle.rootfs.display()
    );
    rootfs::pivot(&a.bundle.rootfs, a.no_pivot)?;
    // sysctls before read-only paths: /proc/sys is usually one of them.
    let proc = crate::procfs::ProcFs::open()?;
    crate::sysctl::apply(spec, &proc)?;
    // The process's cwd is created if missing, inside the new root, before `finish` makes a `root.readonly` root
    // read-only (runc's order: a missing cwd works with a read-only root).
    let open_cwd = || -> Result<OwnedFd> {
        let root = File::options()
            .read(true)
            .custom_flags(libc::O_DIRECTORY)
            .open("/")
            .map_err(|e| Error::io("open", "/", e))?;
        crate::resolve::mkdir_all(root.as_fd(), proc_.cwd(), 0o755)
            .map_err(|e| Error::config("process.cwd", e.to_string()))
    };
    drop(open_cwd()?);
    rootfs::finish(spec)?;

    // The process: cwd (opened again: `finish` may have mounted over it), environment, executable, rlimits.
    let cwd = open_cwd()?;
    holm_sys::fs::fchdir(cwd.as_fd())?;
    drop(cwd);
    let passwd = process::read_small("/etc/passwd");
    let env = process::environment(proc_, passwd.as_deref());
    let args = proc_.args().clone().unwrap_or_default();
    let exe = process::find_executable(&args[0], &env)?;
    process::apply_rlimits(proc_)?;
    crate::sched::apply_scheduler(proc_)?;
    crate::sched::apply_memory_policy(spec)?;
    if proc_.terminal().unwrap_or(false) {
        setup_terminal(a, proc_)?;
    }
    holm_sys::fs::umask(proc_.user().umask().unwrap_or(0o022));
    crate::lsm::apply(proc_, &proc)?;
    drop(proc);
    // The execve, prepared now: after a late seccomp filter nothing may allocate or make a system call but it.
    let exec = holm_sys::process::Exec::new(&exe, &args, &env)?;
    // Only fds 0-2 and --preserve-fds survive the execve; every fd opened from here on is O_CLOEXEC (the exec
    // fifo, pipes of hooks). Done before any seccomp filter: a profile need not allow close_range or fcntl.
    holm_sys::fs::cloexec_from(3 + a.preserve_fds)?;
    holm_sys::fs::keep_across_exec(3, a.preserve_fds)?;

    // Seccomp (see "Seccomp order" in the module docs): after the filter is loaded the init makes no system call
    // a profile may deny but the final execve, except where loading must come earlier:
    // - without no_new_privs, loading needs CAP_SYS_ADMIN: before the capabilities are dropped;
    // - with SCMP_ACT_NOTIFY, the listener fd goes to the runtime over the channel, which closes at `Created`.
    // Errors of these early loads fail `create`; a late load's error reaches `start` through the exec fifo.
    let nnp = proc_.no_new_privileges().unwrap_or(false);
    let (early, late) = match a.seccomp.as_ref() {
        Some(f) if !nnp || f.notify => (Some(f), None),
        f => (None, f),
    };
    if !nnp {
        crate::seccomp::load_and_report(early, &a.chan)?;
    }
    process::switch_user(proc_)?;
    if nnp {
        crate::seccomp::load_and_report(early, &a.chan)?;
    }

    // Created: the runtime records the state; after its Ack we no longer die with it.
    log::debug!("init: process ready ({}); created", exe.display());
    a.chan.send(&Msg::Created)?;
    a.chan.wait_ack()?;
    holm_sys::process::set_parent_death_signal(0)?;
    // The channel stays open (close-on-exec) so its fd number cannot be reused by a later open; the runtime
    // exits after this message, and any later error goes to stderr.
    a.chan.send(&Msg::Released)?;

    // Until the user process runs, the init is pid 1 of its namespace and would ignore signals it has no handler
    // for: a `kill ID TERM` of a created container must end it, as it ends runc's init.
    holm_sys::signal::exit_on_termination_signals()?;
    // Block until `start` opens the FIFO for reading, then tell it we are going.
    let fifo_path = format!("/proc/self/fd/{}", a.exec_fifo.as_raw_fd());
    let mut fifo = File::options()
        .write(true)
        .custom_flags(libc::O_CLOEXEC)
        .open(&fifo_path)
        .map_err(|e| Error::io("open", crate::state::EXEC_FIFO, e))?;
    fifo.write_all(b"0")
        .map_err(|e| Error::io("write", crate::state::EXEC_FIFO, e))?;
    holm_sys::process::close_inherited(a.exec_fifo.as_raw_fd());
    log::debug!("init: started; executing {}", exe.display());

    // `fifo` stays open until execve closes it (close-on-exec): `start` reads it to EOF, so it returns (and runs
    // poststart hooks) only once the process was executed, and reports what is written here if it was not.
    let run = || -> Result<std::convert::Infallible> {
        if let Some(h) = hooks.and_then(|h| h.start_container().as_ref()) {
            let mut st: serde_json::Value = serde_json::from_str(&state_json).unwrap_or_default();
            st["status"] = "running".into();
            hooks::run_all_in("startContainer", h, &st.to_string(), None)?;
        }
        holm_sys::signal::reset_all()?;
        // Last: the filter, then nothing but execve (no logging, no allocation).
        if let Some(f) = late {
            f.load()?;
        }
        Err(Error::Init(exec.run().to_string()))
    };
    let Err(e) = run();
    let _ = fifo.write_all(e.to_string().as_bytes());
    Err(e)
}

/// The state JSON from the runtime with the spec's `annotations` put back (they do not travel over the channel).
fn with_annotations(state_json: &str, spec: &oci_spec::runtime::Spec) -> String {
    let mut st: serde_json::Value = serde_json::from_str(state_json).unwrap_or_default();
    if let Some(o) = st.as_object_mut() {
        let ann = spec.annotations().clone().unwrap_or_default();
        let ann: std::collections::BTreeMap<_, _> = ann.into_iter().collect();
        o.insert("annotations".into(), serde_json::json!(ann));
    }
    st.to_string()
}

/// Opens a pty in the container's devpts, bind-mounts its peer onto `/dev/console`, sends the master over
/// `--console-socket` (as runc: SCM_RIGHTS with the pty's name as data), and makes the peer the init's controlling
/// terminal and stdio ([`crate::console::setup_init`]).
fn setup_terminal(a: &InitArgs<'_>, p: &oci_spec::runtime::Process) -> Result<()> {
    let sock = a
        .console
        .as_ref()
        .ok_or_else(|| Error::config("process.terminal", "needs --console-socket"))?;
    crate::console::setup_init(sock, p)
}
