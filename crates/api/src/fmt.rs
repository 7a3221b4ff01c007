//! Times as docker's API shows them: Unix seconds of an RFC 3339 time, and the `Status` text of
//! `/containers/json` (`Up 5 seconds`, `Exited (0) 2 minutes ago`). Stopgap until the shared formatting crate
//! (being moved out of crates/holm) lands; then these go.

use holm_engine::lifecycle::Status;
use holm_engine::ContainerRecord;

/// Seconds since the epoch of `YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)`.
pub fn unix(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' {
        return None;
    }
    let n = |r: std::ops::Range<usize>| s.get(r)?.parse::<i64>().ok();
    let (y, mo, d) = (n(0..4)?, n(5..7)?, n(8..10)?);
    let (h, mi, se) = (n(11..13)?, n(14..16)?, n(17..19)?);
    let mut rest = &s[19..];
    if let Some(r) = rest.strip_prefix('.') {
        rest = r.trim_start_matches(|c: char| c.is_ascii_digit());
    }
    let off = match rest {
        "Z" | "z" => 0,
        r if r.len() == 6 && (r.starts_with('+') || r.starts_with('-')) => {
            let v = r[1..3].parse::<i64>().ok()? * 3600 + r[4..6].parse::<i64>().ok()? * 60;
            if r.starts_with('-') {
                -v
            } else {
                v
            }
        }
        _ => return None,
    };
    // days from civil (Howard Hinnant's algorithm)
    let y = if mo <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (mo + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + h * 3600 + mi * 60 + se - off)
}

/// Now, in Unix seconds.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// docker's `units.HumanDuration`.
pub fn human_duration(secs: i64) -> String {
    let s = secs.max(0);
    let plural = |n: i64, unit: &str| format!("{n} {unit}{}", if n == 1 { "" } else { "s" });
    if s < 1 {
        "Less than a second".into()
    } else if s < 60 {
        plural(s, "second")
    } else if s < 120 {
        "About a minute".into()
    } else if s < 3600 {
        plural(s / 60, "minute")
    } else if s < 7200 {
        "About an hour".into()
    } else if s < 48 * 3600 {
        plural(s / 3600, "hour")
    } else if s < 14 * 86_400 {
        plural(s / 86_400, "day")
    } else if s < 60 * 86_400 {
        plural(s / (7 * 86_400), "week")
    } else if s < 2 * 365 * 86_400 {
        plural(s / (30 * 86_400), "month")
    } else {
        plural(s / (365 * 86_400), "year")
    }
}

/// `Created`, `Up 5 seconds`, `Up 2 minutes (Paused)`, `Exited (0) 3 seconds ago`, `Restarting (1) …`.
pub fn status_text(rec: &ContainerRecord, st: Status) -> String {
    let now = now();
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339() {
        assert_eq!(unix("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(unix("2026-12-07T05:43:13.123456789Z"), Some(1_796_622_193));
        assert_eq!(unix("1970-01-01T01:00:00+01:00"), Some(0));
        assert_eq!(unix("yesterday"), None);
        assert_eq!(human_duration(0), "Less than a second");
        assert_eq!(human_duration(1), "1 second");
        assert_eq!(human_duration(90), "About a minute");
        assert_eq!(human_duration(3 * 86_400), "3 days");
    }
}
