//! `holm run`/`create` flags mapped onto the runtime spec the way docker maps them, seen from inside the
//! container: --env-file, --label (inspect, ps --filter), --stop-signal/--stop-timeout, --log-driver, capabilities,
//! --privileged, --security-opt, --mount/--tmpfs, --ulimit, --memory-swap/--cpu-shares/--cpuset-cpus, --init, and
//! docker-like errors for bad values.

#[path = "../../image/tests/common/mod.rs"]
mod common;
mod engine_common;

use engine_common::{cgroup_file, wait_until, Engine, IMAGE};
use std::time::{Duration, Instant};

/// The `Key:\tvalue` lines of /proc/self/status inside a container run with `flags`.
fn status_of(e: &Engine, flags: &[&str]) -> std::collections::HashMap<String, String> {
    let mut a = vec!["run", "--rm"];
    a.extend_from_slice(flags);
    a.extend_from_slice(&[IMAGE, "cat", "/proc/self/status"]);
    e.ok(&a)
        .lines()
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.to_string(), v.trim().to_string()))
        .collect()
}

fn cap_eff(e: &Engine, flags: &[&str]) -> u64 {
    u64::from_str_radix(&status_of(e, flags)["CapEff"], 16).unwrap()
}

#[test]
fn env_file_labels_stop_options_and_log_drivers() {
    let e = Engine::new();
    let env = e.tmp.path().join("env");
    std::fs::write(&env, "# a comment\n\nA=from file\nB=overridden\n").unwrap();
    let out = e.ok(&[
        "run",
        "--rm",
        "--env-file",
        env.to_str().unwrap(),
        "-e",
        "B=flag",
        IMAGE,
        "sh",
        "-c",
        "echo $A/$B",
    ]);
    assert_eq!(out, "from file/flag\n");

    // labels: inspect and ps filters
    let id = e.ok(&[
        "create", "--name", "lab", "--label", "app=web", "-l", "tier", IMAGE,
    ]);
    let id = id.trim();
    let v = e.inspect("lab");
    assert_eq!(v["Config"]["Labels"]["app"], "web");
    assert_eq!(v["Config"]["Labels"]["tier"], "");
    assert_eq!(
        e.ok(&["ps", "-aq", "--no-trunc", "--filter", "label=app=web"])
            .trim(),
        id
    );
    assert_eq!(
        e.ok(&["ps", "-aq", "--filter", "label=tier"]).trim(),
        &id[..12]
    );
    assert_eq!(e.ok(&["ps", "-aq", "--filter", "label=app=db"]), "");
    assert_eq!(
        e.ok(&["ps", "-q", "--filter", "status=created"]).trim(),
        &id[..12]
    );

    // --stop-signal is what stop sends, --stop-timeout how long it waits before SIGKILL
    e.detached(&[
        "--name",
        "st",
        "--stop-signal",
        "usr1",
        "--stop-timeout",
        "1",
        IMAGE,
        "sh",
        "-c",
        "trap 'echo got USR1' USR1; echo ready; while true; do sleep 0.1; done",
    ]);
    wait_until(Duration::from_secs(10), "ready", || {
        e.ok(&["logs", "st"]).starts_with("ready")
    });
    let v = e.inspect("st");
    assert_eq!(v["Config"]["StopSignal"], "USR1");
    assert_eq!(v["Config"]["StopTimeout"], 1);
    let t = Instant::now();
    e.ok(&["stop", "st"]);
    assert!(t.elapsed() < Duration::from_secs(8), "{:?}", t.elapsed());
    assert_eq!(e.ok(&["logs", "st"]), "ready\ngot USR1\n");
    assert_eq!(e.inspect("st")["State"]["ExitCode"], 137);

    // log drivers
    e.ok(&[
        "run",
        "--name",
        "nolog",
        "--log-driver",
        "none",
        IMAGE,
        "echo",
        "hi",
    ]);
    let (_, err) = e.code(1, &["logs", "nolog"]);
    assert!(err.contains("does not support reading"), "{err}");
    assert_eq!(
        e.inspect("nolog")["HostConfig"]["LogConfig"]["Type"],
        "none"
    );
    let kid = e.ok(&[
        "create",
        "--name",
        "k8s",
        "--log-driver",
        "k8s-file",
        IMAGE,
        "sh",
        "-c",
        "echo out; echo err >&2",
    ]);
    e.code(0, &["start", "-a", "k8s"]);
    let o = e.run(&["logs", "k8s"]);
    assert_eq!(String::from_utf8_lossy(&o.stdout), "out\n");
    assert_eq!(String::from_utf8_lossy(&o.stderr), "err\n");
    let kid = kid.trim();
    let file = e
        .root
        .join("containers")
        .join(kid)
        .join(format!("{kid}-k8s.log"));
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(
        text.contains(" stdout F out\n") && text.contains(" stderr F err\n"),
        "{text}"
    );
}

