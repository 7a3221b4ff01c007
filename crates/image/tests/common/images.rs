//! A small image builder for tests: layers (tar bytes) + config → blobs, written as an OCI layout directory, an
//! OCI archive or a docker-archive. The base rootfs is Debian's static busybox (`/bin/busybox`) with a few applet
//! symlinks and an `/etc/passwd` / `/etc/group`.

use super::tars::{gzip, zstd, Tar};
use holm_image::digest::{self, Digest};
use serde_json::{json, Value};
use std::path::Path;

/// How a layer blob is compressed.
#[derive(Clone, Copy, Debug)]
pub enum Comp {
    None,
    Gzip,
    Zstd,
}

/// One built image: its blobs and their digests.
#[derive(Clone, Debug)]
pub struct Built {
    pub config: Vec<u8>,
    pub config_digest: Digest,
    pub manifest: Vec<u8>,
    pub manifest_digest: Digest,
    /// (blob bytes, media type, uncompressed tar)
    pub layers: Vec<(Vec<u8>, String, Vec<u8>)>,
}

pub const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\n\
app:x:1000:1000:App:/home/app:/bin/sh\n\
svc:x:1001:1002::/srv:/bin/false\n\
nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n";
pub const GROUP: &str = "root:x:0:\n\
app:x:1000:\n\
svcgrp:x:1002:\n\
staff:x:50:app,svc\n\
wheel:x:10:app\n\
nogroup:x:65534:\n";

/// The busybox rootfs as a tar layer: `/bin/busybox`, applet symlinks, `/etc/passwd`, `/etc/group`, `/tmp`.
pub fn busybox_layer() -> Vec<u8> {
    let bb =
        std::fs::read("/bin/busybox").expect("/bin/busybox (Debian busybox-static) is required");
    let mut t = Tar::new();
    t.dir("bin", 0o755)
        .file("bin/busybox", 0o755, &bb)
        .dir("etc", 0o755)
        .file("etc/passwd", 0o644, PASSWD.as_bytes())
        .file("etc/group", 0o644, GROUP.as_bytes())
        .dir("tmp", 0o1777)
        .dir("home", 0o755)
        .dir("home/app", 0o755);
    for applet in [
        "sh", "ls", "cat", "echo", "id", "true", "false", "sleep", "env",
    ] {
        t.symlink(&format!("bin/{applet}"), "busybox");
    }
    t.bytes()
}

fn media(c: Comp) -> &'static str {
    match c {
        Comp::None => "application/vnd.oci.image.layer.v1.tar",
        Comp::Gzip => "application/vnd.oci.image.layer.v1.tar+gzip",
        Comp::Zstd => "application/vnd.oci.image.layer.v1.tar+zstd",
    }
}

/// Builds an image from uncompressed layer tars; `config` holds the `config` object of the image config
/// (Cmd, Env, User, …). `arch` is the config's architecture.
pub fn build(layers: &[(Vec<u8>, Comp)], config: Value, arch: &str) -> Built {
    let blobs: Vec<(Vec<u8>, String, Vec<u8>)> = layers
        .iter()
        .map(|(tar, c)| {
            let blob = match c {
                Comp::None => tar.clone(),
                Comp::Gzip => gzip(tar),
                Comp::Zstd => zstd(tar),
            };
            (blob, media(*c).to_string(), tar.clone())
        })
        .collect();
    let diff_ids: Vec<String> = blobs
        .iter()
        .map(|(_, _, t)| digest::sha256(t).to_string())
        .collect();
    let cfg = json!({
        "created": "2024-01-02T03:04:05Z",
        "architecture": arch,
        "os": "linux",
        "config": config,
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": [],
    });
    let config_bytes = serde_json::to_vec(&cfg).unwrap();
    let config_digest = digest::sha256(&config_bytes);
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": config_digest.to_string(),
            "size": config_bytes.len(),
        },
        "layers": blobs.iter().map(|(b, m, _)| json!({
            "mediaType": m, "digest": digest::sha256(b).to_string(), "size": b.len(),
        })).collect::<Vec<_>>(),
    });
    let manifest_bytes = serde_json::to_vec(&manifest).unwrap();
    Built {
        manifest_digest: digest::sha256(&manifest_bytes),
        manifest: manifest_bytes,
        config: config_bytes,
        config_digest,
        layers: blobs,
    }
}

/// A busybox image with one extra layer per entry of `extra`, all gzip.
pub fn busybox_image(config: Value, extra: &[Vec<u8>]) -> Built {
    let mut layers = vec![(busybox_layer(), Comp::Gzip)];
    layers.extend(extra.iter().map(|t| (t.clone(), Comp::Gzip)));
    build(&layers, config, "amd64")
}

fn blobs_of(b: &Built) -> Vec<(Digest, Vec<u8>)> {
    let mut v = vec![
        (b.config_digest.clone(), b.config.clone()),
        (b.manifest_digest.clone(), b.manifest.clone()),
    ];
    for (l, _, _) in &b.layers {
        v.push((digest::sha256(l), l.clone()));
    }
    v
}

