//! Issue 5, `exec`: the exec'd process is in every namespace of the container's init (user and time included),
//! in its cgroup, and dies with it; `kill --all` reaches it.

mod exec_support;

use exec_support::*;
use holm_testkit::Bundle;
use serde_json::json;

const ALL_NS: [&str; 8] = ["pid", "net", "ipc", "uts", "mnt", "cgroup", "user", "time"];

/// Prints `<ns>=<readlink /proc/self/ns/<ns>>` for every namespace kind.
const PRINT_NS: &str = "for n in pid net ipc uts mnt cgroup user time; do \
                        echo \"$n=$(readlink /proc/self/ns/$n)\"; done";

#[test]
fn exec_joins_every_namespace_of_the_init() {
    let rt = runtime();
    let b = sleeper();
    let (g, init) = running(&rt, &b, "exec-ns");
    let out = exec_ok(
        &rt,
        g.id(),
        &format!("{PRINT_NS}; echo \"self=$$\"; echo \"one=$(cat /proc/1/comm)\""),
    );
    for ns in ALL_NS {
        assert_eq!(value_of(&out, ns), ns_of(init, ns), "{ns} namespace\n{out}");
    }
    // The container's own namespaces are not the host's: equality above means something.
    let me = std::process::id() as i32;
    for ns in ["pid", "net", "ipc", "uts", "mnt", "cgroup"] {
        assert_ne!(value_of(&out, ns), ns_of(me, ns), "{ns} namespace\n{out}");
    }
    // In the container's pid namespace: pid 1 is the init, and we are another pid.
    assert_eq!(value_of(&out, "one"), "sleep", "{out}");
    assert_ne!(value_of(&out, "self"), "1", "{out}");
}

fn userns_bundle(host_id: u32) -> Bundle {
    let mut b = sleeper();
    let ns = b.config_mut()["linux"]["namespaces"]
        .as_array_mut()
        .unwrap();
    ns.push(json!({ "type": "user" }));
    let map = json!([{ "containerID": 0, "hostID": host_id, "size": 65536 }]);
    b.config_mut()["linux"]["uidMappings"] = map.clone();
    b.config_mut()["linux"]["gidMappings"] = map;
    // Written from outside the user namespace (inside it, /proc/<pid> belongs to an unmapped host root).
    b.config_mut()["process"]["oomScoreAdj"] = json!(321);
    b.chown_rootfs(host_id, host_id);
    b
}

#[test]
fn exec_joins_the_user_namespace() {
    let rt = runtime();
    let b = userns_bundle(100000);
    let (g, init) = running(&rt, &b, "exec-userns");
    let out = exec_ok(
        &rt,
        g.id(),
        &format!(
            "{PRINT_NS}; echo \"id=$(id -u):$(id -g)\"; echo \"uid_map=$(cat /proc/self/uid_map)\"; \
             echo \"oom=$(cat /proc/self/oom_score_adj)\"; touch /tmp/by-exec"
        ),
    );
    for ns in ALL_NS {
        assert_eq!(value_of(&out, ns), ns_of(init, ns), "{ns} namespace\n{out}");
    }
    let me = std::process::id() as i32;
    assert_ne!(value_of(&out, "user"), ns_of(me, "user"), "{out}");
    assert_eq!(value_of(&out, "id"), "0:0", "{out}");
    assert_eq!(value_of(&out, "oom"), "321", "{out}");
    let map: Vec<String> = value_of(&out, "uid_map")
        .split_whitespace()
        .map(String::from)
        .collect();
    assert_eq!(map, ["0", "100000", "65536"], "{out}");
    // The file the exec'd root made belongs to the mapped host uid.
    use std::os::unix::fs::MetadataExt;
    let md = std::fs::metadata(b.rootfs().join("tmp/by-exec")).unwrap();
    assert_eq!((md.uid(), md.gid()), (100000, 100000));
}

#[test]
fn exec_joins_the_time_namespace() {
    let rt = runtime();
    let mut b = sleeper();
    let ns = b.config_mut()["linux"]["namespaces"]
        .as_array_mut()
        .unwrap();
    ns.push(json!({ "type": "time" }));
    b.config_mut()["linux"]["timeOffsets"] = json!({
        "boottime": { "secs": 864000, "nanosecs": 0 },
        "monotonic": { "secs": 864000, "nanosecs": 0 }
    });
    let (g, init) = running(&rt, &b, "exec-timens");
    let out = exec_ok(
        &rt,
        g.id(),
        &format!("{PRINT_NS}; echo \"uptime=$(cut -d. -f1 /proc/uptime)\""),
    );
    for ns in ALL_NS {
        assert_eq!(value_of(&out, ns), ns_of(init, ns), "{ns} namespace\n{out}");
    }
    let me = std::process::id() as i32;
    assert_ne!(value_of(&out, "time"), ns_of(me, "time"), "{out}");
    // The time namespace's boottime offset (10 days) shows in /proc/uptime.
    let uptime: u64 = value_of(&out, "uptime").parse().unwrap();
    assert!(
        uptime >= 864000,
        "uptime {uptime} lacks the 864000 s offset\n{out}"
    );
}

#[test]
fn exec_joins_the_containers_cgroup_and_kill_all_reaches_it() {
    let rt = runtime();
    let b = sleeper();
    let (g, init) = running(&rt, &b, "exec-cg");
    let dir = tempfile::tempdir().unwrap();
    let pf = dir.path().join("exec.pid");
    rt.ok(&[
        "exec",
        "--detach",
        "--pid-file",
        path_str(&pf),
        g.id(),
        "sleep",
        "1001",
    ]);
    let pid = read_pid_file(&pf);
    assert!(alive(pid), "the detached exec'd process is not running");
    let cg = |p: i32| std::fs::read_to_string(format!("/proc/{p}/cgroup")).unwrap();
    assert_eq!(
        cg(pid),
        cg(init),
        "the exec'd process is not in the init's cgroups"
    );
    assert_ne!(cg(pid), cg(std::process::id() as i32));
    assert!(
        std::fs::read_to_string(format!("/proc/{pid}/cmdline"))
            .unwrap()
            .starts_with("sleep\u{0}1001"),
        "pid file does not name the exec'd process"
    );
    rt.ok(&["kill", "--all", g.id(), "KILL"]);
    wait_gone(pid, "the exec'd process to die from kill --all");
    wait_gone(init, "the init to die from kill --all");
}

#[test]
fn exec_processes_die_with_the_init() {
    let rt = runtime();
    let b = sleeper();
    let (g, init) = running(&rt, &b, "exec-dies");
    let dir = tempfile::tempdir().unwrap();
    let pf = dir.path().join("exec.pid");
    rt.ok(&[
        "exec",
        "-d",
        "--pid-file",
        path_str(&pf),
        g.id(),
        "sleep",
        "1002",
    ]);
    let pid = read_pid_file(&pf);
    assert!(alive(pid));
    // Only the init is signalled: the kernel kills the rest of its pid namespace.
    rt.ok(&["kill", g.id(), "KILL"]);
    wait_gone(init, "the init to die");
    wait_gone(
        pid,
        "the exec'd process to die with the pid namespace's init",
    );
}
