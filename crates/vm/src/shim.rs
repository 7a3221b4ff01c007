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

use crate::jail::{self, Bind, JailSpec, NetNs};
use crate::qemu::{Accel, QemuBuilder, Share, VmSize};
use crate::session::{self, Control, Stdio};
use crate::shim_api::{self, ShimReply, ShimRequest};
use holm_vm_proto::{CreateRequest, Writer, INIT_STREAM};
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

mod pod_net;
mod relay;

/// How long the guest may take from qemu's start to the agent's `Ready` and the container's creation. TCG on a
/// loaded 2-core machine boots in seconds; this bound only catches a guest that never comes up.
pub const BOOT_TIMEOUT: Duration = Duration::from_secs(120);

/// The saved tap wirings (a JSON list of `holm_vm::net::TapWiring`, one per NIC; a single object from holm before
/// multi-NIC VMs) in the state directory, for `delete` to undo.
pub const NET_WIRING: &str = "net-wiring.json";

/// Bytes of host randomness each `Create` carries ([`CreateRequest::entropy`]).
const ENTROPY_BYTES: usize = 64;

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
    match boot(dir) {
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

/// Ends qemu after a failed boot and says how it ended when it did so by itself (e.g. the guest rebooted after a
/// panic, or a signal killed it): it gets up to 1 s to exit after closing its channels, then SIGKILL.
fn vmm_end(pid: i32) -> String {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(1);
    loop {
        match holm_sys::process::waitpid(pid, libc::WNOHANG) {
            Ok((_, holm_sys::process::WaitStatus::StillAlive)) => {}
            Ok((_, st)) => return format!(" (qemu {st})"),
            Err(_) => return String::new(),
        }
        if std::time::Instant::now() >= deadline {
            kill_vmm(pid);
            return String::new();
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// The last lines of the guest console, for boot errors.
/// A boot step's error as the user reads it: the control channel's read timeout ([`BOOT_TIMEOUT`]) says so
/// instead of the socket's "Resource temporarily unavailable".
fn boot_error(e: &crate::session::Error) -> String {
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

fn console_tail(dir: &Path) -> String {
    let text = std::fs::read_to_string(dir.join("console.log")).unwrap_or_default();
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let tail = lines[lines.len().saturating_sub(5)..].join(" | ");
    if tail.is_empty() {
        String::new()
    } else {
        format!(" (guest console: {tail})")
    }
}

/// Whether `f` (an open network namespace) is the one this process runs in: a container told to join its
/// caller's namespace, e.g. a CRI pod on the node's network whose sandbox is itself a VM (the containers join
/// `/proc/<sandbox shim>/ns/net`, the host's). Its interfaces are the host's own: none is handed to the guest,
/// which gets only `lo`, as without a network namespace entry.
fn is_own_netns(f: &File) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (f.metadata(), std::fs::metadata("/proc/self/ns/net")) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

fn boot(dir: &Path) -> Result<Vm, String> {
    let path = dir.join(shim_api::LAUNCH);
    let text = std::fs::read(&path).map_err(|e| format!("read {}: {e}", path.display()))?;
    let l: Launch =
        serde_json::from_slice(&text).map_err(|e| format!("parse {}: {e}", path.display()))?;
    let netns_file = match &l.netns_path {
        Some(p) => {
            Some(File::open(p).map_err(|e| format!("network namespace {}: {e}", p.display()))?)
        }
        None => None,
    };
    let pair = || UnixStream::pair().map_err(|e| format!("socketpair: {e}"));
    let (ctl, ctl_q) = pair()?;
    let (stdio, stdio_q) = pair()?;
    let (console, console_q) = pair()?;
    let mut b = QemuBuilder::new(l.accel, l.size, "/vm/kernel")
        .initrd("/vm/initrd")
        .append(l.append.clone())
        .console(OwnedFd::from(console_q))
        .serial_port(holm_vm_proto::CONTROL_PORT, OwnedFd::from(ctl_q))
        .map_err(|e| e.to_string())?
        .serial_port(holm_vm_proto::STDIO_PORT, OwnedFd::from(stdio_q))
        .map_err(|e| e.to_string())?;
    crate::qemu::check_devices(0, l.shares.len()).map_err(|e| e.to_string())?;
    for s in &l.shares {
        b = b.share(s.clone()).map_err(|e| e.to_string())?;
    }
    // The network: each interface of the container's (existing) namespace moves to the guest through its own tap
    // (net::wire_all; eth0 first). A namespace without one (`--network none`, or a new empty namespace) gives the guest only lo.
    let mut request = l.request;
    let terminal = request
        .config
        .process()
        .as_ref()
        .and_then(|p| p.terminal())
        .unwrap_or(false);
    if let Some(f) = netns_file
        .as_ref()
        .filter(|f| !l.keep_interfaces && !is_own_netns(f))
    {
        let wired = crate::net::wire_all(f.as_fd()).map_err(|e| match e {
            crate::net::NetError::Taken(i) => pod_net::taken(dir, f, &i),
            e => format!("VM network: {e}"),
        })?;
        let wirings: Vec<_> = wired.iter().map(|(w, _)| w.clone()).collect();
        // All of them counted in the message (not only up to the device that does not fit).
        if let Err(e) = crate::qemu::check_devices(wired.len(), l.shares.len()) {
            let _ = crate::net::unwire_all(f.as_fd(), &wirings);
            return Err(e.to_string());
        }
        let path = dir.join(NET_WIRING);
        if let Err(e) = std::fs::write(&path, serde_json::to_vec(&wirings).unwrap_or_default()) {
            let _ = crate::net::unwire_all(f.as_fd(), &wirings);
            return Err(format!("write {}: {e}", path.display()));
        }
        for (w, tap) in wired {
            b = b.nic(tap, &w.network.mac).map_err(|e| e.to_string())?;
            request.networks.push(w.network.to_proto());
        }
    }
    let mut binds = vec![
        Bind {
            host: l.kernel.clone(),
            jail: "/vm/kernel".into(),
            readonly: true,
        },
        Bind {
            host: l.initrd.clone(),
            jail: "/vm/initrd".into(),
            readonly: true,
        },
    ];
    binds.extend(l.binds.iter().cloned());
    let root = dir.join("jail");
    std::fs::create_dir_all(&root).map_err(|e| format!("create {}: {e}", root.display()))?;
    let vmm_log = File::create(dir.join("vmm.log")).map_err(|e| format!("vmm.log: {e}"))?;
    // The container's stdio: kept for the init's relay; the shim's own 0-2 become /dev/null.
    let dup = |fd| {
        holm_sys::fs::dup_raw(fd)
            .map(File::from)
            .map_err(|e| e.to_string())
    };
    let (stdin, stdout, stderr) = (dup(0)?, dup(1)?, dup(2)?);
    let devnull = File::options()
        .read(true)
        .write(true)
        .open("/dev/null")
        .map_err(|e| format!("/dev/null: {e}"))?;
    for fd in 0..3 {
        holm_sys::fs::dup_onto(devnull.as_fd(), fd).map_err(|e| e.to_string())?;
    }
    let vmm = jail::spawn(JailSpec {
        qemu: b.build(),
        root,
        binds,
        kvm: l.accel == Accel::Kvm,
        netns: match (&netns_file, l.new_netns) {
            (Some(f), _) => NetNs::Join(f.as_fd()),
            (None, true) => NetNs::New,
            (None, false) => NetNs::Inherit,
        },
        cgroup: l.cgroup.as_ref(),
        stderr: Some(vmm_log.as_fd()),
    })
    .map_err(|e| e.to_string())?
    .pid;
    // From here on threads are allowed: nothing forks any more.
    let con_dir = dir.to_path_buf();
    let console_thread = std::thread::spawn(move || drain_console(console, &con_dir));
    let console_thread = std::cell::Cell::new(Some(console_thread));
    let fail = |what: &str, e: &dyn std::fmt::Display| {
        let qemu = vmm_end(vmm);
        // qemu is gone, so the console reaches its end: let its last lines land in console.log first.
        if let Some(t) = console_thread.take() {
            let _ = t.join();
        }
        let vlog = std::fs::read_to_string(dir.join("vmm.log")).unwrap_or_default();
        let vlog = vlog.trim();
        let vlog = if vlog.is_empty() {
            String::new()
        } else {
            format!(" (qemu: {vlog})")
        };
        format!("VM: {what}: {e}{qemu}{vlog}{}", console_tail(dir))
    };
    let clone = |s: &UnixStream| s.try_clone().map_err(|e| format!("dup socket: {e}"));
    let mut control = Control::new(clone(&ctl)?, clone(&ctl)?);
    ctl.set_read_timeout(Some(BOOT_TIMEOUT))
        .map_err(|e| e.to_string())?;
    control
        .wait_ready()
        .map_err(|e| fail("waiting for the guest agent", &boot_error(&e)))?;
    // Fresh host randomness and the host's clock for the guest (holm_vm_proto::CreateRequest::entropy): the agent
    // reseeds the guest's CRNG with them and sets its wall clock before anything else.
    let mut entropy = vec![0u8; ENTROPY_BYTES];
    holm_sys::random::getrandom(&mut entropy).map_err(|e| fail("host randomness", &e))?;
    request.entropy = entropy;
    request.realtime_ns = Some(holm_sys::random::realtime_ns());
    control
        .create(request)
        .map_err(|e| fail("creating the container in the guest", &boot_error(&e)))?;
    ctl.set_read_timeout(None).map_err(|e| e.to_string())?;
    let sock = dir.join(shim_api::SOCKET);
    let _ = std::fs::remove_file(&sock);
    let listener = shim_api::with_socket_path(dir, |p| UnixListener::bind(p))
        .map_err(|e| fail("listen", &e))?;
    Ok(Vm {
        vmm,
        control,
        ctl,
        stdio,
        listener,
        stdin,
        stdout,
        stderr,
        terminal,
    })
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
            let r = sh.call(Box::new(move |c| {
                c.exec(stream, *process).map(ShimReply::Pid)
            }));
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
