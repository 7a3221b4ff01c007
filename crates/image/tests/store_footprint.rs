//! The store keeps no copy of a plain layer tar (a docker-archive's `layer.tar`) whose layer can regenerate it
//! exactly (tar-split): the blob is dropped, `save` regenerates the same bytes (checked against the diff_id) in
//! both formats, a layer that cannot be regenerated keeps its tar, and a changed unpacked file makes `save` fail
//! instead of writing a wrong layer.

mod common;

use common::images::*;
use common::tars::Tar;
use holm_image::digest;
use holm_image::{ArchiveFormat, LoadOptions};
use serde_json::json;

fn opts() -> LoadOptions {
    LoadOptions::default()
}

fn varied_layer() -> Vec<u8> {
    let mut t = Tar::new();
    t.dir("etc", 0o755)
        .file("etc/empty", 0o644, b"")
        .file("etc/small", 0o600, b"x")
        .file("etc/block", 0o644, &vec![3u8; 512])
        .file("etc/odd", 0o755, &vec![5u8; 70_001])
        .symlink("etc/link", "small")
        .hardlink("etc/hard", "etc/odd", 0o755)
        .long_file(
            &format!("deep/{}/name", "d".repeat(150)),
            0o644,
            b"long name",
        )
        .pax(&[("path", b"pax/named/file-with-a-pax-path")])
        .file("short", 0o644, b"pax")
        .sparse(
            "var/sparse",
            (1 << 19) + 512,
            &[(4096, &[1u8; 512][..]), (1 << 19, &[2u8; 512][..])],
        );
    t.bytes()
}

fn stored_layer_blobs(ts: &TestStore, img: &Built) -> Vec<String> {
    let blobs = ts.entries("blobs/sha256");
    img.layers
        .iter()
        .map(|(_, _, tar)| digest::hex(&digest::sha256(tar)).unwrap().to_string())
        .filter(|h| blobs.contains(h))
        .collect()
}

#[test]
fn plain_layer_tars_are_not_kept_and_save_regenerates_them() {
    let ts = TestStore::new();
    let upper = Tar::new()
        .file("etc/small", 0o644, b"changed")
        .file(".wh.deep", 0o644, b"")
        .bytes();
    let img = build(
        &[(varied_layer(), Comp::None), (upper, Comp::None)],
        json!({}),
        "amd64",
    );
    let t = ts.file("a.tar", &docker_archive(&[(&img, &["split:1"])]));
    ts.store.load(&t, &opts()).unwrap();
    assert_eq!(
        stored_layer_blobs(&ts, &img),
        Vec::<String>::new(),
        "layer tars kept"
    );
    for format in [ArchiveFormat::DockerArchive, ArchiveFormat::OciArchive] {
        let out = ts
            .store
            .save(&["split:1".into()], format, Vec::new())
            .unwrap();
        // The saved archive holds each layer tar byte for byte.
        let mut found = 0;
        let mut a = tar::Archive::new(&out[..]);
        for e in a.entries().unwrap() {
            let mut e = e.unwrap();
            let mut bytes = Vec::new();
            std::io::Read::read_to_end(&mut e, &mut bytes).unwrap();
            found += img
                .layers
                .iter()
                .filter(|(_, _, tar)| *tar == bytes)
                .count();
        }
        assert_eq!(found, 2, "{format:?}: both layer tars, byte for byte");
        // And loads into another store as the same image.
        let other = TestStore::new();
        let p = other.file("saved.tar", &out);
        assert_eq!(
            other.store.load(&p, &opts()).unwrap()[0].id,
            img.config_digest
        );
    }
}

#[test]
fn a_layer_naming_a_path_twice_keeps_its_tar() {
    let ts = TestStore::new();
    let twice = Tar::new()
        .file("etc/f", 0o644, b"first")
        .file("etc/f", 0o644, b"second")
        .bytes();
    let img = build(&[(twice, Comp::None)], json!({}), "amd64");
    let t = ts.file("t.tar", &docker_archive(&[(&img, &["twice:1"])]));
    ts.store.load(&t, &opts()).unwrap();
    assert_eq!(stored_layer_blobs(&ts, &img).len(), 1, "its tar is kept");
    let out = ts
        .store
        .save(
            &["twice:1".into()],
            ArchiveFormat::DockerArchive,
            Vec::new(),
        )
        .unwrap();
    let other = TestStore::new();
    let p = other.file("saved.tar", &out);
    assert_eq!(
        other.store.load(&p, &opts()).unwrap()[0].id,
        img.config_digest
    );
}

#[test]
fn a_changed_unpacked_file_makes_save_fail() {
    let ts = TestStore::new();
    let img = build(&[(varied_layer(), Comp::None)], json!({}), "amd64");
    let t = ts.file("c.tar", &docker_archive(&[(&img, &["changed:1"])]));
    ts.store.load(&t, &opts()).unwrap();
    let layers = ts.entries("layers");
    let f = ts
        .store
        .path()
        .join("layers")
        .join(&layers[0])
        .join("diff/etc/odd");
    let mut bytes = std::fs::read(&f).unwrap();
    bytes[100] ^= 1;
    std::fs::write(&f, bytes).unwrap();
    let err = ts
        .store
        .save(
            &["changed:1".into()],
            ArchiveFormat::DockerArchive,
            Vec::new(),
        )
        .unwrap_err()
        .to_string();
    assert!(err.contains("changed"), "{err}");
}

#[test]
fn a_layer_with_much_raw_data_is_regenerated_exactly() {
    // 6 MiB of sparse-file data is kept in the tar-split (written out as it comes), then ordinary files.
    let ts = TestStore::new();
    let big = vec![7u8; 6 << 20];
    let mut t = Tar::new();
    t.sparse("var/big", 6 << 20, &[(0, &big[..])]);
    for i in 0..20 {
        t.file(&format!("after/{i}"), 0o644, &vec![i as u8; 100_000]);
    }
    let img = build(&[(t.bytes(), Comp::None)], json!({}), "amd64");
    let a = ts.file("r.tar", &docker_archive(&[(&img, &["raw:1"])]));
    ts.store.load(&a, &opts()).unwrap();
    assert_eq!(stored_layer_blobs(&ts, &img), Vec::<String>::new());
    let out = ts
        .store
        .save(&["raw:1".into()], ArchiveFormat::OciArchive, Vec::new())
        .unwrap();
    let other = TestStore::new();
    let p = other.file("saved.tar", &out);
    assert_eq!(
        other.store.load(&p, &opts()).unwrap()[0].id,
        img.config_digest
    );
}
