//! Issue 2, the rest of `config.json`: `linux.sysctl`, `annotations`, the cgroup at
//! `linux.cgroupsPath`, and `process.terminal` with `--console-socket`.

mod isolation_support;

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use holm_testkit::{read_pty_until_closed, unique_id, wait_until, Bundle, ConsoleSocket};
use isolation_support::*;
use serde_json::json;

#[test]
fn sysctl_is_applied_inside_the_container_only() {
    let rt = runtime();
    let host = |k: &str| fs::read_to_string(format!("/proc/sys/{k}")).unwrap();
    let host_before = (host("net/ipv4/ip_forward"), host("kernel/shm_rmid_forced"));
    let mut b = Bundle::busybox();
    b.config_mut()["linux"]["sysctl"] = json!({
        "net.ipv4.ip_forward": "1",
        "kernel.shm_rmid_forced": "1",
        "net.ipv4.ping_group_range": "0 2147483647"
    });
    let out = run_script(
        &rt,
        &mut b,
        "sysctl",
        "echo \"ip_forward=$(cat /proc/sys/net/ipv4/ip_forward)\"; \
         echo \"shm=$(cat /proc/sys/kernel/shm_rmid_forced)\"; \
         echo \"ping=$(cat /proc/sys/net/ipv4/ping_group_range | tr '\\t' ' ')\"",
    );
    assert_eq!(value_of(&out, "ip_forward"), "1", "{out}");
    assert_eq!(value_of(&out, "shm"), "1", "{out}");
    assert_eq!(value_of(&out, "ping"), "0 2147483647", "{out}");
    let host_after = (host("net/ipv4/ip_forward"), host("kernel/shm_rmid_forced"));
    assert_eq!(
        host_before, host_after,
        "the host's sysctls must not change"
    );
}

#[test]
fn bad_sysctl_names_fail_naming_the_key() {
    let rt = runtime();
    for key in [
        "net.ipv4.no_such_knob",
        "kernel..hostname",
        "../../etc/passwd",
    ] {
        let mut b = Bundle::busybox();
        b.config_mut()["linux"]["sysctl"] = json!({ key: "1" });
        let out = run_script_output(&rt, &mut b, "sysctl-bad", "true");
        assert!(!out.status.success(), "{key}: {}", describe(&out));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(&format!("linux.sysctl.{key}")), "{key}: {err}");
        assert!(
            rt.ok(&["list", "-q"]).trim().is_empty(),
            "nothing left behind"
        );
    }
}

#[test]
fn sysctls_outside_the_containers_namespaces_are_refused() {
    let rt = runtime();
    let host = |k: &str| {
        fs::read_to_string(format!("/proc/sys/{}", k.replace('.', "/")))
            .unwrap()
            .trim()
            .to_string()
    };
    // Each value is the host's current one, so even a runtime that wrongly writes it changes
    // nothing; what is checked is that create refuses.
    for (key, drop_ns) in [
        ("net.ipv4.ip_forward", Some("network")),
        ("kernel.shm_rmid_forced", Some("ipc")),
        ("kernel.domainname", Some("uts")),
        ("vm.swappiness", None),
        ("fs.file-max", None),
    ] {
        let mut b = Bundle::busybox();
        if let Some(ns) = drop_ns {
            remove_ns(&mut b, ns);
        }
        if drop_ns == Some("uts") {
            b.config_mut().as_object_mut().unwrap().remove("hostname");
        }
        let before = host(key);
        b.config_mut()["linux"]["sysctl"] = json!({ key: before.clone() });
        let out = run_script_output(&rt, &mut b, "sysctl-host", "true");
        assert!(
            !out.status.success(),
            "{key} (without {drop_ns:?} namespace) must be refused: {}",
            describe(&out)
        );
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(&format!("linux.sysctl.{key}")), "{key}: {err}");
        assert_eq!(host(key), before);
        assert!(
            rt.ok(&["list", "-q"]).trim().is_empty(),
            "nothing left behind"
        );
    }
}

#[test]
fn annotations_appear_in_state() {
    let rt = runtime();
    let mut b = Bundle::busybox();
    b.config_mut()["annotations"] = json!({
        "org.holm.test": "value",
        "com.example/with space": "a b c",
        "empty": ""
    });
    b.set_args(&["true"]);
    let id = unique_id("annotations");
    let _guard = rt.guard(&id);
    rt.ok(&["create", "--bundle", b.path().to_str().unwrap(), &id]);
    let st = rt.state(&id);
    assert_eq!(
        st["annotations"],
        json!({ "org.holm.test": "value", "com.example/with space": "a b c", "empty": "" }),
        "{st}"
    );
    let list: serde_json::Value =
        serde_json::from_str(&rt.ok(&["list", "--format", "json"])).unwrap();
    assert_eq!(list[0]["annotations"]["org.holm.test"], "value", "{list}");
    rt.ok(&["delete", "--force", &id]);
}

