//! `holm top`, `stats`, `rename`, `port`, `container prune`, `version`, `info`.

use anyhow::Result;
use clap::{Args, Subcommand};
use holm_engine::lifecycle::Status;
use holm_engine::{Engine, State};
use holm_format::size::{iec, size as human_size};
use std::io::Write;

/// `holm top`.
#[derive(Debug, Args)]
pub struct TopArgs {
    /// The container (name, id or id prefix).
    pub container: String,
    /// Options for ps(1) (default `-ef`).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub ps_args: Vec<String>,
}

/// `holm top C [PS OPTIONS]`: as docker, runs the host's `ps` and keeps the rows of the container's processes.
pub fn top(engine: &Engine, a: &TopArgs) -> Result<i32> {
    let top = engine.container_top(&a.container, &a.ps_args)?;
    let mut w = std::io::stdout().lock();
    writeln!(w, "{}", top.header)?;
    for l in &top.lines {
        writeln!(w, "{l}")?;
    }
    Ok(0)
}

/// `holm stats`.
#[derive(Debug, Args)]
pub struct StatsArgs {
    /// Print one sample and exit (default: refresh every second).
    #[arg(long)]
    pub no_stream: bool,
    /// Show every container, not only running ones.
    #[arg(short, long)]
    pub all: bool,
    /// Output format: `table` (default), `table TEMPLATE`, a Go template over docker's fields (`{{.Name}}
    /// {{.CPUPerc}} {{.MemUsage}}`), or `json`.
    #[arg(long)]
    pub format: Option<String>,
    /// Do not truncate ids.
    #[arg(long)]
    pub no_trunc: bool,
    /// Containers (default: all running ones).
    pub containers: Vec<String>,
}

/// holm's default `stats` columns (docker's, without BLOCK I/O, which holm does not sample).
const STATS_DEFAULT: &str =
    "{{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t{{.PIDs}}";

/// Column titles of docker's `stats` fields.
fn stats_headers() -> serde_json::Value {
    serde_json::json!({
        "ID": "CONTAINER ID", "Container": "CONTAINER", "Name": "NAME", "CPUPerc": "CPU %",
        "MemUsage": "MEM USAGE / LIMIT", "MemPerc": "MEM %", "NetIO": "NET I/O", "BlockIO": "BLOCK I/O",
        "PIDs": "PIDS",
    })
}

