//! Issue 5, `exec`: what the exec'd process gets (capabilities, no_new_privs, user and groups, rlimits, umask,
//! environment, cwd, seccomp), the `--process` file, exit codes, and the container states exec refuses.

mod exec_support;

use exec_support::*;
use holm_testkit::{unique_id, wait_until};
use serde_json::json;
use std::time::Duration;

/// CAP_AUDIT_WRITE | CAP_KILL | CAP_NET_BIND_SERVICE, the default config's sets.
const DEFAULT_CAPS: &str = "0000000020000420";

fn caps_of(status: &str) -> [String; 5] {
    ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"].map(|f| status_field(status, f))
}

#[test]
fn exit_codes_are_passed_through() {
    let rt = runtime();
    let b = sleeper();
    let (g, _) = running(&rt, &b, "exec-codes");
    assert_eq!(exec_sh(&rt, g.id(), "exit 3").status.code(), Some(3));
    assert_eq!(exec_sh(&rt, g.id(), "true").status.code(), Some(0));
    let out = exec_sh(&rt, g.id(), "kill -9 $$");
    assert_eq!(out.status.code(), Some(137), "{}", describe(&out));
    let out = exec_sh(&rt, g.id(), "kill -TERM $$");
    assert_eq!(out.status.code(), Some(143), "{}", describe(&out));
}

#[test]
fn a_missing_executable_fails_naming_it() {
    let rt = runtime();
    let b = sleeper();
    let (g, init) = running(&rt, &b, "exec-missing");
    let out = rt.run(&["exec", g.id(), "no-such-binary-holm", "arg"]);
    assert_eq!(out.status.code(), Some(255), "{}", describe(&out));
    let err = stderr(&out);
    assert!(
        err.contains("\"no-such-binary-holm\"") && err.contains("not found"),
        "{err}"
    );
    let out = rt.run(&["exec", g.id(), "/no/such/path"]);
    assert_eq!(out.status.code(), Some(255), "{}", describe(&out));
    assert!(stderr(&out).contains("/no/such/path"), "{}", describe(&out));
    // Nothing was left behind in the container: seen from the host, only the init is in its pid namespace.
    assert_eq!(pids_in_pid_ns_of(init), vec![init]);
}

/// Host pids of every process in the pid namespace of `pid` (sorted).
fn pids_in_pid_ns_of(pid: i32) -> Vec<i32> {
    let ns = |p: &str| std::fs::read_link(format!("/proc/{p}/ns/pid")).ok();
    let want = ns(&pid.to_string()).expect("the init's pid namespace");
    let mut pids: Vec<i32> = std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|p| ns(&p.to_string()).as_ref() == Some(&want))
        .collect();
    pids.sort();
    pids
}

#[test]
fn capabilities_are_the_containers_and_cap_never_adds_inheritable() {
    let rt = runtime();
    let b = sleeper();
    let (g, init) = running(&rt, &b, "exec-caps");
    let out = exec_ok(&rt, g.id(), "cat /proc/self/status");
    let init_status = std::fs::read_to_string(format!("/proc/{init}/status")).unwrap();
    assert_eq!(caps_of(&out), caps_of(&init_status), "{out}");
    assert_eq!(
        caps_of(&out),
        [
            "0000000000000000",
            DEFAULT_CAPS,
            DEFAULT_CAPS,
            DEFAULT_CAPS,
            "0000000000000000"
        ]
        .map(String::from)
    );
    assert_eq!(status_field(&out, "NoNewPrivs"), "1");

    // --cap CAP_NET_RAW (bit 13) joins the bounding, effective and permitted sets only.
    let out = rt.ok(&[
        "exec",
        "--cap",
        "CAP_NET_RAW",
        g.id(),
        "cat",
        "/proc/self/status",
    ]);
    let with = "0000000020002420";
    assert_eq!(
        caps_of(&out),
        ["0000000000000000", with, with, with, "0000000000000000"].map(String::from),
        "{out}"
    );
}

