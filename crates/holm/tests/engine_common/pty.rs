//! A pty pair for interactive tests: the test holds the master and reads what holm writes; holm (or anything
//! spawned with [`Pty::stdio`]) gets the peer as its stdin/stdout/stderr.

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A pty pair; `seen` holds output read but not yet returned by [`Pty::expect`].
pub struct Pty {
    pub master: File,
    pub peer: OwnedFd,
    /// The peer's number: `/dev/pts/<num>`.
    pub num: u32,
    seen: String,
    /// How many [`Pty::run_line`] markers were used.
    marks: u32,
    /// How long [`Pty::expect`] waits.
    timeout: Duration,
}

impl Pty {
    /// A new pair whose window is `rows` × `cols`; [`Pty::expect`] waits up to `timeout`.
    pub fn new(rows: u16, cols: u16, timeout: Duration) -> Pty {
        let master = File::options()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NOCTTY | libc::O_CLOEXEC)
            .open("/dev/ptmx")
            .unwrap();
        let (peer, num) = holm_sys::tty::open_peer(master.as_fd()).unwrap();
        holm_sys::tty::set_winsize(peer.as_fd(), rows, cols).unwrap();
        Pty {
            master,
            peer,
            num,
            seen: String::new(),
            marks: 0,
            timeout,
        }
    }

    /// Spawns `cmd` with the peer as its stdin, stdout and stderr.
    pub fn spawn(&self, mut cmd: Command) -> Child {
        let io = || Stdio::from(self.peer.try_clone().unwrap());
        cmd.stdin(io()).stdout(io()).stderr(io()).spawn().unwrap()
    }

    /// Writes `s` to the master (what a user types).
    pub fn send(&mut self, s: &str) {
        self.master.write_all(s.as_bytes()).unwrap();
    }

    /// Reads until the output since the last call contains `what`; returns that output (up to `what`'s end).
    /// Panics when the pty closes or the timeout passes.
    pub fn expect(&mut self, what: &str) -> String {
        let end = Instant::now() + self.timeout;
        let mut buf = [0u8; 4096];
        while !self.seen.contains(what) {
            let left = end.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "timed out waiting for {what:?}; got {:?}",
                self.seen
            );
            if holm_sys::process::poll_readable(self.master.as_fd(), left.as_millis() as i32)
                .unwrap()
            {
                match self.master.read(&mut buf) {
                    Ok(n) if n > 0 => self.seen.push_str(&String::from_utf8_lossy(&buf[..n])),
                    _ => panic!("pty closed waiting for {what:?}; got {:?}", self.seen),
                }
            }
        }
        let at = self.seen.find(what).unwrap() + what.len();
        let out = self.seen[..at].to_string();
        self.seen.drain(..at);
        out
    }

    /// Runs `line` in the shell on the pty and returns its output: everything up to a marker the shell computes
    /// (`M<n>-<n+1>`, which the echoed command line does not contain), so a prompt or output left over from an
    /// earlier command is never taken for this one's.
    pub fn run_line(&mut self, line: &str) -> String {
        self.marks += 1;
        let n = self.marks;
        self.send(&format!("{line}; echo M{n}-$(({n}+1))\r"));
        self.expect(&format!("M{n}-{}", n + 1))
    }

    /// Asks `stty size` until the shell answers `size` ("ROWS COLS"), for up to 50 tries 0.1 s apart.
    pub fn wait_size(&mut self, size: &str) -> bool {
        for _ in 0..50 {
            if self.run_line("stty size").contains(size) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        false
    }
}
