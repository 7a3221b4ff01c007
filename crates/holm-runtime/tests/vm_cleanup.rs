//! `--isolation vm`: a `create` killed with SIGKILL while its VM boots leaves a shim, qemu (jailed, in its cgroup)
//! and a state directory without state.json; `delete --force` must remove all of it. The guest never needs to come
//! up here, so the "agent" is any static binary (busybox); needs the guest kernel (scripts/build-guest-kernel.sh or
//! HOLM_VM_KERNEL) and qemu.

mod lifecycle_util;
mod vm_support;

use holm_testkit::{unique_id, wait_until, Bundle};
use lifecycle_util::*;
use std::path::Path;
use std::time::Duration;
use vm_support::*;

#[test]
fn delete_force_cleans_up_after_a_create_killed_while_the_vm_boots() {
    let rt = vm_runtime_with_agent(Path::new("/bin/busybox"));
    let mut b = Bundle::busybox();
    b.set_args(&["sleep", "100"]);
    let id = unique_id("vm-killed-create");
    let _g = rt.guard(&id);
    let dir = rt.root().join(&id);
    let mut create = create_cmd(&rt, &b, &id);
    create
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let mut child = create.spawn().unwrap();
    // The shim is recorded as soon as it is forked; qemu follows it into the VMM's cgroup.
    wait_until(Duration::from_secs(120), "the VM shim to start", || {
        dir.join("shim.pid").exists()
    });
    wait_until(
        Duration::from_secs(60),
        "qemu to join the VM's cgroup",
        || !processes_in_cgroup(&id).is_empty(),
    );
    child.kill().unwrap();
    child.wait().unwrap();
    let shim: i32 = std::fs::read_to_string(dir.join("shim.pid"))
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let qemu = processes_in_cgroup(&id);
    assert!(alive(shim), "the shim should outlive its killed create");

    rt.ok(&["delete", "--force", &id]);
    assert!(!alive(shim), "shim {shim} survived delete --force");
    for p in qemu {
        assert!(!alive(p), "qemu {p} survived delete --force");
    }
    assert!(
        !cgroup_dirs(&id).iter().any(|d| d.exists()),
        "cgroup left: {:?}",
        cgroup_dirs(&id)
    );
    assert_no_trace(&rt, &id, b.path());
}
