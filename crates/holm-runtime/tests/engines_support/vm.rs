//! The VM scenarios (issue 13, "The runtime does it, so every engine gets it"): the same engines as the engine
//! suite, with holm-runtime asked for a VM the way each engine can ask ([`Rt::HolmVm`]): podman's
//! `--runtime-flag isolation=vm`, a dockerd runtime whose `runtimeArgs` are `--isolation vm`, and for containerd's
//! runc shim (which passes no extra argument) `--runc-binary` naming a `holm-runtime-vm` symlink.
//!
//! What each scenario observes from outside:
//! - `run --rm uname -r`: prints a kernel release that is not the host's (the guest kernel), and the container
//!   is gone after;
//! - exit code: `sh -c 'exit 3'` makes the engine CLI exit 3;
//! - `-d + logs, stop, rm`: a detached container's stdout reaches the engine's logs; its pid (the VM shim) has a
//!   qemu process below it; `stop` (SIGTERM) returns the exit code of the container's trap (42); after `rm` the
//!   shim and qemu are gone;
//! - exec: runs in the guest next to the init (`/proc/1/cmdline` is the container's `sleep`, `uname -r` the
//!   guest's), output and exit code 3 come back; under dockerd, which sets `net.ipv4.ip_unprivileged_port_start=0`
//!   on every container, a non-root exec (uid 65534) binds port 80 in the guest (the agent applies the sysctl);
//! - `-p` (podman and dockerd): busybox httpd in the VM answers on 127.0.0.1 through the engine's port publishing;
//! - `run --rm -it` under a pseudo-terminal (`script`): stdin and stdout are a terminal in the guest;
//! - `exec -it` (ctr: `task exec -t`) under a pseudo-terminal into a running VM container: the exec'd process's
//!   stdin and stdout are a terminal in the guest, and its exit code (3) comes back.

use super::host::{free_port, http_get, poll};
use super::scenarios::{Engine, Opts};
use super::{describe, ok, stdout, Rt};
use holm_testkit::unique_id;
use std::fs;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::{Duration, Instant};

/// The scenarios in table order.
pub const NAMES: &[&str] = &[
    "run --rm uname -r",
    "exit code",
    "-d + logs, stop, rm",
    "exec",
    "-p (curl 127.0.0.1)",
    "run --rm -it",
    "exec -it",
];

/// Which scenarios an engine runs: ctr has no port publishing.
#[derive(Clone, Copy, Debug)]
pub struct Plan {
    /// Run the `-p` scenario.
    pub publish: bool,
}

/// Scenario → result (None: not run for this engine) and wall time.
pub struct VmReport {
    /// Engine name.
    pub engine: String,
    /// One entry per [`NAMES`] entry.
    pub results: Vec<(Option<Result<(), String>>, Duration)>,
}

impl VmReport {
    /// The table as Markdown.
    pub fn table(&self) -> String {
        let mut t = format!(
            "| {} (holm-runtime, VM) | result | time |\n|---|---|---|\n",
            self.engine
        );
        for (name, (r, d)) in NAMES.iter().zip(&self.results) {
            let cell = match r {
                Some(Ok(())) => "pass",
                Some(Err(_)) => "FAIL",
                None => "not run",
            };
            t.push_str(&format!("| {name} | {cell} | {:.1} s |\n", d.as_secs_f64()));
        }
        t
    }

    /// Panics with the table and every failure if any scenario failed; `leaks` are what the teardown found.
    pub fn assert_ok(&self, leaks: &[String]) {
        let table = self.table();
        eprintln!("{table}");
        let mut problems: Vec<String> = NAMES
            .iter()
            .zip(&self.results)
            .filter_map(|(n, (r, _))| match r {
                Some(Err(e)) => Some(format!("{n}: {e}")),
                _ => None,
            })
            .collect();
        problems.extend(leaks.iter().cloned());
        if !problems.is_empty() {
            panic!(
                "{} VM suite: {} problem(s):\n{}\n\n{table}",
                self.engine,
                problems.len(),
                problems.join("\n")
            );
        }
    }
}

type Scenario = fn(&dyn Engine, &str) -> Result<(), String>;

const BODIES: &[Scenario] = &[
    uname,
    exit_code,
    detached_stop_rm,
    exec,
    publish,
    tty,
    exec_tty,
];

