//! What the engine suite reads from and does to the host: free ports and subnets, a container's cgroup files seen
//! from the host, HTTP through `curl`, daemons started and stopped, and the leak sweep after a daemon is gone.

use super::{run, PATH};
use std::fs::{self, File};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long the suite waits for anything asynchronous (a daemon's socket, a log line, a port answering).
pub const PATIENCE: Duration = Duration::from_secs(60);

/// Polls `f` every 100 ms until it returns `Some`, or `PATIENCE` passes (then `Err` naming `what`).
pub fn poll<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> Result<T, String> {
    let deadline = Instant::now() + PATIENCE;
    loop {
        if let Some(v) = f() {
            return Ok(v);
        }
        if Instant::now() >= deadline {
            return Err(format!("timed out after {PATIENCE:?} waiting for {what}"));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A TCP port on 127.0.0.1 that nothing listens on now (the kernel's pick for port 0).
pub fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().expect("local_addr").port()
}

/// The first three octets `10.<second>.N` of a private /24 that no host interface has an address in (N picked
/// from the process id, so tests running at the same time start from different places).
pub fn free_subnet(second: u8) -> String {
    let addrs = stdout_of(Command::new("ip").args(["-4", "-o", "addr", "show"]));
    let start = (std::process::id() % 200) as u16;
    for k in 0..250u16 {
        let n = (start + k) % 250 + 3;
        let prefix = format!("10.{second}.{n}.");
        if !addrs.contains(&prefix) {
            return format!("10.{second}.{n}");
        }
    }
    panic!("no free 10.{second}.N.0/24 on this host");
}

/// A network interface name unique to this process and call, at most 15 bytes (IFNAMSIZ - 1).
pub fn unique_ifname(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    let name = format!("{prefix}{}{n}", std::process::id() % 1_000_000);
    assert!(name.len() <= 15, "interface name {name} too long");
    name
}

fn stdout_of(cmd: &mut Command) -> String {
    String::from_utf8_lossy(&run(cmd).stdout).into_owned()
}

/// A Linux bridge created by the test, `ADDR/24` on it, deleted on drop.
pub struct Bridge {
    /// Interface name.
    pub name: String,
}

impl Bridge {
    /// Creates bridge `name` with address `gateway/24`, up.
    pub fn new(name: &str, gateway: &str) -> Bridge {
        let b = Bridge {
            name: name.to_string(),
        };
        for args in [
            vec!["link", "add", name, "type", "bridge"],
            vec!["addr", "add", &format!("{gateway}/24"), "dev", name],
            vec!["link", "set", name, "up"],
        ] {
            let out = run(Command::new("ip").args(&args));
            assert!(
                out.status.success(),
                "ip {}: {}",
                args.join(" "),
                super::describe(&out)
            );
        }
        b
    }
}

impl Drop for Bridge {
    fn drop(&mut self) {
        delete_link(&self.name);
    }
}

/// Deletes a network interface if it exists (best effort).
pub fn delete_link(name: &str) {
    let _ = holm_testkit::run_command(Command::new("ip").args(["link", "del", name]));
}

/// `GET http://127.0.0.1:PORT/PATH` with curl, retried until it answers 2xx (the server may still be starting);
/// returns the body.
pub fn http_get(port: u16, path: &str) -> Result<String, String> {
    let url = format!("http://127.0.0.1:{port}{path}");
    let mut last = String::new();
    poll(&format!("curl {url} (last: {last})"), || {
        let out = run(Command::new("curl").args(["-sSf", "--max-time", "5", &url]));
        if out.status.success() {
            Some(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            last = super::describe(&out);
            None
        }
    })
}

/// The cgroup directory on the host of `pid` for the v1 `controller`, or its cgroup2 directory when the host has
/// no v1 hierarchy for that controller (cgroup2 mounted at /sys/fs/cgroup or /sys/fs/cgroup/unified).
/// Returns (directory, whether it is v1).
pub fn cgroup_dir(pid: i32, controller: &str) -> Result<(PathBuf, bool), String> {
    let text = fs::read_to_string(format!("/proc/{pid}/cgroup"))
        .map_err(|e| format!("read /proc/{pid}/cgroup: {e}"))?;
    let mut unified = None;
    for line in text.lines() {
        let mut parts = line.splitn(3, ':');
        let (_, ctrls, path) = (parts.next(), parts.next(), parts.next());
        let (Some(ctrls), Some(path)) = (ctrls, path) else {
            continue;
        };
        if ctrls.split(',').any(|c| c == controller) {
            let dir = Path::new("/sys/fs/cgroup")
                .join(controller)
                .join(path.trim_start_matches('/'));
            if dir.is_dir() {
                return Ok((dir, true));
            }
        }
        if ctrls.is_empty() {
            unified = Some(path.trim_start_matches('/').to_string());
        }
    }
    let path = unified.ok_or_else(|| format!("pid {pid} has no {controller} or cgroup2 entry"))?;
    for mount in ["/sys/fs/cgroup/unified", "/sys/fs/cgroup"] {
        let dir = Path::new(mount).join(&path);
        if Path::new(mount).join("cgroup.controllers").exists() && dir.is_dir() {
            return Ok((dir, false));
        }
    }
    Err(format!(
        "cgroup of pid {pid} ({controller}) not found on the host"
    ))
}

/// The memory limit of `pid`'s cgroup as the host sees it, in bytes (`memory.limit_in_bytes` on v1,
/// `memory.max` on v2; `max` is `u64::MAX`).
pub fn memory_limit(pid: i32) -> Result<u64, String> {
    let (dir, v1) = cgroup_dir(pid, "memory")?;
    let file = dir.join(if v1 {
        "memory.limit_in_bytes"
    } else {
        "memory.max"
    });
    let text = fs::read_to_string(&file).map_err(|e| format!("read {}: {e}", file.display()))?;
    let text = text.trim();
    if text == "max" {
        return Ok(u64::MAX);
    }
    text.parse()
        .map_err(|e| format!("{}: {text:?}: {e}", file.display()))
}

/// Whether `pid`'s cgroup is frozen as the host sees it (`freezer.state` FROZEN on v1, `cgroup.freeze` 1 on v2).
pub fn frozen(pid: i32) -> Result<bool, String> {
    let (dir, v1) = cgroup_dir(pid, "freezer")?;
    let file = dir.join(if v1 { "freezer.state" } else { "cgroup.freeze" });
    let text = fs::read_to_string(&file).map_err(|e| format!("read {}: {e}", file.display()))?;
    Ok(matches!(text.trim(), "FROZEN" | "1"))
}

/// A daemon the test started: killed (SIGTERM, then SIGKILL) if still running on drop.
pub struct Daemon {
    /// What it is, for messages.
    pub name: String,
    child: Option<Child>,
    /// Its combined stdout/stderr.
    pub log: PathBuf,
}

impl Daemon {
    /// Spawns `cmd` with a null stdin and stdout/stderr appended to `log`, in PATH [`PATH`].
    pub fn spawn(name: &str, mut cmd: Command, log: &Path) -> Daemon {
        let f = File::create(log).unwrap_or_else(|e| panic!("create {}: {e}", log.display()));
        let f2 = f.try_clone().expect("dup log fd");
        cmd.env("PATH", PATH)
            .stdin(Stdio::null())
            .stdout(Stdio::from(f))
            .stderr(Stdio::from(f2));
        let child = cmd.spawn().unwrap_or_else(|e| panic!("start {name}: {e}"));
        Daemon {
            name: name.to_string(),
            child: Some(child),
            log: log.to_path_buf(),
        }
    }

    /// The daemon's log so far.
    pub fn log_text(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Whether it has exited already (then its log says why).
    pub fn exited(&mut self) -> bool {
        match self.child.as_mut() {
            Some(c) => !matches!(c.try_wait(), Ok(None)),
            None => true,
        }
    }

    /// Stops it gracefully: SIGTERM, up to 30 s to exit, then SIGKILL. Returns an error if SIGKILL was needed.
    pub fn stop(&mut self) -> Result<(), String> {
        let Some(mut child) = self.child.take() else {
            return Ok(());
        };
        if let Ok(Some(_)) = child.try_wait() {
            return Ok(());
        }
        let _ = run(Command::new("kill").args(["-TERM", &child.id().to_string()]));
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = child.kill();
        let _ = child.wait();
        Err(format!("{} did not exit within 30 s of SIGTERM", self.name))
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}

/// After an engine is stopped: every process whose command line mentions `dir` (shims, conmon, docker-proxy, a
/// daemon) and every mount at or below `dir`. Each one found is reported and cleaned up (SIGKILL, lazy unmount),
/// so a failed run does not leave the machine dirty.
pub fn sweep_leaks(dir: &Path) -> Vec<String> {
    let mut leaks = Vec::new();
    let needle = dir.to_string_lossy().into_owned();
    let me = std::process::id().to_string();
    if let Ok(entries) = fs::read_dir("/proc") {
        for e in entries.flatten() {
            let pid = e.file_name().to_string_lossy().into_owned();
            if !pid.bytes().all(|b| b.is_ascii_digit()) || pid == me {
                continue;
            }
            let Ok(cmdline) = fs::read(e.path().join("cmdline")) else {
                continue;
            };
            let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            if cmdline.contains(&needle) {
                leaks.push(format!(
                    "process {pid} left running: {}",
                    cmdline.trim_end()
                ));
                let _ = holm_testkit::run_command(Command::new("kill").args(["-KILL", &pid]));
            }
        }
    }
    let mountinfo = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mut points: Vec<&str> = mountinfo
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .filter(|mp| *mp == needle || mp.starts_with(&format!("{needle}/")))
        .collect();
    points.sort_by_key(|p| std::cmp::Reverse(p.len()));
    for mp in points {
        leaks.push(format!("mount left behind: {mp}"));
        let _ = holm_testkit::run_command(Command::new("umount").args(["-l", mp]));
    }
    leaks
}

/// Removes the cgroup directory `name` (and anything empty below it) from every hierarchy, for the cgroup parent
/// dockerd was given. Best effort: a directory that still has processes stays (and is reported).
pub fn remove_cgroup_parent(name: &str) -> Vec<String> {
    let mut left = Vec::new();
    let mut roots = vec![PathBuf::from("/sys/fs/cgroup")];
    if let Ok(entries) = fs::read_dir("/sys/fs/cgroup") {
        roots.extend(entries.flatten().map(|e| e.path()));
    }
    for root in roots {
        let dir = root.join(name);
        if dir.is_dir() && !remove_tree(&dir) {
            left.push(format!("cgroup left behind: {}", dir.display()));
        }
    }
    left
}

fn remove_tree(dir: &Path) -> bool {
    if let Ok(entries) = fs::read_dir(dir) {
        for e in entries.flatten() {
            if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                remove_tree(&e.path());
            }
        }
    }
    fs::remove_dir(dir).is_ok()
}

/// Runs the shell command line `line` under a pseudo-terminal (`script -qec LINE /dev/null`) and returns what
/// appeared on the terminal. script's stdin is a pipe kept open (and empty) until it exits: at EOF on its stdin
/// script ends the session early, which would race with the container's output. Killed after [`PATIENCE`].
pub fn run_in_pty(line: &str, env: &[(String, String)]) -> std::process::Output {
    let out = tempfile::tempfile().expect("capture file");
    let mut cmd = Command::new("/usr/bin/script");
    cmd.env("PATH", PATH)
        .args(["-qec", line, "/dev/null"])
        .stdin(Stdio::piped())
        .stdout(Stdio::from(out.try_clone().expect("dup")))
        .stderr(Stdio::from(out.try_clone().expect("dup")));
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("spawn script");
    let stdin = child.stdin.take();
    let deadline = Instant::now() + PATIENCE;
    let status = loop {
        if let Ok(Some(s)) = child.try_wait() {
            break s;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            panic!("`script -qec {line}` did not exit within {PATIENCE:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    drop(stdin);
    let mut data = Vec::new();
    use std::io::{Read, Seek};
    let mut f = out;
    let _ = f.rewind();
    let _ = f.read_to_end(&mut data);
    std::process::Output {
        status,
        stdout: data,
        stderr: Vec::new(),
    }
}

/// Network leftovers of an engine's bridge, checked before the bridge is deleted: interfaces still attached to it
/// (a veth whose container is gone) and iptables or nftables rules naming the bridge or an address of its /24
/// (`net` is the first three octets, `10.213.N`). Reported, not removed: rules are shared state the suite does
/// not own.
pub fn network_leaks(bridge: &str, net: &str) -> Vec<String> {
    let mut leaks = Vec::new();
    let out = run(Command::new("ip").args(["-o", "link", "show", "master", bridge]));
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        leaks.push(format!("interface still attached to {bridge}: {line}"));
    }
    let addr = format!("{net}.");
    for (what, cmd) in [
        ("iptables", vec!["iptables-save"]),
        ("nftables", vec!["nft", "list", "ruleset"]),
    ] {
        let Ok(out) =
            holm_testkit::run_command(Command::new(cmd[0]).env("PATH", PATH).args(&cmd[1..]))
        else {
            continue;
        };
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            if line.contains(bridge) || line.contains(&addr) {
                leaks.push(format!("{what} rule left behind: {}", line.trim()));
            }
        }
    }
    leaks
}
