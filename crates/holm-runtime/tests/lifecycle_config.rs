//! Malformed and invalid `config.json`: `create` and `run` fail with an error naming the field, and leave no
//! state directory, cgroup, mount or process behind.

mod lifecycle_util;

use holm_testkit::{unique_id, Bundle};
use lifecycle_util::*;
use serde_json::{json, Value};

/// Writes the config changed by `mutate`, then checks that `create` and `run` both fail naming `field` (and
/// `also`, if given) and leave nothing behind.
fn assert_rejected(mutate: impl FnOnce(&mut Value), field: &str) {
    let mut b = Bundle::busybox();
    mutate(b.config_mut());
    b.write_config();
    assert_rejected_bundle(&b, &[field]);
}

fn assert_rejected_bundle(b: &Bundle, needles: &[&str]) {
    let rt = runtime();
    for verb in ["create", "run"] {
        let id = unique_id(&format!("badcfg-{verb}"));
        let _g = rt.guard(&id);
        let out = rt.fails(&[verb, "--bundle", path_str(b.path()), &id]);
        assert_eq!(
            out.status.code(),
            Some(1),
            "{verb}: expected exit code 1; stderr: {}",
            stderr(&out)
        );
        let err = stderr(&out);
        for n in needles {
            assert!(err.contains(n), "{verb}: error should name `{n}`:\n{err}");
        }
        assert_eq!(
            err.trim_end().lines().count(),
            1,
            "{verb}: one error line expected:\n{err}"
        );
        assert_root_empty(&rt);
        assert_no_trace(&rt, &id, b.path());
        let pids_dir = std::path::Path::new(CGROUP_ROOT)
            .join("pids/holm")
            .join(&id);
        assert!(!pids_dir.exists(), "{}", pids_dir.display());
    }
}

#[test]
fn bad_json_is_rejected() {
    let b = Bundle::busybox();
    std::fs::write(
        b.path().join("config.json"),
        "{\"ociVersion\": \"1.2.0\",\n  \"process\": {",
    )
    .unwrap();
    assert_rejected_bundle(&b, &["config.json"]);
}

/// serde reads a JSON array as a struct's fields in order, which gave `[0]: invalid type …`; a document that is not
/// an object gets one plain message instead.
#[test]
fn a_config_that_is_not_an_object_says_so() {
    for (doc, found) in [
        ("[\"1.2.0\", {}]", "an array"),
        ("  \"1.2.0\"", "a string"),
        ("null", "null"),
        ("42", "a number"),
        ("", "nothing"),
    ] {
        let b = Bundle::busybox();
        std::fs::write(b.path().join("config.json"), doc).unwrap();
        assert_rejected_bundle(
            &b,
            &[&format!(
                "config.json: expected a JSON object at the top level, found {found}"
            )],
        );
    }
}

#[test]
fn missing_config_json_is_rejected() {
    let b = Bundle::busybox();
    std::fs::remove_file(b.path().join("config.json")).unwrap();
    assert_rejected_bundle(&b, &["config.json"]);
}

#[test]
fn wrong_json_type_names_the_field() {
    assert_rejected(
        |c| c["process"]["args"] = json!("sh -c true"),
        "process.args",
    );
}

#[test]
fn unknown_namespace_type_names_the_field() {
    assert_rejected(
        |c| c["linux"]["namespaces"][1]["type"] = json!("bogus"),
        "linux.namespaces[1].type",
    );
}

#[test]
fn repeated_namespace_names_the_field() {
    assert_rejected(
        |c| {
            c["linux"]["namespaces"]
                .as_array_mut()
                .unwrap()
                .push(json!({"type": "pid"}))
        },
        "linux.namespaces[6].type",
    );
}

#[test]
fn missing_namespace_path_names_the_field() {
    assert_rejected(
        |c| {
            c["linux"]["namespaces"][1] =
                json!({"type": "network", "path": "/proc/holm-no-such/ns/net"})
        },
        "linux.namespaces[1].path",
    );
}

