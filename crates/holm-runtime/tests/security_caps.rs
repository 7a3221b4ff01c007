//! Issue 4: `process.capabilities` — all five sets applied exactly; unknown names are errors.

mod security_support;

use holm_testkit::Bundle;
use security_support::*;
use serde_json::json;

#[test]
fn five_sets_are_applied_exactly_for_a_non_root_user() {
    let rt = runtime();
    let mut b = Bundle::busybox();
    cfg(&mut b)["process"]["user"] = json!({"uid": 1000, "gid": 1000});
    cfg(&mut b)["process"]["noNewPrivileges"] = json!(false);
    // CAP_CHOWN = 0, CAP_KILL = 5, CAP_SETUID = 7, CAP_NET_RAW = 13.
    cfg(&mut b)["process"]["capabilities"] = json!({
        "bounding": ["CAP_CHOWN", "CAP_KILL", "CAP_SETUID", "CAP_NET_RAW"],
        "effective": ["CAP_CHOWN", "CAP_KILL"],
        "permitted": ["CAP_CHOWN", "CAP_KILL", "CAP_NET_RAW"],
        "inheritable": ["CAP_KILL", "CAP_NET_RAW"],
        "ambient": ["CAP_KILL"]
    });
    let status = run_ok(&rt, &mut b, "cat /proc/self/status");
    // After execve of a file without file capabilities, a non-root process keeps: permitted = effective = ambient,
    // inheritable and bounding unchanged (capabilities(7)).
    assert_eq!(
        status_field(&status, "CapBnd"),
        format!("{:016x}", 1u64 | 1 << 5 | 1 << 7 | 1 << 13)
    );
    assert_eq!(
        status_field(&status, "CapInh"),
        format!("{:016x}", 1u64 << 5 | 1 << 13)
    );
    assert_eq!(
        status_field(&status, "CapAmb"),
        format!("{:016x}", 1u64 << 5)
    );
    assert_eq!(
        status_field(&status, "CapPrm"),
        format!("{:016x}", 1u64 << 5)
    );
    assert_eq!(
        status_field(&status, "CapEff"),
        format!("{:016x}", 1u64 << 5)
    );
    assert_eq!(status_field(&status, "Uid"), "1000\t1000\t1000\t1000");
}

#[test]
fn root_gets_exactly_the_bounding_set_and_no_new_privs_holds() {
    let rt = runtime();
    let mut b = Bundle::busybox();
    cfg(&mut b)["process"]["capabilities"] = json!({
        "bounding": ["CAP_CHOWN", "CAP_NET_BIND_SERVICE"],
        "effective": ["CAP_CHOWN"],
        "permitted": ["CAP_CHOWN"]
    });
    cfg(&mut b)["process"]["noNewPrivileges"] = json!(true);
    let status = run_ok(&rt, &mut b, "cat /proc/self/status");
    let bnd = 1u64 | 1 << 10;
    assert_eq!(status_field(&status, "CapBnd"), format!("{bnd:016x}"));
    // With no_new_privs, execve cannot grow the permitted set beyond what was configured (uid 0 would otherwise
    // get the whole bounding set).
    assert_eq!(status_field(&status, "CapPrm"), "0000000000000001");
    assert_eq!(status_field(&status, "CapEff"), "0000000000000001");
    assert_eq!(status_field(&status, "CapInh"), "0000000000000000");
    assert_eq!(status_field(&status, "CapAmb"), "0000000000000000");
    assert_eq!(status_field(&status, "NoNewPrivs"), "1");
    // No capabilities at all.
    let mut b = Bundle::busybox();
    cfg(&mut b)["process"]
        .as_object_mut()
        .unwrap()
        .remove("capabilities");
    let status = run_ok(&rt, &mut b, "cat /proc/self/status");
    assert_eq!(status_field(&status, "CapBnd"), "0000000000000000");
    assert_eq!(status_field(&status, "CapEff"), "0000000000000000");
}

#[test]
fn unknown_capability_is_an_error() {
    let rt = runtime();
    for set in [
        "bounding",
        "effective",
        "permitted",
        "inheritable",
        "ambient",
    ] {
        let mut b = Bundle::busybox();
        cfg(&mut b)["process"]["capabilities"][set] = json!(["CAP_KILL", "CAP_TEST"]);
        b.write_config();
        assert_create_fails(&rt, &b, &["process.capabilities", "CAP_TEST"]);
    }
}
