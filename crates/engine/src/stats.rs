//! `holm stats` and `holm top`: what a running container uses, read from its cgroup (v1 per-controller files or
//! v2 unified ones), and which processes it has.

use crate::config::cgroups_path;
use crate::{Error, Result};
use std::path::{Path, PathBuf};

/// One sample of a container's usage.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Sample {
    /// CPU time used, nanoseconds.
    pub cpu_ns: u64,
    /// Memory in use (without the page cache docker subtracts: `total_inactive_file` / `inactive_file`), bytes.
    pub mem_usage: u64,
    /// Memory limit, bytes (the host's memory when unlimited).
    pub mem_limit: u64,
    /// Processes (tasks) in the cgroup.
    pub pids: u64,
    /// When it was taken (monotonic nanoseconds).
    pub at_ns: u128,
}

fn dirs(id: &str) -> Result<Vec<(bool, Vec<String>, PathBuf)>> {
    let h = holm_cgroups::Hierarchies::detect().map_err(|e| Error::Io {
        what: "detect cgroup hierarchies".into(),
        source: std::io::Error::other(e),
    })?;
    let cg =
        holm_cgroups::Cgroup::resolve(&h, Some(&cgroups_path(id)), id).map_err(|e| Error::Io {
            what: format!("cgroup of {id}"),
            source: std::io::Error::other(e),
        })?;
    Ok(cg
        .dirs()
        .map(|(hi, p)| (hi.is_v2(), hi.controllers().to_vec(), p.to_path_buf()))
        .collect())
}

fn read_u64(p: &Path) -> Option<u64> {
    let s = std::fs::read_to_string(p).ok()?;
    let s = s.trim();
    if s == "max" {
        return Some(u64::MAX);
    }
    s.parse().ok()
}

fn stat_key(p: &Path, key: &str) -> Option<u64> {
    std::fs::read_to_string(p).ok()?.lines().find_map(|l| {
        let (k, v) = l.split_once(' ')?;
        (k == key).then(|| v.trim().parse().ok()).flatten()
    })
}

fn host_memory() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map_or(0, |k| k * 1024)
}

/// Reads the usage of container `id` from its cgroup. Errors: the cgroup cannot be found.
pub fn sample(id: &str) -> Result<Sample> {
    let mut s = Sample {
        at_ns: std::time::Instant::now()
            .duration_since(*START.get_or_init(std::time::Instant::now))
            .as_nanos(),
        ..Sample::default()
    };
    let ctl = |cs: &Vec<String>, c: &str| cs.iter().any(|x| x == c);
    let mut found = false;
    for (v2, cs, dir) in dirs(id)? {
        if !dir.exists() {
            continue;
        }
        found = true;
        if v2 {
            if let Some(u) = stat_key(&dir.join("cpu.stat"), "usage_usec") {
                s.cpu_ns = s.cpu_ns.max(u * 1000);
            }
            if let Some(m) = read_u64(&dir.join("memory.current")) {
                let inactive = stat_key(&dir.join("memory.stat"), "inactive_file").unwrap_or(0);
                s.mem_usage = m.saturating_sub(inactive);
                s.mem_limit = read_u64(&dir.join("memory.max")).unwrap_or(u64::MAX);
            }
            if let Some(p) = read_u64(&dir.join("pids.current")) {
                s.pids = p;
            }
            continue;
        }
        if ctl(&cs, "cpuacct") {
            if let Some(u) = read_u64(&dir.join("cpuacct.usage")) {
                s.cpu_ns = u;
            }
        }
        if ctl(&cs, "memory") {
            if let Some(m) = read_u64(&dir.join("memory.usage_in_bytes")) {
                let inactive =
                    stat_key(&dir.join("memory.stat"), "total_inactive_file").unwrap_or(0);
                s.mem_usage = m.saturating_sub(inactive);
            }
            s.mem_limit = read_u64(&dir.join("memory.limit_in_bytes")).unwrap_or(u64::MAX);
        }
        if ctl(&cs, "pids") {
            if let Some(p) = read_u64(&dir.join("pids.current")) {
                s.pids = p;
            }
        }
    }
    if !found {
        return Err(Error::Io {
            what: format!("cgroup of {id}"),
            source: std::io::Error::from(std::io::ErrorKind::NotFound),
        });
    }
    let host = host_memory();
    if s.mem_limit == 0 || s.mem_limit > host {
        s.mem_limit = host;
    }
    Ok(s)
}

static START: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();

/// docker's CPU %: CPU time used between two samples over the wall time between them, times 100 (so a container
/// using two CPUs fully shows 200 %).
pub fn cpu_percent(a: &Sample, b: &Sample) -> f64 {
    let wall = b.at_ns.saturating_sub(a.at_ns) as f64;
    if wall <= 0.0 {
        return 0.0;
    }
    b.cpu_ns.saturating_sub(a.cpu_ns) as f64 / wall * 100.0
}

