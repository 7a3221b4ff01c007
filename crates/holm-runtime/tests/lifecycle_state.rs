//! The state machine seen from outside: `create → created → running → stopped → deleted`, the OCI state JSON,
//! `list` in its three formats, a `create` whose stdout is a pipe, and a recycled pid never making a stopped
//! container look alive (or receive a signal meant for it).

mod lifecycle_util;

use holm_testkit::{unique_id, wait_until, Bundle};
use lifecycle_util::*;
use serde_json::{json, Value};
use std::fs;
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A process that waits for the host to create `rootfs/tmp/go`, then exits 0.
const GATED: [&str; 3] = [
    "sh",
    "-c",
    "while [ ! -e /tmp/go ]; do sleep 0.02; done; echo done > /tmp/done",
];

#[test]
fn create_start_stop_delete_walks_the_state_machine() {
    let rt = runtime();
    let mut b = Bundle::busybox();
    b.set_args(&GATED);
    let id = unique_id("states");
    let _g = rt.guard(&id);

    create(&rt, &b, &id);
    let s = rt.state(&id);
    assert_eq!(s["status"], "created", "{s}");
    let pid = s["pid"].as_i64().expect("pid") as i32;
    assert!(pid > 0, "{s}");
    assert!(alive(pid), "init {pid} of a created container is not alive");
    assert!(
        rt.root().join(&id).join("state.json").is_file(),
        "state.json missing"
    );
    let cg = cgroup_dirs(&id);
    assert!(!cg.is_empty(), "a created container has a cgroup");
    assert!(
        processes_in_cgroup(&id).contains(&pid),
        "init {pid} is not in cgroup /holm/{id}"
    );
    // Created: the user process has not run yet.
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(rt.state(&id)["status"], "created");
    assert!(!b.rootfs().join("tmp/done").exists());
    assert_ne!(
        fs::read_to_string(format!("/proc/{pid}/comm"))
            .unwrap()
            .trim(),
        "sleep"
    );
    let listed = rt.ok(&["list", "-q"]);
    assert_eq!(listed.lines().collect::<Vec<_>>(), vec![id.as_str()]);

    rt.ok(&["start", &id]);
    let s = rt.state(&id);
    assert_eq!(s["status"], "running", "{s}");
    assert_eq!(s["pid"], pid, "start must not change the pid");

    fs::write(b.rootfs().join("tmp/go"), "").unwrap();
    wait_status(&rt, &id, "stopped");
    let s = rt.state(&id);
    assert_eq!(s["pid"], 0, "a stopped container reports pid 0: {s}");
    assert_eq!(read_or_empty(&b.rootfs().join("tmp/done")), "done\n");
    assert!(rt.root().join(&id).exists(), "stopped is not deleted");

    rt.ok(&["delete", &id]);
    assert!(!alive(pid));
    assert_no_trace(&rt, &id, b.path());
    let out = rt.fails(&["state", &id]);
    assert!(stderr(&out).contains("does not exist"), "{}", stderr(&out));
}

#[test]
fn create_with_a_pipe_as_stdout_returns_promptly() {
    // `holm-runtime create ID | cat`: the container init inherits the pipe, so a reader waits for the container;
    // the runtime process itself must exit as soon as the container is created.
    let rt = runtime();
    let mut b = Bundle::busybox();
    b.set_args(&["sleep", "100"]);
    let id = unique_id("create-pipe");
    let _g = rt.guard(&id);
    let mut child = rt
        .cmd(&["create", "--bundle", path_str(b.path()), &id])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let st = wait_timeout(&mut child, Duration::from_secs(10));
    if st.is_none() {
        let _ = child.kill();
        let _ = child.wait();
    }
    let st = st.expect("create with piped stdout did not return within 10 s");
    assert!(st.success(), "create failed: {st}");
    assert_eq!(status(&rt, &id).0, "created");
    // Dropping our read ends must not disturb the container.
    drop(child);
    rt.ok(&["start", &id]);
    assert_eq!(status(&rt, &id).0, "running");
    rt.ok(&["delete", "--force", &id]);
    assert_no_trace(&rt, &id, b.path());
}

/// Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Seconds since the epoch of an RFC 3339 UTC time `YYYY-MM-DDTHH:MM:SS[.frac]Z`.
fn parse_rfc3339_utc(s: &str) -> i64 {
    let bad = || panic!("`created` is not an RFC 3339 UTC time: {s:?}");
    let b = s.as_bytes();
    if b.len() < 20
        || b[4] != b'-'
        || b[7] != b'-'
        || b[10] != b'T'
        || b[13] != b':'
        || b[16] != b':'
    {
        bad();
    }
    if !s.ends_with('Z') {
        bad();
    }
    let n = |r: std::ops::Range<usize>| s[r].parse::<i64>().unwrap_or_else(|_| bad());
    let frac = &s[19..s.len() - 1];
    if !(frac.is_empty() || frac.starts_with('.') && frac[1..].chars().all(|c| c.is_ascii_digit()))
    {
        bad();
    }
    days_from_civil(n(0..4), n(5..7), n(8..10)) * 86_400
        + n(11..13) * 3600
        + n(14..16) * 60
        + n(17..19)
}

#[test]
fn state_json_has_every_oci_field() {
    let rt = runtime();
    let mut b = Bundle::busybox();
    b.config_mut()["annotations"] = json!({"org.example.key": "value", "holm.test/x": "1 2"});
    b.set_args(&["sleep", "100"]);
    let id = unique_id("state-json");
    let _g = rt.guard(&id);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    // A relative --bundle, resolved against the caller's cwd.
    let out = rt
        .cmd(&["create", "--bundle", ".", &id])
        .current_dir(b.path())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(out.success(), "create --bundle . failed");
    let text = rt.ok(&["state", &id]);
    let s: Value = serde_json::from_str(&text).unwrap();
    let bundle = fs::canonicalize(b.path()).unwrap();
    // The newest runtime-spec version holm follows, the one `features` names.
    let features: Value = serde_json::from_str(&rt.ok(&["features"])).unwrap();
    assert_eq!(s["ociVersion"], features["ociVersionMax"], "{s}");
    assert_eq!(s["id"], id.as_str());
    assert_eq!(s["status"], "created");
    let pid = s["pid"].as_i64().unwrap();
    assert!(pid > 0 && alive(pid as i32));
    assert_eq!(s["bundle"], path_str(&bundle), "bundle must be absolute");
    assert_eq!(s["rootfs"], path_str(&bundle.join("rootfs")));
    let created = parse_rfc3339_utc(s["created"].as_str().expect("created is a string"));
    assert!(
        (created - now).abs() <= 120,
        "created {} is not now ({now})",
        s["created"]
    );
    assert_eq!(s["owner"], "root");
    assert_eq!(
        s["annotations"],
        json!({"org.example.key": "value", "holm.test/x": "1 2"})
    );
    // created does not change over the lifecycle
    rt.ok(&["start", &id]);
    let s2 = rt.state(&id);
    assert_eq!(s2["created"], s["created"]);
    assert_eq!(s2["status"], "running");
    rt.ok(&["delete", "--force", &id]);
    assert_no_trace(&rt, &id, b.path());
}