/// `holm stats [--no-stream] [--format F] [C...]`: docker's table (CPU %, memory usage / limit, memory %, NET I/O
/// received / sent on the bridge network, PIDs) or docker's `--format` fields (`ID Container Name CPUPerc MemUsage
/// MemPerc NetIO BlockIO PIDs`; BlockIO is `--`: not sampled).
pub fn stats(engine: &Engine, a: &StatsArgs) -> Result<i32> {
    let format = crate::format::Format::parse(a.format.as_deref(), STATS_DEFAULT)?;
    // (id, name, running, as the user named it: docker's `.Container`)
    let pick = || -> Result<Vec<(String, String, bool, String)>> {
        let mut out = Vec::new();
        if a.containers.is_empty() {
            for (r, st) in engine.list()? {
                let running = matches!(st, Status::Running | Status::Paused);
                if running || a.all {
                    let short = r.id[..12].to_string();
                    out.push((r.id, r.name, running, short));
                }
            }
        } else {
            for c in &a.containers {
                let r = engine.find(c)?;
                let running = r.state == State::Running;
                out.push((r.id, r.name, running, c.clone()));
            }
        }
        Ok(out)
    };
    loop {
        let list = pick()?;
        let targets: Vec<(&str, bool)> = list
            .iter()
            .map(|(id, _, run, _)| (id.as_str(), *run))
            .collect();
        let usage = engine.containers_usage(&targets);
        let mut rows = Vec::new();
        for ((id, name, _, given), u) in list.iter().zip(usage) {
            let (cpu, mem, mem_pct, pids) = if u.sampled {
                (
                    format!("{:.2}%", u.cpu_percent),
                    format!("{} / {}", iec(u.mem_usage), iec(u.mem_limit)),
                    format!(
                        "{:.2}%",
                        if u.mem_limit > 0 {
                            u.mem_usage as f64 / u.mem_limit as f64 * 100.0
                        } else {
                            0.0
                        }
                    ),
                    u.pids.to_string(),
                )
            } else {
                ("0.00%".into(), "0B / 0B".into(), "0.00%".into(), "0".into())
            };
            let net = u.net_io.map_or_else(
                || "--".into(),
                |(rx, tx)| format!("{} / {}", human_size(rx), human_size(tx)),
            );
            rows.push(serde_json::json!({
                "ID": if a.no_trunc { id.clone() } else { id[..12].to_string() },
                "Container": given,
                "Name": name,
                "CPUPerc": cpu,
                "MemUsage": mem,
                "MemPerc": mem_pct,
                "NetIO": net,
                "BlockIO": "--",
                "PIDs": pids,
            }));
        }
        let mut out = std::io::stdout().lock();
        if let crate::format::Format::Json = format {
            writeln!(out, "{}", serde_json::to_string_pretty(&rows)?)?;
        } else {
            if !a.no_stream {
                // docker clears the screen between samples
                write!(out, "\x1b[2J\x1b[H")?;
            }
            out.write_all(format.render(&rows, &stats_headers())?.as_bytes())?;
        }
        out.flush()?;
        if a.no_stream {
            return Ok(0);
        }
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
}

/// `holm rename`.
#[derive(Debug, Args)]
pub struct RenameArgs {
    /// The container (name, id or id prefix).
    pub container: String,
    /// Its new name.
    pub new_name: String,
}

/// `holm rename C NEW`.
pub fn rename(engine: &Engine, a: &RenameArgs) -> Result<i32> {
    engine.find(&a.container)?; // a missing container first, as docker's
    holm_engine::ids::validate_name_as(&a.new_name, "NEW_NAME")?;
    engine.rename(&a.container, &a.new_name)?;
    Ok(0)
}

/// `holm port`.
#[derive(Debug, Args)]
pub struct PortArgs {
    /// The container (name, id or id prefix).
    pub container: String,
    /// A private port (`80`, `80/tcp`).
    pub port: Option<String>,
}

/// `holm port C [PORT[/PROTO]]`: the container's published ports in docker's format (`80/tcp -> 0.0.0.0:8080`),
/// or with PORT the host addresses of that one (`0.0.0.0:8080`). A stopped container publishes nothing.
pub fn port(engine: &Engine, a: &PortArgs) -> Result<i32> {
    let rec = engine.find(&a.container)?;
    let ports = engine.container_ports(&rec);
    match &a.port {
        Some(want) => {
            let key = if want.contains('/') {
                want.clone()
            } else {
                format!("{want}/tcp")
            };
            let found: Vec<_> = ports.iter().filter(|p| p.key() == key).collect();
            if found.is_empty() {
                // docker's CLI error: exit status 1.
                eprintln!("Error: No public port '{key}' published for {}", rec.name);
                return Ok(1);
            }
            for p in found {
                println!("{}", p.host_addr());
            }
        }
        None => {
            for p in &ports {
                println!("{} -> {}", p.key(), p.host_addr());
            }
        }
    }
    Ok(0)
}

/// `holm container …` (docker's management-command spellings of the most used verbs).
#[derive(Debug, Subcommand)]
pub enum ContainerCommand {
    /// Remove every stopped container.
    Prune(PruneArgs),
    /// List containers (as `holm ps`).
    #[command(visible_aliases = ["ps", "list"])]
    Ls(crate::ps::PsArgs),
    /// Show details of containers (as `holm inspect --type container`).
    Inspect(crate::inspect::TypedArgs),
    /// Remove containers (as `holm rm`).
    #[command(visible_alias = "remove")]
    Rm(crate::stop::RmArgs),
}

/// `holm container prune`.
#[derive(Debug, Args)]
pub struct PruneArgs {
    /// Do not ask for confirmation.
    #[arg(short, long)]
    pub force: bool,
}

/// `holm container prune|ls|inspect|rm`.
pub fn container(engine: &Engine, c: &ContainerCommand) -> Result<i32> {
    match c {
        ContainerCommand::Ls(a) => crate::ps::ps(engine, a),
        ContainerCommand::Inspect(a) => crate::inspect::inspect(
            engine,
            Some(crate::inspect::Kind::Container),
            a.format.as_deref(),
            &a.names,
        ),
        ContainerCommand::Rm(a) => crate::stop::rm(engine, a),
        ContainerCommand::Prune(a) => {
            if !crate::confirm::confirm(
                a.force,
                "WARNING! This will remove all stopped containers.",
            )? {
                return Ok(0);
            }
            let (ids, bytes) = engine.prune()?;
            let mut out = std::io::stdout().lock();
            if !ids.is_empty() {
                writeln!(out, "Deleted Containers:")?;
                for id in &ids {
                    writeln!(out, "{id}")?;
                }
                writeln!(out)?;
            }
            writeln!(out, "Total reclaimed space: {}", human_size(bytes))?;
            Ok(0)
        }
    }
}

/// `holm system …`.
#[derive(Debug, Subcommand)]
pub enum SystemCommand {
    /// Show disk usage of images and containers.
    Df,
    /// Remove stopped containers and unused images (dangling ones; with -a every image no container uses), and
    /// with --volumes unused anonymous volumes.
    Prune(SystemPruneArgs),
    /// Show facts about the engine and the host (as `holm info`).
    Info,
    /// Serve the Docker Engine API on a Unix socket (podman's verb).
    Service(crate::service::ServiceArgs),
}

/// `holm system prune`.
#[derive(Debug, Args)]
pub struct SystemPruneArgs {
    /// Remove every unused image, not only dangling ones.
    #[arg(short, long)]
    pub all: bool,
    /// Do not ask for confirmation.
    #[arg(short, long)]
    pub force: bool,
    /// Remove unused anonymous volumes too (named ones stay, as with docker 23+; `volume prune -a` removes them).
    #[arg(long)]
    pub volumes: bool,
}

/// `holm system df|prune|info`.
pub fn system(engine: &Engine, c: &SystemCommand) -> Result<i32> {
    match c {
        SystemCommand::Info => info(engine),
        SystemCommand::Service(a) => crate::service::service(engine, a),
        SystemCommand::Df => {
            let du = engine.system_df()?;
            let pct = |a: u64, b: u64| (a * 100).checked_div(b).unwrap_or(0);
            let row = |kind: &str, r: holm_engine::system::UsageRow| {
                format!(
                    "{kind}\t{}\t{}\t{}\t{} ({}%)",
                    r.total,
                    r.active,
                    human_size(r.size),
                    human_size(r.reclaimable),
                    pct(r.reclaimable, r.size)
                )
            };
            let table = [
                "TYPE\tTOTAL\tACTIVE\tSIZE\tRECLAIMABLE".to_string(),
                row("Images", du.images),
                row("Containers", du.containers),
                row("Local Volumes", du.volumes),
            ];
            println!("{}", crate::format::tabwrite(&table.join("\n"), 0, 3));
            Ok(0)
        }
        SystemCommand::Prune(a) => {
            let mut warning =
                String::from("WARNING! This will remove:\n  - all stopped containers\n  - all networks not used by at least one container\n");
            if a.volumes {
                warning.push_str("  - all anonymous volumes not used by at least one container\n");
            }
            warning.push_str(if a.all {
                "  - all images without at least one container associated to them\n"
            } else {
                "  - all dangling images\n"
            });
            if !crate::confirm::confirm(a.force, &warning)? {
                return Ok(0);
            }
            let p = engine.system_prune(a.all, a.volumes)?;
            let mut out = std::io::stdout().lock();
            if !p.containers_deleted.is_empty() {
                writeln!(out, "Deleted Containers:")?;
                for id in &p.containers_deleted {
                    writeln!(out, "{id}")?;
                }
                writeln!(out)?;
            }
            if !p.networks_deleted.is_empty() {
                writeln!(out, "Deleted Networks:")?;
                for n in &p.networks_deleted {
                    writeln!(out, "{n}")?;
                }
                writeln!(out)?;
            }
            if !p.volumes_deleted.is_empty() {
                writeln!(out, "Deleted Volumes:")?;
                for v in &p.volumes_deleted {
                    writeln!(out, "{v}")?;
                }
                writeln!(out)?;
            }
            crate::commands::print_deleted_images(&mut out, &p.images_deleted)?;
            writeln!(
                out,
                "Total reclaimed space: {}",
                human_size(p.space_reclaimed)
            )?;
            Ok(0)
        }
    }
}

/// `holm version`.
pub fn version(engine: &Engine) -> Result<i32> {
    let v = engine.system_version();
    println!("Client:");
    println!(" Version:     {}", env!("CARGO_PKG_VERSION"));
    println!(" OS/Arch:     {}/{}", v.os, v.arch);
    println!();
    println!("Engine:");
    println!(" Version:     {} (daemonless)", v.version);
    println!(
        " Runtime:     {} (built in)",
        holm_engine::system::DEFAULT_RUNTIME
    );
    println!(" Kernel:      {}", v.kernel_version);
    Ok(0)
}

/// `holm info`: docker's main facts about this engine and host.
pub fn info(engine: &Engine) -> Result<i32> {
    let i = engine.system_info()?;
    println!("Containers: {}", i.containers);
    println!(" Running: {}", i.containers_running);
    println!(" Paused: {}", i.containers_paused);
    println!(" Stopped: {}", i.containers_stopped);
    println!("Images: {}", i.images);
    println!("Server Version: {} (daemonless)", i.server_version);
    println!("Storage Driver: {}", i.driver);
    println!("Logging Driver: {}", i.logging_driver);
    println!("Cgroup Driver: {}", i.cgroup_driver);
    println!("Cgroup Version: {}", i.cgroup_layout);
    println!("Runtimes: {} (built in)", i.default_runtime);
    println!("Security Options:");
    println!(" seccomp");
    println!("  Profile: builtin");
    println!("Kernel Version: {}", i.kernel_version);
    println!("Operating System: {}", i.operating_system);
    println!("OSType: {}", i.os_type);
    println!("Architecture: {}", i.architecture);
    println!("CPUs: {}", i.ncpu);
    println!("Total Memory: {}", human_size(i.mem_total));
    println!("Root Dir: {}", i.docker_root_dir);
    println!("Run Dir: {}", i.run_dir);
    println!(
        "Networking: bridge ({}, nftables NAT), host, none, container:NAME",
        i.bridge
    );
    Ok(0)
}
