//! Image store: import of OCI layouts (dir, tar), docker-archives and multi-platform indexes; verification
//! failures that must leave nothing behind; names (tag, rmi, prune); export round trips.

mod common;

use common::images::*;
use common::tars::{gzip, Tar};
use holm_image::digest;
use holm_image::platform::Platform;
use holm_image::unpack::UnpackOptions;
use holm_image::{ArchiveFormat, LoadOptions, StoreError};
use serde_json::json;

fn opts() -> LoadOptions {
    LoadOptions::default()
}

fn small_image(marker: &str) -> Built {
    let l1 = Tar::new()
        .file("etc/marker", 0o644, marker.as_bytes())
        .bytes();
    let l2 = Tar::new().file("data/x", 0o600, b"x").bytes();
    build(
        &[(l1, Comp::Gzip), (l2, Comp::Zstd)],
        json!({"Cmd": ["/bin/sh"]}),
        "amd64",
    )
}

#[test]
fn load_oci_directory_and_tar() {
    let ts = TestStore::new();
    let img = busybox_image(json!({"Cmd": ["sh"]}), &[]);
    let dir = ts.tmp.path().join("layout");
    write_dir(
        &dir,
        &oci_files(simple_index(&[(&img, Some("busybox:1.0"))]), &[&img], &[]),
    );
    let loaded = ts.store.load(&dir, &opts()).unwrap();
    assert_eq!(loaded.len(), 1);
    assert_eq!(loaded[0].id, img.config_digest);
    assert_eq!(loaded[0].names, ["docker.io/library/busybox:1.0"]);
    let rec = ts.store.resolve("busybox:1.0").unwrap();
    assert_eq!(rec.id, img.config_digest);
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(ts.store.path())
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(
        mode & 0o777,
        0o700,
        "layers must not be reachable by other users"
    );
    assert_eq!(rec.platform, "linux/amd64");
    assert_eq!(rec.created.as_deref(), Some("2024-01-02T03:04:05Z"));
    assert_eq!(
        rec.repo_digests,
        [format!("docker.io/library/busybox@{}", img.manifest_digest)]
    );
    assert!(rec.size > 500_000, "busybox is large: {}", rec.size);
    let diff = ts.store.layers().diff_dir(&rec.layers[0]).unwrap();
    assert!(diff.join("bin/busybox").is_file());
    // by id, short id and digest reference
    assert_eq!(
        ts.store.resolve(img.config_digest.as_ref()).unwrap().id,
        rec.id
    );
    assert_eq!(
        ts.store
            .resolve(&digest::hex(&rec.id).unwrap()[..12])
            .unwrap()
            .id,
        rec.id
    );
    assert_eq!(
        ts.store
            .resolve(&format!("busybox@{}", img.manifest_digest))
            .unwrap()
            .id,
        rec.id
    );

    // The same layout as a tar, gzip-compressed, under another name: same image, one more name, no new layer.
    let layers_before = ts.entries("layers");
    let t = ts.file(
        "layout.tar.gz",
        &gzip(&tar_of(&oci_files(
            simple_index(&[(&img, Some("example.com/bb:2"))]),
            &[&img],
            &[],
        ))),
    );
    ts.store.load(&t, &opts()).unwrap();
    let rec = ts.store.resolve("example.com/bb:2").unwrap();
    assert_eq!(
        rec.repo_tags,
        ["docker.io/library/busybox:1.0", "example.com/bb:2"]
    );
    assert_eq!(ts.entries("layers"), layers_before);
    assert_eq!(ts.entries("ingest"), Vec::<String>::new());
}

#[test]
fn load_docker_archive_with_several_images() {
    let ts = TestStore::new();
    let a = small_image("a");
    let b = small_image("b");
    let t = ts.file(
        "d.tar",
        &docker_archive(&[(&a, &["a:1", "a:2"]), (&b, &["quay.io/x/b:latest"])]),
    );
    let loaded = ts.store.load(&t, &opts()).unwrap();
    assert_eq!(loaded.len(), 2);
    // docker-archive layers are uncompressed: the diff ids are the same, so the image id is the same config digest
    let ra = ts.store.resolve("a:2").unwrap();
    assert_eq!(ra.id, a.config_digest);
    assert_eq!(
        ra.repo_tags,
        ["docker.io/library/a:1", "docker.io/library/a:2"]
    );
    assert!(ra.repo_digests.is_empty());
    assert_eq!(ts.store.resolve("quay.io/x/b").unwrap().id, b.config_digest);
    // layer 2 is identical in both images: 3 distinct chain ids... no: chains differ after layer 1
    let la = &ra.layers;
    let diff = ts.store.layers().diff_dir(&la[0]).unwrap();
    assert_eq!(std::fs::read(diff.join("etc/marker")).unwrap(), b"a");
    assert_eq!(ts.entries("layers").len(), 4);
}

