//! The VM shim: the host process that owns one VM container (`holm-runtime vm-shim`, started by `create` with
//! fork+exec). It is what runc's init is for a process container on the host side:
//!
//! - it keeps the container's stdio (the fds `create` was given) and relays them to and from the guest's stdio
//!   port; its own fds 0-2 are then pointed at `/dev/null`, so nothing it prints mixes with the container's output
//!   (its diagnostics go to `shim.log` in the state directory);
//! - it is qemu's parent ([`crate::jail::spawn`]) and holds the [`crate::session`] to the agent;
//! - it serves the later verbs on [`crate::shim_api::SOCKET`];
//! - when the init exits it records the exit code ([`crate::shim_api::EXIT_STATUS`]), powers the VM off and exits
//!   with the same code (it is the pid `create --pid-file` names, so engines that wait for that pid get the
//!   container's exit code); when qemu dies instead, it records 128+signal and exits.
//!
//! Threads: the caller forks qemu first (single-threaded); only then the shim starts its threads: one owns the
//! control channel (requests from connections are handed to it, and it reads exit events when idle), one reads
//! the stdio port, one per open stdin, one per connection, one drains the guest console into `console.log`.

use crate::jail::Bind;
use crate::qemu::{Accel, Share, VmSize};
use crate::session::{self, Control, Stdio};
use crate::shim_api::{self, ShimReply, ShimRequest};
use holm_vm_proto::{CreateRequest, Writer, INIT_STREAM};
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::AsFd;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

mod boot;
mod pod_net;
mod relay;

/// How long the guest may take from qemu's start to the agent's `Ready` and the container's creation. TCG on a
/// loaded 2-core machine boots in seconds; this bound only catches a guest that never comes up.
pub const BOOT_TIMEOUT: Duration = Duration::from_secs(120);

/// The saved tap wirings (a JSON list of `holm_vm::net::TapWiring`, one per NIC; a single object from holm before
/// multi-NIC VMs) in the state directory, for `delete` to undo.
pub const NET_WIRING: &str = "net-wiring.json";

/// The file in the state directory that says how the VM started: `booted`, `booted, saved a snapshot`, or
/// `restored` (from a snapshot, [`crate::snapshot`]).
pub const BOOT_MODE: &str = "boot-mode";

/// At most this much of the guest console is kept in `console.log`.
pub const CONSOLE_LOG_MAX: u64 = 1 << 20;

/// Everything the shim needs to boot the VM, written by `create` to [`shim_api::LAUNCH`].
#[derive(Debug, Serialize, Deserialize)]
pub struct Launch {
    /// Container id.
    pub id: String,
    /// How qemu runs guest code.
    pub accel: Accel,
    /// Guest memory and vCPUs.
    pub size: VmSize,
    /// The guest kernel (host path).
    pub kernel: PathBuf,
    /// The initramfs holding the agent (host path).
    pub initrd: PathBuf,
    /// The kernel command line.
    pub append: String,
    /// 9p shares (jail paths).
    pub shares: Vec<Share>,
    /// Host directories bound into the jail for the shares.
    pub binds: Vec<Bind>,
    /// The agent's create request.
    pub request: CreateRequest,
    /// The VMM's cgroup (created and limited by `create`).
    pub cgroup: Option<holm_cgroups::Cgroup>,
    /// A network namespace to join (`linux.namespaces[].path`).
    pub netns_path: Option<PathBuf>,
    /// A new network namespace (a network namespace entry without a path).
    pub new_netns: bool,
    /// The interfaces of the network namespace stay in it: the guest gets only `lo` while the VMM still joins the
    /// namespace. Set for a CRI pod's sandbox (README "VM isolation under podman, dockerd and containerd": the
    /// pod's network goes to the VM of a container of the pod).
    #[serde(default)]
    pub keep_interfaces: bool,
    /// Snapshot boot ([`crate::snapshot`]): the template directory, or `None` to always boot the kernel.
    #[serde(default)]
    pub snapshot_dir: Option<PathBuf>,
}

