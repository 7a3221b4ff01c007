//! Issue 3, `events`: runc's JSON stats (`--stats` once, and the stream with `--interval`) and the `oom` event
//! when the OOM killer fires, on this hybrid host and on the cgroup2-only view.

mod cgroups_support;

use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use cgroups_support::*;
use holm_testkit::{unique_id, Bundle, Runtime};
use serde_json::{json, Value};

/// A running container with `resources`, running `script`.
fn start(rt: &Runtime, script: &str, resources: Value, prefix: &str) -> (Bundle, String) {
    let b = bundle(script, resources);
    let id = unique_id(prefix);
    rt.ok(&["run", "--detach", "--bundle", &path_arg(&b), &id]);
    (b, id)
}

/// `events` as a child whose stdout lines arrive on a channel; killed on drop.
struct Stream {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Stream {
    fn new(rt: &Runtime, args: &[&str]) -> Stream {
        let mut child = rt
            .cmd(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let out = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for l in BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(l).is_err() {
                    break;
                }
            }
        });
        Stream { child, lines }
    }

    /// The next event, parsed; panics after `timeout`.
    fn next(&self, timeout: Duration) -> Value {
        let l = self
            .lines
            .recv_timeout(timeout)
            .unwrap_or_else(|e| panic!("no event within {timeout:?}: {e}"));
        serde_json::from_str(&l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}"))
    }
}

