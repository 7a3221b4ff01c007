//! `--isolation vm` refusals: a missing guest kernel, a bad isolation or TCG cache annotation and a terminal without a console
//! socket are each one line naming the cause, and leave nothing in the state root. Needs no guest kernel.

mod lifecycle_util;

use holm_testkit::{unique_id, Bundle};
use lifecycle_util::*;

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
        stderr(&out).contains("guest kernel /no/such/vmlinuz (from --vm-kernel): No such file"),
        "{}",
        stderr(&out)
    );
    // The cause once (it was printed twice: in the message and again as its source), also from `run`.
    assert_eq!(
        stderr(&out).matches("No such file").count(),
        1,
        "{}",
        stderr(&out)
    );
    assert_root_empty(&rt);
    let out = rt.fails(&[
        "--isolation",
        "vm",
        "--vm-kernel",
        "/no/such/vmlinuz",
        "run",
        "--bundle",
        &bundle,
        &id,
    ]);
    assert_eq!(
        stderr(&out).matches("No such file").count(),
        1,
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
    // A TCG cache size out of range, before anything is made (and before the guest kernel is looked for).
    b.config_mut()["annotations"] =
        serde_json::json!({"org.holm.isolation": "vm", "org.holm.vm.tcg-tb-size": "2"});
    b.write_config();
    let out = rt.fails(&[
        "--vm-kernel",
        "/no/such/vmlinuz",
        "create",
        "--bundle",
        &bundle,
        &id,
    ]);
    assert!(
        stderr(&out).contains(
            "annotations.org.holm.vm.tcg-tb-size: expected a whole number of MiB from 8 to 1024, got \"2\""
        ),
        "{}",
        stderr(&out)
    );
    assert_root_empty(&rt);
    // An unknown key in holm's own org.holm.vm. namespace (a typo) is refused, naming the known ones; other
    // namespaces pass.
    b.config_mut()["annotations"] = serde_json::json!({
        "org.holm.isolation": "vm",
        "org.holm.vm.tcg-tbsize": "16",
        "com.example.other": "x"
    });
    b.write_config();
    let out = rt.fails(&[
        "--vm-kernel",
        "/no/such/vmlinuz",
        "create",
        "--bundle",
        &bundle,
        &id,
    ]);
    assert!(
        stderr(&out).contains(
            "annotations.org.holm.vm.tcg-tbsize: unknown VM annotation (holm's org.holm.vm. namespace knows only \
             org.holm.vm.tcg-tb-size, org.holm.vm.snapshot-boot)"
        ),
        "{}",
        stderr(&out)
    );
    assert_eq!(stderr(&out).trim().lines().count(), 1, "{}", stderr(&out));
    assert_root_empty(&rt);
    // A leading space is not a number either.
    b.config_mut()["annotations"] =
        serde_json::json!({"org.holm.isolation": "vm", "org.holm.vm.tcg-tb-size": " 16"});
    b.write_config();
    let out = rt.fails(&[
        "--vm-kernel",
        "/no/such/vmlinuz",
        "create",
        "--bundle",
        &bundle,
        &id,
    ]);
    assert!(
        stderr(&out).contains("expected a whole number of MiB from 8 to 1024, got \" 16\""),
        "{}",
        stderr(&out)
    );
    assert_root_empty(&rt);
    // A cpuset naming a CPU the 1-vCPU VM will not have: one line, before anything is made.
    b.config_mut()["annotations"] = serde_json::json!({"org.holm.isolation": "vm"});
    b.config_mut()["linux"]["resources"]["cpu"] = serde_json::json!({"cpus": "1"});
    b.write_config();
    let out = rt.fails(&[
        "--vm-kernel",
        "/no/such/vmlinuz",
        "create",
        "--bundle",
        &bundle,
        &id,
    ]);
    assert!(
        stderr(&out).contains(
            "linux.resources.cpu.cpus: CPU 1 is not among the VM's vCPUs 0-0 (the VM has 1 vCPU"
        ),
        "{}",
        stderr(&out)
    );
    assert_eq!(stderr(&out).trim().lines().count(), 1, "{}", stderr(&out));
    assert_root_empty(&rt);
    b.config_mut()["linux"]["resources"]
        .as_object_mut()
        .unwrap()
        .remove("cpu");
    // A terminal without --console-socket (the VM has no relay of its own) is refused in one line before anything
    // is made.
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