/// The line the shim writes on its ready fd: the VMM's pid, or the error that stopped the boot.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReadyReport {
    /// The VM runs and the container is created in it.
    Ready {
        /// qemu's host pid.
        vmm_pid: i32,
    },
    /// The boot failed; nothing runs any more.
    Failed(String),
}

/// Runs the shim for the container whose state directory is `dir`; writes one [`ReadyReport`] JSON line on
/// `ready` and closes it; returns the process's exit code (the init's). Must be called single-threaded.
pub fn run(dir: &Path, ready: File) -> i32 {
    let log = File::options()
        .create(true)
        .append(true)
        .open(dir.join("shim.log"))
        .ok();
    let log = Arc::new(Mutex::new(log));
    let report = |r: &ReadyReport, mut f: File| {
        let mut line = serde_json::to_vec(r).unwrap_or_default();
        line.push(b'\n');
        let _ = f.write_all(&line);
    };
    match boot::boot(dir) {
        Err(e) => {
            report(&ReadyReport::Failed(e), ready);
            1
        }
        Ok(vm) => {
            let pid = vm.vmm;
            report(&ReadyReport::Ready { vmm_pid: pid }, ready);
            serve(dir, vm, log)
        }
    }
}

struct Vm {
    vmm: i32,
    control: Control<UnixStream, UnixStream>,
    ctl: UnixStream,
    stdio: UnixStream,
    listener: UnixListener,
    stdin: File,
    stdout: File,
    stderr: File,
    /// The init has a terminal (`process.terminal`): the shim's stdio is the peer of the pty whose master went to
    /// the console socket, and its window size is passed on to the guest's pty.
    terminal: bool,
}

fn kill_vmm(pid: i32) -> holm_sys::process::WaitStatus {
    let _ = holm_sys::process::kill(pid, libc::SIGKILL);
    holm_sys::process::waitpid(pid, 0)
        .map(|(_, s)| s)
        .unwrap_or(holm_sys::process::WaitStatus::Signaled(libc::SIGKILL))
}

/// A boot step's error as the user reads it: the control channel's read timeout ([`BOOT_TIMEOUT`]) says so
/// instead of the socket's "Resource temporarily unavailable".
pub(crate) fn boot_error(e: &crate::session::Error) -> String {
    if let crate::session::Error::Decode(holm_vm_proto::DecodeError::Io(io)) = e {
        if matches!(
            io.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        ) {
            return format!(
                "the guest did not answer within {} s (the boot is slow under TCG, slower still with a small CPU \
                 quota such as --cpus 0.01)",
                BOOT_TIMEOUT.as_secs()
            );
        }
    }
    e.to_string()
}

fn drain_console(mut con: UnixStream, dir: &Path) {
    let mut f = File::create(dir.join("console.log")).ok();
    let mut written = 0u64;
    let mut buf = [0u8; 8192];
    while let Ok(n) = con.read(&mut buf) {
        if n == 0 {
            break;
        }
        if written < CONSOLE_LOG_MAX {
            if let Some(f) = f.as_mut() {
                let _ = f.write_all(&buf[..n]);
            }
            written += n as u64;
        }
    }
}

type Job = Box<
    dyn FnOnce(&mut Control<UnixStream, UnixStream>) -> Result<ShimReply, session::Error> + Send,
>;

#[derive(Default)]
struct State {
    /// Output fds per stream (stdout, stderr).
    outputs: HashMap<u32, (Option<File>, Option<File>)>,
    /// Streams whose output ended.
    ended: HashSet<u32>,
    /// Exit codes per stream.
    exits: HashMap<u32, i32>,
    /// Guest pids of the started execs, by stream (for [`ShimRequest::KillExec`]).
    exec_pids: HashMap<u32, i32>,
    /// The VM is gone (no more requests can be served).
    vm_gone: bool,
    /// Connections accepted and not answered yet (an exit or exec waiter counts once more while it waits).
    waiting: usize,
    next_stream: u32,
}

