//! `holm ps`: docker's table (CONTAINER ID, IMAGE, COMMAND, CREATED, STATUS, PORTS, NAMES), `-q`, JSON, or a
//! docker `--format` template over docker's field names (see [`row`]).

use crate::format::{self, Format};
use anyhow::Result;
use clap::Args;
use holm_engine::lifecycle::Status;
use holm_engine::listing::{ContainerFilters, ListOptions};
use holm_engine::{ContainerRecord, Engine};
use holm_format::time::{ago, parse_rfc3339};
use serde_json::{json, Value};
use std::io::Write;

/// docker's default `ps` columns.
const DEFAULT: &str =
    "{{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}";

/// `holm ps`.
#[derive(Debug, Args)]
pub struct PsArgs {
    /// Show all containers (default: running ones).
    #[arg(short, long)]
    pub all: bool,
    /// Print only container ids.
    #[arg(short, long)]
    pub quiet: bool,
    /// Do not truncate ids and commands.
    #[arg(long)]
    pub no_trunc: bool,
    /// Show sizes: the writable layer, and with the image (`0B (virtual 4.26MB)`); adds docker's SIZE column to
    /// the default table and fills `{{.Size}}`.
    #[arg(short, long)]
    pub size: bool,
    /// Output format: `table` (default), `table TEMPLATE`, a Go template (`{{.ID}} {{.Names}}`), or `json`.
    #[arg(long)]
    pub format: Option<String>,
    /// Filter: `label=K[=V]`, `name=REGEX`, `id=PREFIX`, `status=S`, `exited=CODE`, `ancestor=IMAGE`,
    /// `network=NAME`, `health=starting|healthy|unhealthy|none`
    /// (repeatable: as docker, the values of one key are alternatives, except `label`, whose values must all hold;
    /// different keys must all hold).
    #[arg(short, long = "filter", value_name = "KEY=VALUE")]
    pub filter: Vec<String>,
    /// Show the N last created containers (every state).
    #[arg(
        short = 'n',
        long = "last",
        value_name = "N",
        allow_hyphen_values = true
    )]
    pub last: Option<i64>,
    /// Show the last created container (every state).
    #[arg(short, long)]
    pub latest: bool,
}

fn command_text(args: &[String], no_trunc: bool) -> String {
    let s = args.join(" ");
    if no_trunc || s.chars().count() <= 20 {
        format!("\"{s}\"")
    } else {
        format!("\"{}…\"", s.chars().take(19).collect::<String>())
    }
}

/// Column titles of docker's `ps` fields, for `table` formats.
fn headers() -> Value {
    json!({
        "ID": "CONTAINER ID", "Image": "IMAGE", "ImageID": "IMAGE ID", "Command": "COMMAND",
        "CreatedAt": "CREATED AT", "RunningFor": "CREATED", "Ports": "PORTS", "State": "STATE",
        "Status": "STATUS", "Size": "SIZE", "Names": "NAMES", "Labels": "LABELS", "Label": "LABEL",
        "Mounts": "MOUNTS", "Networks": "NETWORKS", "LocalVolumes": "LOCAL VOLUMES",
    })
}

/// One container as docker's `ps` template sees it: `ID` (12 characters unless `--no-trunc`), `Image`, `ImageID`,
/// `Command` (quoted, truncated), `CreatedAt` (`2026-11-29 10:00:00 +0000 UTC`), `RunningFor` (`5 minutes ago`),
/// `Ports`, `State` (`running`), `Status` (`Up 5 minutes`), `Names`, `Labels` (`k=v,k2=v2`), `Label` (for
/// `{{.Label "k"}}`), `Mounts` (volume names and bind sources, comma-separated), `Networks` (`bridge`, `none`,
/// `host`), `LocalVolumes`; `Size` is added by `ps -s`.
pub fn row(engine: &Engine, r: &ContainerRecord, st: Status, now: i64, no_trunc: bool) -> Value {
    let binds: Vec<holm_engine::config::Bind> = r
        .config
        .volumes
        .iter()
        .filter_map(|v| holm_engine::config::parse_volume(v).ok())
        .collect();
    json!({
        "ID": if no_trunc { r.id.clone() } else { r.id[..12].to_string() },
        "Image": r.image,
        "ImageID": r.image_id,
        "Command": command_text(&r.config.args, no_trunc),
        "CreatedAt": holm_format::time::created_at(&r.created),
        "RunningFor": parse_rfc3339(&r.created).map_or_else(String::new, |t| ago(t, now)),
        "Ports": if r.state == holm_engine::State::Running {
            holm_engine::network::ports_text(engine, &r.id)
        } else {
            String::new()
        },
        "State": st.as_str(),
        // docker's `Up 5 seconds (healthy)` (not when paused)
        "Status": engine.container_status_text(r, st, now),
        "Names": r.name,
        "Labels": format::labels_text(&r.config.labels),
        "Label": r.config.labels,
        "Mounts": binds.iter().map(|b| b.source.as_str()).collect::<Vec<_>>().join(","),
        "Networks": holm_engine::listing::networks_of(r).join(","),
        "LocalVolumes": binds.iter().filter(|b| b.volume).count().to_string(),
    })
}

/// `holm ps [-a] [-q] [--format table|json|TEMPLATE]`.
pub fn ps(engine: &Engine, a: &PsArgs) -> Result<i32> {
    let filters = ContainerFilters::parse(&a.filter)?;
    let default = if a.size {
        format!("{DEFAULT}\t{{{{.Size}}}}")
    } else {
        DEFAULT.to_string()
    };
    let format = Format::parse(a.format.as_deref(), &default)?;
    // docker: -n/-l show every state; -n -1 (its default) is no limit
    let last = if a.latest {
        Some(1)
    } else {
        a.last.filter(|n| *n >= 0).map(|n| n as usize)
    };
    let list = engine.container_list(&ListOptions {
        all: a.all,
        last,
        filters,
    })?;
    let mut out = std::io::stdout().lock();
    if a.quiet {
        for (r, _) in &list {
            let id = if a.no_trunc { &r.id[..] } else { &r.id[..12] };
            writeln!(out, "{id}")?;
        }
        return Ok(0);
    }
    if let Format::Json = format {
        let v: Vec<_> = list
            .iter()
            .map(|(r, st)| holm_engine::inspect::ps_json(r, *st))
            .collect();
        writeln!(out, "{}", serde_json::to_string_pretty(&v)?)?;
        return Ok(0);
    }
    let now = holm_format::time::now_secs();
    let rows: Vec<Value> = list
        .iter()
        .map(|(r, st)| {
            let mut v = row(engine, r, *st, now, a.no_trunc);
            if a.size {
                let (rw, root_fs) = engine.container_sizes(r);
                v["Size"] = Value::String(format!(
                    "{} (virtual {})",
                    holm_format::size::size(rw),
                    holm_format::size::size(root_fs)
                ));
            }
            v
        })
        .collect();
    out.write_all(format.render(&rows, &headers())?.as_bytes())?;
    Ok(0)
}
