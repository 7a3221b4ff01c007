//! The lifecycle verbs after `create` (runtime-spec `runtime.md#operations`, runc's command line): `start`,
//! `state`, `kill`, `delete`, `list`, and `run` (create + start + wait + delete).

use crate::hooks;
use crate::launch::{create, CreateOptions};
use crate::state::{self, Locked, OciState, Saved, Status, Store};
use crate::{Error, Result};
use std::fs::File;
use std::io::Read;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::time::{Duration, Instant};

fn bad_state(id: &str, status: Status, msg: &str) -> Error {
    Error::BadState {
        id: id.to_string(),
        status: status.to_string(),
        msg: msg.to_string(),
    }
}

/// A pidfd on the container init, opened only if the recorded pid still names the same process (start time).
fn init_pidfd(s: &Saved) -> Option<OwnedFd> {
    let fd = holm_sys::process::pidfd_open(s.pid).ok()?;
    // Checked after opening: if the start time still matches now, the pidfd refers to the init.
    s.init_alive().then_some(fd)
}

/// `start ID`: lets a `created` container run its process, then runs `poststart` hooks. Errors: not found; not
/// `created`; the init died before it could be started; a `poststart` hook failed (runtime-spec 1.3: "generate an
/// error, stop the container"; 1.2 said warn and carry on): the container's init is killed (SIGKILL) and the error
/// names the hook. `warn` is kept for callers' other warnings.
pub fn start(store: &Store, id: &str, _warn: &mut dyn FnMut(&Error)) -> Result<()> {
    let l = store.lock(id)?;
    let s = l.load()?;
    let status = l.status(&s);
    if status != Status::Created {
        return Err(bad_state(
            id,
            status,
            "cannot start a container that is not created",
        ));
    }
    // The pidfd first: opening the FIFO releases the init, whose process may exit (and become a zombie that
    // `init_pidfd` rejects) before a later check.
    let pidfd = init_pidfd(&s)
        .ok_or_else(|| bad_state(id, Status::Stopped, "the init exited before start"))?;
    let fifo_path = l.dir.join(state::EXEC_FIFO);
    let mut fifo = File::options()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(&fifo_path)
        .map_err(|e| Error::io("open", &fifo_path, e))?;
    loop {
        let ready = holm_sys::process::poll_any(&[fifo.as_fd(), pidfd.as_fd()], -1)?;
        if ready[0] {
            let mut b = [0u8; 1];
            match fifo.read(&mut b) {
                Ok(1) => break,
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(Error::io("read", &fifo_path, e)),
            }
        }
        if ready[1] {
            return Err(bad_state(
                id,
                Status::Stopped,
                "the init exited before start",
            ));
        }
    }
    log::debug!("start {id}: init {} released through exec.fifo", s.pid);
    std::fs::remove_file(&fifo_path).map_err(|e| Error::io("remove", &fifo_path, e))?;
    // The init holds its end until execve closes it: EOF means the process runs (runtime-spec: poststart hooks
    // come after that). Anything written before EOF says why it did not start (a startContainer hook, execve).
    let mut failure = Vec::new();
    loop {
        holm_sys::process::poll_any(&[fifo.as_fd()], -1)?;
        let mut buf = [0u8; 4096];
        match fifo.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => failure.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(Error::io("read", &fifo_path, e)),
        }
    }
    if !failure.is_empty() {
        return Err(Error::Init(format!(
            "container `{id}`: the process did not start: {}",
            String::from_utf8_lossy(&failure)
        )));
    }
    if let Some(h) = s
        .config
        .hooks()
        .as_ref()
        .and_then(|h| h.poststart().as_ref())
    {
        if let Err(e) = hooks::run_all("poststart", h, &s.hook_state(Status::Running).to_string()) {
            // Stop the container: kill its init through the pidfd opened above (never a recycled pid) and wait for
            // it to be gone, so `state` says stopped when this returns.
            let _ = holm_sys::process::pidfd_send_signal(pidfd.as_fd(), libc::SIGKILL);
            let _ = holm_sys::process::poll_readable(pidfd.as_fd(), 5000);
            return Err(Error::Init(format!(
                "container `{id}`: {e}; the container was stopped"
            )));
        }
    }
    Ok(())
}

