//! VM containers (`--isolation vm`) whose guest cannot answer must still stop, as runc/docker's SIGKILL of a
//! frozen or hung container always works:
//!
//! - paused (the VMM's cgroup frozen): `stop -t 2` returns after the timeout and the container is Exited (137)
//!   (the runtime kills and thaws the VMM); `kill -s KILL` of a paused VM the same; nothing is left after `rm`;
//! - stuck (its qemu stopped with SIGSTOP, as a hung VMM or a wedged guest agent): `exec` fails within the
//!   runtime's bound in one line naming the container; `stop -t 2` ends it, Exited (137); nothing left after `rm`.
//!
//! Before, each of these hung for ever. Every verb runs with a deadline, so a regression fails instead of
//! hanging; the engine's drop force-removes what a failed test leaves. Root, TCG (`HOLM_VM_ACCEL=tcg` unless set),
//! `$HOLM_VM_AGENT` and holm-runtime built (as engine_vm).

#[path = "../../image/tests/common/mod.rs"]
mod common;
mod engine_common;

use engine_common::{vm_engine, Engine, IMAGE};
use std::time::{Duration, Instant};

/// `holm ARGS` (TCG unless the caller chose) within `limit`: (exit code, stdout, stderr, time taken); panics when
/// it takes longer (the child is killed). The output goes to files, so a process that keeps them open (the VM
/// shim holding an exec's stdio) cannot hold the test: a pipe would stay open after holm exits.
fn within(e: &Engine, args: &[&str], limit: Duration) -> (Option<i32>, String, String, Duration) {
    let mut c = e.cmd(args);
    if std::env::var_os("HOLM_VM_ACCEL").is_none() {
        c.env("HOLM_VM_ACCEL", "tcg");
    }
    let out = tempfile::tempfile().unwrap();
    let err = tempfile::tempfile().unwrap();
    let t = Instant::now();
    let mut child = c
        .stdin(std::process::Stdio::null())
        .stdout(out.try_clone().unwrap())
        .stderr(err.try_clone().unwrap())
        .spawn()
        .unwrap();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if t.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("holm {args:?} still runs after {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let took = t.elapsed();
    let read = |mut f: std::fs::File| {
        use std::io::{Read, Seek};
        let mut s = String::new();
        f.rewind().unwrap();
        f.read_to_string(&mut s).unwrap();
        s
    };
    (status.code(), read(out), read(err), took)
}

/// `holm run -d --isolation vm IMAGE sleep 1000` → (container id, VMM pid).
fn boot(e: &Engine) -> (String, i32) {
    let (code, out, err, _) = within(
        e,
        &["run", "-d", "--isolation", "vm", IMAGE, "sleep", "1000"],
        Duration::from_secs(180),
    );
    assert_eq!(code, Some(0), "run -d: {err}");
    let id = out.trim().to_string();
    let pid = e.inspect(&id)["State"]["Pid"].as_i64().unwrap() as i32;
    assert!(pid > 0, "State.Pid {pid}");
    (id, pid)
}

/// The container ended with 137: inspect and `ps -a` say so.
fn assert_exited_137(e: &Engine, id: &str) {
    engine_common::wait_until(Duration::from_secs(20), &format!("{id} exited"), || {
        e.status(id) == "exited"
    });
    let st = &e.inspect(id)["State"];
    assert_eq!(st["ExitCode"], 137, "{st}");
    let ps = e.ok(&["ps", "-a", "--no-trunc", "--format", "{{.ID}} {{.Status}}"]);
    assert!(
        ps.lines()
            .any(|l| l.starts_with(id) && l.contains("Exited (137)")),
        "{ps}"
    );
}

/// `rm` leaves nothing: no engine or runtime state, mount, cgroup, monitor, VMM (`vmm`) or VM shim.
fn assert_rm_clean(e: &Engine, id: &str, vmm: i32) {
    let (code, _, err, _) = within(e, &["rm", id], Duration::from_secs(60));
    assert_eq!(code, Some(0), "rm: {err}");
    e.assert_gone(id);
    let alive =
        std::fs::read_to_string(format!("/proc/{vmm}/cmdline")).is_ok_and(|c| c.contains("qemu"));
    assert!(!alive, "the VMM {vmm} still runs");
    assert!(
        engine_common::processes_mentioning(id, "vm-shim").is_empty(),
        "VM shim left"
    );
}

#[test]
fn stop_and_kill_of_a_paused_vm_end_it() {
    let e = vm_engine();
    let (id, vmm) = boot(&e);
    e.ok(&["pause", &id]);
    assert_eq!(e.status(&id), "paused");
    // As a paused process container: the stop signal waits for a thaw, SIGKILL after -t.
    let (code, _, err, took) = within(&e, &["stop", "-t", "2", &id], Duration::from_secs(20));
    assert_eq!(code, Some(0), "stop of a paused VM: {err}");
    assert!(took >= Duration::from_secs(2), "stop took {took:?}");
    assert_exited_137(&e, &id);
    assert_rm_clean(&e, &id, vmm);

    // kill -s KILL of a paused VM.
    let (id, vmm) = boot(&e);
    e.ok(&["pause", &id]);
    let (code, _, err, _) = within(&e, &["kill", "-s", "KILL", &id], Duration::from_secs(15));
    assert_eq!(code, Some(0), "kill -s KILL of a paused VM: {err}");
    assert_exited_137(&e, &id);
    assert_rm_clean(&e, &id, vmm);
}

#[test]
fn exec_and_stop_of_a_stuck_vm_are_bounded() {
    let e = vm_engine();
    let (id, vmm) = boot(&e);
    holm_sys::process::kill(vmm, libc::SIGSTOP).unwrap();
    let (code, _, err, took) = within(&e, &["exec", &id, "true"], Duration::from_secs(60));
    assert_ne!(code, Some(0), "exec in a stuck VM succeeded");
    assert!(took < Duration::from_secs(30), "exec took {took:?}");
    assert!(err.contains("the VM did not answer"), "{err}");
    assert!(err.contains(&id[..12]) || err.contains(&id), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    let (code, _, err, _) = within(&e, &["stop", "-t", "2", &id], Duration::from_secs(30));
    assert_eq!(code, Some(0), "stop of a stuck VM: {err}");
    assert_exited_137(&e, &id);
    assert_rm_clean(&e, &id, vmm);
}
