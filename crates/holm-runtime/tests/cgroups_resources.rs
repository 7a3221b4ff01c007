//! Issue 3, `linux.resources` at create on this hybrid host: every controller's files read back from the host and
//! from inside the container, errors naming the controller and file with nothing left behind, the OOM killer
//! (`run` exits 137) and a fork bomb stopped at `pids.limit`.

mod cgroups_support;

use cgroups_support::*;
use holm_testkit::unique_id;
use serde_json::json;

#[test]
fn every_controller_is_written_at_create() {
    let rt = runtime();
    let (major, minor) = block_device();
    let b = bundle(
        "true",
        json!({
            "memory": { "limit": 64 << 20, "reservation": 32 << 20, "swap": 128 << 20,
                        "disableOOMKiller": false, "useHierarchy": true },
            "cpu": { "shares": 512, "quota": 20000, "period": 100000, "burst": 1000, "idle": 0,
                     "cpus": "0", "mems": "0" },
            "pids": { "limit": 77 },
            "blockIO": {
                "weight": 300,
                "throttleReadBpsDevice": [ { "major": major, "minor": minor, "rate": 1048576 } ],
                "throttleWriteIOPSDevice": [ { "major": major, "minor": minor, "rate": 100 } ]
            },
            "hugepageLimits": [ { "pageSize": "2MB", "limit": 4 << 20 } ]
        }),
    );
    let id = unique_id("cg-all");
    let _g = rt.guard(&id);
    rt.ok(&["create", "--bundle", &path_arg(&b), &id]);

    assert_eq!(
        cg_read("memory", &id, "memory.limit_in_bytes"),
        (64 << 20).to_string()
    );
    assert_eq!(
        cg_read("memory", &id, "memory.soft_limit_in_bytes"),
        (32 << 20).to_string()
    );
    assert_eq!(
        cg_read("memory", &id, "memory.memsw.limit_in_bytes"),
        (128 << 20).to_string()
    );
    assert!(cg_read("memory", &id, "memory.oom_control").contains("oom_kill_disable 0"));
    assert_eq!(cg_read("cpu", &id, "cpu.shares"), "512");
    assert_eq!(cg_read("cpu", &id, "cpu.cfs_quota_us"), "20000");
    assert_eq!(cg_read("cpu", &id, "cpu.cfs_period_us"), "100000");
    assert_eq!(cg_read("cpu", &id, "cpu.cfs_burst_us"), "1000");
    assert_eq!(cg_read("cpuset", &id, "cpuset.cpus"), "0");
    assert_eq!(cg_read("cpuset", &id, "cpuset.mems"), "0");
    assert_eq!(cg_read("pids", &id, "pids.max"), "77");
    // This kernel's blkio has only the BFQ weight file (no CFQ `blkio.weight`).
    let weight = cg_read("blkio", &id, "blkio.bfq.weight");
    assert!(weight.contains("300"), "blkio.bfq.weight: {weight}");
    assert_eq!(
        cg_read("blkio", &id, "blkio.throttle.read_bps_device"),
        format!("{major}:{minor} 1048576")
    );
    assert_eq!(
        cg_read("blkio", &id, "blkio.throttle.write_iops_device"),
        format!("{major}:{minor} 100")
    );
    // hugetlb is not a v1 controller here: it lives in cgroup2 and is enabled on the way down.
    assert_eq!(
        cg_read("unified", &id, "hugetlb.2MB.max"),
        (4 << 20).to_string()
    );
    let parent =
        std::fs::read_to_string("/sys/fs/cgroup/unified/holm/cgroup.subtree_control").unwrap();
    assert!(parent.contains("hugetlb"), "{parent}");
    // Devices: deny-all, then the defaults every container gets.
    let devices = cg_read("devices", &id, "devices.list");
    assert!(!devices.contains("a *:*"), "{devices}");
    for rule in [
        "c 1:3 rwm",
        "c 1:9 rwm",
        "c 136:* rwm",
        "c 5:2 rwm",
        "c *:* m",
    ] {
        assert!(
            devices.lines().any(|l| l == rule),
            "{rule} missing:\n{devices}"
        );
    }

    rt.ok(&["delete", "--force", &id]);
    assert_eq!(leftover_dirs(&id), Vec::<std::path::PathBuf>::new());
}