#[test]
fn no_new_privs_flag_and_config() {
    let rt = runtime();
    let mut b = sleeper();
    b.config_mut()["process"]["noNewPrivileges"] = json!(false);
    let (g, _) = running(&rt, &b, "exec-nnp");
    let out = exec_ok(&rt, g.id(), "cat /proc/self/status");
    assert_eq!(status_field(&out, "NoNewPrivs"), "0");
    let out = rt.ok(&["exec", "--no-new-privs", g.id(), "cat", "/proc/self/status"]);
    assert_eq!(status_field(&out, "NoNewPrivs"), "1");
}

#[test]
fn user_groups_env_cwd_rlimits_and_umask() {
    let rt = runtime();
    let mut b = sleeper();
    b.config_mut()["process"]["user"] =
        json!({ "uid": 0, "gid": 0, "additionalGids": [10], "umask": 63 });
    b.config_mut()["process"]["oomScoreAdj"] = json!(123);
    b.config_mut()["process"]["env"]
        .as_array_mut()
        .unwrap()
        .push(json!("FROM_CONFIG=yes"));
    let (g, _) = running(&rt, &b, "exec-user");
    let script = "echo \"uid=$(id -u)\"; echo \"gid=$(id -g)\"; echo \"groups=$(id -G)\"; \
                  echo \"cwd=$(pwd)\"; echo \"nofile=$(ulimit -n)\"; echo \"umask=$(umask)\"; \
                  echo \"term=$TERM\"; echo \"extra=$EXTRA\"; echo \"cfg=$FROM_CONFIG\"; \
                  echo \"oom=$(cat /proc/self/oom_score_adj)\"";
    let out = exec_ok(&rt, g.id(), script);
    assert_eq!(value_of(&out, "uid"), "0", "{out}");
    assert_eq!(value_of(&out, "groups"), "0 10", "{out}");
    assert_eq!(value_of(&out, "cwd"), "/", "{out}");
    // The container's rlimit, not the runtime's (this host's hard NOFILE limit is 20000).
    assert_eq!(value_of(&out, "nofile"), "1024", "{out}");
    assert_eq!(value_of(&out, "umask"), "0077", "{out}");
    assert_eq!(value_of(&out, "cfg"), "yes", "{out}");
    assert_eq!(value_of(&out, "oom"), "123", "{out}");

    let out = rt.ok(&[
        "exec",
        "--user",
        "1000:1000",
        "--additional-gids",
        "100",
        "--cwd",
        "/tmp",
        "-e",
        "TERM=dumb",
        "--env",
        "EXTRA=1",
        g.id(),
        "sh",
        "-c",
        script,
    ]);
    assert_eq!(value_of(&out, "uid"), "1000", "{out}");
    assert_eq!(value_of(&out, "gid"), "1000", "{out}");
    // --additional-gids adds to the container's groups.
    assert_eq!(value_of(&out, "groups"), "1000 10 100", "{out}");
    assert_eq!(value_of(&out, "cwd"), "/tmp", "{out}");
    assert_eq!(value_of(&out, "term"), "dumb", "{out}");
    assert_eq!(value_of(&out, "extra"), "1", "{out}");
    assert_eq!(value_of(&out, "cfg"), "yes", "{out}");

    // --user UID alone means gid 0 (runc's rule).
    let out = rt.ok(&["exec", "-u", "1000", g.id(), "id", "-g"]);
    assert_eq!(out.trim(), "0");

    let out = rt.run(&["exec", "--cwd", "/no-such-dir", g.id(), "true"]);
    assert_eq!(out.status.code(), Some(255), "{}", describe(&out));
    assert!(stderr(&out).contains("/no-such-dir"), "{}", describe(&out));
}

