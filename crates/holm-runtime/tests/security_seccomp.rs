//! Issue 4: `linux.seccomp` — actions, errnoRet, args (incl. SCMP_CMP_MASKED_EQ and runc's same-index OR rule),
//! unknown names, malformed profiles, NOTIFY with a listener, and the default profile of `spec`.

mod security_support;

use holm_testkit::{unique_id, Bundle};
use security_support::*;
use serde_json::json;
use std::os::fd::AsFd;

fn with_profile(b: &mut Bundle, profile: serde_json::Value) {
    cfg(b)["linux"]["seccomp"] = profile;
    cfg(b)["root"]["readonly"] = json!(false);
}

#[test]
fn errno_rule_returns_the_configured_errno_and_status_shows_the_filter() {
    let rt = runtime();
    let mut b = Bundle::busybox();
    with_profile(
        &mut b,
        json!({"defaultAction": "SCMP_ACT_ALLOW",
               "syscalls": [{"names": ["mkdir", "mkdirat", "no_such_syscall_xyz"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13}]}),
    );
    let out = run_ok(
        &rt,
        &mut b,
        "mkdir /tmp/x 2>&1; grep -E '^Seccomp' /proc/self/status",
    );
    assert!(
        out.contains("Permission denied"),
        "EACCES (13) expected: {out}"
    );
    assert!(out.contains("Seccomp:\t2"), "{out}");
    assert!(out.contains("Seccomp_filters:\t1"), "{out}");
    // Without the rule the same command works: the filter, not the rootfs, refused it.
    let mut b = Bundle::busybox();
    cfg(&mut b)["root"]["readonly"] = json!(false);
    let out = run_ok(&rt, &mut b, "mkdir /tmp/x && echo made");
    assert_eq!(out.trim(), "made");
}

#[test]
fn errno_defaults_follow_the_spec() {
    let rt = runtime();
    // A rule without errnoRet returns EPERM.
    let mut b = Bundle::busybox();
    with_profile(
        &mut b,
        json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"}]}),
    );
    let out = run_ok(&rt, &mut b, "mkdir /tmp/y 2>&1; true");
    assert!(out.contains("Operation not permitted"), "{out}");
    // defaultErrnoRet with an action that takes no errno is an error (runtime-spec config-linux.md#seccomp).
    let mut b = Bundle::busybox();
    cfg(&mut b)["linux"]["seccomp"] =
        json!({"defaultAction": "SCMP_ACT_ALLOW", "defaultErrnoRet": 2});
    b.write_config();
    assert_create_fails(&rt, &b, &["linux.seccomp.defaultAction"]);
}

#[test]
fn masked_eq_and_same_index_or_semantics() {
    let rt = runtime();
    let mut b = Bundle::busybox();
    // chmod(path, mode): mode is arg 1; fchmodat(dirfd, path, mode): arg 2. Deny when (mode & 0o777) == 0o700.
    let masked = |idx: u32| json!([{"index": idx, "value": 0o777, "valueTwo": 0o700, "op": "SCMP_CMP_MASKED_EQ"}]);
    // Two conditions on the same index are OR-ed (runc): deny mode 0o711 or 0o733.
    let or = |idx: u32| json!([{"index": idx, "value": 0o711, "op": "SCMP_CMP_EQ"}, {"index": idx, "value": 0o733, "op": "SCMP_CMP_EQ"}]);
    with_profile(
        &mut b,
        json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
            {"names": ["chmod"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1, "args": masked(1)},
            {"names": ["fchmodat", "fchmodat2"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1, "args": masked(2)},
            {"names": ["chmod"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13, "args": or(1)},
            {"names": ["fchmodat", "fchmodat2"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13, "args": or(2)}]}),
    );
    let out = run_ok(
        &rt,
        &mut b,
        "touch /tmp/f; for m in 700 4700 755 711 733 777; do chmod $m /tmp/f 2>/dev/null && echo $m=ok || echo $m=denied; done",
    );
    let got: Vec<&str> = out.split_whitespace().collect();
    assert_eq!(
        got,
        [
            "700=denied",
            "4700=denied",
            "755=ok",
            "711=denied",
            "733=denied",
            "777=ok"
        ],
        "{out}"
    );
}

#[test]
fn kill_process_action_kills_with_sigsys() {
    let rt = runtime();
    let mut b = Bundle::busybox();
    with_profile(
        &mut b,
        json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_KILL_PROCESS"}]}),
    );
    b.set_args(&["mkdir", "/tmp/z"]);
    let id = unique_id("seckill");
    let _g = rt.guard(&id);
    let out = rt.run(&["run", "--bundle", b.path().to_str().unwrap(), &id]);
    assert_eq!(
        out.status.code(),
        Some(128 + libc::SIGSYS),
        "{}",
        describe(&out)
    );
}

#[test]
fn malformed_profiles_fail_naming_the_field_and_leave_nothing() {
    let rt = runtime();
    let cases = [
        (
            json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ALLOW", "errnoRet": 1}]}),
            "linux.seccomp.syscalls[0]",
        ),
        (
            json!({"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_NOPE"]}),
            "linux.seccomp.architectures",
        ),
        (
            json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 7, "value": 1, "op": "SCMP_CMP_EQ"}]}]}),
            "index",
        ),
        (
            json!({"defaultAction": "SCMP_ACT_BOGUS"}),
            "linux.seccomp.defaultAction",
        ),
        (
            json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"}]}),
            "listenerPath",
        ),
    ];
    for (profile, field) in cases {
        let mut b = Bundle::busybox();
        cfg(&mut b)["linux"]["seccomp"] = profile;
        b.write_config();
        assert_create_fails(&rt, &b, &[field]);
    }
}