#[test]
fn the_container_sees_its_limits_and_devices() {
    let rt = runtime();
    let script =
        "cat /sys/fs/cgroup/memory/memory.limit_in_bytes; cat /sys/fs/cgroup/pids/pids.max; \
                  mknod /tmp/null2 c 1 3 && echo x > /tmp/null2 && echo null-ok; \
                  mknod /tmp/mem c 1 1 && head -c 1 /tmp/mem; echo mem=$?";
    let mut b = bundle(
        script,
        json!({ "memory": { "limit": 48 << 20 }, "pids": { "limit": 33 } }),
    );
    // mknod needs CAP_MKNOD; the device cgroup then decides about opening the node.
    for set in ["bounding", "effective", "permitted"] {
        b.config_mut()["process"]["capabilities"][set]
            .as_array_mut()
            .unwrap()
            .push(json!("CAP_MKNOD"));
    }
    b.write_config();
    let id = unique_id("cg-inside");
    let _g = rt.guard(&id);
    let out = rt.run(&["run", "--bundle", &path_arg(&b), &id]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.first(), Some(&"50331648"), "{}", describe(&out));
    assert_eq!(lines.get(1), Some(&"33"), "{}", describe(&out));
    assert!(text.contains("null-ok"), "{}", describe(&out));
    assert!(
        text.contains("mem=1"),
        "/dev/mem must be denied: {}",
        describe(&out)
    );
}

/// Runs `create` with `resources`, expects failure naming every word of `want`, and checks nothing is left.
fn create_fails(resources: serde_json::Value, want: &[&str]) {
    let rt = runtime();
    let b = bundle("true", resources.clone());
    let id = unique_id("cg-err");
    let _g = rt.guard(&id);
    let out = rt.fails(&["create", "--bundle", &path_arg(&b), &id]);
    let err = String::from_utf8_lossy(&out.stderr);
    for w in want {
        assert!(err.contains(w), "{resources}: `{w}` missing from: {err}");
    }
    assert_eq!(
        rt.ok(&["list", "-q"]).trim(),
        "",
        "state left behind: {resources}"
    );
    assert_eq!(
        leftover_dirs(&id),
        Vec::<std::path::PathBuf>::new(),
        "{resources}"
    );
}

#[test]
fn a_missing_controller_is_named() {
    // No net_cls hierarchy on this host, and cgroup2 has no such controller.
    create_fails(
        json!({ "network": { "classID": 1048577 } }),
        &["linux.resources.network.classID", "net_cls"],
    );
}

#[test]
fn a_missing_file_is_named() {
    create_fails(
        json!({ "hugepageLimits": [ { "pageSize": "64KB", "limit": 1 << 20 } ] }),
        &[
            "linux.resources.hugepageLimits[0]",
            "hugetlb",
            "`hugetlb.64KB.max`",
            "does not exist",
        ],
    );
}

#[test]
fn a_controller_bound_to_v1_is_refused_in_unified() {
    create_fails(
        json!({ "unified": { "memory.high": "1048576" } }),
        &["linux.resources.unified", "memory", "cgroup.controllers"],
    );
}

#[test]
fn invalid_values_are_named() {
    create_fails(
        json!({ "memory": { "swappiness": 101 } }),
        &["linux.resources.memory.swappiness", "0 to 100"],
    );
    create_fails(
        json!({ "memory": { "limit": 64 << 20, "swap": 32 << 20 } }),
        &["linux.resources.memory.swap", "below the memory limit"],
    );
    // The kernel refuses it: the write error names the value and file.
    create_fails(
        json!({ "memory": { "useHierarchy": false } }),
        &[
            "linux.resources.memory.useHierarchy",
            "memory.use_hierarchy",
            "Invalid argument",
        ],
    );
}