#[test]
fn process_file_replaces_the_containers_process_and_groups() {
    let rt = runtime();
    let mut b = sleeper();
    b.config_mut()["process"]["user"] = json!({ "uid": 0, "gid": 0, "additionalGids": [10] });
    let (g, _) = running(&rt, &b, "exec-pfile");
    let dir = tempfile::tempdir().unwrap();
    let pf = dir.path().join("process.json");
    let process = json!({
        "args": ["sh", "-c", "echo \"groups=$(id -G)\"; echo \"who=$(id -u):$(id -g)\"; echo \"v=$V\"; \
                  echo \"cwd=$(pwd)\"; grep -E 'CapEff|NoNewPrivs' /proc/self/status"],
        "env": ["PATH=/bin", "V=from-file"],
        "cwd": "/etc",
        "user": { "uid": 1000, "gid": 100, "additionalGids": [7] },
        "noNewPrivileges": true
    });
    std::fs::write(&pf, process.to_string()).unwrap();
    let out = rt.ok(&["exec", "--process", path_str(&pf), g.id()]);
    // The file's gids replace the container's.
    assert_eq!(value_of(&out, "groups"), "100 7", "{out}");
    assert_eq!(value_of(&out, "who"), "1000:100", "{out}");
    assert_eq!(value_of(&out, "v"), "from-file", "{out}");
    assert_eq!(value_of(&out, "cwd"), "/etc", "{out}");
    // No capabilities in the file: none at all.
    assert!(out.contains("CapEff:\t0000000000000000"), "{out}");

    std::fs::write(
        &pf,
        r#"{"args": ["true"], "cwd": "/", "user": {"uid": "root"}}"#,
    )
    .unwrap();
    let out = rt.run(&["exec", "--process", path_str(&pf), g.id()]);
    assert_eq!(out.status.code(), Some(255), "{}", describe(&out));
    assert!(
        stderr(&out).contains("process.json") && stderr(&out).contains("user.uid"),
        "{}",
        describe(&out)
    );
}

#[test]
fn the_containers_seccomp_filter_applies() {
    let rt = runtime();
    let mut b = sleeper();
    b.config_mut()["linux"]["seccomp"] = json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64"],
        "syscalls": [{ "names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1 }]
    });
    let (g, _) = running(&rt, &b, "exec-seccomp");
    let out = exec_sh(&rt, g.id(), "mkdir /tmp/d 2>&1; echo rc=$?");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(value_of(&text, "rc"), "1", "{text}");
    assert!(text.contains("Operation not permitted"), "{text}");
    assert!(!b.rootfs().join("tmp/d").exists());
}

#[test]
fn exec_into_a_created_container_works_as_in_runc() {
    let rt = runtime();
    let b = sleeper();
    b.write_config();
    let id = unique_id("exec-created");
    let _g = rt.guard(&id);
    rt.ok(&["create", "--bundle", path_str(b.path()), &id]);
    assert_eq!(rt.state(&id)["status"], "created");
    // The init still waits for `start` (it has not exec'd `sleep` yet); the exec'd process is beside it in the
    // container's pid and uts namespaces.
    let out = rt.ok(&[
        "exec",
        &id,
        "sh",
        "-c",
        "echo \"host=$(hostname)\"; echo \"self=$$\"; echo \"one=$(ls -d /proc/1)\"",
    ]);
    assert_eq!(value_of(&out, "host"), "holm", "{out}");
    assert_ne!(value_of(&out, "self"), "1", "{out}");
    assert_eq!(value_of(&out, "one"), "/proc/1", "{out}");
    assert_eq!(rt.state(&id)["status"], "created");
    rt.ok(&["start", &id]);
    assert_eq!(rt.state(&id)["status"], "running");
}

#[test]
fn exec_into_a_stopped_or_missing_container_fails_at_once() {
    let rt = runtime();
    let mut b = sleeper();
    b.set_args(&["true"]);
    let id = unique_id("exec-stopped");
    let _g = rt.guard(&id);
    rt.ok(&["run", "--detach", "--bundle", path_str(b.path()), &id]);
    wait_until(Duration::from_secs(10), "the container to stop", || {
        rt.state(&id)["status"] == "stopped"
    });
    let out = rt.run(&["exec", &id, "true"]);
    assert_eq!(out.status.code(), Some(255), "{}", describe(&out));
    assert!(stderr(&out).contains("stopped"), "{}", describe(&out));
    let out = rt.run(&["exec", "no-such-container-holm", "true"]);
    assert_eq!(out.status.code(), Some(255), "{}", describe(&out));
    assert!(
        stderr(&out).contains("does not exist"),
        "{}",
        describe(&out)
    );
}

