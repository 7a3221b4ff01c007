//! Helpers shared by the `exec_*` and `tty_*` integration tests: a running busybox container to exec into, and
//! readers for what the exec'd process printed.
#![allow(dead_code)]

use std::process::Output;
use std::time::Duration;

use holm_testkit::{require_root, unique_id, wait_until, Bundle, ContainerGuard, Runtime};

/// A `holm-runtime` with a private state root. Panics (never skips) without root.
pub fn runtime() -> Runtime {
    require_root();
    Runtime::new(env!("CARGO_BIN_EXE_holm-runtime"))
}

/// A busybox bundle whose process is `sleep 1000` (config written).
pub fn sleeper() -> Bundle {
    let mut b = Bundle::busybox();
    b.set_args(&["sleep", "1000"]);
    b
}

/// A running container of `bundle` (started with `run --detach`): its guard (force-deletes it on drop) and the
/// init's host pid.
pub fn running<'a>(rt: &'a Runtime, bundle: &Bundle, prefix: &str) -> (ContainerGuard<'a>, i32) {
    bundle.write_config();
    let id = unique_id(prefix);
    let guard = rt.guard(&id);
    rt.ok(&["run", "--detach", "--bundle", path_str(bundle.path()), &id]);
    let pid = rt.state(&id)["pid"].as_i64().expect("state has a pid") as i32;
    assert!(pid > 0, "running container without a pid");
    (guard, pid)
}

/// `exec ID sh -c SCRIPT` (whatever its exit status).
pub fn exec_sh(rt: &Runtime, id: &str, script: &str) -> Output {
    rt.run(&["exec", id, "sh", "-c", script])
}

/// Like [`exec_sh`] but asserts success and returns stdout.
pub fn exec_ok(rt: &Runtime, id: &str, script: &str) -> String {
    let out = exec_sh(rt, id, script);
    assert!(out.status.success(), "exec `{script}`: {}", describe(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A bundle path as `&str`.
pub fn path_str(p: &std::path::Path) -> &str {
    p.to_str().expect("UTF-8 path")
}

/// Status, stdout and stderr of `out`, for assertion messages.
pub fn describe(out: &Output) -> String {
    format!(
        "status {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// stderr of `out` (lossy UTF-8).
pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The value of the first `key=value` line of `text`; panics naming the key if there is none.
pub fn value_of(text: &str, key: &str) -> String {
    text.lines()
        .find_map(|l| l.strip_prefix(key).and_then(|r| r.strip_prefix('=')))
        .map(|v| v.trim().to_string())
        .unwrap_or_else(|| panic!("no `{key}=` line in:\n{text}"))
}

/// The field `name` (`Name:\tvalue`) of a `/proc/<pid>/status` text.
pub fn status_field(status: &str, name: &str) -> String {
    status
        .lines()
        .find_map(|l| l.strip_prefix(name).and_then(|r| r.strip_prefix(':')))
        .map(|v| v.trim().to_string())
        .unwrap_or_else(|| panic!("no `{name}:` in status:\n{status}"))
}

/// `readlink /proc/<pid>/ns/<name>` on the host.
pub fn ns_of(pid: i32, name: &str) -> String {
    let p = format!("/proc/{pid}/ns/{name}");
    std::fs::read_link(&p)
        .unwrap_or_else(|e| panic!("readlink `{p}`: {e}"))
        .to_string_lossy()
        .into_owned()
}

/// True while `pid` exists and is not a zombie.
pub fn alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(s) => !matches!(
            s.rsplit(')')
                .next()
                .and_then(|r| r.split_whitespace().next()),
            Some("Z") | Some("X")
        ),
        Err(_) => false,
    }
}

/// Waits (up to 10 s) until `pid` is gone.
pub fn wait_gone(pid: i32, what: &str) {
    wait_until(Duration::from_secs(10), what, || !alive(pid));
}

/// Reads a pid file written by the runtime.
pub fn read_pid_file(p: &std::path::Path) -> i32 {
    let text = std::fs::read_to_string(p).unwrap_or_else(|e| panic!("read `{}`: {e}", p.display()));
    text.trim()
        .parse()
        .unwrap_or_else(|e| panic!("pid file `{}` holds {text:?}: {e}", p.display()))
}

/// A pty master read by a background thread, so tests can wait for text with a timeout.
pub struct Pty {
    master: std::fs::File,
    rx: std::sync::mpsc::Receiver<Vec<u8>>,
    seen: String,
}

impl Pty {
    /// Starts reading `master` (as received from a console socket).
    pub fn new(master: std::os::fd::OwnedFd) -> Pty {
        let master = std::fs::File::from(master);
        let mut reader = master.try_clone().expect("dup pty master");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            loop {
                match std::io::Read::read(&mut reader, &mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        if tx.send(buf[..n].to_vec()).is_err() {
                            break;
                        }
                    }
                }
            }
        });
        Pty {
            master,
            rx,
            seen: String::new(),
        }
    }

    /// Types `text` into the terminal.
    pub fn type_text(&mut self, text: &str) {
        std::io::Write::write_all(&mut self.master, text.as_bytes()).expect("write to pty master");
    }

    /// Waits (up to 20 s) until the output since the last call contains `needle`; returns that output. Panics with
    /// everything seen otherwise.
    pub fn expect(&mut self, needle: &str) -> String {
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(i) = self.seen.find(needle) {
                let end = i + needle.len();
                let out = self.seen[..end].to_string();
                self.seen.drain(..end);
                return out;
            }
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.rx.recv_timeout(left) {
                Ok(chunk) => self.seen.push_str(&String::from_utf8_lossy(&chunk)),
                Err(_) => panic!(
                    "terminal output never contained {needle:?}; saw:\n{}",
                    self.seen
                ),
            }
        }
    }

    /// Waits (up to 20 s) until every peer of the pty is closed (the reader sees EOF or EIO).
    pub fn expect_closed(&mut self) -> String {
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.rx.recv_timeout(left) {
                Ok(chunk) => self.seen.push_str(&String::from_utf8_lossy(&chunk)),
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                    return std::mem::take(&mut self.seen)
                }
                Err(_) => panic!("the terminal was not closed; saw:\n{}", self.seen),
            }
        }
    }
}
