//! `holm network ls|inspect`: holm's three networks as docker shows its predefined ones — `bridge` (the `holm0`
//! bridge, driver `bridge`), `host` (driver `host`) and `none` (driver `null`) — and the user-defined networks
//! (`network create|rm|prune|connect|disconnect`: see `netcmd`).

use crate::exitcode::{fail, Verb};
use anyhow::Result;
use clap::{Args, Subcommand};
use holm_engine::Engine;
use std::io::Write;

/// docker's default `network ls` columns.
pub const LS_DEFAULT: &str = "{{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}";

/// `holm network …`.
#[derive(Debug, Subcommand)]
pub enum NetworkCommand {
    /// List networks.
    #[command(alias = "list")]
    Ls(LsArgs),
    /// Show details of networks (with their running containers) as JSON, or through a Go template.
    Inspect(crate::inspect::TypedArgs),
    /// Create a network (its own bridge and subnet; containers on it resolve each other by name).
    Create(crate::netcmd::CreateArgs),
    /// Remove networks.
    #[command(alias = "remove")]
    Rm(crate::netcmd::RmArgs),
    /// Remove every user network no running container is on.
    Prune(crate::netcmd::PruneArgs),
    /// Connect a container to a network.
    Connect(crate::netcmd::ConnectArgs),
    /// Disconnect a container from a network.
    Disconnect(crate::netcmd::DisconnectArgs),
}

/// `holm network ls`.
#[derive(Debug, Args)]
pub struct LsArgs {
    /// Print only network ids.
    #[arg(short, long)]
    pub quiet: bool,
    /// Output format: `table` (default), `table TEMPLATE`, a Go template (`{{.Name}}`), or `json`.
    #[arg(long)]
    pub format: Option<String>,
    /// Filter: `name=`, `id=`, `driver=`, `label=K[=V]`, `type=custom|builtin` (docker's).
    #[arg(short, long = "filter", value_name = "FILTER")]
    pub filters: Vec<String>,
    /// Do not truncate ids.
    #[arg(long)]
    pub no_trunc: bool,
}

/// Runs a network command; returns the exit status.
pub fn network(engine: &Engine, c: &NetworkCommand) -> Result<i32> {
    match c {
        NetworkCommand::Ls(a) => crate::netcmd::ls(engine, a),
        NetworkCommand::Inspect(a) => {
            let template = crate::inspect::parse_format(a.format.as_deref())?;
            let mut found = Vec::new();
            let mut code = 0;
            for n in &a.names {
                match engine.network_inspect(n)? {
                    Some(v) => found.push(v),
                    None => {
                        let e = anyhow::anyhow!("network {n} not found");
                        code = code.max(fail(&e, Verb::Other));
                    }
                }
            }
            let mut out = std::io::stdout().lock();
            match template {
                None => writeln!(out, "{}", serde_json::to_string_pretty(&found)?)?,
                Some(t) => {
                    for v in &found {
                        match t.execute(v) {
                            Ok(s) => writeln!(out, "{s}")?,
                            Err(e) => code = code.max(fail(&e.into(), Verb::Other)),
                        }
                    }
                }
            }
            Ok(code)
        }
        NetworkCommand::Create(a) => crate::netcmd::create(engine, a),
        NetworkCommand::Rm(a) => crate::netcmd::rm(engine, a),
        NetworkCommand::Prune(a) => crate::netcmd::prune(engine, a),
        NetworkCommand::Connect(a) => crate::netcmd::connect(engine, a),
        NetworkCommand::Disconnect(a) => crate::netcmd::disconnect(engine, a),
    }
}