#[test]
fn exec_into_a_paused_container_fails_at_once() {
    let rt = runtime();
    let b = sleeper();
    let (g, _) = running(&rt, &b, "exec-paused");
    rt.ok(&["pause", g.id()]);
    let started = std::time::Instant::now();
    let out = rt.run(&["exec", g.id(), "true"]);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "exec into a paused container hung"
    );
    assert_eq!(out.status.code(), Some(255), "{}", describe(&out));
    assert!(stderr(&out).contains("paused"), "{}", describe(&out));
    rt.ok(&["resume", g.id()]);
    assert_eq!(exec_ok(&rt, g.id(), "echo back").trim(), "back");
}

#[test]
fn tty_without_a_console_socket_when_detached_is_an_error() {
    let rt = runtime();
    let b = sleeper();
    let (g, _) = running(&rt, &b, "exec-tty-detach");
    let out = rt.run(&["exec", "-t", "-d", g.id(), "true"]);
    assert_eq!(out.status.code(), Some(255), "{}", describe(&out));
    assert!(
        stderr(&out).contains("--console-socket"),
        "{}",
        describe(&out)
    );
    let out = rt.run(&["exec", "--console-socket", "/tmp/none.sock", g.id(), "true"]);
    assert_eq!(out.status.code(), Some(255), "{}", describe(&out));
    assert!(stderr(&out).contains("--tty"), "{}", describe(&out));
}

#[test]
fn lsm_flags_follow_runcs_rules_on_a_host_without_lsms() {
    let rt = runtime();
    let b = sleeper();
    let (g, _) = running(&rt, &b, "exec-lsm");
    // This host has neither AppArmor nor SELinux (DESIGN.md): a profile is ignored, a label is an error.
    let out = rt.run(&["exec", "--apparmor", "holm-test-profile", g.id(), "true"]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let out = rt.run(&[
        "exec",
        "--process-label",
        "system_u:system_r:container_t:s0",
        g.id(),
        "true",
    ]);
    assert_eq!(out.status.code(), Some(255), "{}", describe(&out));
    assert!(stderr(&out).contains("SELinux"), "{}", describe(&out));
}

#[test]
fn seccomp_notify_fd_of_an_exec_goes_to_the_listener_with_its_pid() {
    use std::os::fd::AsFd;
    let rt = runtime();
    let mut b = sleeper();
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("listener.sock");
    let listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
    b.config_mut()["linux"]["seccomp"] = json!({
        "defaultAction": "SCMP_ACT_ALLOW", "listenerPath": sock, "listenerMetadata": "exec-meta",
        "syscalls": [{ "names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_NOTIFY" }]
    });
    // One connection from the container's init (create), one from the exec.
    let agent = std::thread::spawn(move || {
        let mut got = Vec::new();
        for _ in 0..2 {
            let (conn, _) = listener.accept().unwrap();
            let mut buf = vec![0u8; 64 * 1024];
            let (n, fds) = holm_sys::socket::recv_with_fds(conn.as_fd(), &mut buf).unwrap();
            let state: serde_json::Value = serde_json::from_slice(&buf[..n]).unwrap();
            got.push((state, fds.len()));
        }
        got
    });
    let (g, init) = running(&rt, &b, "exec-notify");
    let pf = dir.path().join("exec.pid");
    rt.ok(&["exec", "--pid-file", path_str(&pf), g.id(), "true"]);
    let got = agent.join().unwrap();
    assert_eq!(got[0].0["pid"], init, "{:?}", got[0]);
    let (state, nfds) = &got[1];
    assert_eq!(*nfds, 1, "exactly the seccomp fd is passed");
    assert_eq!(state["fds"], json!(["seccompFd"]), "{state}");
    assert_eq!(state["metadata"], "exec-meta", "{state}");
    assert_eq!(state["state"]["id"], g.id(), "{state}");
    assert_eq!(state["pid"], read_pid_file(&pf), "{state}");
}