#[test]
fn multi_platform_index_picks_the_platform() {
    let amd = small_image("amd64");
    let l = Tar::new().file("etc/marker", 0o644, b"arm").bytes();
    let arm = build(&[(l, Comp::Gzip)], json!({}), "arm64");
    let nested = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [
            index_entry(&arm, None, Some(("linux", "arm64"))),
            index_entry(&amd, None, Some(("linux", "amd64"))),
            // an attestation-like manifest without a usable platform
            index_entry(&amd, None, Some(("unknown", "unknown"))),
        ],
    });
    let nested_bytes = serde_json::to_vec(&nested).unwrap();
    let top = json!({
        "schemaVersion": 2,
        "manifests": [{
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "digest": digest::sha256(&nested_bytes).to_string(),
            "size": nested_bytes.len(),
            "annotations": {"io.containerd.image.name": "example.com/multi:1"},
        }],
    });
    let files = oci_files(top, &[&amd, &arm], &[nested_bytes]);
    let ts = TestStore::new();
    let t = ts.file("multi.tar", &tar_of(&files));
    let loaded = ts.store.load(&t, &opts()).unwrap();
    assert_eq!(loaded[0].id, amd.config_digest);
    let ts2 = TestStore::new();
    let o = LoadOptions {
        platform: Platform::parse("linux/arm64").unwrap(),
        ..opts()
    };
    let loaded = ts2.store.load(&t, &o).unwrap();
    assert_eq!(loaded[0].id, arm.config_digest);
    assert_eq!(
        ts2.store.resolve("example.com/multi:1").unwrap().platform,
        "linux/arm64"
    );
    let ts3 = TestStore::new();
    let o = LoadOptions {
        platform: Platform::parse("linux/s390x").unwrap(),
        ..opts()
    };
    let err = ts3.store.load(&t, &o).unwrap_err();
    assert!(err.to_string().contains("linux/s390x"), "{err}");
    assert!(err.to_string().contains("linux/arm64"), "{err}");
    ts3.assert_empty();
}

#[test]
fn blob_not_matching_its_digest_leaves_nothing() {
    let ts = TestStore::new();
    let img = small_image("x");
    let mut files = oci_files(simple_index(&[(&img, Some("bad:1"))]), &[&img], &[]);
    // Corrupt the last layer blob's bytes, keeping its name.
    let layer_name = format!(
        "blobs/sha256/{}",
        digest::hex(&digest::sha256(&img.layers[1].0)).unwrap()
    );
    let f = files.iter_mut().find(|(p, _)| *p == layer_name).unwrap();
    f.1[10] ^= 0xff;
    let t = ts.file("bad.tar", &tar_of(&files));
    let err = ts.store.load(&t, &opts()).unwrap_err();
    assert!(err.to_string().contains("content digest"), "{err}");
    ts.assert_empty();
    // Same as a directory layout: the blob is verified when staged.
    let dir = ts.tmp.path().join("bad-layout");
    write_dir(&dir, &files);
    let err = ts.store.load(&dir, &opts()).unwrap_err();
    assert!(err.to_string().contains("content digest"), "{err}");
    ts.assert_empty();
}

