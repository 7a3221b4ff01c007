//! Verbs in the wrong state and on unknown ids (clear error, non-zero exit, nothing changed), `delete` with and
//! without `--force`, and `kill` with signal names, numbers, invalid names and `--all`.

mod lifecycle_util;

use holm_testkit::{unique_id, wait_until, Bundle, Runtime};
use lifecycle_util::*;
use std::fs;
use std::time::Duration;

/// A snapshot of what a container looks like from outside, to check that a refused verb changed nothing.
#[derive(Debug, PartialEq)]
struct Snapshot {
    state: serde_json::Value,
    state_file: String,
    files: Vec<String>,
    cgroups: Vec<std::path::PathBuf>,
    alive: bool,
}

fn snapshot(rt: &Runtime, id: &str) -> Snapshot {
    let dir = rt.root().join(id);
    let state = rt.state(id);
    let pid = state["pid"].as_i64().unwrap_or(0) as i32;
    let mut files: Vec<String> = fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    Snapshot {
        state_file: fs::read_to_string(dir.join("state.json")).unwrap(),
        state,
        files,
        cgroups: cgroup_dirs(id),
        alive: alive(pid),
    }
}

fn sleeper() -> Bundle {
    let mut b = Bundle::busybox();
    b.set_args(&["sleep", "100"]);
    b
}

#[test]
fn start_twice_and_start_on_running_fail_and_change_nothing() {
    let rt = runtime();
    let b = sleeper();
    let id = unique_id("start-twice");
    let _g = rt.guard(&id);
    create(&rt, &b, &id);
    rt.ok(&["start", &id]);
    let before = snapshot(&rt, &id);
    assert_eq!(before.state["status"], "running");
    for _ in 0..2 {
        let out = rt.fails(&["start", &id]);
        let err = stderr(&out);
        assert!(err.contains(&id) && err.contains("running"), "{err}");
        assert_eq!(snapshot(&rt, &id), before);
    }
    rt.ok(&["delete", "--force", &id]);
    assert_no_trace(&rt, &id, b.path());
}

#[test]
fn start_on_a_stopped_container_fails() {
    let rt = runtime();
    let mut b = Bundle::busybox();
    b.set_args(&["true"]);
    let id = unique_id("start-stopped");
    let _g = rt.guard(&id);
    create(&rt, &b, &id);
    rt.ok(&["start", &id]);
    wait_status(&rt, &id, "stopped");
    let before = snapshot(&rt, &id);
    let out = rt.fails(&["start", &id]);
    assert!(stderr(&out).contains("stopped"), "{}", stderr(&out));
    assert_eq!(snapshot(&rt, &id), before);
    rt.ok(&["delete", &id]);
    assert_no_trace(&rt, &id, b.path());
}

#[test]
fn verbs_on_an_unknown_id_fail_clearly_and_create_nothing() {
    let rt = runtime();
    // Another container exists so that the root is not empty and must stay unchanged.
    let b = sleeper();
    let other = unique_id("other");
    let _g = rt.guard(&other);
    create(&rt, &b, &other);
    let before = snapshot(&rt, &other);
    let id = unique_id("unknown");
    for args in [
        vec!["state", &id],
        vec!["start", &id],
        vec!["kill", &id],
        vec!["kill", &id, "KILL"],
        vec!["kill", "--all", &id, "KILL"],
        vec!["delete", &id],
    ] {
        let out = rt.fails(&args);
        let err = stderr(&out);
        assert!(
            err.contains(&id) && err.contains("does not exist"),
            "{args:?}: {err}"
        );
        assert_eq!(out.stdout, b"", "{args:?} printed to stdout");
        assert!(
            !rt.root().join(&id).exists(),
            "{args:?} created a state dir"
        );
        assert!(cgroup_dirs(&id).is_empty(), "{args:?} created a cgroup");
    }
    assert_eq!(snapshot(&rt, &other), before);
    assert_eq!(rt.ok(&["list", "-q"]), format!("{other}\n"));
}

#[test]
fn ids_that_are_not_path_components_are_refused() {
    let rt = runtime();
    let b = sleeper();
    for bad in ["../escape", "a/b", ".hidden", ""] {
        let out = rt.fails(&["create", "--bundle", path_str(b.path()), bad]);
        assert!(!stderr(&out).is_empty(), "{bad:?}: no error message");
        for verb in ["state", "delete", "start"] {
            rt.fails(&[verb, bad]);
        }
    }
    assert_root_empty(&rt);
    assert!(!rt.root().parent().unwrap().join("escape").exists());
}

