//! How `create` reports failures: a container init that dies says how it ended (exit status or signal), and errors
//! from applying a config field name that field. Every failure leaves nothing behind.

mod lifecycle_util;

use holm_testkit::{unique_id, Bundle};
use lifecycle_util::*;
use serde_json::json;

/// A createRuntime hook (it runs on the host while the init waits for it) that kills the init with SIGKILL: the
/// pid comes from the state JSON on its stdin.
fn init_killing_hook() -> serde_json::Value {
    let script = "s=$(/bin/cat); \
                  pid=$(printf '%s' \"$s\" | /bin/sed -n 's/.*\"pid\": *\\([0-9]*\\).*/\\1/p'); \
                  /bin/kill -9 \"$pid\"";
    json!({"path": "/bin/sh", "args": ["sh", "-c", script]})
}

/// Writes `b`'s config, runs `create` (which must fail with exit code 1 and one error line), checks that nothing is
/// left behind and returns the error.
fn create_fails(b: &Bundle, prefix: &str) -> String {
    b.write_config();
    let rt = runtime();
    let id = unique_id(prefix);
    let _g = rt.guard(&id);
    let out = rt.fails(&["create", "--bundle", path_str(b.path()), &id]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    assert_no_trace(&rt, &id, b.path());
    err
}

#[test]
fn an_init_killed_during_create_is_reported_with_its_signal() {
    let mut b = Bundle::busybox();
    b.config_mut()["hooks"] = json!({ "createRuntime": [init_killing_hook()] });
    let err = create_fails(&b, "init-killed");
    assert!(
        err.contains("container init was killed by signal 9 (SIGKILL)"),
        "the error should say how the init ended: {err}"
    );
}

/// An rlimit the kernel refuses names its entry: RLIMIT_NOFILE's hard limit above `fs.nr_open` fails with EPERM
/// even for root with CAP_SYS_RESOURCE.
#[test]
fn a_refused_rlimit_names_its_entry() {
    let mut b = Bundle::busybox();
    b.set_args(&["true"]);
    b.config_mut()["process"]["rlimits"] = json!([
        { "type": "RLIMIT_CORE", "soft": 0, "hard": 0 },
        { "type": "RLIMIT_NOFILE", "soft": 1024, "hard": 1u64 << 40 }
    ]);
    let err = create_fails(&b, "rlimit-field");
    assert!(
        err.contains("process.rlimits[1]") && err.contains("RLIMIT_NOFILE"),
        "the error should name the rlimit entry: {err}"
    );
    assert!(err.contains("Operation not permitted"), "{err}");
}

/// A namespace path of the wrong type (the runtime's own UTS namespace given as the network namespace) fails in
/// setns with EINVAL; the error names the entry and its path.
#[test]
fn a_refused_namespace_path_names_its_entry() {
    let mut b = Bundle::busybox();
    b.set_args(&["true"]);
    let nss = b.config_mut()["linux"]["namespaces"]
        .as_array_mut()
        .unwrap();
    nss.retain(|n| n["type"] != "network");
    nss.push(json!({ "type": "network", "path": "/proc/self/ns/uts" }));
    let index = nss.len() - 1;
    let err = create_fails(&b, "setns-field");
    assert!(
        err.contains(&format!("linux.namespaces[{index}].path"))
            && err.contains("/proc/self/ns/uts")
            && err.contains("setns")
            && err.contains("Invalid argument"),
        "the error should name the namespace entry: {err}"
    );
}
