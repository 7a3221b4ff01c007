//! Issue 5, stdio without a terminal: the container's and the exec'd process's stdio are the runtime's own (as in
//! runc, which containerd and podman rely on); the runtime's helpers keep none of the caller's pipes, and the
//! exec'd process gets no fd of the runtime beyond 0-2 and `--preserve-fds`.
//!
//! `holm-runtime create ID | cat` behaves like runc's: `create` itself returns at once, but `cat` ends only
//! when the container's process (which holds the pipe as its stdout) ends or the container is deleted.

mod exec_support;

use exec_support::*;
use holm_testkit::unique_id;
use std::io::{Read, Write};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

/// Waits for `child` up to `timeout`; kills it and panics on expiry.
fn wait_for(child: &mut Child, timeout: Duration, what: &str) -> std::process::ExitStatus {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(st) = child.try_wait().unwrap() {
            return st;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what} did not exit within {timeout:?}");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Reads `r` to EOF on a thread; returns what was read, or panics if EOF does not come within `timeout`.
fn read_to_eof(mut r: impl Read + Send + 'static, timeout: Duration, what: &str) -> String {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut s = String::new();
        let _ = r.read_to_string(&mut s);
        let _ = tx.send(s);
    });
    rx.recv_timeout(timeout)
        .unwrap_or_else(|_| panic!("{what}: no EOF within {timeout:?}"))
}

#[test]
fn run_with_cat_copies_a_pipe_and_exits_at_eof() {
    let rt = runtime();
    let mut b = sleeper();
    b.set_args(&["cat"]);
    let id = unique_id("stdio-run-cat");
    let _g = rt.guard(&id);
    let mut child = rt
        .cmd(&["run", "--bundle", path_str(b.path()), &id])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"hi\n").unwrap();
    let out = read_to_eof(
        child.stdout.take().unwrap(),
        Duration::from_secs(30),
        "run's stdout",
    );
    let st = wait_for(&mut child, Duration::from_secs(30), "run");
    assert_eq!(out, "hi\n");
    assert_eq!(st.code(), Some(0));
}

#[test]
fn exec_with_cat_copies_a_pipe_and_exits_at_eof() {
    let rt = runtime();
    let b = sleeper();
    let (g, _) = running(&rt, &b, "stdio-exec-cat");
    let mut child = rt
        .cmd(&["exec", g.id(), "cat"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"hi from exec\n")
        .unwrap();
    let out = read_to_eof(
        child.stdout.take().unwrap(),
        Duration::from_secs(30),
        "exec's stdout",
    );
    let st = wait_for(&mut child, Duration::from_secs(30), "exec");
    assert_eq!(out, "hi from exec\n");
    assert_eq!(st.code(), Some(0));
}

#[test]
fn create_returns_at_once_with_a_pipe_as_stdout_and_only_the_container_holds_it() {
    let rt = runtime();
    let mut b = sleeper();
    b.set_args(&["sh", "-c", "echo from-the-container; sleep 1000"]);
    let id = unique_id("stdio-create-pipe");
    let _g = rt.guard(&id);
    let mut child = rt
        .cmd(&["create", "--bundle", path_str(b.path()), &id])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let st = wait_for(
        &mut child,
        Duration::from_secs(20),
        "create with a pipe as stdout",
    );
    assert!(st.success(), "{st}");
    // The container inherited the pipe: its output arrives there once started.
    rt.ok(&["start", &id]);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut r = stdout;
        let mut all = String::new();
        let mut buf = [0u8; 256];
        loop {
            match r.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    all.push_str(&String::from_utf8_lossy(&buf[..n]));
                    let _ = tx.send(all.clone());
                }
            }
        }
        let _ = tx.send(format!("{all}<EOF>"));
    });
    let first = rx
        .recv_timeout(Duration::from_secs(20))
        .expect("no output from the container");
    assert_eq!(first, "from-the-container\n");
    // Deleting the container ends the pipe at once: no helper of the runtime keeps a copy.
    rt.ok(&["delete", "--force", &id]);
    let last = loop {
        let m = rx
            .recv_timeout(Duration::from_secs(10))
            .expect("the pipe stayed open after delete");
        if m.ends_with("<EOF>") {
            break m;
        }
    };
    assert_eq!(last, "from-the-container\n<EOF>");
}

#[test]
fn exec_detach_returns_at_once_with_a_pipe_as_stdout() {
    let rt = runtime();
    let b = sleeper();
    let (g, _) = running(&rt, &b, "stdio-exec-detach");
    let mut child = rt
        .cmd(&[
            "exec",
            "-d",
            g.id(),
            "sh",
            "-c",
            "echo detached-output; exec sleep 1000",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let st = wait_for(
        &mut child,
        Duration::from_secs(20),
        "exec -d with a pipe as stdout",
    );
    assert!(st.success(), "{st}");
    let mut buf = [0u8; 64];
    let n = stdout.read(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"detached-output\n");
    // The exec'd process holds the pipe, nothing else: killing it ends the pipe.
    rt.ok(&["kill", "--all", g.id(), "KILL"]);
    assert_eq!(
        read_to_eof(stdout, Duration::from_secs(10), "exec'd stdout after kill"),
        ""
    );
}

#[test]
fn exec_passes_only_stdio_and_preserved_fds() {
    let rt = runtime();
    let b = sleeper();
    let (g, _) = running(&rt, &b, "stdio-fds");
    let out = exec_ok(&rt, g.id(), "ls /proc/self/fd | tr '\\n' ' '");
    // 0-2, and the directory ls itself opened.
    assert_eq!(
        out.trim(),
        "0 1 2 3",
        "fds leaked into the exec'd process: {out}"
    );

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("shared");
    std::fs::write(&file, "passed-in\n").unwrap();
    let script = format!(
        "exec 3<'{}'; exec '{}' --root '{}' exec --preserve-fds 1 '{}' sh -c 'cat <&3; ls /proc/self/fd | tr \"\\n\" \" \"'",
        file.display(),
        rt.bin().display(),
        rt.root().display(),
        g.id()
    );
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(&script)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", describe(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with("passed-in\n"), "{text}");
    assert_eq!(
        text.lines().nth(1).map(str::trim),
        Some("0 1 2 3 4"),
        "{text}"
    );
}
