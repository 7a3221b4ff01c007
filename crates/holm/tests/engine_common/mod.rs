//! Helpers for the engine's end-to-end tests: a private engine (its own `--root` and `--runroot` in a temp dir)
//! with a busybox image loaded, `holm` invocations, and cleanup that runs even when an assertion failed: every
//! container force-removed, leftover monitors killed, mounts under the temp dir detached.
#![allow(dead_code)]

pub mod pty;

use super::common::images::{busybox_image, docker_archive};
use super::common::tars::Tar;
use serde_json::json;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The image every test loads: busybox with more applets, Cmd `sh`.
pub const IMAGE: &str = "busybox:test";

/// One private engine.
pub struct Engine {
    pub tmp: tempfile::TempDir,
    pub root: PathBuf,
    pub runroot: PathBuf,
}

/// A layer with more busybox applet links (and `/data`).
pub fn extra_applets() -> Vec<u8> {
    let mut t = Tar::new();
    for a in [
        "hostname", "ps", "wc", "grep", "head", "touch", "kill", "mkdir", "rm", "stat", "pwd",
        "printf", "seq", "yes", "mount", "readlink", "stty", "tty",
    ] {
        t.symlink(&format!("bin/{a}"), "busybox");
    }
    t.dir("data", 0o755);
    t.bytes()
}

impl Engine {
    /// A fresh engine with [`IMAGE`] loaded. Fails (never skips) without root.
    pub fn new() -> Engine {
        let e = Engine::empty();
        let img = busybox_image(json!({"Cmd": ["sh"]}), &[extra_applets()]);
        let archive = e.tmp.path().join("busybox.tar");
        std::fs::write(&archive, docker_archive(&[(&img, &[IMAGE])])).unwrap();
        e.ok(&["load", "-i", archive.to_str().unwrap()]);
        e
    }

    /// A fresh engine with no image. Fails (never skips) without root.
    pub fn empty() -> Engine {
        assert_eq!(
            holm_sys::process::geteuid(),
            0,
            "the engine tests need root (namespaces, mounts, cgroups)"
        );
        let tmp = tempfile::Builder::new()
            .prefix("holm-engine-test-")
            .tempdir()
            .unwrap();
        Engine {
            root: tmp.path().join("root"),
            runroot: tmp.path().join("run"),
            tmp,
        }
    }

    /// A `holm` command on this engine.
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_holm"));
        c.arg("--root")
            .arg(&self.root)
            .arg("--runroot")
            .arg(&self.runroot)
            .args(args)
            .stdin(Stdio::null());
        c
    }

    /// Runs `holm ARGS` to completion.
    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().unwrap()
    }

    /// Runs `holm ARGS`, asserts success, returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let o = self.run(args);
        assert!(
            o.status.success(),
            "holm {args:?}: {}\nstdout: {}\nstderr: {}",
            o.status,
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8(o.stdout).unwrap()
    }

    /// Runs `holm ARGS`, asserts it exits with `code`; returns (stdout, stderr).
    pub fn code(&self, code: i32, args: &[&str]) -> (String, String) {
        let o = self.run(args);
        let (out, err) = (
            String::from_utf8_lossy(&o.stdout).into_owned(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        );
        assert_eq!(
            o.status.code(),
            Some(code),
            "holm {args:?}\nstdout: {out}\nstderr: {err}"
        );
        (out, err)
    }

    /// Starts `holm ARGS` in the background with piped output.
    pub fn spawn(&self, args: &[&str]) -> Child {
        self.cmd(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    }

    /// `holm run -d ARGS`: the new container's id.
    pub fn detached(&self, args: &[&str]) -> String {
        let mut a = vec!["run", "-d"];
        a.extend_from_slice(args);
        let id = self.ok(&a).trim().to_string();
        assert_eq!(id.len(), 64, "run -d prints the id: {id:?}");
        id
    }

    /// `holm inspect C` → the container's JSON object.
    pub fn inspect(&self, c: &str) -> serde_json::Value {
        let v: serde_json::Value = serde_json::from_str(&self.ok(&["inspect", c])).unwrap();
        v[0].clone()
    }

    /// The container's status word (`running`, `exited`, …).
    pub fn status(&self, c: &str) -> String {
        self.inspect(c)["State"]["Status"]
            .as_str()
            .unwrap()
            .to_string()
    }

    /// Waits until `holm inspect C` shows `status` (10 s).
    pub fn wait_status(&self, c: &str, status: &str) {
        wait_until(Duration::from_secs(10), &format!("{c} {status}"), || {
            self.status(c) == status
        });
    }

    /// Pids of monitor processes of this engine: session leaders (a monitor calls setsid) whose command line
    /// names it. The runtime's stage-1 child and the container's init share the monitor's command line until they
    /// exec, but are not session leaders.
    pub fn monitors(&self) -> Vec<i32> {
        // `holm __monitor ID` until the container runs, then `holm-monitor --root …` (then `holm __monitor-exit`).
        processes_mentioning(&self.root.display().to_string(), "monitor")
            .into_iter()
            .filter(|pid| {
                std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
                    s.rfind(')')
                        .and_then(|i| s[i + 2..].split(' ').nth(3)?.parse::<i32>().ok())
                        == Some(*pid)
                })
            })
            .collect()
    }

    /// Mount points under this engine's temp dir.
    pub fn mounts(&self) -> Vec<String> {
        mounts_under(self.tmp.path())
    }

    /// Asserts nothing of container `id` is left: no mount, cgroup, monitor, runtime state, bundle, snapshot.
    pub fn assert_gone(&self, id: &str) {
        assert!(
            self.mounts().iter().all(|m| !m.contains(id)),
            "mounts left: {:?}",
            self.mounts()
        );
        assert!(
            cgroup_dirs(id).is_empty(),
            "cgroups left: {:?}",
            cgroup_dirs(id)
        );
        assert!(
            processes_mentioning(id, "__monitor").is_empty(),
            "monitor of {id} left"
        );
        for p in [
            self.runroot.join("runtime").join(id),
            self.root.join("containers").join(id),
            self.root.join("image/snapshots").join(id),
        ] {
            assert!(!p.exists(), "{} left", p.display());
        }
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        // Force-remove every container, then kill what a broken test may have left, then detach mounts, so the
        // temp dir can go.
        if let Ok(o) = self.cmd(&["ps", "-aq", "--no-trunc"]).output() {
            for id in String::from_utf8_lossy(&o.stdout).split_whitespace() {
                let _ = self.cmd(&["rm", "-f", id]).output();
                for d in cgroup_dirs(id) {
                    let _ = std::fs::remove_dir(d);
                }
            }
        }
        for pid in self.monitors() {
            let _ = holm_sys::process::kill(pid, libc::SIGKILL);
        }
        for m in mounts_under(self.tmp.path()).iter().rev() {
            let _ = holm_sys::mount::umount2(Path::new(m), libc::MNT_DETACH);
        }
    }
}

