//! Issue 3, `pause` / `resume` on this hybrid host (the v1 freezer): the state shows `paused`, the processes
//! really stop and go on, and a paused container can be killed and force-deleted within seconds.

mod cgroups_support;

use std::time::{Duration, Instant};

use cgroups_support::*;
use holm_testkit::{unique_id, Bundle};

#[test]
fn pause_freezes_and_resume_thaws() {
    let rt = runtime();
    let mut b = Bundle::busybox();
    let id = unique_id("cg-pause");
    let _g = rt.guard(&id);
    let count = run_counter(&rt, &mut b, &id);
    assert_eq!(status(&rt, &id), "running");

    rt.ok(&["pause", &id]);
    assert_eq!(status(&rt, &id), "paused");
    assert_eq!(cg_read("freezer", &id, "freezer.state"), "FROZEN");
    let listed = rt.ok(&["list", "--format", "json"]);
    assert!(listed.contains("\"paused\""), "{listed}");
    let frozen_at = read_count(&count);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        read_count(&count),
        frozen_at,
        "the counter moved while paused"
    );

    // Pausing twice, or resuming a running container, is refused.
    let out = rt.fails(&["pause", &id]);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("paused"),
        "{}",
        describe(&out)
    );

    rt.ok(&["resume", &id]);
    assert_eq!(status(&rt, &id), "running");
    assert_eq!(cg_read("freezer", &id, "freezer.state"), "THAWED");
    holm_testkit::wait_until(Duration::from_secs(5), "the counter to move on", || {
        read_count(&count) > frozen_at
    });
    let out = rt.fails(&["resume", &id]);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("not paused"),
        "{}",
        describe(&out)
    );
}

#[test]
fn a_paused_container_is_killed_and_deleted_within_seconds() {
    let rt = runtime();
    let mut b = Bundle::busybox();
    let id = unique_id("cg-pause-kill");
    let _g = rt.guard(&id);
    run_counter(&rt, &mut b, &id);
    let pid = rt.state(&id)["pid"].as_i64().unwrap() as i32;
    rt.ok(&["pause", &id]);
    let start = Instant::now();
    rt.ok(&["kill", &id, "KILL"]);
    holm_testkit::wait_until(Duration::from_secs(5), "the paused init to die", || {
        !holm_testkit::process_exists(pid)
            || std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .is_ok_and(|s| s.contains(") Z "))
    });
    rt.ok(&["delete", "--force", &id]);
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "took {:?}",
        start.elapsed()
    );
    assert_eq!(leftover_dirs(&id), Vec::<std::path::PathBuf>::new());
}

#[test]
fn a_paused_container_is_force_deleted_directly() {
    let rt = runtime();
    let mut b = Bundle::busybox();
    let id = unique_id("cg-pause-del");
    let _g = rt.guard(&id);
    run_counter(&rt, &mut b, &id);
    rt.ok(&["pause", &id]);
    let out = rt.fails(&["delete", &id]);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("paused"),
        "{}",
        describe(&out)
    );
    let start = Instant::now();
    rt.ok(&["delete", "--force", &id]);
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "took {:?}",
        start.elapsed()
    );
    assert_eq!(leftover_dirs(&id), Vec::<std::path::PathBuf>::new());
    assert_eq!(rt.ok(&["list", "-q"]).trim(), "");
}

#[test]
fn only_a_running_container_can_be_paused() {
    let rt = runtime();
    let b = bundle("true", serde_json::json!({}));
    let id = unique_id("cg-pause-created");
    let _g = rt.guard(&id);
    rt.ok(&["create", "--bundle", &path_arg(&b), &id]);
    let out = rt.fails(&["pause", &id]);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("created"),
        "{}",
        describe(&out)
    );
    let out = rt.fails(&["pause", "no-such-container"]);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("does not exist"),
        "{}",
        describe(&out)
    );
}
