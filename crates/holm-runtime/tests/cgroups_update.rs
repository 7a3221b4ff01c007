//! Issue 3, `update` on a running container (runc's flags and `--resources FILE|-`), read back from the host's
//! cgroup files and from the saved config; `--memory-swap` alone never writes a wrong value.

mod cgroups_support;

use std::io::Write;
use std::process::Stdio;

use cgroups_support::*;
use holm_testkit::{unique_id, Bundle};
use serde_json::json;

/// A running container with a 64 MiB / 128 MiB memory+swap limit and a pids limit.
fn running(rt: &holm_testkit::Runtime, prefix: &str) -> (Bundle, String) {
    let mut b = Bundle::busybox();
    b.config_mut()["linux"]["resources"]["memory"] =
        json!({ "limit": 64 << 20, "swap": 128 << 20 });
    b.config_mut()["linux"]["resources"]["pids"] = json!({ "limit": 50 });
    let id = unique_id(prefix);
    run_counter(rt, &mut b, &id);
    (b, id)
}

/// Every flag at once. `--blkio-weight` is included where the kernel has a weight file (probed); where it has
/// none the flag is refused naming the field and files, and the container keeps running.
#[test]
fn flags_change_every_limit() {
    let rt = runtime();
    let weight_file = blkio_weight_file(&rt, "");
    let (_b, id) = running(&rt, "cg-update");
    let _g = rt.guard(&id);
    let mut args = vec![
        "update",
        "--memory",
        "32m",
        "--memory-swap",
        "96m",
        "--memory-reservation",
        "16m",
        "--cpu-quota",
        "30000",
        "--cpu-period",
        "100000",
        "--cpu-share",
        "256",
        "--cpuset-cpus",
        "0",
        "--pids-limit",
        "40",
    ];
    if weight_file.is_some() {
        args.extend(["--blkio-weight", "200"]);
    }
    args.push(&id);
    rt.ok(&args);
    assert_eq!(
        cg_read("memory", &id, "memory.limit_in_bytes"),
        (32 << 20).to_string()
    );
    assert_eq!(
        cg_read("memory", &id, "memory.memsw.limit_in_bytes"),
        (96 << 20).to_string()
    );
    assert_eq!(
        cg_read("memory", &id, "memory.soft_limit_in_bytes"),
        (16 << 20).to_string()
    );
    assert_eq!(cg_read("cpu", &id, "cpu.cfs_quota_us"), "30000");
    assert_eq!(cg_read("cpu", &id, "cpu.cfs_period_us"), "100000");
    assert_eq!(cg_read("cpu", &id, "cpu.shares"), "256");
    assert_eq!(cg_read("cpuset", &id, "cpuset.cpus"), "0");
    assert_eq!(cg_read("pids", &id, "pids.max"), "40");
    match &weight_file {
        Some(file) => assert!(cg_read("blkio", &id, file).contains("200")),
        None => {
            let out = rt.fails(&["update", "--blkio-weight", "200", &id]);
            let err = String::from_utf8_lossy(&out.stderr);
            for want in [
                "blockIO.weight",
                "`blkio.weight` or `blkio.bfq.weight` do not exist",
            ] {
                assert!(err.contains(want), "`{want}` missing from {err}");
            }
        }
    }
    assert_eq!(status(&rt, &id), "running");

    // Raising the limit above the current memory+swap limit: the writes are ordered so the kernel accepts them.
    rt.ok(&["update", "--memory", "256m", "--memory-swap", "512m", &id]);
    assert_eq!(
        cg_read("memory", &id, "memory.limit_in_bytes"),
        (256 << 20).to_string()
    );
    assert_eq!(
        cg_read("memory", &id, "memory.memsw.limit_in_bytes"),
        (512 << 20).to_string()
    );
    // And back down.
    rt.ok(&["update", "--memory", "16m", "--memory-swap", "32m", &id]);
    assert_eq!(
        cg_read("memory", &id, "memory.limit_in_bytes"),
        (16 << 20).to_string()
    );
    assert_eq!(
        cg_read("memory", &id, "memory.memsw.limit_in_bytes"),
        (32 << 20).to_string()
    );
    // Unlimited.
    rt.ok(&[
        "update",
        "--memory",
        "-1",
        "--pids-limit",
        "-1",
        "--cpu-quota",
        "-1",
        &id,
    ]);
    assert_eq!(
        cg_read("memory", &id, "memory.limit_in_bytes"),
        "9223372036854771712"
    );
    assert_eq!(
        cg_read("memory", &id, "memory.memsw.limit_in_bytes"),
        "9223372036854771712"
    );
    assert_eq!(cg_read("pids", &id, "pids.max"), "max");
    assert_eq!(cg_read("cpu", &id, "cpu.cfs_quota_us"), "-1");
}

