//! `holm rmi` with docker's rules: a reference removes only that reference (a digest reference too), the last
//! name of an image a container uses needs `-f`, and an image a running container uses is never deleted, even
//! with `-f` ("cannot be forced"), whatever it is named by.

#[path = "../../image/tests/common/mod.rs"]
mod common;
mod engine_common;

use common::images::{busybox_image, oci_files, simple_index, tar_of};
use engine_common::Engine;
use serde_json::json;

#[test]
fn rmi_keeps_images_in_use() {
    let e = Engine::new();
    let img = busybox_image(json!({"Cmd": ["sh"]}), &[]);
    let layout = e.tmp.path().join("rmi.tar");
    let index = simple_index(&[(&img, Some("rmi:1"))]);
    std::fs::write(&layout, tar_of(&oci_files(index, &[&img], &[]))).unwrap();
    e.ok(&["load", "-i", layout.to_str().unwrap()]);
    e.ok(&["tag", "rmi:1", "rmi2:1"]);
    let digest_ref = format!("rmi@{}", img.manifest_digest);
    let id = img.config_digest.to_string();
    let names = |e: &Engine| {
        let v: serde_json::Value = serde_json::from_str(&e.ok(&["image", "inspect", &id])).unwrap();
        (v[0]["RepoTags"].clone(), v[0]["RepoDigests"].clone())
    };
    assert_eq!(
        names(&e).1,
        json!([format!("docker.io/library/{digest_ref}")])
    );
    let c = e.detached(&["rmi:1", "sleep", "300"]);

    // a digest reference: only that reference goes, the image and its tags stay
    let out = e.ok(&["rmi", "-f", &digest_ref]);
    assert_eq!(out, format!("Untagged: docker.io/library/{digest_ref}\n"));
    assert_eq!(
        names(&e),
        (
            json!(["docker.io/library/rmi:1", "docker.io/library/rmi2:1"]),
            json!([])
        )
    );
    // a tag of several: untagged only
    assert_eq!(
        e.ok(&["rmi", "-f", "rmi:1"]),
        "Untagged: docker.io/library/rmi:1\n"
    );
    // the last name, or the id, of an image a running container uses: refused even with -f, nothing changed
    let hex = id.strip_prefix("sha256:").unwrap();
    for name in ["rmi2:1", hex, &hex[..12]] {
        let (out, err) = e.code(1, &["rmi", "-f", name]);
        assert_eq!(out, "", "{name}");
        assert!(
            err.contains(&format!(
                "conflict: unable to delete {} (cannot be forced) - image is being used by running container {}",
                &hex[..12],
                &c[..12]
            )),
            "{name}: {err}"
        );
        assert_eq!(names(&e).0, json!(["docker.io/library/rmi2:1"]));
    }
    assert_eq!(e.ok(&["exec", &c, "echo", "still here"]), "still here\n");
    // stopped: the last name needs -f, then the image goes
    e.ok(&["stop", "-t", "0", &c]);
    let (_, err) = e.code(1, &["rmi", "rmi2:1"]);
    assert!(
        err.contains(&format!(
            "conflict: unable to remove repository reference \"rmi2:1\" (must force) - container {} is using its referenced image {}",
            &c[..12],
            &hex[..12]
        )),
        "{err}"
    );
    let out = e.ok(&["rmi", "-f", "rmi2:1"]);
    assert_eq!(
        out,
        format!("Untagged: docker.io/library/rmi2:1\nDeleted: {id}\n")
    );
    e.code(1, &["image", "inspect", &id]);
}
