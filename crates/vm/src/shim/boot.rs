//! Starting the VM: boot the guest kernel, or restore a saved guest ([`crate::snapshot`]), then create the
//! container in it.

use super::{drain_console, kill_vmm, pod_net, Launch, Vm, BOOT_MODE, BOOT_TIMEOUT, NET_WIRING};
use crate::jail::{self, Bind, JailSpec, NetNs};
use crate::qemu::{Accel, QemuBuilder};
use crate::session::Control;
use crate::shim_api;
use crate::snapshot::{self, Saved, Template};
use holm_vm_proto::CreateRequest;
use std::fs::File;
use std::io::Write;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};

/// Bytes of host randomness each `Create` carries ([`CreateRequest::entropy`]).
const ENTROPY_BYTES: usize = 64;

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

/// One line in the shim's log (`shim.log`), best effort.
fn note(dir: &Path, msg: &str) {
    if let Ok(mut f) = File::options()
        .create(true)
        .append(true)
        .open(dir.join("shim.log"))
    {
        let _ = writeln!(f, "{msg}");
    }
}

/// What stays the same across attempts to start the VM (a failed restore is followed by a boot).
struct Prepared<'a> {
    dir: &'a Path,
    l: &'a Launch,
    /// The taps and their MACs, in device order (dup'ed for each attempt).
    nics: Vec<(OwnedFd, String)>,
    binds: Vec<Bind>,
    netns: Option<File>,
    vmm_log: File,
}

/// The host ends of the VM's channels.
struct Channels {
    ctl: UnixStream,
    stdio: UnixStream,
    console: UnixStream,
}