#[test]
fn create_with_an_id_in_use_fails_and_keeps_the_first_container() {
    let rt = runtime();
    let b = sleeper();
    let mut b2 = Bundle::busybox();
    b2.set_args(&["sh", "-c", "echo intruder > /tmp/ran"]);
    let id = unique_id("in-use");
    let _g = rt.guard(&id);
    create(&rt, &b, &id);
    let before = snapshot(&rt, &id);
    for bundle in [&b, &b2] {
        let out = rt.fails(&["create", "--bundle", path_str(bundle.path()), &id]);
        let err = stderr(&out);
        assert!(err.contains(&id) && err.contains("already exists"), "{err}");
        assert_eq!(snapshot(&rt, &id), before);
        // `run` with the id in use fails the same way.
        let out = rt.fails(&["run", "--bundle", path_str(bundle.path()), &id]);
        assert!(stderr(&out).contains("already exists"), "{}", stderr(&out));
        assert_eq!(snapshot(&rt, &id), before);
    }
    // The first container still works.
    rt.ok(&["start", &id]);
    assert_eq!(status(&rt, &id).0, "running");
    assert!(!b2.rootfs().join("tmp/ran").exists());
    rt.ok(&["delete", "--force", &id]);
    assert_no_trace(&rt, &id, b.path());
    assert_no_trace(&rt, &id, b2.path());
}

#[test]
fn delete_of_a_running_container_without_force_fails_and_changes_nothing() {
    let rt = runtime();
    let b = sleeper();
    let id = unique_id("del-running");
    let _g = rt.guard(&id);
    create(&rt, &b, &id);
    rt.ok(&["start", &id]);
    let before = snapshot(&rt, &id);
    assert!(before.alive);
    let out = rt.fails(&["delete", &id]);
    let err = stderr(&out);
    assert!(err.contains(&id) && err.contains("running"), "{err}");
    assert!(
        err.contains("force"),
        "the error should suggest --force: {err}"
    );
    assert_eq!(snapshot(&rt, &id), before);
    // delete --force works and removes everything.
    let pid = before.state["pid"].as_i64().unwrap() as i32;
    rt.ok(&["delete", "--force", &id]);
    assert!(!alive(pid), "init {pid} survived delete --force");
    assert_no_trace(&rt, &id, b.path());
}

#[test]
fn delete_of_a_created_container_kills_its_init() {
    let rt = runtime();
    let b = sleeper();
    let id = unique_id("del-created");
    let _g = rt.guard(&id);
    create(&rt, &b, &id);
    let pid = status(&rt, &id).1 as i32;
    // runc deletes a created container without --force.
    rt.ok(&["delete", &id]);
    assert!(!alive(pid), "init {pid} survived delete");
    assert_no_trace(&rt, &id, b.path());
}

#[test]
fn delete_force_kills_every_process_of_a_container_without_pid_namespace() {
    let rt = runtime();
    let mut b = Bundle::busybox();
    remove_namespace(&mut b, "pid");
    b.set_args(&[
        "sh",
        "-c",
        "sleep 100 & sleep 100 & echo ok > /tmp/ready; wait",
    ]);
    let id = unique_id("del-all");
    let _g = rt.guard(&id);
    create(&rt, &b, &id);
    rt.ok(&["start", &id]);
    wait_until(Duration::from_secs(20), "the children to start", || {
        b.rootfs().join("tmp/ready").exists() && processes_in_cgroup(&id).len() >= 3
    });
    let procs = processes_in_cgroup(&id);
    rt.ok(&["delete", "--force", &id]);
    for p in &procs {
        assert!(!alive(*p), "container process {p} survived delete --force");
    }
    assert_no_trace(&rt, &id, b.path());
}

#[test]
fn delete_of_a_stopped_container_kills_processes_its_init_left_behind() {
    let rt = runtime();
    let mut b = Bundle::busybox();
    // No pid namespace: the init's child outlives it (orphaned), still in the container's cgroup.
    remove_namespace(&mut b, "pid");
    b.set_args(&["sh", "-c", "sleep 100 & echo $! > /tmp/child; exit 0"]);
    let id = unique_id("del-orphans");
    let _g = rt.guard(&id);
    create(&rt, &b, &id);
    rt.ok(&["start", &id]);
    wait_status(&rt, &id, "stopped");
    let child: i32 = {
        let f = b.rootfs().join("tmp/child");
        wait_until(Duration::from_secs(10), "the child pid", || {
            !read_or_empty(&f).trim().is_empty()
        });
        read_or_empty(&f).trim().parse().unwrap()
    };
    assert!(alive(child), "the orphaned child should still run");
    assert!(processes_in_cgroup(&id).contains(&child));
    rt.ok(&["delete", &id]);
    assert!(
        !alive(child),
        "delete left the container's process {child} running"
    );
    assert_no_trace(&rt, &id, b.path());
}

