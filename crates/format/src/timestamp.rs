//! docker's timestamps for `logs --since/--until` (moby `api/types/time.GetTimestamp`), read in the same order:
//!
//! 1. A Go duration other than `0` (`10m`, `1h30m`, `1.5s`) is that long before now; a negative one (`-5s`) is
//!    that long *after* now, as Go's `time.ParseDuration` and so docker read it.
//! 2. A date and time: `2006-01-02`, `2006-01-02T15`, `2006-01-02T15:04`, `2006-01-02T15:04:05` and
//!    `2006-01-02T15:04:05.999999999`, each either followed by a zone (`Z`, `+07:00`, `-07:00`) or, without one,
//!    in the local time zone (`TZ`, else `/etc/localtime`) at its offset of now, as docker does.
//! 3. Unix seconds, with an optional fraction: `1700000000`, `1700000000.5`.
//!
//! A value with a `-` that is not a valid date is an error (docker's rule: it was meant as a date).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Why a value is not a timestamp.
pub fn error(value: &str) -> String {
    format!("failed to parse value as time or duration: {value:?}")
}

/// Parses `value` relative to `now` into (seconds, nanoseconds) since the Unix epoch; `local_offset` gives the
/// local zone's offset (seconds east of UTC) at a time. Errors: the message for the flag.
pub fn parse(
    value: &str,
    now: SystemTime,
    local_offset: impl Fn(i64) -> i64,
) -> Result<(i64, u32), String> {
    use crate::duration::{parse as duration, DurationError};
    let as_pair = |t: SystemTime| -> (i64, u32) {
        match t.duration_since(UNIX_EPOCH) {
            Ok(d) => (d.as_secs() as i64, d.subsec_nanos()),
            Err(_) => (0, 0),
        }
    };
    if value != "0" {
        match duration(value) {
            Ok(d) => return Ok(as_pair(now.checked_sub(d).unwrap_or(UNIX_EPOCH))),
            Err(DurationError::Negative(_)) => {
                if let Ok(d) = duration(&value[1..]) {
                    return Ok(as_pair(now + d));
                }
            }
            Err(_) => {}
        }
    }
    let now_secs = as_pair(now).0;
    if let Some((secs, nanos, zone)) = date_time(value) {
        let offset = zone.unwrap_or_else(|| local_offset(now_secs));
        return Ok((secs - offset, nanos));
    }
    if value.contains('-') {
        return Err(error(value));
    }
    let (s, frac) = value.split_once('.').unwrap_or((value, ""));
    let secs: i64 = s.parse().map_err(|_| error(value))?;
    if !frac.is_empty() && (frac.len() > 9 || !frac.bytes().all(|b| b.is_ascii_digit())) {
        return Err(error(value));
    }
    let nanos = if frac.is_empty() {
        0
    } else {
        format!("{frac:0<9}").parse().map_err(|_| error(value))?
    };
    Ok((secs, nanos))
}

/// The form of the log's times (UTC, nanoseconds), which compares as text.
pub fn to_log_time((secs, nanos): (i64, u32)) -> String {
    let t = UNIX_EPOCH + Duration::new(secs.max(0) as u64, nanos);
    crate::time::rfc3339(t)
}

/// Seconds since the Unix epoch of a date/time that carries its zone (RFC 3339: `2024-01-02T03:04:05.5Z`,
/// `…+02:00`); `None` for one without a zone or that does not parse.
pub fn zoned_secs(v: &str) -> Option<i64> {
    let (secs, _, zone) = date_time(v)?;
    Some(secs - zone?)
}