/// How an attempt starts the guest.
enum Mode<'a> {
    /// Boot the kernel; with a template directory and key, save the guest there once it is ready.
    Boot(Option<&'a (PathBuf, String)>),
    /// Load this template.
    Restore(&'a Template),
}

/// A VM whose container is created.
struct Started {
    vmm: i32,
    control: Control<UnixStream, UnixStream>,
    ctl: UnixStream,
    stdio: UnixStream,
    /// What [`BOOT_MODE`] says.
    how: &'static str,
}

impl Prepared<'_> {
    /// The VM's command line (fresh channels; dups of the taps).
    fn builder(&self) -> Result<(QemuBuilder, Channels), String> {
        let pair = || UnixStream::pair().map_err(|e| format!("socketpair: {e}"));
        let (ctl, ctl_q) = pair()?;
        let (stdio, stdio_q) = pair()?;
        let (console, console_q) = pair()?;
        let mut b = QemuBuilder::new(self.l.accel, self.l.size, "/vm/kernel")
            .initrd("/vm/initrd")
            .append(self.l.append.clone())
            .console(OwnedFd::from(console_q))
            .serial_port(holm_vm_proto::CONTROL_PORT, OwnedFd::from(ctl_q))
            .map_err(|e| e.to_string())?
            .serial_port(holm_vm_proto::STDIO_PORT, OwnedFd::from(stdio_q))
            .map_err(|e| e.to_string())?;
        for s in &self.l.shares {
            b = b.share(s.clone()).map_err(|e| e.to_string())?;
        }
        for (tap, mac) in &self.nics {
            let tap = tap.try_clone().map_err(|e| format!("dup tap: {e}"))?;
            b = b.nic(tap, mac).map_err(|e| e.to_string())?;
        }
        Ok((
            b,
            Channels {
                ctl,
                stdio,
                console,
            },
        ))
    }

    /// Starts qemu as `mode` says and creates the container with `request`. Errors: one line with qemu's and the
    /// console's last words; qemu is gone then.
    fn start(&self, mode: Mode<'_>, mut request: CreateRequest) -> Result<Started, String> {
        let dir = self.dir;
        let (mut b, ch) = self.builder()?;
        let mut qmp = None;
        match &mode {
            Mode::Boot(Some(_)) => {
                let (host, q) = UnixStream::pair().map_err(|e| format!("socketpair: {e}"))?;
                b = b.monitor(OwnedFd::from(q));
                qmp = Some(host);
            }
            Mode::Boot(None) => {}
            Mode::Restore(t) => {
                let (host, q) = UnixStream::pair().map_err(|e| format!("socketpair: {e}"))?;
                b = b.monitor(OwnedFd::from(q));
                qmp = Some(host);
                // A dup shares the file offset: qemu reads the stream from after the header.
                let f = t
                    .file
                    .try_clone()
                    .map_err(|e| format!("dup snapshot: {e}"))?;
                b = b.incoming(OwnedFd::from(f));
                // The saved guest's NICs have the saved VM's MACs: the agent finds each by that one.
                for n in request.networks.iter_mut() {
                    let Some(mac) = &n.mac else { continue };
                    let i = self
                        .nics
                        .iter()
                        .position(|(_, m)| m.eq_ignore_ascii_case(mac));
                    if let Some(old) = i.and_then(|i| t.macs.get(i)) {
                        if !old.eq_ignore_ascii_case(mac) {
                            n.guest_mac = Some(old.clone());
                        }
                    }
                }
            }
        }
        let vmm = jail::spawn(JailSpec {
            qemu: b.build(),
            root: dir.join("jail"),
            binds: self.binds.clone(),
            kvm: self.l.accel == Accel::Kvm,
            netns: match (&self.netns, self.l.new_netns) {
                (Some(f), _) => NetNs::Join(f.as_fd()),
                (None, true) => NetNs::New,
                (None, false) => NetNs::Inherit,
            },
            cgroup: self.l.cgroup.as_ref(),
            stderr: Some(self.vmm_log.as_fd()),
        })
        .map_err(|e| e.to_string())?
        .pid;
        // From here on threads are allowed: nothing forks any more (a fallback boot forks again only after this
        // attempt's threads are done: the console thread ends with qemu, and is joined on failure).
        let con_dir = dir.to_path_buf();
        let console = ch.console;
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
        let ctl = ch.ctl;
        let clone = |s: &UnixStream| s.try_clone().map_err(|e| format!("dup socket: {e}"));
        let mut control = Control::new(clone(&ctl)?, clone(&ctl)?);
        let mut how = "booted";
        match mode {
            Mode::Boot(save) => {
                ctl.set_read_timeout(Some(BOOT_TIMEOUT))
                    .map_err(|e| e.to_string())?;
                control
                    .wait_ready()
                    .map_err(|e| fail("waiting for the guest agent", &super::boot_error(&e)))?;
                if let (Some((sdir, key)), Some(sock)) = (save, qmp) {
                    let macs: Vec<String> = self.nics.iter().map(|(_, m)| m.clone()).collect();
                    let r = crate::qmp::Qmp::connect(sock, snapshot::SAVE_TIMEOUT)
                        .and_then(|mut q| snapshot::save(sdir, key, &macs, &mut q));
                    match r {
                        Ok(Saved::Written(p)) => {
                            how = "booted, saved a snapshot";
                            note(dir, &format!("saved snapshot {}", p.display()));
                        }
                        Ok(Saved::Busy) => note(dir, "snapshot: another VM is saving this shape"),
                        Err(e) => note(dir, &format!("snapshot not saved: {e}")),
                    }
                }
            }
            Mode::Restore(_) => {
                how = "restored";
                ctl.set_read_timeout(Some(snapshot::RESTORE_TIMEOUT))
                    .map_err(|e| e.to_string())?;
                // A guest that cannot be loaded ends here (qemu exits, or says why it did not start the guest),
                // before the request is sent.
                if let Some(sock) = qmp {
                    wait_running(sock).map_err(|e| fail("restoring the snapshot", &e))?;
                }
                // The saved guest announced `Ready` to the VM that was saved; it now waits for `Create`.
                control.assume_ready();
            }
        }
        let mut entropy = vec![0u8; ENTROPY_BYTES];
        holm_sys::random::getrandom(&mut entropy).map_err(|e| fail("host randomness", &e))?;
        request.entropy = entropy;
        request.realtime_ns = Some(holm_sys::random::realtime_ns());
        control.create(request).map_err(|e| {
            fail(
                "creating the container in the guest",
                &super::boot_error(&e),
            )
        })?;
        ctl.set_read_timeout(None).map_err(|e| e.to_string())?;
        Ok(Started {
            vmm,
            control,
            ctl,
            stdio: ch.stdio,
            how,
        })
    }
}

