//! `holm-runtime run` in the foreground and detached: the container's stdout, exit-code passthrough, death by
//! signal (128+N), a missing executable, `--detach` and `--pid-file`, and that nothing is left afterwards.

mod lifecycle_util;

use holm_testkit::{unique_id, wait_until, Bundle};
use lifecycle_util::*;
use std::time::{Duration, Instant};

/// `run <bundle> <id>`, returning the whole output.
fn run_fg(rt: &holm_testkit::Runtime, b: &Bundle, id: &str) -> std::process::Output {
    rt.run(&["run", "--bundle", path_str(b.path()), id])
}

#[test]
fn run_prints_container_stdout_and_exits_zero() {
    let rt = runtime();
    let mut b = Bundle::busybox();
    b.set_args(&["sh", "-c", "echo hello from holm; echo to-stderr >&2"]);
    let id = unique_id("run-stdout");
    let _g = rt.guard(&id);
    let out = run_fg(&rt, &b, &id);
    assert_eq!(out.status.code(), Some(0), "stderr: {}", stderr(&out));
    assert_eq!(stdout(&out), "hello from holm\n");
    assert!(stderr(&out).contains("to-stderr"), "{}", stderr(&out));
    // A foreground run deletes its container.
    assert_no_trace(&rt, &id, b.path());
}

#[test]
fn run_passes_the_exit_code_through() {
    let rt = runtime();
    let mut b = Bundle::busybox();
    for code in [3, 1, 42, 255] {
        b.set_args(&["sh", "-c", &format!("exit {code}")]);
        let id = unique_id("run-exit");
        let _g = rt.guard(&id);
        let out = run_fg(&rt, &b, &id);
        assert_eq!(out.status.code(), Some(code), "stderr: {}", stderr(&out));
        assert_no_trace(&rt, &id, b.path());
    }
}

#[test]
fn run_of_a_process_killed_by_a_signal_exits_128_plus_n() {
    let rt = runtime();
    let mut b = Bundle::busybox();
    // Without a pid namespace the shell is not a namespace init, so it can signal itself.
    remove_namespace(&mut b, "pid");
    for (sig, code) in [("9", 137), ("TERM", 143), ("KILL", 137), ("INT", 130)] {
        b.set_args(&[
            "sh",
            "-c",
            &format!("echo before; kill -{sig} $$; echo after"),
        ]);
        let id = unique_id("run-sig");
        let _g = rt.guard(&id);
        let out = run_fg(&rt, &b, &id);
        assert_eq!(
            out.status.code(),
            Some(code),
            "kill -{sig}: stdout {:?} stderr {:?}",
            stdout(&out),
            stderr(&out)
        );
        assert_eq!(stdout(&out), "before\n", "kill -{sig}");
        assert_no_trace(&rt, &id, b.path());
    }
}

#[test]
fn run_of_a_pid_namespace_init_killed_from_the_host_exits_137() {
    let rt = runtime();
    let mut b = Bundle::busybox();
    b.set_args(&["sleep", "100"]);
    let id = unique_id("run-killed");
    let _g = rt.guard(&id);
    let start = Instant::now();
    let running = spawn(rt.cmd(&["run", "--bundle", path_str(b.path()), &id]));
    wait_until(Duration::from_secs(20), "the container to run", || {
        rt.run(&["state", &id]).status.success() && status(&rt, &id).0 == "running"
    });
    rt.ok(&["kill", &id, "KILL"]);
    let out = running.finish(Duration::from_secs(30));
    assert_eq!(out.status.code(), Some(137), "stderr: {}", stderr(&out));
    assert!(start.elapsed() < Duration::from_secs(60));
    assert_no_trace(&rt, &id, b.path());
}