#[test]
fn relative_mount_destination_names_the_field() {
    assert_rejected(
        |c| c["mounts"][0]["destination"] = json!("proc"),
        "mounts[0].destination",
    );
}

#[test]
fn relative_mount_destination_later_in_the_list_names_its_index() {
    assert_rejected(
        |c| {
            c["mounts"].as_array_mut().unwrap().push(json!({
                "destination": "data/x", "type": "tmpfs", "source": "tmpfs"
            }))
        },
        "mounts[7].destination",
    );
}

#[test]
fn missing_rootfs_names_the_field() {
    assert_rejected(|c| c["root"]["path"] = json!("no-such-rootfs"), "root.path");
}

#[test]
fn relative_cwd_names_the_field() {
    assert_rejected(|c| c["process"]["cwd"] = json!("tmp"), "process.cwd");
}

#[test]
fn empty_args_names_the_field() {
    assert_rejected(|c| c["process"]["args"] = json!([]), "process.args");
}

#[test]
fn bad_env_entry_names_the_field() {
    assert_rejected(
        |c| {
            c["process"]["env"]
                .as_array_mut()
                .unwrap()
                .push(json!("NO_EQUALS_SIGN"))
        },
        "process.env[2]",
    );
}

#[test]
fn rlimit_soft_above_hard_names_the_field() {
    assert_rejected(
        |c| {
            c["process"]["rlimits"][0] =
                json!({"type": "RLIMIT_NOFILE", "soft": 4096, "hard": 1024})
        },
        "process.rlimits[0]",
    );
}

#[test]
fn user_namespace_without_mappings_names_the_field() {
    assert_rejected(
        |c| {
            c["linux"]["namespaces"]
                .as_array_mut()
                .unwrap()
                .push(json!({"type": "user"}))
        },
        "linux.uidMappings",
    );
}

#[test]
fn mapping_of_size_zero_names_the_field() {
    assert_rejected(
        |c| {
            c["linux"]["namespaces"]
                .as_array_mut()
                .unwrap()
                .push(json!({"type": "user"}));
            c["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 0}]);
            c["linux"]["gidMappings"] =
                json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
        },
        "linux.uidMappings[0].size",
    );
}

#[test]
fn mappings_without_user_namespace_name_the_field() {
    assert_rejected(
        |c| {
            c["linux"]["uidMappings"] =
                json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
            c["linux"]["gidMappings"] =
                json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
        },
        "linux.uidMappings",
    );
}

#[test]
fn hostname_without_uts_namespace_names_the_field() {
    assert_rejected(
        |c| {
            c["linux"]["namespaces"]
                .as_array_mut()
                .unwrap()
                .retain(|n| n["type"] != "uts")
        },
        "hostname",
    );
}

#[test]
fn missing_mount_namespace_is_rejected() {
    assert_rejected(
        |c| {
            c["linux"]["namespaces"]
                .as_array_mut()
                .unwrap()
                .retain(|n| n["type"] != "mount")
        },
        "linux.namespaces",
    );
}

#[test]
fn relative_hook_path_names_the_field() {
    assert_rejected(
        |c| c["hooks"] = json!({"createRuntime": [{"path": "bin/true"}]}),
        "hooks.createRuntime[0].path",
    );
}

#[test]
fn relative_masked_path_names_the_field() {
    assert_rejected(
        |c| c["linux"]["maskedPaths"][0] = json!("proc/kcore"),
        "linux.maskedPaths[0]",
    );
}

#[test]
fn unsupported_oci_version_names_the_field() {
    assert_rejected(|c| c["ociVersion"] = json!("0.9.0"), "ociVersion");
}

#[test]
fn missing_process_names_the_field() {
    assert_rejected(
        |c| {
            c.as_object_mut().unwrap().remove("process");
        },
        "process",
    );
}
