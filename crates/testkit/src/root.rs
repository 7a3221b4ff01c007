//! Privilege check: integration tests need real root and must fail loudly without it.

use std::fs;

/// Panics unless the calling process runs with effective uid 0.
///
/// Container tests need root (namespaces, mounts, cgroups). Without it they must *fail* with a
/// clear message rather than skip, so a green run always means the tests actually ran.
/// The uid is read from the `Uid:` line of `/proc/self/status`.
pub fn require_root() {
    let status = fs::read_to_string("/proc/self/status")
        .unwrap_or_else(|e| panic!("require_root: read `/proc/self/status`: {e}"));
    match effective_uid(&status) {
        Some(0) => {}
        Some(uid) => panic!(
            "this test needs root (effective uid 0) but runs as uid {uid}; \
             run the test suite as root (scripts/test.sh), tests never skip"
        ),
        None => panic!("require_root: no parsable `Uid:` line in `/proc/self/status`"),
    }
}

/// The effective uid from the text of `/proc/<pid>/status`
/// (`Uid:` is followed by real, effective, saved and filesystem uid).
pub(crate) fn effective_uid(status: &str) -> Option<u32> {
    let line = status.lines().find_map(|l| l.strip_prefix("Uid:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_effective_uid_not_real_uid() {
        let status = "Name:\tcat\nUmask:\t0022\nUid:\t1000\t0\t0\t0\nGid:\t100\t100\t100\t100\n";
        assert_eq!(effective_uid(status), Some(0));
        assert_eq!(effective_uid("Uid:\t0\t65534\t0\t0\n"), Some(65534));
    }

    #[test]
    fn missing_or_garbled_uid_line_is_none() {
        assert_eq!(effective_uid("Name:\tx\n"), None);
        assert_eq!(effective_uid("Uid:\t0\n"), None);
        assert_eq!(effective_uid("Uid:\t0\tabc\t0\t0\n"), None);
    }

    #[test]
    fn tests_run_as_root_here() {
        require_root();
    }
}
