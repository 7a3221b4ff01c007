//! The container verbs end to end: ps (table, -a, -q, json), logs (--tail, -t, -f), stop (signal, then SIGKILL),
//! kill, rm (-f), start (-a, after create and after exit), wait, pause/unpause, exec, inspect, update.

#[path = "../../image/tests/common/mod.rs"]
mod common;
mod engine_common;

use engine_common::{cgroup_file, wait_until, Engine, IMAGE};
use std::time::{Duration, Instant};

/// A container that exits 0 on SIGTERM (pid 1 ignores signals it has no handler for).
const TRAP_TERM: &str =
    "trap 'echo got TERM; exit 0' TERM; echo ready; while true; do sleep 0.1; done";

#[test]
fn ps_lists_running_and_all() {
    let e = Engine::new();
    let runner = e.detached(&["--name", "runner", IMAGE, "sleep", "30"]);
    e.code(2, &["run", "--name", "done", IMAGE, "sh", "-c", "exit 2"]);
    let table = e.ok(&["ps"]);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 2, "{table}");
    for h in [
        "CONTAINER ID",
        "IMAGE",
        "COMMAND",
        "CREATED",
        "STATUS",
        "NAMES",
    ] {
        assert!(lines[0].contains(h), "{table}");
    }
    assert!(lines[1].starts_with(&runner[..12]), "{table}");
    assert!(lines[1].contains("Up "), "{table}");
    assert!(lines[1].contains("\"sleep 30\""), "{table}");
    assert!(lines[1].ends_with("runner"), "{table}");
    let all = e.ok(&["ps", "-a"]);
    assert_eq!(all.lines().count(), 3, "{all}");
    let done = all.lines().find(|l| l.ends_with("done")).unwrap();
    assert!(done.contains("Exited (2) "), "{all}");
    let q = e.ok(&["ps", "-aq"]);
    assert_eq!(q.lines().count(), 2);
    assert!(q.lines().all(|l| l.len() == 12));
    let v: serde_json::Value =
        serde_json::from_str(&e.ok(&["ps", "-a", "--format", "json"])).unwrap();
    let d = v
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["Names"][0] == "done")
        .unwrap();
    assert_eq!(d["State"], "exited");
    assert_eq!(d["ExitCode"], 2);
    assert_eq!(d["Command"], serde_json::json!(["sh", "-c", "exit 2"]));
}

#[test]
fn logs_tail_timestamps_and_follow() {
    let e = Engine::new();
    e.ok(&[
        "run",
        "--name",
        "talker",
        IMAGE,
        "sh",
        "-c",
        "for i in 1 2 3 4 5; do echo out $i; done; echo oops >&2",
    ]);
    let o = e.run(&["logs", "talker"]);
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        "out 1\nout 2\nout 3\nout 4\nout 5\n"
    );
    assert_eq!(String::from_utf8_lossy(&o.stderr), "oops\n");
    let o = e.run(&["logs", "--tail", "2", "talker"]);
    assert_eq!(String::from_utf8_lossy(&o.stdout), "out 5\n");
    assert_eq!(String::from_utf8_lossy(&o.stderr), "oops\n");
    let t = e.ok(&["logs", "-t", "--tail", "3", "talker"]);
    for l in t.lines() {
        let (ts, rest) = l.split_once(' ').unwrap();
        assert!(
            ts.len() == 30 && ts.ends_with('Z') && ts.contains('T'),
            "{l}"
        );
        assert!(rest.starts_with("out "), "{l}");
    }
    // the log file is docker's json-file format
    let v = e.inspect("talker");
    let text = std::fs::read_to_string(v["LogPath"].as_str().unwrap()).unwrap();
    let first: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    assert_eq!(first["log"], "out 1\n");
    assert_eq!(first["stream"], "stdout");
    // -f follows a running container until it stops
    e.detached(&[
        "--name",
        "slow",
        IMAGE,
        "sh",
        "-c",
        "for i in 1 2 3; do echo tick $i; sleep 0.3; done",
    ]);
    let start = Instant::now();
    let out = e.ok(&["logs", "-f", "slow"]);
    assert_eq!(out, "tick 1\ntick 2\ntick 3\n");
    assert!(start.elapsed() < Duration::from_secs(10));
}

