//! The `Status` text of `/containers/json` (`Up 5 seconds`, `Exited (0) 2 minutes ago`), from holm-format's
//! durations. (The CLI's `ps` has the same words; when the container listing moves into the engine, this goes.)

use holm_engine::lifecycle::Status;
use holm_engine::ContainerRecord;
use holm_format::time::{human_duration, now_secs, parse_rfc3339};

/// Seconds since the epoch of an RFC 3339 time.
pub fn unix(s: &str) -> Option<i64> {
    parse_rfc3339(s)
}

/// `Created`, `Up 5 seconds`, `Up 2 minutes (Paused)`, `Exited (0) 3 seconds ago`, `Restarting (1) …`.
pub fn status_text(rec: &ContainerRecord, st: Status) -> String {
    let now = now_secs();
    let ago = |t: &str| unix(t).map(|t| human_duration(now - t));
    match st {
        Status::Created => "Created".into(),
        Status::Running | Status::Paused => {
            let up = ago(&rec.started_at).unwrap_or_default();
            let p = if st == Status::Paused {
                " (Paused)"
            } else {
                ""
            };
            format!("Up {up}{p}")
        }
        Status::Exited | Status::Restarting => {
            let word = if st == Status::Exited {
                "Exited"
            } else {
                "Restarting"
            };
            let code = rec.exit_code.unwrap_or(-1);
            match ago(&rec.finished_at) {
                Some(a) => format!("{word} ({code}) {a} ago"),
                None => format!("{word} ({code})"),
            }
        }
    }
}
