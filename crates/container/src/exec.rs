//! `exec` (runc's verb): runs a new process inside a created or running container.
//!
//! The runtime (P) takes the container's lock, checks its status, opens a pidfd on the init (verified by its start
//! time, like every verb), and opens the init's `/proc/<pid>/ns/*` files, keeping those that differ from its own;
//! then it forks the tenant stage 1 ([`crate::tenant`]), puts it in the init's current cgroup (or `--cgroup`'s
//! sub-cgroup, see [`holm_cgroups::SubCgroups`]), and drives the sync
//! channel until the tenant has exec'd (EOF) or reported an error. In the foreground it forwards signals to the
//! process (and relays its terminal when it made one itself) and returns its exit status, 128+N for signal N.
//!
//! The process is the container's `process` with the command line's changes (args, `--cwd`, `--env`, `--user`,
//! `--additional-gids`, `--cap`, `--no-new-privs`, `--tty`), or the whole `--process` file, as runc does.

use crate::channel::{Channel, Msg};
use crate::console::Relay;
use crate::stages::JoinNs;
use crate::state::{Saved, Status, Store};
use crate::tenant::{self, TenantArgs};
use crate::{Error, Result};
use holm_sys::process::Fork;
use oci_spec::runtime::{Capabilities, Capability, LinuxCapabilities, Process, Spec};
use std::fs::File;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;

/// Options of `exec` (runc's flags).
#[derive(Debug, Clone, Default)]
pub struct ExecOptions {
    /// Container id.
    pub id: String,
    /// `--process FILE`: a runtime-spec `process` JSON used as is (the other process flags are ignored).
    pub process_file: Option<PathBuf>,
    /// The command and its arguments.
    pub args: Vec<String>,
    /// `--tty`: allocate a pseudo-terminal.
    pub tty: bool,
    /// `--console-socket`: a Unix socket that receives the pty master.
    pub console_socket: Option<PathBuf>,
    /// `--detach`: return once the process runs.
    pub detach: bool,
    /// `--pid-file`: where to write the process's host pid.
    pub pid_file: Option<PathBuf>,
    /// `--cwd`: working directory (must exist).
    pub cwd: Option<PathBuf>,
    /// `--env K=V`: added to the container's environment, replacing a variable of the same name.
    pub env: Vec<String>,
    /// `--user UID[:GID]` (GID defaults to 0, as in runc).
    pub user: Option<(u32, u32)>,
    /// `--additional-gids`: added to the container's supplementary groups.
    pub additional_gids: Vec<u32>,
    /// `--cap`: added to the bounding, effective and permitted sets (never to the inheritable or ambient sets).
    pub caps: Vec<String>,
    /// `--no-new-privs`.
    pub no_new_privs: bool,
    /// `--preserve-fds N`: fds 3..3+N are passed to the process.
    pub preserve_fds: i32,
    /// `--apparmor`: the AppArmor profile (ignored, like the config's, on a host without AppArmor).
    pub apparmor: Option<String>,
    /// `--process-label`: the SELinux label.
    pub process_label: Option<String>,
    /// `--cgroup` values (runc's flag, repeatable): `PATH` or `CONTROLLER[,CONTROLLER...]:PATH` relative to
    /// the container's cgroup ([`holm_cgroups::SubCgroups`]). Empty: the init's current cgroup.
    pub cgroup: Vec<String>,
    /// `--ignore-paused`: exec into a paused container too. The process joins the frozen cgroup and waits there
    /// until `resume`; so does `exec`, as runc's does (it holds no container lock meanwhile).
    pub ignore_paused: bool,
}

/// Parses `--user UID[:GID]` (numbers only, as runc).
pub fn parse_user(s: &str) -> Result<(u32, u32)> {
    let bad = || Error::Invalid(format!("--user {s:?}: expected UID or UID:GID (numbers)"));
    let (u, g) = s.split_once(':').unwrap_or((s, "0"));
    Ok((u.parse().map_err(|_| bad())?, g.parse().map_err(|_| bad())?))
}

/// Parses a capability name for `--cap` (`CAP_NET_RAW`, `net_raw`).
pub fn parse_capability(s: &str) -> Result<Capability> {
    let up = s.to_ascii_uppercase();
    let name = if up.starts_with("CAP_") {
        up
    } else {
        format!("CAP_{up}")
    };
    serde_json::from_value(serde_json::Value::String(name))
        .map_err(|_| Error::Invalid(format!("--cap {s:?}: unknown capability")))
}