#[test]
fn default_values_the_host_lacks_are_accepted() {
    let rt = runtime();
    let b = bundle(
        "echo ok",
        json!({
            "network": { "classID": 0 },
            "memory": { "limit": -1, "disableOOMKiller": false, "useHierarchy": true },
            "pids": { "limit": -1 },
            "unified": { "cgroup.max.descendants": "10" }
        }),
    );
    let id = unique_id("cg-defaults");
    let _g = rt.guard(&id);
    let out = rt.run(&["run", "--bundle", &path_arg(&b), &id]);
    assert!(out.status.success(), "{}", describe(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "ok");
}

#[test]
fn unified_core_keys_are_written_to_cgroup2() {
    let rt = runtime();
    let b = bundle(
        "true",
        json!({ "unified": { "cgroup.max.descendants": "7", "hugetlb.2MB.max": "2097152" } }),
    );
    let id = unique_id("cg-unified");
    let _g = rt.guard(&id);
    rt.ok(&["create", "--bundle", &path_arg(&b), &id]);
    assert_eq!(cg_read("unified", &id, "cgroup.max.descendants"), "7");
    assert_eq!(cg_read("unified", &id, "hugetlb.2MB.max"), "2097152");
}

#[test]
fn exceeding_the_memory_limit_is_oom_killed_and_run_exits_137() {
    let rt = runtime();
    // The shell itself grows to 100 MiB under a 32 MiB limit (no swap on this host).
    let b = bundle(
        "x=$(head -c 104857600 /dev/zero | tr '\\0' a); echo survived ${#x}",
        json!({ "memory": { "limit": 32 << 20 } }),
    );
    let id = unique_id("cg-oom");
    let _g = rt.guard(&id);
    let out = rt.run(&["run", "--bundle", &path_arg(&b), &id]);
    assert_eq!(out.status.code(), Some(137), "{}", describe(&out));
    assert!(!String::from_utf8_lossy(&out.stdout).contains("survived"));
    assert_eq!(leftover_dirs(&id), Vec::<std::path::PathBuf>::new());
}

#[test]
fn a_fork_bomb_stops_at_the_pids_limit() {
    let rt = runtime();
    // 200 forks in a bounded loop (a real bomb would hurt the host if the limit were missing); most must fail.
    let script = "i=0; while [ $i -lt 200 ]; do (sleep 30 &) 2>/dev/null; i=$((i+1)); done; \
                  echo current=$(cat /sys/fs/cgroup/pids/pids.current); \
                  grep max /sys/fs/cgroup/pids/pids.events";
    let b = bundle(script, json!({ "pids": { "limit": 20 } }));
    let id = unique_id("cg-forkbomb");
    let _g = rt.guard(&id);
    let out = rt.run(&["run", "--bundle", &path_arg(&b), &id]);
    assert!(out.status.success(), "{}", describe(&out));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let current: u32 = text
        .lines()
        .find_map(|l| l.strip_prefix("current="))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("{}", describe(&out)));
    assert!(
        (2..=20).contains(&current),
        "pids.current {current}\n{text}"
    );
    let failed: u32 = text
        .lines()
        .find_map(|l| l.strip_prefix("max "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("{}", describe(&out)));
    assert!(failed > 0, "no fork hit pids.max\n{text}");
}

#[test]
fn a_per_device_weight_is_written_or_refused_by_name() {
    let rt = runtime();
    let (major, minor) = block_device();
    let b = bundle(
        "true",
        json!({ "blockIO": { "weightDevice": [ { "major": major, "minor": minor, "weight": 300 } ] } }),
    );
    let id = unique_id("cg-weightdev");
    let _g = rt.guard(&id);
    // Per-device weights work only for a disk scheduled by BFQ (this kernel has no CFQ).
    let dev = std::fs::read_dir("/sys/block")
        .unwrap()
        .filter_map(|e| e.ok())
        .find(|e| {
            std::fs::read_to_string(e.path().join("dev"))
                .is_ok_and(|d| d.trim() == format!("{major}:{minor}"))
        })
        .expect("the block device in /sys/block");
    let sched = std::fs::read_to_string(dev.path().join("queue/scheduler")).unwrap();
    let out = rt.run(&["create", "--bundle", &path_arg(&b), &id]);
    if sched.contains("[bfq]") {
        assert!(out.status.success(), "{}", describe(&out));
        let w = cg_read("blkio", &id, "blkio.bfq.weight_device");
        assert!(w.contains(&format!("{major}:{minor} 300")), "{w}");
    } else {
        assert!(!out.status.success(), "{}", describe(&out));
        let err = String::from_utf8_lossy(&out.stderr);
        for want in [
            "linux.resources.blockIO.weightDevice[0].weight",
            "blkio.bfq.weight_device",
            "not supported",
        ] {
            assert!(err.contains(want), "`{want}` missing from {err}");
        }
        assert_eq!(leftover_dirs(&id), Vec::<std::path::PathBuf>::new());
    }
}
