//! Several `holm-runtime` commands on one id at once never corrupt its state, and `delete --force` cleans up after
//! a `create` that was SIGKILLed midway.

mod lifecycle_util;

use holm_testkit::{unique_id, wait_until, Bundle, Runtime};
use lifecycle_util::*;
use serde_json::{json, Value};
use std::process::Output;
use std::time::Duration;

/// Every way a `state` may legitimately end while other commands race with it: valid JSON for this id with a
/// known status, or "does not exist" once the container is deleted.
fn check_state_output(out: &Output, id: &str) {
    if out.status.success() {
        let v: Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("state printed invalid JSON ({e}): {}", stdout(out)));
        assert_eq!(v["id"], id);
        let st = v["status"].as_str().unwrap();
        assert!(
            ["created", "running", "stopped"].contains(&st),
            "unexpected status {st}"
        );
        if st == "stopped" {
            assert_eq!(v["pid"], 0);
        } else {
            assert!(v["pid"].as_i64().unwrap() > 0);
        }
    } else {
        let err = stderr(out);
        assert!(
            err.contains("does not exist"),
            "state failed with something other than `does not exist`: {err}"
        );
    }
}

#[test]
fn parallel_state_kill_and_delete_never_corrupt_state() {
    let rt = runtime();
    let mut b = Bundle::busybox();
    b.set_args(&["sleep", "100"]);
    for round in 0..3 {
        let id = unique_id(&format!("race-{round}"));
        let _g = rt.guard(&id);
        create(&rt, &b, &id);
        rt.ok(&["start", &id]);
        let pid = status(&rt, &id).1 as i32;
        std::thread::scope(|s| {
            let mut handles = Vec::new();
            for _ in 0..10 {
                handles.push(s.spawn(|| {
                    for _ in 0..5 {
                        check_state_output(&rt.run(&["state", &id]), &id);
                    }
                }));
            }
            // kill and delete race with the readers and with each other.
            let killer = s.spawn(|| {
                let out = rt.run(&["kill", &id, "KILL"]);
                if !out.status.success() {
                    let err = stderr(&out);
                    assert!(
                        err.contains("does not exist") || err.contains("not running"),
                        "kill: {err}"
                    );
                }
            });
            let deleters: Vec<_> = (0..3)
                .map(|_| {
                    s.spawn(|| {
                        let out = rt.run(&["delete", "--force", &id]);
                        if !out.status.success() {
                            assert!(
                                stderr(&out).contains("does not exist"),
                                "delete --force: {}",
                                stderr(&out)
                            );
                        }
                    })
                })
                .collect();
            for h in handles.into_iter().chain([killer]).chain(deleters) {
                h.join().unwrap();
            }
        });
        assert!(!alive(pid), "init {pid} survived");
        assert_no_trace(&rt, &id, b.path());
    }
    assert_root_empty(&rt);
}

#[test]
fn parallel_state_while_the_container_changes_state() {
    let rt = runtime();
    let mut b = Bundle::busybox();
    b.set_args(&["sh", "-c", "sleep 0.2"]);
    let id = unique_id("race-states");
    let _g = rt.guard(&id);
    create(&rt, &b, &id);
    std::thread::scope(|s| {
        let readers: Vec<_> = (0..10)
            .map(|_| {
                s.spawn(|| {
                    for _ in 0..10 {
                        check_state_output(&rt.run(&["state", &id]), &id);
                        let list = rt.run(&["list", "--format", "json"]);
                        assert!(list.status.success(), "{}", stderr(&list));
                        let v: Value = serde_json::from_slice(&list.stdout).unwrap();
                        assert!(v.is_array() || v.is_null(), "{v}");
                    }
                })
            })
            .collect();
        rt.ok(&["start", &id]);
        wait_status(&rt, &id, "stopped");
        rt.ok(&["delete", &id]);
        for h in readers {
            h.join().unwrap();
        }
    });
    assert_no_trace(&rt, &id, b.path());
}