#[test]
fn run_in_the_foreground_forwards_signals_to_the_container() {
    let rt = runtime();
    let mut b = Bundle::busybox();
    // The shell traps TERM (a pid-namespace init ignores signals it has no handler for) and reports it.
    b.set_args(&[
        "sh",
        "-c",
        "trap 'echo got-term; exit 7' TERM; echo ready > /tmp/ready; while :; do sleep 0.05; done",
    ]);
    let id = unique_id("run-fwd");
    let _g = rt.guard(&id);
    let running = spawn(rt.cmd(&["run", "--bundle", path_str(b.path()), &id]));
    let ready = b.rootfs().join("tmp/ready");
    wait_until(Duration::from_secs(20), "the container to be ready", || {
        ready.exists()
    });
    send_signal(running.child.id() as i32, "TERM");
    let out = running.finish(Duration::from_secs(30));
    assert_eq!(out.status.code(), Some(7), "stderr: {}", stderr(&out));
    assert_eq!(stdout(&out), "got-term\n");
    assert_no_trace(&rt, &id, b.path());
}

#[test]
fn missing_executable_fails_run_naming_it_and_leaves_nothing() {
    let rt = runtime();
    let mut b = Bundle::busybox();
    for exe in ["/bin/holm-no-such-program", "holm-no-such-program-in-path"] {
        b.set_args(&[exe, "arg"]);
        let id = unique_id("run-noexe");
        let _g = rt.guard(&id);
        let out = rt.fails(&["run", "--bundle", path_str(b.path()), &id]);
        assert_ne!(out.status.code(), Some(0));
        let err = stderr(&out);
        assert!(err.contains(exe), "error should name `{exe}`: {err}");
        assert_no_trace(&rt, &id, b.path());
    }
    assert_root_empty(&rt);
}

#[test]
fn missing_executable_fails_create_naming_it_and_leaves_nothing() {
    let rt = runtime();
    let mut b = Bundle::busybox();
    for exe in ["/bin/holm-no-such-program", "holm-no-such-program-in-path"] {
        b.set_args(&[exe]);
        let id = unique_id("create-noexe");
        let _g = rt.guard(&id);
        let out = rt.fails(&["create", "--bundle", path_str(b.path()), &id]);
        let err = stderr(&out);
        assert!(err.contains(exe), "error should name `{exe}`: {err}");
        assert_no_trace(&rt, &id, b.path());
    }
    assert_root_empty(&rt);
}

#[test]
fn a_directory_as_executable_fails_create() {
    let rt = runtime();
    let mut b = Bundle::busybox();
    b.set_args(&["/etc"]);
    let id = unique_id("create-direxe");
    let _g = rt.guard(&id);
    let out = rt.fails(&["create", "--bundle", path_str(b.path()), &id]);
    assert!(stderr(&out).contains("/etc"), "{}", stderr(&out));
    assert_no_trace(&rt, &id, b.path());
}

#[test]
fn run_detach_returns_while_the_container_keeps_running() {
    let rt = runtime();
    let mut b = Bundle::busybox();
    b.set_args(&["sleep", "100"]);
    let id = unique_id("run-detach");
    let g = rt.guard(&id);
    let tmp = tempfile::tempdir().unwrap();
    let pid_file = tmp.path().join("init.pid");
    let start = Instant::now();
    rt.ok(&[
        "run",
        "--detach",
        "--pid-file",
        path_str(&pid_file),
        "--bundle",
        path_str(b.path()),
        &id,
    ]);
    assert!(
        start.elapsed() < Duration::from_secs(20),
        "run --detach took {:?} for a container sleeping 100 s",
        start.elapsed()
    );
    let (st, pid) = status(&rt, &id);
    assert_eq!(st, "running");
    let file_pid: i64 = read_or_empty(&pid_file)
        .trim()
        .parse()
        .unwrap_or_else(|e| panic!("pid file `{}`: {e}", pid_file.display()));
    assert_eq!(file_pid, pid, "pid file vs state");
    assert!(alive(pid as i32), "init {pid} not alive");
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap();
    assert_eq!(
        comm.trim(),
        "sleep",
        "the init should have exec'd the process"
    );
    // Still running a moment later.
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(status(&rt, &id).0, "running");

    rt.ok(&["delete", "--force", &id]);
    drop(g);
    assert!(!alive(pid as i32), "init {pid} survived delete --force");
    assert_no_trace(&rt, &id, b.path());
}

