//! `holm volume create|ls|inspect|rm|prune`.

use crate::format::Format;
use anyhow::Result;
use clap::{Args, Subcommand};
use holm_engine::Engine;
use serde_json::{json, Value};

/// docker's default `volume ls` columns.
const LS_DEFAULT: &str = "{{.Driver}}\t{{.Name}}";

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
            let filters = holm_engine::volume_api::VolumeFilters::parse(&a.filter)?;
            let list = engine.volume_list_filtered(&filters)?;
            if a.quiet {
                for v in list {
                    println!("{}", v.name);
                }
                return Ok(0);
            }
            if let Format::Json = format {
                let all: Vec<_> = list.iter().map(|v| engine.volume_info(v)).collect();
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
