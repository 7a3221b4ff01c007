//! Issue 2, namespaces: what a busybox container sees of its pid, network, ipc, uts, mount,
//! cgroup, user and time namespaces, created new or joined by `path`, compared with the host's
//! `/proc/self/ns/*`.

mod isolation_support;

use std::time::Duration;

use holm_testkit::{unique_id, wait_until, Bundle};
use isolation_support::*;
use serde_json::json;

/// Prints `<ns>=<readlink /proc/self/ns/<ns>>` for every namespace kind.
const PRINT_NS: &str = "for n in pid net ipc uts mnt cgroup user time; do \
                        echo \"$n=$(readlink /proc/self/ns/$n)\"; done";

const ALL_NS: [&str; 8] = ["pid", "net", "ipc", "uts", "mnt", "cgroup", "user", "time"];

/// Interface names listed in a `/proc/net/dev` text.
fn interfaces(net_dev: &str) -> Vec<String> {
    let mut v: Vec<String> = net_dev
        .lines()
        .skip(2)
        .filter_map(|l| l.split(':').next())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect();
    v.sort();
    v
}

#[test]
fn new_namespaces_differ_from_the_host() {
    let rt = runtime();
    let mut b = Bundle::busybox();
    let script = format!(
        "{PRINT_NS}; echo \"self=$$\"; echo \"init=$(cat /proc/1/comm)\"; \
         echo \"procs=$(ls /proc | grep -c '^[0-9]')\"; \
         echo '--- net'; cat /proc/net/dev; echo '--- cgroup'; cat /proc/self/cgroup"
    );
    let out = run_script(&rt, &mut b, "ns-new", &script);
    // The default config asks for new pid, network, ipc, uts, mount and cgroup namespaces.
    for ns in ["pid", "net", "ipc", "uts", "mnt", "cgroup"] {
        let inside = value_of(&out, ns);
        assert!(
            inside.starts_with(&format!("{ns}:[")),
            "{ns}: {inside}\n{out}"
        );
        assert_ne!(inside, host_ns(ns), "{ns} namespace must be new\n{out}");
    }
    // Not requested: shared with the host.
    for ns in ["user", "time"] {
        assert_eq!(
            value_of(&out, ns),
            host_ns(ns),
            "{ns} must be the host's\n{out}"
        );
    }
    assert_eq!(value_of(&out, "self"), "1", "the process is pid 1\n{out}");
    assert_eq!(value_of(&out, "init"), "sh", "{out}");
    // sh, the command substitution's subshell, ls and grep.
    let procs: u32 = value_of(&out, "procs").parse().unwrap();
    assert!(
        procs <= 6,
        "only the container's few processes are visible: {procs}\n{out}"
    );

    let net = out
        .split("--- net\n")
        .nth(1)
        .unwrap()
        .split("--- cgroup")
        .next()
        .unwrap();
    assert_eq!(interfaces(net), ["lo"], "a new netns has only lo\n{out}");

    let cgroup = out.split("--- cgroup\n").nth(1).unwrap();
    assert!(!cgroup.trim().is_empty(), "{out}");
    for line in cgroup.lines() {
        assert!(
            line.ends_with(":/"),
            "with a cgroup namespace every hierarchy shows `/`: {line}\n{out}"
        );
    }
}

#[test]
fn namespaces_not_requested_are_the_hosts() {
    let rt = runtime();
    let mut b = Bundle::busybox();
    // Only a mount namespace (required); no hostname (it needs a uts namespace).
    *namespaces(&mut b) = vec![json!({ "type": "mount" })];
    b.config_mut().as_object_mut().unwrap().remove("hostname");
    let script = format!("{PRINT_NS}; echo \"self=$$\"; echo '--- net'; cat /proc/net/dev");
    let out = run_script(&rt, &mut b, "ns-shared", &script);
    for ns in ["pid", "net", "ipc", "uts", "cgroup", "user", "time"] {
        assert_eq!(
            value_of(&out, ns),
            host_ns(ns),
            "{ns} must be the host's\n{out}"
        );
    }
    assert_ne!(value_of(&out, "mnt"), host_ns("mnt"), "{out}");
    assert_ne!(
        value_of(&out, "self"),
        "1",
        "no pid namespace: not pid 1\n{out}"
    );
    let net = out.split("--- net\n").nth(1).unwrap();
    let host_net = std::fs::read_to_string("/proc/net/dev").unwrap();
    assert_eq!(interfaces(net), interfaces(&host_net), "{out}");
}

#[test]
fn hostname_and_domainname_in_a_new_uts_namespace() {
    let rt = runtime();
    let host_name = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    let host_domain = std::fs::read_to_string("/proc/sys/kernel/domainname").unwrap();
    let mut b = Bundle::busybox();
    b.config_mut()["hostname"] = json!("holm-uts-test");
    b.config_mut()["domainname"] = json!("holm.example");
    let out = run_script(
        &rt,
        &mut b,
        "uts",
        "echo \"hostname=$(hostname)\"; echo \"uname=$(uname -n)\"; \
         echo \"domain=$(cat /proc/sys/kernel/domainname)\"",
    );
    assert_eq!(value_of(&out, "hostname"), "holm-uts-test", "{out}");
    assert_eq!(value_of(&out, "uname"), "holm-uts-test", "{out}");
    assert_eq!(value_of(&out, "domain"), "holm.example", "{out}");
    assert_eq!(
        std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap(),
        host_name
    );
    assert_eq!(
        std::fs::read_to_string("/proc/sys/kernel/domainname").unwrap(),
        host_domain
    );
}

