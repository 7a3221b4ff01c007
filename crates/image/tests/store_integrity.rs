//! Image store integrity: an archive whose manifest names a layer blob that does not uncompress to its config's
//! diff_id is refused even when the store already holds that layer (and the blob), and a refused load writes
//! nothing: no blob, no layer, no metadata change.

mod common;

use common::images::*;
use common::tars::Tar;
use holm_image::digest;
use holm_image::LoadOptions;
use serde_json::json;
use std::collections::BTreeMap;
use std::path::Path;

fn opts() -> LoadOptions {
    LoadOptions::default()
}

fn one_layer(marker: &str, comp: Comp) -> Built {
    let l = Tar::new()
        .file("etc/marker", 0o644, marker.as_bytes())
        .bytes();
    build(&[(l, comp)], json!({"Cmd": ["/bin/sh"]}), "amd64")
}

/// Every file of the store except unpacked layer trees and lock files, with its content: what a load could change.
fn store_state(ts: &TestStore) -> BTreeMap<String, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            let rel = p.strip_prefix(root).unwrap().to_string_lossy().into_owned();
            if rel.ends_with(".lock") || rel.ends_with("/diff") {
                continue;
            }
            if p.is_dir() {
                out.insert(format!("{rel}/"), Vec::new());
                walk(root, &p, out);
            } else {
                out.insert(rel, std::fs::read(&p).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(ts.store.path(), ts.store.path(), &mut out);
    out
}

/// `img` with its manifest's layers replaced by `other`'s layer blobs (the config still wants `img`'s diff_ids).
fn with_layers_of(img: &Built, other: &Built) -> Built {
    let mut bad = img.clone();
    bad.layers = other.layers.clone();
    let mut m: serde_json::Value = serde_json::from_slice(&img.manifest).unwrap();
    let om: serde_json::Value = serde_json::from_slice(&other.manifest).unwrap();
    m["layers"] = om["layers"].clone();
    bad.manifest = serde_json::to_vec(&m).unwrap();
    bad.manifest_digest = digest::sha256(&bad.manifest);
    bad
}

fn oci_archive(ts: &TestStore, name: &str, images: &[&Built]) -> std::path::PathBuf {
    let idx: Vec<(&Built, Option<&str>)> = images.iter().map(|b| (*b, None)).collect();
    ts.file(name, &tar_of(&oci_files(simple_index(&idx), images, &[])))
}

#[test]
fn docker_archive_config_with_another_images_stored_layer_is_refused() {
    let ts = TestStore::new();
    let a = one_layer("a", Comp::None);
    let b = one_layer("b", Comp::None);
    let both = ts.file("ab.tar", &docker_archive(&[(&a, &["a:1"]), (&b, &["b:1"])]));
    ts.store.load(&both, &opts()).unwrap();
    let before = store_state(&ts);

    // A's config shipped with B's layer.tar: both are in the store already.
    let b_tar = &b.layers[0].2;
    let b_path = format!("{}/layer.tar", digest::hex(&digest::sha256(b_tar)).unwrap());
    let a_cfg = format!("{}.json", digest::hex(&a.config_digest).unwrap());
    let manifest = json!([{"Config": a_cfg, "RepoTags": ["evil:1"], "Layers": [b_path]}]);
    let files = vec![
        (a_cfg.clone(), a.config.clone()),
        (b_path.clone(), b_tar.clone()),
        (
            "manifest.json".to_string(),
            serde_json::to_vec(&manifest).unwrap(),
        ),
    ];
    let bad = ts.file("bad.tar", &tar_of(&files));
    let err = ts.store.load(&bad, &opts()).unwrap_err().to_string();
    assert!(err.contains("diff_id"), "{err}");
    assert!(
        err.contains(&digest::sha256(b_tar).to_string()),
        "names the layer: {err}"
    );
    assert_eq!(store_state(&ts), before, "a refused load changes nothing");
    assert!(ts.store.resolve("evil:1").is_err());
}

#[test]
fn oci_manifest_naming_another_images_compressed_layer_is_refused() {
    for comp in [Comp::Gzip, Comp::Zstd, Comp::None] {
        let ts = TestStore::new();
        let a = one_layer("a", comp);
        let b = one_layer("b", comp);
        ts.store
            .load(&oci_archive(&ts, "ab.tar", &[&a, &b]), &opts())
            .unwrap();
        let before = store_state(&ts);
        let bad = with_layers_of(&a, &b);
        let err = ts
            .store
            .load(&oci_archive(&ts, "bad.tar", &[&bad]), &opts())
            .unwrap_err()
            .to_string();
        assert!(err.contains("diff_id"), "{comp:?}: {err}");
        assert_eq!(store_state(&ts), before, "{comp:?}: nothing written");
        // A good image in the same archive does not make the bad one pass.
        let c = one_layer("c", comp);
        let err = ts
            .store
            .load(&oci_archive(&ts, "bad2.tar", &[&c, &bad]), &opts())
            .unwrap_err()
            .to_string();
        assert!(err.contains("diff_id"), "{comp:?}: {err}");
        assert_eq!(store_state(&ts), before, "{comp:?}: nothing of c written");
    }
}

#[test]
fn two_images_of_one_archive_sharing_a_chain_id_check_both_blobs() {
    // x's layer is unpacked by this import; y claims the same diff_id but ships b's blob.
    let ts = TestStore::new();
    let x = one_layer("x", Comp::Gzip);
    let other = one_layer("other", Comp::Gzip);
    let mut y = with_layers_of(&x, &other);
    // y needs its own config (another image id) with x's diff_ids.
    let mut cfg: serde_json::Value = serde_json::from_slice(&x.config).unwrap();
    cfg["config"]["Cmd"] = json!(["/bin/true"]);
    y.config = serde_json::to_vec(&cfg).unwrap();
    y.config_digest = digest::sha256(&y.config);
    let mut m: serde_json::Value = serde_json::from_slice(&y.manifest).unwrap();
    m["config"]["digest"] = json!(y.config_digest.to_string());
    m["config"]["size"] = json!(y.config.len());
    y.manifest = serde_json::to_vec(&m).unwrap();
    y.manifest_digest = digest::sha256(&y.manifest);
    let err = ts
        .store
        .load(&oci_archive(&ts, "xy.tar", &[&x, &y]), &opts())
        .unwrap_err()
        .to_string();
    assert!(err.contains("diff_id"), "{err}");
    ts.assert_empty();
}

#[test]
fn a_stored_layer_shipped_with_another_compression_is_accepted_and_remembered() {
    let ts = TestStore::new();
    let tar = Tar::new().file("etc/marker", 0o644, b"same").bytes();
    let gz = build(&[(tar.clone(), Comp::Gzip)], json!({}), "amd64");
    let zs = build(&[(tar, Comp::Zstd)], json!({"Cmd": ["x"]}), "amd64");
    ts.store
        .load(&oci_archive(&ts, "gz.tar", &[&gz]), &opts())
        .unwrap();
    let layers = ts.entries("layers");
    assert_eq!(layers.len(), 1);
    ts.store
        .load(&oci_archive(&ts, "zs.tar", &[&zs]), &opts())
        .unwrap();
    assert_eq!(
        ts.entries("layers"),
        layers,
        "the layer is not unpacked again"
    );
    // The zstd blob was checked by hashing and is now known to give the same diff_id.
    let info: serde_json::Value = serde_json::from_slice(
        &std::fs::read(
            ts.store
                .path()
                .join("layers")
                .join(&layers[0])
                .join("layer.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let blobs: Vec<&str> = info["blobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b.as_str().unwrap())
        .collect();
    for img in [&gz, &zs] {
        let d = digest::sha256(&img.layers[0].0).to_string();
        assert!(blobs.contains(&d.as_str()), "{d} in {blobs:?}");
    }
}
