//! `holm-runtime --isolation vm` end to end on a busybox bundle (one VM for the whole verb sequence, since each
//! boot costs seconds under TCG): create (state `created`, `state.pid` is qemu on the host), start, the
//! container's stdout/stderr, read-write and read-only bind mounts, exec, ps, pause/resume, kill with a trapped
//! SIGTERM, delete, and nothing left. Isolation as the container sees it: the guest kernel's release and uptime
//! (not the host's), no host process among its pids, no host file outside the rootfs and volumes; the guest's wall
//! clock is the host's. A foreground `run` keeps a SIGINT that comes while its VM boots for the container (it
//! neither dies of it nor leaves the VM behind).
//! Helpers: vm_support (needs the guest kernel and the static agent).

mod lifecycle_util;
mod vm_support;

use holm_testkit::{unique_id, wait_until, Bundle};
use lifecycle_util::*;
use std::time::Duration;
use vm_support::*;

const SCRIPT: &str = r#"trap 'echo got-term; exit 5' TERM
echo started; echo to-stderr >&2
echo data > /rw/written
if touch /ro/x 2>/dev/null; then echo ro-WRITABLE; else echo ro-refused; fi
cat /ro/present
echo ready
while :; do sleep 1; done"#;

/// What an exec prints: guest kernel, guest uptime, the guest's clock, the pids' command lines, and a search for
/// the host's marker.
const PROBE: &str = r#"uname -r
cut -d. -f1 /proc/uptime
date +%s
for p in /proc/[0-9]*; do tr '\0' ' ' < $p/cmdline; echo; done
echo found:$(find / -path /proc -prune -o -path /sys -prune -o -name "$1" -print 2>/dev/null)
echo end"#;

