//! `holm logs --since/--until` take docker's timestamp forms: RFC 3339 (zone, fraction), local date/time without
//! a zone (`TZ`), a bare date, Unix seconds, durations ago and negative durations (from now on).

#[path = "../../image/tests/common/mod.rs"]
mod common;
mod engine_common;

use engine_common::{Engine, IMAGE};
use std::time::{SystemTime, UNIX_EPOCH};

/// `YYYY-MM-DDTHH:MM:SS` of Unix seconds `t` (as UTC).
fn civil(t: i64) -> String {
    let t = UNIX_EPOCH + std::time::Duration::from_secs(t as u64);
    holm_format::time::rfc3339(t)[..19].to_string()
}

#[test]
fn logs_since_until_docker_forms() {
    let e = Engine::new();
    e.ok(&["run", "--name", "lt", IMAGE, "echo", "hi"]);
    let logs = |args: &[&str]| {
        let mut a = vec!["logs"];
        a.extend_from_slice(args);
        a.push("lt");
        e.ok(&a)
    };
    for since in [
        "2000-01-02",
        "2000-01-02T03",
        "2000-01-02T03:04",
        "2000-01-02T03:04:05",
        "2000-01-02T03:04:05.123456789Z",
        "2000-01-02T03:04:05+01:00",
        "946684800.5",
        "1h",
    ] {
        assert_eq!(logs(&["--since", since]), "hi\n", "--since {since}");
        assert_eq!(logs(&["--until", since]), "", "--until {since}");
    }
    // a negative duration is from now on: nothing since 5 s ahead, everything until then
    assert_eq!(logs(&["--since", "-5s"]), "");
    assert_eq!(logs(&["--until", "-5s"]), "hi\n");
    assert_eq!(logs(&["--since", "2999-01-01"]), "");
    for bad in ["yesterday", "2026-13-45", "-5", "5x"] {
        let (_, err) = e.code(125, &["logs", "--since", bad, "lt"]);
        assert!(
            err.contains("failed to parse value as time or duration"),
            "{bad}: {err}"
        );
    }
    // a time without a zone is local time: an hour ago in UTC+14 is 13 hours ahead in UTC
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let local = civil(now + 14 * 3600 - 3600);
    let with_tz = |tz: &str| {
        let o = e
            .cmd(&["logs", "--since", &local, "lt"])
            .env("TZ", tz)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8(o.stdout).unwrap()
    };
    assert_eq!(with_tz("XXX-14"), "hi\n", "--since {local} in UTC+14");
    assert_eq!(with_tz("UTC0"), "", "--since {local} in UTC");
}
