//! Image config → runtime spec on a mounted snapshot: command, env, working dir and volumes resolved inside the
//! rootfs, users from the image's /etc/passwd and /etc/group, conversion annotations.

mod common;

use common::images::*;
use common::tars::Tar;
use holm_image::spec::{runtime_spec, volumes, Overrides, SpecError};
use holm_image::LoadOptions;
use serde_json::json;
use std::path::Path;
use tar::EntryType;

struct Mounted<'a> {
    ts: &'a TestStore,
    id: String,
    path: std::path::PathBuf,
}

impl Drop for Mounted<'_> {
    fn drop(&mut self) {
        let _ = self.ts.store.remove_snapshot(&self.id);
    }
}

fn mount<'a>(ts: &'a TestStore, config: serde_json::Value, extra: &[Vec<u8>]) -> Mounted<'a> {
    let img = busybox_image(config, extra);
    let t = ts.file("i.tar", &docker_archive(&[(&img, &["spec:1"])]));
    ts.store.load(&t, &LoadOptions::default()).unwrap();
    let id = common::unique("spec");
    ts.store.prepare_snapshot(&id, "spec:1").unwrap();
    let path = ts.store.mount_snapshot(&id, None).unwrap();
    Mounted { ts, id, path }
}

#[test]
fn config_becomes_the_process() {
    let ts = TestStore::new();
    let extra = Tar::new()
        .symlink("srv", "/opt/srv")
        .dir("opt/srv", 0o755)
        .bytes();
    let m = mount(
        &ts,
        json!({
            "Entrypoint": ["/bin/sh", "-c"],
            "Cmd": ["echo hi"],
            "Env": ["PATH=/usr/bin:/bin", "MODE=image"],
            "WorkingDir": "/srv/../../../data/app",
            "User": "app",
            "ExposedPorts": {"80/tcp": {}, "53/udp": {}},
            "Volumes": {"/srv/cache": {}, "/../../var/lib/db": {}},
            "StopSignal": "SIGQUIT",
            "Labels": {"org.example.team": "images", "org.opencontainers.image.os": "not-linux"},
        }),
        &[extra],
    );
    let cfg = ts
        .store
        .config(&ts.store.resolve("spec:1").unwrap())
        .unwrap();
    let spec = runtime_spec(&cfg, &m.path, &Overrides::default()).unwrap();
    let p = spec.process().as_ref().unwrap();
    assert_eq!(p.args().as_ref().unwrap(), &["/bin/sh", "-c", "echo hi"]);
    assert_eq!(
        p.env().as_ref().unwrap(),
        &["PATH=/usr/bin:/bin", "MODE=image"]
    );
    assert_eq!(p.cwd(), Path::new("/data/app"));
    assert!(
        m.path.join("data/app").is_dir(),
        "working dir is created inside the rootfs"
    );
    assert_eq!((p.user().uid(), p.user().gid()), (1000, 1000));
    assert_eq!(p.user().additional_gids().as_deref(), Some(&[50, 10][..]));
    assert_eq!(spec.root().as_ref().unwrap().path(), &m.path);
    let a = spec.annotations().as_ref().unwrap();
    assert_eq!(
        a["org.opencontainers.image.os"], "linux",
        "labels never replace conversion annotations"
    );
    assert_eq!(a["org.opencontainers.image.architecture"], "amd64");
    assert_eq!(a["org.opencontainers.image.stopSignal"], "SIGQUIT");
    assert_eq!(a["org.opencontainers.image.exposedPorts"], "53/udp,80/tcp");
    assert_eq!(
        a["org.opencontainers.image.created"],
        "2024-01-02T03:04:05Z"
    );
    assert_eq!(a["org.example.team"], "images");
    // Volumes: /srv is a symlink to /opt/srv inside the image; `..` stays at the root.
    let v = volumes(&cfg, &m.path).unwrap();
    assert_eq!(v, [Path::new("/opt/srv/cache"), Path::new("/var/lib/db")]);
    assert!(m.path.join("opt/srv/cache").is_dir());
    // The spec serialises as a config.json.
    let j = serde_json::to_value(&spec).unwrap();
    assert_eq!(j["process"]["user"]["uid"], 1000);

    // Overrides: entrypoint drops the image's Cmd; env and user and workdir replace.
    let ov = Overrides {
        entrypoint: Some(vec!["/bin/env".into()]),
        env: vec!["MODE=override".into()],
        user: Some("svc:staff".into()),
        working_dir: Some("/tmp".into()),
        terminal: true,
        ..Overrides::default()
    };
    let spec = runtime_spec(&cfg, &m.path, &ov).unwrap();
    let p = spec.process().as_ref().unwrap();
    assert_eq!(p.args().as_ref().unwrap(), &["/bin/env"]);
    assert_eq!(
        p.env().as_ref().unwrap(),
        &["PATH=/usr/bin:/bin", "MODE=override", "TERM=xterm"]
    );
    assert_eq!((p.user().uid(), p.user().gid()), (1001, 50));
    assert_eq!(p.cwd(), Path::new("/tmp"));
    assert_eq!(p.terminal(), Some(true));
    // Cmd override keeps the entrypoint.
    let ov = Overrides {
        cmd: Some(vec!["echo bye".into()]),
        user: Some("4242".into()),
        ..Overrides::default()
    };
    let spec = runtime_spec(&cfg, &m.path, &ov).unwrap();
    let p = spec.process().as_ref().unwrap();
    assert_eq!(p.args().as_ref().unwrap(), &["/bin/sh", "-c", "echo bye"]);
    assert_eq!((p.user().uid(), p.user().gid()), (4242, 0));
    let err = runtime_spec(
        &cfg,
        &m.path,
        &Overrides {
            user: Some("ghost".into()),
            ..Overrides::default()
        },
    )
    .unwrap_err();
    assert!(matches!(err, SpecError::User(_)), "{err}");
    assert!(err.to_string().contains("ghost"), "{err}");
}

