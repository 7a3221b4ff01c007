//! Healthchecks run by the container's monitor (no daemon): `--health-*` flags and the image's `Healthcheck`,
//! docker's status rules (retries, start period, timeout), `ps` (`Up … (healthy)`), `inspect` (`State.Health`)
//! and `health_status` events. Every wait is a generous bounded poll; nothing asserts how long a check took.

#[path = "../../image/tests/common/mod.rs"]
mod common;
mod engine_common;

use common::images::{busybox_image, docker_archive};
use engine_common::{extra_applets, wait_until, Engine, IMAGE};
use serde_json::{json, Value};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(60);

fn health(e: &Engine, c: &str) -> Value {
    e.inspect(c)["State"]["Health"].clone()
}

fn wait_health(e: &Engine, c: &str, what: &str, cond: impl Fn(&Value) -> bool) -> Value {
    let mut last = Value::Null;
    wait_until(WAIT, what, || {
        last = health(e, c);
        cond(&last)
    });
    last
}

fn ps_status(e: &Engine, c: &str) -> String {
    e.ok(&[
        "ps",
        "-a",
        "--filter",
        &format!("name={c}"),
        "--format",
        "{{.Status}}",
    ])
    .trim()
    .to_string()
}

fn health_events(e: &Engine, id: &str) -> Vec<String> {
    let until = format!(
        "{}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
            + 1
    );
    e.ok(&[
        "events",
        "--since",
        "0",
        "--until",
        &until,
        "--filter",
        &format!("container={id}"),
        "--filter",
        "event=health_status",
        "--format",
        "{{.Action}}",
    ])
    .lines()
    .map(str::to_string)
    .collect()
}

#[test]
fn healthy_then_ps_inspect_events_and_stop() {
    let e = Engine::new();
    let id = e.detached(&[
        "--name",
        "hok",
        "--health-cmd",
        "test -e /tmp/ready && echo fine",
        "--health-interval",
        "1s",
        "--health-retries",
        "2",
        IMAGE,
        "sh",
        "-c",
        "touch /tmp/ready; exec sleep 300",
    ]);
    let cfg = &e.inspect("hok")["Config"]["Healthcheck"];
    assert_eq!(
        cfg["Test"],
        json!(["CMD-SHELL", "test -e /tmp/ready && echo fine"])
    );
    assert_eq!(cfg["Interval"], 1_000_000_000i64);
    assert_eq!(cfg["Retries"], 2);
    let h = wait_health(&e, "hok", "healthy", |h| h["Status"] == "healthy");
    assert_eq!(h["FailingStreak"], 0);
    let log = h["Log"].as_array().unwrap();
    let last = log.last().unwrap();
    assert_eq!(last["ExitCode"], 0);
    assert_eq!(last["Output"], "fine\n", "the check's output is kept");
    assert!(last["Start"].as_str().unwrap() <= last["End"].as_str().unwrap());
    let st = ps_status(&e, "hok");
    assert!(st.starts_with("Up ") && st.ends_with(" (healthy)"), "{st}");
    // docker's ps --filter health=
    let ps_q = |f: &str| e.ok(&["ps", "-aq", "--no-trunc", "--filter", f]);
    assert_eq!(ps_q("health=healthy").trim(), id.trim());
    assert_eq!(ps_q("health=unhealthy").trim(), "");
    assert_eq!(ps_q("health=none").trim(), "");
    // at most 5 results are kept
    wait_health(&e, "hok", "6 checks", |h| {
        h["Log"].as_array().is_some_and(|l| l.len() == 5) && h["Log"][0]["Start"] != log[0]["Start"]
    });
    assert_eq!(health_events(&e, &id), ["health_status: healthy"]);
    // stopped: docker's "unhealthy", and no suffix in ps
    e.ok(&["stop", "-t", "1", "hok"]);
    assert_eq!(health(&e, "hok")["Status"], "unhealthy");
    let st = ps_status(&e, "hok");
    assert!(st.starts_with("Exited (") && !st.contains("health"), "{st}");
    // started again: starting, then healthy again
    e.ok(&["start", "hok"]);
    let h = health(&e, "hok");
    assert!(h["Status"] == "starting" || h["Status"] == "healthy", "{h}");
    wait_health(&e, "hok", "healthy again", |h| h["Status"] == "healthy");
}