/// Every cgroup hierarchy root of this host (v1 controllers, name=systemd, and the cgroup2 one).
fn hierarchies() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir("/sys/fs/cgroup")
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("cgroup.procs").exists())
        .collect();
    v.sort();
    assert!(v.iter().any(|p| p.ends_with("pids")), "{v:?}");
    assert!(v.iter().any(|p| p.ends_with("unified")), "{v:?}");
    v
}

fn procs(dir: &Path) -> Vec<i64> {
    fs::read_to_string(dir.join("cgroup.procs"))
        .unwrap_or_else(|e| panic!("read {}/cgroup.procs: {e}", dir.display()))
        .lines()
        .map(|l| l.parse().unwrap())
        .collect()
}

#[test]
fn cgroup_at_an_absolute_cgroups_path() {
    let rt = runtime();
    let id = unique_id("cgroup-abs");
    let rel = format!("holm-test/{id}");
    let mut b = Bundle::busybox();
    remove_ns(&mut b, "cgroup");
    b.config_mut()["linux"]["cgroupsPath"] = json!(format!("/{rel}"));
    b.set_args(&["sleep", "1000"]);
    let _guard = rt.guard(&id);
    rt.ok(&[
        "run",
        "--detach",
        "--bundle",
        b.path().to_str().unwrap(),
        &id,
    ]);
    let pid = rt.state(&id)["pid"].as_i64().unwrap();
    for h in hierarchies() {
        let dir = h.join(&rel);
        assert!(dir.is_dir(), "{} missing", dir.display());
        assert_eq!(procs(&dir), [pid], "{}", dir.display());
    }
    // The host sees the init in it.
    let cg = fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    for line in cg.lines() {
        assert!(line.ends_with(&format!(":/{rel}")), "{line}\n{cg}");
    }
    rt.ok(&["delete", "--force", &id]);
    for h in hierarchies() {
        let dir = h.join(&rel);
        assert!(!dir.exists(), "{} left after delete", dir.display());
    }
}

#[test]
fn container_sees_its_cgroup_without_a_cgroup_namespace() {
    let rt = runtime();
    let id = unique_id("cgroup-view");
    let rel = format!("holm-test/{id}");
    let mut b = Bundle::busybox();
    remove_ns(&mut b, "cgroup");
    b.config_mut()["linux"]["cgroupsPath"] = json!(format!("/{rel}"));
    set_script(
        &mut b,
        "cat /proc/self/cgroup; echo \"own=$(cat /sys/fs/cgroup/pids/cgroup.procs | head -n 1)\"; \
         echo \"unified=$(cat /sys/fs/cgroup/unified/cgroup.procs | head -n 1)\"",
    );
    b.write_config();
    let _guard = rt.guard(&id);
    let out = rt.run(&["run", "--bundle", b.path().to_str().unwrap(), &id]);
    assert_success(&out, "cgroup view");
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text.lines().filter(|l| l.contains(":/")).collect();
    assert!(lines.len() >= 2, "{text}");
    for line in lines {
        assert!(line.ends_with(&format!(":/{rel}")), "{line}\n{text}");
    }
    // /sys/fs/cgroup/<hierarchy> is the container's own cgroup: pid 1 is in it.
    assert_eq!(value_of(&text, "own"), "1", "{text}");
    assert_eq!(value_of(&text, "unified"), "1", "{text}");
    for h in hierarchies() {
        assert!(
            !h.join(&rel).exists(),
            "{} left after run",
            h.join(&rel).display()
        );
    }
}

#[test]
fn cgroup_at_a_relative_or_default_cgroups_path() {
    let rt = runtime();
    // Relative cgroupsPath (under the runtime's own cgroups) and none at all: the container is
    // in a cgroup of its own, named after the path or the id, and it is removed afterwards.
    for path in [Some(format!("holm-test-rel/{}", unique_id("rel"))), None] {
        let id = unique_id("cgroup-rel");
        let mut b = Bundle::busybox();
        if let Some(p) = &path {
            b.config_mut()["linux"]["cgroupsPath"] = json!(p);
        }
        b.set_args(&["sleep", "1000"]);
        let _guard = rt.guard(&id);
        rt.ok(&[
            "run",
            "--detach",
            "--bundle",
            b.path().to_str().unwrap(),
            &id,
        ]);
        let pid = rt.state(&id)["pid"].as_i64().unwrap();
        let want = path.clone().unwrap_or_else(|| id.clone());
        let cg = fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
        let mut dirs = Vec::new();
        for line in cg.lines() {
            let (_, p) = line.split_once(":/").unwrap();
            assert!(p.ends_with(&want), "{want}: {line}\n{cg}");
            let hier = line.split(':').nth(1).unwrap();
            let name = if hier.is_empty() {
                "unified".to_string()
            } else {
                hier.trim_start_matches("name=").to_string()
            };
            dirs.push(Path::new("/sys/fs/cgroup").join(name).join(p));
        }
        for d in &dirs {
            assert!(d.is_dir(), "{}", d.display());
        }
        rt.ok(&["delete", "--force", &id]);
        for d in &dirs {
            assert!(!d.exists(), "{} left after delete", d.display());
        }
    }
}

