//! Root integration tests: real cgroups on the host (the holm VM is hybrid: v1 hierarchies plus cgroup2 at
//! /sys/fs/cgroup/unified). Every test uses a unique top-level cgroup `/holm-cgtest-<pid>-<n>` and a guard that
//! kills its child and removes its directories even when an assertion fails, so tests can run in parallel.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::atomic::{AtomicUsize, Ordering};

use holm_cgroups::{parse_proc_cgroup, Cgroup, Error, Hierarchies, Layout};

/// Fails (never skips) unless running as root.
fn require_root() {
    let status = fs::read_to_string("/proc/self/status").expect("read /proc/self/status");
    let euid = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .expect("Uid: line in /proc/self/status");
    assert_eq!(
        euid, "0",
        "these tests need root (effective uid 0); they do not skip"
    );
}

/// A unique top-level cgroup name for this test.
fn unique_name() -> String {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    format!(
        "holm-cgtest-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::SeqCst)
    )
}

/// Cleans up whatever a test made: kills the child, removes the cgroup, then the test's own top-level
/// directory `/<top>` in every hierarchy.
struct Guard {
    hierarchies: Hierarchies,
    top: String,
    cgroup: Cgroup,
    child: Option<Child>,
}

impl Guard {
    fn new(top: &str, leaf: &str) -> Guard {
        require_root();
        let hierarchies = Hierarchies::detect().expect("detect cgroup hierarchies");
        let path = format!("/{top}/{leaf}");
        let cgroup = Cgroup::resolve(&hierarchies, Some(&path), "unused").expect("resolve");
        Guard {
            hierarchies,
            top: top.to_owned(),
            cgroup,
            child: None,
        }
    }

    fn spawn_sleep(&mut self) -> i32 {
        let child = Command::new("sleep")
            .arg("30")
            .spawn()
            .expect("spawn sleep 30");
        let pid = i32::try_from(child.id()).expect("pid fits i32");
        self.child = Some(child);
        pid
    }

