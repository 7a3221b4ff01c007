//! Lifecycle hooks (runtime-spec `config.md#posix-platform-hooks`, `runtime.md#lifecycle`): each kind runs at its
//! point, in the right namespace, with the state JSON on stdin and only its declared `env`; `timeout` is honoured;
//! failures of prestart/createRuntime/createContainer fail `create` and leave nothing; a poststart failure fails
//! `start` and stops the container (runtime-spec 1.3); poststop failures are only warnings.

mod lifecycle_util;

use holm_testkit::{unique_id, wait_until, Bundle};
use lifecycle_util::*;
use serde_json::{json, Value};
use std::fs;
use std::path::Path;
use std::time::{Duration, Instant};

/// A temp dir on the host for hook output.
fn host_dir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("holm-hooks-")
        .tempdir_in("/tmp")
        .unwrap()
}

/// A hook that appends `<kind> <status from stdin> <mount ns>` to `log`, using `/bin` tools (the host's, or the
/// container's busybox after pivot_root).
fn recorder(kind: &str, log: &str) -> Value {
    let script = format!(
        "s=$(/bin/cat); \
         st=$(printf '%s' \"$s\" | /bin/sed -n 's/.*\"status\": *\"\\([a-z]*\\)\".*/\\1/p'); \
         echo \"{kind} $st $(/bin/readlink /proc/self/ns/mnt)\" >> {log}"
    );
    json!({"path": "/bin/sh", "args": ["sh", "-c", script]})
}

fn host_mnt_ns() -> String {
    fs::read_link("/proc/self/ns/mnt")
        .unwrap()
        .to_string_lossy()
        .into_owned()
}

fn lines(p: &Path) -> Vec<String> {
    read_or_empty(p).lines().map(String::from).collect()
}

/// A bundle whose process logs `process` to `/tmp/hooks.log` in the rootfs and waits for `/tmp/go`, with one
/// recorder hook of every kind: host-side ones log to `host_log`, startContainer (after pivot_root, inside the
/// container) to `/tmp/hooks.log` of the rootfs.
fn bundle_with_all_hooks(host_log: &Path) -> Bundle {
    let mut b = Bundle::busybox();
    b.set_args(&[
        "sh",
        "-c",
        "echo process >> /tmp/hooks.log; while [ ! -e /tmp/go ]; do sleep 0.02; done",
    ]);
    let h = path_str(host_log);
    b.config_mut()["hooks"] = json!({
        "prestart": [recorder("prestart", h)],
        "createRuntime": [recorder("createRuntime", h)],
        "createContainer": [recorder("createContainer", h)],
        "startContainer": [recorder("startContainer", "/tmp/hooks.log")],
        "poststart": [recorder("poststart", h)],
        "poststop": [recorder("poststop", h)],
    });
    b.write_config();
    b
}

#[test]
fn every_hook_kind_runs_at_its_point_with_the_state_on_stdin() {
    let rt = runtime();
    let dir = host_dir();
    let log = dir.path().join("hooks.log");
    let b = bundle_with_all_hooks(&log);
    let ctr_log = b.rootfs().join("tmp/hooks.log");
    let host_ns = host_mnt_ns();
    let id = unique_id("hooks-all");
    let _g = rt.guard(&id);

    create(&rt, &b, &id);
    let pid = status(&rt, &id).1;
    let ctr_ns = fs::read_link(format!("/proc/{pid}/ns/mnt"))
        .unwrap()
        .to_string_lossy()
        .into_owned();
    assert_ne!(ctr_ns, host_ns);
    // prestart and createRuntime in the runtime's mount namespace; createContainer in the container's, before
    // pivot_root (the hook found /bin/cat and the host log through host paths).
    assert_eq!(
        lines(&log),
        [
            format!("prestart creating {host_ns}"),
            format!("createRuntime creating {host_ns}"),
            format!("createContainer creating {ctr_ns}"),
        ],
        "after create"
    );
    assert!(
        !ctr_log.exists(),
        "startContainer or the process ran before start: {:?}",
        lines(&ctr_log)
    );

    rt.ok(&["start", &id]);
    // poststart has run when start returns.
    assert_eq!(lines(&log).len(), 4, "{:?}", lines(&log));
    assert_eq!(lines(&log)[3], format!("poststart running {host_ns}"));
    // startContainer ran inside the container (after pivot_root: /tmp is the rootfs's), before the process.
    wait_until(Duration::from_secs(10), "the process to run", || {
        lines(&ctr_log).len() >= 2
    });
    let ctr = lines(&ctr_log);
    assert_eq!(ctr.len(), 2, "{ctr:?}");
    let (kind_status, ns) = ctr[0].rsplit_once(' ').unwrap();
    assert!(
        kind_status == "startContainer created" || kind_status == "startContainer running",
        "{ctr:?}"
    );
    assert_eq!(ns, ctr_ns, "startContainer must run in the container");
    assert_eq!(ctr[1], "process");

    // No poststop before delete.
    fs::write(b.rootfs().join("tmp/go"), "").unwrap();
    wait_status(&rt, &id, "stopped");
    assert_eq!(lines(&log).len(), 4, "{:?}", lines(&log));
    rt.ok(&["delete", &id]);
    let all = lines(&log);
    assert_eq!(all.len(), 5, "{all:?}");
    assert_eq!(all[4], format!("poststop stopped {host_ns}"));
    assert_no_trace(&rt, &id, b.path());
}