/// `state ID`: the OCI state (runc's shape: ociVersion, id, pid, status, bundle, rootfs, created, owner,
/// annotations). Read without a lock; pid is 0 when stopped.
pub fn state(store: &Store, id: &str) -> Result<OciState> {
    store.read(id)
}

/// `list`: the state of every container, sorted by id. Unreadable entries (a create killed before its first
/// write) are skipped.
pub fn list(store: &Store) -> Result<Vec<OciState>> {
    Ok(store
        .ids()?
        .iter()
        .filter_map(|id| store.read(id).ok())
        .collect())
}

/// `kill [--all] ID SIGNAL`: signals the init through a pidfd (never a recycled pid), or with `all` every process
/// of the container's cgroup. Signal 0 only checks that the init exists (kill(2)). Errors: not found; the container
/// is stopped (without `all`).
///
/// With `all`, a stopped container is not an error, as in runc 1.1.5 (`Signal(s, all)`): whatever is left in its
/// cgroup (processes an `exec` left behind without a pid namespace) is signalled, and a cgroup that is already gone
/// or empty means there is nothing to do.
pub fn kill(store: &Store, id: &str, sig: i32, all: bool) -> Result<()> {
    let l = store.lock(id)?;
    let s = l.load()?;
    let status = l.status(&s);
    if matches!(status, Status::Stopped) {
        if !all {
            return Err(bad_state(id, status, "container not running"));
        }
        if let Some(cg) = &s.cgroup {
            for pid in own_pids(&s, cg.all_pids().unwrap_or_default()) {
                let _ = holm_sys::process::kill(pid, sig);
            }
        }
        return Ok(());
    }
    if all {
        if let Some(cg) = &s.cgroup {
            for pid in own_pids(&s, cg.all_pids()?) {
                let _ = holm_sys::process::kill(pid, sig);
            }
            crate::cgroup_verbs::thaw_after_kill(&s, status, sig);
            return Ok(());
        }
    }
    log::debug!(
        "kill {id}: signal {sig} to the init (pid {}, {status})",
        s.pid
    );
    let fd =
        init_pidfd(&s).ok_or_else(|| bad_state(id, Status::Stopped, "container not running"))?;
    holm_sys::process::pidfd_send_signal(fd.as_fd(), sig)?;
    crate::cgroup_verbs::thaw_after_kill(&s, status, sig);
    Ok(())
}

/// `delete [--force] ID`: removes a stopped (or created) container: its processes are gone, `poststop` hooks run
/// (failures passed to `warn`), the cgroup and state directory are removed. With `force` a running container is
/// killed first, and whatever a killed `create` left is cleaned up.
///
/// `force` on a container that does not exist succeeds and does nothing, as runc's `delete --force` (containerd's
/// shim calls it after every delete); without `force` that is [`Error::NotFound`].
pub fn delete(store: &Store, id: &str, force: bool, warn: &mut dyn FnMut(&Error)) -> Result<()> {
    let l = match store.lock(id) {
        Ok(l) => l,
        // An id that cannot name a container is still an error (runc: "invalid container ID format").
        Err(Error::NotFound(_)) if force && state::validate_id(id).is_ok() => {
            log::debug!("delete --force {id}: no such container, nothing to do");
            return Ok(());
        }
        Err(e) => return Err(state::validate_id(id).err().unwrap_or(e)),
    };
    let s = match l.load() {
        Ok(s) => s,
        // A create killed before it wrote anything: only the directory exists.
        Err(Error::NotFound(_)) if force => return l.remove(),
        Err(e) => return Err(e),
    };
    let status = l.status(&s);
    log::debug!("delete {id}: status {status}, force {force}");
    match status {
        Status::Stopped => {}
        Status::Created | Status::Creating => kill_all_and_wait(&s)?,
        Status::Running | Status::Paused if force => kill_all_and_wait(&s)?,
        _ => {
            return Err(bad_state(
                id,
                status,
                "cannot delete a container that is not stopped (use --force)",
            ))
        }
    }
    finish_delete(l, &s, warn)
}

/// The pids of `pids` that are the container's: all but those already in its cgroup before `create`.
fn own_pids(s: &Saved, pids: Vec<i32>) -> Vec<i32> {
    pids.into_iter()
        .filter(|p| !s.cgroup_foreign.contains(p))
        .collect()
}