/// `YYYY-MM-DD[THH[:MM[:SS[.F]]]][ZONE]` → (seconds as if UTC, nanoseconds, zone offset if given).
fn date_time(v: &str) -> Option<(i64, u32, Option<i64>)> {
    let num = |s: &str, n: usize| -> Option<i64> {
        (s.len() == n && s.bytes().all(|b| b.is_ascii_digit())).then(|| s.parse().ok())?
    };
    let (y, mo, d) = (
        num(v.get(0..4)?, 4)?,
        num(v.get(5..7)?, 2)?,
        num(v.get(8..10)?, 2)?,
    );
    if v.as_bytes()[4] != b'-' || v.as_bytes()[7] != b'-' {
        return None;
    }
    let days_in = [
        31,
        if leap(y) { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    if !(1..=12).contains(&mo) || d < 1 || d > days_in[(mo - 1) as usize] {
        return None;
    }
    let mut rest = &v[10..];
    let (mut h, mut mi, mut s, mut nanos) = (0, 0, 0, 0u32);
    if let Some(r) = rest.strip_prefix('T') {
        h = num(r.get(0..2)?, 2)?;
        rest = &r[2..];
        if let Some(r) = rest.strip_prefix(':') {
            mi = num(r.get(0..2)?, 2)?;
            rest = &r[2..];
            if let Some(r) = rest.strip_prefix(':') {
                s = num(r.get(0..2)?, 2)?;
                rest = &r[2..];
                if let Some(r) = rest.strip_prefix('.') {
                    let n = r.bytes().take_while(u8::is_ascii_digit).count();
                    if n == 0 || n > 9 {
                        return None;
                    }
                    nanos = format!("{:0<9}", &r[..n]).parse().ok()?;
                    rest = &r[n..];
                }
            }
        }
        if h > 23 || mi > 59 || s > 60 {
            return None;
        }
    }
    let zone = match rest {
        "" => None,
        "Z" | "z" => Some(0),
        r if r.len() == 6 && matches!(r.as_bytes()[0], b'+' | b'-') && r.as_bytes()[3] == b':' => {
            let o = num(&r[1..3], 2)? * 3600 + num(&r[4..6], 2)? * 60;
            Some(if r.starts_with('-') { -o } else { o })
        }
        _ => return None,
    };
    Some((
        days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s,
        nanos,
        zone,
    ))
}

fn leap(y: i64) -> bool {
    y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * ((m + 9) % 12) + 2) / 5 + d - 1;
    era * 146097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719468
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(v: &str) -> Result<(i64, u32), String> {
        parse(v, UNIX_EPOCH + Duration::from_secs(1_000_000), |_| 3600)
    }

    #[test]
    fn docker_forms() {
        assert_eq!(p("2026-11-29T13:41:39Z"), Ok((1_795_959_699, 0)));
        assert_eq!(p("2026-11-29T14:41:39+01:00"), Ok((1_795_959_699, 0)));
        assert_eq!(
            p("2026-11-29T13:41:39.5Z"),
            Ok((1_795_959_699, 500_000_000))
        );
        // local time (offset +1h here)
        assert_eq!(p("2026-11-29T14:41:39"), Ok((1_795_959_699, 0)));
        assert_eq!(p("2026-11-29T14:41"), Ok((1_795_959_660, 0)));
        assert_eq!(p("2026-11-29T14"), Ok((1_795_957_200, 0)));
        assert_eq!(p("2026-11-30"), Ok((1_795_993_200, 0)));
        assert_eq!(p("2026-11-30Z"), Ok((1_795_996_800, 0)));
        assert_eq!(p("1700000000"), Ok((1_700_000_000, 0)));
        assert_eq!(p("1700000000.25"), Ok((1_700_000_000, 250_000_000)));
        assert_eq!(p("0"), Ok((0, 0)));
        assert_eq!(p("10s"), Ok((999_990, 0)));
        assert_eq!(p("-5s"), Ok((1_000_005, 0)));
        for bad in [
            "yesterday",
            "5x",
            "2026-13-01",
            "2026-02-30",
            "-5",
            "2026-11-29T25:00Z",
            "1.2.3",
        ] {
            assert!(p(bad).is_err(), "{bad}");
        }
    }
}
