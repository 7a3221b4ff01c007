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
