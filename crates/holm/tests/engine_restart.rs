//! `--restart no|on-failure[:N]|always` applied by the monitor (with backoff), disabled by `stop`/`kill`/`rm`, and
//! `holm restart`.

#[path = "../../image/tests/common/mod.rs"]
mod common;
mod engine_common;

use engine_common::{wait_until, Engine, IMAGE};
use std::time::Duration;

fn restart_count(e: &Engine, c: &str) -> u64 {
    e.inspect(c)["RestartCount"].as_u64().unwrap()
}

#[test]
fn on_failure_restarts_at_most_n_times() {
    let e = Engine::new();
    let id = e.detached(&[
        "--name",
        "of",
        "--restart",
        "on-failure:2",
        IMAGE,
        "sh",
        "-c",
        "echo run; exit 3",
    ]);
    // 1 run + 2 restarts (100 ms, 200 ms backoff), then the monitor is gone
    wait_until(Duration::from_secs(15), "restarts done", || {
        e.status("of") == "exited" && e.monitors().is_empty()
    });
    let v = e.inspect("of");
    assert_eq!(v["RestartCount"], 2);
    assert_eq!(v["State"]["ExitCode"], 3);
    assert_eq!(v["HostConfig"]["RestartPolicy"]["Name"], "on-failure");
    assert_eq!(v["HostConfig"]["RestartPolicy"]["MaximumRetryCount"], 2);
    assert_eq!(e.ok(&["logs", "of"]), "run\nrun\nrun\n");
    // a clean exit is not a failure
    e.ok(&[
        "run",
        "--name",
        "ok",
        "--restart",
        "on-failure",
        IMAGE,
        "true",
    ]);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(restart_count(&e, "ok"), 0);
    assert_eq!(e.status("ok"), "exited");
    e.ok(&["rm", "-f", "of"]);
    e.assert_gone(&id);
}

#[test]
fn always_restarts_until_stopped() {
    let e = Engine::new();
    let id = e.detached(&[
        "--name",
        "al",
        "--restart",
        "always",
        IMAGE,
        "sh",
        "-c",
        "echo tick; sleep 0.3",
    ]);
    wait_until(Duration::from_secs(15), "two restarts", || {
        restart_count(&e, "al") >= 2
    });
    let st = e.status("al");
    assert!(st == "running" || st == "restarting", "{st}");
    e.ok(&["stop", "-t", "1", "al"]);
    assert_eq!(e.status("al"), "exited");
    let n = restart_count(&e, "al");
    std::thread::sleep(Duration::from_millis(800));
    assert_eq!(restart_count(&e, "al"), n, "restarted after stop");
    assert_eq!(e.status("al"), "exited");
    assert!(e.monitors().is_empty());
    // start lifts the stop: the policy applies again
    e.ok(&["start", "al"]);
    wait_until(Duration::from_secs(15), "restarts after start", || {
        restart_count(&e, "al") > n
    });
    // rm -f of a restarting container leaves nothing behind
    e.ok(&["rm", "-f", "al"]);
    e.assert_gone(&id);
    assert!(e.monitors().is_empty());
    // a crash loop is removed as cleanly
    let id = e.detached(&["--name", "loop", "--restart", "always", IMAGE, "false"]);
    wait_until(Duration::from_secs(15), "crash loop", || {
        restart_count(&e, "loop") >= 3
    });
    e.ok(&["rm", "-f", "loop"]);
    e.assert_gone(&id);
}

#[test]
fn restart_verb_and_bad_policies() {
    let e = Engine::new();
    let id = e.detached(&[
        "--name",
        "rs",
        IMAGE,
        "sh",
        "-c",
        "echo start; exec sleep 30",
    ]);
    let pid1 = e.inspect("rs")["State"]["Pid"].as_i64().unwrap();
    assert_eq!(e.ok(&["restart", "-t", "1", "rs"]), "rs\n");
    assert_eq!(e.status("rs"), "running");
    let pid2 = e.inspect("rs")["State"]["Pid"].as_i64().unwrap();
    assert_ne!(pid1, pid2);
    wait_until(Duration::from_secs(10), "second start logged", || {
        e.ok(&["logs", "rs"]) == "start\nstart\n"
    });
    // a stopped container is started by restart
    e.ok(&["stop", "-t", "1", "rs"]);
    e.ok(&["restart", "rs"]);
    assert_eq!(e.status("rs"), "running");
    e.ok(&["rm", "-f", "rs"]);
    e.assert_gone(&id);
    let (_, err) = e.code(125, &["run", "--restart", "sometimes", IMAGE, "true"]);
    assert!(
        err.contains("\"--restart\"") && err.contains("invalid restart policy"),
        "{err}"
    );
    let (_, err) = e.code(125, &["run", "--rm", "--restart", "always", IMAGE, "true"]);
    assert!(err.contains("Conflicting options"), "{err}");
    assert_eq!(e.ok(&["ps", "-aq"]), "");
}