#[test]
fn stop_signals_then_kills() {
    let e = Engine::new();
    e.detached(&["--name", "polite", IMAGE, "sh", "-c", TRAP_TERM]);
    wait_until(Duration::from_secs(5), "ready", || {
        e.ok(&["logs", "polite"]).contains("ready")
    });
    let t = Instant::now();
    assert_eq!(e.ok(&["stop", "polite"]), "polite\n");
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
    let v = e.inspect("polite");
    assert_eq!(v["State"]["Status"], "exited");
    assert_eq!(v["State"]["ExitCode"], 0);
    assert!(e.ok(&["logs", "polite"]).contains("got TERM"));
    // pid 1 without a handler ignores SIGTERM: SIGKILL after the timeout
    e.detached(&["--name", "stubborn", IMAGE, "sleep", "60"]);
    let t = Instant::now();
    e.ok(&["stop", "-t", "1", "stubborn"]);
    let took = t.elapsed();
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(8),
        "{took:?}"
    );
    assert_eq!(e.inspect("stubborn")["State"]["ExitCode"], 137);
    // stopping a stopped container is fine
    e.ok(&["stop", "stubborn"]);
    assert!(e.monitors().is_empty());
}

#[test]
fn kill_and_wait() {
    let e = Engine::new();
    e.detached(&["--name", "k1", IMAGE, "sh", "-c", TRAP_TERM]);
    wait_until(Duration::from_secs(5), "ready", || {
        e.ok(&["logs", "k1"]).contains("ready")
    });
    e.ok(&["kill", "-s", "TERM", "k1"]);
    assert_eq!(e.ok(&["wait", "k1"]), "0\n");
    e.detached(&["--name", "k2", IMAGE, "sleep", "60"]);
    e.ok(&["kill", "k2"]);
    assert_eq!(e.ok(&["wait", "k2"]), "137\n");
    let (_, err) = e.code(1, &["kill", "k2"]);
    assert!(err.contains("not running"), "{err}");
    let (_, err) = e.code(125, &["kill", "-s", "NOSUCH", "k2"]);
    assert!(
        err.contains("unknown signal") || err.contains("NOSUCH"),
        "{err}"
    );
    e.detached(&["--name", "k3", IMAGE, "sh", "-c", "sleep 0.5; exit 4"]);
    assert_eq!(e.ok(&["wait", "k3"]), "4\n");
}

#[test]
fn rm_refuses_running_unless_forced() {
    let e = Engine::new();
    let id = e.detached(&["--name", "busy", IMAGE, "sleep", "60"]);
    let (_, err) = e.code(1, &["rm", "busy"]);
    assert!(err.contains("cannot remove a running container"), "{err}");
    assert_eq!(e.status("busy"), "running");
    e.ok(&["rm", "-f", "busy"]);
    e.assert_gone(&id);
    let (_, err) = e.code(1, &["rm", "busy"]);
    assert!(err.contains("No such container: busy"), "{err}");
    // an exited container is removed without -f, by id prefix
    let out = e.ok(&["create", "--name", "idle", IMAGE, "true"]);
    let id = out.trim().to_string();
    e.ok(&["rm", &id[..8]]);
    e.assert_gone(&id);
}

#[test]
fn start_after_create_and_after_exit() {
    let e = Engine::new();
    let id = e.ok(&[
        "create",
        "--name",
        "later",
        IMAGE,
        "sh",
        "-c",
        "echo run; exit 6",
    ]);
    assert_eq!(e.status("later"), "created");
    assert!(e
        .ok(&["ps", "-a"])
        .lines()
        .nth(1)
        .unwrap()
        .contains("Created"));
    let (out, _) = e.code(6, &["start", "-a", "later"]);
    assert_eq!(out, "run\n");
    // again, after it exited: the same container (its writable layer kept)
    e.ok(&[
        "run",
        "--name",
        "keep",
        IMAGE,
        "sh",
        "-c",
        "echo x >> /data/count; wc -l < /data/count",
    ]);
    let (out, _) = e.code(0, &["start", "-a", "keep"]);
    assert_eq!(out.trim(), "2");
    assert_eq!(e.ok(&["logs", "keep"]), "1\n2\n");
    // detached start prints the name
    assert_eq!(e.ok(&["start", "later"]), "later\n");
    assert_eq!(e.ok(&["wait", "later"]), "6\n");
    assert!(
        e.mounts().is_empty(),
        "rootfs unmounted after exit: {:?}",
        e.mounts()
    );
    let _ = id;
}

