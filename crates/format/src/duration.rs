//! Go-style durations, as Go's `time.ParseDuration` reads them and as runc's and docker's command lines take them
//! (`runc events --interval 5s`, `docker logs --since 10m`): one or more decimal numbers, each with an optional
//! fraction and a unit, e.g. `300ms`, `1.5h`, `2h45m`, `.5s`; units `ns`, `us` (or `µs`, `μs`), `ms`, `s`, `m`,
//! `h`. A bare `0` needs no unit. Used by `holm-runtime events --interval` (through `holm_container::duration`)
//! and `holm logs --since/--until` (through [`crate::timestamp`]).

use std::time::Duration;

/// Why a string is not a duration. The message quotes the input; callers prefix the flag.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    /// Not in Go's syntax (`reason` says what is wrong: a missing or unknown unit, no digits, …).
    #[error("invalid duration {input:?}: {reason}; expected e.g. 5s, 500ms, 1m30s or 1h")]
    Invalid {
        /// The string given.
        input: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A valid duration with a `-` sign (Go allows them; a [`Duration`] cannot hold one).
    #[error("invalid duration {0:?}: negative")]
    Negative(String),
    /// More than Go's limit, `i64::MAX` nanoseconds (about 292 years).
    #[error("invalid duration {0:?}: too large")]
    TooLarge(String),
}

/// Parses a Go duration (see the module doc) into a [`Duration`], exactly to the nanosecond (fractions beyond the
/// unit's nanoseconds are truncated, as Go does). An optional leading `+` is accepted; a `-` gives
/// [`DurationError::Negative`] unless the value is zero.
///
/// Errors: [`DurationError::Invalid`] for anything else than Go's syntax (including an empty string and a number
/// without a unit other than `0`), [`DurationError::TooLarge`] beyond `i64::MAX` nanoseconds.
pub fn parse(s: &str) -> Result<Duration, DurationError> {
    let invalid = |reason| DurationError::Invalid {
        input: s.to_string(),
        reason,
    };
    let too_large = || DurationError::TooLarge(s.to_string());
    let (negative, body) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    if body == "0" {
        return Ok(Duration::ZERO);
    }
    if body.is_empty() {
        return Err(invalid("empty"));
    }
    let digits = |t: &str| t.bytes().take_while(u8::is_ascii_digit).count();
    let mut nanos: u128 = 0;
    let mut rest = body;
    while !rest.is_empty() {
        let int_len = digits(rest);
        let int = &rest[..int_len];
        rest = &rest[int_len..];
        let mut frac = "";
        if let Some(r) = rest.strip_prefix('.') {
            let frac_len = digits(r);
            frac = &r[..frac_len];
            rest = &r[frac_len..];
        }
        if int.is_empty() && frac.is_empty() {
            return Err(invalid("expected a number"));
        }
        let unit_len = rest
            .find(|c: char| c == '.' || c.is_ascii_digit())
            .unwrap_or(rest.len());
        let scale: u128 = match &rest[..unit_len] {
            "ns" => 1,
            "us" | "µs" | "μs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            "" => return Err(invalid("missing unit")),
            _ => return Err(invalid("unknown unit")),
        };
        rest = &rest[unit_len..];
        // More than 20 integer digits cannot be below the limit; parsing them would overflow.
        if int.len() > 20 {
            return Err(too_large());
        }
        let whole: u128 = if int.is_empty() {
            0
        } else {
            int.parse().map_err(|_| invalid("expected a number"))?
        };
        // The fraction's value in this unit's nanoseconds; digits past 1 ns cannot change it.
        let mut frac_nanos: u128 = 0;
        let mut place = scale;
        for d in frac.bytes() {
            if place < 10 {
                break;
            }
            place /= 10;
            frac_nanos += u128::from(d - b'0') * place;
        }
        nanos = whole
            .checked_mul(scale)
            .and_then(|n| n.checked_add(frac_nanos))
            .and_then(|n| n.checked_add(nanos))
            .ok_or_else(too_large)?;
        if nanos > i64::MAX as u128 {
            return Err(too_large());
        }
    }
    if negative && nanos != 0 {
        return Err(DurationError::Negative(s.to_string()));
    }
    Ok(Duration::from_nanos(nanos as u64))
}

#[cfg(test)]
mod tests {
    use super::{parse, DurationError};
    use std::time::Duration;

    #[test]
    fn go_forms() {
        let ok = |s: &str| parse(s).unwrap_or_else(|e| panic!("{s}: {e}"));
        assert_eq!(ok("5s"), Duration::from_secs(5));
        assert_eq!(ok("250ms"), Duration::from_millis(250));
        assert_eq!(ok("1m30s"), Duration::from_secs(90));
        assert_eq!(ok("1.5s"), Duration::from_millis(1500));
        assert_eq!(ok("2h45m"), Duration::from_secs(2 * 3600 + 45 * 60));
        assert_eq!(ok(".5s"), Duration::from_millis(500));
        assert_eq!(ok("5.s"), Duration::from_secs(5));
        assert_eq!(ok("1.000000001s"), Duration::new(1, 1));
        assert_eq!(ok("1.0000000019s"), Duration::new(1, 1));
        assert_eq!(ok("10us"), Duration::from_micros(10));
        assert_eq!(ok("10µs"), Duration::from_micros(10));
        assert_eq!(ok("10μs"), Duration::from_micros(10));
        assert_eq!(ok("7ns"), Duration::from_nanos(7));
        assert_eq!(ok("0"), Duration::ZERO);
        assert_eq!(ok("+0"), Duration::ZERO);
        assert_eq!(ok("-0"), Duration::ZERO);
        assert_eq!(ok("0s"), Duration::ZERO);
        assert_eq!(ok("+3m"), Duration::from_secs(180));
        assert_eq!(ok("2562047h"), Duration::from_secs(2_562_047 * 3600));
    }

    #[test]
    fn errors_say_why() {
        for bad in [
            "", "5", "s", "5x", "1.2.3s", ".s", "-", "1s5", "1 s", "5S", "1e3s",
        ] {
            assert!(
                matches!(parse(bad), Err(DurationError::Invalid { .. })),
                "{bad:?}: {:?}",
                parse(bad)
            );
        }
        assert_eq!(parse("-1s"), Err(DurationError::Negative("-1s".into())));
        assert!(matches!(parse("2562048h"), Err(DurationError::TooLarge(_))));
        assert!(matches!(
            parse("99999999999999999999999999s"),
            Err(DurationError::TooLarge(_))
        ));
        let msg = parse("5x").unwrap_err().to_string();
        assert!(
            msg.contains("\"5x\"") && msg.contains("unknown unit"),
            "{msg}"
        );
        let msg = parse("5").unwrap_err().to_string();
        assert!(msg.contains("missing unit"), "{msg}");
    }
}
