//! Issue 5, terminals without `--console-socket`: a foreground `run` (with `process.terminal`) or `exec --tty`
//! relays the pty itself between its own stdin/stdout and the container, as runc does.

mod exec_support;

use exec_support::*;
use holm_testkit::unique_id;
use serde_json::json;
use std::io::Write;
use std::os::fd::AsFd;
use std::process::Stdio;
use std::time::Duration;

/// Runs `cmd` with `input` on a pipe as stdin; returns (exit code, stdout).
fn with_piped_input(mut cmd: std::process::Command, input: &str) -> (Option<i32>, String) {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    let out = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("the runtime did not exit within 60 s")
        .unwrap();
    let text = format!(
        "{}\n--- stderr ---\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code(), text)
}

#[test]
fn exec_tty_without_a_socket_relays_stdin_and_stdout() {
    let rt = runtime();
    let b = sleeper();
    let (g, _) = running(&rt, &b, "relay-exec");
    let (code, out) = with_piped_input(
        rt.cmd(&["exec", "-t", g.id(), "sh"]),
        "echo \"a=$((6*7))\"; echo \"t=$(tty)\"\nexit 5\n",
    );
    assert_eq!(code, Some(5), "{out}");
    let out = out.replace('\r', "");
    assert_eq!(value_of(&out, "a"), "42", "{out}");
    assert!(value_of(&out, "t").starts_with("/dev/pts/"), "{out}");
}

#[test]
fn run_with_a_terminal_in_the_foreground_relays_it() {
    let rt = runtime();
    let mut b = sleeper();
    b.config_mut()["process"]["terminal"] = json!(true);
    b.set_args(&["sh"]);
    let id = unique_id("relay-run");
    let _g = rt.guard(&id);
    let (code, out) = with_piped_input(
        rt.cmd(&["run", "--bundle", path_str(b.path()), &id]),
        "echo \"b=$((6*7))\"; echo \"console=$(stat -c %t /dev/console)\"; exit 3\n",
    );
    assert_eq!(code, Some(3), "{out}");
    let out = out.replace('\r', "");
    assert_eq!(value_of(&out, "b"), "42", "{out}");
    assert_eq!(value_of(&out, "console"), "88", "{out}");
    assert_eq!(
        rt.ok(&["list", "-q"]),
        "",
        "a foreground run deletes its container"
    );
}

#[test]
fn run_on_a_real_terminal_passes_its_size_and_keystrokes() {
    let rt = runtime();
    let mut b = sleeper();
    b.config_mut()["process"]["terminal"] = json!(true);
    b.set_args(&["sh"]);
    let id = unique_id("relay-pty");
    let _g = rt.guard(&id);
    // Our own pty stands for the user's terminal.
    let master: std::os::fd::OwnedFd = std::fs::File::options()
        .read(true)
        .write(true)
        .open("/dev/ptmx")
        .unwrap()
        .into();
    let (peer, _) = holm_sys::tty::open_peer(master.as_fd()).unwrap();
    holm_sys::tty::set_winsize(peer.as_fd(), 40, 120).unwrap();
    let mut child = rt
        .cmd(&["run", "--bundle", path_str(b.path()), &id])
        .stdin(Stdio::from(peer.try_clone().unwrap()))
        .stdout(Stdio::from(peer.try_clone().unwrap()))
        .stderr(Stdio::from(peer))
        .spawn()
        .unwrap();
    let mut pty = Pty::new(master);
    pty.type_text("echo \"size=$(stty size)\"; echo \"c=$((6*7))\"\n");
    let out = pty.expect("c=42").replace('\r', "");
    assert_eq!(value_of(&out, "size"), "40 120", "{out}");
    pty.type_text("exit 4\n");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait());
    });
    let status = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("run did not exit")
        .unwrap();
    assert_eq!(status.code(), Some(4));
}