/// The host pids of every process of container `id` (its cgroup and the ones below).
pub fn pids(id: &str) -> Result<Vec<i32>> {
    let h = holm_cgroups::Hierarchies::detect().map_err(|e| Error::Io {
        what: "detect cgroup hierarchies".into(),
        source: std::io::Error::other(e),
    })?;
    let cg =
        holm_cgroups::Cgroup::resolve(&h, Some(&cgroups_path(id)), id).map_err(|e| Error::Io {
            what: format!("cgroup of {id}"),
            source: std::io::Error::other(e),
        })?;
    cg.all_pids().map_err(|e| Error::Io {
        what: format!("processes of {id}"),
        source: std::io::Error::other(e),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_percent_is_cpu_over_wall_time() {
        let a = Sample {
            cpu_ns: 1_000,
            at_ns: 0,
            ..Default::default()
        };
        let b = Sample {
            cpu_ns: 501_000,
            at_ns: 1_000_000,
            ..Default::default()
        };
        assert_eq!(cpu_percent(&a, &b), 50.0);
        assert_eq!(cpu_percent(&b, &b), 0.0);
    }
}

/// docker's `GET /containers/{id}/top` answer: `ps`'s column titles and, per process of the container, its
/// columns as `ps` printed them.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Top {
    /// The header line as `ps` printed it (the CLI prints it as is).
    #[serde(skip)]
    pub header: String,
    /// The rows of the container's processes as `ps` printed them.
    #[serde(skip)]
    pub lines: Vec<String>,
    /// Column titles (`UID`, `PID`, …).
    pub titles: Vec<String>,
    /// Each process's columns (the last column keeps its spaces: the command line).
    pub processes: Vec<Vec<String>>,
}

/// One container's usage over a short interval, what `holm stats` shows (docker's fields, holm's units).
#[derive(Debug, Clone, Default, serde::Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Usage {
    /// False if the container was not running or could not be sampled (the numbers are then zeros).
    #[serde(skip)]
    pub sampled: bool,
    /// CPU use over the interval, percent of one CPU times the CPUs (docker's `CPUPerc`).
    pub cpu_percent: f64,
    /// Bytes of memory in use.
    pub mem_usage: u64,
    /// The memory limit in bytes (the host's memory without one).
    pub mem_limit: u64,
    /// Processes.
    pub pids: u64,
    /// Bytes received and sent on its bridge interface, if it has one.
    pub net_io: Option<(u64, u64)>,
}

/// Splits a `ps` line into `n` columns, the last taking the rest of the line.
pub(crate) fn split_columns(line: &str, n: usize) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = line.trim_start();
    while out.len() + 1 < n && !rest.is_empty() {
        let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
        out.push(rest[..end].to_string());
        rest = rest[end..].trim_start();
    }
    out.push(rest.to_string());
    out
}

impl crate::Engine {
    /// `holm top C [PS OPTIONS]`, `GET /containers/{id}/top?ps_args=`: as docker, runs the host's `ps` (default
    /// `-ef`) and keeps the rows of the container's processes. Errors: [`Error::NotRunning`], [`Error::HostProgram`] for
    /// `ps` missing (naming Debian's procps package), failing (its first complaint) or without a PID column.
    pub fn container_top(&self, what: &str, ps_args: &[String]) -> Result<Top> {
        let rec = self.find(what)?;
        if rec.state != crate::State::Running {
            return Err(Error::NotRunning(rec.name));
        }
        let pids = pids(&rec.id)?;
        let args: Vec<String> = if ps_args.is_empty() {
            vec!["-ef".into()]
        } else {
            ps_args.to_vec()
        };
        let what_ps = format!("ps {}", args.join(" "));
        let out = match std::process::Command::new("ps").args(&args).output() {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(Error::HostProgram(
                    "the `ps` program was not found on PATH: install Debian's procps package (holm top runs it, as docker does)".into(),
                ))
            }
            r => r.map_err(Error::io("run ps"))?,
        };
        let fail = |msg: String| Error::HostProgram(format!("{what_ps}: {msg}"));
        if !out.status.success() {
            // ps's first complaint (its usage text follows on more lines): one line, as every holm error
            let err = String::from_utf8_lossy(&out.stderr);
            let first = err.lines().map(str::trim).find(|l| !l.is_empty());
            return Err(fail(first.unwrap_or("failed with no message").to_string()));
        }
        let text = String::from_utf8_lossy(&out.stdout);
        let mut lines = text.lines();
        let header = lines.next().unwrap_or_default().to_string();
        let titles: Vec<String> = header.split_whitespace().map(str::to_string).collect();
        let Some(col) = titles.iter().position(|h| h == "PID") else {
            return Err(fail("the output has no PID column".into()));
        };
        let mut top = Top {
            header,
            lines: Vec::new(),
            processes: Vec::new(),
            titles,
        };
        for l in lines {
            let pid = l
                .split_whitespace()
                .nth(col)
                .and_then(|p| p.parse::<i32>().ok());
            if pid.is_some_and(|p| pids.contains(&p)) {
                top.processes.push(split_columns(l, top.titles.len()));
                top.lines.push(l.to_string());
            }
        }
        Ok(top)
    }

    /// The usage of the containers `ids` over half a second (`running[i]`: whether to sample `ids[i]`; a
    /// container that is not running, or whose sample fails, shows zeros). Blocks for 500 ms.
    pub fn containers_usage(&self, ids: &[(&str, bool)]) -> Vec<Usage> {
        let first: Vec<Option<Sample>> = ids
            .iter()
            .map(|(id, run)| run.then(|| sample(id).ok()).flatten())
            .collect();
        std::thread::sleep(std::time::Duration::from_millis(500));
        ids.iter()
            .zip(first)
            .map(|((id, run), a)| {
                let b = run.then(|| sample(id).ok()).flatten();
                let mut u = match (a, b) {
                    (Some(a), Some(b)) => Usage {
                        sampled: true,
                        cpu_percent: cpu_percent(&a, &b),
                        mem_usage: b.mem_usage,
                        mem_limit: b.mem_limit,
                        pids: b.pids,
                        net_io: None,
                    },
                    _ => Usage::default(),
                };
                if *run {
                    u.net_io = crate::network::net_io(id);
                }
                u
            })
            .collect()
    }
}