#[test]
fn notify_delivers_the_listener_fd_with_the_process_state() {
    let rt = runtime();
    let mut b = Bundle::busybox();
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("listener.sock");
    let listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
    with_profile(
        &mut b,
        json!({"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": sock, "listenerMetadata": "holm-test-meta",
               "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_NOTIFY"}]}),
    );
    let agent = std::thread::spawn(move || {
        let (conn, _) = listener.accept().unwrap();
        let mut buf = vec![0u8; 64 * 1024];
        let (n, fds) = holm_sys::socket::recv_with_fds(conn.as_fd(), &mut buf).unwrap();
        let state: serde_json::Value = serde_json::from_slice(&buf[..n]).unwrap();
        // Dropping the notify fd makes the pending mkdir fail (ENOSYS) instead of hanging.
        (state, fds.len())
    });
    let (out, id) = run_sh(&rt, &mut b, "mkdir /tmp/n 2>&1; echo done");
    let (state, nfds) = agent.join().unwrap();
    assert!(out.status.success(), "{}", describe(&out));
    assert_eq!(nfds, 1, "exactly the seccomp fd is passed");
    assert_eq!(state["fds"], json!(["seccompFd"]), "{state}");
    assert_eq!(state["metadata"], "holm-test-meta", "{state}");
    assert_eq!(state["state"]["id"], id.as_str(), "{state}");
    assert!(state["pid"].as_i64().unwrap() > 0, "{state}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("done") && !stdout.contains("File exists"),
        "{stdout}"
    );
}

/// A seccomp notify agent on `listener`: accepts every connection (one per filter: the init's, each exec's),
/// takes the listener fd from it, and answers every notification with ESTALE, until `done` is set and nothing is
/// pending. Returns the (syscall name, pid) of each answered notification.
fn notify_agent(
    listener: std::os::unix::net::UnixListener,
    done: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> std::thread::JoinHandle<Vec<(String, u32)>> {
    use std::os::fd::AsRawFd;
    listener.set_nonblocking(true).unwrap();
    std::thread::spawn(move || {
        let mut fds: Vec<std::os::fd::OwnedFd> = Vec::new();
        let mut answered = Vec::new();
        loop {
            if let Ok((conn, _)) = listener.accept() {
                conn.set_nonblocking(false).unwrap();
                let mut buf = vec![0u8; 64 * 1024];
                let (_, got) = holm_sys::socket::recv_with_fds(conn.as_fd(), &mut buf).unwrap();
                fds.extend(got);
            }
            let borrowed: Vec<_> = fds.iter().map(|f| f.as_fd()).collect();
            let ready = if borrowed.is_empty() {
                std::thread::sleep(std::time::Duration::from_millis(20));
                Vec::new()
            } else {
                holm_sys::process::poll_any(&borrowed, 50).unwrap()
            };
            if !ready.contains(&true) {
                if done.load(std::sync::atomic::Ordering::SeqCst) {
                    return answered;
                }
                continue;
            }
            let mut gone = Vec::new();
            for (i, r) in ready.iter().enumerate() {
                if !r {
                    continue;
                }
                // POLLHUP once no process uses that filter any more: receive fails, and the fd is dropped.
                let Ok(req) = libseccomp::ScmpNotifReq::receive(fds[i].as_raw_fd()) else {
                    gone.push(i);
                    continue;
                };
                let name = req.data.syscall.get_name().unwrap_or_default();
                let resp = libseccomp::ScmpNotifResp::new_error(
                    req.id,
                    -libc::ESTALE,
                    libseccomp::ScmpNotifRespFlags::empty(),
                );
                // The caller may have died meanwhile (the notification is then gone).
                let _ = resp.respond(fds[i].as_raw_fd());
                answered.push((name, req.pid));
            }
            for i in gone.into_iter().rev() {
                fds.remove(i);
            }
        }
    })
}

/// A busybox bundle whose `mkdir` and `mkdirat` are notified to a listener at `sock`.
fn notify_bundle(sock: &std::path::Path) -> Bundle {
    let mut b = Bundle::busybox();
    with_profile(
        &mut b,
        json!({"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": sock,
               "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_NOTIFY"}]}),
    );
    b
}

