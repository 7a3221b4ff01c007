//! `holm-runtime update` of a VM container (one VM boot): the new limits reach the container's cgroup in the guest
//! (read by exec from its cgroup v2 files) and, for CPU, the VMM's cgroup on the host; the flags and
//! `--resources FILE` both work; what the VM cannot follow (memory above its RAM, more CPUs than vCPUs, a CPU it
//! does not have) is refused with one line and changes nothing, in the guest or on the host. The same VM checks
//! `net.*` sysctls in the guest: dockerd's `ip_unprivileged_port_start=0` lets a non-root process bind port 80.
//! A second test: a `net.*` sysctl the guest kernel lacks fails `create`, naming the key, and leaves nothing.
//! Helpers: vm_support (needs the guest kernel and the static agent).

mod lifecycle_util;
mod vm_support;

use holm_testkit::{unique_id, Bundle};
use lifecycle_util::*;
use std::time::Duration;
use vm_support::*;

/// A file of the VMM's cgroup in host v1 hierarchy `controller` (found from `/proc/PID/cgroup`). On a host
/// without that v1 hierarchy (cgroup v2 only) the same value is read from the unified cgroup's file
/// (`cpu.cfs_quota_us` = the quota of `cpu.max`, `-1` for `max`; `memory.limit_in_bytes` = `memory.max`).
fn host_cg(pid: u32, controller: &str, file: &str) -> String {
    let cg = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    let find = |wanted: &dyn Fn(&str) -> bool| {
        cg.lines().find_map(|l| {
            let mut f = l.splitn(3, ':');
            let (_, ctrls, path) = (f.next()?, f.next()?, f.next()?);
            wanted(ctrls).then(|| path.to_string())
        })
    };
    let read = |p: String| {
        std::fs::read_to_string(&p)
            .unwrap_or_else(|e| panic!("read {p}: {e}"))
            .trim()
            .to_string()
    };
    if let Some(rel) = find(&|ctrls| ctrls.split(',').any(|c| c == controller)) {
        return read(format!("/sys/fs/cgroup/{controller}{rel}/{file}"));
    }
    let rel = find(&|ctrls| ctrls.is_empty()).unwrap_or_else(|| {
        panic!("pid {pid} has neither a {controller} nor a unified cgroup: {cg}")
    });
    let v2 = |f: &str| read(format!("/sys/fs/cgroup{rel}/{f}"));
    match file {
        "cpu.cfs_quota_us" => match v2("cpu.max").split_whitespace().next() {
            Some("max") | None => "-1".to_string(),
            Some(q) => q.to_string(),
        },
        "memory.limit_in_bytes" => v2("memory.max"),
        other => panic!("host_cg: no cgroup v2 equivalent known for {other}"),
    }
}

/// The guest cgroup files an update changes, as the container sees them (its cgroup namespace's root).
const CG_FILES: &str = "/sys/fs/cgroup/memory.max /sys/fs/cgroup/cpu.max /sys/fs/cgroup/pids.max";

/// (memory.max, cpu.max, pids.max) of the container in the guest.
fn guest_cg(rt: &holm_testkit::Runtime, id: &str) -> (String, String, String) {
    let out = rt.ok(&[
        "exec",
        id,
        "cat",
        "/sys/fs/cgroup/memory.max",
        "/sys/fs/cgroup/cpu.max",
        "/sys/fs/cgroup/pids.max",
    ]);
    let l: Vec<&str> = out.lines().collect();
    assert_eq!(l.len(), 3, "cat {CG_FILES}: {out}");
    (l[0].into(), l[1].into(), l[2].into())
}