impl Drop for Stream {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn stats_once() {
    let rt = runtime();
    let (_b, id) = start(
        &rt,
        "sleep 1000 & i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done; wait",
        json!({ "memory": { "limit": 64 << 20 }, "pids": { "limit": 30 } }),
        "cg-stats",
    );
    let _g = rt.guard(&id);
    std::thread::sleep(Duration::from_millis(200));
    let out = rt.ok(&["events", "--stats", &id]);
    assert_eq!(out.lines().count(), 1, "{out}");
    let e: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(e["type"], "stats");
    assert_eq!(e["id"], id.as_str());
    let d = &e["data"];
    assert_eq!(d["memory"]["usage"]["limit"], 64 << 20, "{d}");
    assert!(d["memory"]["usage"]["usage"].as_u64().unwrap() > 0, "{d}");
    assert!(
        d["memory"]["raw"]["total_rss"].is_u64(),
        "memory.stat as raw: {d}"
    );
    assert_eq!(d["pids"]["current"], 2, "{d}");
    assert_eq!(d["pids"]["limit"], 30, "{d}");
    assert!(d["cpu"]["usage"]["total"].as_u64().unwrap() > 0, "{d}");
    assert_eq!(
        d["cpu"]["usage"]["percpu"].as_array().unwrap().len(),
        num_cpus(),
        "{d}"
    );
    // Where the host has a hugetlb controller and 2MB pages (probed), their counters are reported.
    if hugetlb_2mb().is_some() {
        assert_eq!(d["hugetlb"]["2MB"]["failcnt"], 0, "{d}");
    } else {
        assert!(d["hugetlb"].get("2MB").is_none(), "{d}");
    }
}

fn num_cpus() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

#[test]
fn the_stream_repeats_and_ends_with_the_container() {
    let rt = runtime();
    let (_b, id) = start(&rt, "sleep 1000", json!({}), "cg-events");
    let _g = rt.guard(&id);
    let mut s = Stream::new(&rt, &["events", "--interval", "200ms", &id]);
    for _ in 0..2 {
        let e = s.next(Duration::from_secs(10));
        assert_eq!(e["type"], "stats", "{e}");
        assert_eq!(e["id"], id.as_str());
        assert_eq!(e["data"]["pids"]["current"], 1, "{e}");
    }
    rt.ok(&["kill", &id, "KILL"]);
    holm_testkit::wait_until(Duration::from_secs(10), "events to end", || {
        matches!(s.child.try_wait(), Ok(Some(_)))
    });
    assert!(s.child.wait().unwrap().success());
}

#[test]
fn an_oom_kill_is_an_event() {
    let rt = runtime();
    // A subshell grows to 100 MiB under a 32 MiB limit and is OOM-killed; the container's shell survives.
    let (b, id) = start(
        &rt,
        "while [ ! -e /tmp/go ]; do sleep 0.05; done; (x=$(head -c 104857600 /dev/zero | tr '\\0' a)); \
         echo done > /tmp/done; sleep 1000",
        json!({ "memory": { "limit": 32 << 20 } }),
        "cg-oom-event",
    );
    let _g = rt.guard(&id);
    let s = Stream::new(&rt, &["events", "--interval", "300ms", &id]);
    // The stream runs (it has read the OOM counter) before the allocation starts.
    assert_eq!(s.next(Duration::from_secs(10))["type"], "stats");
    std::fs::write(b.rootfs().join("tmp/go"), "").unwrap();
    let oom = loop {
        let e = s.next(Duration::from_secs(20));
        if e["type"] == "oom" {
            break e;
        }
    };
    assert_eq!(oom, json!({ "type": "oom", "id": id }));
    // After the kill the shell's pages may have to come back in under the 32 MiB limit; at load ~20 that took
    // more than 10 s once in CI. The wait still fails if the shell never goes on (e.g. it was the victim).
    holm_testkit::wait_until(Duration::from_secs(60), "the shell to go on", || {
        b.rootfs().join("tmp/done").exists()
    });
    let out = rt.ok(&["events", "--stats", &id]);
    let e: Value = serde_json::from_str(&out).unwrap();
    assert!(
        e["data"]["memory"]["usage"]["failcnt"].as_u64().unwrap() > 0,
        "{e}"
    );
}

#[test]
fn stats_of_a_stopped_or_unknown_container_fail() {
    let rt = runtime();
    let b = bundle("true", json!({}));
    let id = unique_id("cg-stats-stopped");
    let _g = rt.guard(&id);
    rt.ok(&["create", "--bundle", &path_arg(&b), &id]);
    rt.ok(&["start", &id]);
    holm_testkit::wait_until(Duration::from_secs(5), "the container to stop", || {
        status(&rt, &id) == "stopped"
    });
    for args in [vec!["events", "--stats", &id], vec!["events", &id]] {
        let out = rt.fails(&args);
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("not running"),
            "{}",
            describe(&out)
        );
    }
    let out = rt.fails(&["events", "--stats", "nope"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("does not exist"));
    let out = rt.fails(&["events", "--interval", "soon", &id]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid duration"));
}

#[test]
fn stats_on_cgroup2() {
    let rt = v2_runtime();
    let (_b, id) = start(
        &rt,
        "i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done; sleep 1000",
        json!({}),
        "cg2-stats",
    );
    let _g = rt.guard(&id);
    holm_testkit::wait_until(Duration::from_secs(10), "cpu time to be used", || {
        let out = rt.ok(&["events", "--stats", &id]);
        let e: Value = serde_json::from_str(&out).unwrap();
        e["data"]["cpu"]["usage"]["total"].as_u64().unwrap_or(0) > 0
    });
    let out = rt.ok(&["events", "--stats", &id]);
    let e: Value = serde_json::from_str(&out).unwrap();
    let d = &e["data"];
    // cpu.stat exists in every cgroup2 directory; user+system add up to about the total.
    let cpu = &d["cpu"]["usage"];
    assert!(
        cpu["user"].as_u64().unwrap() + cpu["kernel"].as_u64().unwrap() > 0,
        "{d}"
    );
    // hugetlb is the one controller this cgroup2 may offer (probed).
    if hugetlb_2mb().is_some_and(|(dir, _)| dir == "unified") {
        assert_eq!(d["hugetlb"]["2MB"]["failcnt"], 0, "{d}");
    } else {
        assert!(d["hugetlb"].get("2MB").is_none(), "{d}");
    }
    // The memory and pids controllers are bound to v1 here: no numbers, not an error.
    assert!(d["memory"]["usage"].get("usage").is_none(), "{d}");
    assert!(d["pids"].get("current").is_none(), "{d}");
}

/// runc 1.1.5 refuses an interval of 0 or below ("duration interval must be greater than 0", exit 1) rather than
/// polling without pause.
#[test]
fn interval_0_or_negative_is_refused() {
    let rt = runtime();
    let (_b, id) = start(&rt, "sleep 1000", json!({}), "cg-events-zero");
    let _g = rt.guard(&id);
    for bad in ["0", "0s", "-1s"] {
        let out = rt.fails(&["events", "--interval", bad, &id]);
        assert_eq!(out.status.code(), Some(1), "{bad}: {}", describe(&out));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("duration interval must be greater than 0") && err.contains(bad),
            "{bad}: {err}"
        );
    }
    let out = rt.fails(&["events", "--interval", "5x", &id]);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("unknown unit"),
        "{}",
        describe(&out)
    );
}

/// `events ID | head -1`: when the reader goes away the stream ends silently, killed by SIGPIPE like runc (a Go
/// program), not with a "Broken pipe" error.
#[test]
fn a_closed_stdout_ends_events_quietly() {
    use std::io::Read;
    use std::os::unix::process::ExitStatusExt;
    let rt = runtime();
    let (_b, id) = start(&rt, "sleep 1000", json!({}), "cg-events-pipe");
    let _g = rt.guard(&id);
    let mut child = rt
        .cmd(&["events", "--interval", "20ms", &id])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = child.stdout.take().unwrap();
    let mut first = [0u8; 1];
    out.read_exact(&mut first).unwrap();
    drop(out);
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    let st = child.wait().unwrap();
    assert_eq!(st.signal(), Some(libc::SIGPIPE), "{st:?}, stderr: {err}");
    assert!(err.is_empty(), "no message expected: {err}");
}
