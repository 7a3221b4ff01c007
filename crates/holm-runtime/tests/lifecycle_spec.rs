//! `holm-runtime spec [--bundle DIR] [--rootless]`: writes runc's default `config.json` (never over an existing
//! one), and what it writes is a config the runtime itself accepts.

mod lifecycle_util;

use holm_testkit::{unique_id, Bundle};
use lifecycle_util::*;
use serde_json::{json, Value};
use std::fs;
use std::process::Stdio;

fn ns_types(c: &Value) -> Vec<String> {
    c["linux"]["namespaces"]
        .as_array()
        .expect("linux.namespaces")
        .iter()
        .map(|n| n["type"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn spec_writes_a_default_config_and_refuses_to_overwrite_it() {
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("config.json");
    rt.ok(&["spec", "--bundle", path_str(dir.path())]);
    let c = read_json(&cfg);
    // The newest runtime-spec version holm follows, the one `features` names.
    let features: serde_json::Value = serde_json::from_str(&rt.ok(&["features"])).unwrap();
    assert_eq!(c["ociVersion"], features["ociVersionMax"], "{c}");
    assert_eq!(c["root"]["path"], "rootfs");
    assert_eq!(
        c["process"]["terminal"], true,
        "runc's default is a terminal"
    );
    assert_eq!(c["process"]["args"], json!(["sh"]));
    assert_eq!(c["process"]["cwd"], "/");
    let ns = ns_types(&c);
    for want in ["pid", "network", "ipc", "uts", "mount"] {
        assert!(ns.contains(&want.to_string()), "{want} missing: {ns:?}");
    }
    assert!(!ns.contains(&"user".to_string()), "{ns:?}");
    let dests: Vec<&str> = c["mounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["destination"].as_str().unwrap())
        .collect();
    for want in ["/proc", "/dev", "/dev/pts", "/dev/shm", "/sys"] {
        assert!(dests.contains(&want), "{want} missing: {dests:?}");
    }
    assert!(!c["linux"]["maskedPaths"].as_array().unwrap().is_empty());
    assert!(!c["linux"]["readonlyPaths"].as_array().unwrap().is_empty());

    // A second spec fails and leaves the file alone.
    fs::write(&cfg, "user edits").unwrap();
    let out = rt.fails(&["spec", "--bundle", path_str(dir.path())]);
    assert!(stderr(&out).contains("config.json"), "{}", stderr(&out));
    assert_eq!(fs::read_to_string(&cfg).unwrap(), "user edits");
    // Nothing else was written into the bundle.
    let names: Vec<_> = fs::read_dir(dir.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(names, ["config.json"]);
}

#[test]
fn spec_defaults_to_the_current_directory() {
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    let st = rt
        .cmd(&["spec"])
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .status()
        .unwrap();
    assert!(st.success());
    read_json(&dir.path().join("config.json"));
}

#[test]
fn spec_into_a_missing_bundle_dir_fails() {
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no/such/dir");
    let out = rt.fails(&["spec", "--bundle", path_str(&missing)]);
    assert!(stderr(&out).contains("config.json"), "{}", stderr(&out));
    assert!(!missing.exists());
}

#[test]
fn spec_rootless_maps_the_caller_in_a_user_namespace() {
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    rt.ok(&["spec", "--rootless", "--bundle", path_str(dir.path())]);
    let c = read_json(&dir.path().join("config.json"));
    let ns = ns_types(&c);
    assert!(ns.contains(&"user".to_string()), "{ns:?}");
    assert!(ns.contains(&"mount".to_string()), "{ns:?}");
    assert!(
        !ns.contains(&"network".to_string()),
        "rootless has no network namespace (as runc): {ns:?}"
    );
    // The test runs as root: uid/gid 0 map to 0, one id each.
    for key in ["uidMappings", "gidMappings"] {
        assert_eq!(
            c["linux"][key],
            json!([{"containerID": 0, "hostID": 0, "size": 1}]),
            "{key}"
        );
    }
    let again = rt.fails(&["spec", "--rootless", "--bundle", path_str(dir.path())]);
    assert!(stderr(&again).contains("config.json"));
}

/// Replaces a busybox bundle's config with what `spec` writes (terminal off, args changed), then runs it.
fn run_spec_output(extra: &[&str]) {
    let rt = runtime();
    let b = Bundle::busybox();
    let cfg = b.path().join("config.json");
    fs::remove_file(&cfg).unwrap();
    let mut args = vec!["spec", "--bundle", path_str(b.path())];
    args.extend(extra);
    rt.ok(&args);
    let mut c = read_json(&cfg);
    c["process"]["terminal"] = json!(false);
    c["process"]["args"] = json!(["sh", "-c", "echo spec-ok; hostname"]);
    fs::write(&cfg, serde_json::to_vec_pretty(&c).unwrap()).unwrap();
    let id = unique_id("spec-run");
    let _g = rt.guard(&id);
    let out = rt.run(&["run", "--bundle", path_str(b.path()), &id]);
    assert_eq!(out.status.code(), Some(0), "{extra:?}: {}", stderr(&out));
    let want_host = c["hostname"].as_str().unwrap_or("");
    assert_eq!(stdout(&out), format!("spec-ok\n{want_host}\n"), "{extra:?}");
    assert_no_trace(&rt, &id, b.path());
}

#[test]
fn the_config_spec_writes_runs() {
    run_spec_output(&[]);
}

#[test]
fn the_rootless_config_spec_writes_runs() {
    run_spec_output(&["--rootless"]);
}
