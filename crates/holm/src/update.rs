//! `holm update` (docker's flags): new resource limits and restart policy for containers; a running container gets
//! them at once (a VM container through its runtime, which refuses what the VM cannot follow). Prints each
//! container as given, as docker does; exit 1 if any failed.

use anyhow::{bail, Result};
use clap::Args;
use holm_engine::config as c;
use holm_engine::options as o;
use holm_engine::update::Update;
use holm_engine::Engine;

/// `holm update [flags] CONTAINER...`.
#[derive(Debug, Args)]
pub struct UpdateArgs {
    /// Memory limit (`512m`, `1g`, …).
    #[arg(short, long, allow_hyphen_values = true)]
    pub memory: Option<String>,
    /// Memory plus swap limit (`-1`: unlimited swap).
    #[arg(long, allow_hyphen_values = true)]
    pub memory_swap: Option<String>,
    /// Number of CPUs (`0.5`, `1.5`, …).
    #[arg(long)]
    pub cpus: Option<String>,
    /// CPU shares (relative weight).
    #[arg(short = 'c', long)]
    pub cpu_shares: Option<String>,
    /// CPUs the container may use (`0-1`, `0,2`).
    #[arg(long)]
    pub cpuset_cpus: Option<String>,
    /// Maximum number of processes (0 or -1: unlimited).
    #[arg(long, allow_hyphen_values = true)]
    pub pids_limit: Option<i64>,
    /// Restart policy: no, on-failure[:N], always, unless-stopped.
    #[arg(long)]
    pub restart: Option<String>,
    /// Containers (names, ids or id prefixes).
    #[arg(required = true)]
    pub containers: Vec<String>,
}

impl UpdateArgs {
    /// The parsed update (flag values checked as `holm run` checks them).
    fn update(&self) -> Result<Update> {
        let u = Update {
            memory: self.memory.as_deref().map(c::parse_memory).transpose()?,
            memory_swap: self
                .memory_swap
                .as_deref()
                .map(o::parse_swap_value)
                .transpose()?,
            cpus: self.cpus.as_deref().map(c::parse_cpus).transpose()?,
            cpu_shares: self
                .cpu_shares
                .as_deref()
                .map(o::parse_cpu_shares)
                .transpose()?,
            cpuset_cpus: self
                .cpuset_cpus
                .as_deref()
                .map(o::parse_cpuset)
                .transpose()?,
            pids_limit: self.pids_limit,
            restart: match &self.restart {
                Some(r) => {
                    o::parse_restart(r)?;
                    Some(r.clone())
                }
                None => None,
            },
        };
        if u.is_empty() {
            bail!("You must provide one or more flags when using this command.");
        }
        Ok(u)
    }
}

/// `holm update`.
pub fn update(engine: &Engine, a: &UpdateArgs) -> Result<i32> {
    let u = a.update()?;
    crate::stop::each(&a.containers, |id| engine.update(id, &u))
}