#[test]
fn config_diff_ids_not_matching_leave_nothing() {
    let ts = TestStore::new();
    let mut img = small_image("x");
    let mut cfg: serde_json::Value = serde_json::from_slice(&img.config).unwrap();
    cfg["rootfs"]["diff_ids"][1] = json!(digest::sha256(b"something else").to_string());
    img.config = serde_json::to_vec(&cfg).unwrap();
    img.config_digest = digest::sha256(&img.config);
    let mut m: serde_json::Value = serde_json::from_slice(&img.manifest).unwrap();
    m["config"]["digest"] = json!(img.config_digest.to_string());
    m["config"]["size"] = json!(img.config.len());
    img.manifest = serde_json::to_vec(&m).unwrap();
    img.manifest_digest = digest::sha256(&img.manifest);
    let t = ts.file(
        "bad.tar",
        &tar_of(&oci_files(simple_index(&[(&img, None)]), &[&img], &[])),
    );
    let err = ts.store.load(&t, &opts()).unwrap_err();
    assert!(err.to_string().contains("diff_id"), "{err}");
    ts.assert_empty();
    // A config listing fewer diff_ids than the manifest has layers.
    cfg["rootfs"]["diff_ids"] = json!([cfg["rootfs"]["diff_ids"][0]]);
    let mut img2 = img.clone();
    img2.config = serde_json::to_vec(&cfg).unwrap();
    img2.config_digest = digest::sha256(&img2.config);
    m["config"]["digest"] = json!(img2.config_digest.to_string());
    m["config"]["size"] = json!(img2.config.len());
    img2.manifest = serde_json::to_vec(&m).unwrap();
    img2.manifest_digest = digest::sha256(&img2.manifest);
    let t = ts.file(
        "bad2.tar",
        &tar_of(&oci_files(simple_index(&[(&img2, None)]), &[&img2], &[])),
    );
    let err = ts.store.load(&t, &opts()).unwrap_err();
    assert!(err.to_string().contains("diff_ids"), "{err}");
    ts.assert_empty();
}

#[test]
fn blob_longer_than_its_descriptor_leaves_nothing() {
    let ts = TestStore::new();
    let img = small_image("x");
    let mut m: serde_json::Value = serde_json::from_slice(&img.manifest).unwrap();
    let real = m["layers"][0]["size"].as_u64().unwrap();
    m["layers"][0]["size"] = json!(real - 1);
    let mut bad = img.clone();
    bad.manifest = serde_json::to_vec(&m).unwrap();
    bad.manifest_digest = digest::sha256(&bad.manifest);
    let files = oci_files(simple_index(&[(&bad, None)]), &[&bad], &[]);
    let t = ts.file("long.tar", &tar_of(&files));
    let err = ts.store.load(&t, &opts()).unwrap_err();
    assert!(
        err.to_string().contains("longer than its descriptor"),
        "{err}"
    );
    ts.assert_empty();
    let dir = ts.tmp.path().join("long-layout");
    write_dir(&dir, &files);
    let err = ts.store.load(&dir, &opts()).unwrap_err();
    assert!(
        err.to_string().contains("longer than its descriptor"),
        "{err}"
    );
    ts.assert_empty();
}

#[test]
fn decompression_bomb_leaves_nothing() {
    let ts = TestStore::new();
    let big = Tar::new().file("zeros", 0o644, &vec![0u8; 8 << 20]).bytes();
    let img = build(&[(big, Comp::Gzip)], json!({}), "amd64");
    let t = ts.file(
        "bomb.tar",
        &tar_of(&oci_files(
            simple_index(&[(&img, Some("bomb:1"))]),
            &[&img],
            &[],
        )),
    );
    let o = LoadOptions {
        unpack: UnpackOptions { max_bytes: 1 << 20 },
        ..opts()
    };
    let err = ts.store.load(&t, &o).unwrap_err();
    assert!(err.to_string().contains("decompression bomb"), "{err}");
    ts.assert_empty();
}