#[test]
fn two_parallel_creates_of_one_id_exactly_one_wins() {
    let rt = runtime();
    let mut b1 = Bundle::busybox();
    b1.set_args(&["sleep", "100"]);
    let mut b2 = Bundle::busybox();
    b2.set_args(&["sleep", "100"]);
    for round in 0..5 {
        let id = unique_id(&format!("dup-create-{round}"));
        let _g = rt.guard(&id);
        let outs: Vec<Output> = std::thread::scope(|s| {
            let h: Vec<_> = [&b1, &b2]
                .into_iter()
                .map(|b| {
                    let id = &id;
                    let rt = &rt;
                    s.spawn(move || rt.run(&["create", "--bundle", path_str(b.path()), id]))
                })
                .collect();
            h.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let wins: Vec<usize> = (0..2).filter(|i| outs[*i].status.success()).collect();
        assert_eq!(
            wins.len(),
            1,
            "round {round}: exactly one create must succeed: {:?}",
            outs.iter().map(stderr).collect::<Vec<_>>()
        );
        let loser = &outs[1 - wins[0]];
        assert!(
            stderr(loser).contains("already exists"),
            "round {round}: {}",
            stderr(loser)
        );
        let winner_bundle = if wins[0] == 0 { &b1 } else { &b2 };
        // The winner is intact: created, alive, with its cgroup, bundle and state.
        let s = rt.state(&id);
        assert_eq!(s["status"], "created", "{s}");
        assert_eq!(
            s["bundle"],
            path_str(&std::fs::canonicalize(winner_bundle.path()).unwrap())
        );
        let pid = s["pid"].as_i64().unwrap() as i32;
        assert!(alive(pid));
        assert!(!cgroup_dirs(&id).is_empty(), "the loser removed the cgroup");
        assert_eq!(processes_in_cgroup(&id), vec![pid]);
        rt.ok(&["start", &id]);
        assert_eq!(status(&rt, &id).0, "running");
        rt.ok(&["delete", "--force", &id]);
        assert_no_trace(&rt, &id, b1.path());
        assert_no_trace(&rt, &id, b2.path());
    }
}

#[test]
fn two_parallel_starts_exactly_one_wins() {
    let rt = runtime();
    let mut b = Bundle::busybox();
    b.set_args(&["sh", "-c", "echo started >> /tmp/starts; sleep 100"]);
    for round in 0..5 {
        let id = unique_id(&format!("dup-start-{round}"));
        let _g = rt.guard(&id);
        let _ = std::fs::remove_file(b.rootfs().join("tmp/starts"));
        create(&rt, &b, &id);
        let outs: Vec<Output> = std::thread::scope(|s| {
            let h: Vec<_> = (0..2)
                .map(|_| s.spawn(|| rt.run(&["start", &id])))
                .collect();
            h.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let ok = outs.iter().filter(|o| o.status.success()).count();
        assert_eq!(
            ok,
            1,
            "round {round}: {:?}",
            outs.iter().map(stderr).collect::<Vec<_>>()
        );
        assert_eq!(status(&rt, &id).0, "running");
        wait_until(Duration::from_secs(10), "the process to start", || {
            !read_or_empty(&b.rootfs().join("tmp/starts")).is_empty()
        });
        assert_eq!(read_or_empty(&b.rootfs().join("tmp/starts")), "started\n");
        rt.ok(&["delete", "--force", &id]);
        assert_no_trace(&rt, &id, b.path());
    }
}

/// Starts `create` in the background with a hook of `kind` that records its pid in `dir/hook-pid`, creates
/// `dir/in-hook` and sleeps 5 s; SIGKILLs the runtime while the hook runs.
fn kill_create_in_hook(rt: &Runtime, b: &mut Bundle, id: &str, kind: &str, dir: &std::path::Path) {
    let marker = dir.join("in-hook");
    let script = format!(
        "echo $$ > {0}/hook-pid; : > {1}; exec /bin/sleep 5",
        path_str(dir),
        path_str(&marker)
    );
    b.set_args(&["sleep", "100"]);
    b.config_mut()["hooks"] = json!({ kind: [{"path": "/bin/sh", "args": ["sh", "-c", script]}] });
    b.write_config();
    let mut running = spawn(rt.cmd(&["create", "--bundle", path_str(b.path()), id]));
    wait_until(Duration::from_secs(20), "the hook to run", || {
        marker.exists()
    });
    // Mid-create, the container is `creating` (not `stopped`), for `state` and `list`.
    let s = rt.state(id);
    assert_eq!(s["status"], "creating", "{s}");
    let listed: Value = serde_json::from_str(&rt.ok(&["list", "-f", "json"])).unwrap();
    assert_eq!(listed[0]["status"], "creating", "{listed}");
    running.child.kill().unwrap();
    let st = running.child.wait().unwrap();
    assert!(!st.success(), "create finished before it was killed");
}

#[test]
fn delete_force_cleans_up_after_a_create_killed_in_a_create_runtime_hook() {
    let rt = runtime();
    let dir = tempfile::Builder::new()
        .prefix("holm-killed-")
        .tempdir_in("/tmp")
        .unwrap();
    let mut b = Bundle::busybox();
    let id = unique_id("killed-create");
    let _g = rt.guard(&id);
    kill_create_in_hook(&rt, &mut b, &id, "createRuntime", dir.path());
    let hook_pid: i32 = read_or_empty(&dir.path().join("hook-pid"))
        .trim()
        .parse()
        .unwrap();

    // Something was left: the state dir, the cgroup, and an init process (or its pid).
    assert!(
        rt.root().join(&id).exists(),
        "no state dir after a killed create"
    );
    assert!(
        !cgroup_dirs(&id).is_empty(),
        "no cgroup after a killed create"
    );
    let saved = read_json(&rt.root().join(&id).join("state.json"));
    let init = saved["pid"].as_i64().unwrap_or(0) as i32;
    // The half-made container is listed and reported as stopped (its init died with the runtime).
    wait_until(Duration::from_secs(10), "the orphaned init to die", || {
        rt.run(&["state", &id]).status.success() && status(&rt, &id).0 == "stopped"
    });
    assert!(rt.ok(&["list", "-q"]).lines().any(|l| l == id));
    // It can be neither started nor deleted without --force... but delete --force cleans it all up.
    rt.fails(&["start", &id]);
    rt.ok(&["delete", "--force", &id]);
    if init > 0 {
        assert!(!alive(init), "init {init} survived");
    }
    assert_no_trace(&rt, &id, b.path());
    // The hook (a child of the killed runtime, outside the container) is not the runtime's to clean up; stop it.
    if alive(hook_pid) {
        send_signal(hook_pid, "KILL");
    }
}

#[test]
fn delete_force_cleans_up_after_a_create_killed_in_a_create_container_hook() {
    let rt = runtime();
    let dir = tempfile::Builder::new()
        .prefix("holm-killed-")
        .tempdir_in("/tmp")
        .unwrap();
    let mut b = Bundle::busybox();
    let id = unique_id("killed-create-ctr");
    let _g = rt.guard(&id);
    kill_create_in_hook(&rt, &mut b, &id, "createContainer", dir.path());
    assert!(rt.root().join(&id).exists());
    // The init and its hook (in the container's pid namespace and cgroup) die with the runtime.
    wait_until(
        Duration::from_secs(10),
        "the container's processes to die",
        || processes_in_cgroup(&id).is_empty(),
    );
    wait_until(Duration::from_secs(10), "state to say stopped", || {
        status(&rt, &id).0 == "stopped"
    });
    rt.ok(&["delete", "--force", &id]);
    assert_no_trace(&rt, &id, b.path());
}

#[test]
fn delete_force_removes_a_state_dir_without_state_json() {
    // A create killed before its first state write leaves only the directory.
    let rt = runtime();
    let b = Bundle::busybox();
    let id = unique_id("empty-dir");
    std::fs::create_dir_all(rt.root().join(&id)).unwrap();
    let out = rt.fails(&["delete", &id]);
    assert!(stderr(&out).contains(&id), "{}", stderr(&out));
    rt.ok(&["delete", "--force", &id]);
    assert_no_trace(&rt, &id, b.path());
    assert_root_empty(&rt);
}