/// runtime-spec 1.3 (and runc 1.4): `--pids-limit 0` is a real limit (pids.max 0, recorded in the saved config);
/// -1 (or any negative number) means unlimited; a `--resources` file whose `pids` has no `limit` changes nothing.
#[test]
fn pids_limit_0_is_a_limit_and_negative_means_max() {
    let rt = runtime();
    let (_b, id) = running(&rt, "cg-update-pids0");
    let _g = rt.guard(&id);
    assert_eq!(cg_read("pids", &id, "pids.max"), "50");
    let dir = tempfile::tempdir().unwrap();
    let res = dir.path().join("r.json");
    std::fs::write(&res, r#"{"pids": {}}"#).unwrap();
    rt.ok(&["update", "--resources", res.to_str().unwrap(), &id]);
    assert_eq!(cg_read("pids", &id, "pids.max"), "50");
    rt.ok(&["update", "--pids-limit", "-5", &id]);
    assert_eq!(cg_read("pids", &id, "pids.max"), "max");
    // Last: the container's counter loop cannot fork any more after this.
    rt.ok(&["update", "--pids-limit", "0", &id]);
    assert_eq!(cg_read("pids", &id, "pids.max"), "0");
    let saved: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(rt.root().join(&id).join("state.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(saved["config"]["linux"]["resources"]["pids"]["limit"], 0);
}

#[test]
fn memory_swap_alone_is_checked_against_the_current_limit() {
    let rt = runtime();
    let (_b, id) = running(&rt, "cg-update-swap");
    let _g = rt.guard(&id);
    // Below the current 64 MiB memory limit: refused with a clear message, nothing written.
    let out = rt.fails(&["update", "--memory-swap", "32m", &id]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("memory.swap") && err.contains("below the memory limit 67108864"),
        "{err}"
    );
    assert_eq!(
        cg_read("memory", &id, "memory.memsw.limit_in_bytes"),
        (128 << 20).to_string()
    );
    // Above it: written as given (v1 memsw is memory + swap).
    rt.ok(&["update", "--memory-swap", "100m", &id]);
    assert_eq!(
        cg_read("memory", &id, "memory.memsw.limit_in_bytes"),
        (100 << 20).to_string()
    );
    assert_eq!(
        cg_read("memory", &id, "memory.limit_in_bytes"),
        (64 << 20).to_string()
    );
}

#[test]
fn resources_from_a_file_and_from_stdin() {
    let rt = runtime();
    let (b, id) = running(&rt, "cg-update-file");
    let _g = rt.guard(&id);
    let file = b.path().join("resources.json");
    std::fs::write(
        &file,
        json!({ "pids": { "limit": 33 }, "cpu": { "shares": 300 } }).to_string(),
    )
    .unwrap();
    rt.ok(&["update", "--resources", file.to_str().unwrap(), &id]);
    assert_eq!(cg_read("pids", &id, "pids.max"), "33");
    assert_eq!(cg_read("cpu", &id, "cpu.shares"), "300");

    let mut child = rt
        .cmd(&["update", "-r", "-", &id])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(
            json!({ "memory": { "limit": 48 << 20 } })
                .to_string()
                .as_bytes(),
        )
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", describe(&out));
    assert_eq!(
        cg_read("memory", &id, "memory.limit_in_bytes"),
        (48 << 20).to_string()
    );

    // The saved config follows: earlier and later updates merge.
    let saved: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(rt.root().join(&id).join("state.json")).unwrap(),
    )
    .unwrap();
    let res = &saved["config"]["linux"]["resources"];
    assert_eq!(res["memory"]["limit"], 48 << 20);
    assert_eq!(res["memory"]["swap"], 128 << 20);
    assert_eq!(res["pids"]["limit"], 33);
    assert_eq!(res["cpu"]["shares"], 300);
}

#[test]
fn bad_updates_are_refused() {
    let rt = runtime();
    let (_b, id) = running(&rt, "cg-update-bad");
    let _g = rt.guard(&id);
    for (args, want) in [
        (vec!["--memory", "lots"], "--memory"),
        (
            vec!["--resources", "/nonexistent/res.json"],
            "/nonexistent/res.json",
        ),
        (vec!["--l3-cache-schema", "L3:0=f"], "Intel RDT"),
        (vec!["--cpu-rt-runtime", "999999999"], "cpu.rt_runtime_us"),
    ] {
        let mut a = vec!["update"];
        a.extend(&args);
        a.push(&id);
        let out = rt.fails(&a);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(want), "{args:?}: `{want}` missing from {err}");
    }
    let out = rt.fails(&["update", "--pids-limit", "5", "no-such-container"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("does not exist"));
    rt.ok(&["kill", &id, "KILL"]);
    holm_testkit::wait_until(
        std::time::Duration::from_secs(5),
        "the container to stop",
        || status(&rt, &id) == "stopped",
    );
    let out = rt.fails(&["update", "--pids-limit", "5", &id]);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("stopped"),
        "{}",
        describe(&out)
    );
}

#[test]
fn update_on_cgroup2_names_missing_controllers_and_writes_core_keys() {
    let rt = v2_runtime();
    let mut b = Bundle::busybox();
    let id = unique_id("cg2-update");
    let _g = rt.guard(&id);
    run_counter(&rt, &mut b, &id);
    let out = rt.fails(&["update", "--pids-limit", "5", &id]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("pids.limit") && err.contains("`pids`"),
        "{err}"
    );
    // hugetlb is written too where this host's cgroup2 offers it with 2MB pages (probed), else refused by name.
    let hugetlb_v2 = hugetlb_2mb().is_some_and(|(dir, _)| dir == "unified");
    let file = b.path().join("r.json");
    let huge = json!({ "hugepageLimits": [ { "pageSize": "2MB", "limit": 2097152 } ] });
    if !hugetlb_v2 {
        std::fs::write(&file, huge.to_string()).unwrap();
        let out = rt.fails(&["update", "-r", file.to_str().unwrap(), &id]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("hugepageLimits[0]") && err.contains("hugetlb"),
            "{err}"
        );
    }
    let mut r = json!({ "unified": { "cgroup.max.descendants": "3" } });
    if hugetlb_v2 {
        r["hugepageLimits"] = huge["hugepageLimits"].clone();
    }
    std::fs::write(&file, r.to_string()).unwrap();
    rt.ok(&["update", "-r", file.to_str().unwrap(), &id]);
    assert_eq!(
        std::fs::read_to_string(v2_dir(&id).join("cgroup.max.descendants"))
            .unwrap()
            .trim(),
        "3"
    );
    if hugetlb_v2 {
        assert_eq!(
            std::fs::read_to_string(v2_dir(&id).join("hugetlb.2MB.max"))
                .unwrap()
                .trim(),
            "2097152"
        );
    }
}
