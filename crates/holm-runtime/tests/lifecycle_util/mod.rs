//! Helpers shared by the `lifecycle_*.rs` integration tests: leak checks (state dir, cgroup dirs, mounts,
//! processes) and spawning the runtime without ever blocking on a pipe a container may hold.
#![allow(dead_code)]

use holm_testkit::{mounts_mentioning, process_exists, require_root, wait_until, Bundle, Runtime};
use serde_json::Value;
use std::fs::{self, File};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

/// Where cgroup hierarchies are mounted on this host.
pub const CGROUP_ROOT: &str = "/sys/fs/cgroup";

/// A `holm-runtime` with a private state root; panics unless running as root.
pub fn runtime() -> Runtime {
    require_root();
    Runtime::new(env!("CARGO_BIN_EXE_holm-runtime"))
}

/// The bundle path as a `&str` (for argument lists).
pub fn path_str(p: &Path) -> &str {
    p.to_str().expect("temp paths are UTF-8")
}

/// stderr of a command, lossy UTF-8.
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// stdout of a command, lossy UTF-8.
pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// `create --bundle <bundle> <id>`, asserting success.
pub fn create(rt: &Runtime, bundle: &Bundle, id: &str) {
    rt.ok(&["create", "--bundle", path_str(bundle.path()), id]);
}

/// The container's status and pid from `state`.
pub fn status(rt: &Runtime, id: &str) -> (String, i64) {
    let s = rt.state(id);
    (
        s["status"].as_str().unwrap_or("<none>").to_string(),
        s["pid"].as_i64().unwrap_or(-1),
    )
}

/// Waits (up to 20 s) until `state` reports `want`.
pub fn wait_status(rt: &Runtime, id: &str, want: &str) {
    wait_until(
        Duration::from_secs(20),
        &format!("container `{id}` to be {want}"),
        || status(rt, id).0 == want,
    );
}

/// The container's cgroup directories that exist, in every mounted hierarchy (`<hierarchy>/holm/<id>`, the
/// default placement when `linux.cgroupsPath` is unset).
pub fn cgroup_dirs(id: &str) -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    for e in fs::read_dir(CGROUP_ROOT)
        .expect("read /sys/fs/cgroup")
        .flatten()
    {
        let p = e.path().join("holm").join(id);
        if p.exists() {
            dirs.push(p);
        }
    }
    dirs
}

/// Host processes whose `/proc/<pid>/cgroup` places them in the container's cgroup `/holm/<id>` in any hierarchy.
pub fn processes_in_cgroup(id: &str) -> Vec<i32> {
    let needle = format!(":/holm/{id}");
    let mut pids = Vec::new();
    for e in fs::read_dir("/proc").expect("read /proc").flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        let Ok(text) = fs::read_to_string(e.path().join("cgroup")) else {
            continue;
        };
        if text
            .lines()
            .any(|l| l.ends_with(&needle) || l.contains(&format!("{needle}/")))
        {
            pids.push(pid);
        }
    }
    pids
}

/// Whether a pid names a live (non-zombie) process.
pub fn alive(pid: i32) -> bool {
    if !process_exists(pid) {
        return false;
    }
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => {
            let rest = &stat[stat.rfind(')').map_or(0, |i| i + 2)..];
            !rest.starts_with('Z') && !rest.starts_with('X')
        }
        Err(_) => false,
    }
}

/// Asserts that nothing of container `id` from `bundle` is left: not in `list`, `state` fails, no state dir,
/// no cgroup dir in any hierarchy, no process in its cgroup, no host mount mentioning the bundle.
pub fn assert_no_trace(rt: &Runtime, id: &str, bundle: &Path) {
    let dir = rt.root().join(id);
    assert!(
        !dir.exists(),
        "state dir `{}` left behind: {:?}",
        dir.display(),
        fs::read_dir(&dir).map(|d| d.flatten().map(|e| e.file_name()).collect::<Vec<_>>())
    );
    let listed = rt.ok(&["list", "-q"]);
    assert!(
        !listed.lines().any(|l| l.trim() == id),
        "`{id}` still listed:\n{listed}"
    );
    let out = rt.fails(&["state", id]);
    assert!(
        stderr(&out).contains(id),
        "state error should name the id: {}",
        stderr(&out)
    );
    let cg = cgroup_dirs(id);
    assert!(cg.is_empty(), "cgroup dirs left behind: {cg:?}");
    wait_until(
        Duration::from_secs(5),
        "container processes to be gone",
        || processes_in_cgroup(id).is_empty(),
    );
    let mounts = mounts_mentioning(path_str(bundle));
    assert!(
        mounts.is_empty(),
        "mounts left behind:\n{}",
        mounts.join("\n")
    );
    let procs = processes_mentioning(id);
    assert!(
        procs.is_empty(),
        "processes mentioning `{id}` left behind: {procs:?}"
    );
}