#[test]
fn vm_container_verbs_stdio_mounts_and_isolation() {
    let rt = vm_runtime();
    let id = unique_id("vm-life");
    // A host file beside the bundle's rootfs and one in /tmp: the guest must reach neither.
    let marker = format!("host-secret-{id}");
    let mut b = Bundle::busybox();
    std::fs::write(b.path().join(&marker), "secret").unwrap();
    let tmp_marker = tempfile::tempdir().unwrap();
    std::fs::write(tmp_marker.path().join(&marker), "secret").unwrap();
    // A host process with a unique argument: no pid in the guest may be it.
    let mut host_proc = std::process::Command::new("sleep")
        .arg("3599.25")
        .spawn()
        .unwrap();
    let rw = tempfile::tempdir().unwrap();
    let ro = tempfile::tempdir().unwrap();
    std::fs::write(ro.path().join("present"), "ro-content\n").unwrap();
    add_bind(&mut b, rw.path(), "/rw", false);
    add_bind(&mut b, ro.path(), "/ro", true);
    b.set_args(&["sh", "-c", SCRIPT]);
    let _g = rt.guard(&id);

    let io = create_vm(&rt, &["--isolation", "vm"], &b, &id);
    let (st, pid) = status(&rt, &id);
    assert_eq!(st, "created");
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
    assert!(
        comm.starts_with("qemu"),
        "state.pid {pid} should be qemu on the host, is `{}`",
        comm.trim()
    );
    assert!(
        !io.out().contains("started"),
        "the process ran before start: {}",
        io.out()
    );

    rt.ok(&["start", &id]);
    io.wait_out("ready", Duration::from_secs(120));
    assert_eq!(status(&rt, &id).0, "running");
    let out = io.out();
    assert!(out.contains("started\n"), "{out}");
    assert!(
        out.contains("ro-refused\n"),
        "a read-only bind mount took a write: {out}"
    );
    assert!(out.contains("ro-content\n"), "{out}");
    assert!(io.err().contains("to-stderr\n"), "stderr: {}", io.err());
    assert_eq!(
        std::fs::read_to_string(rw.path().join("written")).unwrap(),
        "data\n"
    );
    assert!(!ro.path().join("x").exists());

    // exec: the guest's kernel and uptime, its pids, the host marker.
    let probe = rt.ok(&["exec", &id, "sh", "-c", PROBE, "probe", &marker]);
    let lines: Vec<&str> = probe.lines().collect();
    assert!(probe.ends_with("end\n"), "exec output: {probe}");
    assert_ne!(lines[0], host_release(), "uname -r in the VM is the host's");
    let guest_up: u64 = lines[1].parse().unwrap();
    let host_up: f64 = std::fs::read_to_string("/proc/uptime")
        .unwrap()
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        (guest_up as f64) < host_up && guest_up < 600,
        "guest uptime {guest_up} s should be the fresh guest's (host: {host_up} s)"
    );
    // The guest's wall clock starts from the host's (qemu's RTC; without one a TCG guest started at 1970).
    let guest_now: i64 = lines[2].parse().unwrap();
    let host_now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    assert!(
        (guest_now - host_now).abs() < 300,
        "the guest's clock says {guest_now}, the host's {host_now}"
    );
    assert!(
        !probe.contains("3599.25"),
        "a host process is visible in the VM:\n{probe}"
    );
    assert!(
        probe.contains("sh -c"),
        "the container's own init should be listed:\n{probe}"
    );
    assert!(
        probe.contains("\nfound:\n"),
        "a host file is reachable from the VM:\n{probe}"
    );
    // An exec's exit code comes back.
    let out = rt.run(&["exec", &id, "sh", "-c", "exit 4"]);
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));

    // ps: guest pids under a PID header.
    let ps = rt.ok(&["ps", &id]);
    // runc's table: ps -ef's columns, the guest's processes (the init's script, uid 0 named root).
    let mut ps_lines = ps.lines();
    assert_eq!(
        ps_lines.next(),
        Some("UID          PID    PPID  C STIME TTY          TIME CMD"),
        "{ps}"
    );
    let rows: Vec<&str> = ps_lines.collect();
    assert!(
        rows.iter().any(|l| l.starts_with("root ")
            && l.contains(" ?        00:00:")
            && l.contains("sh -c trap")),
        "{ps}"
    );
    let json = rt.ok(&["ps", "--format", "json", &id]);
    let pids: Vec<i32> = serde_json::from_str(&json).unwrap();
    assert_eq!(pids.len(), rows.len(), "{json} {ps}");

    // pause freezes the VM; resume thaws it and exec works again.
    rt.ok(&["pause", &id]);
    assert_eq!(status(&rt, &id).0, "paused");
    rt.ok(&["resume", &id]);
    assert_eq!(status(&rt, &id).0, "running");
    assert_eq!(
        rt.ok(&["exec", &id, "echo", "after-resume"]),
        "after-resume\n"
    );

    // kill TERM: the init's trap runs and it exits; the container is stopped.
    rt.ok(&["kill", &id, "TERM"]);
    wait_vm_status(&rt, &id, "stopped");
    assert!(io.out().contains("got-term\n"), "{}", io.out());
    rt.ok(&["delete", &id]);
    assert!(!alive(pid as i32), "qemu {pid} outlived delete");
    assert_no_trace(&rt, &id, b.path());
    let _ = host_proc.kill();
    let _ = host_proc.wait();
}

