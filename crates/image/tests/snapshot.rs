//! Overlay snapshots: the merged view of an image's layers honours whiteouts and opaque directories, writes go
//! to the snapshot's upper dir, and layers stay while a snapshot uses them.

mod common;

use common::images::*;
use common::tars::Tar;
use holm_image::{LoadOptions, StoreError};
use serde_json::json;
use std::path::Path;

struct Mounted<'a> {
    ts: &'a TestStore,
    id: String,
}

impl Drop for Mounted<'_> {
    fn drop(&mut self) {
        let _ = self.ts.store.unmount_snapshot(&self.id, None);
    }
}

fn layered_image() -> Built {
    let l1 = Tar::new()
        .file("dir/old1", 0o644, b"1")
        .file("dir/old2", 0o644, b"2")
        .file("gone", 0o644, b"g")
        .file("re/old", 0o644, b"o")
        .file("opq/lower", 0o644, b"l")
        .file("keep", 0o644, b"k")
        .bytes();
    let l2 = Tar::new()
        .file(".wh.gone", 0o644, b"")
        .file("dir/.wh.old1", 0o644, b"")
        .file(".wh.re", 0o644, b"")
        .file("opq/same-layer-before", 0o644, b"s")
        .file("opq/.wh..wh..opq", 0o644, b"")
        .bytes();
    let l3 = Tar::new().file("re/new", 0o644, b"n").bytes();
    busybox_image(json!({"Cmd": ["sh"]}), &[l1, l2, l3])
}

fn exists(p: &Path) -> bool {
    std::fs::symlink_metadata(p).is_ok()
}

#[test]
fn merged_view_honours_whiteouts_and_opaque_dirs() {
    let ts = TestStore::new();
    let img = layered_image();
    let t = ts.file(
        "l.tar",
        &tar_of(&oci_files(
            simple_index(&[(&img, Some("layered:1"))]),
            &[&img],
            &[],
        )),
    );
    ts.store.load(&t, &LoadOptions::default()).unwrap();
    let id = common::unique("snap");
    let snap = ts.store.prepare_snapshot(&id, "layered:1").unwrap();
    assert_eq!(snap.lower.len(), 4);
    let m = ts.store.mount_snapshot(&id, None).unwrap();
    let _guard = Mounted {
        ts: &ts,
        id: id.clone(),
    };
    assert!(m.join("bin/busybox").is_file());
    assert!(!exists(&m.join("gone")), "whiteout of a file");
    assert!(!exists(&m.join("dir/old1")), "whiteout inside a directory");
    assert_eq!(std::fs::read(m.join("dir/old2")).unwrap(), b"2");
    assert!(
        !exists(&m.join("re/old")),
        "a deleted then recreated dir shows only new contents"
    );
    assert_eq!(std::fs::read(m.join("re/new")).unwrap(), b"n");
    assert!(
        !exists(&m.join("opq/lower")),
        "opaque dir hides lower layers"
    );
    assert_eq!(
        std::fs::read(m.join("opq/same-layer-before")).unwrap(),
        b"s"
    );
    assert_eq!(std::fs::read(m.join("keep")).unwrap(), b"k");
    let names: Vec<String> = std::fs::read_dir(m.join("opq"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names, ["same-layer-before"]);

    // Writes land in the snapshot's upper dir, never in a shared layer.
    std::fs::write(m.join("keep"), b"changed").unwrap();
    std::fs::write(m.join("newfile"), b"new").unwrap();
    assert_eq!(std::fs::read(snap.upper.join("keep")).unwrap(), b"changed");
    let rec = ts.store.resolve("layered:1").unwrap();
    let base = ts.store.layers().diff_dir(&rec.layers[1]).unwrap();
    assert_eq!(std::fs::read(base.join("keep")).unwrap(), b"k");

    // A second snapshot of the same image shares the layers and sees the original content.
    let id2 = common::unique("snap");
    ts.store.prepare_snapshot(&id2, "layered:1").unwrap();
    let m2 = ts.store.mount_snapshot(&id2, None).unwrap();
    let _guard2 = Mounted {
        ts: &ts,
        id: id2.clone(),
    };
    assert_eq!(std::fs::read(m2.join("keep")).unwrap(), b"k");
    assert!(!exists(&m2.join("newfile")));
    ts.store.remove_snapshot(&id2).unwrap();
}

#[test]
fn images_in_use_are_refcounted() {
    let ts = TestStore::new();
    let img = layered_image();
    let t = ts.file("l.tar", &docker_archive(&[(&img, &["inuse:1"])]));
    ts.store.load(&t, &LoadOptions::default()).unwrap();
    let id = common::unique("snap");
    ts.store.prepare_snapshot(&id, "inuse:1").unwrap();
    let err = ts.store.prepare_snapshot(&id, "inuse:1").unwrap_err();
    assert!(err.to_string().contains("already exists"), "{err}");
    let err = ts.store.remove("inuse:1", false).unwrap_err();
    assert!(matches!(err, StoreError::ReferenceInUse { .. }), "{err}");
    assert!(err.to_string().contains(&id[..id.len().min(12)]), "{err}");
    let (pruned, _) = ts.store.prune(true).unwrap();
    assert!(pruned.is_empty(), "prune -a keeps images in use");
    // Forced: the image goes, its layers stay for the snapshot.
    ts.store.remove("inuse:1", true).unwrap();
    assert_eq!(ts.entries("layers").len(), 4);
    let m = ts.store.mount_snapshot(&id, None).unwrap();
    let guard = Mounted {
        ts: &ts,
        id: id.clone(),
    };
    assert!(m.join("bin/busybox").is_file());
    drop(guard);
    ts.store.remove_snapshot(&id).unwrap();
    ts.assert_empty();
    let err = ts.store.remove_snapshot(&id).unwrap_err();
    assert!(err.to_string().contains("not found"), "{err}");
    let err = ts.store.prepare_snapshot("../evil", "x").unwrap_err();
    assert!(err.to_string().contains("invalid snapshot id"), "{err}");
}

#[test]
fn image_without_layers_gets_an_empty_rootfs() {
    let ts = TestStore::new();
    let img = build(&[], json!({}), "amd64");
    let t = ts.file("e.tar", &docker_archive(&[(&img, &["empty:1"])]));
    ts.store.load(&t, &LoadOptions::default()).unwrap();
    let id = common::unique("snap");
    ts.store.prepare_snapshot(&id, "empty:1").unwrap();
    let m = ts.store.mount_snapshot(&id, None).unwrap();
    let guard = Mounted {
        ts: &ts,
        id: id.clone(),
    };
    assert_eq!(std::fs::read_dir(&m).unwrap().count(), 0);
    drop(guard);
    ts.store.remove_snapshot(&id).unwrap();
}