/// Polls `cond` until it holds or `timeout` passes (then panics naming `what`).
pub fn wait_until(timeout: Duration, what: &str, mut cond: impl FnMut() -> bool) {
    let end = Instant::now() + timeout;
    while !cond() {
        assert!(Instant::now() < end, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Pids whose command line contains both `a` and `b`.
pub fn processes_mentioning(a: &str, b: &str) -> Vec<i32> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(mut f) = std::fs::File::open(e.path().join("cmdline")) else {
            continue;
        };
        let mut s = Vec::new();
        let _ = f.read_to_end(&mut s);
        let s = String::from_utf8_lossy(&s);
        if s.contains(a) && s.contains(b) {
            out.push(pid);
        }
    }
    out
}

/// Mount points (from /proc/self/mountinfo) under `dir`.
pub fn mounts_under(dir: &Path) -> Vec<String> {
    let d = dir.display().to_string();
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .filter_map(|l| l.split(' ').nth(4).map(str::to_string))
        .filter(|m| m.starts_with(&d))
        .collect()
}

/// Cgroup directories of container `id` in any hierarchy (holm puts them at `/holm/<id>`).
pub fn cgroup_dirs(id: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut bases = vec![PathBuf::from("/sys/fs/cgroup")];
    if let Ok(rd) = std::fs::read_dir("/sys/fs/cgroup") {
        bases.extend(rd.flatten().map(|e| e.path()));
    }
    for b in bases {
        let p = b.join("holm").join(id);
        if p.is_dir() {
            out.push(p);
        }
    }
    out
}

/// The content of cgroup file `name` of container `id`, from whichever hierarchy has it.
pub fn cgroup_file(id: &str, name: &str) -> Option<String> {
    cgroup_dirs(id)
        .into_iter()
        .find_map(|d| std::fs::read_to_string(d.join(name)).ok())
        .map(|s| s.trim().to_string())
}

/// Private memory (Private_Clean + Private_Dirty, KiB) of a process, from /proc/PID/smaps_rollup.
pub fn private_kib(pid: i32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup"))
        .unwrap()
        .lines()
        .filter(|l| l.starts_with("Private_Clean:") || l.starts_with("Private_Dirty:"))
        .filter_map(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        .sum()
}

/// A private engine for VM containers: checks that holm-runtime is built beside holm and that `$HOLM_VM_AGENT`
/// (the static guest agent) is set, with a message saying how to get each.
pub fn vm_engine() -> Engine {
    let holm = std::path::Path::new(env!("CARGO_BIN_EXE_holm"));
    let rt = holm.parent().unwrap().join("holm-runtime");
    assert!(
        rt.is_file(),
        "{} missing: cargo build -p holm-runtime",
        rt.display()
    );
    assert!(
        std::env::var_os("HOLM_VM_AGENT").is_some(),
        "export HOLM_VM_AGENT=\"$(scripts/build-agent.sh)\" (the static guest agent)"
    );
    Engine::new()
}

/// `holm ARGS` with TCG unless the caller chose: (exit code, stdout, stderr).
pub fn vm(e: &Engine, args: &[&str]) -> (Option<i32>, String, String) {
    let mut c = e.cmd(args);
    if std::env::var_os("HOLM_VM_ACCEL").is_none() {
        c.env("HOLM_VM_ACCEL", "tcg");
    }
    let o = c.output().unwrap();
    (
        o.status.code(),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}
