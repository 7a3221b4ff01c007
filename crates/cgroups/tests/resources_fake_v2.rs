//! The v2 resource writers end to end against a fake cgroup2 tree in a temporary directory (this host's real
//! cgroup2 offers only `hugetlb`; its memory, cpu, io and pids controllers are bound to v1 hierarchies). The
//! engine sees a v2 hierarchy mounted at the temporary directory, offering every controller; control files are
//! plain files made beforehand, so what the engine wrote can be read back. Needs no privileges.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use holm_cgroups::{parse_proc_cgroup, Cgroup, DevId, Hierarchies, HierarchyInfo, HierarchyKind};
use oci_spec::runtime::LinuxResources;

const FILES: [&str; 16] = [
    "cgroup.subtree_control",
    "memory.max",
    "memory.swap.max",
    "memory.low",
    "cpu.weight",
    "cpu.max",
    "cpu.max.burst",
    "cpu.idle",
    "cpuset.cpus",
    "cpuset.mems",
    "pids.max",
    "io.weight",
    "io.max",
    "hugetlb.2MB.max",
    "cgroup.max.depth",
    "cgroup.freeze",
];

/// A fake v2 hierarchy at a temporary directory with the container's cgroup `/holm/c1` and its files.
fn fake_v2(extra_files: &[&str]) -> (tempfile::TempDir, Cgroup) {
    let root = tempfile::tempdir().unwrap();
    let dev = fs::metadata(root.path()).unwrap().dev();
    let h = HierarchyInfo::new(
        HierarchyKind::V2,
        root.path().to_path_buf(),
        "/".into(),
        DevId::from_dev_t(dev),
    );
    let hier = Hierarchies::from_parts(vec![h], &parse_proc_cgroup("0::/\n").unwrap()).unwrap();
    let cg = Cgroup::resolve(&hier, Some("/holm/c1"), "c1").unwrap();
    cg.create().unwrap();
    fs::write(
        root.path().join("cgroup.controllers"),
        "cpuset cpu io memory hugetlb pids\n",
    )
    .unwrap();
    fs::write(root.path().join("cgroup.subtree_control"), "").unwrap();
    fs::write(root.path().join("holm/cgroup.subtree_control"), "").unwrap();
    let dir = root.path().join("holm/c1");
    for f in FILES.iter().chain(extra_files) {
        fs::write(dir.join(f), "").unwrap();
    }
    (root, cg)
}

fn read(root: &Path, file: &str) -> String {
    fs::read_to_string(root.join("holm/c1").join(file)).unwrap()
}

fn resources(json: &str) -> LinuxResources {
    serde_json::from_str(json).unwrap()
}

#[test]
fn every_v2_file_gets_its_converted_value() {
    let (root, cg) = fake_v2(&[]);
    cg.apply(&resources(
        r#"{
            "memory": { "limit": 536870912, "swap": 1073741824, "reservation": 268435456 },
            "cpu": { "shares": 1024, "quota": 50000, "period": 100000, "burst": 1000, "idle": 1,
                     "cpus": "0-1", "mems": "0" },
            "pids": { "limit": 99 },
            "blockIO": { "weight": 500, "throttleWriteBpsDevice": [ { "major": 8, "minor": 0, "rate": 4096 } ] },
            "hugepageLimits": [ { "pageSize": "2MB", "limit": 4194304 } ],
            "unified": { "cgroup.max.depth": "4" }
        }"#,
    ))
    .unwrap();
    let r = |f| read(root.path(), f);
    assert_eq!(r("memory.max"), "536870912");
    // OCI swap is memory+swap; v2 memory.swap.max is swap alone.
    assert_eq!(r("memory.swap.max"), "536870912");
    assert_eq!(r("memory.low"), "268435456");
    assert_eq!(r("cpu.weight"), "39");
    assert_eq!(r("cpu.max"), "50000 100000");
    assert_eq!(r("cpu.max.burst"), "1000");
    assert_eq!(r("cpu.idle"), "1");
    assert_eq!(r("cpuset.cpus"), "0-1");
    assert_eq!(r("cpuset.mems"), "0");
    assert_eq!(r("pids.max"), "99");
    assert_eq!(r("io.weight"), "4950");
    assert_eq!(r("io.max"), "8:0 wbps=4096");
    assert_eq!(r("hugetlb.2MB.max"), "4194304");
    assert_eq!(r("cgroup.max.depth"), "4");
    // Controllers are enabled from the top down (a plain file keeps only the last write).
    let top = fs::read_to_string(root.path().join("cgroup.subtree_control")).unwrap();
    assert!(top.starts_with('+'), "{top}");
}