#[test]
fn foreground_run_runs_every_hook_once_in_order() {
    let rt = runtime();
    let dir = host_dir();
    let log = dir.path().join("hooks.log");
    let mut b = bundle_with_all_hooks(&log);
    b.set_args(&["sh", "-c", "echo process >> /tmp/hooks.log"]);
    let id = unique_id("hooks-run");
    let _g = rt.guard(&id);
    let out = rt.run(&["run", "--bundle", path_str(b.path()), &id]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let kinds: Vec<String> = lines(&log)
        .iter()
        .map(|l| l.split(' ').take(2).collect::<Vec<_>>().join(" "))
        .collect();
    assert_eq!(
        kinds,
        [
            "prestart creating",
            "createRuntime creating",
            "createContainer creating",
            "poststart running",
            "poststop stopped"
        ]
    );
    let ctr = lines(&b.rootfs().join("tmp/hooks.log"));
    assert_eq!(ctr.len(), 2, "{ctr:?}");
    assert!(ctr[0].starts_with("startContainer "), "{ctr:?}");
    assert_eq!(ctr[1], "process");
    assert_no_trace(&rt, &id, b.path());
}

#[test]
fn poststart_runs_after_the_user_process_is_executed() {
    // runtime-spec: poststart hooks "MUST be called after the user-specified process is executed but before the
    // start operation returns". The hook looks at the init (pid from the state on stdin): by then it must be the
    // container's program (busybox), not the runtime's init any more.
    let rt = runtime();
    let dir = host_dir();
    let log = dir.path().join("exe");
    let mut b = Bundle::busybox();
    b.set_args(&["sleep", "100"]);
    let script = format!(
        "pid=$(/bin/sed -n 's/.*\"pid\": *\\([0-9]*\\).*/\\1/p'); \
         /bin/cat /proc/$pid/comm > {0}",
        path_str(&log)
    );
    b.config_mut()["hooks"] = json!({
        "startContainer": [{"path": "/bin/sleep", "args": ["sleep", "0.3"]}],
        "poststart": [{"path": "/bin/sh", "args": ["sh", "-c", script]}],
    });
    b.write_config();
    let id = unique_id("hooks-poststart");
    let _g = rt.guard(&id);
    create(&rt, &b, &id);
    rt.ok(&["start", &id]);
    assert_eq!(
        read_or_empty(&log).trim(),
        "sleep",
        "the init's comm at poststart"
    );
    rt.ok(&["delete", "--force", &id]);
    assert_no_trace(&rt, &id, b.path());
}

#[test]
fn hooks_get_only_their_declared_env() {
    let rt = runtime();
    let b = {
        let mut b = Bundle::busybox();
        b.set_args(&["true"]);
        b.config_mut()["hooks"] = json!({
            "createRuntime": [{"path": "/usr/bin/env", "args": ["env"], "env": ["HOLM_A=1", "HOLM_B=two words"]}],
            "createContainer": [{"path": "/usr/bin/env", "args": ["env"], "env": ["HOLM_C=3"]}],
            "prestart": [{"path": "/usr/bin/env", "args": ["env"]}],
        });
        b.write_config();
        b
    };
    let id = unique_id("hooks-env");
    let _g = rt.guard(&id);
    let mut cmd = rt.cmd(&["create", "--bundle", path_str(b.path()), &id]);
    cmd.env("HOLM_LEAK", "from-the-caller");
    let out = spawn(cmd).finish(Duration::from_secs(60));
    assert!(out.status.success(), "{}", stderr(&out));
    // Hook stdout goes to the runtime's stderr; prestart declared no env and printed nothing.
    let err = stderr(&out);
    let vars: Vec<&str> = err.lines().filter(|l| l.contains('=')).collect();
    assert_eq!(
        vars,
        ["HOLM_A=1", "HOLM_B=two words", "HOLM_C=3"],
        "full stderr:\n{err}"
    );
    rt.ok(&["delete", "--force", &id]);
    assert_no_trace(&rt, &id, b.path());
}

/// A hook that records its pid (host pid for runtime-side hooks) in `dir/pid` and sleeps 10 s, with timeout 1.
fn sleeping_hook(dir: &Path) -> Value {
    let script = format!("echo $$ > {}/pid; exec /bin/sleep 10", path_str(dir));
    json!({"path": "/bin/sh", "args": ["sh", "-c", script], "timeout": 1})
}

#[test]
fn a_hook_timeout_fails_create_after_about_a_second_and_leaves_nothing() {
    let rt = runtime();
    for kind in ["createRuntime", "prestart", "createContainer"] {
        let dir = host_dir();
        let mut b = Bundle::busybox();
        b.config_mut()["hooks"] = json!({ kind: [sleeping_hook(dir.path())] });
        b.write_config();
        let id = unique_id("hooks-timeout");
        let _g = rt.guard(&id);
        let t = Instant::now();
        let out = rt.fails(&["create", "--bundle", path_str(b.path()), &id]);
        let took = t.elapsed();
        let err = stderr(&out);
        assert!(
            took >= Duration::from_millis(900) && took < Duration::from_secs(5),
            "{kind}: create took {took:?}: {err}"
        );
        assert!(
            err.contains(kind) && err.contains("timed out"),
            "{kind}: {err}"
        );
        assert_no_trace(&rt, &id, b.path());
        if kind != "createContainer" {
            // The hook itself is gone (createContainer's $$ is a container pid; assert_no_trace covered it).
            let hook_pid: i32 = read_or_empty(&dir.path().join("pid"))
                .trim()
                .parse()
                .unwrap();
            assert!(
                !alive(hook_pid),
                "{kind}: the timed-out hook {hook_pid} still runs"
            );
        }
        let sleepers = processes_mentioning(path_str(dir.path()));
        assert!(sleepers.is_empty(), "{kind}: {sleepers:?}");
    }
    assert_root_empty(&rt);
}

#[test]
fn a_failing_creation_hook_fails_create_and_leaves_nothing() {
    let rt = runtime();
    for kind in ["createRuntime", "prestart", "createContainer"] {
        for hook in [
            json!({"path": "/bin/false"}),
            json!({"path": "/bin/holm-no-such-hook"}),
        ] {
            let mut b = Bundle::busybox();
            b.set_args(&["sh", "-c", "echo ran > /tmp/ran"]);
            b.config_mut()["hooks"] = json!({ kind: [{"path": "/bin/true"}, hook.clone()] });
            b.write_config();
            for verb in ["create", "run"] {
                let id = unique_id("hooks-fail");
                let _g = rt.guard(&id);
                let out = rt.fails(&[verb, "--bundle", path_str(b.path()), &id]);
                let err = stderr(&out);
                let path = hook["path"].as_str().unwrap();
                assert!(
                    err.contains(kind) && err.contains(path),
                    "{verb} {kind} {path}: {err}"
                );
                assert!(!b.rootfs().join("tmp/ran").exists());
                assert_no_trace(&rt, &id, b.path());
            }
        }
    }
    assert_root_empty(&rt);
}

/// runtime-spec 1.3: "If any poststart hook fails, the runtime MUST generate an error, stop the container" (1.2 said
/// warn and carry on). `start` fails naming the hook, the later hooks do not run, the container is stopped.
#[test]
fn a_failing_poststart_hook_fails_start_and_stops_the_container() {
    let rt = runtime();
    let dir = host_dir();
    let after = dir.path().join("after");
    let mut b = Bundle::busybox();
    b.set_args(&["sleep", "100"]);
    b.config_mut()["hooks"] = json!({"poststart": [
        {"path": "/bin/false"},
        {"path": "/bin/touch", "args": ["touch", path_str(&after)]},
    ]});
    b.write_config();
    let id = unique_id("hooks-poststart-fail");
    let _g = rt.guard(&id);
    create(&rt, &b, &id);
    let out = rt.run(&["start", &id]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("poststart") && stderr(&out).contains("/bin/false"),
        "error names the hook: {}",
        stderr(&out)
    );
    assert!(
        !after.exists(),
        "the hooks after the failing one do not run"
    );
    assert_eq!(status(&rt, &id).0, "stopped");
    rt.ok(&["delete", &id]);
    assert_no_trace(&rt, &id, b.path());
    // `run` fails the same way and leaves nothing.
    let id = unique_id("hooks-poststart-run");
    let _g = rt.guard(&id);
    let out = rt.run(&["run", "--bundle", path_str(b.path()), &id]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_no_trace(&rt, &id, b.path());
}

#[test]
fn a_failing_poststop_hook_is_only_a_warning_and_delete_completes() {
    let rt = runtime();
    let dir = host_dir();
    let after = dir.path().join("after");
    let mut b = Bundle::busybox();
    b.set_args(&["true"]);
    b.config_mut()["hooks"] = json!({"poststop": [
        {"path": "/bin/false"},
        {"path": "/bin/touch", "args": ["touch", path_str(&after)]},
    ]});
    b.write_config();
    let id = unique_id("hooks-poststop-fail");
    let _g = rt.guard(&id);
    create(&rt, &b, &id);
    rt.ok(&["start", &id]);
    wait_status(&rt, &id, "stopped");
    let out = rt.run(&["delete", &id]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("poststop"),
        "no warning: {}",
        stderr(&out)
    );
    assert!(after.exists());
    assert_no_trace(&rt, &id, b.path());
}

#[test]
fn a_failing_startcontainer_hook_fails_start_and_the_process_never_runs() {
    // runtime-spec: "If any startContainer hook fails, the runtime MUST generate an error, stop the container".
    let rt = runtime();
    let mut b = Bundle::busybox();
    b.set_args(&["sh", "-c", "echo ran > /tmp/ran; sleep 100"]);
    b.config_mut()["hooks"] = json!({"startContainer": [{"path": "/bin/false"}]});
    b.write_config();
    let id = unique_id("hooks-startctr-fail");
    let _g = rt.guard(&id);
    create(&rt, &b, &id);
    let out = rt.run(&["start", &id]);
    wait_status(&rt, &id, "stopped");
    assert!(!b.rootfs().join("tmp/ran").exists(), "the process ran");
    assert!(
        !out.status.success(),
        "start succeeded although the startContainer hook failed: {}",
        stderr(&out)
    );
    assert!(stderr(&out).contains("startContainer"), "{}", stderr(&out));
    rt.ok(&["delete", &id]);
    assert_no_trace(&rt, &id, b.path());
}

#[test]
fn the_state_on_a_hooks_stdin_is_the_oci_state() {
    let rt = runtime();
    let dir = host_dir();
    let mut b = Bundle::busybox();
    b.set_args(&["sleep", "100"]);
    b.config_mut()["annotations"] = json!({"org.example/a": "b"});
    let save = |name: &str| json!({"path": "/bin/sh", "args": ["sh", "-c", format!("/bin/cat > {}/{name}.json", path_str(dir.path()))]});
    b.config_mut()["hooks"] = json!({
        "createRuntime": [save("createRuntime")],
        "poststart": [save("poststart")],
        "poststop": [save("poststop")],
    });
    b.write_config();
    let id = unique_id("hooks-state");
    let _g = rt.guard(&id);
    create(&rt, &b, &id);
    let pid = status(&rt, &id).1;
    rt.ok(&["start", &id]);
    rt.ok(&["delete", "--force", &id]);
    let bundle = fs::canonicalize(b.path()).unwrap();
    for (kind, st, want_pid) in [
        ("createRuntime", "creating", pid),
        ("poststart", "running", pid),
        ("poststop", "stopped", 0),
    ] {
        let v = read_json(&dir.path().join(format!("{kind}.json")));
        assert!(
            v["ociVersion"].as_str().unwrap().starts_with("1."),
            "{kind}: {v}"
        );
        assert_eq!(v["id"], id.as_str(), "{kind}");
        assert_eq!(v["status"], st, "{kind}");
        assert_eq!(v["pid"], want_pid, "{kind}");
        assert_eq!(v["bundle"], path_str(&bundle), "{kind}");
        assert_eq!(v["annotations"], json!({"org.example/a": "b"}), "{kind}");
    }
    assert_no_trace(&rt, &id, b.path());
}