#[test]
fn pause_and_unpause() {
    let e = Engine::new();
    e.detached(&["--name", "frozen", IMAGE, "sleep", "60"]);
    assert_eq!(e.ok(&["pause", "frozen"]), "frozen\n");
    assert_eq!(e.status("frozen"), "paused");
    assert!(e.ok(&["ps"]).contains("(Paused)"));
    let (_, err) = e.code(1, &["pause", "frozen"]);
    assert!(
        err.contains("paused") || err.contains("not running"),
        "{err}"
    );
    e.ok(&["unpause", "frozen"]);
    assert_eq!(e.status("frozen"), "running");
    // a paused container can be force-removed
    e.ok(&["pause", "frozen"]);
    e.ok(&["rm", "-f", "frozen"]);
}

#[test]
fn exec_runs_in_the_container() {
    let e = Engine::new();
    e.detached(&[
        "--name",
        "host1",
        "--hostname",
        "inside",
        IMAGE,
        "sleep",
        "60",
    ]);
    let out = e.ok(&[
        "exec",
        "-e",
        "X=42",
        "-w",
        "/tmp",
        "host1",
        "sh",
        "-c",
        "hostname; echo $X; pwd; id -u",
    ]);
    assert_eq!(out, "inside\n42\n/tmp\n0\n");
    // --env-file as docker exec's: file first, -e wins; a missing file is one line naming it, exit 125.
    let env_file = e.tmp.path().join("exec.env");
    std::fs::write(&env_file, "# comment\nX=from-file\nY=2\n").unwrap();
    let f = env_file.to_str().unwrap();
    let out = e.ok(&["exec", "--env-file", f, "host1", "sh", "-c", "echo $X $Y"]);
    assert_eq!(out, "from-file 2\n");
    let out = e.ok(&[
        "exec",
        "--env-file",
        f,
        "-e",
        "X=flag",
        "host1",
        "sh",
        "-c",
        "echo $X $Y",
    ]);
    assert_eq!(out, "flag 2\n");
    let (_, err) = e.code(
        125,
        &["exec", "--env-file", "/nonexistent/x.env", "host1", "true"],
    );
    assert!(err.contains("/nonexistent/x.env"), "{err}");
    let out = e.ok(&["exec", "-u", "app", "host1", "id"]);
    assert!(out.starts_with("uid=1000(app)"), "{out}");
    e.code(9, &["exec", "host1", "sh", "-c", "exit 9"]);
    // exec'd processes share the container's pid namespace
    let out = e.ok(&["exec", "host1", "sh", "-c", "ps -o pid,comm | grep sleep"]);
    assert!(out.trim_start().starts_with("1 "), "{out}");
    e.code(127, &["exec", "host1", "nosuchcmd"]);
    e.ok(&["stop", "-t", "0", "host1"]);
    let (_, err) = e.code(1, &["exec", "host1", "true"]);
    assert!(err.contains("not running"), "{err}");
}

