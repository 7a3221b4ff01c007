//! Issue 3, `linux.resources` at create on this hybrid host: every controller's files read back from the host and
//! from inside the container, errors naming the controller and file with nothing left behind, the OOM killer
//! (`run` exits 137) and a fork bomb stopped at `pids.limit`. Controllers and files that kernels of the same kind
//! may lack (blkio weights, hugetlb, net_cls/net_prio) are probed on the host: written when present, refused by
//! name when absent.

mod cgroups_support;

use cgroups_support::*;
use holm_testkit::unique_id;
use serde_json::json;

/// Every controller this host offers, in one config. The blkio weight and hugetlb are included only where the
/// kernel has their files (probed); `a_weight_is_written_or_refused_by_name` and
/// `a_hugepage_limit_is_written_or_refused_by_name` cover both cases.
#[test]
fn every_controller_is_written_at_create() {
    let rt = runtime();
    let (major, minor) = block_device();
    let weight_file = blkio_weight_file(&rt, "");
    let hugetlb = hugetlb_2mb();
    let mut block_io = json!({
        "throttleReadBpsDevice": [ { "major": major, "minor": minor, "rate": 1048576 } ],
        "throttleWriteIOPSDevice": [ { "major": major, "minor": minor, "rate": 100 } ]
    });
    if weight_file.is_some() {
        block_io["weight"] = json!(300);
    }
    let mut resources = json!({
        "memory": { "limit": 64 << 20, "reservation": 32 << 20, "swap": 128 << 20,
                    "disableOOMKiller": false, "useHierarchy": true },
        "cpu": { "shares": 512, "quota": 20000, "period": 100000, "burst": 1000, "idle": 0,
                 "cpus": "0", "mems": "0" },
        "pids": { "limit": 77 },
        "blockIO": block_io,
    });
    if hugetlb.is_some() {
        resources["hugepageLimits"] = json!([ { "pageSize": "2MB", "limit": 4 << 20 } ]);
    }
    let b = bundle("true", resources);
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
    if let Some(file) = &weight_file {
        // `blkio.bfq.weight` reads "default 300".
        let weight = cg_read("blkio", &id, file);
        assert!(weight.contains("300"), "{file}: {weight}");
    }
    assert_eq!(
        cg_read("blkio", &id, "blkio.throttle.read_bps_device"),
        format!("{major}:{minor} 1048576")
    );
    assert_eq!(
        cg_read("blkio", &id, "blkio.throttle.write_iops_device"),
        format!("{major}:{minor} 100")
    );
    if let Some((dir, file)) = hugetlb {
        assert_eq!(cg_read(dir, &id, file), (4 << 20).to_string());
        if dir == "unified" {
            // In cgroup2 the controller is enabled on the way down.
            let parent =
                std::fs::read_to_string("/sys/fs/cgroup/unified/holm/cgroup.subtree_control")
                    .unwrap();
            assert!(parent.contains("hugetlb"), "{parent}");
        }
    }
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

/// net_cls and net_prio exist only in cgroup v1: written where a v1 hierarchy carries them, else refused naming
/// the field and the controller.
#[test]
fn net_cls_and_net_prio_are_written_or_refused_by_name() {
    let rt = runtime();
    match offered("net_cls") {
        Offered::V1(mount) => {
            let b = bundle("true", json!({ "network": { "classID": 1048577 } }));
            let id = unique_id("cg-netcls");
            let _g = rt.guard(&id);
            rt.ok(&["create", "--bundle", &path_arg(&b), &id]);
            let p = mount.join("holm").join(&id).join("net_cls.classid");
            assert_eq!(std::fs::read_to_string(&p).unwrap().trim(), "1048577");
        }
        _ => create_fails(
            json!({ "network": { "classID": 1048577 } }),
            &[
                "linux.resources.network.classID",
                "`net_cls` exists only in cgroup v1",
            ],
        ),
    }
    let prio = json!({ "network": { "priorities": [ { "name": "lo", "priority": 5 } ] } });
    match offered("net_prio") {
        Offered::V1(mount) => {
            let b = bundle("true", prio);
            let id = unique_id("cg-netprio");
            let _g = rt.guard(&id);
            rt.ok(&["create", "--bundle", &path_arg(&b), &id]);
            let p = mount.join("holm").join(&id).join("net_prio.ifpriomap");
            let map = std::fs::read_to_string(&p).unwrap();
            assert!(map.lines().any(|l| l == "lo 5"), "{map}");
        }
        _ => create_fails(
            prio,
            &[
                "linux.resources.network.priorities[0]",
                "`net_prio` exists only in cgroup v1",
            ],
        ),
    }
}

/// holm does not implement the rdma controller (a deliberate difference from runc, see the README): any
/// `rdma` entry is refused by name whatever the host offers.
#[test]
fn rdma_limits_are_refused_by_name() {
    create_fails(
        json!({ "rdma": { "mlx5_0": { "hcaHandles": 3, "hcaObjects": 100 } } }),
        &["linux.resources.rdma", "rdma controller is not supported"],
    );
}

/// 2MB pages: written where the host has a hugetlb controller and 2MB pages, refused by name otherwise. A page
/// size no kernel has (3MB) is refused naming the file, or the controller when there is none.
#[test]
fn a_hugepage_limit_is_written_or_refused_by_name() {
    let rt = runtime();
    let limit = json!({ "hugepageLimits": [ { "pageSize": "2MB", "limit": 6 << 20 } ] });
    match hugetlb_2mb() {
        Some((dir, file)) => {
            let b = bundle("true", limit);
            let id = unique_id("cg-hugetlb");
            let _g = rt.guard(&id);
            rt.ok(&["create", "--bundle", &path_arg(&b), &id]);
            assert_eq!(cg_read(dir, &id, file), (6 << 20).to_string());
        }
        None => create_fails(limit, &["linux.resources.hugepageLimits[0]", "hugetlb"]),
    }
    let odd = json!({ "hugepageLimits": [ { "pageSize": "3MB", "limit": 1 << 20 } ] });
    let field = "linux.resources.hugepageLimits[0]";
    match offered("hugetlb") {
        Offered::V1(_) => create_fails(
            odd,
            &[field, "`hugetlb.3MB.limit_in_bytes`", "does not exist"],
        ),
        Offered::V2 => create_fails(odd, &[field, "`hugetlb.3MB.max`", "does not exist"]),
        Offered::No => create_fails(odd, &[field, "`hugetlb` is not available"]),
    }
}

/// The blkio weight: written to the file the kernel has (`blkio.weight` with CFQ, `blkio.bfq.weight` with BFQ),
/// refused naming the field and both files when it has neither (as runc, which fails writing the missing file).
#[test]
fn a_weight_is_written_or_refused_by_name() {
    let rt = runtime();
    let weight = json!({ "blockIO": { "weight": 300 } });
    match blkio_weight_file(&rt, "") {
        Some(file) => {
            let b = bundle("true", weight);
            let id = unique_id("cg-weight");
            let _g = rt.guard(&id);
            rt.ok(&["create", "--bundle", &path_arg(&b), &id]);
            let w = cg_read("blkio", &id, &file);
            assert!(w.contains("300"), "{file}: {w}");
        }
        None => create_fails(
            weight,
            &[
                "linux.resources.blockIO.weight",
                "`blkio.weight` or `blkio.bfq.weight` do not exist",
            ],
        ),
    }
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
    // A controller key too where cgroup2 offers one (hugetlb, if this host puts it there).
    let hugetlb_v2 = hugetlb_2mb().is_some_and(|(dir, _)| dir == "unified");
    let mut unified = json!({ "cgroup.max.descendants": "7" });
    if hugetlb_v2 {
        unified["hugetlb.2MB.max"] = json!("2097152");
    }
    let b = bundle("true", json!({ "unified": unified }));
    let id = unique_id("cg-unified");
    let _g = rt.guard(&id);
    rt.ok(&["create", "--bundle", &path_arg(&b), &id]);
    assert_eq!(cg_read("unified", &id, "cgroup.max.descendants"), "7");
    if hugetlb_v2 {
        assert_eq!(cg_read("unified", &id, "hugetlb.2MB.max"), "2097152");
    }
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

/// Per-device weights: CFQ's `blkio.weight_device` takes any disk; BFQ's `blkio.bfq.weight_device` only a disk
/// scheduled by BFQ (the kernel says "not supported" for others); without either file the field is refused by
/// name.
#[test]
fn a_per_device_weight_is_written_or_refused_by_name() {
    let rt = runtime();
    let (major, minor) = block_device();
    let resources = json!({ "blockIO": { "weightDevice": [ { "major": major, "minor": minor, "weight": 300 } ] } });
    let field = "linux.resources.blockIO.weightDevice[0].weight";
    let Some(file) = blkio_weight_file(&rt, "_device") else {
        create_fails(
            resources,
            &[
                field,
                "`blkio.weight_device` or `blkio.bfq.weight_device` do not exist",
            ],
        );
        return;
    };
    let dev = std::fs::read_dir("/sys/block")
        .unwrap()
        .filter_map(|e| e.ok())
        .find(|e| {
            std::fs::read_to_string(e.path().join("dev"))
                .is_ok_and(|d| d.trim() == format!("{major}:{minor}"))
        })
        .expect("the block device in /sys/block");
    let sched = std::fs::read_to_string(dev.path().join("queue/scheduler")).unwrap();
    if file == "blkio.weight_device" || sched.contains("[bfq]") {
        let b = bundle("true", resources);
        let id = unique_id("cg-weightdev");
        let _g = rt.guard(&id);
        rt.ok(&["create", "--bundle", &path_arg(&b), &id]);
        let w = cg_read("blkio", &id, &file);
        assert!(w.contains(&format!("{major}:{minor} 300")), "{file}: {w}");
    } else {
        create_fails(
            resources,
            &[field, "blkio.bfq.weight_device", "not supported"],
        );
    }
}