#[test]
fn list_formats_table_json_and_quiet() {
    let rt = runtime();
    // An empty root lists nothing.
    assert_eq!(rt.ok(&["list", "-q"]), "");
    let empty: Value = serde_json::from_str(&rt.ok(&["list", "--format", "json"])).unwrap();
    assert!(
        empty.as_array().is_some_and(|a| a.is_empty()) || empty.is_null(),
        "{empty}"
    );
    let table = rt.ok(&["list"]);
    assert_eq!(table.lines().count(), 1, "only a header: {table}");

    let mut b = Bundle::busybox();
    b.set_args(&["sleep", "100"]);
    let a = format!("a-{}", unique_id("list"));
    let z = format!("z-{}", unique_id("list"));
    let _ga = rt.guard(&a);
    let _gz = rt.guard(&z);
    // Created in reverse order: list sorts by id.
    create(&rt, &b, &z);
    create(&rt, &b, &a);
    rt.ok(&["start", &a]);
    let pid_a = status(&rt, &a).1;
    let pid_z = status(&rt, &z).1;

    let quiet = rt.ok(&["list", "-q"]);
    assert_eq!(quiet, format!("{a}\n{z}\n"));

    let table = rt.ok(&["list"]);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 3, "{table}");
    let header: Vec<&str> = lines[0].split_whitespace().collect();
    assert_eq!(
        header,
        ["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"],
        "{table}"
    );
    let bundle = fs::canonicalize(b.path()).unwrap();
    for (line, id, pid, st) in [
        (lines[1], &a, pid_a, "running"),
        (lines[2], &z, pid_z, "created"),
    ] {
        let cols: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(cols.len(), 6, "{line}");
        assert_eq!(cols[0], id.as_str());
        assert_eq!(cols[1], pid.to_string());
        assert_eq!(cols[2], st);
        assert_eq!(cols[3], path_str(&bundle));
        assert_eq!(cols[4], rt.state(id)["created"].as_str().unwrap());
        assert_eq!(cols[5], "root");
    }
    // Columns line up: every row's STATUS starts where the header's does.
    let col = lines[0].find("STATUS").unwrap();
    for l in &lines[1..] {
        assert!(
            l[col..].starts_with("running") || l[col..].starts_with("created"),
            "misaligned table:\n{table}"
        );
    }

    let json: Value = serde_json::from_str(&rt.ok(&["list", "--format", "json"])).unwrap();
    let arr = json.as_array().expect("list --format json prints an array");
    assert_eq!(arr.len(), 2);
    assert_eq!(arr[0]["id"], a.as_str());
    assert_eq!(arr[0]["status"], "running");
    assert_eq!(arr[0]["pid"], pid_a);
    assert_eq!(arr[1]["id"], z.as_str());
    assert_eq!(arr[1]["status"], "created");
    assert_eq!(arr[1]["bundle"], path_str(&bundle));
    // `-f json` is the short form
    let short: Value = serde_json::from_str(&rt.ok(&["list", "-f", "json"])).unwrap();
    assert_eq!(short, json);

    // A stopped container is listed as stopped with pid 0.
    rt.ok(&["kill", &a, "KILL"]);
    wait_status(&rt, &a, "stopped");
    let json: Value = serde_json::from_str(&rt.ok(&["list", "--format", "json"])).unwrap();
    assert_eq!(json[0]["status"], "stopped");
    assert_eq!(json[0]["pid"], 0);
    rt.ok(&["delete", &a]);
    rt.ok(&["delete", "--force", &z]);
    assert_eq!(rt.ok(&["list", "-q"]), "");
    assert_no_trace(&rt, &a, b.path());
    assert_no_trace(&rt, &z, b.path());
}

/// Makes a stopped container: created, started with `true`, exited.
fn stopped_container(rt: &holm_testkit::Runtime, b: &mut Bundle, id: &str) -> i32 {
    b.set_args(&["true"]);
    create(rt, b, id);
    let pid = status(rt, id).1 as i32;
    rt.ok(&["start", id]);
    wait_status(rt, id, "stopped");
    wait_until(Duration::from_secs(10), "the old init to be reaped", || {
        !holm_testkit::process_exists(pid)
    });
    pid
}

/// Rewrites `pid` in the container's state.json (keeping everything else, including the recorded start time).
fn forge_pid(rt: &holm_testkit::Runtime, id: &str, pid: i32) {
    let path = rt.root().join(id).join("state.json");
    let mut v = read_json(&path);
    assert!(v.get("pid").is_some(), "state.json has no pid: {v}");
    v["pid"] = json!(pid);
    fs::write(&path, serde_json::to_vec(&v).unwrap()).unwrap();
}

