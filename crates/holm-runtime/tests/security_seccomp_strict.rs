//! Issue 11, "any seccomp profile runc accepts works": after the filter is loaded the init (and an exec'd
//! process) makes no system call a profile may deny but the final `execve`. Profiles whose default is an errno
//! (EPERM, ENOSYS, ENXIO) or SCMP_ACT_KILL_PROCESS and whose allow-list holds only what busybox `sh -c 'echo'`
//! itself needs (found with strace) run, for `run` and for `exec`; so does Docker's old default profile (errno
//! default, long allow-list without `close_range`) with noNewPrivileges false, under holm and under runc.
//!
//! Debian's runc 1.1.5 does not run the strict profiles: it loads the filter before its own last steps and
//! fails with `close log pipe fd 4: operation not permitted`, then (with `close` allowed)
//! `open exec fifo /proc/self/fd/5: operation not permitted`; runc 1.2 moved the load after the fifo.

mod security_support;

use holm_testkit::{unique_id, Bundle, Runtime};
use security_support::*;
use serde_json::{json, Value};

/// What busybox `sh -c 'echo ...'` (and `sleep`, for the container an exec joins) calls, from
/// `strace -f busybox sh -c 'echo hi'` on Debian 12's busybox-static, plus `getcwd` (sh calls it in a container,
/// where PWD is unset; the audit log of a SCMP_ACT_KILL_PROCESS run named it): nothing of the runtime's own.
const MINIMAL: &[&str] = &[
    "execve",
    "arch_prctl",
    "brk",
    "exit_group",
    "getcwd",
    "getpid",
    "getppid",
    "getrandom",
    "getuid",
    "mprotect",
    "newfstatat",
    "prctl",
    "prlimit64",
    "readlink",
    "rseq",
    "rt_sigaction",
    "set_robust_list",
    "set_tid_address",
    "uname",
    "write",
    "nanosleep",
    "clock_nanosleep",
];

/// A profile with default action `action` (and `defaultErrnoRet` `errno`) allowing only [`MINIMAL`].
fn strict(action: &str, errno: Option<u32>) -> Value {
    let mut p = json!({
        "defaultAction": action,
        "syscalls": [ { "names": MINIMAL, "action": "SCMP_ACT_ALLOW" } ]
    });
    if let Some(e) = errno {
        p["defaultErrnoRet"] = json!(e);
    }
    p
}

/// The four strict profiles: (name, profile, what `mkdir` reports under it: an errno message, or `None` for
/// SIGSYS).
fn profiles() -> Vec<(&'static str, Value, Option<&'static str>)> {
    vec![
        (
            "eperm",
            strict("SCMP_ACT_ERRNO", Some(1)),
            Some("Operation not permitted"),
        ),
        (
            "enosys",
            strict("SCMP_ACT_ERRNO", Some(38)),
            Some("Function not implemented"),
        ),
        (
            "enxio",
            strict("SCMP_ACT_ERRNO", Some(6)),
            Some("No such device or address"),
        ),
        ("kill", strict("SCMP_ACT_KILL_PROCESS", None), None),
    ]
}

/// A busybox bundle with `profile`, `noNewPrivileges` `nnp`, a writable rootfs, running `sh -c script`.
fn bundle(profile: &Value, nnp: bool, script: &str) -> Bundle {
    let mut b = Bundle::busybox();
    cfg(&mut b)["linux"]["seccomp"] = profile.clone();
    cfg(&mut b)["process"]["noNewPrivileges"] = json!(nnp);
    cfg(&mut b)["root"]["readonly"] = json!(false);
    b.set_args(&["sh", "-c", script]);
    b.write_config();
    b
}

/// `echo` works; `mkdir` (not in the allow-list) is refused with the profile's errno, or kills with SIGSYS.
const SCRIPT: &str = "echo hello-$0; mkdir /tmp/denied";