fn userns_bundle(host_id: u32) -> Bundle {
    let mut b = Bundle::busybox();
    set_ns(&mut b, "user", None);
    let map = json!([{ "containerID": 0, "hostID": host_id, "size": 65536 }]);
    b.config_mut()["linux"]["uidMappings"] = map.clone();
    b.config_mut()["linux"]["gidMappings"] = map;
    b.chown_rootfs(host_id, host_id);
    b.write_config();
    b
}

#[test]
fn user_namespace_with_mappings() {
    let rt = runtime();
    let mut b = userns_bundle(100000);
    let script = format!(
        "{PRINT_NS}; echo \"id=$(id)\"; echo \"uid_map=$(cat /proc/self/uid_map)\"; \
         echo \"gid_map=$(cat /proc/self/gid_map)\"; \
         touch /tmp/f && echo \"owner=$(stat -c %u:%g /tmp/f)\""
    );
    let out = run_script(&rt, &mut b, "userns", &script);
    assert_ne!(value_of(&out, "user"), host_ns("user"), "{out}");
    assert!(
        value_of(&out, "id").starts_with("uid=0(root) gid=0(root)"),
        "{out}"
    );
    let uid_map: Vec<String> = value_of(&out, "uid_map")
        .split_whitespace()
        .map(String::from)
        .collect();
    assert_eq!(uid_map, ["0", "100000", "65536"], "{out}");
    let gid_map: Vec<String> = value_of(&out, "gid_map")
        .split_whitespace()
        .map(String::from)
        .collect();
    assert_eq!(gid_map, ["0", "100000", "65536"], "{out}");
    assert_eq!(value_of(&out, "owner"), "0:0", "{out}");
    // The file the container's root made belongs to host uid 100000.
    use std::os::unix::fs::MetadataExt;
    let md = std::fs::metadata(b.rootfs().join("tmp/f")).unwrap();
    assert_eq!((md.uid(), md.gid()), (100000, 100000));

    // Seen from the host, the container's init runs as uid/gid 100000.
    set_script(&mut b, "sleep 1000");
    b.write_config();
    let id = unique_id("userns-host");
    let _guard = rt.guard(&id);
    rt.ok(&[
        "run",
        "--detach",
        "--bundle",
        b.path().to_str().unwrap(),
        &id,
    ]);
    let pid = rt.state(&id)["pid"].as_i64().unwrap();
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let uids: Vec<String> = status_field(&status, "Uid")
        .split_whitespace()
        .map(String::from)
        .collect();
    assert_eq!(uids, ["100000"; 4], "{status}");
    let gids: Vec<String> = status_field(&status, "Gid")
        .split_whitespace()
        .map(String::from)
        .collect();
    assert_eq!(gids, ["100000"; 4], "{status}");
    rt.ok(&["delete", "--force", &id]);
}

#[test]
fn time_namespace_with_offsets() {
    let rt = runtime();
    let mut b = Bundle::busybox();
    set_ns(&mut b, "time", None);
    b.config_mut()["linux"]["timeOffsets"] = json!({
        "monotonic": { "secs": 864000, "nanosecs": 0 },
        "boottime": { "secs": 1728000, "nanosecs": 0 }
    });
    let uptime = || -> f64 {
        std::fs::read_to_string("/proc/uptime")
            .unwrap()
            .split_whitespace()
            .next()
            .unwrap()
            .parse()
            .unwrap()
    };
    let before = uptime();
    let script = format!(
        "{PRINT_NS}; echo \"uptime=$(cut -d' ' -f1 /proc/uptime)\"; echo '--- offsets'; \
         cat /proc/self/timens_offsets"
    );
    let out = run_script(&rt, &mut b, "timens", &script);
    let after = uptime();
    assert_ne!(value_of(&out, "time"), host_ns("time"), "{out}");
    let inside: f64 = value_of(&out, "uptime").parse().unwrap();
    assert!(
        inside >= before + 1728000.0 - 1.0 && inside <= after + 1728000.0 + 1.0,
        "uptime inside {inside}, host {before}..{after}, boottime offset 1728000\n{out}"
    );
    let offsets: Vec<Vec<String>> = out
        .split("--- offsets\n")
        .nth(1)
        .unwrap()
        .lines()
        .map(|l| l.split_whitespace().map(String::from).collect())
        .collect();
    assert!(
        offsets.contains(&vec!["monotonic".into(), "864000".into(), "0".into()]),
        "{out}"
    );
    assert!(
        offsets.contains(&vec!["boottime".into(), "1728000".into(), "0".into()]),
        "{out}"
    );
}

