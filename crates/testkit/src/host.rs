//! Observations of the host, for leak checks after a container is gone.

use std::fs;
use std::path::Path;
use std::time::{Duration, Instant};

/// The host's mount table: the text of `/proc/self/mountinfo` of the test process.
///
/// Panics if it cannot be read.
pub fn mountinfo() -> String {
    fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_else(|e| panic!("read `/proc/self/mountinfo`: {e}"))
}

/// The lines of [`mountinfo`] that contain `needle` (a bundle path, a container id, ...).
///
/// Use it to check that a runtime left no mounts behind on the host:
/// `assert!(mounts_mentioning(bundle.path().to_str().unwrap()).is_empty())`.
/// mountinfo escapes space, tab, newline and backslash as octal (`\040`); the needle is matched
/// both as given and in that escaped form.
pub fn mounts_mentioning(needle: &str) -> Vec<String> {
    let escaped = escape_mountinfo(needle);
    mountinfo()
        .lines()
        .filter(|l| l.contains(needle) || l.contains(&escaped))
        .map(String::from)
        .collect()
}

/// Mount points (field 5 of mountinfo) equal to `dir` or below it.
pub(crate) fn mount_points_under(dir: &Path) -> Vec<String> {
    let Ok(text) = fs::read_to_string("/proc/self/mountinfo") else {
        return Vec::new();
    };
    let dir = escape_mountinfo(&dir.to_string_lossy());
    let dir = dir.trim_end_matches('/');
    let below = format!("{dir}/");
    text.lines()
        .filter_map(|l| l.split(' ').nth(4))
        .filter(|mp| *mp == dir || mp.starts_with(&below))
        .map(String::from)
        .collect()
}

fn escape_mountinfo(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            ' ' => out.push_str("\\040"),
            '\t' => out.push_str("\\011"),
            '\n' => out.push_str("\\012"),
            '\\' => out.push_str("\\134"),
            c => out.push(c),
        }
    }
    out
}

/// Whether a process with this pid exists on the host (`/proc/<pid>` is present).
///
/// A zombie that was not reaped yet still exists. Pids `<= 0` never exist.
pub fn process_exists(pid: i32) -> bool {
    pid > 0 && Path::new(&format!("/proc/{pid}")).exists()
}

/// Polls `cond` until it returns true; panics naming `what` if `timeout` passes first.
///
/// For asynchronous effects such as "the container reached `stopped`" or "the init process is
/// gone". Polls every few milliseconds.
pub fn wait_until(timeout: Duration, what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    let mut pause = Duration::from_micros(200);
    loop {
        if cond() {
            return;
        }
        if Instant::now() >= deadline {
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(20));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_process_exists_and_nonsense_pids_do_not() {
        assert!(process_exists(std::process::id() as i32));
        assert!(!process_exists(0));
        assert!(!process_exists(-1));
        assert!(!process_exists(i32::MAX));
    }

    #[test]
    fn mountinfo_has_root_and_needles_match() {
        let text = mountinfo();
        assert!(text.lines().any(|l| l.split(' ').nth(4) == Some("/")));
        assert!(!mounts_mentioning("/proc").is_empty());
        assert!(mounts_mentioning("/no/such/holm/mount").is_empty());
    }

    #[test]
    fn mount_points_under_matches_whole_components() {
        assert!(!mount_points_under(Path::new("/proc")).is_empty());
        assert!(mount_points_under(Path::new("/pro")).is_empty());
        assert!(mount_points_under(Path::new("/no/such/dir")).is_empty());
    }

    #[test]
    fn escaping_follows_the_kernel() {
        assert_eq!(escape_mountinfo("/a b\\c"), "/a\\040b\\134c");
    }

    #[test]
    fn wait_until_returns_and_times_out() {
        let mut n = 0;
        wait_until(Duration::from_secs(5), "three polls", || {
            n += 1;
            n == 3
        });
        let r = std::panic::catch_unwind(|| {
            wait_until(Duration::from_millis(10), "never", || false);
        });
        let msg = r.unwrap_err();
        let msg = msg.downcast_ref::<String>().unwrap();
        assert!(msg.contains("never"), "{msg}");
    }
}
