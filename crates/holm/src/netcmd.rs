//! `holm network ls|create|rm|prune|connect|disconnect` (docker's flags and output); the work is
//! `holm_engine::networks`'.

use crate::exitcode::{fail, Verb};
use crate::format::Format;
use crate::network::{LsArgs, LS_DEFAULT};
use anyhow::Result;
use clap::Args;
use holm_engine::network_api::NetworkFilters;
use holm_engine::networks::CreateNetwork;
use holm_engine::Engine;
use serde_json::{json, Value};

/// `holm network create`.
#[derive(Debug, Args)]
pub struct CreateArgs {
    /// Driver (only `bridge`).
    #[arg(short, long, default_value = "bridge")]
    pub driver: String,
    /// Subnet in CIDR form (`10.1.2.0/24`); default: the next free /24 of 10.78.0.0/16.
    #[arg(long)]
    pub subnet: Option<String>,
    /// Gateway of the subnet (default: its first address).
    #[arg(long)]
    pub gateway: Option<String>,
    /// No route out of the network (no NAT).
    #[arg(long)]
    pub internal: bool,
    /// Set a label: `K=V`.
    #[arg(long = "label", value_name = "K=V")]
    pub labels: Vec<String>,
    /// Driver option `K=V` (recorded, shown by inspect).
    #[arg(short, long = "opt", value_name = "K=V")]
    pub opts: Vec<String>,
    /// The network's name.
    pub name: String,
}

/// `holm network rm`.
#[derive(Debug, Args)]
pub struct RmArgs {
    /// Do not fail when a network does not exist.
    #[arg(short, long)]
    pub force: bool,
    /// Networks (names, ids or id prefixes).
    #[arg(required = true)]
    pub networks: Vec<String>,
}

/// `holm network prune`.
#[derive(Debug, Args)]
pub struct PruneArgs {
    /// Do not ask for confirmation.
    #[arg(short, long)]
    pub force: bool,
    /// Only networks with this label: `label=K` or `label=K=V`.
    #[arg(long = "filter", value_name = "FILTER")]
    pub filters: Vec<String>,
}

/// `holm network connect`.
#[derive(Debug, Args)]
pub struct ConnectArgs {
    /// A further name of the container on the network.
    #[arg(long = "alias")]
    pub aliases: Vec<String>,
    /// The container's IPv4 address on the network.
    #[arg(long)]
    pub ip: Option<String>,
    /// The network.
    pub network: String,
    /// The container.
    pub container: String,
}

/// `holm network disconnect`.
#[derive(Debug, Args)]
pub struct DisconnectArgs {
    /// Do not fail when the container is not on the network, or the network is gone.
    #[arg(short, long)]
    pub force: bool,
    /// The network.
    pub network: String,
    /// The container.
    pub container: String,
}

/// One `network ls` row: docker's fields.
fn row(id: &str, name: &str, driver: &str, internal: bool, labels: &str, created: &str) -> Value {
    json!({"ID": id, "Name": name, "Driver": driver, "Scope": "local", "IPv6": false,
           "Internal": internal, "Labels": labels, "CreatedAt": created})
}

/// `network ls`.
pub fn ls(engine: &Engine, a: &LsArgs) -> Result<i32> {
    let filters = NetworkFilters::parse(&a.filters)?;
    let format = Format::parse(a.format.as_deref(), LS_DEFAULT)?;
    let mut rows = Vec::new();
    let mut full = Vec::new();
    for n in engine.network_list(&filters)? {
        // a user network's id is shown short unless --no-trunc (the predefined ones' ids are their names)
        let id = if a.no_trunc || n.builtin {
            n.id.clone()
        } else {
            n.id[..12].to_string()
        };
        let labels = n
            .labels
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(",");
        rows.push(row(
            &id,
            &n.name,
            &n.driver,
            n.internal,
            &labels,
            &holm_format::time::created_at(&n.created),
        ));
        full.push(n.json);
    }
    if a.quiet {
        for r in &rows {
            println!("{}", r["ID"].as_str().unwrap_or_default());
        }
        return Ok(0);
    }
    if let Format::Json = format {
        println!("{}", serde_json::to_string_pretty(&full)?);
        return Ok(0);
    }
    let headers = json!({
        "ID": "NETWORK ID", "Name": "NAME", "Driver": "DRIVER", "Scope": "SCOPE", "IPv6": "IPV6",
        "Internal": "INTERNAL", "Labels": "LABELS", "CreatedAt": "CREATED AT",
    });
    print!("{}", format.render(&rows, &headers)?);
    Ok(0)
}

/// `network create`: prints the new network's id.
pub fn create(engine: &Engine, a: &CreateArgs) -> Result<i32> {
    let rec = engine.network_create(&CreateNetwork {
        name: a.name.clone(),
        driver: a.driver.clone(),
        subnet: a.subnet.clone(),
        gateway: a.gateway.clone(),
        internal: a.internal,
        labels: a.labels.clone(),
        options: a.opts.clone(),
    })?;
    println!("{}", rec.id);
    Ok(0)
}

/// `network rm`: each network's name as it goes; the others still tried after a failure (exit 1).
pub fn rm(engine: &Engine, a: &RmArgs) -> Result<i32> {
    let mut code = 0;
    for n in &a.networks {
        match engine.network_remove(n) {
            Ok(_) => println!("{n}"),
            Err(holm_engine::Error::NoSuchNetwork(_)) if a.force => {}
            Err(e) => code = code.max(fail(&e.into(), Verb::Other)),
        }
    }
    Ok(code)
}

/// `network prune`.
pub fn prune(engine: &Engine, a: &PruneArgs) -> Result<i32> {
    let mut labels = Vec::new();
    for f in &a.filters {
        match f.split_once('=') {
            Some(("label", v)) => labels.push(v.to_string()),
            _ => anyhow::bail!("invalid filter '{f}' (holm's network prune takes label=K[=V])"),
        }
    }
    if !crate::confirm::confirm(
        a.force,
        "WARNING! This will remove all custom networks not used by at least one container.",
    )? {
        return Ok(0);
    }
    let gone = engine.network_prune(&labels)?;
    if !gone.is_empty() {
        println!("Deleted Networks:");
        for g in gone {
            println!("{g}");
        }
    }
    Ok(0)
}

/// `network connect`.
pub fn connect(engine: &Engine, a: &ConnectArgs) -> Result<i32> {
    let ip =
        a.ip.as_deref()
            .map(|s| {
                s.parse()
                    .map_err(|_| holm_engine::Error::flag("--ip", s, "not an IPv4 address"))
            })
            .transpose()?;
    engine.network_connect(&a.network, &a.container, &a.aliases, ip)?;
    Ok(0)
}

/// `network disconnect`.
pub fn disconnect(engine: &Engine, a: &DisconnectArgs) -> Result<i32> {
    engine.network_disconnect(&a.network, &a.container, a.force)?;
    Ok(0)
}