struct Shared {
    dir: PathBuf,
    vmm: i32,
    state: Mutex<State>,
    cond: Condvar,
    jobs: Mutex<mpsc::Sender<(Job, mpsc::Sender<ShimReply>)>>,
    wake: Mutex<std::io::PipeWriter>,
    stdin_writer: Mutex<Writer<UnixStream>>,
    log: Arc<Mutex<Option<File>>>,
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn log(&self, msg: &str) {
        if let Some(f) = self.log.lock().unwrap_or_else(|p| p.into_inner()).as_mut() {
            let _ = writeln!(f, "{msg}");
        }
    }

    /// Runs `job` on the control thread and returns its reply.
    fn call(&self, job: Job) -> ShimReply {
        let (tx, rx) = mpsc::channel();
        let sent = self
            .jobs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .send((job, tx))
            .is_ok();
        if sent {
            let _ = self
                .wake
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .write_all(b"x");
        }
        rx.recv()
            .unwrap_or_else(|_| ShimReply::Error("the VM has ended".into()))
    }

    /// [`Shared::call`] that gives up after `limit` (a stuck VMM or guest agent never answers): `None` then. The
    /// job stays queued (or running) on the control thread.
    fn call_within(&self, job: Job, limit: Duration) -> Option<ShimReply> {
        let (tx, rx) = mpsc::channel();
        let sent = self
            .jobs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .send((job, tx))
            .is_ok();
        if !sent {
            return Some(ShimReply::Error("the VM has ended".into()));
        }
        let _ = self
            .wake
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .write_all(b"x");
        match rx.recv_timeout(limit) {
            Ok(r) => Some(r),
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                Some(ShimReply::Error("the VM has ended".into()))
            }
            Err(mpsc::RecvTimeoutError::Timeout) => None,
        }
    }

    /// Waits until `pred` holds on the state or `limit` passes; returns the guard.
    fn wait_for(
        &self,
        limit: Option<Duration>,
        pred: impl Fn(&State) -> bool,
    ) -> std::sync::MutexGuard<'_, State> {
        let deadline = limit.map(|l| Instant::now() + l);
        let mut g = self.lock();
        while !pred(&g) {
            match deadline {
                None => g = self.cond.wait(g).unwrap_or_else(|p| p.into_inner()),
                Some(d) => {
                    let now = Instant::now();
                    if now >= d {
                        break;
                    }
                    g = self
                        .cond
                        .wait_timeout(g, d - now)
                        .unwrap_or_else(|p| p.into_inner())
                        .0;
                }
            }
        }
        g
    }
}

fn serve(dir: &Path, vm: Vm, log: Arc<Mutex<Option<File>>>) -> i32 {
    let (tx, rx) = mpsc::channel();
    let (wake_r, wake_w) = match std::io::pipe() {
        Ok(p) => p,
        Err(_) => {
            kill_vmm(vm.vmm);
            return 1;
        }
    };
    let writer = match vm.stdio.try_clone() {
        Ok(w) => Writer::new(w),
        Err(_) => {
            kill_vmm(vm.vmm);
            return 1;
        }
    };
    let shared = Arc::new(Shared {
        dir: dir.to_path_buf(),
        vmm: vm.vmm,
        state: Mutex::new(State {
            next_stream: 1,
            ..State::default()
        }),
        cond: Condvar::new(),
        jobs: Mutex::new(tx),
        wake: Mutex::new(wake_w),
        stdin_writer: Mutex::new(writer),
        log,
    });
    shared
        .lock()
        .outputs
        .insert(INIT_STREAM, (Some(vm.stdout), Some(vm.stderr)));
    let streams = vm.control.streams();
    {
        let sh = shared.clone();
        let stdio = Stdio::new(vm.stdio, std::io::sink(), streams);
        std::thread::spawn(move || relay::stdio_thread(&sh, stdio));
    }
    if vm.terminal {
        if let Ok(peer) = vm.stdin.try_clone() {
            let sh = shared.clone();
            std::thread::spawn(move || relay::resize_thread(&sh, INIT_STREAM, peer, None));
        }
    }
    {
        let sh = shared.clone();
        let listener = vm.listener;
        let stdin = Mutex::new(Some(vm.stdin));
        let stdin = Arc::new(stdin);
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let (sh, stdin) = (sh.clone(), stdin.clone());
                // Counted from the accept: the shim does not exit while a request it accepted is unanswered (a
                // `start` whose container exits at once still gets its reply; before, the client could read
                // "the VM shim closed the connection" for a container that ran).
                sh.lock().waiting += 1;
                std::thread::spawn(move || {
                    handle_conn(&sh, conn, &stdin);
                    sh.lock().waiting -= 1;
                    sh.cond.notify_all();
                });
            }
        });
    }
    control_thread(&shared, vm.control, vm.ctl, wake_r, rx)
}