#[test]
fn update_reaches_the_guest_and_the_vmm_and_refusals_change_nothing() {
    let rt = vm_runtime();
    let id = unique_id("vm-upd");
    let mut b = Bundle::busybox();
    // 128 MiB of guest RAM, 2 vCPUs (1.5 CPUs of quota), dockerd's two net.* sysctls, and a 16 MiB TCG cache.
    let c = b.config_mut();
    c["annotations"] = serde_json::json!({"org.holm.vm.tcg-tb-size": "16"});
    c["linux"]["resources"]["memory"] = serde_json::json!({"limit": 128 << 20});
    c["linux"]["resources"]["cpu"] = serde_json::json!({"quota": 150000, "period": 100000});
    c["linux"]["sysctl"] = serde_json::json!({
        "net.ipv4.ip_unprivileged_port_start": "0",
        "net.ipv4.ping_group_range": "0 2147483647"
    });
    b.set_args(&["sh", "-c", "echo ready; while :; do sleep 1; done"]);
    let _g = rt.guard(&id);
    let io = create_vm(&rt, &["--isolation", "vm"], &b, &id);
    rt.ok(&["start", &id]);
    io.wait_out("ready", Duration::from_secs(120));
    let vmm = status(&rt, &id).1 as u32;
    // The VMM's memory limit: guest RAM + qemu's overhead (64 MiB, + the translation cache under TCG: 16 MiB, as
    // the annotation asked, also on qemu's command line).
    let launch: serde_json::Value =
        serde_json::from_slice(&std::fs::read(rt.root().join(&id).join("vm-launch.json")).unwrap())
            .unwrap();
    assert_eq!(launch["size"]["tcg_tb_mib"], 16, "{launch}");
    let overhead = if launch["accel"] == "tcg" {
        let cmdline = std::fs::read(format!("/proc/{vmm}/cmdline")).unwrap();
        let argv: Vec<&[u8]> = cmdline.split(|&c| c == 0).collect();
        assert!(argv.contains(&&b"tcg,tb-size=16"[..]), "{argv:?}");
        64 + 16
    } else {
        64
    };
    let vmm_mem = ((128 + overhead) << 20).to_string();
    assert_eq!(
        guest_cg(&rt, &id),
        ("134217728".into(), "150000 100000".into(), "max".into())
    );
    assert_eq!(host_cg(vmm, "cpu", "cpu.cfs_quota_us"), "150000");
    assert_eq!(host_cg(vmm, "memory", "memory.limit_in_bytes"), vmm_mem);

    // The flags.
    rt.ok(&[
        "update",
        "--memory",
        "64m",
        "--cpu-quota",
        "50000",
        "--pids-limit",
        "50",
        &id,
    ]);
    assert_eq!(
        guest_cg(&rt, &id),
        ("67108864".into(), "50000 100000".into(), "50".into())
    );
    assert_eq!(host_cg(vmm, "cpu", "cpu.cfs_quota_us"), "50000");
    // The VMM keeps guest RAM + overhead: the guest's RAM did not change.
    assert_eq!(host_cg(vmm, "memory", "memory.limit_in_bytes"), vmm_mem);

    // --resources FILE.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("r.json");
    std::fs::write(
        &file,
        serde_json::json!({"memory": {"limit": 96 << 20}, "cpu": {"quota": 120000, "period": 100000}})
            .to_string(),
    )
    .unwrap();
    rt.ok(&["update", "--resources", file.to_str().unwrap(), &id]);
    let want = (
        "100663296".to_string(),
        "120000 100000".to_string(),
        "50".to_string(),
    );
    assert_eq!(guest_cg(&rt, &id), want);
    assert_eq!(host_cg(vmm, "cpu", "cpu.cfs_quota_us"), "120000");

    // Refused, one line naming the field and the VM's size; nothing changes.
    for (args, needle) in [
        (
            vec!["--memory", "256m"],
            "memory.limit: 268435456 bytes (256 MiB) is more than the VM's memory (128 MiB",
        ),
        (
            vec!["--cpu-quota", "250000", "--pids-limit", "7"],
            "cpu.quota: 250000 µs per 100000 µs period is 2.50 CPUs, more than the VM's 2 vCPU(s)",
        ),
        (
            vec!["--cpuset-cpus", "0-3", "--memory", "32m"],
            // create's line
            "linux.resources.cpu.cpus: CPU 2 is not among the VM's vCPUs 0-1 (the VM has 2 vCPUs",
        ),
    ] {
        let mut a = vec!["update"];
        a.extend(args.iter().copied());
        a.push(&id);
        let out = rt.run(&a);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "update {args:?}: {err}");
        assert!(err.contains(needle), "update {args:?}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
        assert_eq!(
            guest_cg(&rt, &id),
            want,
            "after the refused update {args:?}"
        );
        assert_eq!(host_cg(vmm, "cpu", "cpu.cfs_quota_us"), "120000");
    }

    // net.* sysctls in the guest: a non-root process binds port 80 (busybox httpd binds, then daemonizes).
    let out = rt.ok(&[
        "exec",
        "--user",
        "65534:65534",
        &id,
        "sh",
        "-c",
        "cat /proc/sys/net/ipv4/ip_unprivileged_port_start /proc/sys/net/ipv4/ping_group_range; \
         id -u; httpd -p 80 -h / && echo bound-80",
    ]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.first().copied(), Some("0"), "{out}");
    assert_eq!(
        lines
            .get(1)
            .map(|l| l.split_whitespace().collect::<Vec<_>>()),
        Some(vec!["0", "2147483647"]),
        "{out}"
    );
    assert_eq!(lines.get(2).copied(), Some("65534"), "{out}");
    assert!(
        out.contains("bound-80"),
        "a non-root process could not bind port 80: {out}"
    );

    rt.ok(&["kill", &id, "KILL"]);
    wait_vm_status(&rt, &id, "stopped");
    let out = rt.run(&["update", "--memory", "64m", &id]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "update of a stopped VM container"
    );
    rt.ok(&["delete", &id]);
    assert_no_trace(&rt, &id, b.path());
}

#[test]
fn a_sysctl_the_guest_kernel_lacks_fails_create_naming_it() {
    let rt = vm_runtime();
    let id = unique_id("vm-sysctl");
    let mut b = Bundle::busybox();
    b.config_mut()["linux"]["sysctl"] = serde_json::json!({"net.ipv4.holm_no_such_key": "1"});
    b.set_args(&["true"]);
    let _g = rt.guard(&id);
    let dir = tempfile::tempdir().unwrap();
    let out = rt
        .cmd(&[
            "--isolation",
            "vm",
            "create",
            "--bundle",
            path_str(b.path()),
            &id,
        ])
        .stdin(std::process::Stdio::null())
        .stdout(std::fs::File::create(dir.path().join("out")).unwrap())
        .stderr(std::process::Stdio::piped())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("linux.sysctl.net.ipv4.holm_no_such_key: the guest kernel has no such sysctl"),
        "{err}"
    );
    assert_no_trace(&rt, &id, b.path());
}
