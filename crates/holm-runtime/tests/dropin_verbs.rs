//! Issue 11, drop-in gaps in the verbs engines call: `delete --force` of a container that does not exist,
//! `run --keep`, `exec --ignore-paused` and `ps` of a stopped container, each compared with what runc does.

mod lifecycle_util;

use holm_testkit::{unique_id, wait_until, Bundle, Runtime};
use lifecycle_util::*;
use std::process::{Child, Stdio};
use std::time::Duration;

fn sleeper() -> Bundle {
    let mut b = Bundle::busybox();
    b.set_args(&["sleep", "100"]);
    b
}

/// Kills (and reaps) a spawned runtime command when dropped, also while a failed assertion unwinds.
struct KillOnDrop(Option<Child>);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Some(c) = &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

#[test]
fn delete_force_of_an_unknown_container_succeeds_silently_as_runc() {
    let rt = runtime();
    let runc = Runtime::runc();
    let id = unique_id("del-unknown");
    for r in [&rt, &runc] {
        let out = r.run(&["delete", "--force", &id]);
        assert!(out.status.success(), "{:?}: {}", r.bin(), stderr(&out));
        assert_eq!(out.stdout, b"", "{:?} printed to stdout", r.bin());
        assert!(
            !r.root().join(&id).exists(),
            "{:?} made a state dir",
            r.bin()
        );
        // Without --force it is still an error.
        let out = r.fails(&["delete", &id]);
        assert!(stderr(&out).contains("does not exist"), "{}", stderr(&out));
    }
    // holm says nothing at all (runc logs nothing either).
    assert_eq!(rt.run(&["delete", "-f", &id]).stderr, b"");
    // An id that cannot name a container is an error even with --force (runc: "invalid container ID format").
    for r in [&rt, &runc] {
        let out = r.fails(&["delete", "--force", "../x"]);
        assert!(
            stderr(&out).to_lowercase().contains("invalid container id"),
            "{:?}: {}",
            r.bin(),
            stderr(&out)
        );
    }
    assert!(cgroup_dirs(&id).is_empty());
}

#[test]
fn run_keep_leaves_the_stopped_container_until_delete() {
    let rt = runtime();
    let mut b = Bundle::busybox();
    b.set_args(&["sh", "-c", "exit 3"]);
    let id = unique_id("run-keep");
    let _g = rt.guard(&id);
    let out = rt.run(&["run", "--keep", "--bundle", path_str(b.path()), &id]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let s = rt.state(&id);
    assert_eq!(s["status"], "stopped", "{s}");
    assert_eq!(s["pid"], 0, "{s}");
    assert!(rt.ok(&["list", "-q"]).lines().any(|l| l == id));
    // Its cgroup is kept too (runc's `run --keep (check cgroup exists)`).
    assert!(!cgroup_dirs(&id).is_empty(), "the cgroup was removed");
    rt.ok(&["delete", &id]);
    assert_no_trace(&rt, &id, b.path());

    // Without --keep the container is gone once run returns.
    let id2 = unique_id("run-nokeep");
    let _g2 = rt.guard(&id2);
    let out = rt.run(&["run", "--bundle", path_str(b.path()), &id2]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert_no_trace(&rt, &id2, b.path());
}

/// The `cgroup.procs` of the container's freezer cgroup (v1), or of its cgroup2 directory on a host whose freezer
/// is on the unified hierarchy.
fn freezer_procs(id: &str) -> Vec<i32> {
    let v1 = format!("{CGROUP_ROOT}/freezer/holm/{id}/cgroup.procs");
    let v2 = format!("{CGROUP_ROOT}/unified/holm/{id}/cgroup.procs");
    let path = if std::path::Path::new(&format!("{CGROUP_ROOT}/freezer")).is_dir() {
        v1
    } else {
        v2
    };
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("read {path}: {e}"))
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

#[test]
fn exec_ignore_paused_runs_once_the_container_is_resumed() {
    let rt = runtime();
    let b = sleeper();
    let id = unique_id("exec-paused");
    let _g = rt.guard(&id);
    rt.ok(&["run", "-d", "--bundle", path_str(b.path()), &id]);
    rt.ok(&["pause", &id]);
    let before = freezer_procs(&id);

    // Without the flag: refused (255, runc's message), nothing joins the cgroup.
    let out = rt.run(&["exec", &id, "true"]);
    assert_eq!(out.status.code(), Some(255), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("paused") && err.contains("--ignore-paused"),
        "{err}"
    );
    assert_eq!(freezer_procs(&id), before);

    // With it: the process joins the frozen cgroup and waits there; exec returns after `resume`.
    let child = rt
        .cmd(&["exec", "--ignore-paused", &id, "sh", "-c", "echo ran as $$"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn exec");
    let mut guard = KillOnDrop(Some(child));
    wait_until(
        Duration::from_secs(20),
        "the exec'd process to join the frozen cgroup",
        || freezer_procs(&id).len() > before.len(),
    );
    assert_eq!(status(&rt, &id).0, "paused");
    let child = guard.0.as_mut().unwrap();
    assert!(
        child.try_wait().unwrap().is_none(),
        "exec finished while the container was paused"
    );
    // `resume` is not blocked by the waiting exec.
    rt.ok(&["resume", &id]);
    let out = guard.0.take().unwrap().wait_with_output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).starts_with("ran as "), "{}", stdout(&out));
    assert_eq!(status(&rt, &id).0, "running");
}

#[test]
fn ps_of_a_stopped_container_prints_no_process_as_runc() {
    let runc = Runtime::runc();
    let rt = runtime();
    let mut b = Bundle::busybox();
    b.set_args(&["true"]);
    for r in [&rt, &runc] {
        let id = unique_id("ps-stopped");
        let _g = r.guard(&id);
        r.ok(&["run", "-d", "--bundle", path_str(b.path()), &id]);
        wait_until(Duration::from_secs(20), "the container to stop", || {
            status(r, &id).0 == "stopped"
        });
        let table = r.ok(&["ps", &id]);
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines.len(), 1, "{:?}: {table}", r.bin());
        assert!(
            lines[0].contains("PID") && lines[0].contains("CMD"),
            "{:?}: {table}",
            r.bin()
        );
        assert_eq!(r.ok(&["ps", "-f", "json", &id]).trim(), "null");
        r.ok(&["delete", &id]);
    }
}
