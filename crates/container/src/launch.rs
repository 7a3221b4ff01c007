//! `create` on the runtime side (process P): validate, record state, make the cgroup, fork stage 1, drive the sync
//! protocol ([`crate::channel`]) and the runtime-namespace hooks, and record `created`. Any failure kills the
//! children and removes the cgroup and state directory: nothing is left behind.

use crate::channel::{Channel, Msg};
use crate::hooks;
use crate::init::{self, InitArgs};
use crate::spec::{self, clone_flag, Bundle};
use crate::stages::JoinNs;
use crate::state::{self, Locked, Saved, Status, Store};
use crate::{Error, Result};
use holm_sys::process::Fork;
use oci_spec::runtime::LinuxNamespaceType;
use std::fs::File;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;

/// Options of `create` (runc's flags).
#[derive(Debug, Clone, Default)]
pub struct CreateOptions {
    /// Container id.
    pub id: String,
    /// Bundle directory (`--bundle`, default: the current directory).
    pub bundle: PathBuf,
    /// `--pid-file`: where to write the init's pid.
    pub pid_file: Option<PathBuf>,
    /// `--console-socket`: a Unix socket that receives the pty master when `process.terminal` is true.
    pub console_socket: Option<PathBuf>,
    /// `--no-pivot`.
    pub no_pivot: bool,
    /// `--preserve-fds N`.
    pub preserve_fds: i32,
}