#[test]
fn capabilities_privileged_and_security_opts() {
    let e = Engine::new();
    // docker's default set
    assert_eq!(cap_eff(&e, &[]), 0xa80425fb);
    let s = status_of(&e, &[]);
    assert_eq!(
        (s["Seccomp"].as_str(), s["NoNewPrivs"].as_str()),
        ("2", "0")
    );
    const NET_ADMIN: u64 = 1 << 12;
    const SYS_ADMIN: u64 = 1 << 21;
    const CHOWN: u64 = 1;
    assert_eq!(
        cap_eff(&e, &["--cap-drop", "ALL", "--cap-add", "net_admin"]),
        NET_ADMIN
    );
    assert_eq!(cap_eff(&e, &["--cap-drop", "chown"]), 0xa80425fb & !CHOWN);
    assert_ne!(cap_eff(&e, &["--cap-add", "ALL"]) & SYS_ADMIN, 0);
    let s = status_of(&e, &["--security-opt", "no-new-privileges"]);
    assert_eq!(s["NoNewPrivs"], "1");
    let s = status_of(&e, &["--security-opt", "seccomp=unconfined"]);
    assert_eq!(s["Seccomp"], "0");
    // a profile from a file
    let prof = e.tmp.path().join("seccomp.json");
    std::fs::write(
        &prof,
        r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir","mkdirat"],"action":"SCMP_ACT_ERRNO"}]}"#,
    )
    .unwrap();
    let opt = format!("seccomp={}", prof.display());
    let out = e.ok(&[
        "run",
        "--rm",
        "--security-opt",
        &opt,
        IMAGE,
        "sh",
        "-c",
        "mkdir /tmp/x 2>/dev/null || echo denied; grep Seccomp: /proc/self/status",
    ]);
    assert_eq!(out, "denied\nSeccomp:\t2\n");

    // --privileged: every capability, no seccomp, the host's devices, no masked paths, /sys read-write
    let s = status_of(&e, &["--privileged"]);
    assert_eq!(s["Seccomp"], "0");
    assert_ne!(
        u64::from_str_radix(&s["CapEff"], 16).unwrap() & SYS_ADMIN,
        0
    );
    // masked and read-only paths are mounts over /proc/… and /sys/firmware
    let script = "grep -c -E ' /(proc/(keys|timer_list|sched_debug|acpi|scsi|sys|irq|bus)|sys/firmware) ' /proc/self/mountinfo; grep ' /sys ' /proc/self/mountinfo | grep -c ' rw,'; ls /dev | wc -l";
    let normal: Vec<String> = e
        .ok(&["run", "--rm", IMAGE, "sh", "-c", script])
        .lines()
        .map(str::to_string)
        .collect();
    let privileged: Vec<String> = e
        .ok(&["run", "--rm", "--privileged", IMAGE, "sh", "-c", script])
        .lines()
        .map(str::to_string)
        .collect();
    assert_ne!(normal[0], "0", "{normal:?}");
    assert_eq!(normal[1], "0", "{normal:?}");
    assert_eq!(privileged[..2], ["0", "1"], "{privileged:?}");
    let (n, p): (u32, u32) = (normal[2].parse().unwrap(), privileged[2].parse().unwrap());
    assert!(p > n + 5, "devices: {n} normal, {p} privileged");
    assert_eq!(e.ok(&["ps", "-aq"]), "");
}