#[test]
fn unlimited_values_are_max_and_swap_equal_to_limit_is_zero() {
    let (root, cg) = fake_v2(&[]);
    cg.apply(&resources(r#"{ "memory": { "limit": 536870912, "swap": 536870912 }, "pids": { "limit": -1 }, "cpu": { "quota": -1 } }"#))
        .unwrap();
    assert_eq!(read(root.path(), "memory.swap.max"), "0");
    assert_eq!(read(root.path(), "pids.max"), "max");
    assert_eq!(read(root.path(), "cpu.max"), "max");

    let (root, cg) = fake_v2(&[]);
    cg.apply(&resources(r#"{ "memory": { "limit": -1 } }"#))
        .unwrap();
    assert_eq!(read(root.path(), "memory.max"), "max");
    assert_eq!(read(root.path(), "memory.swap.max"), "max");
}

#[test]
fn swap_alone_uses_the_current_memory_limit() {
    let (root, cg) = fake_v2(&[]);
    fs::write(root.path().join("holm/c1/memory.max"), "268435456\n").unwrap();
    cg.apply(&resources(r#"{ "memory": { "swap": 536870912 } }"#))
        .unwrap();
    assert_eq!(read(root.path(), "memory.swap.max"), "268435456");

    // Without a limit, a swap limit cannot be expressed in v2: an error, nothing written.
    let (root, cg) = fake_v2(&[]);
    fs::write(root.path().join("holm/c1/memory.max"), "max\n").unwrap();
    let err = cg
        .apply(&resources(r#"{ "memory": { "swap": 536870912 } }"#))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("linux.resources.memory.swap") && err.contains("memory limit"),
        "{err}"
    );
    assert_eq!(read(root.path(), "memory.swap.max"), "");
}

#[test]
fn bfq_weight_is_preferred_when_present() {
    let (root, cg) = fake_v2(&["io.bfq.weight"]);
    cg.apply(&resources(r#"{ "blockIO": { "weight": 500 } }"#))
        .unwrap();
    assert_eq!(read(root.path(), "io.bfq.weight"), "500");
    assert_eq!(read(root.path(), "io.weight"), "");
}

#[test]
fn v1_only_settings_are_refused_unless_default() {
    let (_root, cg) = fake_v2(&[]);
    for (json, field) in [
        (r#"{ "memory": { "swappiness": 30 } }"#, "memory.swappiness"),
        (r#"{ "memory": { "kernel": 1048576 } }"#, "memory.kernel"),
        (
            r#"{ "memory": { "disableOOMKiller": true } }"#,
            "memory.disableOOMKiller",
        ),
        (
            r#"{ "cpu": { "realtimeRuntime": 1000 } }"#,
            "cpu.realtimeRuntime",
        ),
        (
            r#"{ "blockIO": { "leafWeight": 100 } }"#,
            "blockIO.leafWeight",
        ),
        (r#"{ "network": { "classID": 5 } }"#, "network.classID"),
    ] {
        let err = cg.apply(&resources(json)).unwrap_err().to_string();
        assert!(err.contains(field), "{json}: {err}");
    }
    cg.apply(&resources(
        r#"{ "memory": { "kernel": -1, "disableOOMKiller": false, "useHierarchy": true }, "network": { "classID": 0 } }"#,
    ))
    .unwrap();
}

#[test]
fn a_missing_file_is_named_with_its_directory() {
    let (root, cg) = fake_v2(&[]);
    fs::remove_file(root.path().join("holm/c1/pids.max")).unwrap();
    let err = cg
        .apply(&resources(r#"{ "pids": { "limit": 5 } }"#))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("linux.resources.pids.limit")
            && err.contains("`pids`")
            && err.contains("`pids.max` does not exist"),
        "{err}"
    );
    // Unlimited (-1, the default) is fine without the file; 0 is a real limit since runtime-spec 1.3.
    cg.apply(&resources(r#"{ "pids": { "limit": -1 } }"#))
        .unwrap();
}

/// A v1 memory hierarchy mounted with `noprefix` (files named `limit_in_bytes`, not `memory.limit_in_bytes`).
#[test]
fn v1_noprefix_file_names() {
    let root = tempfile::tempdir().unwrap();
    let dev = fs::metadata(root.path()).unwrap().dev();
    let h = HierarchyInfo::new(
        HierarchyKind::V1 {
            controllers: vec!["memory".into()],
            name: None,
            noprefix: true,
        },
        root.path().to_path_buf(),
        "/".into(),
        DevId::from_dev_t(dev),
    );
    let hier =
        Hierarchies::from_parts(vec![h], &parse_proc_cgroup("4:memory:/\n").unwrap()).unwrap();
    let cg = Cgroup::resolve(&hier, Some("/holm/c1"), "c1").unwrap();
    cg.create().unwrap();
    for f in ["limit_in_bytes", "memsw.limit_in_bytes"] {
        fs::write(root.path().join("holm/c1").join(f), "").unwrap();
    }
    cg.apply(&resources(
        r#"{ "memory": { "limit": 1048576, "swap": 2097152 } }"#,
    ))
    .unwrap();
    assert_eq!(read(root.path(), "limit_in_bytes"), "1048576");
    assert_eq!(read(root.path(), "memsw.limit_in_bytes"), "2097152");
}
