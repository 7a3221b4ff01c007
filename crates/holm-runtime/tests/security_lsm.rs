//! Issue 4: `process.apparmorProfile` and `process.selinuxLabel` on a host without those LSMs behave as runc:
//! the AppArmor profile is ignored (said at debug level), the SELinux label is an error.

mod security_support;

use holm_testkit::{unique_id, Bundle};
use security_support::*;
use serde_json::json;

fn lsm_enabled(path: &str, want: &str) -> bool {
    std::fs::read_to_string(path).is_ok_and(|s| s.trim() == want)
}

#[test]
fn apparmor_profile_without_apparmor_is_ignored_at_debug_level() {
    assert!(
        !lsm_enabled("/sys/module/apparmor/parameters/enabled", "Y"),
        "this test expects a host without AppArmor"
    );
    let rt = runtime();
    let mut b = Bundle::busybox();
    cfg(&mut b)["process"]["apparmorProfile"] = json!("holm-test-profile");
    b.set_args(&["true"]);
    let id = unique_id("apparmor");
    let _g = rt.guard(&id);
    let out = rt.run(&[
        "--debug",
        "run",
        "--bundle",
        b.path().to_str().unwrap(),
        &id,
    ]);
    assert!(out.status.success(), "{}", describe(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("debug") && err.contains("AppArmor") && err.contains("holm-test-profile"),
        "{err}"
    );
    // Without --debug nothing is said.
    let id = unique_id("apparmor");
    let _g2 = rt.guard(&id);
    let out = rt.run(&["run", "--bundle", b.path().to_str().unwrap(), &id]);
    assert!(
        out.status.success() && !String::from_utf8_lossy(&out.stderr).contains("AppArmor"),
        "{}",
        describe(&out)
    );
}

#[test]
fn selinux_label_without_selinux_is_an_error() {
    assert!(
        !std::path::Path::new("/sys/fs/selinux/enforce").exists(),
        "this test expects a host without SELinux"
    );
    let rt = runtime();
    let mut b = Bundle::busybox();
    cfg(&mut b)["process"]["selinuxLabel"] = json!("system_u:system_r:container_t:s0");
    b.write_config();
    assert_create_fails(&rt, &b, &["process.selinuxLabel"]);
}
