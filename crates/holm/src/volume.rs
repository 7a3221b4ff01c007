//! `holm volume create|ls|inspect|rm|prune`.

use crate::format::Format;
use anyhow::Result;
use clap::{Args, Subcommand};
use holm_engine::Engine;
use serde_json::{json, Value};

/// docker's default `volume ls` columns.
const LS_DEFAULT: &str = "{{.Driver}}\t{{.Name}}";

/// docker's volume JSON (`holm volume inspect`, `holm inspect VOLUME`).
pub fn volume_json(engine: &Engine, v: &holm_engine::volumes::Volume) -> Value {
    json!({
        "CreatedAt": v.created,
        "Driver": "local",
        "Labels": v.labels,
        "Mountpoint": engine.volume_path(&v.name),
        "Name": v.name,
        "Options": {},
        "Scope": "local",
    })
}

/// `holm volume …`.
#[derive(Debug, Subcommand)]
pub enum VolumeCommand {
    /// Create a volume (a random name if none is given).
    Create(CreateArgs),
    /// List volumes.
    #[command(alias = "list")]
    Ls(LsArgs),
    /// Show details of volumes as JSON.
    Inspect(crate::inspect::TypedArgs),
    /// Remove volumes (not while a container uses them).
    #[command(alias = "remove")]
    Rm(RmArgs),
    /// Remove unused anonymous volumes (with -a, unused named ones too).
    Prune(PruneArgs),
}

/// `holm volume create`.
#[derive(Debug, Args)]
pub struct CreateArgs {
    /// Set a label: `K=V`.
    #[arg(short, long = "label", value_name = "K=V")]
    pub labels: Vec<String>,
    /// The name.
    pub name: Option<String>,
}

/// `holm volume ls`.
#[derive(Debug, Args)]
pub struct LsArgs {
    /// Print only names.
    #[arg(short, long)]
    pub quiet: bool,
    /// Output format: `table` (default), `table TEMPLATE`, a Go template (`{{.Name}}`), or `json`.
    #[arg(long)]
    pub format: Option<String>,
    /// Filter: `dangling=true|false` (used by no container), `name=PART`, `label=K[=V]`, `driver=local`
    /// (repeatable; all must hold).
    #[arg(short, long = "filter", value_name = "KEY=VALUE")]
    pub filter: Vec<String>,
}

/// Applies `volume ls --filter`s. Errors: an unknown filter or a bad value, naming it (exit status 125).
fn filter_volumes(
    engine: &Engine,
    filters: &[String],
    mut list: Vec<holm_engine::volumes::Volume>,
) -> Result<Vec<holm_engine::volumes::Volume>> {
    for f in filters {
        let bad = |why: &str| holm_engine::Error::flag("--filter", f, why);
        let Some((k, v)) = f.split_once('=') else {
            return Err(bad("expected KEY=VALUE").into());
        };
        match k {
            "dangling" => {
                let d = match v {
                    "true" | "1" => true,
                    "false" | "0" => false,
                    _ => return Err(bad("dangling= takes true or false").into()),
                };
                let mut keep = Vec::new();
                for vol in list {
                    if engine.volume_users(&vol.name)?.is_empty() == d {
                        keep.push(vol);
                    }
                }
                list = keep;
            }
            "name" => list.retain(|vol| vol.name.contains(v)),
            "driver" => list.retain(|_| v == "local"),
            "label" => {
                let (lk, lv) = v.split_once('=').map_or((v, None), |(a, b)| (a, Some(b)));
                list.retain(|vol| {
                    vol.labels
                        .get(lk)
                        .is_some_and(|x| lv.is_none_or(|w| x == w))
                });
            }
            _ => return Err(bad("invalid filter (holm has dangling, name, label, driver)").into()),
        }
    }
    Ok(list)
}

/// `holm volume rm`.
#[derive(Debug, Args)]
pub struct RmArgs {
    /// Accepted for compatibility (a volume in use is never removed).
    #[arg(short, long)]
    pub force: bool,
    /// Volumes.
    #[arg(required = true)]
    pub names: Vec<String>,
}

/// `holm volume prune`.
#[derive(Debug, Args)]
pub struct PruneArgs {
    /// Do not ask for confirmation.
    #[arg(short, long)]
    pub force: bool,
    /// Remove all unused volumes, not just anonymous ones (docker 23+).
    #[arg(short, long)]
    pub all: bool,
}

/// Runs a volume command.
pub fn volume(engine: &Engine, c: &VolumeCommand) -> Result<i32> {
    match c {
        VolumeCommand::Create(a) => {
            let labels = holm_engine::options::parse_labels(&a.labels)?;
            let (v, _) = engine.volume_create(a.name.as_deref(), labels)?;
            println!("{}", v.name);
            Ok(0)
        }
        VolumeCommand::Ls(a) => {
            let format = Format::parse(a.format.as_deref(), LS_DEFAULT)?;
            let list = filter_volumes(engine, &a.filter, engine.volume_list()?)?;
            if a.quiet {
                for v in list {
                    println!("{}", v.name);
                }
                return Ok(0);
            }
            if let Format::Json = format {
                let all: Vec<Value> = list.iter().map(|v| volume_json(engine, v)).collect();
                println!("{}", serde_json::to_string_pretty(&all)?);
                return Ok(0);
            }
            let rows: Vec<Value> = list
                .iter()
                .map(|v| {
                    json!({
                        "Name": v.name,
                        "Driver": "local",
                        "Scope": "local",
                        "Mountpoint": engine.volume_path(&v.name),
                        "Labels": crate::format::labels_text(&v.labels),
                        "Label": v.labels,
                        "Links": "N/A",
                        "Size": "N/A",
                    })
                })
                .collect();
            let headers = json!({
                "Name": "VOLUME NAME", "Driver": "DRIVER", "Scope": "SCOPE", "Mountpoint": "MOUNTPOINT",
                "Labels": "LABELS", "Label": "LABEL", "Links": "LINKS", "Size": "SIZE",
            });
            print!("{}", format.render(&rows, &headers)?);
            Ok(0)
        }
        VolumeCommand::Inspect(a) => crate::inspect::inspect(
            engine,
            Some(crate::inspect::Kind::Volume),
            a.format.as_deref(),
            &a.names,
        ),
        VolumeCommand::Rm(a) => {
            crate::stop::each(&a.names, |n| engine.volume_remove(n).map(|_| n.to_string()))
        }
        VolumeCommand::Prune(a) => {
            let warning = if a.all {
                "WARNING! This will remove all local volumes not used by at least one container."
            } else {
                "WARNING! This will remove anonymous local volumes not used by at least one container."
            };
            if !crate::confirm::confirm(a.force, warning)? {
                return Ok(0);
            }
            let (gone, bytes) = engine.volume_prune(a.all)?;
            if !gone.is_empty() {
                println!("Deleted Volumes:");
                for g in &gone {
                    println!("{g}");
                }
                println!();
            }
            println!("Total reclaimed space: {}", holm_format::size::size(bytes));
            Ok(0)
        }
    }
}
