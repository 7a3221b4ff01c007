//! `holm-runtime --isolation vm exec` when its host side goes away or ends (one VM for all checks):
//!
//! - a foreground `exec` killed with SIGKILL (what an engine does to a healthcheck at its timeout) takes its
//!   process in the guest with it: `sleep` and `sh -c sleep` are gone from the guest's `ps` afterwards;
//! - an `exec` given a pipe as stdin lets go of it when the process ends: the VM shim no longer holds the pipe,
//!   and data written to it afterwards stays there for its next reader (before, the shim's stdin relay kept
//!   reading the descriptor and swallowed the next chunk);
//! - `kill -9` of the VM shim under a foreground `exec` ends the exec with 137 (the VM went with the shim).
//!
//! Helpers: vm_support (needs the guest kernel and the static agent).

mod lifecycle_util;
mod vm_support;

use holm_testkit::{unique_id, wait_until, Bundle, Runtime};
use lifecycle_util::*;
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::process::Stdio;
use std::time::Duration;
use vm_support::*;

/// The guest's processes (busybox `ps`: PID USER TIME COMMAND).
fn guest_ps(rt: &Runtime, id: &str) -> String {
    rt.ok(&["exec", id, "ps"])
}

/// The VM shim: qemu's (state.pid's) parent.
fn shim_pid(vmm: i64) -> i32 {
    let stat = std::fs::read_to_string(format!("/proc/{vmm}/stat")).unwrap();
    let after = &stat[stat.rfind(')').unwrap() + 2..];
    after.split(' ').nth(1).unwrap().parse().unwrap()
}

/// The inode of a pipe end (`pipe:[N]` in /proc/PID/fd).
fn pipe_inode(f: &impl AsRawFd) -> String {
    std::fs::read_link(format!("/proc/self/fd/{}", f.as_raw_fd()))
        .unwrap()
        .display()
        .to_string()
}

/// Whether process `pid` holds a descriptor on `target` (a /proc/PID/fd link text).
fn holds(pid: i32, target: &str) -> bool {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| {
            d.flatten().any(|e| {
                std::fs::read_link(e.path())
                    .map(|l| l.display().to_string() == target)
                    .unwrap_or(false)
            })
        })
        .unwrap_or(false)
}

/// Starts `exec ID ARGS` in the background, waits until `marker` shows in the guest's `ps`, kills the host
/// process with SIGKILL and asserts that the guest process is gone within 30 s.
fn killed_exec_ends_guest_process(rt: &Runtime, id: &str, args: &[&str], marker: &str) {
    let mut a = vec!["exec", id];
    a.extend(args);
    let mut child = rt
        .cmd(&a)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_until(
        Duration::from_secs(60),
        &format!("`{marker}` in the guest"),
        || guest_ps(rt, id).contains(marker),
    );
    child.kill().unwrap();
    let _ = child.wait();
    wait_until(
        Duration::from_secs(30),
        &format!("`{marker}` gone from the guest after its exec was killed"),
        || !guest_ps(rt, id).contains(marker),
    );
}

#[test]
fn vm_exec_hangup_and_stdin_release() {
    let rt = vm_runtime();
    let id = unique_id("vm-hup");
    let mut b = Bundle::busybox();
    b.set_args(&["sh", "-c", "echo ready; while :; do sleep 1; done"]);
    let _g = rt.guard(&id);
    let io = create_vm(&rt, &["--isolation", "vm"], &b, &id);
    rt.ok(&["start", &id]);
    io.wait_out("ready", Duration::from_secs(120));
    let vmm = status(&rt, &id).1;

    // A killed exec (a healthcheck at its timeout): the process itself, and a CMD-SHELL healthcheck's shape (busybox
    // sh runs its last command in its own place). Only the exec's own process is killed, as docker kills only
    // an exec's process at a healthcheck timeout: a child it forked lives on.
    killed_exec_ends_guest_process(&rt, &id, &["sleep", "1000.25"], "sleep 1000.25");
    killed_exec_ends_guest_process(&rt, &id, &["sh", "-c", "sleep 1000.5"], "sleep 1000.5");
    // The container itself is untouched, and a later exec works.
    assert_eq!(status(&rt, &id).0, "running");
    assert_eq!(rt.ok(&["exec", &id, "echo", "still"]), "still\n");

    // exec with a pipe as stdin: the process reads one line and ends.
    let (mut r, mut w) = std::io::pipe().unwrap();
    let pipe = pipe_inode(&r);
    let child = rt
        .cmd(&["exec", &id, "sh", "-c", "read x; echo got:$x"])
        .stdin(r.try_clone().unwrap())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    w.write_all(b"one\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "exec: {}", stderr(&out));
    assert_eq!(stdout(&out), "got:one\n");
    // The shim must let go of the pipe now that the process ended (it held it until the next write before).
    let shim = shim_pid(vmm);
    wait_until(
        Duration::from_secs(10),
        "the VM shim to close the exec's stdin after the exec ended",
        || !holds(shim, &pipe),
    );
    // What is written next is for the pipe's next reader (here: the test), not swallowed.
    w.write_all(b"two\n").unwrap();
    let mut buf = [0u8; 16];
    let n = r.read(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"two\n");

    // kill -9 of the VM shim (its qemu dies with it) under a foreground exec: the exec ends 137, as for a VM
    // that stops under it (it ended 126 with "the VM shim closed the connection" before).
    let child = rt
        .cmd(&["exec", &id, "sleep", "1000.75"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_until(
        Duration::from_secs(60),
        "`sleep 1000.75` in the guest",
        || guest_ps(&rt, &id).contains("sleep 1000.75"),
    );
    holm_sys::process::kill(shim, libc::SIGKILL).unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(137), "exec: {}", stderr(&out));
    wait_vm_status(&rt, &id, "stopped");
    rt.ok(&["delete", &id]);
    assert_no_trace(&rt, &id, b.path());
}
