//! Human-readable sizes and ages, as docker prints them (`4.26MB`, `2 weeks ago`).

/// Size in SI units with three significant digits: `999B`, `1.5kB`, `4.26MB`, `1.07GB`.
pub fn size(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["B", "kB", "MB", "GB", "TB", "PB"];
    let mut v = bytes as f64;
    let mut u = 0;
    while v >= 1000.0 && u < UNITS.len() - 1 {
        v /= 1000.0;
        u += 1;
    }
    if u == 0 {
        return format!("{bytes}B");
    }
    let digits = if v >= 100.0 {
        3
    } else if v >= 10.0 {
        2
    } else {
        1
    };
    // three significant digits, trailing zeros trimmed
    let s = format!("{v:.*}", 3 - digits.min(3));
    let s = if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    };
    format!("{s}{}", UNITS[u])
}

/// Seconds since the Unix epoch of an RFC 3339 time (`2024-01-02T03:04:05.123Z`, `…+02:00`); `None` without a
/// zone or when it does not parse. The parsing is [`crate::timestamp`]'s.
pub fn parse_rfc3339(s: &str) -> Option<i64> {
    crate::timestamp::zoned_secs(s)
}

/// `N units ago`, docker style: `Less than a second ago`, `5 seconds ago`, `About a minute ago`, `2 hours ago`,
/// `3 days ago`, `2 weeks ago`, `4 months ago`, `2 years ago`.
pub fn ago(then: i64, now: i64) -> String {
    let d = now - then;
    if d < 1 {
        return "Less than a second ago".into();
    }
    let plural = |n: i64, unit: &str| {
        if n == 1 {
            format!("1 {unit} ago")
        } else {
            format!("{n} {unit}s ago")
        }
    };
    match d {
        d if d < 60 => plural(d, "second"),
        d if d < 120 => "About a minute ago".into(),
        d if d < 3600 => plural(d / 60, "minute"),
        d if d < 7200 => "About an hour ago".into(),
        d if d < 2 * 86400 => plural(d / 3600, "hour"),
        d if d < 14 * 86400 => plural(d / 86400, "day"),
        d if d < 60 * 86400 => plural(d / (7 * 86400), "week"),
        d if d < 2 * 365 * 86400 => plural(d / (30 * 86400), "month"),
        d => plural(d / (365 * 86400), "year"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(size(0), "0B");
        assert_eq!(size(999), "999B");
        assert_eq!(size(1500), "1.5kB");
        assert_eq!(size(4_261_000), "4.26MB");
        assert_eq!(size(12_345_678), "12.3MB");
        assert_eq!(size(123_456_789), "123MB");
        assert_eq!(size(1_070_000_000), "1.07GB");
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
    }
}
