//! Concurrent imports share work: `holm load`s of images sharing a base layer, run at the same time, unpack that
//! layer once (the others wait for it and only check their own blob of it), and an importer killed at any moment
//! leaves nothing a later import trips on.

#[path = "../../image/tests/common/mod.rs"]
mod common;
mod engine_common;

use common::images::{
    build, busybox_layer, docker_archive, oci_files, simple_index, tar_of, Built, Comp,
};
use common::tars::Tar;
use engine_common::Engine;
use serde_json::json;
use std::path::PathBuf;
use std::time::Duration;

/// A busybox base layer with 8 MiB of incompressible-ish data, so that unpacking it takes a while.
fn big_base() -> Vec<u8> {
    let mut data = vec![0u8; 8 << 20];
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for chunk in data.chunks_mut(8) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        chunk.copy_from_slice(&x.to_le_bytes()[..chunk.len()]);
    }
    // busybox's tar without its end-of-archive blocks, then the big file.
    let mut base = busybox_layer();
    base.truncate(base.len() - 1024);
    let mut t = Tar::new();
    t.file("opt/big", 0o644, &data);
    let mut rest = t.bytes();
    base.append(&mut rest);
    base
}

/// Three images on the same base (shipped gzip, zstd and plain), each with its own marker layer; written as
/// archives: (name, path, image).
fn archives(e: &Engine) -> Vec<(String, PathBuf, Built)> {
    let base = big_base();
    let mut out = Vec::new();
    for (i, comp) in [Comp::Gzip, Comp::Zstd, Comp::None].into_iter().enumerate() {
        let own = Tar::new()
            .file(
                &format!("own-{i}"),
                0o644,
                format!("image {i}\n").as_bytes(),
            )
            .bytes();
        let img = build(
            &[(base.clone(), comp), (own, Comp::Gzip)],
            json!({"Cmd": ["sh"]}),
            "amd64",
        );
        let name = format!("shared{i}:test");
        let bytes = match comp {
            Comp::None => docker_archive(&[(&img, &[name.as_str()])]),
            _ => tar_of(&oci_files(
                simple_index(&[(&img, Some(name.as_str()))]),
                &[&img],
                &[],
            )),
        };
        let path = e.tmp.path().join(format!("img{i}.tar"));
        std::fs::write(&path, bytes).unwrap();
        out.push((name, path, img));
    }
    out
}

fn dir_entries(p: PathBuf) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(p)
        .map(|rd| {
            rd.flatten()
                .map(|x| x.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

#[test]
fn parallel_loads_of_images_sharing_a_base_unpack_it_once() {
    let e = Engine::empty();
    let imgs = archives(&e);
    let children: Vec<_> = imgs
        .iter()
        .map(|(_, p, _)| e.spawn(&["load", "-i", p.to_str().unwrap()]))
        .collect();
    for c in children {
        let o = c.wait_with_output().unwrap();
        assert!(
            o.status.success(),
            "load: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
    // One base layer + one own layer per image.
    let layers = dir_entries(e.root.join("image/layers"));
    assert_eq!(layers.len(), 4, "{layers:?}");
    // The base was unpacked from one blob; the other imports checked theirs against it instead of unpacking it
    // again: a compressed blob checked so is recorded in the layer's layer.json (the one that was unpacked is
    // too). Had two imports unpacked it, only the first to commit would be listed. (The plain tar blob is named by
    // the diff_id itself: nothing to record.)
    let base_diff = holm_image::digest::sha256(&imgs[0].2.layers[0].2);
    let base_chain = holm_image::digest::chain_ids(&[base_diff]);
    let hex = holm_image::digest::hex(&base_chain[0]).unwrap();
    let info: serde_json::Value = serde_json::from_slice(
        &std::fs::read(e.root.join("image/layers").join(hex).join("layer.json")).unwrap(),
    )
    .unwrap();
    for (name, _, img) in &imgs[..2] {
        let blob = holm_image::digest::sha256(&img.layers[0].0).to_string();
        assert!(
            info["blobs"].as_array().unwrap().iter().any(|b| *b == blob),
            "{name}'s base blob {blob} in {info}"
        );
    }
    assert_eq!(
        dir_entries(e.root.join("image/ingest")),
        Vec::<String>::new()
    );
    for (i, (name, _, _)) in imgs.iter().enumerate() {
        let out = e.ok(&[
            "run",
            "--rm",
            "--network",
            "none",
            name,
            "sh",
            "-c",
            &format!("cat /own-{i}; wc -c < /opt/big"),
        ]);
        assert_eq!(out, format!("image {i}\n{}\n", 8 << 20), "{name}");
    }
}

#[test]
fn an_importer_killed_at_any_moment_leaves_nothing_a_later_one_trips_on() {
    let e = Engine::empty();
    let imgs = archives(&e);
    let (name, path, _) = &imgs[0];
    for delay_ms in [10u64, 50, 150, 400] {
        let mut c = e.spawn(&["load", "-i", path.to_str().unwrap()]);
        std::thread::sleep(Duration::from_millis(delay_ms));
        let _ = c.kill();
        let _ = c.wait();
        // A load of another image on the same base, and of the same image, work after it.
        e.ok(&["load", "-i", imgs[1].1.to_str().unwrap()]);
        e.ok(&["load", "-i", path.to_str().unwrap()]);
        let out = e.ok(&["run", "--rm", "--network", "none", name, "cat", "/own-0"]);
        assert_eq!(out, "image 0\n", "after a kill at {delay_ms} ms");
        e.ok(&["rmi", name, &imgs[1].0]);
        e.ok(&["image", "prune", "-a", "-f"]);
        for sub in ["layers", "blobs/sha256", "ingest"] {
            let left = dir_entries(e.root.join("image").join(sub));
            assert!(
                left.is_empty(),
                "after a kill at {delay_ms} ms: {sub} left: {left:?}"
            );
        }
    }
}