#[test]
fn create_pid_file_holds_the_init_pid() {
    let rt = runtime();
    let mut b = Bundle::busybox();
    b.set_args(&["sleep", "100"]);
    let id = unique_id("create-pidfile");
    let _g = rt.guard(&id);
    let tmp = tempfile::tempdir().unwrap();
    let pid_file = tmp.path().join("sub-pid");
    rt.ok(&[
        "create",
        "--pid-file",
        path_str(&pid_file),
        "--bundle",
        path_str(b.path()),
        &id,
    ]);
    let (st, pid) = status(&rt, &id);
    assert_eq!(st, "created");
    assert_eq!(read_or_empty(&pid_file).trim(), pid.to_string());
    // No temp file left next to it.
    let names: Vec<_> = std::fs::read_dir(tmp.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(names, vec![std::ffi::OsString::from("sub-pid")]);
    rt.ok(&["delete", "--force", &id]);
    assert_no_trace(&rt, &id, b.path());
}

#[test]
fn run_in_the_foreground_passes_stdin_to_the_container() {
    let rt = runtime();
    let mut b = Bundle::busybox();
    b.set_args(&["sh", "-c", "tr a-z A-Z; echo end"]);
    let id = unique_id("run-stdin");
    let _g = rt.guard(&id);
    let mut input = tempfile::tempfile().unwrap();
    std::io::Write::write_all(&mut input, b"hello stdin\n").unwrap();
    std::io::Seek::rewind(&mut input).unwrap();
    let mut cmd = rt.cmd(&["run", "--bundle", path_str(b.path()), &id]);
    cmd.stdin(input);
    let out = spawn_keep_stdin(cmd).finish(Duration::from_secs(60));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out), "HELLO STDIN\nend\n");
    assert_no_trace(&rt, &id, b.path());
}

#[test]
fn run_detach_with_a_pipe_as_stdout_returns_promptly() {
    let rt = runtime();
    let mut b = Bundle::busybox();
    b.set_args(&["sleep", "100"]);
    let id = unique_id("run-detach-pipe");
    let _g = rt.guard(&id);
    let mut child = rt
        .cmd(&["run", "-d", "--bundle", path_str(b.path()), &id])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let st = wait_timeout(&mut child, Duration::from_secs(10));
    if st.is_none() {
        let _ = child.kill();
        let _ = child.wait();
    }
    let st = st.expect("run -d with piped stdout did not return within 10 s");
    assert!(st.success(), "{st}");
    drop(child);
    assert_eq!(status(&rt, &id).0, "running");
    rt.ok(&["delete", "--force", &id]);
    assert_no_trace(&rt, &id, b.path());
}

#[test]
fn run_whose_start_container_hook_fails_fails_and_leaves_nothing() {
    let rt = runtime();
    let mut b = Bundle::busybox();
    b.set_args(&["sh", "-c", "echo ran"]);
    b.config_mut()["hooks"] = serde_json::json!({"startContainer": [{"path": "/bin/false"}]});
    b.write_config();
    let id = unique_id("run-startctr-fail");
    let _g = rt.guard(&id);
    let out = rt.fails(&["run", "--bundle", path_str(b.path()), &id]);
    assert!(!stdout(&out).contains("ran"), "the process ran");
    assert!(stderr(&out).contains("startContainer"), "{}", stderr(&out));
    assert_no_trace(&rt, &id, b.path());
}

