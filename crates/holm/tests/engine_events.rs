//! `holm events`: the durable event log that commands and monitors append to. A run/stop/rm cycle's events in
//! order with docker's attributes, read after the fact (no reader ran while they were written); `--since`,
//! `--until`, `--filter`, `--format`; following the log; concurrent writers in separate processes never
//! interleave records.

#[path = "../../image/tests/common/mod.rs"]
mod common;
mod engine_common;

use engine_common::{Engine, IMAGE};
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::time::Duration;

/// Every stored event up to now, as JSON.
fn all_events(e: &Engine, extra: &[&str]) -> Vec<Value> {
    events_since(e, "0", extra)
}

/// The stored events from `since` up to now, as JSON.
fn events_since(e: &Engine, since: &str, extra: &[&str]) -> Vec<Value> {
    let until = format!("{:.9}", now_secs_f64() + 1.0);
    let mut args = vec![
        "events", "--since", since, "--until", &until, "--format", "json",
    ];
    args.extend_from_slice(extra);
    e.ok(&args)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|err| panic!("{l:?}: {err}")))
        .collect()
}

fn now_secs_f64() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

fn actions_of(events: &[Value], id: &str) -> Vec<String> {
    events
        .iter()
        .filter(|v| v["Actor"]["ID"] == id)
        .map(|v| v["Action"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn run_stop_rm_cycle_is_logged_in_order_with_attributes() {
    let e = Engine::new();
    e.ok(&["volume", "create", "evvol"]);
    let id = e.detached(&["--name", "web", "--label", "team=a", IMAGE, "sleep", "60"]);
    // sleep as pid 1 ignores SIGTERM: stop has to kill it (docker: kill 15, kill 9, die 137, stop)
    e.ok(&["stop", "-t", "1", "web"]);
    e.ok(&["rm", "web"]);
    e.ok(&["volume", "rm", "evvol"]);
    let evs = all_events(&e, &[]);
    assert_eq!(
        actions_of(&evs, &id),
        ["create", "start", "kill", "kill", "die", "stop", "destroy"],
        "{evs:#?}"
    );
    let mine: Vec<&Value> = evs.iter().filter(|v| v["Actor"]["ID"] == id).collect();
    for v in &mine {
        assert_eq!(v["Type"], "container");
        assert_eq!(v["scope"], "local");
        assert_eq!(v["status"], v["Action"], "docker's legacy fields");
        assert_eq!(v["id"], id);
        assert_eq!(v["from"], IMAGE);
        let a = &v["Actor"]["Attributes"];
        assert_eq!(
            (a["name"].as_str(), a["image"].as_str()),
            (Some("web"), Some(IMAGE))
        );
        assert_eq!(a["team"], "a", "labels are attributes");
        let (t, tn) = (v["time"].as_i64().unwrap(), v["timeNano"].as_i64().unwrap());
        assert_eq!(t, tn / 1_000_000_000);
    }
    assert_eq!(mine[2]["Actor"]["Attributes"]["signal"], "15");
    assert_eq!(mine[3]["Actor"]["Attributes"]["signal"], "9");
    assert_eq!(mine[4]["Actor"]["Attributes"]["exitCode"], "137");
    let times: Vec<i64> = mine
        .iter()
        .map(|v| v["timeNano"].as_i64().unwrap())
        .collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "{times:?}");
    // the volume's events
    let vols: Vec<(String, String)> = evs
        .iter()
        .filter(|v| v["Type"] == "volume")
        .map(|v| {
            (
                v["Action"].as_str().unwrap().into(),
                v["Actor"]["ID"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(
        vols,
        [
            ("create".into(), "evvol".into()),
            ("destroy".into(), "evvol".into())
        ]
    );
    // exec events, with the exit code of exec_die
    let id2 = e.detached(&["--name", "ex", IMAGE, "sleep", "60"]);
    let (_, _) = e.code(3, &["exec", "ex", "sh", "-c", "exit 3"]);
    let evs = all_events(&e, &["--filter", "container=ex"]);
    let acts = actions_of(&evs, &id2);
    assert_eq!(
        acts,
        [
            "create",
            "start",
            "exec_create: sh -c exit 3",
            "exec_start: sh -c exit 3",
            "exec_die"
        ]
    );
    let die = evs.last().unwrap();
    assert_eq!(die["Actor"]["Attributes"]["exitCode"], "3");
    assert_eq!(
        die["Actor"]["Attributes"]["execID"],
        evs[2]["Actor"]["Attributes"]["execID"]
    );
    // pause/unpause and kill
    e.ok(&["pause", "ex"]);
    e.ok(&["unpause", "ex"]);
    e.ok(&["kill", "ex"]);
    e.wait_status("ex", "exited");
    let acts = actions_of(&all_events(&e, &["--filter", "container=ex"]), &id2);
    assert_eq!(acts[5..], ["pause", "unpause", "kill", "die"]);
    // rename (docker's oldName) and restart (after the stop's and the start's events)
    e.ok(&["rename", "ex", "ex2"]);
    e.ok(&["restart", "-t", "1", "ex2"]);
    let evs = all_events(&e, &["--filter", &format!("container={id2}")]);
    let acts = actions_of(&evs, &id2);
    assert_eq!(acts[9..], ["rename", "start", "restart"], "{acts:?}");
    assert_eq!(evs[9]["Actor"]["Attributes"]["oldName"], "/ex");
    assert_eq!(evs[9]["Actor"]["Attributes"]["name"], "ex2");
}

#[test]
fn default_format_since_until_and_filters() {
    let e = Engine::new();
    let id = e.detached(&["--name", "one", "--label", "k=v", IMAGE, "true"]);
    e.wait_status("one", "exited");
    e.ok(&["volume", "create", "fv"]);
    // (the image's load comes first: the test engine loaded it)
    let evs: Vec<Value> = all_events(&e, &[])
        .into_iter()
        .filter(|v| v["Type"] != "image")
        .collect();
    let start = evs
        .iter()
        .find(|v| v["Actor"]["ID"] == id && v["Action"] == "start")
        .unwrap();
    let start_ns = start["timeNano"].as_i64().unwrap();
    let create_ns = evs[0]["timeNano"].as_i64().unwrap();
    assert_eq!(evs[0]["Action"], "create");

    // docker's line: TIME TYPE ACTION ID (sorted attributes)
    let until_now = format!("{:.9}", now_secs_f64() + 1.0);
    let out = e.ok(&[
        "events",
        "--since",
        "0",
        "--until",
        &until_now,
        "--filter",
        "type=container",
    ]);
    let first = out.lines().next().unwrap();
    let (time, rest) = first.split_once(' ').unwrap();
    assert_eq!(
        rest,
        format!("container create {id} (image={IMAGE}, k=v, name=one)")
    );
    assert!(
        time.len() == 30 && time.ends_with('Z') && time.as_bytes()[10] == b'T',
        "RFC 3339 with nanoseconds: {time}"
    );

    // --since (unix seconds with nanoseconds) drops what came before; --until drops what came after
    let secs = |ns: i64| format!("{}.{:09}", ns / 1_000_000_000, ns % 1_000_000_000);
    let since = events_since(&e, &secs(start_ns), &[]);
    assert_eq!(since[0]["Action"], "start", "{since:#?}");
    let until = e.ok(&[
        "events",
        "--since",
        "0",
        "--until",
        &secs(create_ns),
        "--filter",
        "type=container",
        "--format",
        "{{.Action}}",
    ]);
    assert_eq!(until, "create\n");
    // RFC 3339 and durations
    let rfc = e.ok(&[
        "events",
        "--since",
        "2000-01-01T00:00:00Z",
        "--until",
        &until_now,
        "--format",
        "{{.Action}}",
        "--filter",
        "type=container",
        "--filter",
        "type=volume",
    ]);
    assert_eq!(rfc.lines().count(), evs.len());
    let dur = e.ok(&[
        "events",
        "--since",
        "10m",
        "--until",
        "0s",
        "--format",
        "{{.Action}}",
        "--filter",
        "type=container",
        "--filter",
        "type=volume",
    ]);
    assert_eq!(dur.lines().count(), evs.len());

    // filters
    let f = |args: &[&str]| -> Vec<String> {
        all_events(&e, args)
            .iter()
            .map(|v| {
                format!(
                    "{} {}",
                    v["Type"].as_str().unwrap(),
                    v["Action"].as_str().unwrap()
                )
            })
            .collect()
    };
    assert_eq!(f(&["--filter", "type=volume"]), ["volume create"]);
    assert_eq!(f(&["--filter", "event=die"]), ["container die"]);
    assert_eq!(
        f(&["--filter", "event=die", "--filter", "event=start"]),
        ["container start", "container die"]
    );
    assert_eq!(f(&["--filter", "container=one"]).len(), 3);
    assert_eq!(f(&["--filter", "container=nope"]).len(), 0);
    assert_eq!(f(&["--filter", "label=k=v"]).len(), 3);
    assert_eq!(f(&["--filter", "image=busybox"]).len(), 3);
    // Go templates see docker's field names
    let t = e.ok(&[
        "events",
        "--since",
        "0",
        "--until",
        &until_now,
        "--filter",
        "type=volume",
        "--format",
        "{{.Type}}/{{.Actor.ID}}/{{.Actor.Attributes.driver}}",
    ]);
    assert_eq!(t, "volume/fv/local\n");
    // bad values name the flag
    let o = e.run(&["events", "--filter", "bogus=1", "--until", "0s"]);
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("bogus"),
        "{o:?}"
    );
    let o = e.run(&["events", "--since", "yesterday"]);
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("--since"),
        "{o:?}"
    );
}

#[test]
fn follows_the_log_until_interrupted_or_until() {
    let e = Engine::new();
    e.ok(&["volume", "create", "before"]);
    let mut f = e
        .cmd(&[
            "events",
            "--since",
            "0",
            "--filter",
            "type=volume",
            "--format",
            "{{.Action}} {{.Actor.ID}}",
        ])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(f.stdout.take().unwrap()).lines();
    assert_eq!(lines.next().unwrap().unwrap(), "create before");
    // written after the reader reached the end: it follows
    e.ok(&["volume", "create", "after"]);
    assert_eq!(lines.next().unwrap().unwrap(), "create after");
    e.ok(&["volume", "rm", "after"]);
    assert_eq!(lines.next().unwrap().unwrap(), "destroy after");
    let _ = f.kill();
    let _ = f.wait();
    // an --until in the future: it follows, then ends by itself
    let until = format!("{:.9}", now_secs_f64() + 2.0);
    let mut g = e
        .cmd(&[
            "events",
            "--until",
            &until,
            "--filter",
            "type=volume",
            "--format",
            "{{.Action}}",
        ])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(s) = g.try_wait().unwrap() {
            break s;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "events --until did not end"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(status.success());
}

#[test]
fn concurrent_writers_never_interleave() {
    let e = Engine::new();
    // 6 processes, each creating and removing 8 volumes: 96 events from separate holm processes at once
    let holm = env!("CARGO_BIN_EXE_holm");
    let procs: Vec<_> = (0..6)
        .map(|p| {
            let script = format!(
                "for i in 1 2 3 4 5 6 7 8; do \"$0\" --root \"$1\" --runroot \"$2\" volume create w{p}x$i >/dev/null || exit 1; \"$0\" --root \"$1\" --runroot \"$2\" volume rm w{p}x$i >/dev/null || exit 1; done"
            );
            std::process::Command::new("sh")
                .args(["-c", &script, holm])
                .arg(&e.root)
                .arg(&e.runroot)
                .spawn()
                .unwrap()
        })
        .collect();
    for mut p in procs {
        assert!(p.wait().unwrap().success());
    }
    // every line of the log file itself is one whole record
    let raw = std::fs::read_to_string(e.root.join("events/events.log")).unwrap();
    let mut count = 0;
    for line in raw.lines() {
        let v: Value = serde_json::from_str(line).unwrap_or_else(|err| panic!("{line:?}: {err}"));
        if v["Type"] == "volume" {
            count += 1;
        }
    }
    assert_eq!(count, 96);
    let evs = all_events(&e, &["--filter", "type=volume"]);
    assert_eq!(evs.len(), 96);
    for p in 0..6 {
        for i in 1..=8 {
            let name = format!("w{p}x{i}");
            let acts: Vec<&str> = evs
                .iter()
                .filter(|v| v["Actor"]["ID"] == name.as_str())
                .map(|v| v["Action"].as_str().unwrap())
                .collect();
            assert_eq!(acts, ["create", "destroy"], "{name}");
        }
    }
}

#[test]
fn image_events() {
    let e = Engine::new();
    let id = e
        .ok(&["image", "inspect", "-f", "{{.Id}}", IMAGE])
        .trim()
        .to_string();
    e.ok(&["tag", IMAGE, "other:1"]);
    e.ok(&["rmi", "other:1"]);
    let evs: Vec<(String, String, String)> = all_events(&e, &["--filter", "type=image"])
        .iter()
        .map(|v| {
            let s = |x: &Value| x.as_str().unwrap().to_string();
            (
                s(&v["Action"]),
                s(&v["Actor"]["ID"]),
                s(&v["Actor"]["Attributes"]["name"]),
            )
        })
        .collect();
    assert_eq!(
        evs,
        [
            ("load".into(), id.clone(), id.clone()),
            ("tag".into(), id.clone(), "other:1".into()),
            ("untag".into(), id.clone(), id.clone()),
        ]
    );
    // image= matches the new name of a tag event
    let t = all_events(&e, &["--filter", "image=other"]);
    assert_eq!(t.len(), 1);
    assert_eq!(t[0]["Action"], "tag");
}

/// Removes the test's containers, then its network, even when an assertion failed.
struct NetGuard<'a>(&'a Engine, String);

impl Drop for NetGuard<'_> {
    fn drop(&mut self) {
        if let Ok(o) = self.0.cmd(&["ps", "-aq", "--no-trunc"]).output() {
            for id in String::from_utf8_lossy(&o.stdout).split_whitespace() {
                let _ = self.0.cmd(&["rm", "-f", id]).output();
            }
        }
        let _ = self.0.cmd(&["network", "rm", &self.1]).output();
    }
}

#[test]
fn network_events() {
    let e = Engine::new();
    let name = holm_testkit::unique_id("ev").replace('-', "");
    let nid = e.ok(&["network", "create", &name]).trim().to_string();
    let _g = NetGuard(&e, name.clone());
    // one container started on it (connect at the start), then disconnected; another connected to it while it
    // runs on the default bridge (docker refuses a connect after the last network was taken away: `none`), then
    // removed (disconnect after its die)
    let c = e.detached(&["--name", "netc", "--network", &name, IMAGE, "sleep", "60"]);
    e.ok(&["network", "disconnect", &name, "netc"]);
    let c2 = e.detached(&["--name", "netc2", IMAGE, "sleep", "60"]);
    e.ok(&["network", "connect", &name, "netc2"]);
    e.ok(&["rm", "-f", "netc", "netc2"]);
    e.ok(&["network", "rm", &name]);
    let evs = all_events(&e, &["--filter", "type=network"]);
    let got: Vec<(String, String)> = evs
        .iter()
        .map(|v| {
            assert_eq!(v["Actor"]["ID"], nid.as_str());
            assert_eq!(v["Actor"]["Attributes"]["name"], name.as_str());
            assert_eq!(v["Actor"]["Attributes"]["type"], "bridge");
            (
                v["Action"].as_str().unwrap().to_string(),
                v["Actor"]["Attributes"]["container"]
                    .as_str()
                    .unwrap_or("")
                    .to_string(),
            )
        })
        .collect();
    let with = |a: &str, c: &str| (a.to_string(), c.to_string());
    let without = |a: &str| (a.to_string(), String::new());
    assert_eq!(
        got,
        [
            without("create"),
            with("connect", &c),
            with("disconnect", &c),
            with("connect", &c2),
            with("disconnect", &c2),
            without("destroy"),
        ]
    );
    // network= matches by name or id prefix; it excludes the container's own events
    assert_eq!(
        all_events(&e, &["--filter", &format!("network={name}")]).len(),
        6
    );
    assert_eq!(
        all_events(&e, &["--filter", &format!("network={}", &nid[..12])]).len(),
        6
    );
}
