//! The three ways to ask for a VM, each with `run` (create + start + wait, exit code as the process's): the
//! binary invoked as `holm-runtime-vm` (a symlink, for containerd's runc shim), and the `org.holm.isolation`
//! annotation with the plain name; the global `--isolation vm` is vm_lifecycle's. The guest kernel's release shows
//! the process ran in the VM; stdout, stderr and the exit code come back, and `run` leaves nothing behind.

mod lifecycle_util;
mod vm_support;

use holm_testkit::{unique_id, Bundle};
use lifecycle_util::*;
use vm_support::*;

#[test]
fn holm_runtime_vm_name_runs_in_a_vm_with_stdio_and_exit_code() {
    let dir = tempfile::tempdir().unwrap();
    let link = dir.path().join("holm-runtime-vm");
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_holm-runtime"), &link).unwrap();
    let rt = vm_runtime_at(&link);
    let mut b = Bundle::busybox();
    b.set_args(&["sh", "-c", "echo out; echo err >&2; uname -r; exit 3"]);
    let id = unique_id("vm-name");
    let _g = rt.guard(&id);
    let out = rt.run(&["run", "--bundle", path_str(b.path()), &id]);
    let (o, e) = (stdout(&out), stderr(&out));
    assert_eq!(out.status.code(), Some(3), "stdout: {o}\nstderr: {e}");
    let lines: Vec<&str> = o.lines().collect();
    assert_eq!(lines.len(), 2, "{o}");
    assert_eq!(lines[0], "out");
    assert_ne!(
        lines[1],
        host_release(),
        "holm-runtime-vm ran the process on the host kernel"
    );
    assert!(e.contains("err\n"), "{e}");
    assert_no_trace(&rt, &id, b.path());
}

#[test]
fn isolation_annotation_selects_the_vm() {
    let rt = vm_runtime();
    let mut b = Bundle::busybox();
    b.config_mut()["annotations"] = serde_json::json!({"org.holm.isolation": "vm"});
    b.set_args(&["uname", "-r"]);
    let id = unique_id("vm-annot");
    let _g = rt.guard(&id);
    let out = rt.run(&["run", "--bundle", path_str(b.path()), &id]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let guest = stdout(&out);
    assert!(!guest.trim().is_empty());
    assert_ne!(
        guest.trim(),
        host_release(),
        "the annotation did not select a VM"
    );
    assert_no_trace(&rt, &id, b.path());
}