fn hex(d: &Digest) -> &str {
    digest::hex(d).unwrap()
}

/// An index entry for an image, named by `name` (put in `io.containerd.image.name`) if any.
pub fn index_entry(b: &Built, name: Option<&str>, platform: Option<(&str, &str)>) -> Value {
    let mut e = json!({
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "digest": b.manifest_digest.to_string(),
        "size": b.manifest.len(),
    });
    if let Some(n) = name {
        e["annotations"] =
            json!({"io.containerd.image.name": n, "org.opencontainers.image.ref.name": "latest"});
    }
    if let Some((os, arch)) = platform {
        e["platform"] = json!({"os": os, "architecture": arch});
    }
    e
}

/// Files of an OCI layout holding `images` (with names) plus extra blobs (e.g. nested indexes).
pub fn oci_files(
    index: Value,
    images: &[&Built],
    extra_blobs: &[Vec<u8>],
) -> Vec<(String, Vec<u8>)> {
    let mut files = vec![
        (
            "oci-layout".to_string(),
            br#"{"imageLayoutVersion":"1.0.0"}"#.to_vec(),
        ),
        (
            "index.json".to_string(),
            serde_json::to_vec(&index).unwrap(),
        ),
    ];
    for b in images {
        for (d, bytes) in blobs_of(b) {
            files.push((format!("blobs/sha256/{}", hex(&d)), bytes));
        }
    }
    for e in extra_blobs {
        files.push((
            format!("blobs/sha256/{}", hex(&digest::sha256(e))),
            e.clone(),
        ));
    }
    files
}

/// A simple index over named images.
pub fn simple_index(images: &[(&Built, Option<&str>)]) -> Value {
    json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": images.iter().map(|(b, n)| index_entry(b, *n, None)).collect::<Vec<_>>(),
    })
}

/// Writes files into a directory.
pub fn write_dir(dir: &Path, files: &[(String, Vec<u8>)]) {
    for (p, bytes) in files {
        let full = dir.join(p);
        std::fs::create_dir_all(full.parent().unwrap()).unwrap();
        std::fs::write(full, bytes).unwrap();
    }
}

/// Packs files into a tar.
pub fn tar_of(files: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut t = Tar::new();
    for (p, bytes) in files {
        t.long_file(p, 0o644, bytes);
    }
    t.bytes()
}

/// A docker-archive (classic layout) holding `images` with their `RepoTags`. Layers are stored uncompressed, as
/// `docker save` does.
pub fn docker_archive(images: &[(&Built, &[&str])]) -> Vec<u8> {
    let mut files: Vec<(String, Vec<u8>)> = Vec::new();
    let mut manifest = Vec::new();
    for (b, tags) in images {
        let cfg = format!("{}.json", hex(&b.config_digest));
        files.push((cfg.clone(), b.config.clone()));
        let mut layers = Vec::new();
        for (_, _, tar) in &b.layers {
            let p = format!("{}/layer.tar", hex(&digest::sha256(tar)));
            files.push((p.clone(), tar.clone()));
            layers.push(p);
        }
        manifest.push(json!({"Config": cfg, "RepoTags": tags, "Layers": layers}));
    }
    files.push((
        "manifest.json".into(),
        serde_json::to_vec(&manifest).unwrap(),
    ));
    tar_of(&files)
}

/// A tempdir-backed engine root and its store.
pub struct TestStore {
    pub tmp: tempfile::TempDir,
    pub store: holm_image::ImageStore,
}

impl TestStore {
    pub fn new() -> TestStore {
        super::require_root();
        let tmp = tempfile::Builder::new()
            .prefix("holm-store-test-")
            .tempdir()
            .unwrap();
        let store = holm_image::ImageStore::open(tmp.path()).unwrap();
        TestStore { tmp, store }
    }

    /// Writes `bytes` to a file in the temp dir and returns its path.
    pub fn file(&self, name: &str, bytes: &[u8]) -> std::path::PathBuf {
        let p = self.tmp.path().join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    }

    /// Names of entries in a store subdirectory (`blobs/sha256`, `layers`, `ingest`).
    pub fn entries(&self, sub: &str) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(self.store.path().join(sub))
            .map(|rd| {
                rd.map(|e| e.unwrap().file_name().into_string().unwrap())
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    }

    /// Asserts the store holds nothing: no blob, layer, staging dir or image.
    pub fn assert_empty(&self) {
        assert_eq!(
            self.entries("blobs/sha256"),
            Vec::<String>::new(),
            "blobs left"
        );
        assert_eq!(self.entries("layers"), Vec::<String>::new(), "layers left");
        assert_eq!(self.entries("ingest"), Vec::<String>::new(), "staging left");
        assert!(self.store.list().unwrap().is_empty(), "images left");
    }
}