/// The process `exec` runs: the `--process` file as is, or the container's `process` with `opts` applied.
///
/// Errors: an unreadable or invalid process file (naming the file and field), no command, an unknown `--cap`.
pub fn resolve_process(config: &Spec, opts: &ExecOptions) -> Result<Process> {
    if let Some(path) = &opts.process_file {
        let text = crate::spec::read_capped(path, "read process file")?;
        let fixed = crate::spec::spec13_fixups(&text, "/scheduler/flags", "scheduler.flags")
            .map_err(|e| Error::Invalid(format!("process file `{}`: {e}", path.display())))?;
        let text = fixed.unwrap_or(text);
        let mut value: serde_json::Value = serde_json::from_slice(&text)
            .map_err(|e| Error::Invalid(format!("process file `{}`: {e}", path.display())))?;
        // runc reads `user` as a Go struct: a file without it runs as uid 0, gid 0.
        if let Some(obj) = value.as_object_mut() {
            obj.entry("user")
                .or_insert_with(|| serde_json::json!({"uid": 0, "gid": 0}));
        }
        let p: Process = serde_path_to_error::deserialize(value).map_err(|e| {
            Error::Invalid(format!(
                "process file `{}`: `{}`: {}",
                path.display(),
                e.path(),
                crate::spec::spec_names(e.inner().to_string())
            ))
        })?;
        if p.args().as_ref().is_none_or(|a| a.is_empty()) {
            return Err(Error::Invalid(format!(
                "process file `{}`: `args` must not be empty",
                path.display()
            )));
        }
        return Ok(p);
    }
    if opts.args.is_empty() {
        return Err(Error::Invalid(
            "exec: no command given (pass it after the container id, or use --process FILE)".into(),
        ));
    }
    let mut p = config
        .process()
        .clone()
        .ok_or_else(|| Error::config("process", "missing"))?;
    p.set_args(Some(opts.args.clone()));
    p.set_terminal(Some(opts.tty));
    if opts.no_new_privs {
        p.set_no_new_privileges(Some(true));
    }
    if let Some(cwd) = &opts.cwd {
        p.set_cwd(cwd.clone());
    }
    if let Some(profile) = &opts.apparmor {
        p.set_apparmor_profile(Some(profile.clone()));
    }
    if let Some(label) = &opts.process_label {
        p.set_selinux_label(Some(label.clone()));
    }
    let mut env = p.env().clone().unwrap_or_default();
    for kv in &opts.env {
        let key = kv.split_once('=').map_or(kv.as_str(), |(k, _)| k);
        env.retain(|e| e.split_once('=').map_or(e.as_str(), |(k, _)| k) != key);
        env.push(kv.clone());
    }
    p.set_env(Some(env));
    if let Some((uid, gid)) = opts.user {
        p.user_mut().set_uid(uid);
        p.user_mut().set_gid(gid);
    }
    if !opts.additional_gids.is_empty() {
        let gids = p
            .user_mut()
            .additional_gids_mut()
            .get_or_insert_with(Vec::new);
        gids.extend(&opts.additional_gids);
    }
    if !opts.caps.is_empty() {
        let mut c = p.capabilities().clone().unwrap_or_else(empty_caps);
        let add = |set: &Option<Capabilities>, new: &[Capability]| {
            let mut s = set.clone().unwrap_or_default();
            s.extend(new.iter().copied());
            Some(s)
        };
        let new = opts
            .caps
            .iter()
            .map(|s| parse_capability(s))
            .collect::<Result<Vec<_>>>()?;
        c.set_bounding(add(c.bounding(), &new));
        c.set_effective(add(c.effective(), &new));
        c.set_permitted(add(c.permitted(), &new));
        p.set_capabilities(Some(c));
    }
    Ok(p)
}

fn empty_caps() -> LinuxCapabilities {
    let mut c = LinuxCapabilities::default();
    c.set_bounding(None);
    c.set_effective(None);
    c.set_inheritable(None);
    c.set_permitted(None);
    c.set_ambient(None);
    c
}

fn bad_state(id: &str, status: Status, msg: &str) -> Error {
    Error::BadState {
        id: id.to_string(),
        status: status.to_string(),
        msg: msg.to_string(),
    }
}

/// Namespaces an exec'd process joins, in runc's order (the user namespace first: it owns the others); the mount
/// namespace is joined last, by the tenant itself.
const JOIN_ORDER: [(&str, i32); 7] = [
    ("user", libc::CLONE_NEWUSER),
    ("ipc", libc::CLONE_NEWIPC),
    ("uts", libc::CLONE_NEWUTS),
    ("net", libc::CLONE_NEWNET),
    ("pid", libc::CLONE_NEWPID),
    ("cgroup", libc::CLONE_NEWCGROUP),
    ("time", libc::CLONE_NEWTIME),
];

