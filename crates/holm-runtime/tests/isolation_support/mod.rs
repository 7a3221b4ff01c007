//! Helpers shared by the `isolation_*` integration tests: run a busybox container in the
//! foreground with a shell script and read what it printed.
#![allow(dead_code)]

use std::process::Output;

use holm_testkit::{require_root, unique_id, Bundle, Runtime};
use serde_json::{json, Value};

/// A `holm-runtime` with a private state root. Panics (never skips) without root.
pub fn runtime() -> Runtime {
    require_root();
    Runtime::new(env!("CARGO_BIN_EXE_holm-runtime"))
}

/// Sets `process.args` to `sh -c <script>` (without writing the config).
pub fn set_script(bundle: &mut Bundle, script: &str) {
    bundle.config_mut()["process"]["args"] = json!(["sh", "-c", script]);
}

/// Writes the config with `sh -c <script>` as the process, runs the container in the foreground
/// under a fresh id (force-deleted on return, also on panic) and returns the runtime's output
/// whatever its exit status.
pub fn run_script_output(rt: &Runtime, bundle: &mut Bundle, prefix: &str, script: &str) -> Output {
    set_script(bundle, script);
    bundle.write_config();
    let id = unique_id(prefix);
    let _guard = rt.guard(&id);
    let bundle_path = bundle
        .path()
        .to_str()
        .expect("UTF-8 bundle path")
        .to_string();
    rt.run(&["run", "--bundle", &bundle_path, &id])
}

/// Like [`run_script_output`] but asserts exit code 0 and returns stdout.
pub fn run_script(rt: &Runtime, bundle: &mut Bundle, prefix: &str, script: &str) -> String {
    let out = run_script_output(rt, bundle, prefix, script);
    assert_success(&out, script);
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Panics with the script, status, stdout and stderr unless `out` exited 0.
pub fn assert_success(out: &Output, what: &str) {
    assert!(
        out.status.success(),
        "`{what}` failed: {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// stdout and stderr of `out`, for assertion messages.
pub fn describe(out: &Output) -> String {
    format!(
        "status {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The `linux.namespaces` array (mutable).
pub fn namespaces(bundle: &mut Bundle) -> &mut Vec<Value> {
    bundle.config_mut()["linux"]["namespaces"]
        .as_array_mut()
        .expect("linux.namespaces is an array")
}

/// Removes namespace `typ` from `linux.namespaces`.
pub fn remove_ns(bundle: &mut Bundle, typ: &str) {
    namespaces(bundle).retain(|n| n["type"] != typ);
}

/// Adds (or replaces) namespace `typ`, with `path` when given.
pub fn set_ns(bundle: &mut Bundle, typ: &str, path: Option<&str>) {
    remove_ns(bundle, typ);
    let ns = match path {
        Some(p) => json!({ "type": typ, "path": p }),
        None => json!({ "type": typ }),
    };
    namespaces(bundle).push(ns);
}

/// The host's (the test process's) namespace link, e.g. `net:[4026531840]`.
pub fn host_ns(name: &str) -> String {
    ns_of("self", name)
}

/// `readlink /proc/<pid>/ns/<name>`.
pub fn ns_of(pid: &str, name: &str) -> String {
    let p = format!("/proc/{pid}/ns/{name}");
    std::fs::read_link(&p)
        .unwrap_or_else(|e| panic!("readlink `{p}`: {e}"))
        .to_string_lossy()
        .into_owned()
}

/// Parses `key=value` lines printed by a container script into pairs, in order.
pub fn key_values(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect()
}

/// The value printed for `key` by a script (`key=value` lines); panics naming the key if absent.
pub fn value_of(text: &str, key: &str) -> String {
    key_values(text)
        .into_iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v)
        .unwrap_or_else(|| panic!("no `{key}=` line in container output:\n{text}"))
}

/// The value of field `name` (`Name:\tvalue`) in a `/proc/<pid>/status` text.
pub fn status_field(status: &str, name: &str) -> String {
    status
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{name}:")))
        .map(|v| v.trim().to_string())
        .unwrap_or_else(|| panic!("no `{name}:` in status:\n{status}"))
}

/// The mountinfo line (of a container's `/proc/self/mountinfo` text) whose mount point is
/// exactly `mount_point`; the last one if several are stacked there.
pub fn mount_line<'a>(mountinfo: &'a str, mount_point: &str) -> Option<&'a str> {
    mountinfo
        .lines()
        .rfind(|l| l.split(' ').nth(4) == Some(mount_point))
}

/// Per-mount options (field 6) of a mountinfo line, e.g. `["ro", "nosuid", "relatime"]`.
pub fn mount_opts(line: &str) -> Vec<String> {
    line.split(' ')
        .nth(5)
        .unwrap_or_default()
        .split(',')
        .map(String::from)
        .collect()
}

/// File-system type (after the ` - ` separator) of a mountinfo line.
pub fn mount_fstype(line: &str) -> String {
    line.split(" - ")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .unwrap_or_default()
        .to_string()
}

/// Super options (last field) of a mountinfo line, e.g. `["rw", "size=1024k", "mode=700"]`.
pub fn super_opts(line: &str) -> Vec<String> {
    line.split(" - ")
        .nth(1)
        .and_then(|r| r.split(' ').nth(2))
        .unwrap_or_default()
        .split(',')
        .map(String::from)
        .collect()
}

/// Optional fields (propagation: `shared:N`, `master:N`, `unbindable`) of a mountinfo line.
pub fn mount_propagation(line: &str) -> Vec<String> {
    let fields: Vec<&str> = line
        .split(" - ")
        .next()
        .unwrap_or_default()
        .split(' ')
        .collect();
    fields.iter().skip(6).map(|s| s.to_string()).collect()
}
