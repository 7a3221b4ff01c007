//! `holm run` end to end on a busybox image built in the test: foreground output and exit codes, isolation and
//! the process overrides, binds and read-only roots, resource limits, detached containers and their monitor,
//! and a monitor that outlives a killed `holm`.

#[path = "../../image/tests/common/mod.rs"]
mod common;
mod engine_common;

use engine_common::{cgroup_file, private_kib, wait_until, Engine, IMAGE};
use std::time::Duration;

#[test]
fn foreground_streams_output_and_exits_with_the_code() {
    let e = Engine::new();
    let (out, err) = e.code(
        3,
        &[
            "run",
            "--rm",
            "--name",
            "fg",
            IMAGE,
            "sh",
            "-c",
            "echo out; echo err >&2; exit 3",
        ],
    );
    assert_eq!(out, "out\n");
    assert_eq!(err, "err\n");
    // --rm: nothing left
    assert_eq!(e.ok(&["ps", "-aq"]), "");
    assert!(e.mounts().is_empty(), "{:?}", e.mounts());
    assert!(e.monitors().is_empty());
    assert_eq!(
        std::fs::read_dir(e.root.join("containers"))
            .unwrap()
            .count(),
        0
    );
    // the image's Cmd runs when none is given
    let (out, _) = e.code(0, &["run", "--rm", IMAGE]);
    assert_eq!(out, "");
}

#[test]
fn isolation_and_process_overrides() {
    let e = Engine::new();
    let out = e.ok(&[
        "run",
        "--rm",
        "--hostname",
        "box1",
        "-e",
        "GREETING=hi there",
        "-w",
        "/work",
        "-u",
        "app",
        IMAGE,
        "sh",
        "-c",
        "hostname; echo $$; echo $GREETING; pwd; id -u; id -g; ps -o pid | wc -l",
    ]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines[..6],
        ["box1", "1", "hi there", "/work", "1000", "1000"],
        "{out}"
    );
    // only sh, ps (and wc) and the header: a private pid namespace
    assert!(lines[6].trim().parse::<u32>().unwrap() <= 4, "{out}");
    // default hostname: the short id
    let id = e.detached(&["--name", "hn", IMAGE, "sleep", "30"]);
    let out = e.ok(&["exec", "hn", "hostname"]);
    assert_eq!(out.trim(), &id[..12]);
    // --entrypoint replaces the image's and takes the arguments
    let out = e.ok(&["run", "--rm", "--entrypoint", "echo", IMAGE, "a", "b"]);
    assert_eq!(out, "a b\n");
    // user:group by name
    let out = e.ok(&["run", "--rm", "-u", "svc:staff", IMAGE, "id"]);
    assert!(out.starts_with("uid=1001(svc) gid=50(staff)"), "{out}");
}

#[test]
fn binds_and_read_only_root() {
    let e = Engine::new();
    let host = e.tmp.path().join("shared");
    std::fs::create_dir(&host).unwrap();
    std::fs::write(host.join("in.txt"), "from host\n").unwrap();
    let rw = format!("{}:/mnt/rw", host.display());
    let ro = format!("{}:/mnt/ro:ro", host.display());
    let out = e.ok(&[
        "run", "--rm", "-v", &rw, "-v", &ro, IMAGE, "sh", "-c",
        "cat /mnt/ro/in.txt; echo written > /mnt/rw/out.txt; touch /mnt/ro/x 2>/dev/null || echo ro-refused",
    ]);
    assert_eq!(out, "from host\nro-refused\n");
    assert_eq!(
        std::fs::read_to_string(host.join("out.txt")).unwrap(),
        "written\n"
    );
    let out = e.ok(&[
        "run",
        "--rm",
        "--read-only",
        "-v",
        &rw,
        IMAGE,
        "sh",
        "-c",
        "touch /newfile 2>/dev/null || echo root-ro; touch /mnt/rw/ok && echo bind-rw",
    ]);
    assert_eq!(out, "root-ro\nbind-rw\n");
    // writes to the root land in the container's own layer, not the image
    e.ok(&["run", "--name", "wr", IMAGE, "sh", "-c", "echo x > /data/f"]);
    let out = e.ok(&["run", "--rm", IMAGE, "sh", "-c", "ls /data | wc -l"]);
    assert_eq!(out.trim(), "0");
}

