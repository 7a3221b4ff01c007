//! Issue 11, runtime-spec 1.3 process placement: `process.scheduler` (policy, nice, `SCHED_FLAG_RESET_ON_FORK`)
//! read from `/proc/PID/stat`, `linux.memoryPolicy` read from `/proc/self/numa_maps`, `process.execCPUAffinity`
//! read from `Cpus_allowed_list`, and `pids.limit: 0` as a real limit; each for the init and for `exec`, with
//! errors naming the field.

mod exec_support;

use exec_support::*;
use holm_testkit::{unique_id, Bundle};
use serde_json::{json, Value};

/// Runs `script` as the container's process (foreground `run`) and returns the output, whatever the status.
fn run_with(
    rt: &holm_testkit::Runtime,
    b: &mut Bundle,
    prefix: &str,
    script: &str,
) -> std::process::Output {
    b.config_mut()["process"]["args"] = json!(["sh", "-c", script]);
    b.write_config();
    let id = unique_id(prefix);
    let _g = rt.guard(&id);
    rt.run(&["run", "--bundle", path_str(b.path()), &id])
}

fn run_ok(rt: &holm_testkit::Runtime, b: &mut Bundle, prefix: &str, script: &str) -> String {
    let out = run_with(rt, b, prefix, script);
    assert!(out.status.success(), "{}", describe(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Prints `who.nice=N` and `who.policy=N` from /proc/PID/stat (fields 19 and 41) without forking for `1`, and for
/// `self` from a forked `cat`.
const SCHED_SCRIPT: &str =
    "set -- $(cat /proc/1/stat); echo \"init.nice=${19}\"; echo \"init.policy=${41}\"; \
     read -r l < /proc/1/stat; set -- $l; echo \"initb.nice=${19}\"; \
     set -- $(cat /proc/self/stat); echo \"child.nice=${19}\"; echo \"child.policy=${41}\"";

#[test]
fn scheduler_policy_nice_and_reset_on_fork() {
    let rt = runtime();
    let mut b = Bundle::busybox();
    b.config_mut()["process"]["scheduler"] = json!({ "policy": "SCHED_BATCH", "nice": 5 });
    let out = run_ok(&rt, &mut b, "sched-batch", SCHED_SCRIPT);
    for (k, v) in [
        ("init.policy", "3"),
        ("initb.nice", "5"),
        ("child.policy", "3"),
        ("child.nice", "5"),
    ] {
        assert_eq!(value_of(&out, k), v, "{k}\n{out}");
    }
    // With SCHED_FLAG_RESET_ON_FORK a negative nice is not inherited by children (sched(7)).
    let mut b = Bundle::busybox();
    b.config_mut()["process"]["scheduler"] =
        json!({ "policy": "SCHED_OTHER", "nice": -5, "flags": ["SCHED_FLAG_RESET_ON_FORK"] });
    let out = run_ok(&rt, &mut b, "sched-reset", SCHED_SCRIPT);
    for (k, v) in [
        ("initb.nice", "-5"),
        ("init.policy", "0"),
        ("child.nice", "0"),
    ] {
        assert_eq!(value_of(&out, k), v, "{k}\n{out}");
    }
    // The same without the flag: inherited.
    let mut b = Bundle::busybox();
    b.config_mut()["process"]["scheduler"] = json!({ "policy": "SCHED_OTHER", "nice": -5 });
    let out = run_ok(&rt, &mut b, "sched-noreset", SCHED_SCRIPT);
    assert_eq!(value_of(&out, "child.nice"), "-5", "{out}");
}

#[test]
fn exec_gets_its_own_scheduler_and_cpu_affinity() {
    let rt = runtime();
    let b = sleeper();
    let (g, _pid) = running(&rt, &b, "sched-exec");
    let dir = tempfile::tempdir().unwrap();
    let last_cpu = std::thread::available_parallelism().unwrap().get() - 1;
    let exec_with = |extra: Value| {
        let mut p = json!({
            "args": ["sh", "-c", "set -- $(cat /proc/self/stat); echo \"policy=${41}\"; \
                      grep Cpus_allowed_list /proc/self/status | tr -d '\\t' | tr : ="],
            "env": ["PATH=/bin"], "cwd": "/", "user": { "uid": 0, "gid": 0 }
        });
        p.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        let pf = dir.path().join(format!("p{}.json", unique_id("x")));
        std::fs::write(&pf, p.to_string()).unwrap();
        rt.run(&["exec", "--process", path_str(&pf), g.id()])
    };
    let out = exec_with(json!({ "scheduler": { "policy": "SCHED_IDLE" },
                                "execCPUAffinity": { "initial": "0", "final": last_cpu.to_string() } }));
    assert!(out.status.success(), "{}", describe(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(value_of(&text, "policy"), "5", "{text}");
    assert_eq!(
        value_of(&text, "Cpus_allowed_list"),
        last_cpu.to_string(),
        "{text}"
    );
    // A CPU that does not exist: the exec fails naming the field of the --process file (not config.json), for
    // each half, and says why.
    for (half, field) in [
        ("initial", ".json`: `execCPUAffinity.initial`: "),
        ("final", ".json`: `execCPUAffinity.final`: "),
    ] {
        let out = exec_with(json!({ "execCPUAffinity": { half: "1000" } }));
        assert!(!out.status.success(), "{half}: {}", describe(&out));
        let err = stderr(&out);
        assert!(err.contains("process file `"), "{half}: {err}");
        assert!(err.contains(field), "{half}: {err}");
        assert!(
            err.contains("no CPU of the list is online"),
            "{half}: {err}"
        );
        assert!(!err.contains("config.json"), "{half}: {err}");
    }
    let out = exec_with(json!({ "scheduler": { "policy": "SCHED_FIFO", "priority": 0 } }));
    let err = stderr(&out);
    assert!(
        err.contains(".json`: `scheduler.priority`: ") && !err.contains("config.json"),
        "{}",
        describe(&out)
    );
}

#[test]
fn bad_scheduler_settings_name_the_field() {
    let rt = runtime();
    // One nanosecond below this host's shortest SCHED_DEADLINE period (the kernel's floor for the knob is 1 µs).
    let min_us: u64 = std::fs::read_to_string("/proc/sys/kernel/sched_deadline_period_min_us")
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(
        min_us >= 2,
        "sched_deadline_period_min_us {min_us}: no valid runtime fits below it"
    );
    let below_min_period = min_us * 1000 - 1;
    for (sched, field) in [
        (
            json!({ "policy": "SCHED_OTHER", "nice": 30 }),
            "process.scheduler.nice",
        ),
        (
            json!({ "policy": "SCHED_RR", "priority": 100 }),
            "process.scheduler.priority",
        ),
        (
            json!({ "policy": "SCHED_BATCH", "priority": 3 }),
            "process.scheduler.priority",
        ),
        (
            json!({ "policy": "SCHED_OTHER", "runtime": 10 }),
            "process.scheduler.runtime",
        ),
        (
            json!({ "policy": "SCHED_DEADLINE", "runtime": 10, "deadline": 5 }),
            "process.scheduler.deadline",
        ),
        (json!({ "policy": "SCHED_ISO" }), "process.scheduler.policy"),
        // The kernel's SCHED_DEADLINE bounds, named instead of an EINVAL from sched_setattr.
        (
            json!({ "policy": "SCHED_DEADLINE", "runtime": 10, "deadline": 20000000 }),
            "process.scheduler.runtime`: 10: SCHED_DEADLINE needs a runtime of at least 1024 ns",
        ),
        (
            json!({ "policy": "SCHED_DEADLINE", "runtime": 0 }),
            "process.scheduler.deadline`: SCHED_DEADLINE needs a deadline",
        ),
        (
            json!({ "policy": "SCHED_DEADLINE", "runtime": 1024, "deadline": 1024, "period": below_min_period }),
            "ns is outside the kernel's SCHED_DEADLINE period bounds \
             (/proc/sys/kernel/sched_deadline_period_min_us",
        ),
        // oci-spec's own spelling is not the spec's.
        (
            json!({ "policy": "SCHED_OTHER", "flags": ["SCHED_RESET_ON_FORK"] }),
            "process.scheduler.flags[0]",
        ),
        (
            json!({ "policy": "SCHED_NOPE" }),
            "process.scheduler.policy",
        ),
        // The expected names are the spec's, not oci-spec's.
        (
            json!({ "policy": "SCHED_OTHER", "flags": ["SCHED_FLAG_NOPE"] }),
            "process.scheduler.flags[0]`: unknown variant `SCHED_FLAG_NOPE`, expected one of \
             `SCHED_FLAG_RESET_ON_FORK`",
        ),
    ] {
        let mut b = Bundle::busybox();
        b.config_mut()["process"]["scheduler"] = sched.clone();
        let out = run_with(&rt, &mut b, "sched-bad", "true");
        assert_eq!(out.status.code(), Some(1), "{sched}: {}", describe(&out));
        assert!(
            stderr(&out).contains(field),
            "{sched}: wanted {field}: {}",
            stderr(&out)
        );
    }
    let list = rt.ok(&["list", "-q"]);
    assert!(list.trim().is_empty(), "{list}");
}

#[test]
fn memory_policy_is_the_processes_numa_policy() {
    let rt = runtime();
    // This host's node 0 always exists; numa_maps shows the task policy on mappings without their own.
    for (mp, want) in [
        (
            json!({ "mode": "MPOL_BIND", "nodes": "0", "flags": ["MPOL_F_STATIC_NODES"] }),
            "bind=static:0",
        ),
        (
            json!({ "mode": "MPOL_INTERLEAVE", "nodes": "0" }),
            "interleave:0",
        ),
        (
            json!({ "mode": "MPOL_PREFERRED", "nodes": "0" }),
            "prefer:0",
        ),
        (json!({ "mode": "MPOL_LOCAL" }), "local"),
        (json!({ "mode": "MPOL_DEFAULT" }), "default"),
    ] {
        let mut b = sleeper();
        b.config_mut()["linux"]["memoryPolicy"] = mp.clone();
        let out = run_ok(&rt, &mut b, "mempol", "head -1 /proc/self/numa_maps");
        let policy = out
            .split_whitespace()
            .nth(1)
            .unwrap_or_default()
            .to_string();
        assert_eq!(policy, want, "{mp}: {out}");
        // exec'd processes get it too.
        b.config_mut()["process"]["args"] = json!(["sleep", "1000"]);
        let (g, _) = running(&rt, &b, "mempol-exec");
        let out = exec_ok(&rt, g.id(), "head -1 /proc/self/numa_maps");
        assert_eq!(
            out.split_whitespace().nth(1),
            Some(want),
            "exec {mp}: {out}"
        );
    }
    for (mp, field) in [
        (json!({ "mode": "MPOL_BIND" }), "linux.memoryPolicy.nodes"),
        (
            json!({ "mode": "MPOL_LOCAL", "nodes": "0" }),
            "linux.memoryPolicy.nodes",
        ),
        (
            json!({ "mode": "MPOL_BIND", "nodes": "0-x" }),
            "linux.memoryPolicy.nodes",
        ),
        (
            json!({ "mode": "MPOL_BIND", "nodes": "0", "flags": ["MPOL_F_STATIC_NODES", "MPOL_F_RELATIVE_NODES"] }),
            "linux.memoryPolicy.flags",
        ),
        (
            json!({ "mode": "MPOL_SOMETIMES" }),
            "linux.memoryPolicy.mode",
        ),
        // Flag and mode pairs the kernel refuses: named with the rule.
        (
            json!({ "mode": "MPOL_INTERLEAVE", "nodes": "0", "flags": ["MPOL_F_NUMA_BALANCING"] }),
            "linux.memoryPolicy.flags`: MPOL_F_NUMA_BALANCING goes only with MPOL_BIND",
        ),
        (
            json!({ "mode": "MPOL_LOCAL", "flags": ["MPOL_F_STATIC_NODES"] }),
            "linux.memoryPolicy.flags`: MPOL_F_STATIC_NODES and MPOL_F_RELATIVE_NODES need nodes",
        ),
        (
            json!({ "mode": "MPOL_PREFERRED", "flags": ["MPOL_F_RELATIVE_NODES"] }),
            "linux.memoryPolicy.flags`: MPOL_F_STATIC_NODES and MPOL_F_RELATIVE_NODES need nodes",
        ),
        // Node 1000 is not online here: the kernel refuses it and the error names the field.
        (
            json!({ "mode": "MPOL_BIND", "nodes": "1000" }),
            "linux.memoryPolicy`: set_mempolicy `mode 0x2 nodes [1000]`: Invalid argument (os error 22) (a node that \
             is not online",
        ),
    ] {
        let mut b = Bundle::busybox();
        b.config_mut()["linux"]["memoryPolicy"] = mp.clone();
        let out = run_with(&rt, &mut b, "mempol-bad", "true");
        assert_eq!(out.status.code(), Some(1), "{mp}: {}", describe(&out));
        assert!(
            stderr(&out).contains(field),
            "{mp}: wanted {field}: {}",
            stderr(&out)
        );
    }
}

/// runtime-spec 1.3: "`0` is a valid limit value for the `pids` cgroup controller … and SHOULD be treated as such";
/// -1 is `max`; a `pids` object without `limit` leaves `pids.max` alone.
#[test]
fn pids_limit_zero_is_a_real_limit() {
    let rt = runtime();
    // busybox sh exits (status 2) when it cannot fork: the line after the fork is then never printed.
    let script =
        "read -r m < /sys/fs/cgroup/pids/pids.max; echo \"max=$m\"; /bin/true; echo forked=yes";
    for (pids, max, fork) in [
        (json!({ "limit": 0 }), "0", false),
        (json!({ "limit": 1 }), "1", false),
        (json!({ "limit": 2 }), "2", true),
        (json!({ "limit": -1 }), "max", true),
        (json!({}), "max", true),
    ] {
        let mut b = Bundle::busybox();
        b.config_mut()["linux"]["resources"]["pids"] = pids.clone();
        let out = run_with(&rt, &mut b, "pids0", script);
        let text = String::from_utf8_lossy(&out.stdout);
        assert_eq!(value_of(&text, "max"), max, "{pids}: {}", describe(&out));
        assert_eq!(
            text.contains("forked=yes"),
            fork,
            "{pids}: {}",
            describe(&out)
        );
        assert_eq!(out.status.success(), fork, "{pids}: {}", describe(&out));
    }
}
