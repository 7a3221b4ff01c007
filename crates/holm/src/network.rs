//! `holm network ls|inspect`: holm's three networks as docker shows its predefined ones — `bridge` (the `holm0`
//! bridge, driver `bridge`), `host` (driver `host`) and `none` (driver `null`) — and the user-defined networks
//! (`network create|rm|prune|connect|disconnect`: see `netcmd`).

use crate::exitcode::{fail, Verb};
use anyhow::Result;
use clap::{Args, Subcommand};
use holm_engine::lifecycle::Status;
use holm_engine::Engine;
use serde_json::{json, Value};
use std::io::Write;

/// docker's default `network ls` columns.
pub const LS_DEFAULT: &str = "{{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}";

pub const NETWORKS: [(&str, &str); 3] = [("bridge", "bridge"), ("host", "host"), ("none", "null")];

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

/// docker's network JSON for the network called `name`, `None` if there is no such network (`holm inspect`).
pub fn find_json(engine: &Engine, name: &str) -> Result<Option<Value>> {
    match NETWORKS.iter().find(|(n, _)| *n == name) {
        Some((n, d)) => Ok(Some(network_json(engine, n, d)?)),
        None => match engine.network_find(name) {
            Ok(rec) => Ok(Some(engine.network_json(&rec)?)),
            Err(holm_engine::Error::NoSuchNetwork(_)) => Ok(None),
            Err(e) => Err(e.into()),
        },
    }
}

/// docker's network JSON for `name` (one of [`NETWORKS`]) with the engine's running containers on it.
pub fn network_json(engine: &Engine, name: &str, driver: &str) -> Result<Value> {
    let mut containers = serde_json::Map::new();
    for (rec, st) in engine.list()? {
        if !matches!(st, Status::Running | Status::Paused)
            || holm_engine::network::mode(&rec.config).map_or("bridge", |m| m.as_str()) != name
        {
            continue;
        }
        let net = holm_engine::network::state(engine, &rec.id).unwrap_or_default();
        containers.insert(
            rec.id.clone(),
            json!({
                "Name": rec.name,
                "EndpointID": if name == "bridge" { rec.id.as_str() } else { "" },
                "MacAddress": net.mac,
                "IPv4Address": net.ip.map(|ip| format!("{ip}/{}", holm_network::SUBNET.1)).unwrap_or_default(),
                "IPv6Address": "",
            }),
        );
    }
    let config = if name == "bridge" {
        json!([{
            "Subnet": format!("{}/{}", holm_network::SUBNET.0, holm_network::SUBNET.1),
            "Gateway": holm_network::GATEWAY.to_string(),
        }])
    } else {
        json!([])
    };
    let options = if name == "bridge" {
        json!({"com.docker.network.bridge.name": holm_network::BRIDGE})
    } else {
        json!({})
    };
    Ok(json!({
        "Name": name,
        "Id": name,
        "Scope": "local",
        "Driver": driver,
        "EnableIPv6": false,
        "IPAM": {"Driver": "default", "Options": null, "Config": config},
        "Internal": false,
        "Attachable": false,
        "Ingress": false,
        "Containers": containers,
        "Options": options,
        "Labels": {},
    }))
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
                match find_json(engine, n)? {
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
