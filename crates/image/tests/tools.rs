//! Round trips with other tools (Debian packages; a missing tool fails the test): images made by `umoci` and
//! converted by `skopeo` load into holm; what `holm save` writes is read by `skopeo inspect`, unpacked by `umoci`
//! and loaded by `podman load`.

mod common;

use common::images::TestStore;
use holm_image::{ArchiveFormat, LoadOptions};
use std::path::Path;
use std::process::Command;

fn run(cmd: &str, args: &[&str]) -> String {
    let out = Command::new(cmd).args(args).output().unwrap_or_else(|e| {
        panic!("{cmd} could not run ({e}): install it with scripts/install-test-deps.sh")
    });
    assert!(
        out.status.success(),
        "{cmd} {args:?} failed: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// An OCI layout made by umoci: busybox at /bin/busybox, `sh` symlink, Cmd `sh`, tag `bb`.
fn umoci_layout(dir: &Path) -> std::path::PathBuf {
    let layout = dir.join("umoci-layout");
    let bundle = dir.join("umoci-bundle");
    let img = format!("{}:bb", p(&layout));
    run("umoci", &["init", "--layout", p(&layout)]);
    run("umoci", &["new", "--image", &img]);
    run("umoci", &["unpack", "--image", &img, p(&bundle)]);
    let rootfs = bundle.join("rootfs");
    std::fs::create_dir_all(rootfs.join("bin")).unwrap();
    std::fs::copy("/bin/busybox", rootfs.join("bin/busybox")).unwrap();
    std::os::unix::fs::symlink("busybox", rootfs.join("bin/sh")).unwrap();
    std::fs::write(rootfs.join("hello"), b"from umoci").unwrap();
    run("umoci", &["repack", "--image", &img, p(&bundle)]);
    run(
        "umoci",
        &[
            "config",
            "--image",
            &img,
            "--config.cmd",
            "sh",
            "--config.env",
            "FOO=bar",
        ],
    );
    layout
}

#[test]
fn umoci_and_skopeo_made_images_load() {
    let ts = TestStore::new();
    let layout = umoci_layout(ts.tmp.path());
    // The layout directory itself: umoci's ref.name is a bare tag, so the image is loaded without a name.
    let loaded = ts.store.load(&layout, &LoadOptions::default()).unwrap();
    assert_eq!(loaded.len(), 1);
    assert!(loaded[0].names.is_empty());
    let id = loaded[0].id.clone();
    let rec = ts.store.resolve(id.as_ref()).unwrap();
    let diff = ts
        .store
        .layers()
        .diff_dir(rec.layers.last().unwrap())
        .unwrap();
    assert_eq!(std::fs::read(diff.join("hello")).unwrap(), b"from umoci");
    // skopeo converts it to a docker-archive and an OCI archive with names.
    let src = format!("oci:{}:bb", p(&layout));
    let da = ts.tmp.path().join("skopeo-docker.tar");
    let oa = ts.tmp.path().join("skopeo-oci.tar");
    run(
        "skopeo",
        &[
            "copy",
            "-q",
            &src,
            &format!("docker-archive:{}:example.com/bb:docker", p(&da)),
        ],
    );
    run(
        "skopeo",
        &[
            "copy",
            "-q",
            &src,
            &format!("oci-archive:{}:example.com/bb:oci", p(&oa)),
        ],
    );
    let fresh = TestStore::new();
    let l = fresh.store.load(&da, &LoadOptions::default()).unwrap();
    assert_eq!(l[0].names, ["example.com/bb:docker"]);
    assert_eq!(l[0].id, id, "same config through skopeo's docker-archive");
    let l = fresh.store.load(&oa, &LoadOptions::default()).unwrap();
    assert_eq!(l[0].names, ["example.com/bb:oci"]);
    assert_eq!(l[0].id, id);
    let cfg = fresh
        .store
        .config(&fresh.store.resolve("example.com/bb:oci").unwrap())
        .unwrap();
    let c = cfg.config().as_ref().unwrap();
    assert_eq!(c.cmd().as_deref(), Some(&["sh".to_string()][..]));
}

#[test]
fn skopeo_umoci_and_podman_read_what_holm_saves() {
    let ts = TestStore::new();
    let layout = umoci_layout(ts.tmp.path());
    let loaded = ts.store.load(&layout, &LoadOptions::default()).unwrap();
    let id = loaded[0].id.clone();
    ts.store
        .tag(id.as_ref(), "example.com/roundtrip:v1")
        .unwrap();
    let name = "example.com/roundtrip:v1".to_string();

    let da = ts.tmp.path().join("holm-docker.tar");
    let oa = ts.tmp.path().join("holm-oci.tar");
    let f = std::fs::File::create(&da).unwrap();
    ts.store
        .save(std::slice::from_ref(&name), ArchiveFormat::DockerArchive, f)
        .unwrap();
    let f = std::fs::File::create(&oa).unwrap();
    ts.store
        .save(std::slice::from_ref(&name), ArchiveFormat::OciArchive, f)
        .unwrap();

    // skopeo inspect
    for (transport, path) in [("docker-archive", &da), ("oci-archive", &oa)] {
        let v: serde_json::Value = serde_json::from_str(&run(
            "skopeo",
            &["inspect", &format!("{transport}:{}", p(path))],
        ))
        .unwrap();
        assert_eq!(v["Architecture"], "amd64", "{transport}");
        assert_eq!(v["Os"], "linux", "{transport}");
        assert_eq!(v["Layers"].as_array().unwrap().len(), 1, "{transport}: {v}");
        assert_eq!(v["Env"][0], "FOO=bar", "{transport}: {v}");
        let cfg: serde_json::Value = serde_json::from_str(&run(
            "skopeo",
            &["inspect", "--config", &format!("{transport}:{}", p(path))],
        ))
        .unwrap();
        assert_eq!(cfg["config"]["Cmd"][0], "sh", "{transport}");
    }

    // umoci unpacks the OCI archive (by its ref.name, the tag)
    let x = ts.tmp.path().join("extracted");
    std::fs::create_dir(&x).unwrap();
    run("tar", &["-C", p(&x), "-xf", p(&oa)]);
    let bundle = ts.tmp.path().join("umoci-unpacked");
    run(
        "umoci",
        &["unpack", "--image", &format!("{}:v1", p(&x)), p(&bundle)],
    );
    assert_eq!(
        std::fs::read(bundle.join("rootfs/bin/busybox")).unwrap(),
        std::fs::read("/bin/busybox").unwrap()
    );
    assert_eq!(
        std::fs::read(bundle.join("rootfs/hello")).unwrap(),
        b"from umoci"
    );

    // podman loads both, with the name and the same image id
    let proot = ts.tmp.path().join("podman-root");
    let prun = ts.tmp.path().join("podman-runroot");
    let podman = |args: &[&str]| {
        let mut a = vec![
            "--root",
            p(&proot),
            "--runroot",
            p(&prun),
            "--storage-driver",
            "vfs",
        ];
        a.extend_from_slice(args);
        run("podman", &a)
    };
    for path in [&da, &oa] {
        let out = podman(&["load", "-q", "-i", p(path)]);
        assert!(out.contains("example.com/roundtrip:v1"), "{out}");
    }
    let images: serde_json::Value =
        serde_json::from_str(&podman(&["images", "--format", "json"])).unwrap();
    let imgs = images.as_array().unwrap();
    assert_eq!(imgs.len(), 1, "{images}");
    assert_eq!(imgs[0]["Id"].as_str().unwrap(), id.digest());
    assert!(
        imgs[0]["Names"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n == "example.com/roundtrip:v1"),
        "{images}"
    );
}
