//! `-i` and `-t`: an interactive shell through a pty the test drives (type, read the answer, resize, Ctrl-C,
//! Ctrl-D), stdin piped with `-i`, `run -dit`, and `exec -i/-t/-d`.

#[path = "../../image/tests/common/mod.rs"]
mod common;
mod engine_common;

use engine_common::pty::Pty;
use engine_common::{wait_until, Engine, IMAGE};
use std::io::Write;
use std::os::fd::AsFd;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

fn wait_exit(child: &mut Child) -> i32 {
    let end = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(st) = child.try_wait().unwrap() {
            return st.code().unwrap_or(-1);
        }
        if Instant::now() > end {
            let _ = child.kill();
            panic!("holm did not exit");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn run_it_gives_an_interactive_shell() {
    let e = Engine::new();
    let mut pty = Pty::new(40, 100, Duration::from_secs(10));
    let mut child = pty.spawn(e.cmd(&["run", "-it", "--rm", "--name", "shell", IMAGE, "sh"]));
    pty.expect("# ");
    pty.send("echo $((6*7)); stty size; tty\r");
    let out = pty.expect("/dev/pts/0");
    assert!(out.contains("42\r\n"), "{out:?}");
    assert!(out.contains("40 100\r\n"), "{out:?}");
    // the terminal is resized on SIGWINCH
    holm_sys::tty::set_winsize(pty.peer.as_fd(), 50, 120).unwrap();
    holm_sys::process::kill(child.id() as i32, libc::SIGWINCH).unwrap();
    assert!(
        pty.wait_size("50 120"),
        "the container's pty was not resized"
    );
    // Ctrl-C interrupts the foreground job, not the shell
    pty.send("sleep 100\r");
    std::thread::sleep(Duration::from_millis(300));
    pty.send("\x03");
    pty.send("echo after-$((1+1))\r");
    pty.expect("after-2");
    assert_eq!(e.status("shell"), "running");
    // Ctrl-D ends the shell, holm exits with its code, --rm removes it
    pty.send("\x04");
    assert_eq!(wait_exit(&mut child), 0);
    assert_eq!(e.ok(&["ps", "-aq"]), "");
    // holm put the terminal back as it was (canonical mode)
    let st = std::process::Command::new("stty")
        .args(["-a", "-F", &format!("/dev/pts/{}", pty.num)])
        .output()
        .unwrap();
    let st = String::from_utf8_lossy(&st.stdout);
    assert!(st.contains(" icanon") && !st.contains("-icanon"), "{st}");
}

#[test]
fn interactive_without_tty_pipes_stdin() {
    let e = Engine::new();
    let mut child = e
        .cmd(&["run", "-i", "--rm", IMAGE, "sh", "-c", "cat; echo done"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"line 1\nline 2\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "line 1\nline 2\ndone\n"
    );
    assert_eq!(out.status.code(), Some(0));
    // without -i the container's stdin is empty
    let mut child = e
        .cmd(&["run", "--rm", IMAGE, "sh", "-c", "cat; echo done"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let _ = child.stdin.take().unwrap().write_all(b"ignored\n");
    let out = child.wait_with_output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "done\n");
    // -it needs a terminal
    let (_, err) = e.code(125, &["run", "-it", "--rm", IMAGE, "true"]);
    assert!(err.contains("not a TTY"), "{err}");
}

#[test]
fn detached_tty_and_exec_i_t_d() {
    let e = Engine::new();
    // -dit: a shell waiting on its terminal keeps running
    let id = e.detached(&["-it", "--name", "bg", IMAGE, "sh"]);
    let v = e.inspect("bg");
    assert_eq!(
        (
            v["Config"]["Tty"].as_bool(),
            v["Config"]["OpenStdin"].as_bool()
        ),
        (Some(true), Some(true))
    );
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(e.status("bg"), "running");
    assert_eq!(
        e.ok(&["exec", "bg", "sh", "-c", "readlink /proc/1/fd/0"])
            .trim(),
        "/dev/pts/0"
    );
    // exec -it: a second shell on its own pty
    let mut pty = Pty::new(30, 90, Duration::from_secs(10));
    let mut child = pty.spawn(e.cmd(&["exec", "-it", "bg", "sh"]));
    pty.expect("# ");
    pty.send("echo $((2+3)); stty size\r");
    let out = pty.expect("30 90");
    assert!(out.contains("5\r\n"), "{out:?}");
    pty.send("exit 4\r");
    assert_eq!(wait_exit(&mut child), 4);
    // exec -i: stdin piped; without -i: none
    let mut child = e
        .cmd(&["exec", "-i", "bg", "cat"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"piped\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "piped\n");
    let mut child = e
        .cmd(&["exec", "bg", "cat"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let _ = child.stdin.as_mut().unwrap().write_all(b"x\n");
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.stdout, b"");
    // exec -d returns at once; its process runs on
    let out = e.ok(&[
        "exec",
        "-d",
        "bg",
        "sh",
        "-c",
        "sleep 0.2; echo bg-done > /tmp/f",
    ]);
    assert_eq!(out, "");
    wait_until(Duration::from_secs(10), "exec -d wrote", || {
        e.run(&["exec", "bg", "cat", "/tmp/f"]).stdout == b"bg-done\n"
    });
    e.ok(&["rm", "-f", "bg"]);
    e.assert_gone(&id);
}

#[test]
fn start_ai_and_a_killed_client() {
    let e = Engine::new();
    // create -it, then start -ai attaches a terminal to it
    e.ok(&["create", "-it", "--name", "later", IMAGE, "sh"]);
    let mut pty = Pty::new(24, 80, Duration::from_secs(10));
    let mut child = pty.spawn(e.cmd(&["start", "-ai", "later"]));
    pty.expect("# ");
    pty.send("echo started-$((3*3))\r");
    pty.expect("started-9");
    pty.send("exit 6\r");
    assert_eq!(wait_exit(&mut child), 6);
    assert_eq!(e.inspect("later")["State"]["ExitCode"], 6);
    // the output went to the log too
    assert!(e.ok(&["logs", "later"]).contains("started-9"));

    // kill -9 of an attached holm: the container and its monitor live on, and rm -f cleans up
    let mut pty = Pty::new(24, 80, Duration::from_secs(10));
    let mut child = pty.spawn(e.cmd(&["run", "-it", "--name", "orphaned", IMAGE, "sh"]));
    pty.expect("# ");
    child.kill().unwrap();
    child.wait().unwrap();
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(e.status("orphaned"), "running");
    let id = e.inspect("orphaned")["Id"].as_str().unwrap().to_string();
    assert_eq!(e.ok(&["exec", "orphaned", "echo", "alive"]), "alive\n");
    e.ok(&["rm", "-f", "orphaned"]);
    e.assert_gone(&id);
}
