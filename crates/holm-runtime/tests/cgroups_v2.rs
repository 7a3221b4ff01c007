//! Issue 3 on a cgroup v2 host: the runtime runs in a private mount namespace where the only cgroup mount is
//! cgroup2 ([`cgroups_support::v2_runtime`]). This machine's unified hierarchy offers at most `hugetlb` (probed),
//! so these tests cover what v2 does for real here: the eBPF device filter, `hugetlb.<size>.max`, `unified` keys, the
//! `cgroup.freeze` freezer, and clear errors for controllers cgroup2 does not offer. The v1→v2 value conversions
//! (cpu.weight, io.weight, memory.swap.max) are unit-tested in holm-cgroups and run against a fake v2 tree in
//! `crates/cgroups/tests/resources_fake_v2.rs`.

mod cgroups_support;

use std::time::{Duration, Instant};

use cgroups_support::*;
use holm_testkit::{unique_id, Bundle};
use serde_json::json;

#[test]
fn the_runtime_sees_a_cgroup2_only_host() {
    let rt = v2_runtime();
    let b = bundle("cat /proc/self/cgroup", json!({}));
    let id = unique_id("cg2-layout");
    let _g = rt.guard(&id);
    let out = rt.run(&["run", "--bundle", &path_arg(&b), &id]);
    assert!(out.status.success(), "{}", describe(&out));
    // Only the v2 line is the container's own cgroup; v1 hierarchies were not joined (they are invisible).
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(text.lines().any(|l| l == "0::/"), "{text}");
}