/// Runs the scenarios of `plan` with [`Rt::HolmVm`]; a panic counts as a failure, and each container is
/// force-removed after its scenario.
pub fn run_all(engine: &dyn Engine, plan: Plan) -> VmReport {
    assert_eq!(NAMES.len(), BODIES.len());
    let mut results = Vec::new();
    for (i, body) in BODIES.iter().enumerate() {
        if i == 4 && !plan.publish {
            results.push((None, Duration::ZERO));
            continue;
        }
        let name = unique_id(&format!("engvm-{i}"));
        let t = Instant::now();
        let r = catch_unwind(AssertUnwindSafe(|| body(engine, &name))).unwrap_or_else(|p| {
            Err(p
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "panicked".into()))
        });
        let took = t.elapsed();
        engine.remove(&name);
        eprintln!(
            "{} | {} | holm-vm: {} ({:.1} s)",
            engine.name(),
            NAMES[i],
            match &r {
                Ok(()) => "pass".to_string(),
                Err(e) => format!("FAIL: {e}"),
            },
            took.as_secs_f64()
        );
        results.push((Some(r), took));
    }
    VmReport {
        engine: engine.name().to_string(),
        results,
    }
}

fn expect(cond: bool, msg: impl FnOnce() -> String) -> Result<(), String> {
    if cond {
        Ok(())
    } else {
        Err(msg())
    }
}

/// The host's kernel release.
pub fn host_release() -> String {
    fs::read_to_string("/proc/sys/kernel/osrelease")
        .expect("read /proc/sys/kernel/osrelease")
        .trim()
        .to_string()
}

/// Ok if `text` names a kernel release other than the host's.
fn guest_release(text: &str) -> Result<(), String> {
    let host = host_release();
    let got = text.trim();
    expect(
        !got.is_empty() && got != host && got.starts_with(|c: char| c.is_ascii_digit()),
        || format!("uname -r printed {got:?}; the host's kernel is {host:?}: not a guest kernel"),
    )
}

fn uname(e: &dyn Engine, name: &str) -> Result<(), String> {
    let out = e.run_rm(Rt::HolmVm, name, &Opts::default(), &["uname", "-r"]);
    guest_release(&ok(&out, "run --rm uname -r")?)?;
    expect(!e.listed(name)?, || {
        "the container is still listed after run --rm".into()
    })
}

fn exit_code(e: &dyn Engine, name: &str) -> Result<(), String> {
    let out = e.run_rm(Rt::HolmVm, name, &Opts::default(), &["sh", "-c", "exit 3"]);
    expect(out.status.code() == Some(3), || {
        format!("want exit 3: {}", describe(&out))
    })
}

/// A process as (pid, start time), so a reused pid is not taken for it.
type Proc = (i32, u64);

fn start_time(pid: i32) -> Option<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 2..];
    rest.split_whitespace().nth(19)?.parse().ok()
}

fn alive(p: Proc) -> bool {
    start_time(p.0) == Some(p.1)
}

/// `pid` and every process below it.
fn tree(pid: i32) -> Vec<i32> {
    let mut all = vec![pid];
    let mut i = 0;
    while i < all.len() {
        let p = all[i];
        if let Ok(tasks) = fs::read_dir(format!("/proc/{p}/task")) {
            for t in tasks.flatten() {
                let children = fs::read_to_string(t.path().join("children")).unwrap_or_default();
                all.extend(
                    children
                        .split_whitespace()
                        .filter_map(|c| c.parse::<i32>().ok()),
                );
            }
        }
        i += 1;
    }
    all
}

fn cmdline(pid: i32) -> String {
    String::from_utf8_lossy(&fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default())
        .replace('\0', " ")
}

fn detached_stop_rm(e: &dyn Engine, name: &str) -> Result<(), String> {
    e.run_detached(
        Rt::HolmVm,
        name,
        &Opts::default(),
        &[
            "sh",
            "-c",
            "trap 'exit 42' TERM; echo vm-logged-line; uname -r; while :; do sleep 0.2; done",
        ],
    )?;
    let mut last = String::new();
    poll("the container's line in the logs", || {
        last = e.logs(name).unwrap_or_default();
        (last.contains("vm-logged-line") && last.lines().count() >= 2).then_some(())
    })
    .map_err(|err| format!("{err}; logs: {last:?}"))?;
    let release = last
        .lines()
        .skip_while(|l| !l.contains("vm-logged-line"))
        .nth(1)
        .unwrap_or("");
    guest_release(release)?;
    let status = e.status(name)?;
    expect(status.contains("running") || status.contains("up"), || {
        format!("detached container is {status:?}, want running")
    })?;
    let pid = e.pid(name)?;
    let procs: Vec<Proc> = tree(pid)
        .into_iter()
        .filter_map(|p| start_time(p).map(|t| (p, t)))
        .collect();
    let qemu: Vec<Proc> = procs
        .iter()
        .copied()
        .filter(|p| cmdline(p.0).contains("qemu-system"))
        .collect();
    expect(!qemu.is_empty(), || {
        let listing: Vec<String> = procs
            .iter()
            .map(|p| format!("{} {}", p.0, cmdline(p.0)))
            .collect();
        format!("no qemu below the container's pid {pid}: {listing:?}")
    })?;
    let code = e.stop(name)?;
    expect(code == 42, || {
        format!("stopped container exited {code}, want 42 (its SIGTERM trap)")
    })?;
    e.remove(name);
    poll("the shim and qemu to be gone after rm", || {
        procs.iter().all(|p| !alive(*p)).then_some(())
    })
    .map_err(|err| {
        let left: Vec<String> = procs
            .iter()
            .filter(|p| alive(**p))
            .map(|p| format!("{} {}", p.0, cmdline(p.0)))
            .collect();
        format!("{err}: still running: {left:?}")
    })?;
    expect(!e.listed(name)?, || "still listed after rm".into())
}

