//! The `holm` binary's image commands, driven from outside: load, images (table, -q, json, filter), image inspect,
//! tag, rmi, save (both formats) and reload, image prune, and error messages.

// The image builder lives with holm-image's tests (testkit is owned elsewhere for now).
#[path = "../../image/tests/common/mod.rs"]
mod common;

use common::images::*;
use common::tars::Tar;
use serde_json::json;
use std::path::Path;
use std::process::{Command, Output};

fn holm(root: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_holm"))
        .arg("--root")
        .arg(root)
        .args(args)
        .output()
        .unwrap()
}

fn ok(root: &Path, args: &[&str]) -> String {
    let o = holm(root, args);
    assert!(
        o.status.success(),
        "holm {args:?}: {}\n{}",
        o.status,
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).unwrap()
}

/// Runs `holm ARGS`, asserts it exits with `code` (README "Exit codes": 1 for a failed operation, 125 for a bad
/// flag value); returns stderr.
fn fails(root: &Path, code: i32, args: &[&str]) -> String {
    let o = holm(root, args);
    assert_eq!(o.status.code(), Some(code), "holm {args:?} should fail");
    String::from_utf8(o.stderr).unwrap()
}

#[test]
fn image_commands_end_to_end() {
    let ts = TestStore::new();
    let root = ts.tmp.path().join("root");
    let img = busybox_image(
        json!({"Cmd": ["sh"]}),
        &[Tar::new().file("hello", 0o644, b"hi").bytes()],
    );
    let archive = ts.file("cli.tar", &docker_archive(&[(&img, &["cli:1"])]));
    let out = ok(&root, &["load", "-i", archive.to_str().unwrap()]);
    assert_eq!(out, "Loaded image: docker.io/library/cli:1\n");
    let short = &digest_hex(&img)[..12];

    let table = ok(&root, &["images"]);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 2, "{table}");
    for h in ["REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE"] {
        assert!(lines[0].contains(h), "{table}");
    }
    let cols: Vec<&str> = lines[1].split_whitespace().collect();
    assert_eq!(&cols[..3], ["docker.io/library/cli", "1", short], "{table}");
    assert!(lines[1].contains("ago"), "{table}");
    assert!(lines[1].ends_with("MB"), "{table}");
    assert_eq!(ok(&root, &["images", "-q"]), format!("{short}\n"));

    ok(&root, &["tag", "cli:1", "example.com/cli:2"]);
    let v: serde_json::Value =
        serde_json::from_str(&ok(&root, &["images", "--format", "json"])).unwrap();
    assert_eq!(v[0]["Id"], img.config_digest.to_string());
    assert_eq!(
        v[0]["RepoTags"],
        json!(["docker.io/library/cli:1", "example.com/cli:2"])
    );
    assert_eq!(ok(&root, &["images", "example.com/cli"]).lines().count(), 2);
    assert_eq!(
        ok(&root, &["image", "ls", "nothing-like-it"])
            .lines()
            .count(),
        1
    );

    let v: serde_json::Value =
        serde_json::from_str(&ok(&root, &["image", "inspect", "cli:1"])).unwrap();
    assert_eq!(v[0]["Id"], img.config_digest.to_string());
    assert_eq!(v[0]["Config"]["Cmd"], json!(["sh"]));
    assert_eq!(v[0]["Architecture"], "amd64");
    assert_eq!(v[0]["RootFS"]["Layers"].as_array().unwrap().len(), 2);

    // save in both formats and load into a fresh root
    for format in ["docker-archive", "oci-archive"] {
        let out = ts.tmp.path().join(format!("saved-{format}.tar"));
        ok(
            &root,
            &[
                "save",
                "--format",
                format,
                "-o",
                out.to_str().unwrap(),
                "cli:1",
                "example.com/cli:2",
            ],
        );
        let other = ts.tmp.path().join(format!("root-{format}"));
        let loaded = ok(&other, &["load", "-i", out.to_str().unwrap()]);
        assert!(loaded.contains("docker.io/library/cli:1"), "{loaded}");
        assert!(loaded.contains("example.com/cli:2"), "{loaded}");
        assert_eq!(ok(&other, &["images", "-q"]), format!("{short}\n"));
    }

    // Without -o the archive goes to standard output, byte for byte the same.
    let via_file = std::fs::read(ts.tmp.path().join("saved-docker-archive.tar")).unwrap();
    let o = holm(&root, &["save", "cli:1", "example.com/cli:2"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(o.stdout == via_file, "save to stdout differs from save -o");

    let out = ok(&root, &["rmi", "example.com/cli:2"]);
    assert_eq!(out, "Untagged: example.com/cli:2\n");
    let err = fails(&root, 1, &["rmi", "nosuch:1", "cli:1"]);
    assert!(err.contains("No such image: nosuch:1"), "{err}");
    assert!(
        ok(&root, &["images", "-q"]).is_empty(),
        "cli:1 was removed despite the other failure"
    );
    let out = ok(&root, &["image", "prune", "-a", "-f"]);
    assert!(out.contains("Total reclaimed space"), "{out}");
}

#[test]
fn errors_are_one_clear_line() {
    let ts = TestStore::new();
    let root = ts.tmp.path().join("root");
    let err = fails(&root, 1, &["load", "-i", "/nonexistent/archive.tar"]);
    assert!(
        err.starts_with("Error: load /nonexistent/archive.tar"),
        "{err}"
    );
    let err = fails(&root, 1, &["tag", "x", "Bad:Name"]);
    assert!(err.contains("invalid reference format"), "{err}");
    let err = fails(
        &root,
        125,
        &["load", "-i", "/dev/null", "--platform", "linux"],
    );
    assert!(err.contains("invalid platform"), "{err}");
    let err = fails(&root, 1, &["save", "-o", "/dev/null", "missing:1"]);
    assert!(err.contains("No such image: missing:1"), "{err}");
}

fn digest_hex(img: &Built) -> String {
    holm_image::digest::hex(&img.config_digest)
        .unwrap()
        .to_string()
}

/// `holm load` killed (SIGKILL) at many points: afterwards every visible blob hashes to its name, every visible
/// layer is complete, the metadata parses, garbage collection removes the leftovers and a new load succeeds.
#[test]
fn kill_during_load_leaves_no_half_blob() {
    use std::time::Duration;
    let ts = TestStore::new();
    let root = ts.tmp.path().join("root");
    let big = Tar::new().file("big", 0o644, &vec![7u8; 24 << 20]).bytes();
    let img = busybox_image(json!({"Cmd": ["sh"]}), &[big]);
    let archive = ts.file("k.tar", &docker_archive(&[(&img, &["kill:1"])]));
    for delay_ms in [0u64, 5, 10, 20, 40, 80, 120, 200, 300] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_holm"))
            .arg("--root")
            .arg(&root)
            .args(["load", "-i", archive.to_str().unwrap()])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(delay_ms));
        let _ = child.kill();
        let _ = child.wait();
        let store = holm_image::ImageStore::open(&root).unwrap();
        for d in store.content().list().unwrap() {
            let bytes = std::fs::read(store.content().path(&d).unwrap()).unwrap();
            assert_eq!(
                holm_image::digest::sha256(&bytes),
                d,
                "half blob visible after kill at {delay_ms} ms"
            );
        }
        for c in store.layers().list().unwrap() {
            assert!(
                store.layers().contains(&c),
                "incomplete layer visible after kill at {delay_ms} ms"
            );
        }
        let images = store.list().unwrap();
        assert!(images.len() <= 1);
        // Whatever was left, removing the image and collecting garbage empties the store.
        let _ = store.remove("kill:1", true);
        store.gc().unwrap();
        assert!(store.content().list().unwrap().is_empty());
        assert!(store.layers().list().unwrap().is_empty());
        assert_eq!(
            std::fs::read_dir(store.path().join("ingest"))
                .unwrap()
                .count(),
            0
        );
        let temps = std::fs::read_dir(store.path())
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .contains(".tmp-")
            })
            .count();
        assert_eq!(temps, 0, "temporary files left after gc");
    }
    let out = ok(&root, &["load", "-i", archive.to_str().unwrap()]);
    assert_eq!(out, "Loaded image: docker.io/library/kill:1\n");
    // From standard input, as `docker load < file`.
    ok(&root, &["rmi", "kill:1"]);
    let o = Command::new(env!("CARGO_BIN_EXE_holm"))
        .arg("--root")
        .arg(&root)
        .arg("load")
        .stdin(std::fs::File::open(&archive).unwrap())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        "Loaded image: docker.io/library/kill:1\n"
    );
}
