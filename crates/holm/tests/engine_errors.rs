//! Errors a user meets (docker's wording and exit codes) and crash safety: a killed monitor, a wiped runtime
//! state directory (a simulated reboot), and `rm -f` cleaning whatever is left.

#[path = "../../image/tests/common/mod.rs"]
mod common;
mod engine_common;

use engine_common::{cgroup_dirs, wait_until, Engine, IMAGE};
use std::time::Duration;

#[test]
fn clear_errors() {
    let e = Engine::new();
    let (_, err) = e.code(125, &["run", "--rm", "--pull", "never", "nosuch:1", "true"]);
    assert!(err.contains("Error: No such image: nosuch:1"), "{err}");

    e.detached(&["--name", "dup", IMAGE, "sleep", "30"]);
    let (_, err) = e.code(125, &["run", "--name", "dup", IMAGE, "true"]);
    assert!(
        err.contains("the container name \"/dup\" is already in use by container"),
        "{err}"
    );

    let (_, err) = e.code(125, &["run", "--memory", "12q", IMAGE, "true"]);
    assert!(
        err.contains("invalid argument \"12q\" for \"--memory\" flag: invalid size: '12q'"),
        "{err}"
    );
    let (_, err) = e.code(125, &["run", "--cpus", "99999", IMAGE, "true"]);
    assert!(err.contains("range of CPUs"), "{err}");

    let missing = e.tmp.path().join("not-there");
    let v = format!("{}:/x", missing.display());
    let (_, err) = e.code(125, &["run", "-v", &v, IMAGE, "true"]);
    assert!(err.contains("bind source path does not exist"), "{err}");
    assert!(err.contains("not-there"), "{err}");

    let (_, err) = e.code(125, &["run", "-u", "nobody-here", IMAGE, "true"]);
    assert!(err.contains("nobody-here"), "{err}");

    // failed runs leave only the container that did exist
    assert_eq!(e.ok(&["ps", "-aq"]).lines().count(), 1);

    // a missing command: 127, and the container stays `created` with the reason (or goes, with --rm)
    let (_, err) = e.code(127, &["run", "--name", "nocmd", IMAGE, "nosuchcmd"]);
    assert!(err.contains("executable file not found"), "{err}");
    let v = e.inspect("nocmd");
    assert_eq!(v["State"]["Status"], "created");
    assert!(v["State"]["Error"].as_str().unwrap().contains("nosuchcmd"));
    e.code(127, &["run", "--rm", IMAGE, "nosuchcmd"]);
    assert_eq!(e.ok(&["ps", "-aq"]).lines().count(), 2);
    e.code(126, &["run", "--rm", IMAGE, "/etc/passwd"]);

    let (_, err) = e.code(1, &["stop", "nosuch"]);
    assert!(err.contains("No such container: nosuch"), "{err}");
    let (_, err) = e.code(1, &["logs", "nosuch"]);
    assert!(err.contains("No such container: nosuch"), "{err}");
    assert!(e.mounts().iter().all(|m| !m.contains("nocmd")));
}