/// Live host processes (not zombies) whose command line contains `needle`: a runtime child that never exec'd
/// still carries the runtime's command line, container id included.
pub fn processes_mentioning(needle: &str) -> Vec<(i32, String)> {
    let mut found = Vec::new();
    for e in fs::read_dir("/proc").expect("read /proc").flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        let Ok(raw) = fs::read(e.path().join("cmdline")) else {
            continue;
        };
        let cmdline = String::from_utf8_lossy(&raw).replace('\0', " ");
        if cmdline.contains(needle) && alive(pid) {
            found.push((pid, cmdline));
        }
    }
    found
}

/// Asserts that a state root holds no container directory at all (nothing was created in it).
pub fn assert_root_empty(rt: &Runtime) {
    let entries: Vec<_> = match fs::read_dir(rt.root()) {
        Ok(rd) => rd.flatten().map(|e| e.file_name()).collect(),
        Err(_) => Vec::new(),
    };
    assert!(entries.is_empty(), "state root not empty: {entries:?}");
}

/// Reads a JSON file.
pub fn read_json(path: &Path) -> Value {
    let text =
        fs::read_to_string(path).unwrap_or_else(|e| panic!("read `{}`: {e}", path.display()));
    serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("parse `{}`: {e}\n{text}", path.display()))
}

/// A child process whose stdout and stderr go to anonymous temp files (never pipes: a container inherits them).
pub struct Spawned {
    /// The child.
    pub child: Child,
    out: File,
    err: File,
}

/// Spawns `cmd` with null stdin and stdout/stderr captured in temp files.
pub fn spawn(mut cmd: Command) -> Spawned {
    let out = tempfile::tempfile().expect("tempfile");
    let err = tempfile::tempfile().expect("tempfile");
    cmd.stdin(Stdio::null())
        .stdout(out.try_clone().expect("dup"))
        .stderr(err.try_clone().expect("dup"));
    let child = cmd.spawn().expect("spawn holm-runtime");
    Spawned { child, out, err }
}

/// Spawns `cmd` with the stdin it was given and stdout/stderr captured in temp files.
pub fn spawn_keep_stdin(mut cmd: Command) -> Spawned {
    let out = tempfile::tempfile().expect("tempfile");
    let err = tempfile::tempfile().expect("tempfile");
    cmd.stdout(out.try_clone().expect("dup"))
        .stderr(err.try_clone().expect("dup"));
    let child = cmd.spawn().expect("spawn holm-runtime");
    Spawned { child, out, err }
}

impl Spawned {
    /// Waits at most `timeout` for the child; kills it and panics on expiry.
    pub fn finish(mut self, timeout: Duration) -> Output {
        let status = wait_timeout(&mut self.child, timeout).unwrap_or_else(|| {
            let _ = self.child.kill();
            let _ = self.child.wait();
            panic!(
                "command did not finish within {timeout:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
                String::from_utf8_lossy(&read_all(&self.out)),
                String::from_utf8_lossy(&read_all(&self.err))
            )
        });
        Output {
            status,
            stdout: read_all(&self.out),
            stderr: read_all(&self.err),
        }
    }
}

impl Drop for Spawned {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Waits for `child` for at most `timeout`; `None` if it is still running.
pub fn wait_timeout(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(st) = child.try_wait().expect("try_wait") {
            return Some(st);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn read_all(f: &File) -> Vec<u8> {
    let mut data = Vec::new();
    let mut buf = [0u8; 8192];
    while let Ok(n) = f.read_at(&mut buf, data.len() as u64) {
        if n == 0 {
            break;
        }
        data.extend_from_slice(&buf[..n]);
    }
    data
}

/// Removes namespace `typ` from `linux.namespaces` (in memory; call `write_config`).
pub fn remove_namespace(b: &mut Bundle, typ: &str) {
    let ns = b.config_mut()["linux"]["namespaces"]
        .as_array_mut()
        .expect("namespaces array");
    ns.retain(|n| n["type"] != typ);
}

/// Sends `sig` to a host pid (via `kill(1)`, so the test needs no unsafe code).
pub fn send_signal(pid: i32, sig: &str) {
    let st = Command::new("kill")
        .args([format!("-{sig}"), pid.to_string()])
        .status()
        .expect("run kill");
    assert!(st.success(), "kill -{sig} {pid} failed");
}

/// Reads a file from the host, or an empty string if it does not exist (yet).
pub fn read_or_empty(p: &Path) -> String {
    fs::read_to_string(p).unwrap_or_default()
}
