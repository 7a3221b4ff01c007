//! `holm_sys::process::kill_with_parent`: the spawned process dies with the thread that spawned it.

use std::process::Command;
use std::time::{Duration, Instant};

/// The state letter of `/proc/PID/stat` (`None` once the process is gone).
fn state(pid: u32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit_once(')')?.1.trim_start().chars().next()
}

/// Spawns `sleep 100` from a thread that then ends without waiting; returns the sleep's pid.
fn spawn_from_ending_thread(hook: bool) -> (u32, std::process::Child) {
    std::thread::spawn(move || {
        let mut cmd = Command::new("sleep");
        cmd.arg("100");
        if hook {
            holm_sys::process::kill_with_parent(&mut cmd);
        }
        let child = cmd.spawn().expect("spawn sleep");
        (child.id(), child)
    })
    .join()
    .unwrap()
}

/// Waits up to `limit` for `pid` to be dead (a zombie of this process, or gone).
fn dies_within(pid: u32, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if matches!(state(pid), None | Some('Z')) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

#[test]
fn the_child_dies_with_its_spawning_thread_and_only_with_the_hook() {
    let (pid, mut with) = spawn_from_ending_thread(true);
    assert!(
        dies_within(pid, Duration::from_secs(10)),
        "sleep {pid} outlived its spawning thread"
    );
    let status = with.wait().unwrap();
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&status),
        Some(libc::SIGKILL)
    );

    // The control: without the hook the same sleep keeps running after its thread ended.
    let (pid, mut without) = spawn_from_ending_thread(false);
    assert!(
        !dies_within(pid, Duration::from_millis(500)),
        "sleep {pid} died without the hook"
    );
    without.kill().unwrap();
    without.wait().unwrap();
}