#[test]
fn inspect_has_dockers_fields() {
    let e = Engine::new();
    let host = e.tmp.path().join("v");
    std::fs::create_dir(&host).unwrap();
    let bind = format!("{}:/v:ro", host.display());
    let id = e.detached(&[
        "--name", "insp", "-e", "A=b", "-v", &bind, IMAGE, "sleep", "60",
    ]);
    let v = e.inspect("insp");
    assert_eq!(v["Id"], id);
    assert_eq!(v["Name"], "/insp");
    assert_eq!(v["Path"], "sleep");
    assert_eq!(v["Args"], serde_json::json!(["60"]));
    assert_eq!(v["State"]["Running"], true);
    assert!(v["State"]["Pid"].as_i64().unwrap() > 1);
    assert_eq!(v["Config"]["Image"], IMAGE);
    assert!(v["Config"]["Env"]
        .as_array()
        .unwrap()
        .iter()
        .any(|x| x == "A=b"));
    assert_eq!(v["Mounts"][0]["Destination"], "/v");
    assert_eq!(v["Mounts"][0]["RW"], false);
    assert!(v["Image"].as_str().unwrap().starts_with("sha256:"));
    let (out, err) = e.code(1, &["inspect", "insp", "nope"]);
    assert!(err.contains("No such object: nope"), "{err}");
    let both: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(both.as_array().unwrap().len(), 1);
}

#[test]
fn update_changes_a_running_containers_limits_and_a_stopped_ones_next_start() {
    let e = Engine::new();
    let id = e.detached(&["--name", "upd", "--memory", "64m", IMAGE, "sleep", "600"]);
    let id = id.trim();
    assert_eq!(
        e.ok(&[
            "update",
            "--memory",
            "96m",
            "--cpus",
            "0.5",
            "--pids-limit",
            "40",
            "upd"
        ]),
        "upd\n"
    );
    let mem = cgroup_file(id, "memory.limit_in_bytes").or_else(|| cgroup_file(id, "memory.max"));
    assert_eq!(mem.as_deref(), Some("100663296"));
    let quota = cgroup_file(id, "cpu.cfs_quota_us").or_else(|| cgroup_file(id, "cpu.max"));
    assert!(
        quota.as_deref().is_some_and(|q| q.starts_with("50000")),
        "{quota:?}"
    );
    assert_eq!(cgroup_file(id, "pids.max").as_deref(), Some("40"));
    let hc = &e.inspect("upd")["HostConfig"];
    assert_eq!(hc["Memory"], 96 << 20);
    assert_eq!(hc["NanoCpus"], 500_000_000);
    assert_eq!(hc["PidsLimit"], 40);
    // docker's refusals: no flag; a swap limit below the memory limit; a restart policy with --rm. Nothing changes.
    let (_, err) = e.code(1, &["update", "upd"]);
    assert!(err.contains("one or more flags"), "{err}");
    let (_, err) = e.code(
        1,
        &["update", "--memory", "200m", "--memory-swap", "100m", "upd"],
    );
    assert!(err.contains("Minimum memoryswap limit"), "{err}");
    assert_eq!(e.inspect("upd")["HostConfig"]["Memory"], 96 << 20);
    let (out, err) = e.code(
        1,
        &["update", "--memory", "80m", "upd", "no-such-container"],
    );
    assert_eq!(out, "upd\n");
    assert!(err.contains("no-such-container"), "{err}");
    // Stopped: recorded, and the next start has it.
    e.ok(&["rm", "-f", "upd"]);
    e.ok(&["create", "--name", "later-upd", IMAGE, "sleep", "600"]);
    e.ok(&[
        "update",
        "--memory",
        "48m",
        "--restart",
        "on-failure:2",
        "later-upd",
    ]);
    let hc = &e.inspect("later-upd")["HostConfig"];
    assert_eq!(hc["Memory"], 48 << 20);
    assert_eq!(hc["RestartPolicy"]["Name"], "on-failure");
    e.ok(&["start", "later-upd"]);
    let id = e.inspect("later-upd")["Id"].as_str().unwrap().to_string();
    let mem = cgroup_file(&id, "memory.limit_in_bytes").or_else(|| cgroup_file(&id, "memory.max"));
    assert_eq!(mem.as_deref(), Some("50331648"));
    e.ok(&["rm", "-f", "later-upd"]);
    let rm = e.ok(&["create", "--rm", IMAGE, "true"]);
    let (_, err) = e.code(1, &["update", "--restart", "always", rm.trim()]);
    assert!(err.contains("AutoRemove"), "{err}");
}
