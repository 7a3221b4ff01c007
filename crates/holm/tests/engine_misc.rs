//! `logs --since`, `top`, `stats --no-stream`, `rename`, `port`, `container prune`, `version`, `info`, and `cp`
//! both ways, resolved inside the container's root (a symlink to `/tmp` in the container never reaches the host's
//! `/tmp`).

#[path = "../../image/tests/common/mod.rs"]
mod common;
mod engine_common;

use engine_common::{wait_until, Engine, IMAGE};
use std::time::Duration;

#[test]
fn logs_since_top_stats_rename_port() {
    let e = Engine::new();
    let id = e.detached(&[
        "--name",
        "web",
        "--memory",
        "64m",
        IMAGE,
        "sh",
        "-c",
        "echo early; sleep 2; echo late; exec sleep 60",
    ]);
    wait_until(Duration::from_secs(10), "late", || {
        e.ok(&["logs", "web"]) == "early\nlate\n"
    });
    // the time "late" was logged (2 s after "early"): --since includes it, --until stops before it
    let stamped = e.ok(&["logs", "-t", "web"]);
    let late_at = stamped
        .lines()
        .nth(1)
        .unwrap()
        .split(' ')
        .next()
        .unwrap()
        .to_string();
    assert_eq!(e.ok(&["logs", "--since", &late_at, "web"]), "late\n");
    assert_eq!(e.ok(&["logs", "--until", &late_at, "web"]), "early\n");
    // a duration ago: nothing is older than an hour yet
    assert_eq!(e.ok(&["logs", "--since", "1h", "web"]), "early\nlate\n");
    assert_eq!(e.ok(&["logs", "--since", "0", "web"]), "early\nlate\n");
    assert_eq!(
        e.ok(&["logs", "--since", "2099-01-01T00:00:00Z", "web"]),
        ""
    );
    assert_eq!(
        e.ok(&["logs", "--until", "2000-01-01T00:00:00Z", "web"]),
        ""
    );
    let (_, err) = e.code(125, &["logs", "--since", "yesterday", "web"]);
    assert!(err.contains("\"--since\""), "{err}");

    // top: the host's ps, only the container's processes
    let out = e.ok(&["top", "web"]);
    let lines: Vec<&str> = out.lines().collect();
    assert!(
        lines[0].contains("PID") && lines[0].contains("CMD"),
        "{out}"
    );
    assert_eq!(lines.len(), 2, "{out}");
    assert!(lines[1].contains("sleep 60"), "{out}");
    let out = e.ok(&["top", "web", "-o", "pid,comm"]);
    assert_eq!(
        out.lines().nth(1).unwrap().split_whitespace().nth(1),
        Some("sleep")
    );

    // stats --no-stream: one table row per running container
    let out = e.ok(&["stats", "--no-stream"]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert!(
        lines[0].starts_with("CONTAINER ID") && lines[0].contains("MEM USAGE / LIMIT"),
        "{out}"
    );
    assert!(
        lines[1].starts_with(&id[..12]) && lines[1].contains("web"),
        "{out}"
    );
    assert!(
        lines[1].contains("/ 64MiB") || lines[1].contains("/ 64MB"),
        "{out}"
    );
    assert!(lines[1].trim_end().ends_with(" 1"), "pids: {out}");
    // docker's --format fields
    let out = e.ok(&[
        "stats",
        "--no-stream",
        "--format",
        "{{.Container}} {{.Name}} {{.PIDs}} {{.MemUsage}}",
        "web",
    ]);
    assert!(
        out.starts_with("web web 1 ") && out.ends_with("64MiB\n"),
        "{out}"
    );

    // rename: the new name finds it, the old one no longer does; names stay unique
    e.ok(&["rename", "web", "site"]);
    assert_eq!(e.inspect("site")["Id"], id.as_str());
    e.code(1, &["inspect", "web"]);
    e.ok(&["create", "--name", "other", IMAGE]);
    let (_, err) = e.code(1, &["rename", "other", "site"]);
    assert!(err.contains("already in use"), "{err}");
    let (_, err) = e.code(125, &["rename", "other", "bad name"]);
    assert!(err.contains("Invalid container name"), "{err}");

    // port: it publishes none (engine_net.rs tests published ports)
    let (out, _) = e.code(0, &["port", "site"]);
    assert_eq!(out, "");
    let (_, err) = e.code(1, &["port", "site", "80"]);
    assert!(err.contains("No public port '80/tcp'"), "{err}");
    e.ok(&["rm", "-f", "site"]);
    e.assert_gone(&id);
}

#[test]
fn prune_version_info() {
    let e = Engine::new();
    let a = e.ok(&["create", "--name", "c1", IMAGE]).trim().to_string();
    e.ok(&["run", "--name", "c2", IMAGE, "sh", "-c", "echo x > /data/f"]);
    let running = e.detached(&["--name", "up", IMAGE, "sleep", "60"]);
    let out = e.ok(&["info"]);
    for want in [
        "Containers: 3",
        " Running: 1",
        " Stopped: 2",
        "Images: 1",
        "Storage Driver: overlay",
        "Cgroup Version:",
        "Kernel Version:",
    ] {
        assert!(out.contains(want), "{want}: {out}");
    }
    let out = e.ok(&["version"]);
    assert!(out.contains(env!("CARGO_PKG_VERSION")), "{out}");
    let out = e.ok(&["system", "df"]);
    let lines: Vec<&str> = out.lines().collect();
    assert!(
        lines[0].starts_with("TYPE") && lines[0].contains("RECLAIMABLE"),
        "{out}"
    );
    let images: Vec<&str> = lines[1].split_whitespace().collect();
    assert_eq!(images[..3], ["Images", "1", "1"], "{out}");
    let ctrs: Vec<&str> = lines[2].split_whitespace().collect();
    assert_eq!(ctrs[..3], ["Containers", "3", "1"], "{out}");
    // c2 wrote 2 bytes into its writable layer: reclaimable
    assert_ne!(ctrs[4], "0B", "{out}");
    let out = e.ok(&["container", "prune", "-f"]);
    assert!(out.starts_with("Deleted Containers:\n"), "{out}");
    assert!(out.contains(&a), "{out}");
    assert!(out.contains("Total reclaimed space:"), "{out}");
    assert_eq!(e.ok(&["ps", "-aq", "--no-trunc"]).trim(), running);
    e.assert_gone(&a);
    let out = e.ok(&["container", "prune", "-f"]);
    assert_eq!(out, "Total reclaimed space: 0B\n");
    // system prune: the image stays while a container uses it, then goes with -a
    e.ok(&["create", "--name", "c3", IMAGE]);
    let out = e.ok(&["system", "prune", "-a", "-f"]);
    assert!(out.starts_with("Deleted Containers:\n"), "{out}");
    assert!(!out.contains("Deleted Images"), "{out}");
    e.ok(&["rm", "-f", "up"]);
    let out = e.ok(&["system", "prune", "-a", "-f"]);
    assert!(out.starts_with("Deleted Images:\n"), "{out}");
    assert_eq!(e.ok(&["images", "-q"]), "");
}

#[test]
fn cp_both_ways_stays_inside_the_container() {
    let e = Engine::new();
    let host = e.tmp.path().join("host");
    std::fs::create_dir_all(host.join("tree/sub")).unwrap();
    std::fs::write(host.join("file.txt"), "payload\n").unwrap();
    std::fs::write(host.join("tree/a"), "A\n").unwrap();
    std::fs::write(host.join("tree/sub/b"), "B\n").unwrap();
    std::os::unix::fs::symlink("a", host.join("tree/link")).unwrap();
    // a unique name no host file has: the escape check looks for it in the host's /tmp
    let marker = format!(
        "holm-cp-escape-{}",
        &e.tmp.path().file_name().unwrap().to_string_lossy()
    );
    let id = e.detached(&[
        "--name",
        "box",
        "--tmpfs",
        "/scratch",
        IMAGE,
        "sh",
        "-c",
        "ln -s /tmp /data/link; ln -s ../../../../tmp /data/rel; mkdir /data/dir; exec sleep 60",
    ]);
    wait_until(Duration::from_secs(10), "links", || {
        e.run(&["exec", "box", "ls", "/data/dir"]).status.success()
    });
    let file = host.join("file.txt");
    let f = file.to_str().unwrap();
    // into a directory: keeps the name
    e.ok(&["cp", f, "box:/data/dir"]);
    assert_eq!(
        e.ok(&["exec", "box", "cat", "/data/dir/file.txt"]),
        "payload\n"
    );
    // the running container's own mounts (its tmpfs) are what cp sees
    e.ok(&["cp", f, "box:/scratch/"]);
    assert_eq!(
        e.ok(&["exec", "box", "cat", "/scratch/file.txt"]),
        "payload\n"
    );
    // through symlinks in the container: the container's /tmp, not the host's
    e.ok(&["cp", f, &format!("box:/data/link/{marker}")]);
    e.ok(&["cp", f, &format!("box:/data/rel/{marker}-2")]);
    assert_eq!(
        e.ok(&["exec", "box", "cat", &format!("/tmp/{marker}")]),
        "payload\n"
    );
    assert_eq!(
        e.ok(&["exec", "box", "cat", &format!("/tmp/{marker}-2")]),
        "payload\n"
    );
    assert!(
        !std::path::Path::new(&format!("/tmp/{marker}")).exists(),
        "escaped to the host's /tmp"
    );
    assert!(
        !std::path::Path::new(&format!("/tmp/{marker}-2")).exists(),
        "escaped to the host's /tmp"
    );
    // a directory tree (symlinks kept), to a new name
    let tree = host.join("tree");
    e.ok(&["cp", tree.to_str().unwrap(), "box:/data/copied"]);
    assert_eq!(
        e.ok(&[
            "exec",
            "box",
            "sh",
            "-c",
            "cat /data/copied/a /data/copied/sub/b; readlink /data/copied/link"
        ]),
        "A\nB\na\n"
    );
    // out of the container: a file, and a directory into an existing host directory
    let out = e.tmp.path().join("out");
    std::fs::create_dir(&out).unwrap();
    e.ok(&[
        "cp",
        &format!("box:/tmp/{marker}"),
        out.join("got.txt").to_str().unwrap(),
    ]);
    assert_eq!(
        std::fs::read_to_string(out.join("got.txt")).unwrap(),
        "payload\n"
    );
    e.ok(&["cp", "box:/data/copied", out.to_str().unwrap()]);
    assert_eq!(
        std::fs::read_to_string(out.join("copied/sub/b")).unwrap(),
        "B\n"
    );
    assert_eq!(
        std::fs::read_link(out.join("copied/link"))
            .unwrap()
            .to_str(),
        Some("a")
    );
    // a symlink in the container pointing out is copied as a link, never followed to the host
    e.ok(&["cp", "box:/data/link", out.join("l").to_str().unwrap()]);
    assert_eq!(
        std::fs::read_link(out.join("l")).unwrap().to_str(),
        Some("/tmp")
    );
    // reading through a symlink resolves in the container too
    e.ok(&[
        "cp",
        &format!("box:/data/rel/{marker}"),
        out.join("via-rel").to_str().unwrap(),
    ]);
    assert_eq!(
        std::fs::read_to_string(out.join("via-rel")).unwrap(),
        "payload\n"
    );
    // a stopped container: its rootfs is mounted for the copy and unmounted after
    e.ok(&["stop", "-t", "0", "box"]);
    e.ok(&["cp", f, "box:/data/stopped.txt"]);
    e.ok(&[
        "cp",
        "box:/data/stopped.txt",
        out.join("s.txt").to_str().unwrap(),
    ]);
    assert_eq!(
        std::fs::read_to_string(out.join("s.txt")).unwrap(),
        "payload\n"
    );
    assert!(
        e.mounts().iter().all(|m| !m.contains(&id)),
        "{:?}",
        e.mounts()
    );
    // errors
    let (_, err) = e.code(1, &["cp", "box:/no/such", out.to_str().unwrap()]);
    assert!(err.contains("/no/such"), "{err}");
    let (_, err) = e.code(1, &["cp", f, "nobox:/x"]);
    assert!(err.contains("No such container"), "{err}");
    e.ok(&["rm", "-f", "box"]);
    e.assert_gone(&id);
}
