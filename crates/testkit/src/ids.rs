//! Unique container ids for tests running in parallel (threads and processes).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// Longest prefix kept, so ids stay short enough for hostnames and cgroup paths.
const MAX_PREFIX: usize = 24;

/// Returns an id unique to this process and call: `<prefix>-<pid>-<counter>-<nanos>`.
///
/// The result contains only `[a-z0-9-]` and starts with a letter or digit (so it can never be
/// mistaken for a command-line flag). The prefix is lowercased, every other character becomes
/// `-`, and it is cut to 24 characters; an empty prefix becomes `t`. The process id separates
/// test binaries running at the same time, the atomic counter separates calls inside one process,
/// and the wall-clock nanoseconds (base 36) separate a recycled pid from its predecessor.
pub fn unique_id(prefix: &str) -> String {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!(
        "{}-{}-{}-{}",
        sanitize(prefix),
        std::process::id(),
        n,
        base36(nanos)
    )
}

fn sanitize(prefix: &str) -> String {
    let mapped: String = prefix
        .chars()
        .map(|c| match c.to_ascii_lowercase() {
            c @ ('a'..='z' | '0'..='9') => c,
            _ => '-',
        })
        .take(MAX_PREFIX)
        .collect();
    let trimmed = mapped.trim_matches('-');
    if trimmed.is_empty() {
        "t".to_string()
    } else {
        trimmed.to_string()
    }
}

fn base36(mut n: u128) -> String {
    const DIGITS: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut out = Vec::new();
    loop {
        out.push(DIGITS[(n % 36) as usize]);
        n /= 36;
        if n == 0 {
            break;
        }
    }
    out.reverse();
    String::from_utf8(out).expect("base36 digits are ASCII")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn well_formed(id: &str) -> bool {
        id.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            && id.starts_with(|c: char| c.is_ascii_alphanumeric())
    }

    #[test]
    fn ids_are_unique_across_calls_and_threads() {
        let handles: Vec<_> = (0..8)
            .map(|_| std::thread::spawn(|| (0..500).map(|_| unique_id("x")).collect::<Vec<_>>()))
            .collect();
        let mut seen = HashSet::new();
        for h in handles {
            for id in h.join().unwrap() {
                assert!(seen.insert(id.clone()), "duplicate id {id}");
            }
        }
        assert_eq!(seen.len(), 4000);
    }

    #[test]
    fn ids_use_only_safe_characters() {
        for prefix in [
            "lifecycle",
            "Kill_Test",
            "-flag",
            "a/b c.d",
            "",
            "---",
            "ÄÖ✓",
        ] {
            let id = unique_id(prefix);
            assert!(well_formed(&id), "{prefix:?} gave {id:?}");
        }
        assert!(unique_id("Kill_Test").starts_with("kill-test-"));
        assert!(unique_id("-flag").starts_with("flag-"));
        assert!(unique_id("").starts_with("t-"));
    }

    #[test]
    fn ids_contain_pid_and_stay_short() {
        let id = unique_id(&"p".repeat(100));
        assert!(id.contains(&format!("-{}-", std::process::id())));
        assert!(id.len() <= MAX_PREFIX + 1 + 10 + 1 + 20 + 1 + 25, "{id}");
    }

    #[test]
    fn base36_round_trips() {
        for n in [0u128, 1, 35, 36, 1_700_000_000_000_000_000, u128::MAX] {
            assert_eq!(u128::from_str_radix(&base36(n), 36).unwrap(), n);
        }
    }
}