fn handle_conn(sh: &Arc<Shared>, conn: UnixStream, init_stdin: &Mutex<Option<File>>) {
    let (req, mut fds) = match shim_api::recv_request(&conn) {
        Ok(r) => r,
        Err(e) => {
            let _ = shim_api::send_reply(&conn, &ShimReply::Error(e.to_string()));
            return;
        }
    };
    let reply = match req {
        ShimRequest::Start => {
            let r = sh.call(Box::new(|c| c.start().map(|_| ShimReply::Ok)));
            if r == ShimReply::Ok {
                if let Some(f) = init_stdin.lock().unwrap_or_else(|p| p.into_inner()).take() {
                    let sh2 = sh.clone();
                    std::thread::spawn(move || relay::stdin_thread(&sh2, INIT_STREAM, f));
                }
            }
            r
        }
        ShimRequest::Kill { signal, all } => sh.call(Box::new(move |c| {
            c.signal(signal, all, None).map(|_| ShimReply::Ok)
        })),
        ShimRequest::KillExec { pid, signal } => {
            let stream = {
                let g = sh.lock();
                g.exec_pids
                    .iter()
                    .find(|(s, p)| **p == pid && !g.exits.contains_key(s))
                    .map(|(s, _)| *s)
            };
            match stream {
                Some(stream) => sh.call(Box::new(move |c| {
                    c.signal(signal, false, Some(stream)).map(|_| ShimReply::Ok)
                })),
                None => ShimReply::Error(format!("kill: no running exec has guest pid {pid}")),
            }
        }
        ShimRequest::Ps => sh.call(Box::new(|c| c.ps().map(ShimReply::Pids))),
        ShimRequest::PsTable => sh.call(Box::new(|c| {
            c.ps_rows()
                .map(|(pids, rows)| ShimReply::Table { pids, rows })
        })),
        ShimRequest::Update { resources } => sh.call(Box::new(move |c| {
            c.update(*resources).map(|_| ShimReply::Ok)
        })),
        ShimRequest::Wait => {
            sh.lock().waiting += 1;
            let g = sh.wait_for(None, |s| s.exits.contains_key(&INIT_STREAM) || s.vm_gone);
            let code = g.exits.get(&INIT_STREAM).copied();
            drop(g);
            let r = match code {
                Some(c) => ShimReply::Exited(c),
                None => ShimReply::Error("the VM ended".into()),
            };
            let _ = shim_api::send_reply(&conn, &r);
            sh.lock().waiting -= 1;
            sh.cond.notify_all();
            return;
        }
        ShimRequest::Exec { process } => {
            if fds.len() != 3 {
                let _ = shim_api::send_reply(
                    &conn,
                    &ShimReply::Error(format!("exec: expected 3 fds, got {}", fds.len())),
                );
                return;
            }
            let err = File::from(fds.pop().unwrap_or_else(|| unreachable!()));
            let out = File::from(fds.pop().unwrap_or_else(|| unreachable!()));
            let input = File::from(fds.pop().unwrap_or_else(|| unreachable!()));
            let stream = {
                let mut g = sh.lock();
                let s = g.next_stream;
                g.next_stream += 1;
                g.outputs.insert(s, (Some(out), Some(err)));
                g.waiting += 1;
                s
            };
            let terminal = process.terminal().unwrap_or(false);
            let mut process = process;
            // The guest's pty starts with the host pty's size: the resize relay only starts once the process runs,
            // and a process that reads its size at once (`stty size`, a shell's first line) saw 0x0 before.
            let size = if terminal {
                relay::take_host_size(&mut process, input.as_fd())
            } else {
                None
            };
            // A guest that does not start it in time (stuck VMM or agent) fails the exec and lets go of the caller's
            // stdio (a caller reading it to its end would wait for ever); a job still queued then is dropped.
            let cancelled = Arc::new(std::sync::atomic::AtomicBool::new(false));
            let flag = cancelled.clone();
            let r = sh
                .call_within(
                    Box::new(move |c| {
                        if flag.load(std::sync::atomic::Ordering::SeqCst) {
                            return Err(session::Error::Guest("exec: cancelled".into()));
                        }
                        c.exec(stream, *process).map(ShimReply::Pid)
                    }),
                    shim_api::EXEC_START_TIMEOUT,
                )
                .unwrap_or_else(|| {
                    cancelled.store(true, std::sync::atomic::Ordering::SeqCst);
                    let id = sh.dir.file_name().unwrap_or_default().to_string_lossy();
                    ShimReply::Error(format!(
                        "exec in {id}: the VM did not answer within {} s (its VMM or guest agent is stuck)",
                        shim_api::EXEC_START_TIMEOUT.as_secs()
                    ))
                });
            let started = matches!(r, ShimReply::Pid(_));
            if let ShimReply::Pid(pid) = r {
                sh.lock().exec_pids.insert(stream, pid);
            }
            let _ = shim_api::send_reply(&conn, &r);
            if started {
                // With a terminal the fds are the peer of the runtime's host pty: the guest's pty follows its size.
                if let (true, Ok(peer)) = (terminal, input.try_clone()) {
                    let sh2 = sh.clone();
                    std::thread::spawn(move || relay::resize_thread(&sh2, stream, peer, size));
                }
                let sh2 = sh.clone();
                std::thread::spawn(move || relay::stdin_thread(&sh2, stream, input));
                if let Ok(peer) = conn.try_clone() {
                    let sh2 = sh.clone();
                    std::thread::spawn(move || relay::hangup_thread(&sh2, stream, peer));
                }
                let g = sh.wait_for(None, |s| {
                    (s.exits.contains_key(&stream) && s.ended.contains(&stream)) || s.vm_gone
                });
                // The VM ended under the process (stop, kill, rm -f): it was killed with the guest, so its status
                // is SIGKILL's 137, as runc's exec reports when its container is killed.
                let r = match g.exits.get(&stream) {
                    Some(c) => ShimReply::Exited(*c),
                    None => ShimReply::Exited(128 + libc::SIGKILL),
                };
                drop(g);
                sh.lock().exec_pids.remove(&stream);
                let _ = shim_api::send_reply(&conn, &r);
            } else {
                sh.lock().outputs.remove(&stream);
            }
            sh.lock().waiting -= 1;
            sh.cond.notify_all();
            return;
        }
    };
    let _ = shim_api::send_reply(&conn, &reply);
}