/// A notify agent on `listenerPath` answers the notified `mkdir`s of the process and of a `startContainer`
/// hook (which runs in the container under the filter: with SCMP_ACT_NOTIFY the filter is loaded before
/// `Created`, so its listener fd can reach the runtime) with ESTALE; both callers see the agent's answer.
#[test]
fn notify_agent_answers_the_process_and_a_start_container_hook() {
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("listener.sock");
    let listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
    let mut b = notify_bundle(&sock);
    cfg(&mut b)["hooks"]["startContainer"] = json!([
        { "path": "/bin/sh", "args": ["sh", "-c", "mkdir /tmp/from-hook 2>/tmp/hook.err; true"] }
    ]);
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let agent = notify_agent(listener, done.clone());
    let (out, _) = run_sh(
        &rt,
        &mut b,
        "mkdir /tmp/from-proc 2>&1; echo hook: $(cat /tmp/hook.err)",
    );
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    let answered = agent.join().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", describe(&out));
    assert!(
        stdout.contains("/tmp/from-proc': Stale file handle"),
        "the process's mkdir: {}",
        describe(&out)
    );
    assert!(
        stdout.contains("hook: mkdir: can't create directory '/tmp/from-hook': Stale file handle"),
        "the hook's mkdir: {}",
        describe(&out)
    );
    assert_eq!(answered.len(), 2, "{answered:?}");
    assert!(
        answered.iter().all(|(n, _)| n.starts_with("mkdir")),
        "{answered:?}"
    );
    assert_ne!(answered[0].1, answered[1].1, "two processes: {answered:?}");
    assert!(!b.rootfs().join("tmp/from-proc").exists());
    assert!(!b.rootfs().join("tmp/from-hook").exists());
}

/// `exec` loads its own filter last (noNewPrivileges), then sends its listener fd to the agent over the still
/// open channel: the exec'd process's notified `mkdir` is answered, with both nnp settings.
#[test]
fn notify_agent_answers_an_exec() {
    let rt = runtime();
    for nnp in [true, false] {
        let dir = tempfile::tempdir().unwrap();
        let sock = dir.path().join("listener.sock");
        let listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
        let mut b = notify_bundle(&sock);
        cfg(&mut b)["process"]["noNewPrivileges"] = json!(nnp);
        b.set_args(&["sleep", "1000"]);
        let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let agent = notify_agent(listener, done.clone());
        let id = unique_id("notify-exec");
        let g = rt.guard(&id);
        rt.ok(&[
            "run",
            "--detach",
            "--bundle",
            b.path().to_str().unwrap(),
            &id,
        ]);
        let out = rt.run(&[
            "exec",
            &id,
            "sh",
            "-c",
            "mkdir /tmp/from-exec 2>&1; echo done",
        ]);
        drop(g);
        done.store(true, std::sync::atomic::Ordering::SeqCst);
        let answered = agent.join().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "nnp {nnp}: {}", describe(&out));
        assert!(
            stdout.contains("/tmp/from-exec': Stale file handle") && stdout.contains("done"),
            "nnp {nnp}: {}",
            describe(&out)
        );
        assert_eq!(answered.len(), 1, "nnp {nnp}: {answered:?}");
    }
}

#[test]
fn spec_default_profile_blocks_namespace_and_mount_calls_but_runs_programs() {
    let rt = runtime();
    let mut b = Bundle::busybox();
    std::fs::remove_file(b.path().join("config.json")).unwrap();
    rt.ok(&["spec", "--bundle", b.path().to_str().unwrap()]);
    let mut spec: serde_json::Value =
        serde_json::from_slice(&std::fs::read(b.path().join("config.json")).unwrap()).unwrap();
    spec["process"]["terminal"] = json!(false);
    *cfg(&mut b) = spec;
    let out = run_ok(
        &rt,
        &mut b,
        "grep -E '^(Seccomp|CapInh|CapAmb)' /proc/self/status; ls / >/dev/null && echo ls=ok; \
         unshare -n true 2>/dev/null && echo unshare=ok || echo unshare=denied; \
         mount -t tmpfs none /tmp 2>/dev/null && echo mount=ok || echo mount=denied",
    );
    assert!(out.contains("Seccomp:\t2"), "{out}");
    assert!(
        out.contains("CapInh:\t0000000000000000") && out.contains("CapAmb:\t0000000000000000"),
        "{out}"
    );
    assert!(
        out.contains("ls=ok") && out.contains("unshare=denied") && out.contains("mount=denied"),
        "{out}"
    );
}