/// Waits until the restoring qemu behind the monitor `sock` runs the guest (QMP `query-status`), at most
/// [`snapshot::RESTORE_TIMEOUT`].
fn wait_running(sock: UnixStream) -> Result<(), String> {
    let deadline = std::time::Instant::now() + snapshot::RESTORE_TIMEOUT;
    let mut q = crate::qmp::Qmp::connect(sock, snapshot::RESTORE_TIMEOUT)?;
    loop {
        let r = q.execute("query-status", None)?;
        match r.get("status").and_then(|s| s.as_str()) {
            Some("running") => return Ok(()),
            Some("inmigrate") | Some("restore-vm") => {}
            other => return Err(format!("qemu's state after loading it: {other:?}")),
        }
        if std::time::Instant::now() >= deadline {
            return Err(format!(
                "still loading after {:?}",
                snapshot::RESTORE_TIMEOUT
            ));
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

pub(super) fn boot(dir: &Path) -> Result<Vm, String> {
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
    crate::qemu::check_devices(0, l.shares.len()).map_err(|e| e.to_string())?;
    // The network: each interface of the container's (existing) namespace moves to the guest through its own tap
    // (net::wire_all; eth0 first). A namespace without one (`--network none`, or a new empty namespace) gives the guest only lo.
    let mut request = l.request.clone();
    let terminal = request
        .config
        .process()
        .as_ref()
        .and_then(|p| p.terminal())
        .unwrap_or(false);
    let mut nics = Vec::new();
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
            nics.push((tap, w.network.mac.clone()));
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
    let p = Prepared {
        dir,
        l: &l,
        nics,
        binds,
        netns: netns_file,
        vmm_log,
    };
    // Snapshot boot under TCG only: KVM's saved state (kvmclock, the in-kernel irqchip) is not tested here (this
    // host's KVM boots no guest).
    let key = match (&l.snapshot_dir, l.accel) {
        (Some(sdir), Accel::Tcg) => {
            let shape = p.builder()?.0.shape();
            match snapshot::key(
                &shape,
                &l.kernel,
                &l.initrd,
                Path::new(crate::qemu::DEFAULT_QEMU),
            ) {
                Ok(k) => Some((sdir.clone(), k)),
                Err(e) => {
                    note(dir, &format!("snapshot boot off: {e}"));
                    None
                }
            }
        }
        _ => None,
    };
    let mut started = None;
    if let Some((sdir, k)) = &key {
        match snapshot::open(sdir, k) {
            Ok(Some(t)) => match p.start(Mode::Restore(&t), request.clone()) {
                Ok(s) => started = Some(s),
                Err(e) => {
                    note(
                        dir,
                        &format!(
                            "restoring {} failed, booting instead (the snapshot is removed): {e}",
                            t.path.display()
                        ),
                    );
                    snapshot::discard(&t);
                }
            },
            Ok(None) => {}
            Err(e) => {
                note(dir, &format!("{e}: removed, booting instead"));
                snapshot::discard_path(sdir, k);
            }
        }
    }
    let s = match started {
        Some(s) => s,
        None => p.start(Mode::Boot(key.as_ref()), request)?,
    };
    let _ = std::fs::write(dir.join(BOOT_MODE), format!("{}\n", s.how));
    let sock = dir.join(shim_api::SOCKET);
    let _ = std::fs::remove_file(&sock);
    let listener = match shim_api::with_socket_path(dir, |p| UnixListener::bind(p)) {
        Ok(l) => l,
        Err(e) => {
            kill_vmm(s.vmm);
            return Err(format!("VM: listen: {e}"));
        }
    };
    Ok(Vm {
        vmm: s.vmm,
        control: s.control,
        ctl: s.ctl,
        stdio: s.stdio,
        listener,
        stdin,
        stdout,
        stderr,
        terminal,
    })
}
