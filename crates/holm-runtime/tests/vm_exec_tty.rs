//! `holm-runtime --isolation vm exec --tty` (issue 13), one VM for every check (boots cost seconds under TCG):
//!
//! - `exec --tty --detach --console-socket S` (how conmon and containerd call it): the master arrives on the
//!   socket; the guest shell has the pty as its controlling terminal (it leads its own session), so Ctrl-C
//!   interrupts its foreground `sleep` and the shell survives; the guest pty's size follows the host pty's
//!   (`stty size` after a resize of the master); `exit 3` closes the terminal and ends the `--pid-file` process;
//! - `exec -t` in the foreground without a console socket (the runtime relays its own terminal, as runc does):
//!   the process sees the size of the runtime's terminal, Ctrl-C works the same, and the exit code comes back;
//!   a process whose first act is `stty size` sees that size (the guest pty is created with it);
//! - a foreground `exec` without a terminal passes the signals the runtime gets on to the guest process (as runc's
//!   does): SIGINT to the runtime runs the process's INT trap in the guest, whose exit code comes back.
//!
//! Helpers: vm_support (needs the guest kernel and the static agent).

mod lifecycle_util;
mod vm_support;

use holm_testkit::{unique_id, wait_until, Bundle, ConsoleSocket};
use lifecycle_util::*;
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::time::{Duration, Instant};
use vm_support::*;

/// How long one answer of the guest shell may take (TCG on a loaded 2-core host).
const ANSWER: Duration = Duration::from_secs(60);

/// A pty master the test types into and reads from (a thread reads it, so waits have a timeout).
struct Term {
    master: File,
    rx: std::sync::mpsc::Receiver<Vec<u8>>,
    seen: String,
    marks: u32,
}

impl Term {
    fn new(master: OwnedFd) -> Term {
        let master = File::from(master);
        let mut reader = master.try_clone().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = reader.read(&mut buf) {
                if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                    break;
                }
            }
        });
        Term {
            master,
            rx,
            seen: String::new(),
            marks: 0,
        }
    }

    fn send(&mut self, s: &str) {
        self.master.write_all(s.as_bytes()).unwrap();
    }

    /// Reads until the output since the last call contains `what` (within `t`); returns it up to `what`'s end.
    fn expect_within(&mut self, what: &str, t: Duration) -> String {
        let end = Instant::now() + t;
        while !self.seen.contains(what) {
            let left = end.saturating_duration_since(Instant::now());
            match self.rx.recv_timeout(left) {
                Ok(b) => self.seen.push_str(&String::from_utf8_lossy(&b)),
                Err(e) => panic!("waiting for {what:?} ({e:?}); got {:?}", self.seen),
            }
        }
        let at = self.seen.find(what).unwrap() + what.len();
        let out = self.seen[..at].to_string();
        self.seen.drain(..at);
        out
    }

    /// Runs `line` in the shell; its output up to a marker the shell computes (the echo of the typed line does
    /// not contain it).
    fn run_line(&mut self, line: &str) -> String {
        self.marks += 1;
        let n = self.marks;
        self.send(&format!("{line}; echo M{n}-$(({n}+1))\r"));
        self.expect_within(&format!("M{n}-{}", n + 1), ANSWER)
    }

    /// Asks `stty size` until it answers `size` (`ROWS COLS`), for up to 50 tries.
    fn wait_size(&mut self, size: &str) -> bool {
        (0..50).any(|_| {
            let hit = self.run_line("stty size").contains(size);
            if !hit {
                std::thread::sleep(Duration::from_millis(100));
            }
            hit
        })
    }

    /// Waits until every peer of the pty is closed.
    fn expect_closed(&mut self) {
        let end = Instant::now() + ANSWER;
        loop {
            let left = end.saturating_duration_since(Instant::now());
            match self.rx.recv_timeout(left) {
                Ok(b) => self.seen.push_str(&String::from_utf8_lossy(&b)),
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => return,
                Err(e) => panic!("the terminal was not closed ({e:?}); got {:?}", self.seen),
            }
        }
    }

    /// `sleep 100` in the foreground, Ctrl-C, then a command: it must answer long before the sleep's end, from
    /// the same shell (`$$` unchanged).
    fn interrupt_sleep(&mut self) {
        let shell = self.run_line("echo pid=$$");
        // The last match is the output (the typed line is echoed before it, maybe twice).
        let shell = shell
            .rsplit("pid=")
            .next()
            .and_then(|s| s.lines().next())
            .map(str::trim);
        let t = Instant::now();
        // Ctrl-C once `sleep` runs (a second after the shell printed the line before it), not while the shell
        // itself is still the foreground job.
        self.send("echo sleep-$((2+3)); sleep 100\r");
        self.expect_within("sleep-5", ANSWER);
        std::thread::sleep(Duration::from_millis(1500));
        self.send("\x03");
        let out = self.run_line("echo after-$((1+1)) pid=$$");
        assert!(out.contains("after-2"), "{out:?}");
        assert!(
            t.elapsed() < Duration::from_secs(90),
            "Ctrl-C did not interrupt `sleep 100` (the shell answered after {:?}): {out:?}",
            t.elapsed()
        );
        if let Some(pid) = shell {
            assert!(
                out.contains(&format!("pid={pid}")),
                "another shell answered ({pid} before): {out:?}"
            );
        }
    }
}

/// A new pty pair (master, peer) of the host, `rows` × `cols`.
fn pty_pair(rows: u16, cols: u16) -> (OwnedFd, OwnedFd) {
    let master: OwnedFd = File::options()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NOCTTY | libc::O_CLOEXEC)
        .open("/dev/ptmx")
        .unwrap()
        .into();
    let (peer, _) = holm_sys::tty::open_peer(master.as_fd()).unwrap();
    holm_sys::tty::set_winsize(peer.as_fd(), rows, cols).unwrap();
    (master, peer)
}