/// Opens the init's namespaces that differ from the caller's, through a pidfd verified by the init's start time.
/// Returns the pidfd, the namespaces in [`JOIN_ORDER`], and the mount namespace.
fn open_namespaces(s: &Saved) -> Result<(OwnedFd, Vec<JoinNs>, Option<JoinNs>)> {
    let stopped = || bad_state(&s.id, Status::Stopped, "cannot exec in a stopped container");
    let pidfd = holm_sys::process::pidfd_open(s.pid).map_err(|_| stopped())?;
    if !s.init_alive() {
        return Err(stopped());
    }
    let mut join = Vec::new();
    let mut mnt = None;
    for (name, flag) in JOIN_ORDER.into_iter().chain([("mnt", libc::CLONE_NEWNS)]) {
        let path = format!("/proc/{}/ns/{name}", s.pid);
        let f = match File::open(&path) {
            Ok(f) => f,
            // A kernel without time namespaces.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && name == "time" => continue,
            Err(e) => return Err(Error::io("open namespace", &path, e)),
        };
        let theirs = f.metadata().map_err(|e| Error::io("stat", &path, e))?;
        let own = format!("/proc/self/ns/{name}");
        let mine = std::fs::metadata(&own).map_err(|e| Error::io("stat", &own, e))?;
        if (theirs.dev(), theirs.ino()) == (mine.dev(), mine.ino()) {
            // Shared with the host (not in linux.namespaces): nothing to join (and a user namespace one is already
            // in cannot be joined).
            continue;
        }
        let ns = JoinNs {
            flag,
            fd: f.into(),
            path,
            field: None,
        };
        if flag == libc::CLONE_NEWNS {
            mnt = Some(ns);
        } else {
            join.push(ns);
        }
    }
    // The pidfd names the init (its start time matched after it was opened). If it has still not exited, the files
    // opened above are its namespaces, not those of a later process given the same pid.
    if holm_sys::process::poll_readable(pidfd.as_fd(), 0)? {
        return Err(stopped());
    }
    Ok((pidfd, join, mnt))
}

/// Where the pty master goes.
enum Console {
    /// No terminal.
    None,
    /// The caller's `--console-socket`.
    Socket(std::os::unix::net::UnixStream),
    /// The runtime relays the terminal itself (foreground, no socket).
    Relay(Relay),
}

#[derive(Default)]
struct Children {
    stage1: i32,
    tenant: i32,
}

impl Children {
    fn kill_and_reap(&self) {
        for pid in [self.tenant, self.stage1] {
            if pid > 0 {
                let _ = holm_sys::process::kill(pid, libc::SIGKILL);
                let _ = holm_sys::process::waitpid(pid, 0);
            }
        }
    }
}

/// `exec`: runs a process in container `opts.id`. Returns 0 once it runs when detached; otherwise waits for it,
/// forwarding signals, and returns its exit code (128+N for signal N).
///
/// Errors (nothing is left running): the container does not exist, is stopped, paused or still being created; the
/// process is invalid; a terminal without a console socket when detached; any setup failure of the tenant (a
/// missing executable: `exec: "NAME": executable file not found in $PATH`).
pub fn exec(store: &Store, opts: &ExecOptions) -> Result<i32> {
    exec_inner(store, opts).map_err(|e| in_process_file(opts, e))
}

/// An error about a `process.*` field names the `--process` file it came from, not config.json.
fn in_process_file(opts: &ExecOptions, e: Error) -> Error {
    match (&opts.process_file, e) {
        (Some(path), Error::Config { field, msg }) if field.starts_with("process.") => {
            Error::Invalid(format!(
                "process file `{}`: `{}`: {msg}",
                path.display(),
                &field["process.".len()..]
            ))
        }
        (_, e) => e,
    }
}

