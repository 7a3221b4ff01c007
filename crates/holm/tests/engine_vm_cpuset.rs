//! `holm update --cpuset-cpus` of a VM container (`--isolation vm`): in a VM the list names the VM's vCPUs, so a
//! CPU the running VM does not have, or the VM its next start boots would not have, is refused with the same line
//! as `holm create`'s, and nothing changes. Root, TCG (`HOLM_VM_ACCEL=tcg` unless set), `$HOLM_VM_AGENT` and
//! holm-runtime built (as engine_vm).

#[path = "../../image/tests/common/mod.rs"]
mod common;
mod engine_common;

use engine_common::{vm, vm_engine, Engine, IMAGE};

/// What `holm create` says of a 1-vCPU VM with `--cpuset-cpus list`.
fn create_refusal(e: &Engine, list: &str) -> String {
    let (code, _, err) = vm(
        e,
        &[
            "create",
            "--isolation",
            "vm",
            "--cpus",
            "1",
            "--cpuset-cpus",
            list,
            IMAGE,
            "true",
        ],
    );
    assert_eq!(code, Some(125), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    err
}

/// Asserts that `holm update ARGS C` fails with exactly `want` and exit 125 (a refused flag value, as for its
/// other flags) and that C's `CpusetCpus` stays `kept`.
fn assert_refused(e: &Engine, args: &[&str], c: &str, want: &str, kept: &str) {
    let mut a = vec!["update"];
    a.extend_from_slice(args);
    a.push(c);
    let (code, _, err) = vm(e, &a);
    assert_eq!(code, Some(125), "update {args:?} {c}: {err}");
    assert_eq!(err, want, "update {args:?} {c}");
    assert_eq!(e.inspect(c)["HostConfig"]["CpusetCpus"], kept, "{c}");
}

#[test]
fn update_cpuset_of_a_vm_names_only_its_vcpus() {
    let e = vm_engine();
    let refusal = create_refusal(&e, "1");
    assert!(
        refusal.contains("CPU 1 is not among the VM's vCPUs 0-0"),
        "{refusal}"
    );

    // A running 1-vCPU VM.
    let (code, _, err) = vm(
        &e,
        &[
            "run",
            "-d",
            "--name",
            "run1",
            "--isolation",
            "vm",
            "--cpus",
            "1",
            IMAGE,
            "sleep",
            "300",
        ],
    );
    assert_eq!(code, Some(0), "{err}");
    assert_refused(&e, &["--cpuset-cpus", "1"], "run1", &refusal, "");
    // More CPUs for its next boot do not give the running VM a second vCPU.
    assert_refused(
        &e,
        &["--cpus", "2", "--cpuset-cpus", "1"],
        "run1",
        &refusal,
        "",
    );
    let (code, _, err) = vm(&e, &["update", "--cpuset-cpus", "0", "run1"]);
    assert_eq!(code, Some(0), "{err}");
    let (code, out, err) = vm(&e, &["exec", "run1", "cat", "/sys/fs/cgroup/cpuset.cpus"]);
    assert_eq!((code, out.as_str()), (Some(0), "0\n"), "{err}");
    e.ok(&["rm", "-f", "run1"]);

    // Created, never started: the VM its start boots (1 vCPU from --cpus 1).
    let (code, _, err) = vm(
        &e,
        &[
            "create",
            "--name",
            "new1",
            "--isolation",
            "vm",
            "--cpus",
            "1",
            IMAGE,
            "true",
        ],
    );
    assert_eq!(code, Some(0), "{err}");
    assert_refused(&e, &["--cpuset-cpus", "1"], "new1", &refusal, "");
    // With --cpus 2 it boots 2 vCPUs: CPU 1 is one of them; going back to one vCPU is then refused.
    let (code, _, err) = vm(&e, &["update", "--cpus", "2", "--cpuset-cpus", "1", "new1"]);
    assert_eq!(code, Some(0), "{err}");
    assert_refused(&e, &["--cpus", "1"], "new1", &refusal, "1");
    assert_eq!(
        e.inspect("new1")["HostConfig"]["NanoCpus"],
        2_000_000_000i64
    );
    e.ok(&["rm", "new1"]);
}