#[test]
fn resource_limits_reach_the_cgroup() {
    let e = Engine::new();
    let id = e.detached(&[
        "--memory",
        "64m",
        "--pids-limit",
        "20",
        "--cpus",
        "0.5",
        IMAGE,
        "sleep",
        "30",
    ]);
    let mem = cgroup_file(&id, "memory.limit_in_bytes").or_else(|| cgroup_file(&id, "memory.max"));
    assert_eq!(mem.as_deref(), Some("67108864"));
    assert_eq!(cgroup_file(&id, "pids.max").as_deref(), Some("20"));
    let quota = cgroup_file(&id, "cpu.cfs_quota_us")
        .or_else(|| cgroup_file(&id, "cpu.max").map(|s| s.split(' ').next().unwrap().to_string()));
    assert_eq!(quota.as_deref(), Some("50000"));
    let v = e.inspect(&id);
    assert_eq!(v["HostConfig"]["Memory"], 67108864);
    assert_eq!(v["HostConfig"]["PidsLimit"], 20);
    assert_eq!(v["HostConfig"]["NanoCpus"], 500000000);
    e.ok(&["rm", "-f", &id]);
    e.assert_gone(&id);
}

#[test]
fn detached_container_has_a_small_monitor() {
    let e = Engine::new();
    let id = e.detached(&[
        "--name",
        "bg",
        IMAGE,
        "sh",
        "-c",
        "echo started; exec sleep 60",
    ]);
    assert_eq!(e.status("bg"), "running");
    // (its command line reads empty for a moment while it re-executes itself)
    wait_until(Duration::from_secs(5), "one monitor", || {
        e.monitors().len() == 1
    });
    let monitors = e.monitors();
    let v = e.inspect("bg");
    let init = v["State"]["Pid"].as_i64().unwrap() as i32;
    // the monitor is the init's parent, and in its own session
    let stat = std::fs::read_to_string(format!("/proc/{init}/stat")).unwrap();
    let ppid: i32 = stat[stat.rfind(')').unwrap() + 2..]
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(ppid, monitors[0]);
    // the monitor no longer runs from its sealed in-memory copy (that would cost a whole binary per container), nor
    // as the full holm: it became the small holm-monitor next to holm
    let exe = std::fs::read_link(format!("/proc/{}/exe", monitors[0])).unwrap();
    assert_eq!(
        exe,
        std::path::Path::new(env!("CARGO_BIN_EXE_holm")).with_file_name("holm-monitor"),
        "{}",
        exe.display()
    );
    let kib = private_kib(monitors[0]);
    eprintln!("monitor private memory: {kib} KiB (debug build)");
    assert!(kib < 16 * 1024, "monitor uses {kib} KiB");
    wait_until(Duration::from_secs(5), "log", || {
        e.ok(&["logs", "bg"]) == "started\n"
    });
    e.ok(&["rm", "-f", "bg"]);
    e.assert_gone(&id);
}

#[test]
fn container_outlives_a_killed_holm() {
    let e = Engine::new();
    let mut child = e.spawn(&[
        "run",
        "--name",
        "survivor",
        IMAGE,
        "sh",
        "-c",
        "sleep 1; echo done; exit 5",
    ]);
    wait_until(Duration::from_secs(10), "running", || {
        e.run(&["inspect", "survivor"]).status.success() && e.status("survivor") == "running"
    });
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(e.ok(&["wait", "survivor"]), "5\n");
    assert_eq!(e.ok(&["logs", "survivor"]), "done\n");
    assert!(e.monitors().is_empty());
}

#[test]
fn foreground_run_forwards_signals() {
    let e = Engine::new();
    let child = e.spawn(&[
        "run",
        "--rm",
        "--name",
        "fwd",
        IMAGE,
        "sh",
        "-c",
        "trap 'echo got TERM; exit 0' TERM; echo ready; while true; do sleep 0.1; done",
    ]);
    wait_until(Duration::from_secs(10), "running", || {
        e.run(&["logs", "fwd"]).stdout.starts_with(b"ready")
    });
    holm_sys::process::kill(child.id() as i32, libc::SIGTERM).unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "ready\ngot TERM\n");
    assert_eq!(e.ok(&["ps", "-aq"]), "");
}