fn exec_inner(store: &Store, opts: &ExecOptions) -> Result<i32> {
    let locked = store.lock(&opts.id)?;
    let saved = locked.load()?;
    let status = locked.status(&saved);
    match status {
        Status::Created | Status::Running => {}
        Status::Paused if opts.ignore_paused => {}
        Status::Paused => {
            return Err(bad_state(
                &opts.id,
                Status::Paused,
                "cannot exec in a paused container (use --ignore-paused to override)",
            ))
        }
        st @ Status::Stopped => {
            return Err(bad_state(
                &opts.id,
                st,
                "cannot exec in a stopped container",
            ))
        }
        st @ Status::Creating => {
            return Err(bad_state(
                &opts.id,
                st,
                "cannot exec in a container that is still being created",
            ))
        }
    }
    let process = resolve_process(&saved.config, opts)?;
    log::debug!(
        "exec {}: {:?} in the namespaces of init {}",
        opts.id,
        process.args().as_deref().unwrap_or_default(),
        saved.pid
    );
    if let Some(name) = crate::process::invalid_user_id(&process) {
        return Err(Error::Invalid(format!(
            "exec: process.user.{name}: {}",
            crate::process::INVALID_ID_MSG
        )));
    }
    crate::lsm::validate(&process)?;
    crate::sched::validate_process(&process)?;
    let console = match (
        process.terminal().unwrap_or(false),
        &opts.console_socket,
        opts.detach,
    ) {
        (true, Some(p), _) => Console::Socket(
            std::os::unix::net::UnixStream::connect(p)
                .map_err(|e| Error::io("connect to console socket", p, e))?,
        ),
        (true, None, true) => {
            return Err(Error::Invalid(
                "exec: a terminal (--tty) for a detached process needs --console-socket".into(),
            ))
        }
        (true, None, false) => Console::Relay(Relay::new()?),
        (false, Some(p), _) => {
            return Err(Error::Invalid(format!(
                "exec: --console-socket `{}` is only used with a terminal (--tty)",
                p.display()
            )))
        }
        (false, None, _) => Console::None,
    };
    let seccomp = saved
        .config
        .linux()
        .as_ref()
        .and_then(|l| l.seccomp().as_ref())
        .map(crate::seccomp::compile)
        .transpose()?;
    let (_init_pidfd, join, mnt) = open_namespaces(&saved)?;
    let cgroup = exec_cgroup(&saved, &holm_cgroups::SubCgroups::parse(&opts.cgroup)?)?;

    // Block signals before the children exist, so none is lost before the forwarding loop; the tenant unblocks
    // them all before exec.
    let old_mask = if opts.detach {
        None
    } else {
        Some(holm_sys::signal::set_mask(&holm_sys::signal::SigSet::all())?)
    };
    let restore = |m: &Option<holm_sys::signal::SigSet>| {
        if let Some(m) = m {
            let _ = holm_sys::signal::set_mask(m);
        }
    };
    // Into a paused container the process freezes as it joins the cgroup, and only `resume` (which takes the
    // container's lock) lets it go on: do not hold the lock while waiting for it. The pidfd opened above keeps
    // the init's identity checked.
    let locked = (status != Status::Paused).then_some(locked);
    let (pchan, cchan) = Channel::pair()?;
    let mut close = vec![pchan.raw()];
    close.extend(locked.as_ref().map(|l| l.dir_file().as_raw_fd()));
    let args = TenantArgs {
        process: &process,
        join,
        mnt,
        chan: cchan,
        close,
        console: match &console {
            Console::Socket(s) => Some(
                s.try_clone()
                    .map_err(|e| Error::io("dup", "console socket", e))?,
            ),
            Console::Relay(r) => Some(r.container_end()?),
            Console::None => None,
        },
        preserve_fds: opts.preserve_fds,
        runtime_pid: holm_sys::process::getpid(),
        seccomp,
        memory_policy: crate::sched::memory_policy(&saved.config)?,
    };
    let mut children = Children::default();
    let started = (|| {
        let c1 = match holm_sys::process::fork()? {
            Fork::Child => tenant::stage1(args),
            Fork::Parent(pid) => pid,
        };
        drop(args);
        children.stage1 = c1;
        drive(&saved, cgroup.as_ref(), &process, &pchan, c1, &mut children)
    })();
    let pid = match started {
        Ok(pid) => pid,
        Err(e) => {
            children.kill_and_reap();
            restore(&old_mask);
            return Err(e);
        }
    };
    drop(locked);
    if let Some(pf) = &opts.pid_file {
        if let Err(e) = crate::launch::write_pid_file(pf, pid) {
            if opts.detach {
                return Err(e);
            }
            let _ = holm_sys::process::kill(pid, libc::SIGKILL);
            let _ = holm_sys::process::waitpid(pid, 0);
            restore(&old_mask);
            return Err(e);
        }
    }
    if opts.detach {
        return Ok(0);
    }
    let relay = match console {
        Console::Relay(r) => Some(r),
        _ => None,
    };
    let code = wait_foreground(pid, relay);
    restore(&old_mask);
    code
}

