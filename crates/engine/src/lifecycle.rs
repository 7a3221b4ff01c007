//! The container verbs: create, start (spawning the monitor), attach-and-wait, stop, kill, wait, pause, unpause,
//! rm (exec is in [`crate::exec`]), and [`Engine::refresh`], which keeps the recorded state truthful after crashes.

use crate::config::{self, RunConfig};
use crate::control::{self, FromMonitor};
use crate::db::{ContainerRecord, State};
use crate::{ids, ops, Engine, Error, Result};
use holm_container::Status as RtStatus;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// What a container is doing now (the recorded state refined by the runtime: paused).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Never started (or its start failed).
    Created,
    /// Its process runs.
    Running,
    /// Its process is frozen.
    Paused,
    /// Its process ended.
    Exited,
    /// Its process ended and its monitor waits to restart it (`--restart`).
    Restarting,
}

impl Status {
    /// docker's lowercase word (`created`, `running`, `paused`, `exited`).
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Exited => "exited",
            Status::Restarting => "restarting",
        }
    }
}

/// A container whose monitor started it.
pub struct Started {
    /// Container id.
    pub id: String,
    /// Host pid of its init.
    pub pid: i32,
    ctl: UnixStream,
    monitor: Child,
    tty: bool,
}

impl Started {
    /// A handle that tells the monitor the attached terminal's size (`-t`), usable while the container runs.
    pub fn resizer(&self) -> Result<Resizer> {
        Ok(Resizer(
            self.ctl
                .try_clone()
                .map_err(Error::io("clone the control socket"))?,
        ))
    }
}

/// Sends an attached container's monitor new terminal sizes (see [`Started::resizer`]).
#[derive(Debug)]
pub struct Resizer(UnixStream);

impl Resizer {
    /// The container's pty gets `rows` × `cols` (ignored by a container without a TTY).
    pub fn resize(&self, rows: u16, cols: u16) {
        control::send_resize(&self.0, rows, cols);
    }
}

/// The name of the file a monitor holds an exclusive `flock` on for its whole life (in the bundle).
pub const MONITOR_LOCK: &str = "monitor.lock";

pub(crate) fn now() -> String {
    holm_container::state::rfc3339(std::time::SystemTime::now())
}

impl Engine {
    /// True while a monitor runs for `id` (it holds the bundle's `monitor.lock`).
    pub fn monitor_alive(&self, id: &str) -> bool {
        std::fs::File::open(self.bundle(id).join(MONITOR_LOCK))
            .is_ok_and(|f| matches!(f.try_lock_shared(), Err(std::fs::TryLockError::WouldBlock)))
    }

    /// True while the `holm create`/`run` that inserted a `creating` row still runs (its pid with the same start
    /// time); false for any other state.
    pub fn creator_alive(&self, rec: &ContainerRecord) -> bool {
        rec.state == State::Creating
            && rec.monitor_pid > 0
            && holm_container::state::proc_start_time(rec.monitor_pid) == Some(rec.monitor_start)
    }

    /// The live status of a (refreshed) record.
    pub fn status(&self, rec: &ContainerRecord) -> Status {
        match rec.state {
            State::Creating | State::Created => Status::Created,
            // A monitor of an exited container waits out its restart policy's backoff; one without a policy is
            // a `start` under way (or the exit being recorded): still `exited` until it runs, as docker shows it.
            State::Exited if self.has_restart_policy(rec) && self.monitor_alive(&rec.id) => {
                Status::Restarting
            }
            State::Exited => Status::Exited,
            State::Running => match self
                .runtime_for(rec.config.runtime.as_deref())
                .state(&rec.id)
            {
                Some(s) if s.status == RtStatus::Paused => Status::Paused,
                _ => Status::Running,
            },
        }
    }

    pub(crate) fn has_restart_policy(&self, rec: &ContainerRecord) -> bool {
        !matches!(
            crate::options::parse_restart(&rec.config.restart),
            Ok(crate::options::RestartPolicy::No) | Err(_)
        )
    }

    /// Finds a container by id, id prefix or name, refreshed.
    pub fn find(&self, what: &str) -> Result<ContainerRecord> {
        let db = self.db()?;
        let rec = db.find(what)?;
        self.refresh(&db, rec)
    }