#[test]
fn unrecognised_and_invalid_inputs() {
    let ts = TestStore::new();
    let t = ts.file("junk.tar", &tar_of(&[("hello.txt".into(), b"hi".to_vec())]));
    let err = ts.store.load(&t, &opts()).unwrap_err();
    assert!(err.to_string().contains("unrecognised"), "{err}");
    let t = ts.file("badtags.tar", &tar_of(&[("manifest.json".into(), br#"[{"Config":"c.json","RepoTags":["UPPER:1"],"Layers":[]}]"#.to_vec()), ("c.json".into(), br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#.to_vec())]));
    let err = ts.store.load(&t, &opts()).unwrap_err();
    assert!(err.to_string().contains("lowercase"), "{err}");
    let err = ts
        .store
        .load(&ts.tmp.path().join("missing.tar"), &opts())
        .unwrap_err();
    assert!(err.to_string().contains("missing.tar"), "{err}");
    ts.assert_empty();
}

#[test]
fn tag_rmi_and_prune() {
    let ts = TestStore::new();
    let a = small_image("a");
    let b = small_image("b");
    let t = ts.file("d.tar", &docker_archive(&[(&a, &["a:1"]), (&b, &["b:1"])]));
    ts.store.load(&t, &opts()).unwrap();
    ts.store.tag("a:1", "a:2").unwrap();
    ts.store.tag("a", "example.com/a").unwrap_err(); // `a` means a:latest, which does not exist
    ts.store.tag("a:1", "example.com/a").unwrap();
    assert_eq!(
        ts.store.resolve("example.com/a:latest").unwrap().id,
        a.config_digest
    );
    // moving a tag: b:1 now names a
    ts.store.tag("a:1", "b:1").unwrap();
    let rb = ts.store.resolve(b.config_digest.as_ref()).unwrap();
    assert!(rb.repo_tags.is_empty());
    // by id with several names: refused without force
    let err = ts
        .store
        .remove(a.config_digest.as_ref(), false)
        .unwrap_err();
    assert!(matches!(err, StoreError::MultipleNames { .. }), "{err}");
    // a tag of several: untag only
    let r = ts.store.remove("a:2", false).unwrap();
    assert_eq!(r.untagged, ["docker.io/library/a:2"]);
    assert!(r.deleted.is_empty());
    // prune removes the dangling b and its layers
    let layers_before = ts.entries("layers").len();
    let (deleted, gc) = ts.store.prune(false).unwrap();
    assert_eq!(deleted, std::slice::from_ref(&b.config_digest));
    assert_eq!(gc.layers, 2);
    assert_eq!(ts.entries("layers").len(), layers_before - 2);
    // forced removal by id deletes everything
    let r = ts.store.remove(a.config_digest.as_ref(), true).unwrap();
    assert_eq!(r.deleted, std::slice::from_ref(&a.config_digest));
    ts.assert_empty();
    let err = ts.store.remove("a:1", false).unwrap_err();
    assert!(matches!(err, StoreError::NotFound(_)), "{err}");
}

#[test]
fn short_id_must_be_unique_and_hex_refs_rejected() {
    let ts = TestStore::new();
    let err = ts.store.resolve("nothing").unwrap_err();
    assert!(err.to_string().contains("nothing"), "{err}");
    let err = ts.store.resolve("Bad:Name").unwrap_err();
    assert!(err.to_string().contains("invalid reference"), "{err}");
}

#[test]
fn save_and_load_round_trip_both_formats() {
    let ts = TestStore::new();
    let img = busybox_image(
        json!({"Cmd": ["sh"]}),
        &[Tar::new().file("hello", 0o644, b"hi").bytes()],
    );
    let t = ts.file(
        "in.tar",
        &tar_of(&oci_files(
            simple_index(&[(&img, Some("rt:1"))]),
            &[&img],
            &[],
        )),
    );
    ts.store.load(&t, &opts()).unwrap();
    ts.store.tag("rt:1", "rt:2").unwrap();
    for format in [ArchiveFormat::DockerArchive, ArchiveFormat::OciArchive] {
        let bytes = ts
            .store
            .save(&["rt:1".into(), "rt:2".into()], format, Vec::new())
            .unwrap();
        let again = ts
            .store
            .save(&["rt:1".into(), "rt:2".into()], format, Vec::new())
            .unwrap();
        assert!(bytes == again, "saving is deterministic ({format:?})");
        let other = TestStore::new();
        let p = other.file("out.tar", &bytes);
        let loaded = other.store.load(&p, &opts()).unwrap();
        assert_eq!(loaded.len(), 1, "{format:?}");
        assert_eq!(loaded[0].id, img.config_digest, "{format:?}");
        let rec = other.store.resolve("rt:2").unwrap();
        assert_eq!(
            rec.repo_tags,
            ["docker.io/library/rt:1", "docker.io/library/rt:2"],
            "{format:?}"
        );
        let diff = other.store.layers().diff_dir(&rec.layers[1]).unwrap();
        assert_eq!(std::fs::read(diff.join("hello")).unwrap(), b"hi");
    }
}

#[test]
fn concurrent_loads_and_removals_keep_the_store_consistent() {
    let ts = TestStore::new();
    let img = small_image("c");
    let t = ts.file("c.tar", &docker_archive(&[(&img, &["c:1"])]));
    std::thread::scope(|s| {
        for i in 0..4 {
            let (store, t) = (&ts.store, &t);
            s.spawn(move || {
                for _ in 0..3 {
                    store.load(t, &opts()).unwrap();
                    if i % 2 == 0 {
                        let _ = store.remove("c:1", true);
                    }
                }
            });
        }
    });
    ts.store.load(&t, &opts()).unwrap();
    let rec = ts.store.resolve("c:1").unwrap();
    for l in &rec.layers {
        assert!(ts.store.layers().contains(l));
    }
    for b in [&rec.id, &rec.manifest.digest] {
        assert!(ts.store.content().contains(b));
    }
    assert_eq!(ts.entries("ingest"), Vec::<String>::new());
    ts.store.remove("c:1", false).unwrap();
    ts.assert_empty();
}

#[test]
fn leftovers_of_a_killed_import_are_collected() {
    let ts = TestStore::new();
    // A killed import leaves its staging directory (with a lock file nobody holds) and maybe a staged blob.
    let stale = ts.store.path().join("ingest/import-killed");
    std::fs::create_dir_all(stale.join("blobs")).unwrap();
    std::fs::write(stale.join("lock"), b"").unwrap();
    std::fs::write(stale.join("blobs/.tmp-1"), b"half a blob").unwrap();
    // … or the temporary file of a metadata update.
    std::fs::write(ts.store.path().join(".images.json.tmp-1-2-3"), b"{").unwrap();
    // A staging directory whose import is alive (lock held) is kept.
    let live = ts.store.path().join("ingest/import-live");
    std::fs::create_dir_all(&live).unwrap();
    let f = std::fs::File::create(live.join("lock")).unwrap();
    f.lock().unwrap();
    // One being set up by a concurrent import (`.new-*`, its lock file taken or not) is kept while young: the
    // import renames it to `import-*` once locked.
    let young = ts.store.path().join("ingest/.new-young");
    std::fs::create_dir_all(young.join("blobs")).unwrap();
    std::fs::write(young.join("lock"), b"").unwrap();
    // No half blob is ever visible under blobs/: only complete, verified ones are renamed there.
    assert!(ts.entries("blobs/sha256").is_empty());
    let report = ts.store.gc().unwrap();
    assert_eq!(report.blobs, 0);
    assert_eq!(ts.entries("ingest"), [".new-young", "import-live"]);
    assert!(!ts.store.path().join(".images.json.tmp-1-2-3").exists());
    drop(f);
    std::fs::remove_dir_all(&young).unwrap();
    ts.store.gc().unwrap();
    ts.assert_empty();
}

#[test]
fn a_base_layer_shared_by_images_is_unpacked_once() {
    let ts = TestStore::new();
    let base = busybox_layer();
    let a = build(
        &[
            (base.clone(), Comp::Gzip),
            (Tar::new().file("a", 0o644, b"a").bytes(), Comp::Gzip),
        ],
        json!({}),
        "amd64",
    );
    let b = build(
        &[
            (base, Comp::Zstd),
            (Tar::new().file("b", 0o644, b"b").bytes(), Comp::None),
        ],
        json!({}),
        "amd64",
    );
    let t = ts.file(
        "ab.tar",
        &tar_of(&oci_files(
            simple_index(&[(&a, Some("a:1")), (&b, Some("b:1"))]),
            &[&a, &b],
            &[],
        )),
    );
    ts.store.load(&t, &opts()).unwrap();
    let (ra, rb) = (
        ts.store.resolve("a:1").unwrap(),
        ts.store.resolve("b:1").unwrap(),
    );
    assert_eq!(
        ra.layers[0], rb.layers[0],
        "same diff_id, same chain id, whatever the compression"
    );
    assert_eq!(ts.entries("layers").len(), 3);
    // Removing one image keeps the shared layer for the other.
    ts.store.remove("a:1", false).unwrap();
    assert_eq!(ts.entries("layers").len(), 2);
    assert!(ts.store.layers().contains(&rb.layers[0]));
    // Both compressed variants of the base were kept while both images existed; now only b's.
    let out = ts
        .store
        .save(&["b:1".into()], ArchiveFormat::OciArchive, Vec::new())
        .unwrap();
    let other = TestStore::new();
    let p = other.file("b.tar", &out);
    assert_eq!(
        other.store.load(&p, &opts()).unwrap()[0].id,
        b.config_digest
    );
}