#[test]
fn terminal_with_console_socket() {
    let rt = runtime();
    let console = ConsoleSocket::new();
    let mut b = Bundle::busybox();
    b.config_mut()["process"]["terminal"] = json!(true);
    b.config_mut()["process"]["consoleSize"] = json!({ "height": 40, "width": 100 });
    b.set_args(&["sh", "-c", "tty; echo \"size=$(stty size)\"; echo $((6*7))"]);
    let id = unique_id("tty");
    let _guard = rt.guard(&id);
    let sock = console.path().to_str().unwrap();
    rt.ok(&[
        "create",
        "--console-socket",
        sock,
        "--bundle",
        b.path().to_str().unwrap(),
        &id,
    ]);
    let (master, name) = console.recv_master(Duration::from_secs(10));
    assert_eq!(name, "/dev/pts/0");
    rt.ok(&["start", &id]);
    let text = read_pty_until_closed(master, Duration::from_secs(20));
    assert!(text.contains("/dev/pts/0"), "{text:?}");
    assert!(text.contains("size=40 100"), "{text:?}");
    assert!(text.contains("42"), "{text:?}");
    wait_until(Duration::from_secs(10), "the container to stop", || {
        rt.state(&id)["status"] == "stopped"
    });
    rt.ok(&["delete", &id]);
}

#[test]
fn terminal_in_a_user_namespace_for_a_non_root_user() {
    let rt = runtime();
    let console = ConsoleSocket::new();
    let mut b = Bundle::busybox();
    set_ns(&mut b, "user", None);
    let map = json!([{ "containerID": 0, "hostID": 140000, "size": 65536 }]);
    b.config_mut()["linux"]["uidMappings"] = map.clone();
    b.config_mut()["linux"]["gidMappings"] = map;
    b.chown_rootfs(140000, 140000);
    b.config_mut()["process"]["terminal"] = json!(true);
    b.config_mut()["process"]["user"] = json!({ "uid": 1000, "gid": 1000 });
    b.set_args(&[
        "sh",
        "-c",
        "echo \"tty=$(tty)\"; echo \"id=$(id -u)\"; echo done",
    ]);
    let id = unique_id("tty-userns");
    let _guard = rt.guard(&id);
    let sock = console.path().to_str().unwrap();
    rt.ok(&[
        "create",
        "--console-socket",
        sock,
        "--bundle",
        b.path().to_str().unwrap(),
        &id,
    ]);
    let (master, name) = console.recv_master(Duration::from_secs(10));
    assert_eq!(name, "/dev/pts/0");
    rt.ok(&["start", &id]);
    let text = read_pty_until_closed(master, Duration::from_secs(20)).replace('\r', "");
    assert_eq!(value_of(&text, "tty"), "/dev/pts/0", "{text:?}");
    assert_eq!(value_of(&text, "id"), "1000", "{text:?}");
    assert!(text.contains("done"), "{text:?}");
}

#[test]
fn terminal_with_run_in_the_foreground() {
    let rt = runtime();
    let console = ConsoleSocket::new();
    let mut b = Bundle::busybox();
    b.config_mut()["process"]["terminal"] = json!(true);
    b.set_args(&[
        "sh",
        "-c",
        "[ -t 0 ] && [ -t 1 ] && [ -t 2 ] && echo all-ttys; exit 3",
    ]);
    let id = unique_id("tty-run");
    let _guard = rt.guard(&id);
    let out = rt.run(&[
        "run",
        "--console-socket",
        console.path().to_str().unwrap(),
        "--bundle",
        b.path().to_str().unwrap(),
        &id,
    ]);
    assert_eq!(out.status.code(), Some(3), "{}", describe(&out));
    let (master, _) = console.recv_master(Duration::from_secs(10));
    let text = read_pty_until_closed(master, Duration::from_secs(10));
    assert!(text.contains("all-ttys"), "{text:?}");
}

#[test]
fn terminal_without_console_socket_fails_and_leaves_nothing() {
    let rt = runtime();
    let id = unique_id("tty-nosock");
    let mut b = Bundle::busybox();
    b.config_mut()["process"]["terminal"] = json!(true);
    b.config_mut()["linux"]["cgroupsPath"] = json!(format!("/holm-test/{id}"));
    b.set_args(&["true"]);
    let _guard = rt.guard(&id);
    let out = rt.fails(&["create", "--bundle", b.path().to_str().unwrap(), &id]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("console-socket") && err.contains("terminal"),
        "{err}"
    );
    assert!(rt.ok(&["list", "-q"]).trim().is_empty());
    assert!(!rt.root().join(&id).exists());
    assert!(!Path::new("/sys/fs/cgroup/pids/holm-test")
        .join(&id)
        .exists());
    // A socket path where nobody listens: the error names it, nothing is left either.
    let missing = format!("/tmp/holm-no-console-{id}.sock");
    let out = rt.fails(&[
        "create",
        "--console-socket",
        &missing,
        "--bundle",
        b.path().to_str().unwrap(),
        &id,
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&missing), "{err}");
    assert!(rt.ok(&["list", "-q"]).trim().is_empty());
    assert!(!Path::new("/sys/fs/cgroup/pids/holm-test")
        .join(&id)
        .exists());
}
