//! Crashes of `holm` and of monitors: what is left must be visible (`ps -a`) and removable (`rm -f`, `container
//! prune`), and what is recorded about the exit must agree with itself (`ps`, `wait`, `inspect`).

#[path = "../../image/tests/common/mod.rs"]
mod common;
mod engine_common;

use engine_common::{cgroup_dirs, Engine, IMAGE};
use std::process::Stdio;
use std::time::Duration;

fn veth_exists(id: &str) -> bool {
    std::path::Path::new("/sys/class/net")
        .join(format!("veth{}", &id[..11]))
        .exists()
}

fn leased(id: &str) -> bool {
    std::fs::read_to_string("/run/holm-network/leases.json").is_ok_and(|s| s.contains(id))
}

fn dir_names(p: &std::path::Path) -> Vec<String> {
    std::fs::read_dir(p)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.len() == 64)
                .collect()
        })
        .unwrap_or_default()
}

/// `holm run` killed with SIGKILL at any moment of its create/start: every container directory or snapshot it
/// made belongs to a container `ps -a` lists, and `rm -f` plus `container prune` leave no mount, directory,
/// snapshot, cgroup, veth or address lease.
#[test]
fn run_killed_early_leaves_only_what_ps_shows_and_rm_cleans() {
    let e = Engine::new();
    let mut n = 0;
    for round in 0..3 {
        for delay_ms in [1u64, 3, 5, 8, 12, 16, 20, 25, 30, 40, 60] {
            n += 1;
            let name = format!("crash{n}");
            let mut c = e
                .cmd(&["run", "-d", "--name", &name, IMAGE, "sleep", "300"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap();
            std::thread::sleep(Duration::from_millis(delay_ms + round));
            let _ = c.kill();
            let _ = c.wait();
        }
    }
    // Everything on disk belongs to a listed container.
    let listed = e.ok(&["ps", "-aq", "--no-trunc"]);
    let mut on_disk = dir_names(&e.root.join("containers"));
    on_disk.extend(dir_names(&e.root.join("image/snapshots")));
    for id in &on_disk {
        assert!(
            listed.contains(id.as_str()),
            "{id} has a directory or snapshot but `ps -a` does not show it:\n{listed}"
        );
    }
    let mut ids: Vec<String> = listed.split_whitespace().map(str::to_string).collect();
    ids.extend(on_disk);
    ids.sort();
    ids.dedup();
    for id in listed.split_whitespace() {
        let o = e.run(&["rm", "-f", id]);
        assert!(
            o.status.success(),
            "rm -f {id}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
    e.ok(&["container", "prune", "-f"]);
    assert_eq!(e.ok(&["ps", "-aq"]).trim(), "", "containers left");
    for id in &ids {
        e.assert_gone(id);
        assert!(cgroup_dirs(id).is_empty(), "cgroup of {id} left");
        assert!(!veth_exists(id), "veth of {id} left");
        assert!(!leased(id), "lease of {id} left");
        assert!(
            !std::path::Path::new("/run/holm-network/containers")
                .join(format!("{id}.json"))
                .exists(),
            "network state of {id} left"
        );
    }
    assert!(e.mounts().is_empty(), "mounts left: {:?}", e.mounts());
    assert!(dir_names(&e.root.join("image/snapshots")).is_empty());
    // The image is not held by anything.
    e.ok(&["rmi", IMAGE]);
}

/// A host port free right now.
fn free_port() -> u16 {
    std::net::TcpListener::bind("0.0.0.0:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The engine's only monitor, once there is exactly one.
fn the_monitor(e: &Engine) -> i32 {
    let mut m = Vec::new();
    engine_common::wait_until(Duration::from_secs(5), "one monitor", || {
        m = e.monitors();
        m.len() == 1
    });
    m[0]
}

/// A container whose monitor was killed still publishes its port (its DNAT rules stay while it runs), though no
/// socket holds it any more: a second `run -p` of the same port is refused with docker's message and 125.
#[test]
fn port_of_a_container_whose_monitor_died_stays_allocated() {
    let e = Engine::new();
    let port = free_port();
    let p = format!("{port}:80");
    let first = e.detached(&["--name", "p1", "-p", &p, IMAGE, "sleep", "300"]);
    let mon = the_monitor(&e);
    holm_sys::process::kill(mon, libc::SIGKILL).unwrap();
    engine_common::wait_until(Duration::from_secs(5), "monitor gone", || {
        e.monitors().is_empty()
    });
    assert_eq!(e.status(&first), "running");
    let (_, err) = e.code(
        125,
        &["run", "-d", "--name", "p2", "-p", &p, IMAGE, "sleep", "300"],
    );
    assert!(
        err.contains(&format!(
            "Bind for 0.0.0.0:{port} failed: port is already allocated"
        )),
        "{err}"
    );
    assert_eq!(e.status("p2"), "created");
    // Another address of the host is the same port when the first one has 0.0.0.0.
    e.code(
        125,
        &[
            "run",
            "--rm",
            "-p",
            &format!("127.0.0.1:{port}:80"),
            IMAGE,
            "true",
        ],
    );
    // Once the first is gone the port is free again.
    e.ok(&["rm", "-f", &first]);
    e.ok(&["start", "p2"]);
    e.ok(&["rm", "-f", "p2"]);
}

/// A process the OOM killer killed (memory limit exceeded): exit 137 and `State.OOMKilled` true; a container that
/// just exits has it false.
#[test]
fn oom_killed_is_recorded() {
    let e = Engine::new();
    let o = e.run(&[
        "run",
        "--name",
        "oom",
        "--memory",
        "8m",
        "--memory-swap",
        "8m",
        IMAGE,
        "sh",
        "-c",
        "x=$(yes aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa | head -c 64000000); echo survived",
    ]);
    assert_eq!(
        o.status.code(),
        Some(137),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let st = &e.inspect("oom")["State"];
    assert_eq!(st["OOMKilled"], true, "{st}");
    assert_eq!(st["ExitCode"], 137, "{st}");
    e.ok(&["run", "--name", "fine", "--memory", "8m", IMAGE, "true"]);
    assert_eq!(e.inspect("fine")["State"]["OOMKilled"], false);
    // docker's `oom` event, then `die`, for the one that was killed only
    let evs = e.ok(&[
        "events",
        "--since",
        "0",
        "--until",
        "0s",
        "--filter",
        "event=oom",
        "--filter",
        "event=die",
        "--format",
        "{{.Action}} {{.Actor.Attributes.name}}",
    ]);
    assert_eq!(evs, "oom oom\ndie oom\ndie fine\n");
}

/// After its monitor was killed, a container's exit code is unknown unless holm itself killed it: `stop` that had
/// to send SIGKILL records 137 (as docker), and `ps`, `wait` and `inspect` agree.
#[test]
fn stop_of_an_unmonitored_container_records_137() {
    let e = Engine::new();
    let id = e.detached(&["--name", "unmon", IMAGE, "sleep", "300"]);
    let mon = the_monitor(&e);
    holm_sys::process::kill(mon, libc::SIGKILL).unwrap();
    engine_common::wait_until(Duration::from_secs(5), "monitor gone", || {
        e.monitors().is_empty()
    });
    // sleep as pid 1 has no SIGTERM handler: the stop signal does nothing, SIGKILL follows after 1 s.
    e.ok(&["stop", "-t", "1", "unmon"]);
    let st = &e.inspect("unmon")["State"];
    assert_eq!(st["Status"], "exited", "{st}");
    assert_eq!(st["ExitCode"], 137, "{st}");
    assert_eq!(st["Error"], "", "{st}");
    assert!(e.ok(&["ps", "-a"]).contains("Exited (137)"));
    assert_eq!(e.ok(&["wait", "unmon"]).trim(), "137");
    e.ok(&["rm", "unmon"]);
    e.assert_gone(&id);
}

/// `run --rm` whose start fails after the container was created (here: a `--runroot` that is a file, so the
/// runtime cannot keep its state) removes the container: no row, mount, directory or snapshot is left.
#[test]
fn rm_removes_the_container_when_its_start_fails() {
    let e = Engine::new();
    let file = e.tmp.path().join("not-a-dir");
    std::fs::write(&file, "x").unwrap();
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_holm"))
            .arg("--root")
            .arg(&e.root)
            .arg("--runroot")
            .arg(&file)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    };
    for detach in [false, true] {
        let mut args = vec!["run", "--rm"];
        if detach {
            args.push("-d");
        }
        args.extend([IMAGE, "true"]);
        let o = run(&args);
        assert_eq!(
            o.status.code(),
            Some(125),
            "{}",
            String::from_utf8_lossy(&o.stderr)
        );
        assert_eq!(e.ok(&["ps", "-aq"]).trim(), "", "run --rm {detach}: left");
        assert!(e.mounts().is_empty(), "mounts left: {:?}", e.mounts());
        assert!(dir_names(&e.root.join("containers")).is_empty());
        assert!(dir_names(&e.root.join("image/snapshots")).is_empty());
    }
    // Without --rm the container stays, created (as docker's), and `rm` removes it.
    let o = run(&["run", "--name", "kept", IMAGE, "true"]);
    assert_eq!(o.status.code(), Some(125));
    assert_eq!(e.status("kept"), "created");
    e.ok(&["rm", "kept"]);
    assert!(e.mounts().is_empty(), "mounts left: {:?}", e.mounts());
}

/// `exec` failures: 127 only for a command that is not found, 126 for the others (missing `-w` directory,
/// unknown user, not executable), as docker's; `exec -e NAME` passes holm's own value as `run -e NAME` does.
#[test]
fn exec_failure_codes_and_env_from_host() {
    let e = Engine::new();
    e.detached(&["--name", "ex", IMAGE, "sleep", "300"]);
    e.code(127, &["exec", "ex", "nosuchcommand"]);
    e.code(127, &["exec", "ex", "/nonexistent/cmd"]);
    let (_, err) = e.code(126, &["exec", "-w", "/nonexistent", "ex", "true"]);
    assert!(err.contains("/nonexistent"), "{err}");
    e.code(126, &["exec", "-w", "/etc/passwd", "ex", "true"]);
    e.code(126, &["exec", "-u", "nosuchuser", "ex", "true"]);
    e.code(126, &["exec", "ex", "/etc"]);
    let o = e
        .cmd(&[
            "exec",
            "-e",
            "HOLM_FROM_HOST",
            "-e",
            "HOLM_NOT_SET_ANYWHERE",
            "-e",
            "B=2",
            "ex",
            "sh",
            "-c",
            "echo \"$HOLM_FROM_HOST ${HOLM_NOT_SET_ANYWHERE-unset} $B\"",
        ])
        .env("HOLM_FROM_HOST", "hostvalue")
        .env_remove("HOLM_NOT_SET_ANYWHERE")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(String::from_utf8_lossy(&o.stdout), "hostvalue unset 2\n");
}

/// A container directory with no database row (left by a holm older than the `creating` row, or an `rm` that
/// crashed half-way), with its rootfs still mounted: `container prune` unmounts and removes it; a directory that
/// is not a container id is left alone.
#[test]
fn prune_removes_container_dirs_without_a_row() {
    let e = Engine::new();
    let id = "0123456789abcdef".repeat(4);
    let rootfs = e.root.join("containers").join(&id).join("rootfs");
    std::fs::create_dir_all(&rootfs).unwrap();
    holm_sys::mount::mount(
        Some(std::path::Path::new("tmpfs")),
        &rootfs,
        Some("tmpfs"),
        0,
        None,
        "test tmpfs",
    )
    .unwrap();
    std::fs::write(rootfs.join("f"), "x").unwrap();
    let other = e.root.join("containers").join("not-a-container");
    std::fs::create_dir_all(&other).unwrap();
    assert_eq!(e.ok(&["ps", "-aq"]).trim(), "");
    let out = e.ok(&["container", "prune", "-f"]);
    assert!(out.contains(&id), "{out}");
    assert!(e.mounts().is_empty(), "mounts left: {:?}", e.mounts());
    assert!(!e.root.join("containers").join(&id).exists());
    assert!(other.exists());
}
