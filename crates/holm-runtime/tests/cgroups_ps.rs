//! Issue 3, `ps`: runc's output (host `ps -ef` filtered to the container's cgroup, or a JSON pid list), ps
//! options passed through, processes in child cgroups included, and child cgroups removed by `delete`.

mod cgroups_support;

use std::time::Duration;

use cgroups_support::*;
use holm_testkit::{unique_id, Bundle, Runtime};
use serde_json::json;

/// A running container whose shell started two sleeps; returns the id.
fn two_sleeps(rt: &Runtime, b: &mut Bundle, prefix: &str) -> String {
    b.config_mut()["process"]["args"] = json!(["sh", "-c", "sleep 1000 & sleep 1001 & wait"]);
    b.write_config();
    let id = unique_id(prefix);
    rt.ok(&["run", "--detach", "--bundle", &path_arg(b), &id]);
    // Three processes, and both children have exec'd `sleep` (a forked child is listed as `sh -c ...` until then).
    holm_testkit::wait_until(
        Duration::from_secs(10),
        "three processes, two sleeping",
        || {
            let pids =
                std::fs::read_to_string(v2_dir(&id).join("cgroup.procs")).unwrap_or_default();
            let comms: Vec<String> = pids
                .lines()
                .map(|p| std::fs::read_to_string(format!("/proc/{p}/comm")).unwrap_or_default())
                .collect();
            comms.len() == 3 && comms.iter().filter(|c| c.trim() == "sleep").count() == 2
        },
    );
    id
}

fn host_pids(id: &str) -> Vec<i64> {
    let mut v: Vec<i64> = std::fs::read_to_string(v2_dir(id).join("cgroup.procs"))
        .unwrap()
        .lines()
        .map(|l| l.parse().unwrap())
        .collect();
    v.sort();
    v
}

#[test]
fn table_and_json() {
    let rt = runtime();
    let mut b = Bundle::busybox();
    let id = two_sleeps(&rt, &mut b, "cg-ps");
    let _g = rt.guard(&id);

    let out = rt.ok(&["ps", &id]);
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].split_whitespace().any(|f| f == "PID"), "{out}");
    assert!(lines[0].contains("CMD"), "ps -ef header: {out}");
    assert_eq!(lines.len(), 4, "header + sh + two sleeps:\n{out}");
    assert!(lines.iter().any(|l| l.ends_with("sleep 1000")), "{out}");
    assert!(lines.iter().any(|l| l.ends_with("sleep 1001")), "{out}");
    let init = rt.state(&id)["pid"].as_i64().unwrap();
    assert!(
        lines[1..]
            .iter()
            .any(|l| l.split_whitespace().nth(1) == Some(&init.to_string())),
        "the init {init} is listed:\n{out}"
    );

    let out = rt.ok(&["ps", "--format", "json", &id]);
    let pids: Vec<i64> = serde_json::from_str(&out).unwrap();
    assert_eq!(pids, host_pids(&id));
    assert!(pids.contains(&init));

    // ps options after the id (with or without `--`).
    for args in [
        vec!["ps", &id, "-o", "pid,comm"],
        vec!["ps", &id, "--", "-o", "pid,comm"],
    ] {
        let out = rt.ok(&args);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(
            lines[0].split_whitespace().collect::<Vec<_>>(),
            ["PID", "COMMAND"],
            "{out}"
        );
        assert_eq!(
            lines.iter().filter(|l| l.ends_with("sleep")).count(),
            2,
            "{out}"
        );
        assert_eq!(lines.len(), 4, "{out}");
    }
}

#[test]
fn processes_in_child_cgroups_are_listed_and_child_cgroups_are_removed() {
    let rt = runtime();
    let mut b = Bundle::busybox();
    let id = two_sleeps(&rt, &mut b, "cg-ps-child");
    let _g = rt.guard(&id);
    let pids = host_pids(&id);
    // Move one process into a child cgroup in every v1 hierarchy that has the container, and in cgroup2.
    let moved = *pids.last().unwrap();
    for c in ["unified", "pids", "freezer", "memory"] {
        let sub = cg_dir(c, &id).join("sub");
        std::fs::create_dir(&sub).unwrap();
        std::fs::write(sub.join("cgroup.procs"), moved.to_string()).unwrap();
    }
    assert!(!host_pids(&id).contains(&moved));
    let out = rt.ok(&["ps", "--format", "json", &id]);
    let listed: Vec<i64> = serde_json::from_str(&out).unwrap();
    assert_eq!(listed, pids, "ps must include child cgroups");
    // `kill --all` reaches it too, and `delete` removes the child cgroups.
    rt.ok(&["kill", "--all", &id, "KILL"]);
    holm_testkit::wait_until(Duration::from_secs(5), "every process to die", || {
        !holm_testkit::process_exists(moved as i32)
    });
    // The init dies from the same kill but may not be gone yet (CI saw `delete` refused as running at load 15).
    holm_testkit::wait_until(Duration::from_secs(10), "the container to stop", || {
        status(&rt, &id) == "stopped"
    });
    rt.ok(&["delete", &id]);
    assert_eq!(leftover_dirs(&id), Vec::<std::path::PathBuf>::new());
}

#[test]
fn ps_of_a_stopped_container_lists_nothing_and_of_an_unknown_one_fails() {
    let rt = runtime();
    let b = bundle("true", json!({}));
    let id = unique_id("cg-ps-stopped");
    let _g = rt.guard(&id);
    rt.ok(&["create", "--bundle", &path_arg(&b), &id]);
    // A created container has its init.
    let out = rt.ok(&["ps", "-f", "json", &id]);
    let pids: Vec<i64> = serde_json::from_str(&out).unwrap();
    assert_eq!(pids, vec![rt.state(&id)["pid"].as_i64().unwrap()]);
    rt.ok(&["start", &id]);
    holm_testkit::wait_until(Duration::from_secs(5), "the container to stop", || {
        status(&rt, &id) == "stopped"
    });
    // A stopped container has no process: runc prints the header alone (and `null` as JSON), exit 0.
    let out = rt.ok(&["ps", &id]);
    assert_eq!(out.lines().count(), 1, "{out}");
    assert_eq!(rt.ok(&["ps", "-f", "json", &id]).trim(), "null");
    let out = rt.fails(&["ps", "nope"]);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("does not exist"),
        "{}",
        describe(&out)
    );
}

/// Without `ps` on PATH, `ps ID` names the Debian package that provides it (runc runs the host's `ps` too).
#[test]
fn a_missing_ps_names_the_procps_package() {
    let rt = runtime();
    let mut b = Bundle::busybox();
    let id = two_sleeps(&rt, &mut b, "cg-ps-nops");
    let _g = rt.guard(&id);
    let empty = b.path().join("empty-path");
    std::fs::create_dir(&empty).unwrap();
    let out = rt.cmd(&["ps", &id]).env("PATH", &empty).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("`ps` program was not found")
            && err.contains("install Debian's procps package"),
        "{err}"
    );
}
