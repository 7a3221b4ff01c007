//! `kill` of a VM container whose guest cannot answer (one VM each):
//!
//! - paused (its VMM frozen): a SIGTERM returns at once and stays pending until `resume` (the trap runs then, as
//!   with runc); a SIGKILL of a paused VM returns at once and ends it (the VMM is killed and thawed): stopped;
//! - stuck (its qemu stopped with SIGSTOP, as a hung VMM): a SIGTERM fails within seconds naming the wait, and a
//!   SIGKILL ends it (the VMM is killed after a short wait for the guest). Before, each of these hung for ever.
//!
//! Every verb runs with a deadline, so a regression fails instead of hanging. Helpers: vm_support.

mod lifecycle_util;
mod vm_support;

use holm_testkit::{unique_id, Bundle, Runtime};
use lifecycle_util::*;
use std::time::{Duration, Instant};
use vm_support::*;

/// `holm-runtime ARGS` within `limit`: (success, stderr); panics when it takes longer.
fn within(rt: &Runtime, args: &[&str], limit: Duration) -> (bool, String) {
    let mut child = rt
        .cmd(args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let end = Instant::now() + limit;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > end {
            let _ = child.kill();
            let _ = child.wait();
            panic!("holm-runtime {args:?} still runs after {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let o = child.wait_with_output().unwrap();
    (o.status.success(), stderr(&o))
}

fn boot(rt: &Runtime, id: &str, b: &mut Bundle) -> Stdio2 {
    b.set_args(&[
        "sh",
        "-c",
        "trap 'echo got-term; exit 5' TERM; echo ready; while :; do sleep 1; done",
    ]);
    let io = create_vm(rt, &["--isolation", "vm"], b, id);
    rt.ok(&["start", id]);
    io.wait_out("ready", Duration::from_secs(120));
    io
}

#[test]
fn kill_of_a_paused_vm_returns_and_signals_wait_for_resume() {
    let rt = vm_runtime();
    let id = unique_id("vm-kpause");
    let mut b = Bundle::busybox();
    let _g = rt.guard(&id);
    let io = boot(&rt, &id, &mut b);
    rt.ok(&["pause", &id]);
    assert_eq!(status(&rt, &id).0, "paused");
    let (ok, err) = within(&rt, &["kill", &id, "TERM"], Duration::from_secs(10));
    assert!(ok, "kill TERM of a paused VM: {err}");
    std::thread::sleep(Duration::from_millis(500));
    assert!(!io.out().contains("got-term"), "{}", io.out());
    assert_eq!(status(&rt, &id).0, "paused");
    rt.ok(&["resume", &id]);
    io.wait_out("got-term", Duration::from_secs(60));
    wait_vm_status(&rt, &id, "stopped");
    rt.ok(&["delete", &id]);

    // SIGKILL of a paused VM.
    let io = boot(&rt, &id, &mut b);
    rt.ok(&["pause", &id]);
    let (ok, err) = within(&rt, &["kill", &id, "KILL"], Duration::from_secs(10));
    assert!(ok, "kill KILL of a paused VM: {err}");
    wait_vm_status(&rt, &id, "stopped");
    assert!(!io.out().contains("got-term"), "{}", io.out());
    rt.ok(&["delete", &id]);
    assert_no_trace(&rt, &id, b.path());
}

#[test]
fn kill_of_a_stuck_vm_fails_in_time_and_sigkill_ends_it() {
    let rt = vm_runtime();
    let id = unique_id("vm-kstuck");
    let mut b = Bundle::busybox();
    let _g = rt.guard(&id);
    let _io = boot(&rt, &id, &mut b);
    let vmm = status(&rt, &id).1;
    holm_sys::process::kill(vmm as i32, libc::SIGSTOP).unwrap();
    let (ok, err) = within(&rt, &["kill", &id, "TERM"], Duration::from_secs(30));
    assert!(!ok, "kill TERM of a stuck VM succeeded");
    assert!(err.contains("the VM did not answer within 5 s"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    let (ok, err) = within(&rt, &["kill", &id, "KILL"], Duration::from_secs(30));
    assert!(ok, "kill KILL of a stuck VM: {err}");
    wait_vm_status(&rt, &id, "stopped");
    rt.ok(&["delete", &id]);
    assert_no_trace(&rt, &id, b.path());
}

/// `create` SIGKILLed while its VM boots (an engine's timeout): the container is visible (`list`, `state`:
/// `creating` while the shim runs, else `stopped`) and `delete` removes it with its VM, as runc's half-created
/// container; before, the VM ran on, invisible, and the id was taken.
#[test]
fn a_create_killed_during_the_boot_leaves_a_container_delete_removes() {
    let rt = vm_runtime();
    let id = unique_id("vm-kcreate");
    let mut b = Bundle::busybox();
    b.set_args(&["sleep", "1000"]);
    let _g = rt.guard(&id);
    let mut child = rt
        .cmd(&[
            "--isolation",
            "vm",
            "create",
            "--bundle",
            path_str(b.path()),
            &id,
        ])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Killed once the shim runs (its pid file is written right after the fork).
    let shim_file = rt.root().join(&id).join("shim.pid");
    holm_testkit::wait_until(Duration::from_secs(30), "the VM shim's pid file", || {
        shim_file.is_file()
    });
    child.kill().unwrap();
    let _ = child.wait();
    let list = rt.ok(&["list", "-q"]);
    assert!(list.lines().any(|l| l == id), "{list}");
    let st = status(&rt, &id).0;
    assert!(st == "creating" || st == "stopped", "{st}");
    let (ok, err) = within(&rt, &["delete", &id], Duration::from_secs(60));
    assert!(ok, "delete of a half-created VM: {err}");
    assert_no_trace(&rt, &id, b.path());
    let shim_alive = std::process::Command::new("pgrep")
        .args(["-f", &format!("vm-shim {}", rt.root().join(&id).display())])
        .output()
        .unwrap();
    assert!(!shim_alive.status.success(), "the VM shim still runs");
}