/// Creates the container `opts.id` from its bundle and returns the init's host pid. The init is a child of the
/// calling process (so [`crate::run`] can wait for it) and waits on `exec.fifo` for `start`.
///
/// Errors: [`Error::Config`] for an invalid bundle (before anything is created), [`Error::Exists`], and any setup
/// failure of the children or hooks, after full cleanup.
pub fn create(store: &Store, opts: &CreateOptions) -> Result<i32> {
    let bundle = spec::load(&opts.bundle)?;
    log::debug!(
        "create {}: bundle {} (config.json valid)",
        opts.id,
        bundle.dir.display()
    );
    let process = bundle
        .spec
        .process()
        .as_ref()
        .ok_or_else(|| Error::config("process", "missing"))?;
    let console = match (process.terminal().unwrap_or(false), &opts.console_socket) {
        (true, None) => {
            return Err(Error::config(
                "process.terminal",
                "a terminal was requested but no --console-socket was given",
            ))
        }
        (true, Some(p)) => Some(
            std::os::unix::net::UnixStream::connect(p)
                .map_err(|e| Error::io("connect to console socket", p, e))?,
        ),
        (false, _) => None,
    };
    let linux = bundle
        .spec
        .linux()
        .as_ref()
        .ok_or_else(|| Error::config("linux", "missing"))?;
    let mut join = Vec::new();
    let mut new_flags = 0;
    let mut new_userns = false;
    for (i, ns) in linux.namespaces().iter().flatten().enumerate() {
        match ns.path() {
            Some(p) => {
                let fd: OwnedFd = File::open(p)
                    .map_err(|e| {
                        Error::config(
                            format!("linux.namespaces[{i}].path"),
                            format!("`{}`: {e}", p.display()),
                        )
                    })?
                    .into();
                join.push(JoinNs {
                    flag: clone_flag(ns.typ()),
                    fd,
                    path: p.display().to_string(),
                    field: Some(format!("linux.namespaces[{i}].path")),
                });
            }
            None if ns.typ() == LinuxNamespaceType::User => new_userns = true,
            None => new_flags |= clone_flag(ns.typ()),
        }
    }

    crate::sysctl::validate(&bundle.spec)?;
    crate::lsm::validate(process)?;
    // Compiled before anything is created, so a malformed profile leaves nothing behind.
    let seccomp = linux
        .seccomp()
        .as_ref()
        .map(crate::seccomp::compile)
        .transpose()?;
    crate::netdev::check_present(&bundle.spec)?;
    // Id-mapped mount trees are made here, with the runtime's privileges in the host's namespaces.
    let idmapped = crate::idmap::prepare(&bundle)?;
    let locked = store.create(&opts.id)?;
    let mut saved = Saved {
        oci_version: crate::features::OCI_VERSION_MAX.into(),
        id: opts.id.clone(),
        pid: 0,
        pid_start: 0,
        bundle: bundle.dir.clone(),
        rootfs: bundle.rootfs.clone(),
        created: state::rfc3339(std::time::SystemTime::now()),
        owner: owner_name(),
        annotations: bundle
            .spec
            .annotations()
            .clone()
            .unwrap_or_default()
            .into_iter()
            .collect(),
        created_done: false,
        cgroup: None,
        cgroup_foreign: Vec::new(),
        config: bundle.spec.clone(),
    };
    let mut children = Children::default();
    // The runtime's end of the sync channel, kept for the failure path: what a dead child said last.
    let mut chan: Option<Channel> = None;
    let r = (|| {
        let hier = holm_cgroups::Hierarchies::detect()?;
        let cg_path = linux
            .cgroups_path()
            .as_ref()
            .map(|p| p.to_string_lossy().into_owned());
        let cg = holm_cgroups::Cgroup::resolve(&hier, cg_path.as_deref(), &opts.id)?;
        // An existing cgroup should be free. One that holds processes is used anyway with a warning, as runc 1.1
        // does; those processes are recorded so that `delete` and `kill --all` leave them alone. A frozen one is
        // refused before the cgroup is recorded, so the failure cleanup leaves it alone.
        saved.cgroup_foreign = foreign_pids(&cg);
        if !saved.cgroup_foreign.is_empty() {
            log::warn!(
                "container `{}`: its cgroup is not empty: {} process(es) {:?} found; they are left alone",
                opts.id,
                saved.cgroup_foreign.len(),
                saved.cgroup_foreign
            );
        }
        check_not_frozen(&cg)?;
        // Record the cgroup before creating it, so `delete --force` can remove it after a killed create (and
        // kill what runs in it; the children of a killed create also die by PR_SET_PDEATHSIG).
        saved.cgroup = Some(cg.clone());
        locked.save(&saved)?;
        cg.create()?;
        log::debug!(
            "create {}: cgroup created: {:?}",
            opts.id,
            cg.dirs().map(|(_, p)| p).collect::<Vec<_>>()
        );
        // A frozen parent freezes the new cgroup too: stage 1 would hang in it, unkillable.
        check_not_frozen(&cg)?;
        // Limits are in place before stage 1 joins the cgroup.
        crate::resources::apply_at_create(&cg, linux)?;
        holm_sys::fs::mkfifoat(
            locked.dir_file().as_fd(),
            std::path::Path::new(state::EXEC_FIFO),
            // Written by the init after it switched to the container's user, through a reopened O_PATH fd; the
            // state directory itself stays 0700.
            0o622,
        )?;
        holm_sys::fs::fchmodat(
            locked.dir_file().as_fd(),
            std::path::Path::new(state::EXEC_FIFO),
            0o622,
        )?;
        let exec_fifo = File::from(holm_sys::fs::openat2(
            locked.dir_file().as_fd(),
            std::path::Path::new(state::EXEC_FIFO),
            libc::O_PATH,
            0,
            holm_sys::fs::resolve::BENEATH,
        )?);
        let (pchan, cchan) = Channel::pair()?;
        let pchan = chan.insert(pchan);
        let runtime_pid = holm_sys::process::getpid();
        let args = InitArgs {
            bundle: &bundle,
            cgroup: Some(&cg),
            join,
            new_flags,
            new_userns,
            chan: cchan,
            lock_fd: locked.dir_file().as_raw_fd(),
            parent_chan_fd: pchan.raw(),
            exec_fifo,
            console,
            no_pivot: opts.no_pivot,
            preserve_fds: opts.preserve_fds,
            runtime_pid,
            seccomp,
            idmapped,
        };
        let c1 = match holm_sys::process::fork()? {
            Fork::Child => init::stage1(args),
            Fork::Parent(pid) => pid,
        };
        drop(args);
        log::debug!("create {}: stage-1 forked (pid {c1})", opts.id);
        children.stage1 = c1;
        drive(
            &locked,
            &mut saved,
            &bundle,
            &cg,
            pchan,
            c1,
            new_userns,
            &mut children,
        )?;
        if let Some(pf) = &opts.pid_file {
            write_pid_file(pf, saved.pid)?;
        }
        pchan.send(&Msg::Ack)?;
        pchan.wait_released()?;
        log::debug!(
            "create {}: created, init pid {} waits for start",
            opts.id,
            saved.pid
        );
        Ok(saved.pid)
    })();
    match r {
        Ok(pid) => Ok(pid),
        Err(e) => {
            log::debug!("create {}: failed, cleaning up: {e}", opts.id);
            let e = match (e, &chan) {
                (Error::PeerGone { during }, Some(ch)) => children.explain_death(&during, ch),
                (e, _) => e,
            };
            children.kill_and_reap();
            if let Some(cg) = &saved.cgroup {
                let _ = cg.remove();
            }
            let _ = locked.remove();
            Err(e)
        }
    }
}

