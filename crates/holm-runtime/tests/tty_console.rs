//! Issue 5, terminals: `process.terminal` and `exec --tty` with `--console-socket` (the pty master arrives over
//! the socket, runc's protocol), `/dev/console` as the pty, `consoleSize`, and the errors without a socket.

mod exec_support;

use exec_support::*;
use holm_testkit::{unique_id, ConsoleSocket};
use serde_json::json;
use std::time::Duration;

#[test]
fn exec_tty_sends_the_master_and_the_shell_answers() {
    let rt = runtime();
    let b = sleeper();
    let (g, _) = running(&rt, &b, "tty-exec");
    let sock = ConsoleSocket::new();
    let dir = tempfile::tempdir().unwrap();
    let pf = dir.path().join("pid");
    rt.ok(&[
        "exec",
        "--tty",
        "--detach",
        "--console-socket",
        path_str(sock.path()),
        "--pid-file",
        path_str(&pf),
        g.id(),
        "sh",
    ]);
    let (master, name) = sock.recv_master(Duration::from_secs(10));
    assert!(name.starts_with("/dev/pts/"), "pty name {name:?}");
    let mut pty = Pty::new(master);
    pty.type_text("echo \"answer=$((6*7))\"; tty; echo \"sid=$(cut -d' ' -f6 /proc/self/stat)\"\n");
    let out = pty.expect("answer=42");
    assert!(out.contains("answer=42"), "{out}");
    let out = pty.expect("sid=");
    assert!(out.contains(&name), "tty should print {name}: {out}");
    pty.type_text("exit 0\n");
    pty.expect_closed();
    wait_gone(read_pid_file(&pf), "the exec'd shell to exit");
}

#[test]
fn exec_tty_in_the_foreground_with_a_socket_returns_the_exit_code() {
    let rt = runtime();
    let b = sleeper();
    let (g, _) = running(&rt, &b, "tty-exec-fg");
    let sock = ConsoleSocket::new();
    let mut child = rt
        .cmd(&[
            "exec",
            "-t",
            "--console-socket",
            path_str(sock.path()),
            g.id(),
            "sh",
        ])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let (master, _) = sock.recv_master(Duration::from_secs(10));
    let mut pty = Pty::new(master);
    pty.type_text("stty size; exit 7\n");
    pty.expect_closed();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(7));
}

#[test]
fn terminal_container_has_the_pty_as_dev_console_and_its_size() {
    let rt = runtime();
    let mut b = sleeper();
    b.config_mut()["process"]["terminal"] = json!(true);
    b.config_mut()["process"]["consoleSize"] = json!({ "height": 33, "width": 111 });
    b.config_mut()["process"]["args"] = json!(["sh"]);
    b.write_config();
    let id = unique_id("tty-console");
    let _g = rt.guard(&id);
    let sock = ConsoleSocket::new();
    rt.ok(&[
        "create",
        "--console-socket",
        path_str(sock.path()),
        "--bundle",
        path_str(b.path()),
        &id,
    ]);
    let (master, name) = sock.recv_master(Duration::from_secs(10));
    rt.ok(&["start", &id]);
    let mut pty = Pty::new(master);
    pty.type_text(
        "echo \"console=$(stat -c '%F %t' /dev/console)\"; echo \"self=$(stat -L -c '%t:%T' /proc/self/fd/0)\"; \
         echo \"console_rdev=$(stat -c '%t:%T' /dev/console)\"; echo \"size=$(stty size)\"; \
         echo \"keys=$(wc -c < /proc/keys)\"; echo \"timer=$(wc -c < /proc/timer_list)\"; echo x > /proc/sys/kernel/domainname; echo \"ro=$?\"; echo \"end=$((1+1))\"\n",
    );
    let out = pty.expect("end=2");
    let out = out.replace('\r', "");
    // A character device with major 136 (0x88, the Unix98 pty slaves), the same one as our stdin.
    assert_eq!(
        value_of(&out, "console"),
        "character special file 88",
        "{out}"
    );
    assert_eq!(
        value_of(&out, "console_rdev"),
        value_of(&out, "self"),
        "{out}"
    );
    assert_eq!(value_of(&out, "size"), "33 111", "{out}");
    // Masked and read-only paths still hold.
    assert_eq!(value_of(&out, "keys"), "0", "{out}");
    assert_eq!(value_of(&out, "timer"), "0", "{out}");
    assert_ne!(value_of(&out, "ro"), "0", "{out}");
    assert!(name.starts_with("/dev/pts/"), "{name}");
    pty.type_text("exit\n");
    pty.expect_closed();
}

#[test]
fn terminal_without_a_console_socket_fails_and_leaves_nothing() {
    let rt = runtime();
    let mut b = sleeper();
    b.config_mut()["process"]["terminal"] = json!(true);
    b.write_config();
    let id = unique_id("tty-nosock");
    let _g = rt.guard(&id);
    let out = rt.fails(&["create", "--bundle", path_str(b.path()), &id]);
    assert!(
        stderr(&out).contains("console-socket"),
        "{}",
        describe(&out)
    );
    assert_eq!(rt.ok(&["list", "-q"]), "", "state left behind");
    assert!(
        std::fs::read_dir(rt.root()).map(|d| d.count()).unwrap_or(0) == 0,
        "state directory left behind"
    );
    let out = rt.fails(&["run", "--detach", "--bundle", path_str(b.path()), &id]);
    assert!(
        stderr(&out).contains("console-socket"),
        "{}",
        describe(&out)
    );
    assert_eq!(rt.ok(&["list", "-q"]), "", "state left behind");
}