#[test]
fn mounts_tmpfs_ulimits_resources_and_init() {
    let e = Engine::new();
    let host = e.tmp.path().join("src");
    std::fs::create_dir(&host).unwrap();
    std::fs::write(host.join("in.txt"), "hello\n").unwrap();
    let bind = format!("type=bind,source={},target=/m,readonly", host.display());
    let out = e.ok(&[
        "run",
        "--rm",
        "--mount",
        &bind,
        "--mount",
        "type=tmpfs,destination=/scratch,tmpfs-size=1m",
        "--tmpfs",
        "/t2:size=64k,exec",
        "--ulimit",
        "nofile=1024:2048",
        IMAGE,
        "sh",
        "-c",
        "cat /m/in.txt; touch /m/x 2>/dev/null || echo ro; grep -E ' /(scratch|t2) ' /proc/mounts; ulimit -Sn; ulimit -Hn",
    ]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[..2], ["hello", "ro"], "{out}");
    assert!(
        lines[2].starts_with("tmpfs /scratch tmpfs rw,nosuid,nodev,noexec")
            && lines[2].contains("size=1024k"),
        "{out}"
    );
    assert!(
        lines[3].starts_with("tmpfs /t2 tmpfs rw,nosuid,nodev")
            && !lines[3].contains("noexec")
            && lines[3].contains("size=64k"),
        "{out}"
    );
    assert_eq!(lines[4..], ["1024", "2048"], "{out}");
    // inspect lists them
    let cid = e
        .ok(&["create", "--mount", &bind, "--tmpfs", "/t2:ro", IMAGE])
        .trim()
        .to_string();
    let m = &e.inspect(&cid)["Mounts"];
    assert_eq!(m[0]["Type"], "bind");
    assert_eq!(m[0]["Destination"], "/m");
    assert_eq!(m[0]["RW"], false);
    assert_eq!(
        (m[1]["Type"].as_str(), m[1]["Destination"].as_str()),
        (Some("tmpfs"), Some("/t2"))
    );
    assert_eq!(m[1]["RW"], false);
    e.ok(&["rm", &cid]);

    let id = e.detached(&[
        "--memory",
        "64m",
        "--memory-swap",
        "128m",
        "--cpu-shares",
        "512",
        "--cpuset-cpus",
        "0",
        IMAGE,
        "sleep",
        "30",
    ]);
    let swap = cgroup_file(&id, "memory.memsw.limit_in_bytes").or_else(|| {
        cgroup_file(&id, "memory.swap.max")
            .map(|v| (v.parse::<i64>().unwrap() + (64 << 20)).to_string())
    });
    assert_eq!(swap.as_deref(), Some("134217728"));
    let shares = cgroup_file(&id, "cpu.shares");
    assert!(
        shares.as_deref() == Some("512") || cgroup_file(&id, "cpu.weight").is_some(),
        "{shares:?}"
    );
    assert_eq!(cgroup_file(&id, "cpuset.cpus").as_deref(), Some("0"));
    let v = e.inspect(&id);
    assert_eq!(v["HostConfig"]["MemorySwap"], 134217728);
    assert_eq!(v["HostConfig"]["CpuShares"], 512);
    assert_eq!(v["HostConfig"]["CpusetCpus"], "0");
    e.ok(&["rm", "-f", &id]);
    e.assert_gone(&id);

    // --init: a tini as pid 1 (the host's static one, bound read-only: the test image has none), the command its
    // child; it passes the exit code on
    let out = e.ok(&[
        "run",
        "--rm",
        "--init",
        IMAGE,
        "sh",
        "-c",
        "echo $$; ps -o pid,args | grep '^ *1 '",
    ]);
    let lines: Vec<&str> = out.lines().collect();
    assert_ne!(lines[0], "1", "{out}");
    assert!(lines[1].contains("/sbin/docker-init -- sh -c"), "{out}");
    e.code(7, &["run", "--rm", "--init", IMAGE, "sh", "-c", "exit 7"]);
}

#[test]
fn bad_flag_values_name_the_flag() {
    let e = Engine::new();
    for (args, words) in [
        (
            &["--ulimit", "nofile=10:5"][..],
            &["\"--ulimit\"", "soft limit"][..],
        ),
        (
            &["--ulimit", "bogus=1"],
            &["\"--ulimit\"", "invalid ulimit type"],
        ),
        (
            &["--mount", "type=nfs,target=/x"],
            &["\"--mount\"", "invalid mount type"],
        ),
        (
            &["--mount", "type=bind,source=/no/such/dir,target=/x"],
            &["\"--mount\"", "does not exist"],
        ),
        (&["--tmpfs", "relative"], &["\"--tmpfs\""]),
        (&["--cap-add", "BOGUS"], &["\"--cap-add\"", "CAP_BOGUS"]),
        (&["--cap-drop", "nope"], &["\"--cap-drop\""]),
        (&["--security-opt", "bogus"], &["\"--security-opt\""]),
        (
            &["--security-opt", "seccomp=/no/such.json"],
            &["\"--security-opt\"", "seccomp profile"],
        ),
        (&["--stop-signal", "SIGNOPE"], &["\"--stop-signal\""]),
        (
            &["--memory-swap", "1g"],
            &["\"--memory-swap\"", "Memory limit"],
        ),
        (
            &["--memory", "64m", "--memory-swap", "1m"],
            &["\"--memory-swap\"", "larger than memory"],
        ),
        (&["--cpu-shares", "1"], &["\"--cpu-shares\""]),
        (
            &["--cpuset-cpus", "0-999"],
            &["\"--cpuset-cpus\"", "not available"],
        ),
        (&["--log-driver", "syslog"], &["\"--log-driver\"", "syslog"]),
        (&["--env-file", "/no/such/env"], &["\"--env-file\""]),
        (&["--label", "=v"], &["\"--label\""]),
    ] {
        let mut a = vec!["run", "--rm"];
        a.extend_from_slice(args);
        a.extend_from_slice(&[IMAGE, "true"]);
        let (_, err) = e.code(125, &a);
        for w in words {
            assert!(err.contains(w), "{args:?}: {err}");
        }
    }
    assert_eq!(e.ok(&["ps", "-aq"]), "");
}