/// `run` in the foreground blocks signals from its start, as runc's does: a SIGINT that comes while the VM boots
/// (the shim exists, the container has not started) neither kills the runtime (which would leave the VM running,
/// with no one to delete it) nor is lost; it reaches the container's init once it runs. An init without a handler
/// yet ignores it (a pid namespace's init gets only signals it handles); then a SIGINT once the trap is set runs the
/// trap, whose exit code `run` returns, and `run` deletes the container.
#[test]
fn a_foreground_run_keeps_a_signal_that_comes_while_the_vm_boots() {
    let rt = vm_runtime();
    let id = unique_id("vm-run-sig");
    let mut b = Bundle::busybox();
    b.set_args(&[
        "sh",
        "-c",
        "trap 'echo got-int; exit 9' INT; echo ready; while :; do sleep 1; done",
    ]);
    let _g = rt.guard(&id);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let mut child = rt
        .cmd(&[
            "--isolation",
            "vm",
            "run",
            "--bundle",
            path_str(b.path()),
            &id,
        ])
        .stdin(std::process::Stdio::null())
        .stdout(std::fs::File::create(&out).unwrap())
        .spawn()
        .unwrap();
    let text = || std::fs::read_to_string(&out).unwrap_or_default();
    let state_dir = rt.root().join(&id);
    wait_until(VM_CALL_TIMEOUT, "the VM shim to start", || {
        state_dir.join("shim.pid").exists()
    });
    assert!(
        !text().contains("ready"),
        "the container ran before the SIGINT"
    );
    holm_sys::process::kill(child.id() as i32, libc::SIGINT).unwrap();
    let mut ended = None;
    wait_until(VM_CALL_TIMEOUT, "the container to run (or end)", || {
        ended = child.try_wait().unwrap();
        ended.is_some() || text().contains("ready")
    });
    if ended.is_none() {
        // The first SIGINT may have come before the trap was set (ignored) or after (the trap ran): send one more
        // only while the runtime still waits.
        std::thread::sleep(Duration::from_millis(300));
        if child.try_wait().unwrap().is_none() {
            holm_sys::process::kill(child.id() as i32, libc::SIGINT).unwrap();
        }
    }
    let end = std::time::Instant::now() + VM_CALL_TIMEOUT;
    let st = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        assert!(
            std::time::Instant::now() < end,
            "run did not end: {:?}",
            text()
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    // 9: the trap ran. 130: sh's own SIGINT handling took it before the trap was set (the guest agent holds a
    // signal for the init until the init handles it, and busybox sh handles SIGINT from its start), as a process
    // container's sh does with a signal that comes that early. Either way the container got it.
    assert!(
        matches!(st.code(), Some(9 | 130)),
        "run's status {st:?}; output {:?}",
        text()
    );
    if st.code() == Some(9) {
        assert!(text().contains("got-int"), "{:?}", text());
    }
    // `run` deleted the container: no state, no shim, no qemu.
    wait_until(Duration::from_secs(30), "run's delete", || {
        !state_dir.exists()
    });
}

/// Each `Create` carries fresh host randomness and the host's clock (protocol v3): the agent reseeds the guest's
/// CRNG and sets its wall clock first. Two VMs (started side by side) read different bytes from /dev/urandom and
/// show the host's date.
#[test]
fn guests_get_host_randomness_and_the_host_clock() {
    let rt = vm_runtime();
    let mut b = Bundle::busybox();
    b.set_args(&[
        "sh",
        "-c",
        "date +%s; head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \\n'; echo",
    ]);
    let dir = tempfile::tempdir().unwrap();
    let ids: Vec<String> = (0..2).map(|_| unique_id("vm-rand")).collect();
    let _guards: Vec<_> = ids.iter().map(|id| rt.guard(id)).collect();
    let children: Vec<_> = ids
        .iter()
        .map(|id| {
            let out = dir.path().join(id);
            let child = rt
                .cmd(&[
                    "--isolation",
                    "vm",
                    "run",
                    "--bundle",
                    path_str(b.path()),
                    id,
                ])
                .stdin(std::process::Stdio::null())
                .stdout(std::fs::File::create(&out).unwrap())
                .spawn()
                .unwrap();
            (child, out)
        })
        .collect();
    let mut seen = Vec::new();
    for (mut child, out) in children {
        let st = child.wait().unwrap();
        let host = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        let text = std::fs::read_to_string(&out).unwrap();
        assert!(st.success(), "run: {st:?}; output {text:?}");
        let mut lines = text.lines();
        let date: i64 = lines
            .next()
            .unwrap_or_default()
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("date in {text:?}"));
        // The guest printed its date before the run returned: at most a few seconds before the host's now.
        assert!(
            (host - 30..=host + 2).contains(&date),
            "guest date {date}, host {host}"
        );
        let rnd = lines.next().unwrap_or_default().trim().to_string();
        assert_eq!(rnd.len(), 32, "16 random bytes in hex: {text:?}");
        seen.push(rnd);
    }
    assert_ne!(seen[0], seen[1], "two guests read the same random bytes");
}
