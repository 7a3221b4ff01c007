//! Shared helpers for the security tests (issue 4).
#![allow(dead_code)]

use holm_testkit::{require_root, unique_id, Bundle, Runtime};
use serde_json::Value;
use std::path::Path;
use std::process::Output;

/// A runtime with a private state root.
pub fn runtime() -> Runtime {
    require_root();
    Runtime::new(env!("CARGO_BIN_EXE_holm-runtime"))
}

/// Runs `sh -c script` in a new foreground container; returns the output (never panics on failure).
pub fn run_sh(rt: &Runtime, b: &mut Bundle, script: &str) -> (Output, String) {
    b.set_args(&["sh", "-c", script]);
    let id = unique_id("sec");
    let _g = rt.guard(&id);
    let out = rt.run(&["run", "--bundle", b.path().to_str().unwrap(), &id]);
    (out, id)
}

/// Like [`run_sh`] but asserts success and returns stdout.
pub fn run_ok(rt: &Runtime, b: &mut Bundle, script: &str) -> String {
    let (out, _) = run_sh(rt, b, script);
    assert!(out.status.success(), "container failed: {}", describe(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Exit code, stdout and stderr in one line for assertion messages.
pub fn describe(out: &Output) -> String {
    format!(
        "status {:?}\nstdout: {}\nstderr: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The value of `Name:` in a `/proc/PID/status` text.
pub fn status_field(status: &str, name: &str) -> String {
    status
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{name}:")))
        .map(|v| v.trim().to_string())
        .unwrap_or_else(|| panic!("no {name} in {status}"))
}

/// Asserts that `create` of `b` fails, that stderr mentions every `needle`, and that nothing is left behind.
pub fn assert_create_fails(rt: &Runtime, b: &Bundle, needles: &[&str]) {
    let id = unique_id("secfail");
    let _g = rt.guard(&id);
    let out = rt.run(&["create", "--bundle", b.path().to_str().unwrap(), &id]);
    assert!(
        !out.status.success(),
        "create should fail: {}",
        describe(&out)
    );
    let err = String::from_utf8_lossy(&out.stderr);
    for n in needles {
        assert!(err.contains(n), "stderr should mention {n:?}: {err}");
    }
    assert!(
        !rt.root().join(&id).exists(),
        "state dir left behind for {id}"
    );
    assert!(
        !Path::new("/sys/fs/cgroup/pids/holm").join(&id).exists(),
        "cgroup left behind for {id}"
    );
    assert!(
        holm_testkit::mounts_mentioning(b.path().to_str().unwrap()).is_empty(),
        "mount left behind"
    );
}

/// `config.json` as a mutable JSON value.
pub fn cfg(b: &mut Bundle) -> &mut Value {
    b.config_mut()
}