#[test]
fn a_recycled_pid_never_makes_a_stopped_container_look_alive() {
    let rt = runtime();
    let mut b = Bundle::busybox();
    let id = unique_id("recycled");
    let _g = rt.guard(&id);
    stopped_container(&rt, &mut b, &id);

    // An unrelated live process now "has" the container's pid.
    let mut victim = Command::new("sleep")
        .arg("100")
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let victim_pid = victim.id() as i32;
    struct KillOnDrop<'a>(&'a mut std::process::Child);
    impl Drop for KillOnDrop<'_> {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let victim_guard = KillOnDrop(&mut victim);
    forge_pid(&rt, &id, victim_pid);

    let s = rt.state(&id);
    assert_eq!(s["status"], "stopped", "{s}");
    assert_eq!(s["pid"], 0, "{s}");
    let listed: Value = serde_json::from_str(&rt.ok(&["list", "-f", "json"])).unwrap();
    assert_eq!(listed[0]["status"], "stopped");

    for sig in ["KILL", "TERM", "9"] {
        let out = rt.fails(&["kill", &id, sig]);
        assert!(
            stderr(&out).contains(&id),
            "kill error should name the container: {}",
            stderr(&out)
        );
        // runc 1.1.5: `--all` on a stopped container succeeds; it signals only what is in the container's cgroup.
        rt.ok(&["kill", "--all", &id, sig]);
    }
    std::thread::sleep(Duration::from_millis(100));
    assert!(
        victim_guard.0.try_wait().unwrap().is_none(),
        "kill signalled the unrelated process {victim_pid}"
    );
    let out = rt.fails(&["start", &id]);
    assert!(stderr(&out).contains("stopped"), "{}", stderr(&out));

    // delete of a stopped container must not kill the unrelated process either.
    rt.ok(&["delete", &id]);
    std::thread::sleep(Duration::from_millis(100));
    assert!(
        victim_guard.0.try_wait().unwrap().is_none(),
        "delete killed the unrelated process {victim_pid}"
    );
    drop(victim_guard);
    assert_no_trace(&rt, &id, b.path());
}

#[test]
fn the_test_process_own_pid_in_state_json_is_not_signalled() {
    let rt = runtime();
    let mut b = Bundle::busybox();
    let id = unique_id("recycled-self");
    let _g = rt.guard(&id);
    stopped_container(&rt, &mut b, &id);
    // If the runtime trusted the pid, `kill KILL` would end this test process.
    forge_pid(&rt, &id, std::process::id() as i32);
    assert_eq!(rt.state(&id)["status"], "stopped");
    assert_eq!(rt.state(&id)["pid"], 0);
    rt.fails(&["kill", &id, "KILL"]);
    rt.fails(&["kill", &id, "STOP"]);
    rt.ok(&["delete", &id]);
    assert_no_trace(&rt, &id, b.path());
}

#[test]
fn an_init_killed_behind_the_runtimes_back_is_stopped() {
    let rt = runtime();
    let mut b = Bundle::busybox();
    b.set_args(&["sleep", "100"]);
    let id = unique_id("killed-init");
    let _g = rt.guard(&id);
    create(&rt, &b, &id);
    let pid = status(&rt, &id).1 as i32;
    send_signal(pid, "KILL");
    wait_status(&rt, &id, "stopped");
    assert_eq!(status(&rt, &id).1, 0);
    // start of a created container whose init died fails and changes nothing.
    let out = rt.fails(&["start", &id]);
    assert!(stderr(&out).contains(&id), "{}", stderr(&out));
    assert_eq!(status(&rt, &id).0, "stopped");
    rt.ok(&["delete", &id]);
    assert_no_trace(&rt, &id, b.path());
}
