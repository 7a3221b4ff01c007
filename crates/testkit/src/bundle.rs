//! OCI bundles (a `rootfs/` plus `config.json`) built from the static busybox.

use std::fs;
use std::os::unix::fs::{chown, lchown, symlink, PermissionsExt};
use std::path::{Path, PathBuf};

use serde_json::{json, Value};
use tempfile::TempDir;

use crate::busybox::{busybox, busybox_applets};
use crate::host::mount_points_under;

/// Directories tried, in order, for bundles and runtime state roots: real disk-backed
/// directories rather than whatever `TMPDIR` points at.
pub(crate) const TMP_PARENTS: [&str; 2] = ["/tmp", "/var/tmp"];

const PASSWD: &str = "\
root:x:0:0:root:/root:/bin/sh
holm:x:1000:1000:holm:/home/holm:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
";

const GROUP: &str = "\
root:x:0:
users:x:100:
holm:x:1000:
nogroup:x:65534:
";

/// The `config.json` that [`Bundle::busybox`] writes: runc's default spec (`runc spec` of
/// current runc, `libcontainer/specconv/example.go`, with `ociVersion` 1.2.0) adjusted for tests.
/// Debian 12's runc 1.1.5 prints an older variant (`1.0.2-dev`, ambient capabilities, no cgroup
/// namespace, no `/sys/devices/virtual/tpm` mask).
///
/// Differences from `runc spec`: `process.terminal` is false (tests read stdout through pipes),
/// `root.readonly` is false, the hostname is `holm`, and the cgroup namespace is always listed
/// (runc adds it only on a cgroup v2 host). It keeps runc's capabilities (bounding, effective and
/// permitted = `CAP_AUDIT_WRITE`, `CAP_KILL`, `CAP_NET_BIND_SERVICE`), `RLIMIT_NOFILE` 1024,
/// `noNewPrivileges`, the seven default mounts, the deny-all device cgroup rule, and the default
/// masked and read-only paths.
pub fn default_config() -> Value {
    const CAPS: [&str; 3] = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"];
    json!({
        "ociVersion": "1.2.0",
        "process": {
            "terminal": false,
            "user": { "uid": 0, "gid": 0 },
            "args": ["sh"],
            "env": [
                "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                "TERM=xterm"
            ],
            "cwd": "/",
            "capabilities": {
                "bounding": CAPS,
                "effective": CAPS,
                "permitted": CAPS
            },
            "rlimits": [
                { "type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024 }
            ],
            "noNewPrivileges": true
        },
        "root": { "path": "rootfs", "readonly": false },
        "hostname": "holm",
        "mounts": [
            { "destination": "/proc", "type": "proc", "source": "proc" },
            {
                "destination": "/dev", "type": "tmpfs", "source": "tmpfs",
                "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]
            },
            {
                "destination": "/dev/pts", "type": "devpts", "source": "devpts",
                "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]
            },
            {
                "destination": "/dev/shm", "type": "tmpfs", "source": "shm",
                "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]
            },
            {
                "destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
                "options": ["nosuid", "noexec", "nodev"]
            },
            {
                "destination": "/sys", "type": "sysfs", "source": "sysfs",
                "options": ["nosuid", "noexec", "nodev", "ro"]
            },
            {
                "destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
                "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]
            }
        ],
        "linux": {
            "resources": {
                "devices": [ { "allow": false, "access": "rwm" } ]
            },
            "namespaces": [
                { "type": "pid" },
                { "type": "network" },
                { "type": "ipc" },
                { "type": "uts" },
                { "type": "mount" },
                { "type": "cgroup" }
            ],
            "maskedPaths": [
                "/proc/acpi",
                "/proc/asound",
                "/proc/kcore",
                "/proc/keys",
                "/proc/latency_stats",
                "/proc/timer_list",
                "/proc/timer_stats",
                "/proc/sched_debug",
                "/sys/firmware",
                "/proc/scsi",
                "/sys/devices/virtual/tpm"
            ],
            "readonlyPaths": [
                "/proc/bus",
                "/proc/fs",
                "/proc/irq",
                "/proc/sys",
                "/proc/sysrq-trigger"
            ]
        }
    })
}

/// An OCI bundle in its own temporary directory, removed on drop.
///
/// Layout made by [`Bundle::busybox`]:
///
/// ```text
/// <path>/config.json          default_config(), rewritten by write_config()
/// <path>/rootfs/bin/busybox   a copy of the host's static busybox
/// <path>/rootfs/bin/<applet>  symlink -> busybox, one per `busybox --list` entry
/// <path>/rootfs/{proc,sys,dev,tmp,etc,root,home/holm}
/// <path>/rootfs/etc/{passwd,group}   root 0, holm 1000, nobody/nogroup 65534, users 100
/// ```
///
/// The busybox binary is copied, never hard-linked, so a container writing to its `/bin` cannot
/// change the host. If a mount is still present under the bundle when it is dropped (a runtime
/// leaked one), the directory is deliberately left in place with a message on stderr instead of
/// being deleted recursively through the mount.
#[derive(Debug)]
pub struct Bundle {
    dir: Option<TempDir>,
    config: Value,
}

impl Bundle {
    /// Builds a busybox bundle with [`default_config`] (args `["sh"]`) and writes its
    /// `config.json`. Panics, naming the path, on any I/O error.
    pub fn busybox() -> Bundle {
        let dir = make_tempdir("holm-bundle-");
        // 0755 so that processes running as another uid (user namespaces) can reach rootfs/.
        set_mode(dir.path(), 0o755);
        let bundle = Bundle {
            dir: Some(dir),
            config: default_config(),
        };
        bundle.populate_rootfs();
        bundle.write_config();
        bundle
    }

    /// The bundle directory (what `--bundle` takes).
    pub fn path(&self) -> &Path {
        self.dir.as_ref().expect("bundle directory present").path()
    }

    /// The root filesystem directory, `<path>/rootfs`.
    pub fn rootfs(&self) -> PathBuf {
        self.path().join("rootfs")
    }

    /// The in-memory config; call [`Bundle::write_config`] after changing it.
    pub fn config(&self) -> &Value {
        &self.config
    }

    /// Mutable access to the in-memory config; call [`Bundle::write_config`] after changing it.
    pub fn config_mut(&mut self) -> &mut Value {
        &mut self.config
    }

    /// Sets `process.args` and writes `config.json`.
    pub fn set_args(&mut self, args: &[&str]) {
        self.config["process"]["args"] = json!(args);
        self.write_config();
    }

    /// Writes the in-memory config to `<path>/config.json` (pretty-printed).
    pub fn write_config(&self) {
        let path = self.path().join("config.json");
        let text = serde_json::to_vec_pretty(&self.config).expect("serialize config.json");
        fs::write(&path, text).unwrap_or_else(|e| panic!("write `{}`: {e}", path.display()));
    }

    /// Changes the owner of everything in the rootfs (without following symlinks), e.g. to the
    /// host ids that container root maps to in a user-namespace test.
    pub fn chown_rootfs(&self, uid: u32, gid: u32) {
        fn walk(path: &Path, uid: u32, gid: u32) {
            lchown(path, Some(uid), Some(gid))
                .unwrap_or_else(|e| panic!("lchown `{}`: {e}", path.display()));
            let meta = fs::symlink_metadata(path)
                .unwrap_or_else(|e| panic!("stat `{}`: {e}", path.display()));
            if meta.is_dir() {
                let entries = fs::read_dir(path)
                    .unwrap_or_else(|e| panic!("read dir `{}`: {e}", path.display()));
                for entry in entries {
                    let entry =
                        entry.unwrap_or_else(|e| panic!("read dir `{}`: {e}", path.display()));
                    walk(&entry.path(), uid, gid);
                }
            }
        }
        walk(&self.rootfs(), uid, gid);
    }

    /// Keeps the bundle on disk after the test (for debugging) and returns its path.
    pub fn keep(mut self) -> PathBuf {
        self.dir.take().expect("bundle directory present").keep()
    }

    fn populate_rootfs(&self) {
        let rootfs = self.rootfs();
        for dir in [
            "bin",
            "proc",
            "sys",
            "dev",
            "tmp",
            "etc",
            "root",
            "home/holm",
        ] {
            let path = rootfs.join(dir);
            fs::create_dir_all(&path)
                .unwrap_or_else(|e| panic!("create `{}`: {e}", path.display()));
        }
        set_mode(&rootfs, 0o755);
        set_mode(&rootfs.join("tmp"), 0o1777);
        set_mode(&rootfs.join("root"), 0o700);
        let home = rootfs.join("home/holm");
        chown(&home, Some(1000), Some(1000))
            .unwrap_or_else(|e| panic!("chown `{}`: {e}", home.display()));

        let bin = rootfs.join("bin");
        let target = bin.join("busybox");
        let source = busybox();
        fs::copy(&source, &target).unwrap_or_else(|e| {
            panic!("copy `{}` to `{}`: {e}", source.display(), target.display())
        });
        set_mode(&target, 0o755);
        for applet in busybox_applets() {
            let link = bin.join(applet);
            symlink("busybox", &link)
                .unwrap_or_else(|e| panic!("symlink `{}` -> busybox: {e}", link.display()));
        }

        for (name, text) in [("passwd", PASSWD), ("group", GROUP)] {
            let path = rootfs.join("etc").join(name);
            fs::write(&path, text).unwrap_or_else(|e| panic!("write `{}`: {e}", path.display()));
        }
    }
}

impl Drop for Bundle {
    fn drop(&mut self) {
        if let Some(dir) = self.dir.take() {
            keep_if_mounted(dir, "bundle");
        }
    }
}

/// Creates a temporary directory with `prefix` in the first usable of [`TMP_PARENTS`].
pub(crate) fn make_tempdir(prefix: &str) -> TempDir {
    let mut errors = Vec::new();
    for parent in TMP_PARENTS {
        match tempfile::Builder::new().prefix(prefix).tempdir_in(parent) {
            Ok(dir) => return dir,
            Err(e) => errors.push(format!("`{parent}`: {e}")),
        }
    }
    panic!("create a temporary directory: {}", errors.join("; "))
}

/// Drops (deletes) `dir` unless something is still mounted inside it; then it is leaked and
/// reported, because deleting recursively through a leaked bind mount could delete host files.
pub(crate) fn keep_if_mounted(dir: TempDir, what: &str) {
    if report_mounts_inside(dir.path(), what) {
        let _ = dir.keep();
    }
}

/// Whether anything is mounted at or below `path`; if so, says on stderr that `what` at `path`
/// is left on disk and why.
pub(crate) fn report_mounts_inside(path: &Path, what: &str) -> bool {
    let mounts = mount_points_under(path);
    if mounts.is_empty() {
        return false;
    }
    eprintln!(
        "holm-testkit: NOT removing {what} `{}`: still mounted inside it: {}",
        path.display(),
        mounts.join(", ")
    );
    true
}

fn set_mode(path: &Path, mode: u32) {
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .unwrap_or_else(|e| panic!("chmod {mode:o} `{}`: {e}", path.display()));
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    #[test]
    fn busybox_bundle_layout() {
        let b = Bundle::busybox();
        assert!(b.path().starts_with("/tmp") || b.path().starts_with("/var/tmp"));
        let root = b.rootfs();
        assert_eq!(root, b.path().join("rootfs"));
        for dir in [
            "bin",
            "proc",
            "sys",
            "dev",
            "tmp",
            "etc",
            "root",
            "home/holm",
        ] {
            assert!(root.join(dir).is_dir(), "{dir}");
        }
        assert_eq!(
            fs::metadata(root.join("tmp")).unwrap().mode() & 0o7777,
            0o1777
        );
        assert_eq!(fs::metadata(b.path()).unwrap().mode() & 0o777, 0o755);
        let home = fs::metadata(root.join("home/holm")).unwrap();
        assert_eq!((home.uid(), home.gid()), (1000, 1000));

        let bb = fs::symlink_metadata(root.join("bin/busybox")).unwrap();
        assert!(bb.is_file() && bb.mode() & 0o111 != 0);
        let host = fs::metadata("/bin/busybox").unwrap();
        assert_ne!(
            (bb.dev(), bb.ino()),
            (host.dev(), host.ino()),
            "must be a copy"
        );
        for applet in busybox_applets() {
            let link = root.join("bin").join(applet);
            assert_eq!(
                fs::read_link(&link).unwrap(),
                Path::new("busybox"),
                "{applet}"
            );
        }
        assert!(root.join("bin/sh").exists());

        let passwd = fs::read_to_string(root.join("etc/passwd")).unwrap();
        assert!(passwd.contains("root:x:0:0:root:/root:/bin/sh\n"));
        assert!(passwd.contains("holm:x:1000:1000:holm:/home/holm:/bin/sh\n"));
        assert!(passwd.contains(":65534:65534:"));
        let group = fs::read_to_string(root.join("etc/group")).unwrap();
        for g in [
            "root:x:0:",
            "holm:x:1000:",
            "users:x:100:",
            "nogroup:x:65534:",
        ] {
            assert!(group.lines().any(|l| l == g), "{g}");
        }
    }

    #[test]
    fn busybox_in_rootfs_runs() {
        let b = Bundle::busybox();
        let out = std::process::Command::new(b.rootfs().join("bin/echo"))
            .arg("ok")
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout), "ok\n");
    }

    #[test]
    fn config_json_is_runc_default_for_non_terminal() {
        let b = Bundle::busybox();
        let text = fs::read_to_string(b.path().join("config.json")).unwrap();
        let c: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(&c, b.config());
        assert_eq!(c["ociVersion"], "1.2.0");
        let p = &c["process"];
        assert_eq!(p["terminal"], false);
        assert_eq!(p["user"], json!({"uid": 0, "gid": 0}));
        assert_eq!(p["args"], json!(["sh"]));
        assert_eq!(p["cwd"], "/");
        assert_eq!(
            p["env"],
            json!([
                "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                "TERM=xterm"
            ])
        );
        let caps = json!(["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]);
        for set in ["bounding", "effective", "permitted"] {
            assert_eq!(p["capabilities"][set], caps, "{set}");
        }
        assert!(p["capabilities"].get("ambient").is_none());
        assert!(p["capabilities"].get("inheritable").is_none());
        assert_eq!(
            p["rlimits"],
            json!([{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}])
        );
        assert_eq!(p["noNewPrivileges"], true);
        assert_eq!(c["root"], json!({"path": "rootfs", "readonly": false}));
        assert_eq!(c["hostname"], "holm");

        let dests: Vec<_> = c["mounts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| {
                (
                    m["destination"].as_str().unwrap(),
                    m["type"].as_str().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            dests,
            [
                ("/proc", "proc"),
                ("/dev", "tmpfs"),
                ("/dev/pts", "devpts"),
                ("/dev/shm", "tmpfs"),
                ("/dev/mqueue", "mqueue"),
                ("/sys", "sysfs"),
                ("/sys/fs/cgroup", "cgroup")
            ]
        );
        assert_eq!(
            c["mounts"][1]["options"],
            json!(["nosuid", "strictatime", "mode=755", "size=65536k"])
        );
        let ns: Vec<_> = c["linux"]["namespaces"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["type"].as_str().unwrap())
            .collect();
        assert_eq!(ns, ["pid", "network", "ipc", "uts", "mount", "cgroup"]);
        let masked = c["linux"]["maskedPaths"].as_array().unwrap();
        assert!(masked.contains(&json!("/proc/kcore")));
        assert!(masked.contains(&json!("/sys/firmware")));
        assert_eq!(c["linux"]["readonlyPaths"].as_array().unwrap().len(), 5);
    }

    #[test]
    fn set_args_and_config_mut_are_written() {
        let mut b = Bundle::busybox();
        b.set_args(&["sh", "-c", "echo hi"]);
        b.config_mut()["hostname"] = json!("other");
        b.write_config();
        let c: Value =
            serde_json::from_slice(&fs::read(b.path().join("config.json")).unwrap()).unwrap();
        assert_eq!(c["process"]["args"], json!(["sh", "-c", "echo hi"]));
        assert_eq!(c["hostname"], "other");
    }

    #[test]
    fn drop_removes_and_keep_keeps() {
        let b = Bundle::busybox();
        let path = b.path().to_path_buf();
        drop(b);
        assert!(!path.exists());

        let kept = Bundle::busybox().keep();
        assert!(kept.join("rootfs/bin/busybox").is_file());
        fs::remove_dir_all(&kept).unwrap();
    }

    #[test]
    fn drop_leaves_a_bundle_with_a_leaked_mount_alone() {
        let b = Bundle::busybox();
        let target = b.rootfs().join("tmp");
        let mount = |args: &[&str]| {
            let st = std::process::Command::new(args[0])
                .args(&args[1..])
                .status()
                .unwrap();
            assert!(st.success(), "{args:?}");
        };
        let t = target.to_str().unwrap();
        mount(&["mount", "-t", "tmpfs", "holm-testkit-leak", t]);
        let path = b.path().to_path_buf();
        drop(b);
        let still_there = path.join("rootfs/bin/busybox").is_file();
        mount(&["umount", t]);
        assert!(still_there, "bundle with a mount inside was deleted");
        fs::remove_dir_all(&path).unwrap();
    }

    #[test]
    fn chown_rootfs_changes_owner_without_following_links() {
        let b = Bundle::busybox();
        b.chown_rootfs(100_000, 100_000);
        for p in [
            "",
            "bin",
            "bin/busybox",
            "bin/sh",
            "etc/passwd",
            "home/holm",
        ] {
            let m = fs::symlink_metadata(b.rootfs().join(p)).unwrap();
            assert_eq!((m.uid(), m.gid()), (100_000, 100_000), "{p}");
        }
        // The host binary was not touched through the symlinks.
        assert_eq!(fs::metadata("/bin/busybox").unwrap().uid(), 0);
    }
}