#[test]
fn errors_go_to_the_log_file_in_text_and_json() {
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    let id = unique_id("log-file");
    for (format, check) in [
        (
            "text",
            (|l: &str| l.contains("level=error") && l.contains("msg=")) as fn(&str) -> bool,
        ),
        ("json", |l: &str| {
            let v: serde_json::Value = serde_json::from_str(l).expect("a JSON log line");
            v["level"] == "error" && v["msg"].is_string() && v["time"].is_string()
        }),
    ] {
        let log = dir.path().join(format!("{format}.log"));
        let out = rt.fails(&[
            "--log",
            path_str(&log),
            "--log-format",
            format,
            "state",
            &id,
        ]);
        assert!(stderr(&out).contains(&id), "{}", stderr(&out));
        let text = read_or_empty(&log);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 1, "{format}: {text}");
        assert!(check(lines[0]), "{format}: {}", lines[0]);
        assert!(lines[0].contains(&id), "{format}: {}", lines[0]);
    }
}

/// `--debug` without `--log`: the runtime's debug lines go to stderr, but the container's stages (which share the
/// container's stderr) write none there.
#[test]
fn debug_without_a_log_file_keeps_the_containers_stderr_clean() {
    let rt = runtime();
    let mut b = Bundle::busybox();
    b.set_args(&["sh", "-c", "echo out; echo err >&2"]);
    let id = unique_id("debug-stderr");
    let _g = rt.guard(&id);
    let out = rt.run(&["--debug", "run", "--bundle", path_str(b.path()), &id]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "out\n");
    let err = stderr(&out);
    assert!(
        err.contains(&format!("debug: create {id}: bundle")),
        "{err}"
    );
    assert!(err.lines().any(|l| l == "err"), "{err}");
    assert!(
        !err.contains("init:") && !err.contains("stage-1["),
        "debug lines of the container's stages on its stderr: {err}"
    );
}

/// `--debug --log FILE` (as containerd calls runc): each step of create, start and delete is a debug line in the
/// file, in the chosen format, with none of them on stderr; without `--debug` there are none.
#[test]
fn debug_lines_go_to_the_log_file_in_the_chosen_format() {
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    for (format, debug) in [("text", true), ("json", true), ("text", false)] {
        let mut b = Bundle::busybox();
        b.set_args(&["true"]);
        let id = unique_id("log-debug");
        let _g = rt.guard(&id);
        let log = dir.path().join(format!("{format}-{debug}.log"));
        let mut args = vec!["--log", path_str(&log), "--log-format", format];
        if debug {
            args.push("--debug");
        }
        let run = |verb: &[&str]| {
            let all: Vec<&str> = args.iter().chain(verb).copied().collect();
            let out = rt.run(&all);
            assert!(out.status.success(), "{all:?}: {}", stderr(&out));
            assert!(
                !stderr(&out).contains("debug"),
                "{all:?}: debug lines on stderr: {}",
                stderr(&out)
            );
        };
        run(&["create", "--bundle", path_str(b.path()), &id]);
        run(&["start", &id]);
        wait_status(&rt, &id, "stopped");
        run(&["delete", &id]);
        let text = read_or_empty(&log);
        let debug_lines: Vec<String> = text
            .lines()
            .map(|l| match format {
                "json" => {
                    let v: serde_json::Value = serde_json::from_str(l).expect("a JSON log line");
                    assert!(v["time"].is_string(), "{l}");
                    if v["level"] == "debug" {
                        v["msg"].as_str().unwrap_or_default().to_string()
                    } else {
                        String::new()
                    }
                }
                _ => {
                    if l.contains("level=debug") && l.starts_with("time=") {
                        l.to_string()
                    } else {
                        String::new()
                    }
                }
            })
            .filter(|m| !m.is_empty())
            .collect();
        if !debug {
            assert!(debug_lines.is_empty(), "no --debug: {text}");
            continue;
        }
        for step in [
            format!("create {id}: bundle"),
            "init: started; executing /bin/true".to_string(),
            format!("start {id}: init"),
            format!("delete {id}: status stopped"),
        ] {
            assert!(
                debug_lines.iter().any(|l| l.contains(&step)),
                "{format}: no debug line with {step:?} in:\n{text}"
            );
        }
    }
}