fn control_thread(
    sh: &Arc<Shared>,
    mut control: Control<UnixStream, UnixStream>,
    ctl: UnixStream,
    mut wake: std::io::PipeReader,
    jobs: mpsc::Receiver<(Job, mpsc::Sender<ShimReply>)>,
) -> i32 {
    let mut failure: Option<String> = None;
    'main: loop {
        while let Some((s, st)) = control.take_queued_exit() {
            if on_exit(sh, &mut control, s, st.shell_code()) {
                break 'main;
            }
        }
        let ready = match holm_sys::process::poll_any(&[ctl.as_fd(), wake.as_fd()], -1) {
            Ok(r) => r,
            Err(e) => {
                failure = Some(format!("poll: {e}"));
                break;
            }
        };
        if ready.get(1) == Some(&true) {
            let mut b = [0u8; 64];
            let _ = wake.read(&mut b);
            while let Ok((job, reply)) = jobs.try_recv() {
                let r = match job(&mut control) {
                    Ok(r) => r,
                    Err(e) if e.is_violation() => {
                        let _ = reply.send(ShimReply::Error(e.to_string()));
                        failure = Some(e.to_string());
                        break 'main;
                    }
                    Err(e) => ShimReply::Error(e.to_string()),
                };
                let _ = reply.send(r);
            }
            continue;
        }
        if ready.first() == Some(&true) {
            match control.next_exit() {
                Ok((s, st)) => {
                    if on_exit(sh, &mut control, s, st.shell_code()) {
                        break;
                    }
                }
                Err(e) => {
                    failure = Some(e.to_string());
                    break;
                }
            }
        }
    }
    // The init exited (the VM was asked to power off) or the VM failed: make sure qemu is gone.
    let status = wait_vmm_gone(sh.vmm, failure.is_none());
    let code = {
        let mut g = sh.lock();
        if let Some(f) = &failure {
            sh.log(&format!("VM ended: {f} (qemu {status})"));
        }
        let code = *g
            .exits
            .entry(INIT_STREAM)
            .or_insert_with(|| status.exit_code().max(1));
        g.vm_gone = true;
        sh.cond.notify_all();
        code
    };
    let _ = shim_api::write_exit_status(&sh.dir, code);
    // No more jobs: a request that comes now is answered "the VM has ended" at once instead of waiting for a
    // control loop that is gone. Then let the accepted connections get their replies before the process ends.
    drop(jobs);
    drop(sh.wait_for(Some(Duration::from_secs(5)), |s| s.waiting == 0));
    let _ = std::fs::remove_file(sh.dir.join(shim_api::SOCKET));
    code
}

