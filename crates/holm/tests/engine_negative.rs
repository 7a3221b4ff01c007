//! Negative values as docker takes them: `stop -t -1` and `--stop-timeout -1` wait for ever (no SIGKILL);
//! `--memory -1` is refused as an invalid size (not as an unknown flag).

#[path = "../../image/tests/common/mod.rs"]
mod common;
mod engine_common;

use engine_common::{wait_until, Engine, IMAGE};
use std::time::{Duration, Instant};

#[test]
fn negative_stop_timeouts_wait_for_ever() {
    let e = Engine::new();
    let (_, err) = e.code(125, &["run", "--rm", "--memory", "-1", IMAGE, "true"]);
    assert!(
        err.contains("invalid argument \"-1\" for \"--memory\""),
        "{err}"
    );

    // pid 1 ignores SIGTERM: only SIGKILL (or our kill) ends it
    e.detached(&[
        "--name",
        "forever",
        "--stop-timeout",
        "-1",
        IMAGE,
        "sleep",
        "300",
    ]);
    assert_eq!(e.inspect("forever")["Config"]["StopTimeout"], -1);
    e.detached(&["--name", "plain", IMAGE, "sleep", "300"]);
    for (name, args) in [
        ("forever", vec!["stop", "forever"]),
        ("plain", vec!["stop", "-t", "-1", "plain"]),
    ] {
        let mut stop = e.spawn(&args);
        std::thread::sleep(Duration::from_secs(3));
        assert!(stop.try_wait().unwrap().is_none(), "{args:?} gave up");
        assert_eq!(e.status(name), "running");
        e.ok(&["kill", name]);
        let t = Instant::now();
        wait_until(Duration::from_secs(10), "stop returns", || {
            stop.try_wait().unwrap().is_some()
        });
        assert!(stop.wait().unwrap().success(), "{args:?}");
        assert!(t.elapsed() < Duration::from_secs(10));
    }
    // a positive timeout still kills
    e.detached(&["--name", "quick", IMAGE, "sleep", "300"]);
    let t = Instant::now();
    e.ok(&["stop", "-t", "1", "quick"]);
    assert!(t.elapsed() < Duration::from_secs(8));
}
