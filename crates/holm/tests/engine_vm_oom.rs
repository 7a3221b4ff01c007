//! A VM container (`--isolation vm`) whose process the guest's OOM killer kills: exit 137 and
//! `State.OOMKilled` true, as for a process container (the guest agent reports its cgroup's `oom_kill` count
//! with each exit; the runtime's VM shim records it for the engine and for `holm-runtime events`); one that just
//! exits has it false. Root, TCG (`HOLM_VM_ACCEL=tcg` unless set), `$HOLM_VM_AGENT` and holm-runtime built (as
//! engine_vm).

#[path = "../../image/tests/common/mod.rs"]
mod common;
mod engine_common;

use engine_common::{vm, vm_engine, Engine, IMAGE};

/// `holm ARGS` as [`vm`], failing the test after `limit` (the engine's drop removes what is left).
fn vm_within(
    e: &Engine,
    args: &[&str],
    limit: std::time::Duration,
) -> (Option<i32>, String, String) {
    let mut c = e.cmd(args);
    if std::env::var_os("HOLM_VM_ACCEL").is_none() {
        c.env("HOLM_VM_ACCEL", "tcg");
    }
    let mut child = c
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let end = std::time::Instant::now() + limit;
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > end {
            let _ = child.kill();
            let _ = child.wait();
            panic!("holm {args:?} still runs after {limit:?}");
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let o = child.wait_with_output().unwrap();
    (
        o.status.code(),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
fn guest_oom_kill_is_oom_killed() {
    let e = vm_engine();
    // The shell itself grows past the limit (the reviewer's reproducer); bounded, as a guest that thrashes its
    // page cache before the OOM killer acts can take long under TCG.
    let (code, _, err) = vm_within(
        &e,
        &[
            "run",
            "--name",
            "oom",
            "--isolation",
            "vm",
            "--memory",
            "16m",
            IMAGE,
            "sh",
            "-c",
            "x=$(head -c 30000000 /dev/zero | tr '\\0' a); echo survived",
        ],
        std::time::Duration::from_secs(240),
    );
    assert_eq!(code, Some(137), "{err}");
    let st = &e.inspect("oom")["State"];
    assert_eq!(st["OOMKilled"], true, "{st}");
    assert_eq!(st["ExitCode"], 137, "{st}");
    let (code, _, err) = vm(
        &e,
        &[
            "run",
            "--name",
            "fine",
            "--isolation",
            "vm",
            "--memory",
            "16m",
            IMAGE,
            "true",
        ],
    );
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(e.inspect("fine")["State"]["OOMKilled"], false);
    // docker's `oom` event before `die`, for the one that was killed only
    let evs = e.ok(&[
        "events",
        "--since",
        "0",
        "--until",
        "0s",
        "--filter",
        "event=oom",
        "--filter",
        "event=die",
        "--format",
        "{{.Action}} {{.Actor.Attributes.name}}",
    ]);
    assert_eq!(evs, "oom oom\ndie oom\ndie fine\n");
    e.ok(&["rm", "-f", "oom", "fine"]);
}