/// A container whose shell (the pid-namespace init, which ignores signals it has no handler for) appends each
/// trapped signal's name to `/tmp/signals` and exits on TERM.
fn trapping() -> Bundle {
    let mut b = Bundle::busybox();
    b.set_args(&[
        "sh",
        "-c",
        "for s in HUP USR1 USR2; do trap \"echo $s >> /tmp/signals\" $s; done; \
         trap 'echo TERM >> /tmp/signals; exit 0' TERM; \
         echo ready > /tmp/ready; while :; do sleep 0.02; done",
    ]);
    b
}

fn start_and_wait_ready(rt: &Runtime, b: &Bundle, id: &str) {
    create(rt, b, id);
    rt.ok(&["start", id]);
    let ready = b.rootfs().join("tmp/ready");
    wait_until(
        Duration::from_secs(20),
        "the trap shell to be ready",
        || ready.exists(),
    );
}

fn wait_signals(b: &Bundle, want: &str) {
    let f = b.rootfs().join("tmp/signals");
    wait_until(
        Duration::from_secs(10),
        &format!("/tmp/signals to be {want:?}"),
        || read_or_empty(&f) == want,
    );
}

#[test]
fn kill_accepts_names_with_and_without_sig_and_numbers() {
    let rt = runtime();
    let b = trapping();
    let id = unique_id("kill-names");
    let _g = rt.guard(&id);
    start_and_wait_ready(&rt, &b, &id);
    let mut want = String::new();
    for (sig, name) in [
        ("HUP", "HUP"),
        ("SIGUSR1", "USR1"),
        ("12", "USR2"),
        ("sigusr1", "USR1"),
        ("1", "HUP"),
    ] {
        rt.ok(&["kill", &id, sig]);
        want.push_str(name);
        want.push('\n');
        wait_signals(&b, &want);
        assert_eq!(status(&rt, &id).0, "running", "after {sig}");
    }
    rt.ok(&["kill", &id, "TERM"]);
    want.push_str("TERM\n");
    wait_signals(&b, &want);
    wait_status(&rt, &id, "stopped");
    rt.ok(&["delete", &id]);
    assert_no_trace(&rt, &id, b.path());
}

#[test]
fn kill_sigterm_by_full_name_and_by_default() {
    let rt = runtime();
    for args in [vec!["SIGTERM"], vec!["15"], vec![]] {
        let b = trapping();
        let id = unique_id("kill-term");
        let _g = rt.guard(&id);
        start_and_wait_ready(&rt, &b, &id);
        let mut cmd = vec!["kill", id.as_str()];
        cmd.extend(&args);
        rt.ok(&cmd);
        wait_signals(&b, "TERM\n");
        wait_status(&rt, &id, "stopped");
        rt.ok(&["delete", &id]);
        assert_no_trace(&rt, &id, b.path());
    }
}

#[test]
fn kill_with_kill_and_9_stops_the_container() {
    let rt = runtime();
    for sig in ["KILL", "9", "SIGKILL"] {
        let b = sleeper();
        let id = unique_id("kill-kill");
        let _g = rt.guard(&id);
        create(&rt, &b, &id);
        rt.ok(&["start", &id]);
        let pid = status(&rt, &id).1 as i32;
        rt.ok(&["kill", &id, sig]);
        wait_status(&rt, &id, "stopped");
        assert!(!alive(pid), "{sig}: init {pid} alive");
        // kill on a stopped container fails.
        let out = rt.fails(&["kill", &id, sig]);
        assert!(stderr(&out).contains(&id), "{}", stderr(&out));
        rt.ok(&["delete", &id]);
        assert_no_trace(&rt, &id, b.path());
    }
}

#[test]
fn kill_a_created_container_stops_it() {
    let rt = runtime();
    let b = sleeper();
    let id = unique_id("kill-created");
    let _g = rt.guard(&id);
    create(&rt, &b, &id);
    rt.ok(&["kill", &id, "KILL"]);
    wait_status(&rt, &id, "stopped");
    rt.ok(&["delete", &id]);
    assert_no_trace(&rt, &id, b.path());
}

#[test]
fn kill_with_an_invalid_signal_fails_and_changes_nothing() {
    let rt = runtime();
    let b = trapping();
    let id = unique_id("kill-invalid");
    let _g = rt.guard(&id);
    start_and_wait_ready(&rt, &b, &id);
    let before = snapshot(&rt, &id);
    for bad in [
        "SIGNOPE",
        "NOTASIGNAL",
        "65",
        "99",
        "9x",
        "SIG",
        "RTMIN+99",
        "",
    ] {
        let out = rt.fails(&["kill", &id, bad]);
        let err = stderr(&out);
        assert!(
            err.contains("signal") && (bad.is_empty() || err.contains(bad)),
            "{bad:?}: {err}"
        );
    }
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(snapshot(&rt, &id), before);
    assert!(
        !b.rootfs().join("tmp/signals").exists(),
        "a signal got through"
    );
    rt.ok(&["delete", "--force", &id]);
    assert_no_trace(&rt, &id, b.path());
}

