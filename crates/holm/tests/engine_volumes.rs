//! Named volumes: `-v NAME:/path` creates the volume on first use and copies the image's content into it while
//! it is empty (`nocopy` off); data outlives containers; `holm volume create|ls|inspect|rm|prune`; a volume in
//! use is never removed.

#[path = "../../image/tests/common/mod.rs"]
mod common;
mod engine_common;

use common::images::{busybox_image, docker_archive};
use common::tars::Tar;
use engine_common::{Engine, IMAGE};
use serde_json::json;

#[test]
fn named_volumes() {
    let e = Engine::new();
    e.ok(&[
        "run",
        "--rm",
        "-v",
        "data:/data",
        IMAGE,
        "sh",
        "-c",
        "echo hi > /data/x",
    ]);
    assert_eq!(e.ok(&["volume", "ls", "-q"]), "data\n");
    assert_eq!(
        e.ok(&["run", "--rm", "-v", "data:/mnt:ro", IMAGE, "cat", "/mnt/x"]),
        "hi\n"
    );
    let v: serde_json::Value = serde_json::from_str(&e.ok(&["volume", "inspect", "data"])).unwrap();
    let mp = v[0]["Mountpoint"].as_str().unwrap().to_string();
    assert_eq!(std::fs::read_to_string(format!("{mp}/x")).unwrap(), "hi\n");
    assert!(mp.starts_with(e.root.to_str().unwrap()), "{mp}");

    // copy-up: a new volume on /etc gets the image's /etc; nocopy leaves it empty
    let out = e.ok(&[
        "run",
        "--rm",
        "-v",
        "etcv:/etc",
        IMAGE,
        "cat",
        "/etc/passwd",
    ]);
    assert!(out.starts_with("root:"), "{out}");
    let v: serde_json::Value = serde_json::from_str(&e.ok(&["volume", "inspect", "etcv"])).unwrap();
    let mp = v[0]["Mountpoint"].as_str().unwrap();
    assert_eq!(
        std::fs::read_to_string(format!("{mp}/passwd")).unwrap(),
        out
    );
    let out = e.ok(&[
        "run",
        "--rm",
        "-v",
        "empty:/etc:nocopy",
        IMAGE,
        "sh",
        "-c",
        "ls /etc",
    ]);
    // Nothing copied from the image: only the files the engine bind-mounts, as docker's.
    assert_eq!(
        out.split_whitespace().collect::<Vec<_>>(),
        ["hostname", "hosts", "resolv.conf"]
    );

    // a volume in use stays; inspect shows it as a volume mount
    e.ok(&["create", "--name", "user", "-v", "data:/data", IMAGE]);
    let m = &e.inspect("user")["Mounts"][0];
    assert_eq!(
        (m["Type"].as_str(), m["Name"].as_str()),
        (Some("volume"), Some("data"))
    );
    let (_, err) = e.code(1, &["volume", "rm", "data"]);
    assert!(err.contains("volume is in use"), "{err}");
    let out = e.ok(&["volume", "prune", "-a", "-f"]);
    assert!(
        out.contains("etcv") && out.contains("empty") && !out.contains("data\n"),
        "{out}"
    );
    assert_eq!(e.ok(&["volume", "ls", "-q"]), "data\n");
    e.ok(&["rm", "user"]);
    e.ok(&["volume", "rm", "data"]);
    assert_eq!(e.ok(&["volume", "ls", "-q"]), "");
    assert!(!std::path::Path::new(&mp).exists());

    // --mount type=volume is the same volume; without a source, a new anonymous one
    e.ok(&[
        "run",
        "--rm",
        "--mount",
        "type=volume,source=mv,target=/m",
        IMAGE,
        "sh",
        "-c",
        "echo z > /m/f",
    ]);
    assert_eq!(
        e.ok(&["run", "--rm", "-v", "mv:/q", IMAGE, "cat", "/q/f"]),
        "z\n"
    );
    // an anonymous volume goes with its container: with --rm, and with rm -v
    e.ok(&[
        "run",
        "--rm",
        "--mount",
        "type=volume,target=/anon",
        IMAGE,
        "true",
    ]);
    assert_eq!(e.ok(&["volume", "ls", "-q"]), "mv\n");
    e.ok(&[
        "create",
        "--name",
        "an",
        "--mount",
        "type=volume,target=/anon",
        IMAGE,
    ]);
    let names = e.ok(&["volume", "ls", "-q"]);
    assert_eq!(names.lines().count(), 2, "{names}");
    assert!(names.lines().any(|n| n.len() == 64), "{names}");
    e.ok(&["rm", "-v", "an"]);
    assert_eq!(e.ok(&["volume", "ls", "-q"]), "mv\n");
    e.ok(&["volume", "prune", "-a", "-f"]);

    // create with a name, labels; a random name without one; errors
    assert_eq!(e.ok(&["volume", "create", "-l", "a=b", "named"]), "named\n");
    let v: serde_json::Value =
        serde_json::from_str(&e.ok(&["volume", "inspect", "named"])).unwrap();
    assert_eq!(v[0]["Labels"]["a"], "b");
    assert_eq!(e.ok(&["volume", "create"]).trim().len(), 64);
    let (_, err) = e.code(1, &["volume", "inspect", "nope"]);
    assert!(err.contains("No such volume: nope"), "{err}");
    let (_, err) = e.code(125, &["run", "--rm", "-v", "bad name:/x", IMAGE, "true"]);
    assert!(err.contains("invalid characters"), "{err}");
}