fn finish_delete(l: Locked, s: &Saved, warn: &mut dyn FnMut(&Error)) -> Result<()> {
    if let Some(cg) = &s.cgroup {
        // Other processes may still live in the cgroup after the init died (no pid namespace, or setns'd ones).
        let pids = cg.all_pids().unwrap_or_default();
        for pid in own_pids(s, pids.clone()) {
            let _ = holm_sys::process::kill(pid, libc::SIGKILL);
        }
        // A cgroup that still holds processes from before `create` is theirs as much as ours: it stays.
        if own_pids(s, pids.clone()).len() == pids.len() {
            cg.remove()?;
        } else {
            log::debug!(
                "delete {}: cgroup kept, it holds processes from before create",
                s.id
            );
        }
    }
    if s.created_done {
        if let Some(h) = s
            .config
            .hooks()
            .as_ref()
            .and_then(|h| h.poststop().as_ref())
        {
            hooks::run_all_warn(
                "poststop",
                h,
                &s.hook_state(Status::Stopped).to_string(),
                warn,
            );
        }
    }
    l.remove()
}

fn kill_all_and_wait(s: &Saved) -> Result<()> {
    if let Some(fd) = init_pidfd(s) {
        let _ = holm_sys::process::pidfd_send_signal(fd.as_fd(), libc::SIGKILL);
        // A frozen (paused) process dies only once thawed.
        crate::cgroup_verbs::thaw_after_kill(s, Status::Paused, libc::SIGKILL);
        if !holm_sys::process::poll_readable(fd.as_fd(), 10_000)? {
            return Err(Error::Init(format!(
                "container `{}`: init (pid {}) did not die within 10 s of SIGKILL",
                s.id, s.pid
            )));
        }
    }
    if let Some(cg) = &s.cgroup {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let pids = own_pids(s, cg.all_pids().unwrap_or_default());
            if pids.is_empty() {
                break;
            }
            if Instant::now() > deadline {
                return Err(Error::Init(format!(
                    "container `{}`: processes {pids:?} survive SIGKILL",
                    s.id
                )));
            }
            for pid in pids {
                let _ = holm_sys::process::kill(pid, libc::SIGKILL);
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    Ok(())
}

/// Options of `run`.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// The create part.
    pub create: CreateOptions,
    /// `--detach`: return once the container runs.
    pub detach: bool,
    /// `--keep` (runc 1.2): in the foreground, leave the container `stopped` after its process exits instead of
    /// deleting it (its state, cgroup and `poststop` hooks wait for `delete`). A container whose start failed is
    /// still deleted, so nothing half-started is left.
    pub keep: bool,
}

/// `run`: create + start; in the foreground, forwards signals to the init, waits for it, deletes the container
/// (unless `keep`) and returns its exit code (128+N for signal N). Detached, returns 0 once it runs.
pub fn run(store: &Store, opts: &RunOptions, warn: &mut dyn FnMut(&Error)) -> Result<i32> {
    let id = &opts.create.id;
    // Block signals before the children exist, so none is lost between create and the forwarding loop; the
    // container init unblocks them all before exec.
    let old_mask = if opts.detach {
        None
    } else {
        Some(holm_sys::signal::set_mask(&holm_sys::signal::SigSet::all())?)
    };
    let restore = |m: Option<holm_sys::signal::SigSet>| {
        if let Some(m) = m {
            let _ = holm_sys::signal::set_mask(&m);
        }
    };
    // In the foreground, a terminal without --console-socket is relayed by the runtime itself (as runc does).
    let mut create_opts = opts.create.clone();
    let relay = match crate::console::relay_for_run(&create_opts, opts.detach) {
        Ok(Some((r, path))) => {
            create_opts.console_socket = Some(path);
            Some(r)
        }
        Ok(None) => None,
        Err(e) => {
            restore(old_mask);
            return Err(e);
        }
    };
    let pid = match create(store, &create_opts) {
        Ok(p) => p,
        Err(e) => {
            restore(old_mask);
            return Err(e);
        }
    };
    if let Err(e) = start(store, id, warn) {
        let _ = delete(store, id, true, &mut |_| {});
        let _ = holm_sys::process::waitpid(pid, libc::WNOHANG);
        restore(old_mask);
        return Err(e);
    }
    if opts.detach {
        return Ok(0);
    }
    let code = crate::exec::wait_foreground(pid, relay);
    restore(old_mask);
    let code = code?;
    if !opts.keep {
        delete(store, id, true, warn)?;
    }
    Ok(code)
}