#[test]
fn joining_namespaces_by_path() {
    let rt = runtime();
    // Container A: default namespaces, hostname `holm`, a sleeping init.
    let mut a = Bundle::busybox();
    a.config_mut()["hostname"] = json!("holm-owner");
    a.set_args(&["sleep", "1000"]);
    let a_id = unique_id("ns-owner");
    let _a_guard = rt.guard(&a_id);
    rt.ok(&[
        "run",
        "--detach",
        "--bundle",
        a.path().to_str().unwrap(),
        &a_id,
    ]);
    let pid = rt.state(&a_id)["pid"].as_i64().unwrap().to_string();

    // Container B joins A's network, ipc, uts, pid and cgroup namespaces and has its own mount ns.
    let mut b = Bundle::busybox();
    b.config_mut().as_object_mut().unwrap().remove("hostname");
    let mut list = vec![json!({ "type": "mount" })];
    for (typ, name) in [
        ("network", "net"),
        ("ipc", "ipc"),
        ("uts", "uts"),
        ("pid", "pid"),
        ("cgroup", "cgroup"),
    ] {
        list.push(json!({ "type": typ, "path": format!("/proc/{pid}/ns/{name}") }));
    }
    *namespaces(&mut b) = list;
    let script = format!(
        "{PRINT_NS}; echo \"hostname=$(hostname)\"; echo \"one=$(cat /proc/1/comm)\"; \
         echo \"self=$$\"; echo '--- net'; cat /proc/net/dev"
    );
    let out = run_script(&rt, &mut b, "ns-joiner", &script);
    for ns in ["net", "ipc", "uts", "pid", "cgroup"] {
        assert_eq!(
            value_of(&out, ns),
            ns_of(&pid, ns),
            "{ns} must be container A's\n{out}"
        );
        assert_ne!(value_of(&out, ns), host_ns(ns), "{ns}\n{out}");
    }
    assert_ne!(
        value_of(&out, "mnt"),
        ns_of(&pid, "mnt"),
        "own mount namespace\n{out}"
    );
    assert_ne!(value_of(&out, "mnt"), host_ns("mnt"), "{out}");
    assert_eq!(
        value_of(&out, "hostname"),
        "holm-owner",
        "A's uts namespace\n{out}"
    );
    assert_eq!(value_of(&out, "one"), "sleep", "pid 1 is A's init\n{out}");
    assert_ne!(value_of(&out, "self"), "1", "{out}");
    let net = out.split("--- net\n").nth(1).unwrap();
    assert_eq!(interfaces(net), ["lo"], "{out}");
    // B is gone, A still runs.
    assert_eq!(rt.state(&a_id)["status"], "running");
    rt.ok(&["delete", "--force", &a_id]);
}

#[test]
fn joining_a_user_namespace_by_path() {
    let rt = runtime();
    let a = {
        let mut a = userns_bundle(200000);
        a.set_args(&["sleep", "1000"]);
        a
    };
    let a_id = unique_id("userns-owner");
    let _a_guard = rt.guard(&a_id);
    rt.ok(&[
        "run",
        "--detach",
        "--bundle",
        a.path().to_str().unwrap(),
        &a_id,
    ]);
    let pid = rt.state(&a_id)["pid"].as_i64().unwrap().to_string();

    // B joins A's user and network namespaces; the others are new (and owned by A's userns).
    let mut b = Bundle::busybox();
    b.chown_rootfs(200000, 200000);
    set_ns(&mut b, "user", Some(&format!("/proc/{pid}/ns/user")));
    set_ns(&mut b, "network", Some(&format!("/proc/{pid}/ns/net")));
    let script = format!(
        "{PRINT_NS}; echo \"id=$(id -u):$(id -g)\"; echo \"uid_map=$(cat /proc/self/uid_map)\""
    );
    let out = run_script(&rt, &mut b, "userns-joiner", &script);
    assert_eq!(value_of(&out, "user"), ns_of(&pid, "user"), "{out}");
    assert_eq!(value_of(&out, "net"), ns_of(&pid, "net"), "{out}");
    for ns in ["pid", "ipc", "uts", "mnt", "cgroup"] {
        assert_ne!(value_of(&out, ns), ns_of(&pid, ns), "{ns}\n{out}");
        assert_ne!(value_of(&out, ns), host_ns(ns), "{ns}\n{out}");
    }
    assert_eq!(value_of(&out, "id"), "0:0", "{out}");
    let uid_map: Vec<String> = value_of(&out, "uid_map")
        .split_whitespace()
        .map(String::from)
        .collect();
    assert_eq!(uid_map, ["0", "200000", "65536"], "{out}");
    rt.ok(&["delete", "--force", &a_id]);
    wait_until(
        Duration::from_secs(10),
        "container A's init to be gone",
        || !holm_testkit::process_exists(pid.parse().unwrap()),
    );
}

#[test]
fn all_namespace_kinds_can_be_new_at_once() {
    let rt = runtime();
    let mut b = userns_bundle(300000);
    set_ns(&mut b, "time", None);
    let out = run_script(&rt, &mut b, "ns-all", PRINT_NS);
    for ns in ALL_NS {
        assert_ne!(value_of(&out, ns), host_ns(ns), "{ns} must be new\n{out}");
    }
}