#[test]
fn image_volumes_become_anonymous_volumes() {
    let e = Engine::new();
    let mut t = Tar::new();
    t.dir("seeded", 0o755)
        .file("seeded/seed", 0o644, b"from the image\n");
    let img = busybox_image(
        json!({"Cmd": ["sh"], "Volumes": {"/seeded": {}}}),
        &[t.bytes()],
    );
    let archive = e.tmp.path().join("vol.tar");
    std::fs::write(&archive, docker_archive(&[(&img, &["withvol:1"])])).unwrap();
    e.ok(&["load", "-i", archive.to_str().unwrap()]);
    // a new anonymous volume, filled from the image, gone with --rm
    let out = e.ok(&[
        "run",
        "--rm",
        "withvol:1",
        "sh",
        "-c",
        "cat /seeded/seed; grep -c ' /seeded ' /proc/self/mountinfo",
    ]);
    assert_eq!(out, "from the image\n1\n");
    assert_eq!(e.ok(&["volume", "ls", "-q"]), "");
    // kept by a container, shown by inspect, removed by rm -v
    e.ok(&["create", "--name", "keep", "withvol:1"]);
    let m = &e.inspect("keep")["Mounts"][0];
    assert_eq!(
        (m["Type"].as_str(), m["Destination"].as_str()),
        (Some("volume"), Some("/seeded"))
    );
    assert_eq!(e.ok(&["volume", "ls", "-q"]).lines().count(), 1);
    e.ok(&["rm", "-v", "keep"]);
    assert_eq!(e.ok(&["volume", "ls", "-q"]), "");
    // a -v on the same path replaces it
    e.ok(&["run", "--rm", "-v", "named:/seeded", "withvol:1", "true"]);
    assert_eq!(e.ok(&["volume", "ls", "-q"]), "named\n");
}