    fn kill_child(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    fn top_dirs(&self) -> Vec<PathBuf> {
        self.hierarchies
            .iter()
            .map(|(h, _)| h.mount_point().join(&self.top))
            .collect()
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        self.kill_child();
        let _ = self.cgroup.remove();
        for d in self.top_dirs() {
            let _ = fs::remove_dir(d);
        }
    }
}

#[test]
fn detects_this_hosts_hybrid_layout() {
    require_root();
    let h = Hierarchies::detect().unwrap();
    assert_eq!(h.layout(), Layout::Hybrid);
    assert_eq!(
        h.v2().unwrap().mount_point(),
        Path::new("/sys/fs/cgroup/unified")
    );
    for c in [
        "cpu",
        "cpuacct",
        "cpuset",
        "memory",
        "devices",
        "freezer",
        "blkio",
        "pids",
        "name=systemd",
    ] {
        let v1 = h
            .v1(c)
            .unwrap_or_else(|| panic!("v1 hierarchy {c} not detected: {h:?}"));
        assert!(v1.mount_point().starts_with("/sys/fs/cgroup"), "{v1:?}");
    }
    assert!(
        h.iter().all(|(_, own)| own.is_some()),
        "own cgroup missing: {h:?}"
    );
}

#[test]
fn create_join_list_remove_in_every_hierarchy() {
    let top = unique_name();
    let mut g = Guard::new(&top, "ctr");
    let c = g.cgroup.clone();
    assert!(!c.exists());

    c.create().unwrap();
    assert!(c.exists());
    let dirs: Vec<PathBuf> = c.dirs().map(|(_, p)| p.to_path_buf()).collect();
    assert_eq!(dirs.len(), g.hierarchies.iter().count());
    for d in &dirs {
        assert!(d.is_dir(), "{} missing", d.display());
    }
    let unified = PathBuf::from(format!("/sys/fs/cgroup/unified/{top}/ctr"));
    assert_eq!(c.v2_dir(), Some(unified.as_path()));
    assert!(unified.is_dir());
    let cpuset = c.v1_dir("cpuset").expect("cpuset hierarchy");
    assert_eq!(
        cpuset,
        Path::new(&format!("/sys/fs/cgroup/cpuset/{top}/ctr"))
    );
    // New cpuset cgroups got their parent's cpus and mems (the intermediate one too).
    for file in ["cpuset.cpus", "cpuset.mems"] {
        let root = fs::read_to_string(Path::new("/sys/fs/cgroup/cpuset").join(file)).unwrap();
        for d in [cpuset.parent().unwrap(), cpuset] {
            let v = fs::read_to_string(d.join(file)).unwrap();
            assert_eq!(v.trim(), root.trim(), "{}/{file}", d.display());
        }
    }
    // create() again is `mkdir -p`: fine.
    c.create().unwrap();

    let pid = g.spawn_sleep();
    c.add_pid(pid).unwrap();
    assert!(c.pids().unwrap().contains(&pid));
    let text = fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    let want = PathBuf::from(format!("/{top}/ctr"));
    let entries = parse_proc_cgroup(&text).unwrap();
    let inside = entries.iter().filter(|e| e.path == want).count();
    assert_eq!(inside, dirs.len(), "/proc/{pid}/cgroup:\n{text}");

    g.kill_child();
    c.remove().unwrap();
    assert!(!c.exists());
    for d in &dirs {
        assert!(!d.exists(), "{} still there", d.display());
        // The parent is shared in real use (`/holm`) and is left alone.
        assert!(d.parent().unwrap().is_dir());
    }
    assert!(c.pids().is_err());
    // Removing again is fine.
    c.remove().unwrap();
}

#[test]
fn failed_create_leaves_nothing_behind() {
    // `cgroup.events` is a control file in every non-root cgroup2 directory but a free name in v1, so creation
    // succeeds in the v1 hierarchies and in `<top>` everywhere, then fails in the unified hierarchy.
    let top = unique_name();
    let g = Guard::new(&top, "cgroup.events");
    let err = g.cgroup.create().unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, Error::Io { .. }), "{msg}");
    assert!(
        msg.contains(&format!("/sys/fs/cgroup/unified/{top}/cgroup.events")),
        "{msg}"
    );
    assert!(msg.contains("cgroup2"), "{msg}");
    for d in g.top_dirs() {
        assert!(
            !d.exists(),
            "{} left behind after failed create: {msg}",
            d.display()
        );
    }
}

#[test]
fn remove_reports_busy_cgroup_by_path() {
    let top = unique_name();
    let mut g = Guard::new(&top, "busy");
    let c = g.cgroup.clone();
    c.create().unwrap();
    let pid = g.spawn_sleep();
    c.add_pid(pid).unwrap();
    let t = std::time::Instant::now();
    let err = c.remove().unwrap_err();
    // One retry period for all hierarchies together, not one each.
    assert!(
        t.elapsed() < std::time::Duration::from_secs(3),
        "{:?}",
        t.elapsed()
    );
    let msg = err.to_string();
    assert!(
        matches!(
            err,
            Error::Busy {
                waited_ms: 1000..,
                ..
            }
        ),
        "{msg}"
    );
    assert!(msg.contains(&format!("/{top}/busy")), "{msg}");
    assert_eq!(
        err.io_error().and_then(|e| e.raw_os_error()),
        Some(libc::EBUSY)
    );
    // Once the process is gone, removal succeeds.
    g.kill_child();
    c.remove().unwrap();
    assert!(!c.exists());
}

#[test]
fn missing_cgroup() {
    let top = unique_name();
    let g = Guard::new(&top, "never-created");
    assert!(!g.cgroup.exists());
    g.cgroup.remove().unwrap();
    let err = g.cgroup.pids().unwrap_err();
    assert_eq!(
        err.io_error().map(|e| e.kind()),
        Some(std::io::ErrorKind::NotFound),
        "{err}"
    );
    assert!(err.to_string().contains(&top), "{err}");
    let err = g.cgroup.add_pid(i32::MAX).unwrap_err();
    assert!(err.to_string().contains(&top), "{err}");
    for pid in [0, -1] {
        let err = g.cgroup.add_pid(pid).unwrap_err();
        assert_eq!(
            err.io_error().map(|e| e.kind()),
            Some(std::io::ErrorKind::InvalidInput),
            "{err}"
        );
    }
}