/// The cgroup the exec'd process joins ([`holm_cgroups::Cgroup::for_exec`]): where the init is now when that is
/// inside the container's cgroup (in each hierarchy), else the container's cgroup; or the `--cgroup` sub-cgroup.
/// `None` for a container without a cgroup.
///
/// runc 1.1.5 joins the paths saved at create (its state.json) and runc 1.2 the top cgroup unless `--cgroup`
/// says otherwise (falling back to the init's on cgroup v2 only): following the init everywhere keeps the new
/// process under the same limits as the init when the init moved itself to a sub-cgroup, on v1 and hybrid too.
fn exec_cgroup(
    saved: &Saved,
    sub: &holm_cgroups::SubCgroups,
) -> Result<Option<holm_cgroups::Cgroup>> {
    let Some(cg) = &saved.cgroup else {
        if !sub.is_empty() {
            return Err(Error::Invalid(
                "exec: --cgroup: the container has no cgroup".into(),
            ));
        }
        return Ok(None);
    };
    // The init was verified (pidfd and start time) by `open_namespaces`; a path from a recycled pid would not
    // lie inside the container's cgroup and is ignored by `for_exec`.
    let path = format!("/proc/{}/cgroup", saved.pid);
    let text = std::fs::read_to_string(&path).map_err(|e| Error::io("read", &path, e))?;
    let init = holm_cgroups::parse_proc_cgroup(&text)?;
    Ok(Some(cg.for_exec(&init, sub)?))
}

/// The runtime's side of the tenant setup; returns the tenant's host pid once it has exec'd.
fn drive(
    saved: &Saved,
    cgroup: Option<&holm_cgroups::Cgroup>,
    process: &oci_spec::runtime::Process,
    chan: &Channel,
    c1: i32,
    children: &mut Children,
) -> Result<i32> {
    // Stage 1 joins the cgroup before it joins the cgroup namespace and forks: the tenant starts in it, so the
    // container's limits apply from its first instruction, and `kill --all` reaches it. Which cgroup: see
    // `exec_cgroup`.
    // execCPUAffinity: `initial` before the move into the cgroup, `final` after it (a v1 cpuset resets the affinity
    // on the move). Stage 1's children inherit it.
    crate::sched::apply_exec_affinity(c1, process, crate::sched::Affinity::Initial)?;
    if let Some(cg) = cgroup {
        cg.add_pid(c1)?;
    }
    crate::sched::apply_exec_affinity(c1, process, crate::sched::Affinity::Final)?;
    chan.send(&Msg::Go)?;
    let pid = chan.wait_init_pid()?;
    log::debug!("exec: stage-1 {c1} started the process (pid {pid})");
    children.tenant = pid;
    let (_, st) = holm_sys::process::waitpid(c1, 0)?;
    children.stage1 = 0;
    if st != holm_sys::process::WaitStatus::Exited(0) {
        return Err(Error::Init(format!(
            "exec: stage-1 process ended with {st:?}"
        )));
    }
    let listener = saved
        .config
        .linux()
        .as_ref()
        .and_then(|l| l.seccomp().as_ref());
    loop {
        let mut buf = vec![0u8; 64 * 1024];
        let (n, mut fds) = holm_sys::socket::recv_with_fds(chan.as_fd(), &mut buf)?;
        if n == 0 {
            // EOF: the tenant's end was closed by a successful execve (close-on-exec).
            return Ok(pid);
        }
        let m: Msg = serde_json::from_slice(&buf[..n])
            .map_err(|e| Error::Init(format!("sync channel: malformed message: {e}")))?;
        match m {
            Msg::Error(e) => {
                let _ = holm_sys::process::waitpid(pid, 0);
                children.tenant = 0;
                return Err(Error::Init(e));
            }
            Msg::SeccompFd if fds.len() == 1 => {
                let mut s = saved.clone();
                s.pid = pid;
                crate::launch::send_seccomp_fd(listener, &s, fds.remove(0))?;
            }
            m => {
                return Err(Error::Init(format!(
                    "sync channel: expected the exec or an error, got {m:?}"
                )))
            }
        }
    }
}