/// docker 23+: `volume prune` removes only unused anonymous volumes (`-a` named ones too), asks first without
/// `-f` (end of input is "no"), and `system prune --volumes` removes unused anonymous volumes.
#[test]
fn prune_keeps_named_volumes() {
    let e = Engine::new();
    e.ok(&[
        "run",
        "--rm",
        "-v",
        "keep:/k",
        IMAGE,
        "sh",
        "-c",
        "echo data > /k/f",
    ]);
    // an anonymous volume left behind by a container removed without -v
    let anon = |e: &Engine| {
        e.ok(&[
            "create",
            "--name",
            "a1",
            "--mount",
            "type=volume,target=/a",
            IMAGE,
        ]);
        e.ok(&["rm", "a1"]);
        let names = e.ok(&["volume", "ls", "-q"]);
        let a = names.lines().find(|n| *n != "keep").unwrap().to_string();
        let v: serde_json::Value = serde_json::from_str(&e.ok(&["volume", "inspect", &a])).unwrap();
        assert_eq!(v[0]["Labels"]["com.docker.volume.anonymous"], "", "{v}");
        a
    };
    let a = anon(&e);
    // without -f: the prompt, stdin at its end means no, nothing removed
    let out = e.ok(&["volume", "prune"]);
    assert!(
        out.contains(
            "WARNING! This will remove anonymous local volumes not used by at least one container."
        ) && out.contains("Are you sure you want to continue? [y/N]"),
        "{out}"
    );
    assert_eq!(e.ok(&["volume", "ls", "-q"]).lines().count(), 2);
    // -f: only the anonymous one goes
    let out = e.ok(&["volume", "prune", "-f"]);
    assert!(out.contains(&a) && !out.contains("keep"), "{out}");
    assert!(out.contains("Total reclaimed space:"), "{out}");
    assert_eq!(e.ok(&["volume", "ls", "-q"]), "keep\n");
    // system prune --volumes removes an unused anonymous volume and keeps the named one
    let a = anon(&e);
    let out = e.ok(&["system", "prune", "-f"]);
    assert!(!out.contains(&a), "{out}");
    assert_eq!(e.ok(&["volume", "ls", "-q"]).lines().count(), 2);
    let out = e.ok(&["system", "prune", "-f", "--volumes"]);
    assert!(
        out.contains("Deleted Volumes:") && out.contains(&a),
        "{out}"
    );
    assert_eq!(e.ok(&["volume", "ls", "-q"]), "keep\n");
    // a volume created without a name is anonymous, as docker's
    let v = e.ok(&["volume", "create"]);
    e.ok(&["volume", "prune", "-f"]);
    assert!(!e.ok(&["volume", "ls", "-q"]).contains(v.trim()));
    // -a: the named one too
    let out = e.ok(&["volume", "prune", "-a", "-f"]);
    assert!(out.contains("keep"), "{out}");
    assert_eq!(e.ok(&["volume", "ls", "-q"]), "");
}

/// docker's `-v /path` (an anonymous volume, gone with `--rm`) and `-v ./dir:/x` (a bind of the absolute path).
#[test]
fn anonymous_and_relative_dash_v() {
    let e = Engine::new();
    let out = e.ok(&[
        "run",
        "--rm",
        "-v",
        "/anon",
        IMAGE,
        "sh",
        "-c",
        "echo hi > /anon/f && cat /anon/f && grep -c ' /anon ' /proc/self/mountinfo",
    ]);
    assert_eq!(out, "hi\n1\n");
    assert_eq!(e.ok(&["volume", "ls", "-q"]), "");
    e.ok(&["create", "--name", "keeps", "-v", "/kept:ro", IMAGE]);
    let m = &e.inspect("keeps")["Mounts"][0];
    assert_eq!(
        (
            m["Type"].as_str(),
            m["Destination"].as_str(),
            m["RW"].as_bool()
        ),
        (Some("volume"), Some("/kept"), Some(false)),
        "{m}"
    );
    e.ok(&["rm", "-v", "keeps"]);
    assert_eq!(e.ok(&["volume", "ls", "-q"]), "");
    let (_, err) = e.code(125, &["run", "--rm", "-v", "rel", IMAGE, "true"]);
    assert!(err.contains("--volume"), "{err}");

    let dir = e.tmp.path().join("cwd");
    std::fs::create_dir_all(dir.join("rel")).unwrap();
    std::fs::write(dir.join("rel/file"), "relative\n").unwrap();
    let o = e
        .cmd(&["run", "--rm", "-v", "./rel:/x:ro", IMAGE, "cat", "/x/file"])
        .current_dir(&dir)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(String::from_utf8_lossy(&o.stdout), "relative\n");
}
