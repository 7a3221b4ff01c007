//! The agent's request loop: one thread, `poll(2)` over the control port, the stdio port, a signalfd for
//! `SIGCHLD` and every relayed output. Requests are handled one at a time, each answered with one reply.

use crate::boot;
use crate::info;
use crate::procs::{self, Out, Proc, SpawnError};
use holm_container::{CreateOptions, ExecOptions, Store};
use holm_vm_proto::{
    CreateRequest, Event, ExecRequest, GuestFrame, HostFrame, Reader, Ready, Request, Stats,
    Writer, INIT_STREAM, MAX_DATA, PROTOCOL_VERSION,
};
use oci_spec::runtime::LinuxNamespaceType;
use std::fs::File;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

/// Why the agent stops serving (the VM then ends).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Boot failed.
    #[error("boot: {0}")]
    Boot(#[from] boot::Error),
    /// A system call failed.
    #[error("{0}")]
    Sys(#[from] holm_sys::Error),
    /// The host sent an undecodable frame.
    #[error("from host: {0}")]
    Decode(#[from] holm_vm_proto::DecodeError),
    /// A frame could not be sent.
    #[error("to host: {0}")]
    Encode(#[from] holm_vm_proto::EncodeError),
}

/// Stdin bytes the agent holds for processes that do not read them yet, above which it stops reading the stdio
/// port.
const MAX_STDIN_BACKLOG: usize = 1 << 20;

/// How long after its start a signal for the container's init that it neither catches nor ignores yet is held
/// instead of sent. The init is pid 1 of its pid namespace, for which the kernel drops such a signal; a signal the
/// host held while the VM booted (a Ctrl-C or `kill` of `holm run` during the boot) comes right after the start,
/// before the process could install its handler (under TCG that takes a while), and would be lost. Held, it goes
/// once the process has a handler (or ignores it), or when the grace ends (then the kernel's rule applies).
const SIGNAL_GRACE: std::time::Duration = std::time::Duration::from_secs(2);

/// Where the agent keeps holm-container's state and the bundle.
const STATE_ROOT: &str = "/run/holm/state";
const BUNDLE: &str = "/run/holm/bundle";

/// The request loop's state.
pub struct Server {
    control: File,
    stdio: File,
    sigfd: OwnedFd,
    store: Store,
    id: Option<String>,
    /// The container's cgroup v2 directory (`/sys/fs/cgroup/...`), read from its init at create; it stays
    /// until the container is deleted, so its OOM-kill count outlives the init.
    cgroup: Option<PathBuf>,
    procs: Vec<Proc>,
    /// When the init was started.
    started_at: Option<std::time::Instant>,
    /// Signals for the init held until it catches or ignores them (see [`SIGNAL_GRACE`]), in order.
    held: Vec<i32>,
    shutdown: bool,
    network_done: bool,
}

/// A failed request: its message goes back as `Event::Error`.
struct Failed(String);

impl<E: std::fmt::Display> From<E> for Failed {
    fn from(e: E) -> Self {
        Failed(e.to_string())
    }
}

fn fail<T>(msg: impl Into<String>) -> Result<T, Failed> {
    Err(Failed(msg.into()))
}

impl Server {
    /// Blocks `SIGCHLD` (read from a signalfd) and wraps the ports.
    pub fn new(ports: boot::Ports) -> Result<Server, Error> {
        let mut set = holm_sys::signal::SigSet::empty();
        set.add(libc::SIGCHLD);
        holm_sys::signal::set_mask(&set)?;
        let sigfd = holm_sys::signal::signalfd(&set)?;
        Ok(Server {
            control: ports.control,
            stdio: ports.stdio,
            sigfd,
            store: Store::new(STATE_ROOT),
            id: None,
            cgroup: None,
            procs: Vec::new(),
            started_at: None,
            held: Vec::new(),
            shutdown: false,
            network_done: false,
        })
    }

    fn send_event(&self, e: Event) -> Result<(), Error> {
        Writer::new(&self.control).write(&GuestFrame::Event(e))?;
        Ok(())
    }

    fn send_data(&self, f: GuestFrame) -> Result<(), Error> {
        Writer::new(&self.stdio).write(&f)?;
        Ok(())
    }

    /// Announces `Ready` and serves until the host closes the control port or asks for `Shutdown`; then kills
    /// the container.
    pub fn serve(mut self) -> Result<(), Error> {
        let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .unwrap_or_default()
            .trim()
            .chars()
            .take(holm_vm_proto::MAX_SHORT_STRING)
            .collect();
        self.send_event(Event::Ready(Ready {
            protocol: PROTOCOL_VERSION,
            kernel,
        }))?;
        let r = self.serve_loop();
        self.teardown();
        r
    }

    fn serve_loop(&mut self) -> Result<(), Error> {
        let mut buf = vec![0u8; MAX_DATA];
        while !self.shutdown {
            // (proc index, output index) of each polled output, after the three fixed fds; then the stdin fds with
            // pending bytes (POLLOUT). The stdio port is not read while much stdin waits (backpressure: the host's
            // writes block in virtio-serial instead of the agent's memory growing).
            let mut map = Vec::new();
            let mut writers = Vec::new();
            let backlog: usize = self.procs.iter().map(|p| p.pending.len()).sum();
            let ready = {
                let stdio_events = if backlog > MAX_STDIN_BACKLOG {
                    0
                } else {
                    libc::POLLIN
                };
                let mut fds: Vec<(BorrowedFd<'_>, i16)> = vec![
                    (self.control.as_fd(), libc::POLLIN),
                    (self.stdio.as_fd(), stdio_events),
                    (self.sigfd.as_fd(), libc::POLLIN),
                ];
                for (pi, p) in self.procs.iter().enumerate() {
                    for (oi, (f, _)) in p.outputs.iter().enumerate() {
                        fds.push((f.as_fd(), libc::POLLIN));
                        map.push((pi, oi));
                    }
                }
                for (pi, p) in self.procs.iter().enumerate() {
                    if let (false, Some(w)) = (p.pending.is_empty(), &p.stdin) {
                        fds.push((w.as_fd(), libc::POLLOUT));
                        writers.push(pi);
                    }
                }
                // Held signals are looked at every 20 ms.
                let timeout = if self.held.is_empty() { -1 } else { 20 };
                let r = holm_sys::process::poll_events(&fds, timeout)?;
                r.into_iter().map(|x| x != 0).collect::<Vec<bool>>()
            };
            for (k, &pi) in writers.iter().enumerate() {
                if ready[3 + map.len() + k] {
                    self.procs[pi].flush_stdin();
                }
            }
            // Output first (in reverse, so removing an ended output keeps the other indices valid), then exits:
            // a process's last output is sent before its exit.
            for (k, &(pi, oi)) in map.iter().enumerate().rev() {
                if ready[3 + k] {
                    self.pump(pi, oi, &mut buf)?;
                }
            }
            if ready[2] {
                let _ = holm_sys::signal::read_signal(self.sigfd.as_fd());
                self.reap();
            }
            self.release_held();
            self.report()?;
            if ready[1] {
                match Reader::new(&self.stdio).read::<HostFrame>()? {
                    Some(f) => self.stdin(f),
                    None => {
                        info!("stdio channel closed by the host");
                        return Ok(());
                    }
                }
            }
            if ready[0] {
                match Reader::new(&self.control).read::<HostFrame>()? {
                    Some(HostFrame::Request(r)) => {
                        let reply = match self.handle(r) {
                            Ok(e) => e,
                            Err(Failed(m)) => Event::Error {
                                message: one_line(&m),
                            },
                        };
                        self.send_event(reply)?;
                    }
                    Some(_) => {
                        info!("data frame on the control channel: ignored");
                    }
                    None => {
                        info!("control channel closed by the host");
                        return Ok(());
                    }
                }
            }
        }
        Ok(())
    }

    /// Relays one readable output.
    fn pump(&mut self, pi: usize, oi: usize, buf: &mut [u8]) -> Result<(), Error> {
        let p = &mut self.procs[pi];
        let kind = p.outputs[oi].1;
        let stream = p.stream;
        match p.read_output(oi, buf) {
            Ok(usize::MAX) => Ok(()),
            Ok(0) => Ok(()),
            Ok(n) => {
                let data = buf[..n].to_vec();
                self.send_data(match kind {
                    Out::Stdout => GuestFrame::Stdout { stream, data },
                    Out::Stderr => GuestFrame::Stderr { stream, data },
                })
            }
            Err(e) => {
                info!("stream {stream}: read output: {e}");
                self.procs[pi].outputs.remove(oi);
                Ok(())
            }
        }
    }

    /// Reaps every exited child (pid 1 inherits orphans); records the relayed ones' status.
    fn reap(&mut self) {
        while let Ok((pid, ws)) = holm_sys::process::waitpid(-1, libc::WNOHANG) {
            if pid <= 0 {
                break;
            }
            if let Some(p) = self.procs.iter_mut().find(|p| p.pid == pid) {
                p.status = procs::exit_status(ws);
            }
        }
    }

    /// Sends `OutputEnd` for streams whose output is done, then `Exited` for those that also exited.
    fn report(&mut self) -> Result<(), Error> {
        let mut i = 0;
        while i < self.procs.len() {
            let p = &self.procs[i];
            let (stream, done, status) = (p.stream, p.outputs.is_empty(), p.status);
            if done && !p.output_ended {
                self.procs[i].output_ended = true;
                self.send_data(GuestFrame::OutputEnd { stream })?;
            }
            if let (true, Some(status)) = (done, status) {
                self.procs.remove(i);
                let oom_kills = self.oom_kills();
                self.send_event(Event::Exited {
                    stream,
                    status,
                    oom_kills,
                })?;
                continue;
            }
            i += 1;
        }
        Ok(())
    }

    fn stdin(&mut self, f: HostFrame) {
        let (stream, data) = match f {
            HostFrame::Stdin { stream, data } => (stream, Some(data)),
            HostFrame::StdinClose { stream } => (stream, None),
            HostFrame::Request(_) => {
                info!("control message on the stdio channel: ignored");
                return;
            }
        };
        let Some(p) = self.procs.iter_mut().find(|p| p.stream == stream) else {
            return;
        };
        match data {
            Some(d) if p.stdin.is_some() => p.pending.extend_from_slice(&d),
            Some(_) => {}
            // A pty has no separate stdin to close: EOF is the terminal's ^D, which the host sends as data.
            None if p.master.is_none() => p.close_when_drained = true,
            None => {}
        }
        p.flush_stdin();
    }

    /// Whether signal `sig` for the init is to be held (see [`SIGNAL_GRACE`]): within the grace after the start,
    /// while the init neither catches nor ignores it (`SigCgt`/`SigIgn` of its `/proc/PID/status`), and behind
    /// any signal held already (order is kept). SIGKILL and SIGSTOP are never held.
    fn hold(&mut self, sig: i32) -> Result<bool, Failed> {
        let in_grace = self.started_at.is_some_and(|t| t.elapsed() < SIGNAL_GRACE);
        if !in_grace || sig == libc::SIGKILL || sig == libc::SIGSTOP || !(1..=64).contains(&sig) {
            return Ok(false);
        }
        if self.held.is_empty() && self.init_takes(sig) {
            return Ok(false);
        }
        self.held.push(sig);
        Ok(true)
    }

    /// Whether the init catches or ignores `sig` now (unknown: true, so the signal is sent).
    fn init_takes(&self, sig: i32) -> bool {
        let Some(pid) = self
            .id
            .as_ref()
            .and_then(|id| self.store.read(id).ok())
            .map(|s| s.pid)
        else {
            return true;
        };
        let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) else {
            return true;
        };
        let mask = |key: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(key))
                .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        };
        let bit = 1u64 << (sig - 1);
        match (mask("SigCgt:"), mask("SigIgn:")) {
            (Some(c), Some(i)) => (c | i) & bit != 0,
            _ => true,
        }
    }

    /// Sends the held signals whose time came (the init takes them now, or the grace ended), in order.
    fn release_held(&mut self) {
        while let Some(&sig) = self.held.first() {
            let expired = self.started_at.is_none_or(|t| t.elapsed() >= SIGNAL_GRACE);
            if !expired && !self.init_takes(sig) {
                return;
            }
            self.held.remove(0);
            if let Some(id) = self.id.clone() {
                if let Err(e) = holm_container::kill(&self.store, &id, sig, false) {
                    info!("held signal {sig}: {e}");
                }
            }
        }
    }

    fn id(&self) -> Result<String, Failed> {
        match &self.id {
            Some(id) => Ok(id.clone()),
            None => fail("no container was created"),
        }
    }

    fn handle(&mut self, r: Request) -> Result<Event, Failed> {
        match r {
            Request::Create(c) => self.create(*c),
            Request::Start => {
                let id = self.id()?;
                holm_container::start(&self.store, &id, &mut |e| info!("start: {e}"))?;
                let pid = self.store.read(&id)?.pid;
                self.started_at = Some(std::time::Instant::now());
                Ok(Event::Started {
                    stream: INIT_STREAM,
                    pid,
                })
            }
            Request::Signal(s) => {
                match s.stream {
                    Some(st) if st != INIT_STREAM => {
                        let p = self
                            .procs
                            .iter()
                            .find(|p| p.stream == st && p.status.is_none());
                        match p {
                            Some(p) => holm_sys::process::kill(p.pid, s.signal)?,
                            None => {
                                return fail(format!("signal: stream {st} has no running process"))
                            }
                        }
                    }
                    _ if !s.all && self.hold(s.signal)? => {}
                    _ => holm_container::kill(&self.store, &self.id()?, s.signal, s.all)?,
                }
                Ok(Event::Done)
            }
            Request::Exec(x) => self.exec(*x),
            Request::Resize(r) => {
                let p = self.procs.iter().find(|p| p.stream == r.stream);
                match p.and_then(|p| p.master.as_ref()) {
                    Some(m) => holm_sys::tty::set_winsize(m.as_fd(), r.rows, r.cols)?,
                    None => return fail(format!("resize: stream {} has no terminal", r.stream)),
                }
                Ok(Event::Done)
            }
            Request::Pause => {
                holm_container::cgroup_verbs::pause(&self.store, &self.id()?)?;
                Ok(Event::Done)
            }
            Request::Resume => {
                holm_container::cgroup_verbs::resume(&self.store, &self.id()?)?;
                Ok(Event::Done)
            }
            Request::Update(res) => {
                holm_container::cgroup_verbs::update(&self.store, &self.id()?, &res)?;
                Ok(Event::Done)
            }
            Request::Stats => Ok(Event::Stats(self.stats()?)),
            Request::Ps => {
                let mut pids = holm_container::cgroup_verbs::pids(&self.store, &self.id()?)?;
                pids.truncate(holm_vm_proto::MAX_PS_PIDS);
                let rows = crate::psrow::rows(&pids);
                Ok(Event::Ps { pids, rows })
            }
            Request::Shutdown => {
                self.shutdown = true;
                Ok(Event::Done)
            }
        }
    }

    fn create(&mut self, c: CreateRequest) -> Result<Event, Failed> {
        if self.id.is_some() {
            return fail("create: a container was already created in this guest");
        }
        // First: the host's randomness into the guest's CRNG and the host's clock.
        boot::reseed_and_set_clock(&c.entropy, c.realtime_ns)?;
        let mut spec = (*c.config).clone();
        // The container keeps the guest's network namespace (eth0 is there); a namespace path would be a host
        // path, meaningless here.
        if let Some(linux) = spec.linux_mut() {
            if let Some(nss) = linux.namespaces_mut() {
                nss.retain(|n| n.typ() != LinuxNamespaceType::Network);
                if let Some(n) = nss.iter().find(|n| n.path().is_some()) {
                    return fail(format!(
                        "config.linux.namespaces: {:?} has a path; a VM guest joins no host namespace",
                        n.typ()
                    ));
                }
            }
        }
        let root = spec
            .root()
            .as_ref()
            .map(|r| r.path().clone())
            .ok_or_else(|| Failed("config.root.path: missing".into()))?;
        if !root.is_absolute() {
            return fail(format!(
                "config.root.path: `{}` must be an absolute guest path",
                root.display()
            ));
        }
        let mut rootfs = c.rootfs.clone();
        rootfs.guest_path = root.display().to_string();
        // A failed create leaves no share mounted (a virtio-9p device can be mounted only once), so the host may
        // retry; the network is configured once.
        let mut mounted = Vec::new();
        let r = self.create_in(&c, &rootfs, spec, &mut mounted);
        if r.is_err() {
            for p in mounted.iter().rev() {
                let _ = holm_sys::mount::umount2(Path::new(p), libc::MNT_DETACH);
            }
        }
        r
    }

    fn create_in(
        &mut self,
        c: &CreateRequest,
        rootfs: &holm_vm_proto::Share,
        spec: oci_spec::runtime::Spec,
        mounted: &mut Vec<String>,
    ) -> Result<Event, Failed> {
        for s in std::iter::once(rootfs).chain(&c.volumes) {
            boot::mount_share(s)?;
            mounted.push(s.guest_path.clone());
        }
        if !self.network_done {
            crate::netcfg::configure_network(&c.networks)?;
            self.network_done = true;
        }
        // `net.*` sysctls go to the guest's network namespace, the container's (crate::sysctl).
        let mut spec = spec;
        let applied = crate::sysctl::apply_net_in_guest(&mut spec)?;
        if !applied.is_empty() {
            info!("applied sysctls in the guest: {}", applied.join(", "));
        }
        if let Some(h) = &c.hostname {
            holm_sys::ns::sethostname(h)?;
        }
        std::fs::create_dir_all(BUNDLE)?;
        let tty = spec
            .process()
            .as_ref()
            .and_then(|p| p.terminal())
            .unwrap_or(false);
        std::fs::write(
            Path::new(BUNDLE).join("config.json"),
            serde_json::to_vec(&spec)?,
        )?;
        let store = &self.store;
        let id = c.id.clone();
        let (pid, mut proc) = procs::spawn_with_stdio(INIT_STREAM, tty, |console| {
            holm_container::create(
                store,
                &CreateOptions {
                    id: id.clone(),
                    bundle: PathBuf::from(BUNDLE),
                    console_socket: console.map(Path::to_path_buf),
                    ..Default::default()
                },
            )
        })
        .map_err(spawn_failed)?;
        proc.pid = pid;
        self.procs.push(proc);
        self.id = Some(c.id.clone());
        self.cgroup = cgroup_of(pid);
        Ok(Event::Created { pid })
    }

    fn exec(&mut self, x: ExecRequest) -> Result<Event, Failed> {
        let id = self.id()?;
        if x.stream == INIT_STREAM || self.procs.iter().any(|p| p.stream == x.stream) {
            return fail(format!("exec: stream {} is in use", x.stream));
        }
        let tty = x.process.terminal().unwrap_or(false);
        let dir = Path::new("/run/holm");
        let process_file = dir.join(format!("exec-{}.json", x.stream));
        let pid_file = dir.join(format!("exec-{}.pid", x.stream));
        std::fs::write(&process_file, serde_json::to_vec(&x.process)?)?;
        let store = &self.store;
        let r = procs::spawn_with_stdio(x.stream, tty, |console| {
            holm_container::exec(
                store,
                &ExecOptions {
                    id: id.clone(),
                    process_file: Some(process_file.clone()),
                    tty,
                    console_socket: console.map(Path::to_path_buf),
                    detach: true,
                    pid_file: Some(pid_file.clone()),
                    ..Default::default()
                },
            )
        });
        let _ = std::fs::remove_file(&process_file);
        let (_, mut proc) = r.map_err(spawn_failed)?;
        let pid = std::fs::read_to_string(&pid_file)?.trim().parse::<i32>()?;
        let _ = std::fs::remove_file(&pid_file);
        proc.pid = pid;
        self.procs.push(proc);
        Ok(Event::Started {
            stream: x.stream,
            pid,
        })
    }

    /// How many processes the OOM killer killed in the container's cgroup (`memory.events` `oom_kill`, counting
    /// its sub-cgroups); 0 when unknown.
    fn oom_kills(&self) -> u64 {
        self.cgroup
            .as_ref()
            .and_then(|d| std::fs::read_to_string(d.join("memory.events")).ok())
            .and_then(|t| {
                t.lines()
                    .find_map(|l| l.strip_prefix("oom_kill ")?.trim().parse().ok())
            })
            .unwrap_or(0)
    }

    /// The container's cgroup v2 usage (its cgroup as read at create) and eth0's counters.
    fn stats(&self) -> Result<Stats, Failed> {
        self.id()?;
        let dir = self
            .cgroup
            .clone()
            .ok_or_else(|| Failed("stats: the container's init has no cgroup v2 path".into()))?;
        let read = |f: &str| std::fs::read_to_string(dir.join(f)).ok();
        let num = |f: &str| read(f).and_then(|s| s.trim().parse::<u64>().ok());
        let cpu = read("cpu.stat").unwrap_or_default();
        let key = |k: &str| {
            cpu.lines()
                .find_map(|l| l.strip_prefix(k).and_then(|v| v.trim().parse().ok()))
        };
        let net = |f: &str| {
            std::fs::read_to_string(format!("/sys/class/net/eth0/statistics/{f}"))
                .ok()
                .and_then(|s| s.trim().parse().ok())
        };
        Ok(Stats {
            cpu_usage_usec: key("usage_usec "),
            cpu_user_usec: key("user_usec "),
            cpu_system_usec: key("system_usec "),
            memory_current: num("memory.current"),
            memory_max: num("memory.max"),
            pids_current: num("pids.current"),
            net_rx_bytes: net("rx_bytes"),
            net_tx_bytes: net("tx_bytes"),
        })
    }

    /// Kills and deletes the container (its processes die with its pid namespace).
    fn teardown(&mut self) {
        if let Some(id) = self.id.take() {
            if let Err(e) = holm_container::delete(&self.store, &id, true, &mut |_| {}) {
                info!("delete {id}: {e}");
            }
        }
    }
}

/// The cgroup v2 directory of process `pid` (its `0::` line of `/proc/PID/cgroup`), if it has one.
fn cgroup_of(pid: i32) -> Option<PathBuf> {
    let cg = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).ok()?;
    let rel = cg.lines().find_map(|l| l.strip_prefix("0::"))?;
    Some(Path::new("/sys/fs/cgroup").join(rel.trim_start_matches('/')))
}

fn spawn_failed(e: SpawnError) -> Failed {
    Failed(e.to_string())
}

/// The first line, at most `MAX_ERROR_MESSAGE` bytes (on a char boundary).
fn one_line(m: &str) -> String {
    let line = m.lines().next().unwrap_or("");
    let mut end = line.len().min(holm_vm_proto::MAX_ERROR_MESSAGE);
    while !line.is_char_boundary(end) {
        end -= 1;
    }
    line[..end].to_string()
}
