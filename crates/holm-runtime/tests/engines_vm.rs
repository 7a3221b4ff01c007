//! VM isolation under real engines (issue 13): podman, dockerd and containerd (`ctr`, through the runc v2 shim)
//! run busybox with holm-runtime asked for a VM the way each engine can ask (see engines_support/vm.rs for the
//! scenarios and what they observe; CONFORMANCE.md for the recorded table). Root; the guest kernel
//! (`scripts/build-guest-kernel.sh`) and the static agent (`HOLM_VM_AGENT="$(scripts/build-agent.sh)"`) are
//! needed; under TCG each boot takes seconds, so the scenarios are few.

mod engines_support;

use engines_support::ctr::Containerd;
use engines_support::dockerish::DockerLike;
use engines_support::vm::{run_all, Plan};

/// Fails (never skips) without the static guest agent: every VM create would fail with a less direct message.
fn require_vm_agent() {
    let agent = std::env::var("HOLM_VM_AGENT").unwrap_or_default();
    assert!(
        !agent.is_empty() && std::path::Path::new(&agent).is_file(),
        "HOLM_VM_AGENT must name the static guest agent: export HOLM_VM_AGENT=\"$(scripts/build-agent.sh)\""
    );
}

#[test]
fn podman_runs_containers_in_vms_with_runtime_flag_isolation_vm() {
    holm_testkit::require_root();
    require_vm_agent();
    let mut engine = DockerLike::podman();
    let report = run_all(&engine, Plan { publish: true });
    let leaks = engine.finish();
    report.assert_ok(&leaks);
}

#[test]
fn dockerd_runs_containers_in_vms_with_runtime_args_isolation_vm() {
    holm_testkit::require_root();
    require_vm_agent();
    let mut engine = DockerLike::docker();
    let report = run_all(&engine, Plan { publish: true });
    let leaks = engine.finish();
    report.assert_ok(&leaks);
}

#[test]
fn containerd_runs_containers_in_vms_through_a_holm_runtime_vm_runc_binary() {
    holm_testkit::require_root();
    require_vm_agent();
    let mut engine = Containerd::start();
    let report = run_all(&engine, Plan { publish: false });
    let leaks = engine.finish();
    report.assert_ok(&leaks);
}