#[test]
fn vm_exec_with_a_terminal() {
    let rt = vm_runtime();
    let id = unique_id("vm-exectty");
    let mut b = Bundle::busybox();
    b.set_args(&["sleep", "3000"]);
    let _g = rt.guard(&id);
    let _io = create_vm(&rt, &["--isolation", "vm"], &b, &id);
    rt.ok(&["start", &id]);
    wait_vm_status(&rt, &id, "running");

    // Detached, with a console socket.
    let sock = ConsoleSocket::new();
    let dir = tempfile::tempdir().unwrap();
    let pf = dir.path().join("exec.pid");
    rt.ok(&[
        "exec",
        "--tty",
        "--detach",
        "--console-socket",
        path_str(sock.path()),
        "--pid-file",
        path_str(&pf),
        &id,
        "sh",
    ]);
    let (master, name) = sock.recv_master(ANSWER);
    assert!(name.starts_with("/dev/pts/"), "pty name {name:?}");
    let pid: i32 = std::fs::read_to_string(&pf)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    holm_sys::tty::set_winsize(master.as_fd(), 33, 77).unwrap();
    let mut t = Term::new(master);
    // The shell leads its own session, on the guest pty as its controlling terminal (`tty` names it).
    let out = t.run_line("echo sid=$(cut -d' ' -f6 /proc/$$/stat) self=$$; tty");
    let sid = out.rsplit("sid=").next().and_then(|s| s.split(' ').next());
    let me = out
        .rsplit("self=")
        .next()
        .and_then(|s| s.lines().next())
        .map(str::trim);
    assert!(sid.is_some() && sid == me, "not a session leader: {out:?}");
    assert!(out.contains("/dev/pts/"), "{out:?}");
    assert!(
        t.wait_size("33 77"),
        "the guest pty did not get the host pty's size"
    );
    holm_sys::tty::set_winsize(t.master.as_fd(), 41, 101).unwrap();
    assert!(
        t.wait_size("41 101"),
        "the guest pty did not follow a resize"
    );
    t.interrupt_sleep();
    t.send("exit 3\r");
    t.expect_closed();
    wait_until(
        Duration::from_secs(60),
        "the --pid-file process to end",
        || {
            !std::path::Path::new(&format!("/proc/{pid}")).exists()
                || std::fs::read_to_string(format!("/proc/{pid}/stat"))
                    .map(|s| s.contains(") Z "))
                    .unwrap_or(true)
        },
    );

    // In the foreground without a console socket: the runtime's own terminal, relayed.
    let (master, peer) = pty_pair(24, 90);
    let io = || std::process::Stdio::from(File::from(peer.try_clone().unwrap()));
    let mut child = rt
        .cmd(&["exec", "-t", &id, "sh"])
        .stdin(io())
        .stdout(io())
        .stderr(io())
        .spawn()
        .unwrap();
    drop(peer);
    let mut t = Term::new(master);
    assert!(
        t.wait_size("24 90"),
        "the guest pty did not get the runtime terminal's size"
    );
    t.interrupt_sleep();
    t.send("exit 7\r");
    let end = Instant::now() + ANSWER;
    let code = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st.code();
        }
        if Instant::now() > end {
            let _ = child.kill();
            panic!("exec -t did not return; terminal: {:?}", t.seen);
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(code, Some(7), "terminal: {:?}", t.seen);

    // The guest pty has the terminal's size from its start, not after a first resize: a process whose first act
    // is `stty size` sees it (no retry here; before, it could see 0x0 and busybox printed `stty: standard input:
    // Resource temporarily unavailable`, a stale errno). Three times, as it was a race.
    for i in 0..3 {
        let (master, peer) = pty_pair(27, 93);
        let io = || std::process::Stdio::from(File::from(peer.try_clone().unwrap()));
        let mut child = rt
            .cmd(&["exec", "-t", &id, "busybox", "stty", "size"])
            .stdin(io())
            .stdout(io())
            .stderr(io())
            .spawn()
            .unwrap();
        drop(peer);
        let mut t = Term::new(master);
        t.expect_closed();
        let st = child.wait().unwrap();
        assert!(st.success(), "run {i}: {st:?}, terminal: {:?}", t.seen);
        assert!(
            t.seen.replace('\r', "").contains("27 93\n"),
            "run {i}: the guest pty's size at the process's start: {:?}",
            t.seen
        );
    }

    // A foreground exec passes its signals on.
    let out = dir.path().join("trap.out");
    let mut child = rt
        .cmd(&[
            "exec",
            &id,
            "sh",
            "-c",
            "trap 'echo got-int; exit 9' INT; echo ready; while :; do sleep 1; done",
        ])
        .stdin(std::process::Stdio::null())
        .stdout(File::create(&out).unwrap())
        .spawn()
        .unwrap();
    let text = || std::fs::read_to_string(&out).unwrap_or_default();
    wait_until(ANSWER, "the trap script to be ready", || {
        text().contains("ready")
    });
    holm_sys::process::kill(child.id() as i32, libc::SIGINT).unwrap();
    let end = Instant::now() + ANSWER;
    let code = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st.code();
        }
        if Instant::now() > end {
            let _ = child.kill();
            panic!("exec did not end after SIGINT; output: {:?}", text());
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(code, Some(9), "output: {:?}", text());
    assert!(text().contains("got-int"), "{:?}", text());
    assert_eq!(status(&rt, &id).0, "running");
}