#[test]
fn no_command_is_an_error_and_default_path_is_added() {
    let ts = TestStore::new();
    let m = mount(&ts, json!({}), &[]);
    let cfg = ts
        .store
        .config(&ts.store.resolve("spec:1").unwrap())
        .unwrap();
    let err = runtime_spec(&cfg, &m.path, &Overrides::default()).unwrap_err();
    assert!(matches!(err, SpecError::NoCommand), "{err}");
    let spec = runtime_spec(
        &cfg,
        &m.path,
        &Overrides {
            cmd: Some(vec!["sh".into()]),
            ..Overrides::default()
        },
    )
    .unwrap();
    let p = spec.process().as_ref().unwrap();
    assert_eq!(
        p.env().as_ref().unwrap()[0],
        format!("PATH={}", holm_image::spec::DEFAULT_PATH)
    );
    assert_eq!(p.cwd(), Path::new("/"));
    assert_eq!((p.user().uid(), p.user().gid()), (0, 0));
}

#[test]
fn hostile_passwd_files_do_not_escape_or_hang() {
    // /etc/passwd replaced by a symlink to the host's file: resolved inside the rootfs, where it does not exist.
    let ts = TestStore::new();
    let l = Tar::new()
        .file(".wh.etc", 0o644, b"")
        .dir("etc", 0o755)
        .symlink("etc/passwd", "/../../../../etc/shadow")
        .raw("etc/group", EntryType::Fifo, 0o644, None, b"", |_| {})
        .bytes();
    let m = mount(&ts, json!({"Cmd": ["sh"], "User": "root"}), &[l]);
    let cfg = ts
        .store
        .config(&ts.store.resolve("spec:1").unwrap())
        .unwrap();
    let err = runtime_spec(&cfg, &m.path, &Overrides::default()).unwrap_err();
    // The host has a root user; the image (whose passwd points outside) has none.
    assert!(
        err.to_string().contains("root") || err.to_string().contains("not a regular file"),
        "{err}"
    );
    let ov = Overrides {
        user: Some("0:0".into()),
        ..Overrides::default()
    };
    let err = runtime_spec(&cfg, &m.path, &ov).unwrap_err();
    assert!(
        err.to_string().contains("not a regular file"),
        "a FIFO /etc/group must fail, not block: {err}"
    );
}