/// Records an exit; for the init, waits for its output to end, records the code and powers the VM off. Returns
/// true when the shim should finish.
fn on_exit(
    sh: &Shared,
    control: &mut Control<UnixStream, UnixStream>,
    stream: u32,
    code: i32,
) -> bool {
    let ooms = control.oom_kills();
    if ooms > 0 && ooms > shim_api::read_oom_kills(&sh.dir) {
        let _ = shim_api::write_oom_kills(&sh.dir, ooms);
    }
    if stream != INIT_STREAM {
        sh.lock().exits.insert(stream, code);
        sh.cond.notify_all();
        return false;
    }
    // The agent sends the output's end before the exit; the stdio thread may not have read it yet.
    drop(sh.wait_for(Some(Duration::from_secs(10)), |s| {
        s.ended.contains(&INIT_STREAM)
    }));
    let _ = shim_api::write_exit_status(&sh.dir, code);
    sh.lock().exits.insert(INIT_STREAM, code);
    sh.cond.notify_all();
    let _ = control.shutdown();
    true
}

/// Waits for qemu to exit (after a shutdown request, bounded; then SIGKILL), and reaps it.
fn wait_vmm_gone(pid: i32, graceful: bool) -> holm_sys::process::WaitStatus {
    if graceful {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            match holm_sys::process::waitpid(pid, libc::WNOHANG) {
                Ok((0, _)) => std::thread::sleep(Duration::from_millis(20)),
                Ok((_, s)) => return s,
                Err(_) => return holm_sys::process::WaitStatus::Exited(0),
            }
        }
    }
    let _ = holm_sys::process::kill(pid, libc::SIGKILL);
    holm_sys::process::waitpid(pid, 0)
        .map(|(_, s)| s)
        .unwrap_or(holm_sys::process::WaitStatus::Signaled(libc::SIGKILL))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_boot_timeout_is_named() {
        let io = std::io::Error::from(std::io::ErrorKind::WouldBlock);
        let e = crate::session::Error::Decode(holm_vm_proto::DecodeError::Io(io));
        assert_eq!(
            boot_error(&e),
            "the guest did not answer within 120 s (the boot is slow under TCG, slower still with a small CPU \
             quota such as --cpus 0.01)"
        );
        let other = crate::session::Error::Closed("control");
        assert_eq!(boot_error(&other), other.to_string());
    }
}