#[test]
fn missing_holm_monitor_is_a_clear_error() {
    let e = Engine::new();
    // holm alone (hard-linked: /proc/self/exe names the link's directory), without holm-monitor next to it
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let holm = dir.path().join("holm");
    std::fs::hard_link(env!("CARGO_BIN_EXE_holm"), &holm).unwrap();
    let lone = |args: &[&str]| {
        std::process::Command::new(&holm)
            .arg("--root")
            .arg(&e.root)
            .arg("--runroot")
            .arg(&e.runroot)
            .args(args)
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap()
    };
    let want = dir.path().join("holm-monitor").display().to_string();
    let o = lone(&["run", "--rm", IMAGE, "true"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(125), "{err}");
    assert!(err.contains(&want) && err.contains("No such file"), "{err}");
    // nothing was created
    assert_eq!(e.ok(&["ps", "-aq"]), "");
    // a created container cannot be started either, and stays as it was
    e.ok(&["create", "--name", "later", IMAGE, "true"]);
    let mounts = e.mounts();
    let o = lone(&["start", "later"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_ne!(o.status.code(), Some(0), "{err}");
    assert!(err.contains(&want), "{err}");
    assert_eq!(e.status("later"), "created");
    assert!(e.monitors().is_empty());
    assert_eq!(e.mounts(), mounts);
}

#[test]
fn killed_monitor_keeps_ps_truthful() {
    let e = Engine::new();
    let id = e.detached(&["--name", "orphan", IMAGE, "sleep", "60"]);
    // (its command line reads empty for a moment while it re-executes itself)
    wait_until(Duration::from_secs(5), "one monitor", || {
        e.monitors().len() == 1
    });
    let mon = e.monitors();
    holm_sys::process::kill(mon[0], libc::SIGKILL).unwrap();
    wait_until(Duration::from_secs(5), "monitor gone", || {
        e.monitors().is_empty()
    });
    // the process still runs: ps says so
    assert_eq!(e.status("orphan"), "running");
    assert!(e.ok(&["ps"]).contains("orphan"));
    // once it is gone, the container is exited with an unknown code: -1 everywhere (never a false 0)
    e.ok(&["kill", "orphan"]);
    wait_until(Duration::from_secs(5), "exited", || {
        e.status("orphan") == "exited"
    });
    let all = e.ok(&["ps", "-a"]);
    assert!(all.contains("Exited (-1)"), "{all}");
    assert_eq!(e.inspect("orphan")["State"]["ExitCode"], -1);
    assert_eq!(e.ok(&["wait", "orphan"]).trim(), "-1");
    let v = e.inspect("orphan");
    assert!(
        v["State"]["Error"].as_str().unwrap().contains("monitor"),
        "{v}"
    );
    assert!(cgroup_dirs(&id).is_empty(), "released when found exited");
    assert!(e.mounts().is_empty(), "{:?}", e.mounts());
    // it can run again, with a new monitor
    e.ok(&["start", "orphan"]);
    assert_eq!(e.status("orphan"), "running");
    e.ok(&["rm", "-f", "orphan"]);
    e.assert_gone(&id);
}

#[test]
fn simulated_reboot_shows_containers_exited() {
    let e = Engine::new();
    let a = e.detached(&[
        "--name",
        "before-reboot",
        IMAGE,
        "sh",
        "-c",
        "echo up; exec sleep 60",
    ]);
    let b = e.detached(&["--name", "rm-on-exit", "--rm", IMAGE, "sleep", "60"]);
    let pids: Vec<i32> = [&a, &b]
        .iter()
        .map(|c| e.inspect(c)["State"]["Pid"].as_i64().unwrap() as i32)
        .collect();
    // The "reboot": every process gone, mounts gone, /run wiped; the root (database, layers, logs) stays.
    wait_until(Duration::from_secs(5), "two monitors", || {
        e.monitors().len() == 2
    });
    for m in e.monitors() {
        holm_sys::process::kill(m, libc::SIGKILL).unwrap();
    }
    for p in pids {
        holm_sys::process::kill(p, libc::SIGKILL).unwrap();
    }
    wait_until(Duration::from_secs(5), "processes gone", || {
        e.monitors().is_empty()
            && cgroup_dirs(&a).iter().all(|d| {
                std::fs::read_to_string(d.join("cgroup.procs"))
                    .map_or(true, |s| s.trim().is_empty())
            })
    });
    for m in e.mounts() {
        holm_sys::mount::umount2(std::path::Path::new(&m), libc::MNT_DETACH).unwrap();
    }
    std::fs::remove_dir_all(&e.runroot).unwrap();

    let all = e.ok(&["ps", "-a"]);
    assert!(all.contains("before-reboot"), "{all}");
    assert!(all.contains("Exited (-1)"), "{all}");
    // --rm is applied when the exit is found
    assert!(!all.contains("rm-on-exit"), "{all}");
    e.assert_gone(&b);
    assert_eq!(e.ok(&["logs", "before-reboot"]), "up\n");
    // it starts again after the "reboot"
    e.ok(&["start", "before-reboot"]);
    assert_eq!(e.status("before-reboot"), "running");
    wait_until(Duration::from_secs(5), "second run logged", || {
        e.ok(&["logs", "before-reboot"]) == "up\nup\n"
    });
    e.ok(&["rm", "-f", "before-reboot"]);
    e.assert_gone(&a);
}

#[test]
fn rm_force_cleans_after_runtime_state_was_lost() {
    let e = Engine::new();
    let id = e.detached(&["--name", "lost", IMAGE, "sleep", "60"]);
    let pid = e.inspect("lost")["State"]["Pid"].as_i64().unwrap() as i32;
    // /run wiped under a running container: its processes and cgroup still exist
    std::fs::remove_dir_all(&e.runroot).unwrap();
    assert!(holm_sys::process::pid_exists(pid));
    e.ok(&["rm", "-f", "lost"]);
    e.assert_gone(&id);
    wait_until(Duration::from_secs(5), "init gone", || {
        !holm_sys::process::pid_exists(pid)
            || std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .map_or(true, |s| s.contains(") Z "))
    });
}
