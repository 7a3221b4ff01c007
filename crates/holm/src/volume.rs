//! `holm volume create|ls|inspect|rm|prune`.

use anyhow::Result;
use clap::{Args, Subcommand};
use holm_engine::Engine;
use serde_json::json;

/// `holm volume …`.
#[derive(Debug, Subcommand)]
pub enum VolumeCommand {
    /// Create a volume (a random name if none is given).
    Create(CreateArgs),
    /// List volumes.
    #[command(alias = "list")]
    Ls(LsArgs),
    /// Show details of volumes as JSON.
    Inspect(NamesArgs),
    /// Remove volumes (not while a container uses them).
    #[command(alias = "remove")]
    Rm(RmArgs),
    /// Remove every volume no container uses.
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
}

/// Volume names.
#[derive(Debug, Args)]
pub struct NamesArgs {
    /// Volumes.
    #[arg(required = true)]
    pub names: Vec<String>,
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
    /// Do not ask for confirmation (holm never asks; accepted for compatibility).
    #[arg(short, long)]
    pub force: bool,
    /// Accepted for compatibility: every unused volume is removed.
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
            let list = engine.volume_list()?;
            if !a.quiet {
                println!("{:<10}VOLUME NAME", "DRIVER");
            }
            for v in list {
                if a.quiet {
                    println!("{}", v.name);
                } else {
                    println!("{:<10}{}", "local", v.name);
                }
            }
            Ok(0)
        }
        VolumeCommand::Inspect(a) => {
            let mut out = Vec::new();
            let mut code = 0;
            for n in &a.names {
                match engine.volume_get(n) {
                    Ok(v) => out.push(json!({
                        "CreatedAt": v.created,
                        "Driver": "local",
                        "Labels": v.labels,
                        "Mountpoint": engine.volume_path(&v.name),
                        "Name": v.name,
                        "Options": {},
                        "Scope": "local",
                    })),
                    Err(e) => {
                        code = code.max(crate::exitcode::fail(
                            &e.into(),
                            crate::exitcode::Verb::Other,
                        ));
                    }
                }
            }
            println!("{}", serde_json::to_string_pretty(&out)?);
            Ok(code)
        }
        VolumeCommand::Rm(a) => {
            crate::stop::each(&a.names, |n| engine.volume_remove(n).map(|_| n.to_string()))
        }
        VolumeCommand::Prune(_) => {
            let gone = engine.volume_prune()?;
            if !gone.is_empty() {
                println!("Deleted Volumes:");
                for g in &gone {
                    println!("{g}");
                }
                println!();
            }
            println!("Total reclaimed volumes: {}", gone.len());
            Ok(0)
        }
    }
}
