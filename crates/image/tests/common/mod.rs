//! Test helpers shared by holm-image's integration tests: hand-made tars, sandboxes that detect changes outside
//! a layer directory, and an image builder (busybox rootfs → OCI layout / docker-archive).
//!
//! These live here rather than in `holm-testkit` (owned by another engineer) for now.
#![allow(dead_code)]

pub mod images;
pub mod tars;

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// A temporary directory with a `layer/` to unpack into and an `outside/` holding a victim file and directory
/// that hostile tars try to reach.
pub struct Sandbox {
    pub tmp: tempfile::TempDir,
}

impl Sandbox {
    pub fn new() -> Sandbox {
        let tmp = tempfile::Builder::new()
            .prefix("holm-image-test-")
            .tempdir()
            .unwrap();
        std::fs::create_dir(tmp.path().join("layer")).unwrap();
        std::fs::create_dir(tmp.path().join("outside")).unwrap();
        std::fs::write(tmp.path().join("outside/victim"), b"victim").unwrap();
        std::fs::create_dir(tmp.path().join("outside/victimdir")).unwrap();
        std::fs::write(tmp.path().join("victim"), b"victim at the top").unwrap();
        Sandbox { tmp }
    }

    pub fn layer(&self) -> PathBuf {
        self.tmp.path().join("layer")
    }

    pub fn outside(&self) -> PathBuf {
        self.tmp.path().join("outside")
    }

    /// Everything in the sandbox except `layer/`: path → (mode, uid, gid, mtime, nlink, size, content).
    pub fn state_outside(&self) -> BTreeMap<PathBuf, String> {
        let mut out = BTreeMap::new();
        walk(self.tmp.path(), &self.layer(), &mut out);
        out
    }
}

fn walk(dir: &Path, skip: &Path, out: &mut BTreeMap<PathBuf, String>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p == skip {
            continue;
        }
        let m = std::fs::symlink_metadata(&p).unwrap();
        let content = if m.is_file() {
            String::from_utf8_lossy(&std::fs::read(&p).unwrap()).into_owned()
        } else {
            String::new()
        };
        out.insert(
            p.clone(),
            format!(
                "{:o} {}:{} {} {} {} {}",
                m.mode(),
                m.uid(),
                m.gid(),
                m.mtime(),
                m.nlink(),
                m.len(),
                content
            ),
        );
        if m.is_dir() {
            walk(&p, skip, out);
        }
    }
}

/// A unique name for things tests create in shared places (e.g. to check `/etc` was not written).
pub fn unique(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// Fails the test unless running as root (tests never skip).
pub fn require_root() {
    assert_eq!(
        unsafe_free_geteuid(),
        0,
        "holm-image tests must run as root (mknod, chown, overlay mounts)"
    );
}

fn unsafe_free_geteuid() -> u32 {
    std::fs::metadata("/proc/self")
        .map(|m| m.uid())
        .unwrap_or(u32::MAX)
}