#[test]
fn kill_all_signals_every_process_in_the_container() {
    let rt = runtime();
    let mut b = Bundle::busybox();
    // Without a pid namespace, killing only the init would leave its children running.
    remove_namespace(&mut b, "pid");
    b.set_args(&[
        "sh",
        "-c",
        "sleep 100 & sleep 100 & echo ok > /tmp/ready; wait",
    ]);
    let id = unique_id("kill-all");
    let _g = rt.guard(&id);
    create(&rt, &b, &id);
    rt.ok(&["start", &id]);
    wait_until(Duration::from_secs(20), "the children to start", || {
        b.rootfs().join("tmp/ready").exists() && processes_in_cgroup(&id).len() >= 3
    });
    let procs = processes_in_cgroup(&id);
    rt.ok(&["kill", "--all", &id, "KILL"]);
    wait_until(
        Duration::from_secs(10),
        "every container process to die",
        || procs.iter().all(|p| !alive(*p)),
    );
    wait_status(&rt, &id, "stopped");
    rt.ok(&["delete", &id]);
    assert_no_trace(&rt, &id, b.path());
}

/// A container without a pid namespace whose init started a child (`sleep 100`): `kill ID KILL` (without `--all`)
/// stops the init only. Returns the bundle and the child's host pid, still alive. `id` must be guarded by the caller.
fn stopped_with_a_child_left(rt: &Runtime, id: &str) -> (Bundle, i32) {
    let mut b = Bundle::busybox();
    remove_namespace(&mut b, "pid");
    b.set_args(&["sh", "-c", "sleep 100 & echo $! > /tmp/child; wait"]);
    create(rt, &b, id);
    rt.ok(&["start", id]);
    let f = b.rootfs().join("tmp/child");
    wait_until(Duration::from_secs(20), "the child pid", || {
        !read_or_empty(&f).trim().is_empty()
    });
    let child: i32 = read_or_empty(&f).trim().parse().unwrap();
    rt.ok(&["kill", id, "KILL"]);
    wait_status(rt, id, "stopped");
    assert!(
        alive(child),
        "kill without --all should only signal the init"
    );
    (b, child)
}

#[test]
fn kill_without_all_signals_only_the_init() {
    let rt = runtime();
    let id = unique_id("kill-init-only");
    let _g = rt.guard(&id);
    let (b, child) = stopped_with_a_child_left(&rt, &id);
    rt.ok(&["delete", &id]);
    assert!(!alive(child));
    assert_no_trace(&rt, &id, b.path());
}

/// runc accepts signal 0 (kill(2)'s existence check): exit 0 while the init lives, nothing delivered; a stopped
/// container fails.
#[test]
fn kill_with_signal_0_checks_the_init_exists_and_sends_nothing() {
    let rt = runtime();
    let b = trapping();
    let id = unique_id("kill-zero");
    let _g = rt.guard(&id);
    start_and_wait_ready(&rt, &b, &id);
    let before = snapshot(&rt, &id);
    rt.ok(&["kill", &id, "0"]);
    rt.ok(&["kill", "--all", &id, "0"]);
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(snapshot(&rt, &id), before);
    assert!(
        !b.rootfs().join("tmp/signals").exists(),
        "signal 0 delivered something"
    );
    rt.ok(&["kill", &id, "KILL"]);
    wait_status(&rt, &id, "stopped");
    let out = rt.fails(&["kill", &id, "0"]);
    assert!(stderr(&out).contains("not running"), "{}", stderr(&out));
    rt.ok(&["delete", &id]);
    assert_no_trace(&rt, &id, b.path());
}

/// runc 1.1.5: `kill --all` on a stopped container exits 0 and signals what is still in its cgroup (here a child
/// the init left behind without a pid namespace); without `--all` it fails.
#[test]
fn kill_all_on_a_stopped_container_succeeds_and_signals_what_is_left() {
    let rt = runtime();
    let id = unique_id("kill-all-stopped");
    let _g = rt.guard(&id);
    let (b, child) = stopped_with_a_child_left(&rt, &id);
    rt.fails(&["kill", &id, "KILL"]);
    rt.ok(&["kill", "--all", &id, "KILL"]);
    wait_until(
        Duration::from_secs(10),
        "the left-over child to die",
        || !alive(child),
    );
    // Nothing left: still exit 0.
    rt.ok(&["kill", "--all", &id, "KILL"]);
    assert_eq!(status(&rt, &id).0, "stopped");
    rt.ok(&["delete", &id]);
    assert_no_trace(&rt, &id, b.path());
}