/// The processes already in an existing cgroup (in it or in its child cgroups); none for a cgroup that does not
/// exist yet.
fn foreign_pids(cg: &holm_cgroups::Cgroup) -> Vec<i32> {
    cg.all_pids().unwrap_or_default()
}

/// Refuses a frozen cgroup, as runc does ("container's cgroup unexpectedly frozen"): the container's processes
/// would hang in it.
fn check_not_frozen(cg: &holm_cgroups::Cgroup) -> Result<()> {
    let field = "linux.cgroupsPath";
    if cg.is_paused() {
        return Err(Error::config(
            field,
            "the container's cgroup is frozen (thaw it, or use another cgroup)",
        ));
    }
    Ok(())
}

#[derive(Default)]
struct Children {
    stage1: i32,
    init: i32,
}

impl Children {
    /// Turns "the peer closed the channel" into how the child ended: waits (up to 2 s) for the init, or for stage 1
    /// before the init exists, to exit and says `container init was killed by signal 9 (SIGKILL) while the runtime
    /// was waiting for Created`, with the last error message it sent, if any. The child is reaped (and forgotten,
    /// so [`Children::kill_and_reap`] does not signal a recycled pid).
    fn explain_death(&mut self, during: &str, chan: &Channel) -> Error {
        let (who, pid) = if self.init > 0 {
            ("container init", &mut self.init)
        } else {
            ("container setup process (stage 1)", &mut self.stage1)
        };
        if *pid <= 0 {
            return Error::PeerGone {
                during: during.to_string(),
            };
        }
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
        let how = loop {
            match holm_sys::process::waitpid(*pid, libc::WNOHANG) {
                Ok((_, holm_sys::process::WaitStatus::StillAlive))
                    if std::time::Instant::now() < deadline =>
                {
                    std::thread::sleep(std::time::Duration::from_millis(5));
                }
                Ok((_, st)) if st != holm_sys::process::WaitStatus::StillAlive => {
                    *pid = 0;
                    break st.to_string();
                }
                // Alive past the deadline (it closed the channel but did not exit) or not our child.
                _ => break "closed the sync channel".to_string(),
            }
        };
        let last = if *pid == 0 {
            chan.pending_error()
                .map(|m| format!(": {m}"))
                .unwrap_or_default()
        } else {
            String::new()
        };
        Error::Init(format!("{who} {how} while the runtime was {during}{last}"))
    }