    /// Every container with its status, oldest first.
    pub fn list(&self) -> Result<Vec<(ContainerRecord, Status)>> {
        let db = self.db()?;
        let mut out = Vec::new();
        for rec in db.list()? {
            match self.refresh(&db, rec) {
                Ok(r) => {
                    let st = self.status(&r);
                    out.push((r, st));
                }
                Err(Error::NoSuchContainer(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }

    /// `holm create`: a container from `image` (a local image: the CLI pulls it first if needed) with `cfg`, named `name` or a
    /// generated name. Its snapshot is mounted on the bundle's `rootfs/` and `config.json` written; nothing runs.
    pub fn create(
        &self,
        image: &str,
        name: Option<&str>,
        mut cfg: RunConfig,
    ) -> Result<ContainerRecord> {
        let img = match self.images().resolve(image) {
            Ok(i) => i,
            Err(holm_image::StoreError::NotFound(_)) => {
                return Err(Error::ImageNotFound(image.to_string()))
            }
            Err(e) => return Err(e.into()),
        };
        for v in &cfg.volumes {
            config::parse_volume(v)?;
        }
        crate::vm::check_create(&mut cfg)?;
        let wanted = name.map(ids::validate_name).transpose()?;
        let image_cfg = self.images().config(&img)?;
        crate::volumes::add_image_volumes(&image_cfg, &mut cfg)?;
        let raw = self.images().content().read_json(&img.id).ok();
        crate::health::merge_image(&mut cfg, raw.as_deref());
        let id = ids::new_id()?;
        // The row comes first (with the name, in one transaction), state `creating` with this process as its
        // creator: every resource made below exists only while a row names it, so a `holm` killed at any point
        // leaves something `ps -a` shows and `rm`/`container prune` remove.
        let me = std::process::id() as i32;
        let mut rec = ContainerRecord {
            id: id.clone(),
            name: String::new(),
            image: image.to_string(),
            image_id: img.id.to_string(),
            created: now(),
            config: cfg.clone(),
            state: State::Creating,
            pid: 0,
            monitor_pid: me,
            monitor_start: holm_container::state::proc_start_time(me).unwrap_or(0),
            exit_code: None,
            error: String::new(),
            started_at: String::new(),
            finished_at: String::new(),
            restart_count: 0,
            no_restart: false,
            oom_killed: false,
        };
        {
            let mut db = self.db()?;
            let mut attempt = 0;
            loop {
                rec.name = match &wanted {
                    Some(n) => n.clone(),
                    None => ids::new_name()?,
                };
                match db.insert(&rec) {
                    Err(Error::NameInUse { .. }) if wanted.is_none() && attempt < 10 => {
                        attempt += 1
                    }
                    r => break r?,
                }
            }
        }
        let r = (|| {
            self.images().prepare_snapshot(&id, img.id.as_ref())?;
            let bundle = self.bundle(&id);
            let mut b = std::fs::DirBuilder::new();
            b.recursive(true);
            std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
            b.create(bundle.join("rootfs"))
                .map_err(Error::io(format!("create {}", bundle.display())))?;
            ops::mount_rootfs(self, &id)?;
            self.prepare_volumes(
                &cfg.volumes,
                &cfg.anonymous_volumes,
                &ops::rootfs(self, &id),
            )?;
            let mut spec = config::build_spec(
                &id,
                &image_cfg,
                &ops::rootfs(self, &id),
                &self.volumes_dir(),
                &mut cfg,
            )?;
            crate::network::prepare(self, &id, &image_cfg, &mut cfg, &mut spec)?;
            if !cfg.annotations.is_empty() {
                let mut ann = spec.annotations().clone().unwrap_or_default();
                ann.extend(cfg.annotations.iter().map(|(k, v)| (k.clone(), v.clone())));
                spec.set_annotations(Some(ann));
            }
            crate::vm::prepare_spec(self, &id, &cfg, &mut spec);
            crate::vm::check_devices(&cfg, &spec, &bundle)?;
            let tmp = bundle.join(".config.json.tmp");
            let bytes = serde_json::to_vec_pretty(&spec).expect("spec serialises");
            std::fs::write(&tmp, bytes)
                .and_then(|_| std::fs::rename(&tmp, bundle.join("config.json")))
                .map_err(Error::io(format!("write {}/config.json", bundle.display())))?;
            if !self.db()?.finish_create(&id, &cfg)? {
                return Err(Error::NoSuchContainer(id.clone()));
            }
            rec.state = State::Created;
            rec.config = cfg.clone();
            rec.monitor_pid = 0;
            rec.monitor_start = 0;
            Ok(rec)
        })();
        match &r {
            Ok(rec) => self.emit_container(rec, "create", &[]),
            // Resources first, the row last (as `rm`), so a crash here still leaves the row to clean up with.
            Err(_) => {
                let _ = ops::remove(self, &id);
            }
        }
        r
    }

    /// Starts a created or exited container: spawns its monitor and waits until the process runs. With `attach`
    /// (stdout, stderr), the monitor also copies the output there. `Ok(None)`: it was running already.
    ///
    /// Errors: [`Error::StartFailed`] with docker's exit code (127: executable not found, 126: not executable).
    pub fn start(
        &self,
        what: &str,
        attach: Option<(BorrowedFd<'_>, BorrowedFd<'_>)>,
    ) -> Result<Option<Started>> {
        self.start_with_stdin(what, attach, None)
    }

    /// [`Engine::start`], also handing the monitor `stdin` (`-i`: copied to the container's stdin or pty).
    pub fn start_with_stdin(
        &self,
        what: &str,
        attach: Option<(BorrowedFd<'_>, BorrowedFd<'_>)>,
        stdin: Option<BorrowedFd<'_>>,
    ) -> Result<Option<Started>> {
        let rec = self.find(what)?;
        if self.is_active(&rec) {
            return Ok(None);
        }
        if rec.state == State::Creating {
            return Err(creating(self, &rec));
        }
        let exe = crate::monitor::holm_executable()?;
        // The monitor becomes holm-monitor once the container runs: refuse to start without it.
        crate::monitor::monitor_exe(&exe)?;
        // A user's start lifts a stop's "do not restart".
        self.db()?.set_no_restart(&rec.id, false)?;
        // Held until the start returns: a `network connect`/`disconnect` waits for it, then sees the container live.
        let _nics = crate::networks::lock_nics(self, &rec.id)?;
        // The monitor lock is taken here and handed to the monitor (`--lock-fd`), so "a monitor runs" holds from
        // before it exists: a `holm rm -f` after this holm was killed sees the starting monitor (and calls the
        // start off) instead of deleting the bundle under it.
        let lock_path = self.bundle(&rec.id).join(MONITOR_LOCK);
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(Error::io(format!("open {}", lock_path.display())))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => return Ok(None),
            Err(std::fs::TryLockError::Error(e)) => {
                return Err(Error::io(format!("lock {}", lock_path.display()))(e))
            }
        }
        holm_sys::fs::set_cloexec(lock.as_fd(), false)?;
        let (mine, theirs) = UnixStream::pair().map_err(Error::io("socketpair"))?;
        let monitor = Command::new(&exe)
            .arg("--root")
            .arg(self.root())
            .arg("--runroot")
            .arg(self.runroot())
            .arg("__monitor")
            .arg(&rec.id)
            .arg("--exe")
            .arg(&exe)
            .arg("--lock-fd")
            .arg(lock.as_raw_fd().to_string())
            .stdin(Stdio::from(OwnedFd::from(theirs)))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        // The monitor holds the lock now (same open file description); this holm lets go of it.
        drop(lock);
        let mut monitor =
            monitor.map_err(Error::io(format!("start the monitor {}", exe.display())))?;
        let r = control::send_attach_stdin(&mine, attach, stdin).and_then(|_| control::read(&mine));
        let died = |msg: &str| Error::Monitor {
            id: rec.id.clone(),
            msg: msg.to_string(),
        };
        match r {
            Ok(Some(FromMonitor::Started(pid))) => Ok(Some(Started {
                id: rec.id,
                pid,
                ctl: mine,
                monitor,
                tty: rec.config.tty,
            })),
            Ok(Some(FromMonitor::Failed { code, msg })) => {
                let _ = monitor.wait();
                Err(Error::StartFailed {
                    id: rec.id,
                    msg,
                    code,
                })
            }
            Ok(_) => {
                let _ = monitor.wait();
                Err(died("it exited before starting the container"))
            }
            Err(e) => {
                let _ = monitor.wait();
                Err(e)
            }
        }
    }

    /// Waits for an attached container to end, forwarding `holm`'s signals (INT, TERM, HUP, QUIT, USR1, USR2) to
    /// it and, for a `-t` container, the size of holm's terminal (at once and on SIGWINCH); returns its exit code
    /// (after `--rm` was applied).
    pub fn wait_attached(&self, mut s: Started) -> Result<i32> {
        use holm_sys::signal::{self, SigSet};
        let old = signal::set_mask(&SigSet::all())?;
        let resize = |s: &Started| {
            let size = [0, 1].into_iter().find_map(|fd| {
                let fd = holm_sys::fs::dup_raw(fd).ok()?;
                holm_sys::tty::get_winsize(fd.as_fd()).ok()
            });
            if let Some((rows, cols)) = size.filter(|s| s.0 > 0 && s.1 > 0) {
                control::send_resize(&s.ctl, rows, cols);
            }
        };
        if s.tty {
            resize(&s);
        }
        let r = (|| {
            let sigfd = signal::signalfd(&SigSet::all())?;
            loop {
                let ready = holm_sys::process::poll_any(&[s.ctl.as_fd(), sigfd.as_fd()], -1)?;
                if ready[1] {
                    let sig = signal::read_signal(sigfd.as_fd())?;
                    if sig == libc::SIGWINCH && s.tty {
                        resize(&s);
                    }
                    if [
                        libc::SIGINT,
                        libc::SIGTERM,
                        libc::SIGHUP,
                        libc::SIGQUIT,
                        libc::SIGUSR1,
                        libc::SIGUSR2,
                    ]
                    .contains(&sig)
                    {
                        let _ = self.runtime_of(&s.id).kill(&s.id, sig, false);
                    }
                }
                if ready[0] {
                    match control::read(&s.ctl)? {
                        Some(FromMonitor::Exited(code)) => return Ok(code),
                        Some(_) => {}
                        None => {
                            return Err(Error::Monitor {
                                id: s.id.clone(),
                                msg: "it died; the container may still run (see `holm ps`)".into(),
                            })
                        }
                    }
                }
            }
        })();
        let _ = s.monitor.wait();
        let _ = signal::set_mask(&old);
        r
    }

    /// Leaves a started container to its monitor (detached run).
    pub fn detach(&self, s: Started) {
        // Dropping the socket tells the monitor; the monitor process is not waited for (it outlives holm).
        drop(s);
    }

    /// For a caller that attached other fds than its own (the API server's hijacked streams): waits until the
    /// container ended (its monitor's `exited CODE`), with no signal handling of its own, and reaps the monitor.
    /// The monitor copies output to the attached fds until then. Resizes go through a [`Resizer`] taken before
    /// (usable from any thread).
    pub fn wait_started(&self, s: Started) -> Result<i32> {
        let Started {
            id,
            ctl,
            mut monitor,
            ..
        } = s;
        let r = loop {
            match control::read(&ctl) {
                Ok(Some(FromMonitor::Exited(code))) => break Ok(code),
                Ok(Some(_)) => {}
                Ok(None) => {
                    break Err(Error::Monitor {
                        id,
                        msg: "it died; the container may still run".into(),
                    })
                }
                Err(e) => break Err(e),
            }
        };
        drop(ctl);
        let _ = monitor.wait();
        r
    }

    /// [`Engine::detach`] for a long-lived caller (the API server): returns the monitor process, which it must
    /// wait for (from any thread) so that no zombie is left when the monitor ends.
    pub fn detach_monitor(&self, s: Started) -> Child {
        let Started { ctl, monitor, .. } = s;
        drop(ctl);
        monitor
    }

    /// Waits until the container is not running and its monitor is done (or `timeout` passed); true if so. A
    /// removed container counts as done.
    pub fn wait_stopped(&self, id: &str, timeout: Option<Duration>) -> Result<bool> {
        let deadline = timeout.map(|t| Instant::now() + t);
        loop {
            let rec = match self.find(id) {
                Ok(r) => r,
                Err(Error::NoSuchContainer(_)) => return Ok(true),
                Err(e) => return Err(e),
            };
            let monitor = self.monitor_alive(id);
            if rec.state != State::Running && !monitor {
                return Ok(true);
            }
            let left = match deadline {
                Some(d) => match d.checked_duration_since(Instant::now()) {
                    Some(l) => l,
                    None => return Ok(false),
                },
                None => Duration::from_secs(1),
            };
            let slice = left.min(Duration::from_millis(100));
            // A live monitor's pidfd becomes readable when it exits, which is when the exit is recorded.
            let pidfd = (monitor && rec.monitor_pid > 0)
                .then(|| holm_sys::process::pidfd_open(rec.monitor_pid).ok())
                .flatten();
            match pidfd {
                Some(fd) => {
                    holm_sys::process::poll_readable(fd.as_fd(), slice.as_millis() as i32)?;
                }
                None => std::thread::sleep(slice.min(Duration::from_millis(10))),
            }
        }
    }

    /// `holm stop`: the stop signal (`--stop-signal`, else the image's, else SIGTERM), then SIGKILL after `timeout`
    /// (else `--stop-timeout`, else 10 s). Returns the
    /// id. A container that is not running is left as it is.
    pub fn stop(&self, what: &str, timeout: Option<u64>) -> Result<String> {
        self.stop_with(what, timeout, None)
    }

    /// [`Engine::stop`] with `signal` (`holm stop -s`) instead of the container's stop signal when given.
    pub fn stop_with(
        &self,
        what: &str,
        timeout: Option<u64>,
        signal: Option<i32>,
    ) -> Result<String> {
        let mut rec = self.find(what)?;
        // The restart policy must not bring it back (and a monitor waiting to restart it gives up).
        self.mark_no_restart(&rec)?;
        // A monitor between two runs either gives up now or has just started the next run (stopped below).
        let deadline = Instant::now() + Duration::from_secs(10);
        while rec.state != State::Running
            && self.monitor_alive(&rec.id)
            && Instant::now() < deadline
        {
            std::thread::sleep(Duration::from_millis(10));
            rec = self.find(&rec.id)?;
        }
        if rec.state != State::Running {
            return Ok(rec.id);
        }
        let sig = signal
            .or_else(|| holm_sys::signal::parse_signal(&rec.config.stop_signal))
            .unwrap_or(libc::SIGTERM);
        // With no monitor, nobody reaps the process to see its status; but a process that dies after our
        // SIGKILL (which it cannot catch) was killed by it: 137, as docker records for a stop that had to kill.
        let unmonitored = !self.monitor_alive(&rec.id);
        let store = self.runtime_for(rec.config.runtime.as_deref());
        // docker's events of a stop: kill (the signal), die (from the monitor), stop.
        self.emit_container(&rec, "kill", &[("signal", sig.to_string())]);
        let _ = store.kill(&rec.id, sig, false);
        let mut killed = sig == libc::SIGKILL;
        let secs = timeout.or(rec.config.stop_timeout).unwrap_or(10);
        // WAIT_FOREVER (docker's -1): no deadline
        let t = (secs != config::WAIT_FOREVER).then(|| Duration::from_secs(secs.min(1 << 32)));
        if !self.wait_stopped(&rec.id, t)? {
            self.emit_container(&rec, "kill", &[("signal", libc::SIGKILL.to_string())]);
            let _ = store.kill(&rec.id, libc::SIGKILL, true);
            killed = true;
            if !self.wait_stopped(&rec.id, Some(Duration::from_secs(10)))? {
                return Err(Error::BadState {
                    id: rec.id,
                    state: "running".into(),
                    msg: "it did not stop within 10 s of SIGKILL".into(),
                });
            }
        }
        if unmonitored && killed {
            self.db()?
                .set_unknown_exit_code(&rec.id, 128 + libc::SIGKILL)?;
        }
        self.emit_container(&rec, "stop", &[]);
        Ok(rec.id)
    }

    /// `holm rename`: gives the container another name (the hostname stays).
    pub fn rename(&self, what: &str, name: &str) -> Result<String> {
        let rec = self.find(what)?;
        let name = ids::validate_name(name)?;
        self.db()?.rename(&rec.id, &name)?;
        // docker's event: the new name, and the old one (with its `/`) as `oldName`
        let renamed = crate::ContainerRecord {
            name: name.clone(),
            ..rec.clone()
        };
        self.emit_container(&renamed, "rename", &[("oldName", format!("/{}", rec.name))]);
        Ok(rec.id)
    }

    /// Bytes in the container's writable layer (its snapshot's upper directory).
    pub fn writable_size(&self, id: &str) -> u64 {
        self.images().snapshot(id).map_or(0, |s| dir_size(&s.upper))
    }

    /// `holm container prune`: removes every container that is not running (nor paused or restarting); returns
    /// the removed ids and the bytes their writable layers held (the measure of `system df`).
    pub fn prune(&self) -> Result<(Vec<String>, u64)> {
        let mut removed = Vec::new();
        let mut bytes = 0;
        for (rec, st) in self.list()? {
            if !matches!(st, Status::Created | Status::Exited)
                || self.monitor_alive(&rec.id)
                || self.creator_alive(&rec)
            {
                continue;
            }
            // the writable layer, as `system df` counts it (docker's SizeRw for both)
            let size = self.writable_size(&rec.id);
            match ops::remove(self, &rec.id) {
                Ok(()) => {
                    bytes += size;
                    removed.push(rec.id);
                }
                Err(Error::NoSuchContainer(_)) => {}
                Err(e) => return Err(e),
            }
        }
        for id in self.orphans()? {
            let size = dir_size(&self.bundle(&id))
                + self
                    .images()
                    .snapshot(&id)
                    .map_or(0, |s| dir_size(&s.upper));
            ops::remove(self, &id)?;
            bytes += size;
            removed.push(id);
        }
        Ok((removed, bytes))
    }

    /// Container ids that have a bundle directory or a snapshot but no database row: left by a `holm` older than
    /// the `creating` row (which made them before inserting it) or by a crash of `rm` between its steps. A
    /// creation in progress is never one: its row is inserted before its first directory, and `rm` deletes the
    /// row last, so the directories are listed first and each looked up after.
    fn orphans(&self) -> Result<Vec<String>> {
        let mut ids: Vec<String> = match std::fs::read_dir(self.root().join("containers")) {
            Ok(rd) => rd
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(Error::io("list containers")(e)),
        };
        ids.extend(self.images().snapshots()?.into_iter().map(|s| s.id));
        ids.retain(|id| id.len() == 64 && id.bytes().all(|b| b.is_ascii_hexdigit()));
        ids.sort();
        ids.dedup();
        let db = self.db()?;
        let mut out = Vec::new();
        for id in ids {
            if db.get(&id)?.is_none() {
                out.push(id);
            }
        }
        Ok(out)
    }

    /// `holm restart`: stops the container (as [`Engine::stop`]) and starts it again, detached.
    pub fn restart(&self, what: &str, timeout: Option<u64>) -> Result<String> {
        self.restart_with(what, timeout, None)
    }

    /// [`Engine::restart`] with `signal` instead of the container's stop signal when given.
    pub fn restart_with(
        &self,
        what: &str,
        timeout: Option<u64>,
        signal: Option<i32>,
    ) -> Result<String> {
        let id = self.stop_with(what, timeout, signal)?;
        if let Some(s) = self.start(&id, None)? {
            self.detach(s);
        }
        self.emit_for(&id, "restart", &[]);
        Ok(id)
    }

    /// `holm kill`: sends `sig` to the container's init. Errors: not running.
    pub fn kill(&self, what: &str, sig: i32) -> Result<String> {
        let rec = self.find(what)?;
        if rec.state != State::Running {
            return Err(not_running(&rec));
        }
        // As docker: a container the user killed is not restarted by its policy.
        self.mark_no_restart(&rec)?;
        self.runtime_for(rec.config.runtime.as_deref())
            .kill(&rec.id, sig, false)?;
        self.emit_container(&rec, "kill", &[("signal", sig.to_string())]);
        Ok(rec.id)
    }

    /// `holm wait`: blocks until the container stops; its exit code (`None` if unknown). The container is
    /// resolved to its id first: if it is removed meanwhile (`--rm`, `rm`), the code recorded at its removal
    /// (kept for a few minutes, see [`crate::db::EXIT_CODE_KEEP_SECS`]) is returned, as docker does.
    pub fn wait(&self, what: &str) -> Result<Option<i32>> {
        let rec = self.find(what)?;
        self.wait_stopped(&rec.id, None)?;
        match self.find(&rec.id) {
            Ok(r) => Ok(r.exit_code),
            Err(Error::NoSuchContainer(_)) => self.db()?.removed_exit_code(&rec.id),
            Err(e) => Err(e),
        }
    }

    /// `holm pause`.
    pub fn pause(&self, what: &str) -> Result<String> {
        let rec = self.find(what)?;
        if rec.state != State::Running {
            return Err(not_running(&rec));
        }
        self.runtime_for(rec.config.runtime.as_deref())
            .pause(&rec.id)?;
        self.emit_container(&rec, "pause", &[]);
        Ok(rec.id)
    }

    /// `holm unpause`.
    pub fn unpause(&self, what: &str) -> Result<String> {
        let rec = self.find(what)?;
        if rec.state != State::Running {
            return Err(not_running(&rec));
        }
        self.runtime_for(rec.config.runtime.as_deref())
            .resume(&rec.id)?;
        self.emit_container(&rec, "unpause", &[]);
        Ok(rec.id)
    }

    /// `holm rm`: removes a container that is not running (with `force`, kills it first). Returns the id.
    pub fn remove(&self, what: &str, force: bool) -> Result<String> {
        self.remove_with(what, force, false)
    }

    /// [`Engine::remove`]; with `volumes` (`rm -v`), also the container's anonymous volumes.
    pub fn remove_with(&self, what: &str, force: bool, volumes: bool) -> Result<String> {
        let rec = self.find(what)?;
        if self.creator_alive(&rec) {
            return Err(creating(self, &rec));
        }
        if self.is_active(&rec) {
            if !force {
                return Err(Error::BadState {
                    state: self.status(&rec).as_str().into(),
                    id: rec.id,
                    msg: "You cannot remove a running container. Stop the container before attempting removal or force remove".into(),
                });
            }
            // Kill through the runtime (or, if its state was lost, through the cgroup); the monitor then records
            // the exit and goes (not restarting it).
            self.mark_no_restart(&rec)?;
            ops::release_runtime(self, &rec.id)?;
            self.wait_stopped(&rec.id, Some(Duration::from_secs(10)))?;
        }
        ops::remove_with(self, &rec.id, volumes)?;
        Ok(rec.id)
    }
}

/// Bytes of the regular files under `p` (not following symlinks, not crossing into mounts' contents twice).
fn dir_size(p: &std::path::Path) -> u64 {
    let Ok(m) = std::fs::symlink_metadata(p) else {
        return 0;
    };
    if !m.is_dir() {
        return if m.is_file() { m.len() } else { 0 };
    }
    std::fs::read_dir(p)
        .map(|rd| rd.flatten().map(|e| dir_size(&e.path())).sum())
        .unwrap_or(0)
}

/// A `creating` container cannot be started (nor removed while its creator runs).
fn creating(engine: &Engine, rec: &ContainerRecord) -> Error {
    Error::BadState {
        id: rec.id.clone(),
        state: "created".into(),
        msg: if engine.creator_alive(rec) {
            format!(
                "it is still being created (by holm pid {})",
                rec.monitor_pid
            )
        } else {
            "its creation was interrupted (the holm creating it died): remove it with `holm rm`"
                .into()
        },
    }
}

pub(crate) fn not_running(rec: &ContainerRecord) -> Error {
    Error::BadState {
        id: rec.id.clone(),
        state: "not running".into(),
        msg: "the operation needs a running container".into(),
    }
}

pub use crate::exec::ExecRequest;
