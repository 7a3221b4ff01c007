//! End to end: the real guest kernel boots the real static agent from holm's initramfs under qemu (TCG), with a
//! busybox bundle's rootfs shared over 9p; the host drives it through `holm_vm::session`.
//!
//! Needs root, qemu-system-x86, the guest kernel (`$HOLM_VM_KERNEL`, default `/var/lib/holm/vm/vmlinuz`, built by
//! `scripts/build-guest-kernel.sh`) and the static agent (`$HOLM_VM_AGENT`, else built here by
//! `scripts/build-agent.sh`). Each test boots at most one VM, killed by a guard on any failure.

use holm_vm::session::{Control, Output, Stdio};
use holm_vm_proto::{CreateRequest, ExitStatus, Share, ShareType};
use std::io::Read;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio as PStdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Boot + one container under TCG takes seconds; this bounds a stuck guest.
const TIMEOUT: Duration = Duration::from_secs(120);

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn kernel() -> PathBuf {
    let k = std::env::var_os("HOLM_VM_KERNEL")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/lib/holm/vm/vmlinuz"));
    assert!(
        k.is_file(),
        "guest kernel `{}` not found: build it with scripts/build-guest-kernel.sh or set HOLM_VM_KERNEL",
        k.display()
    );
    k
}

fn agent() -> PathBuf {
    static AGENT: Mutex<Option<PathBuf>> = Mutex::new(None);
    let mut a = AGENT.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(p) = &*a {
        return p.clone();
    }
    let p = match std::env::var_os("HOLM_VM_AGENT") {
        Some(p) => PathBuf::from(p),
        None => {
            let out = Command::new(repo_root().join("scripts/build-agent.sh"))
                .output()
                .expect("run scripts/build-agent.sh");
            assert!(
                out.status.success(),
                "scripts/build-agent.sh failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            PathBuf::from(String::from_utf8(out.stdout).unwrap().trim())
        }
    };
    *a = Some(p.clone());
    p
}

/// A booted VM: qemu, the host ends of its ports, its console log. Killed on drop.
struct Vm {
    qemu: Child,
    control: UnixStream,
    stdio: UnixStream,
    console: Arc<Mutex<Vec<u8>>>,
    _dir: tempfile::TempDir,
}

impl Drop for Vm {
    fn drop(&mut self) {
        let _ = self.qemu.kill();
        let _ = self.qemu.wait();
    }
}

impl Vm {
    fn console_text(&self) -> String {
        String::from_utf8_lossy(&self.console.lock().unwrap()).into_owned()
    }

    /// Waits for qemu to exit on its own (the guest powered off).
    fn wait_exit(&mut self) -> std::process::ExitStatus {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            if let Some(st) = self.qemu.try_wait().unwrap() {
                return st;
            }
            assert!(
                Instant::now() < deadline,
                "qemu did not exit after shutdown:\n{}",
                self.console_text()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

fn accept(l: &UnixListener, qemu: &mut Child, what: &str) -> UnixStream {
    l.set_nonblocking(true).unwrap();
    let deadline = Instant::now() + TIMEOUT;
    loop {
        match l.accept() {
            Ok((s, _)) => {
                s.set_nonblocking(false).unwrap();
                return s;
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) => panic!("accept {what}: {e}"),
        }
        if let Some(st) = qemu.try_wait().unwrap() {
            let mut err = String::new();
            if let Some(e) = qemu.stderr.as_mut() {
                let _ = e.read_to_string(&mut err);
            }
            panic!("qemu exited ({st}) before connecting {what}: {err}");
        }
        assert!(Instant::now() < deadline, "qemu did not connect {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Boots a VM sharing `rootfs` as 9p tag `rootfs`. A minimal qemu command line: the machine, devices and kernel
/// command line of holm_vm::qemu's builder (no `reboot=t`: the agent itself asks for a triple-fault restart), with
/// socket paths instead of passed fds, since the jail's launcher forks and libtest runs tests on threads.
/// `volumes`: `(host directory, mount tag, read-only)`, each one more 9p device (qemu refuses writes to a read-only
/// one whatever the guest does).
fn boot(rootfs: &Path, volumes: &[(&Path, &str, bool)]) -> Vm {
    boot_with(rootfs, volumes, "")
}

/// [`boot`] with `extra` added to the kernel command line.
fn boot_with(rootfs: &Path, volumes: &[(&Path, &str, bool)], extra: &str) -> Vm {
    let dir = tempfile::tempdir().unwrap();
    let initrd = holm_vm::initramfs::ensure(&agent(), &dir.path().join("cache"))
        .unwrap()
        .path;
    let sock = |n: &str| {
        let p = dir.path().join(n);
        (UnixListener::bind(&p).unwrap(), p)
    };
    let (con_l, con_p) = sock("console.sock");
    let (ctl_l, ctl_p) = sock("control.sock");
    let (std_l, std_p) = sock("stdio.sock");
    let mut qemu = Command::new("qemu-system-x86_64")
        .args(["-nodefaults", "-no-user-config", "-nographic"])
        .args([
            "-machine",
            "microvm,x-option-roms=off,isa-serial=off,rtc=off,acpi=off",
        ])
        .args(["-accel", "tcg", "-m", "256M", "-smp", "1", "-no-reboot"])
        .arg("-kernel")
        .arg(kernel())
        .arg("-initrd")
        .arg(&initrd)
        .arg("-append")
        .arg(format!("console=hvc0 panic=-1 no_timer_check {extra}"))
        .args(["-device", "virtio-serial-device"])
        .arg("-chardev")
        .arg(format!("socket,id=con,path={}", con_p.display()))
        .args(["-device", "virtconsole,chardev=con"])
        .args(["-cpu", "max"])
        .arg("-chardev")
        .arg(format!("socket,id=ctl,path={}", ctl_p.display()))
        .args([
            "-device",
            "virtserialport,chardev=ctl,name=org.holm.control",
        ])
        .arg("-chardev")
        .arg(format!("socket,id=sio,path={}", std_p.display()))
        .args(["-device", "virtserialport,chardev=sio,name=org.holm.stdio"])
        .arg("-fsdev")
        .arg(format!(
            "local,id=fs0,path={},security_model=passthrough,multidevs=remap",
            rootfs.display()
        ))
        .args(["-device", "virtio-9p-device,fsdev=fs0,mount_tag=rootfs"])
        // A NIC on qemu's user-mode network, restricted (no way out of the VM): enough to see eth0's setup.
        .args(["-netdev", "user,id=n0,restrict=on"])
        .args([
            "-device",
            "virtio-net-device,netdev=n0,mac=02:42:0a:00:02:0f",
        ])
        .args(volumes.iter().enumerate().flat_map(|(i, (path, tag, ro))| {
            let ro = if *ro { ",readonly=on" } else { "" };
            [
                "-fsdev".to_string(),
                format!(
                    "local,id=vol{i},path={},security_model=passthrough,multidevs=remap{ro}",
                    path.display()
                ),
                "-device".to_string(),
                format!("virtio-9p-device,fsdev=vol{i},mount_tag={tag}"),
            ]
        }))
        .stdin(PStdio::null())
        .stdout(PStdio::null())
        .stderr(PStdio::piped())
        .spawn()
        .expect("spawn qemu-system-x86_64 (Debian package qemu-system-x86)");
    let mut con = accept(&con_l, &mut qemu, "the console");
    let control = accept(&ctl_l, &mut qemu, "the control port");
    let stdio = accept(&std_l, &mut qemu, "the stdio port");
    let console = Arc::new(Mutex::new(Vec::new()));
    let c2 = console.clone();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = con.read(&mut buf) {
            if n == 0 {
                break;
            }
            let mut c = c2.lock().unwrap();
            if c.len() < (1 << 20) {
                c.extend_from_slice(&buf[..n]);
            }
        }
    });
    for s in [&control, &stdio] {
        s.set_read_timeout(Some(TIMEOUT)).unwrap();
    }
    Vm {
        qemu,
        control,
        stdio,
        console,
        _dir: dir,
    }
}

/// A create request for a busybox bundle whose rootfs is shared as tag `rootfs`.
fn create_request(bundle: &holm_testkit::Bundle, id: &str) -> CreateRequest {
    let mut config: oci_spec::runtime::Spec =
        serde_json::from_value(bundle.config().clone()).unwrap();
    let guest_root = "/run/holm/rootfs";
    let mut root = config.root().clone().unwrap();
    root.set_path(guest_root.into());
    config.set_root(Some(root));
    CreateRequest {
        id: id.into(),
        config: Box::new(config),
        rootfs: Share {
            fstype: ShareType::NineP,
            tag: "rootfs".into(),
            guest_path: guest_root.into(),
            readonly: false,
        },
        volumes: vec![],
        networks: Vec::new(),
        hostname: None,
        entropy: Vec::new(),
        realtime_ns: None,
    }
}

type Collected = Arc<Mutex<Vec<Output>>>;

/// Reads the stdio port on a thread until `streams` have all ended.
fn collect(
    mut stdio: Stdio<UnixStream, UnixStream>,
    streams: usize,
) -> (Collected, std::thread::JoinHandle<()>) {
    let out: Collected = Arc::default();
    let o = out.clone();
    let h = std::thread::spawn(move || {
        let mut ended = 0;
        while ended < streams {
            match stdio.next_output() {
                Ok(Some(x)) => {
                    if matches!(x, Output::End(_)) {
                        ended += 1;
                    }
                    o.lock().unwrap().push(x);
                }
                Ok(None) => break,
                Err(e) => panic!("stdio: {e}"),
            }
        }
    });
    (out, h)
}

fn stdout_of(out: &Collected, stream: u32) -> String {
    let mut s = Vec::new();
    for o in out.lock().unwrap().iter() {
        if let Output::Stdout(st, d) = o {
            if *st == stream {
                s.extend_from_slice(d);
            }
        }
    }
    String::from_utf8_lossy(&s).into_owned()
}

#[test]
fn container_runs_in_the_guest_with_stdio_exec_and_exit_code() {
    holm_testkit::require_root();
    let mut bundle = holm_testkit::Bundle::busybox();
    // The init waits for a line on stdin, so an exec can run meanwhile; then it exits with 3.
    bundle.set_args(&[
        "sh",
        "-c",
        "echo hi; echo vol > /data/f; touch /ro/x 2>/dev/null || echo ro-refused; read line; \
         echo \"got $line\"; echo err >&2; exit 3",
    ]);
    let id = holm_testkit::unique_id("vmguest");
    // Two volumes: read-write at /data, read-only at /ro.
    let rw = tempfile::tempdir().unwrap();
    let ro = tempfile::tempdir().unwrap();
    let mut vm = boot(
        &bundle.rootfs(),
        &[(rw.path(), "vol0", false), (ro.path(), "vol1", true)],
    );
    let mut control = Control::new(
        vm.control.try_clone().unwrap(),
        vm.control.try_clone().unwrap(),
    );
    let stdio = Stdio::new(
        vm.stdio.try_clone().unwrap(),
        vm.stdio.try_clone().unwrap(),
        control.streams(),
    );
    let mut stdin = Stdio::new(
        vm.stdio.try_clone().unwrap(),
        vm.stdio.try_clone().unwrap(),
        control.streams(),
    );
    let ready = control
        .wait_ready()
        .unwrap_or_else(|e| panic!("{e}\nconsole:\n{}", vm.console_text()));
    let host_release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap();
    assert_ne!(
        ready.kernel,
        host_release.trim(),
        "the guest runs its own kernel"
    );

    // A create that fails inside the container's init (a bind mount of a missing source) is an error reply
    // naming the source; the agent stays up and the next create works.
    let mut bad = create_request(&bundle, &id);
    let mut mounts = bad.config.mounts().clone().unwrap_or_default();
    mounts.push(
        serde_json::from_value(serde_json::json!({
            "destination": "/x", "type": "bind", "source": "/nonexistent-in-guest", "options": ["bind"]
        }))
        .unwrap(),
    );
    bad.config.set_mounts(Some(mounts));
    let e = control.create(bad).unwrap_err();
    assert!(!e.is_violation(), "{e}");
    assert!(e.to_string().contains("/nonexistent-in-guest"), "{e}");

    let mut req = create_request(&bundle, &id);
    let mut mounts = req.config.mounts().clone().unwrap_or_default();
    for (i, (dest, ro)) in [("/data", false), ("/ro", true)].into_iter().enumerate() {
        let guest_path = format!("/run/holm/volumes/{i}");
        req.volumes.push(Share {
            fstype: ShareType::NineP,
            tag: format!("vol{i}"),
            guest_path: guest_path.clone(),
            readonly: ro,
        });
        let opts = if ro {
            vec!["rbind", "ro"]
        } else {
            vec!["rbind"]
        };
        mounts.push(
            serde_json::from_value(serde_json::json!({
                "destination": dest, "type": "bind", "source": guest_path, "options": opts
            }))
            .unwrap(),
        );
    }
    req.config.set_mounts(Some(mounts));
    let pid = control
        .create(req)
        .unwrap_or_else(|e| panic!("create: {e}\nconsole:\n{}", vm.console_text()));
    assert!(pid > 0);
    let (out, reader) = collect(stdio, 2);
    assert_eq!(control.start().unwrap(), pid);

    // exec: `uname -r` inside the container shows the guest kernel, not the host's.
    let mut p: oci_spec::runtime::Process =
        serde_json::from_value(bundle.config()["process"].clone()).unwrap();
    p.set_args(Some(vec!["uname".into(), "-r".into()]));
    control
        .exec(1, p)
        .unwrap_or_else(|e| panic!("exec: {e}\nconsole:\n{}", vm.console_text()));
    stdin.close_stdin(1).unwrap();
    assert_eq!(control.next_exit().unwrap(), (1, ExitStatus::Code(0)));

    stdin.send_stdin(0, b"ping\n").unwrap();
    stdin.close_stdin(0).unwrap();
    let (stream, status) = control.next_exit().unwrap();
    assert_eq!((stream, status.shell_code()), (0, 3));
    reader.join().unwrap();

    assert_eq!(stdout_of(&out, 0), "hi\nro-refused\ngot ping\n");
    assert_eq!(
        std::fs::read_to_string(rw.path().join("f")).unwrap(),
        "vol\n"
    );
    assert!(!ro.path().join("x").exists());
    let guest_release = stdout_of(&out, 1);
    assert_eq!(
        guest_release.trim(),
        ready.kernel,
        "uname -r in the container"
    );
    assert_ne!(guest_release.trim(), host_release.trim());
    let errs: Vec<_> = out
        .lock()
        .unwrap()
        .iter()
        .filter_map(|o| match o {
            Output::Stderr(0, d) => Some(d.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(errs.concat(), b"err\n");

    control.shutdown().unwrap();
    // The agent powered the guest off; qemu (-no-reboot) exits 0.
    let st = vm.wait_exit();
    assert!(st.success(), "qemu: {st}\nconsole:\n{}", vm.console_text());
}

#[test]
fn a_guest_sending_garbage_is_a_violation() {
    // A fake guest on a real socket: a valid Ready, then bytes that are no frame.
    let (host, mut guest) = UnixStream::pair().unwrap();
    host.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let t = std::thread::spawn(move || {
        let mut w = holm_vm_proto::Writer::new(&mut guest);
        w.write(&holm_vm_proto::GuestFrame::Event(
            holm_vm_proto::Event::Ready(holm_vm_proto::Ready {
                protocol: holm_vm_proto::PROTOCOL_VERSION,
                kernel: "fake".into(),
            }),
        ))
        .unwrap();
        use std::io::Write;
        // A header announcing 4 GiB of control message, then junk.
        let _ = guest.write_all(&[0xff, 0xff, 0xff, 0xff, 1, b'{']);
        guest
    });
    let mut control = Control::new(host.try_clone().unwrap(), host);
    assert_eq!(control.wait_ready().unwrap().kernel, "fake");
    let e = control.ps().unwrap_err();
    assert!(e.is_violation(), "{e}");
    assert!(e.to_string().contains("body of 4294967294 bytes"), "{e}");
    drop(t.join().unwrap());
}

#[test]
fn tty_exec_resize_ps_stats_pause_and_kill() {
    holm_testkit::require_root();
    let mut bundle = holm_testkit::Bundle::busybox();
    bundle.set_args(&["sleep", "1000"]);
    let id = holm_testkit::unique_id("vmguest");
    let mut vm = boot(&bundle.rootfs(), &[]);
    let mut control = Control::new(
        vm.control.try_clone().unwrap(),
        vm.control.try_clone().unwrap(),
    );
    let stdio = Stdio::new(
        vm.stdio.try_clone().unwrap(),
        vm.stdio.try_clone().unwrap(),
        control.streams(),
    );
    let mut stdin = Stdio::new(
        vm.stdio.try_clone().unwrap(),
        vm.stdio.try_clone().unwrap(),
        control.streams(),
    );
    control
        .wait_ready()
        .unwrap_or_else(|e| panic!("{e}\nconsole:\n{}", vm.console_text()));
    let mut req = create_request(&bundle, &id);
    req.networks = vec![holm_vm_proto::NetworkConfig {
        interface: "eth0".into(),
        mac: Some("02:42:0a:00:02:0f".into()),
        guest_mac: None,
        mtu: Some(1400),
        addresses: vec![holm_vm_proto::Address {
            address: "10.0.2.15".parse().unwrap(),
            prefix_len: 24,
            broadcast: None,
            scope: holm_vm_proto::Scope::Universe,
            noprefixroute: false,
        }],
        routes: vec![holm_vm_proto::Route {
            destination: "0.0.0.0".parse().unwrap(),
            prefix_len: 0,
            gateway: Some("10.0.2.2".parse().unwrap()),
            source: None,
            metric: None,
            scope: holm_vm_proto::Scope::Universe,
            onlink: false,
            mtu: None,
        }],
    }];
    let pid = control
        .create(req)
        .unwrap_or_else(|e| panic!("create: {e}\nconsole:\n{}", vm.console_text()));
    let (out, reader) = collect(stdio, 4);
    control.start().unwrap();
    stdin.close_stdin(0).unwrap();

    // A shell on a pty: resize it, then it prints its size and whether stdin is a terminal.
    let mut p: oci_spec::runtime::Process =
        serde_json::from_value(bundle.config()["process"].clone()).unwrap();
    p.set_terminal(Some(true));
    p.set_args(Some(vec!["sh".into()]));
    control
        .exec(1, p)
        .unwrap_or_else(|e| panic!("exec: {e}\nconsole:\n{}", vm.console_text()));
    control.resize(1, 50, 100).unwrap();
    stdin
        .send_stdin(1, b"stty size; [ -t 0 ] && echo tty-yes; exit 7\n")
        .unwrap();
    assert_eq!(control.next_exit().unwrap(), (1, ExitStatus::Code(7)));
    let tty = stdout_of(&out, 1);
    assert!(tty.contains("50 100"), "{tty:?}");
    assert!(tty.contains("tty-yes"), "{tty:?}");
    // Resizing a stream without a terminal is the guest's error, not a violation.
    let e = control.resize(0, 1, 1).unwrap_err();
    assert!(!e.is_violation(), "{e}");

    // A process that writes 300 KB before it reads its 512 KiB of stdin: more than the pipes hold both ways, so the
    // agent must keep relaying output while input waits (a blocking stdin write deadlocks with the process blocked
    // on its full stdout).
    let mut p: oci_spec::runtime::Process =
        serde_json::from_value(bundle.config()["process"].clone()).unwrap();
    p.set_args(Some(vec![
        "sh".into(),
        "-c".into(),
        "sleep 1; head -c 300000 /dev/zero; wc -c".into(),
    ]));
    control.exec(2, p).unwrap();
    let big: Vec<u8> = (0..512 * 1024).map(|i| (i % 251) as u8).collect();
    stdin.send_stdin(2, &big).unwrap();
    stdin.close_stdin(2).unwrap();
    assert_eq!(control.next_exit().unwrap(), (2, ExitStatus::Code(0)));

    // eth0 as the agent configured it, seen from the container (which keeps the guest's network namespace).
    let mut p: oci_spec::runtime::Process =
        serde_json::from_value(bundle.config()["process"].clone()).unwrap();
    p.set_args(Some(vec![
        "sh".into(),
        "-c".into(),
        "ip -4 addr show eth0; ip route; cat /sys/class/net/eth0/mtu /sys/class/net/eth0/address"
            .into(),
    ]));
    control.exec(3, p).unwrap();
    stdin.close_stdin(3).unwrap();
    assert_eq!(control.next_exit().unwrap(), (3, ExitStatus::Code(0)));

    // ps lists the init (guest pid); stats read the container's cgroup v2 files in the guest.
    assert!(control.ps().unwrap().contains(&pid));
    let st = control.stats().unwrap();
    assert!(st.pids_current.unwrap_or(0) >= 1, "{st:?}");
    assert!(st.memory_current.unwrap_or(0) > 0, "{st:?}");
    control.pause().unwrap();
    control.resume().unwrap();

    control.signal(9, false, None).unwrap();
    assert_eq!(control.next_exit().unwrap(), (0, ExitStatus::Signal(9)));
    reader.join().unwrap();
    let got: Vec<u8> = out
        .lock()
        .unwrap()
        .iter()
        .filter_map(|o| match o {
            Output::Stdout(2, d) => Some(d.clone()),
            _ => None,
        })
        .collect::<Vec<_>>()
        .concat();
    assert!(
        got.len() > 300_000 && got[..300_000].iter().all(|b| *b == 0),
        "{} bytes",
        got.len()
    );
    assert_eq!(String::from_utf8_lossy(&got[300_000..]).trim(), "524288");
    let ip = stdout_of(&out, 3);
    assert!(ip.contains("inet 10.0.2.15/24"), "{ip}");
    assert!(ip.contains("default via 10.0.2.2 dev eth0"), "{ip}");
    assert!(ip.contains("\n1400\n02:42:0a:00:02:0f"), "{ip}");
    control.shutdown().unwrap();
    let st = vm.wait_exit();
    assert!(st.success(), "qemu: {st}\nconsole:\n{}", vm.console_text());
}

/// The agent's recovery from virtio-serial ports that never show up (seen once in ~400 loaded boots): it re-binds
/// the virtio console driver, which resets the device and restarts the port discovery. Forced here with
/// `holm.rebind_ports`: the driver is re-bound before the agent looks for its ports, the ports come back, and the
/// agent announces itself and shuts down on request.
#[test]
fn ports_come_back_after_the_console_driver_is_rebound() {
    holm_testkit::require_root();
    let bundle = holm_testkit::Bundle::busybox();
    let mut vm = boot_with(&bundle.rootfs(), &[], "holm.rebind_ports");
    let mut control = Control::new(
        vm.control.try_clone().unwrap(),
        vm.control.try_clone().unwrap(),
    );
    control
        .wait_ready()
        .unwrap_or_else(|e| panic!("{e}\nconsole:\n{}", vm.console_text()));
    control.shutdown().unwrap();
    assert!(vm.wait_exit().success());
    let console = vm.console_text();
    assert!(
        console.contains("re-bound the virtio console driver (holm.rebind_ports): virtio")
            && console.contains(": unbound, bound"),
        "console:\n{console}"
    );
}