    fn kill_and_reap(&self) {
        for pid in [self.init, self.stage1] {
            if pid > 0 {
                let _ = holm_sys::process::kill(pid, libc::SIGKILL);
                let _ = holm_sys::process::waitpid(pid, 0);
            }
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn drive(
    locked: &Locked,
    saved: &mut Saved,
    bundle: &Bundle,
    cg: &holm_cgroups::Cgroup,
    chan: &Channel,
    c1: i32,
    new_userns: bool,
    children: &mut Children,
) -> Result<()> {
    // Stage 1 joins the cgroup before it unshares the cgroup namespace.
    cg.add_pid(c1)?;
    chan.send(&Msg::Go)?;
    if new_userns {
        chan.wait_userns_ready()?;
        write_id_maps(c1, bundle)?;
        chan.send(&Msg::MapsWritten)?;
    }
    let pid = chan.wait_init_pid()?;
    log::debug!("stage-1 started the init (pid {pid})");
    children.init = pid;
    let (_, st) = holm_sys::process::waitpid(c1, 0)?;
    children.stage1 = 0;
    if st != holm_sys::process::WaitStatus::Exited(0) {
        return Err(Error::Init(format!(
            "container setup process (stage 1) {st} after it started the init"
        )));
    }
    saved.pid = pid;
    if let Some(linux) = linux_of(bundle) {
        crate::resources::apply_pids_after_fork(cg, linux)?;
    }
    // The network namespace exists now: move linux.netDevices in before the hooks (CNI-style) run.
    crate::netdev::move_all(&bundle.spec, pid)?;
    let Some(pid_start) = state::proc_start_time(pid) else {
        // The init already ended: its reason (if it sent one) is waiting on the channel; the failure path says how
        // it ended.
        chan.wait_mounts_ready()?;
        return Err(Error::PeerGone {
            during: "reading the init's start time".into(),
        });
    };
    saved.pid_start = pid_start;
    // The init opens exec.fifo as the container's root, which in a user namespace is another host uid.
    if let Some((uid, gid)) = root_host_ids(pid).filter(|ids| *ids != (0, 0)) {
        let fifo = std::path::Path::new(state::EXEC_FIFO);
        holm_sys::fs::fchownat(locked.dir_file().as_fd(), fifo, uid, gid)?;
    }
    if let Some(adj) = bundle
        .spec
        .process()
        .as_ref()
        .and_then(|p| p.oom_score_adj())
    {
        let path = format!("/proc/{pid}/oom_score_adj");
        std::fs::write(&path, adj.to_string())
            .map_err(|e| Error::config("process.oomScoreAdj", format!("write {path}: {e}")))?;
    }
    chan.wait_mounts_ready()?;
    log::debug!("init {pid}: mounts ready; running prestart and createRuntime hooks");
    let st = saved.hook_state(Status::Creating).to_string();
    if let Some(h) = bundle.spec.hooks().as_ref() {
        #[allow(deprecated)]
        if let Some(list) = h.prestart() {
            hooks::run_all("prestart", list, &st)?;
        }
        if let Some(list) = h.create_runtime() {
            hooks::run_all("createRuntime", list, &st)?;
        }
    }
    // Without `annotations`, which the init restores from its own copy of the spec: they can be far larger than
    // one message on the channel (a 64 KiB annotation is legal and common enough).
    let mut for_init = saved.hook_state(Status::Creating);
    if let Some(o) = for_init.as_object_mut() {
        o.remove("annotations");
    }
    chan.send(&Msg::HooksDone(for_init.to_string()))?;
    let listener = linux_of(bundle).and_then(|l| l.seccomp().as_ref());
    chan.wait_created_forwarding(&mut |fd| send_seccomp_fd(listener, saved, fd))?;
    saved.created_done = true;
    locked.save(saved)
}

/// Writes `/proc/PID/uid_map` and `gid_map` from `linux.uidMappings`/`gidMappings` (one write each, as the kernel
/// requires; user_namespaces(7)).
fn write_id_maps(pid: i32, bundle: &Bundle) -> Result<()> {
    let linux = bundle
        .spec
        .linux()
        .as_ref()
        .ok_or_else(|| Error::config("linux", "missing"))?;
    for (file, field, maps) in [
        ("uid_map", "linux.uidMappings", linux.uid_mappings()),
        ("gid_map", "linux.gidMappings", linux.gid_mappings()),
    ] {
        let text: String = maps
            .iter()
            .flatten()
            .map(|m| format!("{} {} {}\n", m.container_id(), m.host_id(), m.size()))
            .collect();
        let path = format!("/proc/{pid}/{file}");
        std::fs::write(&path, text)
            .map_err(|e| Error::config(field, format!("write {path}: {e}")))?;
    }
    Ok(())
}

/// The host uid and gid that uid/gid 0 of `pid`'s user namespace map to (`/proc/PID/uid_map`, `gid_map`).
fn root_host_ids(pid: i32) -> Option<(u32, u32)> {
    let host_of_0 = |file: &str| -> Option<u32> {
        let text = std::fs::read_to_string(format!("/proc/{pid}/{file}")).ok()?;
        text.lines().find_map(|l| {
            let f: Vec<u64> = l
                .split_whitespace()
                .filter_map(|n| n.parse().ok())
                .collect();
            (f.len() == 3 && f[0] == 0 && f[2] > 0).then(|| f[1] as u32)
        })
    };
    Some((host_of_0("uid_map")?, host_of_0("gid_map")?))
}

fn linux_of(b: &Bundle) -> Option<&oci_spec::runtime::Linux> {
    b.spec.linux().as_ref()
}

/// Hands the seccomp notify fd to the agent at `linux.seccomp.listenerPath`, as runc does: one message whose data
/// is the container process state JSON (runtime-spec `runtime.md#state`, `ContainerProcessState`: ociVersion,
/// fds `["seccompFd"]`, pid, metadata, state) with the fd attached by `SCM_RIGHTS`.
pub(crate) fn send_seccomp_fd(
    s: Option<&oci_spec::runtime::LinuxSeccomp>,
    saved: &Saved,
    fd: OwnedFd,
) -> Result<()> {
    let s = s.ok_or_else(|| Error::Init("seccomp notify fd without a profile".into()))?;
    let path = s
        .listener_path()
        .as_ref()
        .ok_or_else(|| Error::config("linux.seccomp.listenerPath", "missing"))?;
    let sock = std::os::unix::net::UnixStream::connect(path).map_err(|e| {
        Error::config(
            "linux.seccomp.listenerPath",
            format!("connect `{}`: {e}", path.display()),
        )
    })?;
    let msg = serde_json::json!({
        "ociVersion": saved.oci_version,
        "fds": ["seccompFd"],
        "pid": saved.pid,
        "metadata": s.listener_metadata().clone().unwrap_or_default(),
        "state": saved.hook_state(Status::Creating),
    });
    holm_sys::socket::send_with_fds(sock.as_fd(), msg.to_string().as_bytes(), &[fd.as_fd()])?;
    Ok(())
}

/// Writes the pid file atomically (temp + rename), as runc does. The temp file `.<name>.tmp` is created anew
/// (`O_EXCL | O_NOFOLLOW`, after removing whatever has that name), so a symlink planted there cannot redirect the
/// write to another file.
pub(crate) fn write_pid_file(path: &std::path::Path, pid: i32) -> Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(std::path::Path::new("."));
    let name = path.file_name().ok_or_else(|| {
        Error::Invalid(format!("--pid-file `{}`: not a file name", path.display()))
    })?;
    let tmp = dir.join(format!(".{}.tmp", name.to_string_lossy()));
    let write = || -> std::io::Result<()> {
        use std::io::Write;
        match std::fs::remove_file(&tmp) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
        std::fs::File::options()
            .write(true)
            .create_new(true)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&tmp)?
            .write_all(pid.to_string().as_bytes())
    };
    write().map_err(|e| Error::io("write pid file", &tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        Error::io("write pid file", path, e)
    })
}

fn owner_name() -> String {
    match holm_sys::process::geteuid() {
        0 => "root".into(),
        uid => uid.to_string(),
    }
}
