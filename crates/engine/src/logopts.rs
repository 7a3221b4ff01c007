//! `--log-opt KEY=VALUE` (docker's): the options of the json-file (and k8s-file) log driver, `max-size` and
//! `max-file`, which become the monitor's log rotation ([`holm_monitor::log::Rotate`]).
//!
//! Parsing follows docker: `max-size` is go-units' `FromHumanSize` (a number, optional fraction, optional space,
//! optional `k`/`m`/`g`/`t`/`p` in any case, optional `i`, optional `b`; **decimal** multiples: `10m` is
//! 10,000,000 bytes) and must be positive; `max-file` is an integer >= 1 (default 1: the file is emptied when it
//! reaches `max-size`). Any other key is refused as docker's daemon does (`unknown log opt 'K' for json-file log
//! driver`), as are options for `--log-driver none` (docker's CLI: `invalid logging opts for driver none`).
//! Deliberate differences: docker accepts `max-file` without `max-size` and ignores it; holm refuses it (it would
//! do nothing). docker's `compress`, `labels`, `env`, `tag` are not implemented and refused by name.

use crate::{Error, Result};
use holm_monitor::log::Rotate;
use std::collections::BTreeMap;

/// The keys holm's file log drivers take.
pub const KEYS: &[&str] = &["max-size", "max-file"];

fn bad(opt: &str, why: impl Into<String>) -> Error {
    Error::flag("--log-opt", opt, why)
}

/// Parses docker's `units.FromHumanSize` form, `^\d+(\.\d+)? ?[kmgtp]?i?b?$` (any case; decimal multiples);
/// `None` if it is not one.
pub fn from_human_size(s: &str) -> Option<u64> {
    let int_end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let mut end = int_end;
    if int_end > 0 && s[end..].starts_with('.') {
        let frac = s[end + 1..]
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(s.len() - end - 1);
        if frac == 0 {
            return None;
        }
        end += 1 + frac;
    }
    let (num, mut rest) = s.split_at(end);
    let num: f64 = num.parse().ok()?;
    rest = rest.strip_prefix(' ').unwrap_or(rest);
    let mut mult = 1f64;
    if let Some(c) = rest.chars().next() {
        if let Some(exp) = "kmgtp".find(c.to_ascii_lowercase()) {
            mult = 1000f64.powi(exp as i32 + 1);
            rest = &rest[1..];
        }
    }
    rest = rest.strip_prefix(['i', 'I']).unwrap_or(rest);
    rest = rest.strip_prefix(['b', 'B']).unwrap_or(rest);
    rest.is_empty().then_some((num * mult) as u64)
}

/// Checks `--log-opt` values for `driver`; returns them as a map (docker's `HostConfig.LogConfig.Config`).
pub fn parse(driver: &str, opts: &[String]) -> Result<BTreeMap<String, String>> {
    if driver == "none" && !opts.is_empty() {
        return Err(bad(&opts[0], "invalid logging opts for driver none"));
    }
    let mut map = BTreeMap::new();
    for o in opts {
        // docker's ConvertKVStringsToMap: a bare key has an empty value.
        let (k, v) = o.split_once('=').unwrap_or((o, ""));
        if !KEYS.contains(&k) {
            return Err(bad(
                o,
                format!(
                    "unknown log opt '{k}' for {driver} log driver (holm has max-size, max-file)"
                ),
            ));
        }
        map.insert(k.to_string(), v.to_string());
    }
    if let Some(v) = map.get("max-size") {
        let o = format!("max-size={v}");
        match from_human_size(v) {
            None => return Err(bad(&o, format!("invalid size: '{v}'"))),
            Some(0) => return Err(bad(&o, "max-size must be a positive number")),
            Some(_) => {}
        }
    }
    if let Some(v) = map.get("max-file") {
        let o = format!("max-file={v}");
        match v.parse::<i64>() {
            Err(_) => {
                return Err(bad(
                    &o,
                    format!("invalid max-file: '{v}' is not an integer"),
                ))
            }
            Ok(n) if n < 1 => return Err(bad(&o, "max-file cannot be less than 1")),
            Ok(n) if n > 1000 => return Err(bad(&o, "max-file cannot be more than 1000")),
            Ok(_) => {}
        }
        if !map.contains_key("max-size") {
            return Err(bad(
                &o,
                "max-file needs max-size (the file is rotated when it reaches max-size)",
            ));
        }
    }
    Ok(map)
}

/// The rotation that checked options (from [`parse`]) ask for; `None` without `max-size`.
pub fn rotate(opts: &BTreeMap<String, String>) -> Option<Rotate> {
    let max_size = from_human_size(opts.get("max-size")?)?;
    let max_file = opts.get("max-file").map_or(Some(1), |v| v.parse().ok())?;
    Some(Rotate { max_size, max_file })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_as_go_units() {
        for (s, n) in [
            ("10", 10),
            ("10b", 10),
            ("10B", 10),
            ("10k", 10_000),
            ("10kb", 10_000),
            ("10KiB", 10_000),
            ("10m", 10_000_000),
            ("10 MB", 10_000_000),
            ("1.5k", 1500),
            ("2g", 2_000_000_000),
        ] {
            assert_eq!(from_human_size(s), Some(n), "{s}");
        }
        for s in ["", "k", "-1", "10x", ".5k", "1..5k", "1.k", "10kk", "1e3"] {
            assert_eq!(from_human_size(s), None, "{s}");
        }
    }

    fn err(driver: &str, opts: &[&str]) -> String {
        let o: Vec<String> = opts.iter().map(|s| s.to_string()).collect();
        parse(driver, &o).unwrap_err().to_string()
    }

    #[test]
    fn options_as_docker() {
        let o = vec!["max-size=10m".to_string(), "max-file=3".to_string()];
        let m = parse("json-file", &o).unwrap();
        assert_eq!(
            rotate(&m),
            Some(Rotate {
                max_size: 10_000_000,
                max_file: 3
            })
        );
        let m = parse("json-file", &o[..1]).unwrap();
        assert_eq!(rotate(&m).map(|r| r.max_file), Some(1));
        assert_eq!(rotate(&parse("k8s-file", &[]).unwrap()), None);
        assert!(err("json-file", &["compress=true"])
            .contains("unknown log opt 'compress' for json-file log driver"));
        assert!(err("json-file", &["max-size=abc"]).contains("invalid size: 'abc'"));
        assert!(err("json-file", &["max-size=0"]).contains("max-size must be a positive number"));
        assert!(err("json-file", &["max-size=1k", "max-file=0"])
            .contains("max-file cannot be less than 1"));
        assert!(err("json-file", &["max-file=3"]).contains("max-file needs max-size"));
        assert!(err("none", &["max-size=1k"]).contains("invalid logging opts for driver none"));
        assert!(err("json-file", &["max-size"]).contains("invalid size: ''"));
    }
}