/// Waits for the tenant `pid` (our child), forwarding every signal the runtime gets to it and relaying its
/// terminal if `relay` is set; returns its exit code (128+N for signal N).
pub(crate) fn wait_foreground(pid: i32, mut relay: Option<Relay>) -> Result<i32> {
    let pidfd = holm_sys::process::pidfd_open(pid)?;
    let sfd = holm_sys::signal::signalfd(&holm_sys::signal::SigSet::all())?;
    if let Some(r) = &mut relay {
        r.start()?;
    }
    let code = (|| loop {
        let mut fds = vec![pidfd.as_fd(), sfd.as_fd()];
        if let Some(r) = &relay {
            fds.extend(r.poll_fds());
        }
        let ready = holm_sys::process::poll_any(&fds, -1)?;
        if let Some(r) = &mut relay {
            r.pump(&ready[2..])?;
        }
        if ready[1] {
            let sig = holm_sys::signal::read_signal(sfd.as_fd())?;
            match sig {
                libc::SIGCHLD => {}
                libc::SIGWINCH if relay.is_some() => {
                    if let Some(r) = &relay {
                        r.resize();
                    }
                }
                sig => {
                    let _ = holm_sys::process::pidfd_send_signal(pidfd.as_fd(), sig);
                }
            }
        }
        if ready[0] {
            let (_, st) = holm_sys::process::waitpid(pid, 0)?;
            if let Some(r) = &mut relay {
                r.drain();
            }
            return Ok(st.exit_code());
        }
    })();
    drop(relay);
    code
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> Spec {
        let mut s = Spec::default();
        let mut p = Process::default();
        p.set_env(Some(vec!["PATH=/bin".into(), "A=1".into()]));
        p.user_mut().set_additional_gids(Some(vec![10]));
        s.set_process(Some(p));
        s
    }

    #[test]
    fn flags_change_the_containers_process() {
        let o = ExecOptions {
            args: vec!["id".into()],
            env: vec!["A=2".into(), "B=3".into()],
            user: Some((1000, 100)),
            additional_gids: vec![20],
            caps: vec!["net_raw".into(), "CAP_SYS_ADMIN".into()],
            cwd: Some("/tmp".into()),
            no_new_privs: true,
            tty: true,
            ..Default::default()
        };
        let p = resolve_process(&config(), &o).unwrap();
        assert_eq!(p.args().as_deref(), Some(&["id".to_string()][..]));
        assert_eq!(
            p.env().as_deref().unwrap(),
            ["PATH=/bin", "A=2", "B=3"].map(String::from)
        );
        assert_eq!((p.user().uid(), p.user().gid()), (1000, 100));
        assert_eq!(p.user().additional_gids().as_deref(), Some(&[10, 20][..]));
        assert_eq!(p.cwd(), std::path::Path::new("/tmp"));
        assert_eq!(p.no_new_privileges(), Some(true));
        assert_eq!(p.terminal(), Some(true));
        let c = p.capabilities().as_ref().unwrap();
        for set in [c.bounding(), c.effective(), c.permitted()] {
            let set = set.as_ref().unwrap();
            assert!(set.contains(&Capability::NetRaw) && set.contains(&Capability::SysAdmin));
        }
        for set in [c.inheritable(), c.ambient()] {
            assert!(!set
                .as_ref()
                .is_some_and(|s| s.contains(&Capability::NetRaw)));
        }
    }

    #[test]
    fn process_file_is_used_as_is() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("p.json");
        std::fs::write(
            &f,
            r#"{"args":["sh"],"cwd":"/","user":{"uid":5,"gid":6,"additionalGids":[7]}}"#,
        )
        .unwrap();
        let o = ExecOptions {
            process_file: Some(f.clone()),
            args: vec!["ignored".into()],
            ..Default::default()
        };
        let p = resolve_process(&config(), &o).unwrap();
        assert_eq!(p.user().additional_gids().as_deref(), Some(&[7][..]));
        assert_eq!(p.args().as_deref(), Some(&["sh".to_string()][..]));
        std::fs::write(&f, r#"{"args":["sh"],"cwd":"/","user":{"uid":"x"}}"#).unwrap();
        let e = resolve_process(&config(), &o).unwrap_err().to_string();
        assert!(e.contains("p.json") && e.contains("user.uid"), "{e}");
    }

    #[test]
    fn parsers() {
        assert_eq!(parse_user("5").unwrap(), (5, 0));
        assert_eq!(parse_user("5:6").unwrap(), (5, 6));
        assert!(parse_user("root").is_err());
        assert_eq!(parse_capability("CAP_KILL").unwrap(), Capability::Kill);
        assert!(parse_capability("CAP_NOPE").is_err());
        assert!(resolve_process(&config(), &ExecOptions::default()).is_err());
    }
}
