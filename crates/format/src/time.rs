//! Times as text: RFC 3339 timestamps in UTC with nanoseconds, as docker writes them
//! (`2026-11-29T10:16:34.123456789Z`), read back; Go's `time.Time.String()`; docker's human durations
//! (go-units' `HumanDuration`: `2 hours`, `About a minute`) and ages (`2 hours ago`). No system call (the time
//! comes from [`std::time::SystemTime`]): the runtime's state files, `holm-monitor`'s log and the engine's fronts
//! format time the same way.

/// Formats `t` as RFC 3339 in UTC with nine fractional digits; times before 1970 read as 1970-01-01.
pub fn rfc3339(t: std::time::SystemTime) -> String {
    let d = t.duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs() as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:09}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        d.subsec_nanos()
    )
}

/// Seconds since the Unix epoch of an RFC 3339 time (`2024-01-02T03:04:05.123Z`, `…+02:00`); `None` without a
/// zone or when it does not parse. The parsing is [`crate::timestamp`]'s.
pub fn parse_rfc3339(s: &str) -> Option<i64> {
    crate::timestamp::zoned_secs(s)
}

/// go-units' `HumanDuration` of `secs` seconds, as docker's `Up …` status and ages use it: `Less than a second`,
/// `5 seconds`, `About a minute`, `2 minutes`, `About an hour`, `3 hours`, `3 days`, `2 weeks`, `4 months`,
/// `2 years`.
pub fn human_duration(secs: i64) -> String {
    if secs < 1 {
        return "Less than a second".into();
    }
    let plural = |n: i64, unit: &str| {
        if n == 1 {
            format!("1 {unit}")
        } else {
            format!("{n} {unit}s")
        }
    };
    match secs {
        d if d < 60 => plural(d, "second"),
        d if d < 120 => "About a minute".into(),
        d if d < 3600 => plural(d / 60, "minute"),
        d if d < 7200 => "About an hour".into(),
        d if d < 2 * 86400 => plural(d / 3600, "hour"),
        d if d < 14 * 86400 => plural(d / 86400, "day"),
        d if d < 60 * 86400 => plural(d / (7 * 86400), "week"),
        d if d < 2 * 365 * 86400 => plural(d / (30 * 86400), "month"),
        d => plural(d / (365 * 86400), "year"),
    }
}

/// `N units ago`, docker style, of the Unix time `then` seen at `now` (seconds): [`human_duration`] + ` ago`
/// (`Less than a second ago`, `5 seconds ago`, `About a minute ago`, `2 weeks ago`).
pub fn ago(then: i64, now: i64) -> String {
    format!("{} ago", human_duration(now - then))
}

/// Go's `time.Time.String()` of a UTC time (docker's `CreatedAt` column), `2026-11-29 10:00:00 +0000 UTC`, from
/// an RFC 3339 time; empty if it does not parse.
pub fn created_at(rfc: &str) -> String {
    match parse_rfc3339(rfc) {
        Some(t) => {
            let s =
                rfc3339(std::time::UNIX_EPOCH + std::time::Duration::from_secs(t.max(0) as u64));
            format!("{} {} +0000 UTC", &s[..10], &s[11..19])
        }
        None => String::new(),
    }
}

/// Seconds since the Unix epoch now (0 before 1970).
pub fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_values() {
        let t = std::time::UNIX_EPOCH + std::time::Duration::new(1_700_000_000, 5);
        assert_eq!(rfc3339(t), "2023-11-14T22:13:20.000000005Z");
        assert_eq!(
            rfc3339(std::time::UNIX_EPOCH),
            "1970-01-01T00:00:00.000000000Z"
        );
    }

    #[test]
    fn times() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_rfc3339("2024-01-02T03:04:05Z"), Some(1704164645));
        assert_eq!(
            parse_rfc3339("2024-01-02T03:04:05.999999999Z"),
            Some(1704164645)
        );
        assert_eq!(parse_rfc3339("2024-01-02T05:04:05+02:00"), Some(1704164645));
        assert_eq!(parse_rfc3339("garbage"), None);
        assert_eq!(ago(0, 0), "Less than a second ago");
        assert_eq!(ago(0, 5), "5 seconds ago");
        assert_eq!(ago(0, 90), "About a minute ago");
        assert_eq!(ago(0, 3 * 86400), "3 days ago");
        assert_eq!(ago(0, 15 * 86400), "2 weeks ago");
        assert_eq!(ago(0, 800 * 86400), "2 years ago");
        assert_eq!(human_duration(180), "3 minutes");
    }

    #[test]
    fn created_at_is_gos_time_string() {
        assert_eq!(
            created_at("2026-11-29T10:00:00.5Z"),
            "2026-11-29 10:00:00 +0000 UTC"
        );
        assert_eq!(created_at(""), "");
    }
}