fn exec(e: &dyn Engine, name: &str) -> Result<(), String> {
    e.run_detached(Rt::HolmVm, name, &Opts::default(), &["sleep", "1000"])?;
    let out = e.exec(
        name,
        None,
        &[
            "sh",
            "-c",
            "echo exec-out; uname -r; cat /proc/1/cmdline; echo; exit 3",
        ],
    );
    let text = stdout(&out);
    expect(out.status.code() == Some(3), || {
        format!("exec should pass exit 3 through: {}", describe(&out))
    })?;
    let mut lines = text.lines();
    expect(lines.next() == Some("exec-out"), || {
        format!("exec printed {text:?}")
    })?;
    guest_release(lines.next().unwrap_or(""))?;
    expect(lines.next().is_some_and(|l| l.contains("sleep")), || {
        format!("exec did not run next to the container's sleep: {text:?}")
    })?;
    if e.name() == "dockerd" {
        let out = e.exec(
            name,
            Some("65534"),
            &[
                "sh",
                "-c",
                "cat /proc/sys/net/ipv4/ip_unprivileged_port_start; id -u; httpd -p 80 -h / && echo bound-80",
            ],
        );
        let text = stdout(&out);
        expect(text == "0\n65534\nbound-80\n", || {
            format!(
                "a non-root exec should bind port 80 with dockerd's sysctl applied in the guest: {}",
                describe(&out)
            )
        })?;
    }
    Ok(())
}

fn tty(e: &dyn Engine, name: &str) -> Result<(), String> {
    let out = e.run_tty(
        Rt::HolmVm,
        name,
        &[
            "sh",
            "-c",
            "test -t 0 && test -t 1 && echo stdio-is-a-tty; tty; uname -r",
        ],
    );
    let text = ok(&out, "run -it under a pty")?;
    expect(
        text.contains("stdio-is-a-tty") && text.contains("/dev/pts/"),
        || format!("the container saw no terminal: {text:?}"),
    )?;
    guest_release(text.lines().last().unwrap_or(""))
}

fn exec_tty(e: &dyn Engine, name: &str) -> Result<(), String> {
    e.run_detached(Rt::HolmVm, name, &Opts::default(), &["sleep", "1000"])?;
    let out = e.exec_tty(
        name,
        &[
            "sh",
            "-c",
            "test -t 0 && test -t 1 && echo stdio-is-a-tty; tty; uname -r; exit 3",
        ],
    );
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    expect(out.status.code() == Some(3), || {
        format!(
            "exec -it should pass exit 3 through: {}: {text:?}",
            out.status
        )
    })?;
    expect(
        text.contains("stdio-is-a-tty") && text.contains("/dev/pts/"),
        || format!("the exec'd process saw no terminal: {text:?}"),
    )?;
    // The line after `tty`'s (ctr may print an error of its own after the process ended: its pty resize lost the
    // race with the exit, "cannot resize a stopped container").
    let release = text
        .lines()
        .map(str::trim)
        .skip_while(|l| !l.starts_with("/dev/pts/"))
        .nth(1)
        .unwrap_or("");
    guest_release(release)
}

fn publish(e: &dyn Engine, name: &str) -> Result<(), String> {
    let port = free_port();
    let opts = Opts {
        publish: Some(port),
        ..Opts::default()
    };
    let body = format!("served-by-{name}");
    let script = format!(
        "mkdir -p /www && echo {body} > /www/index.html && exec httpd -f -p {} -h /www",
        e.http_listen(port)
    );
    e.run_detached(Rt::HolmVm, name, &opts, &["sh", "-c", &script])?;
    let got = http_get(port, "/index.html")?;
    expect(got.contains(&body), || {
        format!("curl 127.0.0.1:{port} got {got:?}, want {body:?}")
    })
}
