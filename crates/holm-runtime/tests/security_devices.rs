//! Issue 11, "an explicit deny must hold": a `linux.devices` entry creates a node but grants no access; only
//! `linux.resources.devices` (plus the default allow-list, as runc's) decides, on cgroup v1 (the devices
//! controller, this host's) and on v2 (the eBPF filter, in a private cgroup2-only mount namespace, see
//! [`cgroups_support::v2_runtime`]). Each case creates `/dev/kmsg` (c 1:11) and tries to open it for writing
//! from inside; an empty write logs nothing on the host, and the open is what the device cgroup checks.

mod cgroups_support;

use cgroups_support::*;
use holm_testkit::{unique_id, Runtime};
use serde_json::{json, Value};

/// What the container's shell prints: `write-ok` when the open for writing succeeded, else the shell's error.
const SCRIPT: &str = "printf '' > /dev/kmsg && echo write-ok; echo rc=$?";

/// Runs [`SCRIPT`] in a container whose config creates /dev/kmsg and has `rules` as
/// `linux.resources.devices`; returns (stdout, stderr).
fn attempt(rt: &Runtime, rules: Value, what: &str) -> (String, String) {
    let mut b = bundle(SCRIPT, json!({ "devices": rules }));
    b.config_mut()["linux"]["devices"] = json!([
        { "path": "/dev/kmsg", "type": "c", "major": 1, "minor": 11, "fileMode": 0o666, "uid": 0, "gid": 0 }
    ]);
    b.write_config();
    let id = unique_id(what);
    let _g = rt.guard(&id);
    let out = rt.run(&["run", "--bundle", &path_arg(&b), &id]);
    assert!(out.status.success(), "{what}: {}", describe(&out));
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn kmsg(allow: bool) -> Value {
    json!({ "allow": allow, "type": "c", "major": 1, "minor": 11, "access": "rwm" })
}

/// The three configurations, each run by `rt`: an allow-all followed by an explicit deny of 1:11, a deny-all
/// with no allow (`runc spec`'s rules), and the positive control (deny-all, then allow 1:11).
fn check(rt: &Runtime, tag: &str) {
    for (rules, what) in [
        (
            json!([{ "allow": true, "access": "rwm" }, kmsg(false)]),
            "explicit-deny",
        ),
        (json!([{ "allow": false, "access": "rwm" }]), "deny-all"),
    ] {
        let (out, err) = attempt(rt, rules, &format!("{tag}-{what}"));
        assert!(
            !out.contains("write-ok") && out.contains("rc=1"),
            "{tag} {what}: /dev/kmsg must be denied\n{out}\n{err}"
        );
        assert!(
            err.contains("/dev/kmsg") && err.contains("Operation not permitted"),
            "{tag} {what}: the open must fail with EPERM\n{out}\n{err}"
        );
    }
    let (out, err) = attempt(
        rt,
        json!([{ "allow": false, "access": "rwm" }, kmsg(true)]),
        &format!("{tag}-allowed"),
    );
    assert!(
        out.contains("write-ok"),
        "{tag}: an allow rule must let the container write /dev/kmsg\n{out}\n{err}"
    );
}

#[test]
fn a_created_device_stays_denied_on_cgroup_v1() {
    check(&runtime(), "dev-v1");
}

#[test]
fn a_created_device_stays_denied_on_cgroup_v2() {
    check(&v2_runtime(), "dev-v2");
}

/// The same bundles under runc (the reference): it denies and allows the same way.
#[test]
fn runc_agrees() {
    holm_testkit::require_root();
    check(&Runtime::runc(), "dev-runc");
}