#[test]
fn devices_are_filtered_by_an_ebpf_program() {
    let rt = v2_runtime();
    let script = "echo x > /dev/null && echo null-ok; head -c 3 /dev/zero | od -An -c; \
                  mknod /tmp/mem c 1 1 && head -c 1 /tmp/mem; echo mem=$?; \
                  mknod /tmp/null2 c 1 3 && echo y > /tmp/null2 && echo null2-ok";
    let mut b = bundle(script, json!({}));
    for set in ["bounding", "effective", "permitted"] {
        b.config_mut()["process"]["capabilities"][set]
            .as_array_mut()
            .unwrap()
            .push(json!("CAP_MKNOD"));
    }
    b.write_config();
    let id = unique_id("cg2-devices");
    let _g = rt.guard(&id);
    let out = rt.run(&["run", "--bundle", &path_arg(&b), &id]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(text.contains("null-ok"), "{}", describe(&out));
    assert!(
        text.contains("\\0  \\0  \\0"),
        "/dev/zero must be readable: {}",
        describe(&out)
    );
    assert!(text.contains("null2-ok"), "{}", describe(&out));
    // The v1 devices cgroup is not involved here (the container stays in the v1 root): only the program denies.
    assert!(
        text.contains("mem=1"),
        "/dev/mem must be denied: {}",
        describe(&out)
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("Operation not permitted"),
        "{}",
        describe(&out)
    );
}

#[test]
fn a_device_rule_in_the_config_is_enforced() {
    let rt = v2_runtime();
    // Allow writing (not reading) /dev/kmsg (1:11) on top of the defaults; /dev/kmsg needs no capability for
    // a write-only open, and an empty write logs nothing. 1:11 twice: the second node is denied (no rule).
    let script = "mknod /tmp/kmsg c 1 11; printf '' > /tmp/kmsg && echo write-ok; head -c 0 /tmp/kmsg; echo read=$?; \
                  mknod /tmp/port c 1 4; printf '' > /tmp/port; echo port=$?";
    let mut b = bundle(
        script,
        json!({ "devices": [
            { "allow": false, "access": "rwm" },
            { "allow": true, "type": "c", "major": 1, "minor": 11, "access": "w" }
        ] }),
    );
    for set in ["bounding", "effective", "permitted"] {
        b.config_mut()["process"]["capabilities"][set]
            .as_array_mut()
            .unwrap()
            .push(json!("CAP_MKNOD"));
    }
    b.write_config();
    let id = unique_id("cg2-devrule");
    let _g = rt.guard(&id);
    let out = rt.run(&["run", "--bundle", &path_arg(&b), &id]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(text.contains("write-ok"), "{}", describe(&out));
    assert!(text.contains("read=1"), "{}", describe(&out));
    assert!(text.contains("port=1"), "{}", describe(&out));
}

/// `unified` keys always; a 2MB hugetlb limit where this host's cgroup2 offers hugetlb and the kernel has 2MB
/// pages (probed), else that limit is refused naming the field and controller.
#[test]
fn hugetlb_and_unified_keys_are_written() {
    let rt = v2_runtime();
    let hugetlb_v2 = hugetlb_2mb().is_some_and(|(dir, _)| dir == "unified");
    let huge = json!([ { "pageSize": "2MB", "limit": 6 << 20 } ]);
    if !hugetlb_v2 {
        let b = bundle("true", json!({ "hugepageLimits": huge }));
        let id = unique_id("cg2-hugetlb-no");
        let _g = rt.guard(&id);
        let out = rt.fails(&["create", "--bundle", &path_arg(&b), &id]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("linux.resources.hugepageLimits[0]") && err.contains("hugetlb"),
            "{err}"
        );
        assert!(!v2_dir(&id).exists());
    }
    let mut resources = json!({ "unified": { "cgroup.max.depth": "3" } });
    if hugetlb_v2 {
        resources["hugepageLimits"] = huge;
    }
    let b = bundle("true", resources);
    let id = unique_id("cg2-hugetlb");
    let _g = rt.guard(&id);
    rt.ok(&["create", "--bundle", &path_arg(&b), &id]);
    let dir = v2_dir(&id);
    let read = |f: &str| {
        std::fs::read_to_string(dir.join(f))
            .unwrap()
            .trim()
            .to_string()
    };
    if hugetlb_v2 {
        assert_eq!(read("hugetlb.2MB.max"), (6 << 20).to_string());
        // The reservation limit exists on newer kernels only; written where it does.
        if dir.join("hugetlb.2MB.rsvd.max").exists() {
            assert_eq!(read("hugetlb.2MB.rsvd.max"), (6 << 20).to_string());
        }
    }
    assert_eq!(read("cgroup.max.depth"), "3");
    rt.ok(&["delete", "--force", &id]);
    assert!(!dir.exists());
}

#[test]
fn controllers_cgroup2_does_not_offer_are_named() {
    let rt = v2_runtime();
    for (resources, want) in [
        (
            json!({ "memory": { "limit": 64 << 20 } }),
            ["linux.resources.memory.limit", "`memory`"],
        ),
        (
            json!({ "cpu": { "shares": 512 } }),
            ["linux.resources.cpu.shares", "`cpu`"],
        ),
        (
            json!({ "pids": { "limit": 10 } }),
            ["linux.resources.pids.limit", "`pids`"],
        ),
        // runtime-spec 1.3: 0 is a real limit (no new tasks), not "unset".
        (
            json!({ "pids": { "limit": 0 } }),
            ["linux.resources.pids.limit", "`pids`"],
        ),
        (
            json!({ "network": { "classID": 7 } }),
            ["linux.resources.network.classID", "net_cls"],
        ),
        (
            json!({ "memory": { "swappiness": 10 } }),
            ["linux.resources.memory.swappiness", "memory"],
        ),
    ] {
        let b = bundle("true", resources.clone());
        let id = unique_id("cg2-missing");
        let _g = rt.guard(&id);
        let out = rt.fails(&["create", "--bundle", &path_arg(&b), &id]);
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        for w in want {
            assert!(err.contains(w), "{resources}: `{w}` missing from {err}");
        }
        assert!(!v2_dir(&id).exists(), "{resources}: cgroup left behind");
        assert_eq!(rt.ok(&["list", "-q"]).trim(), "");
    }
    // Defaults are fine even without the controller.
    let b = bundle(
        "true",
        json!({ "memory": { "limit": -1, "disableOOMKiller": false }, "pids": { "limit": -1 } }),
    );
    let id = unique_id("cg2-defaults");
    let _g = rt.guard(&id);
    let out = rt.run(&["run", "--bundle", &path_arg(&b), &id]);
    assert!(out.status.success(), "{}", describe(&out));
}

#[test]
fn pause_and_resume_use_cgroup_freeze() {
    let rt = v2_runtime();
    let mut b = Bundle::busybox();
    let id = unique_id("cg2-pause");
    let _g = rt.guard(&id);
    let count = run_counter(&rt, &mut b, &id);
    rt.ok(&["pause", &id]);
    assert_eq!(status(&rt, &id), "paused");
    let dir = v2_dir(&id);
    assert_eq!(
        std::fs::read_to_string(dir.join("cgroup.freeze"))
            .unwrap()
            .trim(),
        "1"
    );
    assert!(std::fs::read_to_string(dir.join("cgroup.events"))
        .unwrap()
        .contains("frozen 1"));
    let at = read_count(&count);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(read_count(&count), at, "the counter moved while paused");
    rt.ok(&["resume", &id]);
    assert_eq!(status(&rt, &id), "running");
    holm_testkit::wait_until(Duration::from_secs(5), "the counter to move on", || {
        read_count(&count) > at
    });

    // Kill while paused, then force-delete: done within seconds, nothing left.
    rt.ok(&["pause", &id]);
    let start = Instant::now();
    rt.ok(&["kill", &id, "KILL"]);
    rt.ok(&["delete", "--force", &id]);
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "took {:?}",
        start.elapsed()
    );
    assert!(!dir.exists());
}

#[test]
fn kill_all_signals_every_process_of_the_cgroup() {
    let rt = v2_runtime();
    let mut b = Bundle::busybox();
    // Without a pid namespace, killing the init does not take its children with it.
    b.config_mut()["linux"]["namespaces"]
        .as_array_mut()
        .unwrap()
        .retain(|n| n["type"] != "pid");
    b.config_mut()["process"]["args"] = json!(["sh", "-c", "sleep 1000 & sleep 1000 & wait"]);
    b.write_config();
    let id = unique_id("cg2-killall");
    let _g = rt.guard(&id);
    rt.ok(&["run", "--detach", "--bundle", &path_arg(&b), &id]);
    let procs = v2_dir(&id).join("cgroup.procs");
    let pids = || {
        std::fs::read_to_string(&procs)
            .unwrap_or_default()
            .lines()
            .count()
    };
    holm_testkit::wait_until(Duration::from_secs(5), "three processes", || pids() == 3);
    rt.ok(&["kill", "--all", &id, "KILL"]);
    holm_testkit::wait_until(Duration::from_secs(5), "the cgroup to empty", || {
        pids() == 0
    });
    rt.ok(&["delete", &id]);
    assert!(!v2_dir(&id).exists());
}