#[test]
fn unhealthy_after_retries_with_output_and_event() {
    let e = Engine::new();
    let id = e.detached(&[
        "--name",
        "hbad",
        "--health-cmd",
        "echo broken >&2; exit 1",
        "--health-interval",
        "1s",
        "--health-retries",
        "3",
        IMAGE,
        "sleep",
        "300",
    ]);
    let st = ps_status(&e, "hbad");
    assert!(st.ends_with("(health: starting)"), "{st}");
    // below the retries it stays starting, with the streak counting
    let h = wait_health(&e, "hbad", "a failure", |h| h["FailingStreak"] != 0);
    if h["FailingStreak"].as_u64().unwrap() < 3 {
        assert_eq!(h["Status"], "starting", "{h}");
    }
    let h = wait_health(&e, "hbad", "unhealthy", |h| h["Status"] == "unhealthy");
    assert!(h["FailingStreak"].as_u64().unwrap() >= 3, "{h}");
    let last = h["Log"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["ExitCode"], 1);
    assert_eq!(last["Output"], "broken\n", "stderr is kept too");
    assert!(ps_status(&e, "hbad").ends_with(" (unhealthy)"));
    assert_eq!(health_events(&e, &id), ["health_status: unhealthy"]);
    // the checks run as docker's execs: exec events with the check's command
    let acts = e.ok(&[
        "events",
        "--since",
        "0",
        "--until",
        "0s",
        "--filter",
        "event=exec_start",
        "--format",
        "{{.Action}}",
    ]);
    assert!(
        acts.lines()
            .next()
            .is_some_and(|l| l == "exec_start: /bin/sh -c echo broken >&2; exit 1"),
        "{acts}"
    );
}

#[test]
fn timeout_kills_the_check() {
    let e = Engine::new();
    e.detached(&[
        "--name",
        "hslow",
        "--health-cmd",
        "echo started; exec sleep 1234",
        "--health-interval",
        "1s",
        "--health-timeout",
        "1s",
        "--health-retries",
        "1",
        IMAGE,
        "sleep",
        "300",
    ]);
    let h = wait_health(&e, "hslow", "unhealthy", |h| h["Status"] == "unhealthy");
    let last = &h["Log"][0];
    assert_eq!(last["ExitCode"], -1);
    assert_eq!(
        last["Output"],
        "Health check exceeded timeout (1s): started\n"
    );
    // each timed-out check's process was killed in the container: after 3 checks, at most the running one is
    // there (none piled up)
    wait_health(&e, "hslow", "3 checks", |h| {
        h["Log"].as_array().is_some_and(|l| l.len() >= 3)
    });
    let ps = e.ok(&["exec", "hslow", "ps", "-o", "args"]);
    assert!(
        ps.lines().filter(|l| l.contains("sleep 1234")).count() <= 1,
        "{ps}"
    );
}

#[test]
fn start_period_failures_do_not_count() {
    let e = Engine::new();
    e.detached(&[
        "--name",
        "hstart",
        "--health-cmd",
        "exit 1",
        "--health-interval",
        "1s",
        "--health-retries",
        "1",
        "--health-start-period",
        "1h",
        IMAGE,
        "sleep",
        "300",
    ]);
    let h = wait_health(&e, "hstart", "3 checks", |h| {
        h["Log"].as_array().is_some_and(|l| l.len() >= 3)
    });
    assert_eq!(h["Status"], "starting", "{h}");
    assert_eq!(h["FailingStreak"], 0);
    assert!(h["Log"]
        .as_array()
        .unwrap()
        .iter()
        .all(|l| l["ExitCode"] == 1));
}