/// Checks the output of [`SCRIPT`] under a profile whose `mkdir` outcome is `denied`.
fn check(what: &str, out: &std::process::Output, denied: Option<&str>) {
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stdout.contains("hello-sh"), "{what}: {}", describe(out));
    assert!(
        !stderr.contains("close_range") && !stderr.contains("did not start"),
        "{what}: {}",
        describe(out)
    );
    match denied {
        Some(msg) => {
            assert_eq!(out.status.code(), Some(1), "{what}: {}", describe(out));
            assert!(
                stderr.contains(&format!("/tmp/denied': {msg}")),
                "{what}: {}",
                describe(out)
            );
        }
        None => assert_eq!(
            out.status.code(),
            Some(128 + libc::SIGSYS),
            "{what}: {}",
            describe(out)
        ),
    }
}

fn run_in(rt: &Runtime, b: &Bundle) -> std::process::Output {
    let id = unique_id("strict");
    let _g = rt.guard(&id);
    rt.run(&["run", "--bundle", b.path().to_str().unwrap(), &id])
}

#[test]
fn strict_profiles_run() {
    let rt = runtime();
    for (name, profile, denied) in profiles() {
        let b = bundle(&profile, true, SCRIPT);
        check(&format!("run {name}"), &run_in(&rt, &b), denied);
    }
}

#[test]
fn strict_profiles_exec() {
    let rt = runtime();
    for (name, profile, denied) in profiles() {
        let mut b = bundle(&profile, true, "");
        b.set_args(&["sleep", "1000"]);
        b.write_config();
        let id = unique_id("strict-exec");
        let _g = rt.guard(&id);
        rt.ok(&[
            "run",
            "--detach",
            "--bundle",
            b.path().to_str().unwrap(),
            &id,
        ]);
        let out = rt.run(&["exec", &id, "sh", "-c", SCRIPT]);
        check(&format!("exec {name}"), &out, denied);
    }
}

/// Docker's default profile before `close_range` was added (errno default, a long allow-list), here `spec`'s
/// docker-like default without `close_range`, with noNewPrivileges false (the filter loads before the user
/// switch, with CAP_SYS_ADMIN): run and exec work, and a call outside the list is refused.
#[test]
fn docker_profile_without_close_range_and_without_nnp() {
    let rt = runtime();
    let spec_dir = tempfile::tempdir().unwrap();
    rt.ok(&["spec", "--bundle", spec_dir.path().to_str().unwrap()]);
    let spec: Value =
        serde_json::from_slice(&std::fs::read(spec_dir.path().join("config.json")).unwrap())
            .unwrap();
    let mut profile = spec["linux"]["seccomp"].clone();
    assert_eq!(profile["defaultAction"], "SCMP_ACT_ERRNO", "{profile}");
    let mut removed = 0;
    for rule in profile["syscalls"].as_array_mut().unwrap() {
        let names = rule["names"].as_array_mut().unwrap();
        let before = names.len();
        names.retain(|n| n != "close_range");
        removed += before - names.len();
    }
    assert!(removed > 0, "spec's profile lists close_range");
    let script =
        "echo hello-$0; unshare -n true 2>/dev/null && echo unshare=ok || echo unshare=denied";
    for rt in [runtime(), Runtime::runc()] {
        let b = bundle(&profile, false, script);
        let out = run_in(&rt, &b);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{}: {}",
            rt.bin().display(),
            describe(&out)
        );
        assert!(
            stdout.contains("hello-sh") && stdout.contains("unshare=denied"),
            "{}: {}",
            rt.bin().display(),
            describe(&out)
        );
    }
    let mut b = bundle(&profile, false, "");
    b.set_args(&["sleep", "1000"]);
    b.write_config();
    let id = unique_id("docker-exec");
    let _g = rt.guard(&id);
    rt.ok(&[
        "run",
        "--detach",
        "--bundle",
        b.path().to_str().unwrap(),
        &id,
    ]);
    let out = rt.run(&["exec", &id, "sh", "-c", script]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", describe(&out));
    assert!(
        stdout.contains("hello-sh") && stdout.contains("unshare=denied"),
        "{}",
        describe(&out)
    );
}
