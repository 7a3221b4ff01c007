//! `--isolation vm` end to end (TCG, busybox bundle): the container runs in a qemu microVM booted with holm's guest
//! kernel and agent. Each test is bounded (HOLM_TEST_TIMEOUT per runtime call) and cleans up through guards.
//!
//! Needs the guest kernel (`scripts/build-guest-kernel.sh`, or HOLM_VM_KERNEL) and the static agent next to the
//! runtime binary (`cargo build`, or HOLM_VM_AGENT).

mod lifecycle_util;

use holm_testkit::{unique_id, wait_until, Bundle};
use lifecycle_util::*;
use std::time::Duration;

fn host_release() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .unwrap()
        .trim()
        .to_string()
}

/// Asserts that no process of the VM (qemu, the shim) mentions the container's state dir any more, and that
/// the whole container is gone.
fn assert_vm_gone(rt: &holm_testkit::Runtime, id: &str, b: &Bundle) {
    let dir = rt.root().join(id);
    wait_until(
        Duration::from_secs(20),
        "the VM's processes to be gone",
        || processes_mentioning(&dir.display().to_string()).is_empty(),
    );
    assert_no_trace(rt, id, b.path());
}

#[test]
fn vm_run_passes_stdout_stderr_and_exit_code_from_the_guest_kernel() {
    let rt = runtime();
    let mut b = Bundle::busybox();
    b.set_args(&["sh", "-c", "uname -r; echo to-stderr >&2; exit 3"]);
    let id = unique_id("vm-run");
    let _g = rt.guard(&id);
    let out = rt.run(&[
        "--isolation",
        "vm",
        "run",
        "--bundle",
        path_str(b.path()),
        &id,
    ]);
    assert_eq!(out.status.code(), Some(3), "stderr: {}", stderr(&out));
    let release = stdout(&out).trim().to_string();
    assert!(
        !release.is_empty(),
        "no uname -r output; stderr: {}",
        stderr(&out)
    );
    assert_ne!(
        release,
        host_release(),
        "uname -r in the VM is the host's kernel"
    );
    assert!(stderr(&out).contains("to-stderr"), "{}", stderr(&out));
    assert_vm_gone(&rt, &id, &b);
}

#[test]
fn vm_create_start_state_exec_kill_delete() {
    let rt = runtime();
    let mut b = Bundle::busybox();
    b.set_args(&["sleep", "1000"]);
    // Chosen by the annotation this time (no flag).
    b.config_mut()["annotations"] = serde_json::json!({"org.holm.isolation": "vm"});
    b.write_config();
    let id = unique_id("vm-life");
    let _g = rt.guard(&id);
    create(&rt, &b, &id);
    let (st, pid) = status(&rt, &id);
    assert_eq!(st, "created");
    // state.pid is the VMM, in the container's (new) network namespace.
    let exe = std::fs::read_link(format!("/proc/{pid}/exe")).unwrap();
    assert!(
        exe.ends_with("qemu-system-x86_64"),
        "state.pid {pid} is {exe:?}"
    );
    let ns = |p: &str| std::fs::read_link(format!("/proc/{p}/ns/net")).unwrap();
    assert_ne!(
        ns(&pid.to_string()),
        ns("self"),
        "qemu is in the host's network namespace"
    );

    rt.ok(&["start", &id]);
    assert_eq!(status(&rt, &id).0, "running");

    // exec: output and exit code come back; the guest sees its own kernel and none of the host's processes.
    let out = rt.run(&[
        "exec",
        &id,
        "sh",
        "-c",
        "uname -r; ls /proc | grep -c '^[0-9]'; exit 7",
    ]);
    assert_eq!(out.status.code(), Some(7), "stderr: {}", stderr(&out));
    let text = stdout(&out);
    let mut lines = text.lines();
    assert_ne!(lines.next().unwrap_or(""), host_release());
    let guest_procs: usize = lines
        .next()
        .unwrap_or("x")
        .trim()
        .parse()
        .unwrap_or(usize::MAX);
    let host_procs = std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().parse::<u32>().is_ok())
        .count();
    assert!(
        guest_procs < 10 && host_procs > guest_procs,
        "the container sees {guest_procs} processes (host: {host_procs})"
    );

    // ps lists the guest's pids of the container.
    let ps: Vec<i64> = serde_json::from_str(&rt.ok(&["ps", "--format", "json", &id])).unwrap();
    assert!(!ps.is_empty(), "ps: no processes");

    rt.ok(&["kill", &id, "KILL"]);
    wait_status(&rt, &id, "stopped");
    rt.ok(&["delete", &id]);
    assert_vm_gone(&rt, &id, &b);
}

#[test]
fn vm_kill_9_of_qemu_leaves_nothing_delete_force_cannot_clean() {
    let rt = runtime();
    let mut b = Bundle::busybox();
    b.set_args(&["sleep", "1000"]);
    let id = unique_id("vm-kill9");
    let _g = rt.guard(&id);
    rt.ok(&[
        "--isolation",
        "vm",
        "run",
        "--detach",
        "--bundle",
        path_str(b.path()),
        &id,
    ]);
    let (st, pid) = status(&rt, &id);
    assert_eq!(st, "running");
    holm_sys::process::kill(pid as i32, libc::SIGKILL).unwrap();
    wait_status(&rt, &id, "stopped");
    rt.ok(&["delete", "--force", &id]);
    assert_vm_gone(&rt, &id, &b);
}

#[test]
fn vm_create_refusals_name_the_cause_and_leave_nothing() {
    let rt = runtime();
    let mut b = Bundle::busybox();
    let id = unique_id("vm-refuse");
    let _g = rt.guard(&id);
    let bundle = path_str(b.path()).to_string();
    let out = rt.fails(&[
        "--isolation",
        "vm",
        "--vm-kernel",
        "/no/such/vmlinuz",
        "create",
        "--bundle",
        &bundle,
        &id,
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("guest kernel /no/such/vmlinuz (--vm-kernel): not found"),
        "{}",
        stderr(&out)
    );
    assert_root_empty(&rt);
    b.config_mut()["annotations"] = serde_json::json!({"org.holm.isolation": "kvm"});
    b.write_config();
    let out = rt.fails(&["create", "--bundle", &bundle, &id]);
    assert!(
        stderr(&out).contains("annotations.org.holm.isolation: expected \"vm\" or \"process\""),
        "{}",
        stderr(&out)
    );
    assert_root_empty(&rt);
    // A terminal is refused in one line before anything is made.
    b.config_mut()["annotations"] = serde_json::json!({"org.holm.isolation": "vm"});
    b.config_mut()["process"]["terminal"] = serde_json::json!(true);
    b.write_config();
    let out = rt.fails(&["create", "--bundle", &bundle, &id]);
    assert!(
        stderr(&out).contains("process.terminal:"),
        "{}",
        stderr(&out)
    );
    assert_root_empty(&rt);
}