#[test]
fn image_healthcheck_and_no_healthcheck() {
    let e = Engine::new();
    let img = busybox_image(
        json!({
            "Cmd": ["sleep", "300"],
            "Healthcheck": {"Test": ["CMD", "sh", "-c", "exit 0"], "Interval": 1_000_000_000i64, "Retries": 1}
        }),
        &[extra_applets()],
    );
    let archive = e.tmp.path().join("hc.tar");
    std::fs::write(&archive, docker_archive(&[(&img, &["hc:1"])])).unwrap();
    e.ok(&["load", "-i", archive.to_str().unwrap()]);
    let id = e.detached(&["--name", "img", "hc:1"]);
    assert_eq!(
        e.inspect("img")["Config"]["Healthcheck"]["Test"],
        json!(["CMD", "sh", "-c", "exit 0"])
    );
    wait_health(&e, "img", "healthy", |h| h["Status"] == "healthy");
    assert_eq!(health_events(&e, &id), ["health_status: healthy"]);
    // a flag overrides one field, the image gives the rest
    e.detached(&["--name", "img2", "--health-retries", "7", "hc:1"]);
    let hc = &e.inspect("img2")["Config"]["Healthcheck"];
    assert_eq!(
        (hc["Retries"].as_i64(), hc["Interval"].as_i64()),
        (Some(7), Some(1_000_000_000))
    );
    // --no-healthcheck: no check, no State.Health, no suffix
    e.detached(&["--name", "none", "--no-healthcheck", "hc:1"]);
    assert_eq!(
        e.inspect("none")["Config"]["Healthcheck"]["Test"],
        json!(["NONE"])
    );
    // (img2 became healthy meanwhile: enough time for `none` to have been checked, had it a check)
    wait_health(&e, "img2", "healthy", |h| h["Status"] == "healthy");
    assert_eq!(health(&e, "none"), Value::Null);
    let st = ps_status(&e, "none");
    assert!(st.starts_with("Up ") && !st.contains('('), "{st}");
    // bad flags, docker's words; nothing is created
    let (_, err) = e.code(
        125,
        &[
            "run",
            "-d",
            "--no-healthcheck",
            "--health-cmd",
            "true",
            IMAGE,
        ],
    );
    assert!(
        err.contains("--no-healthcheck conflicts with --health-* options"),
        "{err}"
    );
    let (_, err) = e.code(125, &["run", "-d", "--health-interval", "-1s", IMAGE]);
    assert!(
        err.contains("--health-interval cannot be negative"),
        "{err}"
    );
    let (_, err) = e.code(125, &["run", "-d", "--health-retries", "-2", IMAGE]);
    assert!(err.contains("--health-retries cannot be negative"), "{err}");
    assert_eq!(e.ok(&["ps", "-aq"]).lines().count(), 3);
}

#[test]
fn checks_run_through_an_external_runtime() {
    // `--runtime runc`: the check is `runc exec --detach --pid-file`, its process re-parented to the check's
    // holm (a subreaper), waited for and killed at the timeout the same way
    let e = Engine::new();
    e.detached(&[
        "--name",
        "hrunc",
        "--runtime",
        "runc",
        "--health-cmd",
        "echo via-runc; test -e /tmp/ok",
        "--health-interval",
        "1s",
        "--health-retries",
        "1",
        IMAGE,
        "sleep",
        "300",
    ]);
    let h = wait_health(&e, "hrunc", "unhealthy", |h| h["Status"] == "unhealthy");
    assert_eq!(h["Log"][0]["ExitCode"], 1);
    assert_eq!(h["Log"][0]["Output"], "via-runc\n");
    e.ok(&["exec", "hrunc", "touch", "/tmp/ok"]);
    let h = wait_health(&e, "hrunc", "healthy", |h| h["Status"] == "healthy");
    assert_eq!(h["FailingStreak"], 0);
}

#[test]
fn a_paused_container_is_not_checked() {
    let e = Engine::new();
    let id = e.detached(&[
        "--name",
        "hpause",
        "--health-cmd",
        "true",
        "--health-interval",
        "1s",
        "--health-retries",
        "1",
        IMAGE,
        "sleep",
        "300",
    ]);
    wait_health(&e, "hpause", "healthy", |h| h["Status"] == "healthy");
    e.ok(&["pause", "hpause"]);
    let count = |e: &Engine| {
        e.ok(&[
            "events",
            "--since",
            "0",
            "--until",
            "0s",
            "--filter",
            "event=exec_start",
            "--filter",
            &format!("container={id}"),
        ])
        .lines()
        .count()
    };
    let before = count(&e);
    // three intervals: an exec into the frozen container would have failed (126) and made it unhealthy
    std::thread::sleep(Duration::from_secs(3));
    let h = health(&e, "hpause");
    assert_eq!(h["Status"], "healthy", "{h}");
    assert!(count(&e) <= before + 1, "checks ran while paused");
    e.ok(&["unpause", "hpause"]);
    wait_until(WAIT, "checks again", || count(&e) >= before + 2);
    assert_eq!(health(&e, "hpause")["Status"], "healthy");
}
