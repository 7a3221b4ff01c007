//! `holm ps`: docker's table (CONTAINER ID, IMAGE, COMMAND, CREATED, STATUS, PORTS, NAMES), `-q`, JSON, or a
//! docker `--format` template over docker's field names (see [`row`]).

use crate::format::{self, Format};
use anyhow::Result;
use clap::Args;
use holm_engine::lifecycle::Status;
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
    /// Filter: `label=K[=V]`, `name=REGEX`, `id=PREFIX`, `status=S`, `exited=CODE`, `ancestor=IMAGE`
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

/// The `--filter` keys holm knows.
const FILTERS: [&str; 7] = [
    "label", "name", "id", "status", "exited", "ancestor", "network",
];

/// docker's `ancestor=`: the container was created from this image, named as given (`busybox`,
/// `busybox:latest`, `docker.io/library/busybox`) or by id (prefix). holm's images have no parents, so only the
/// image itself is an ancestor.
fn is_ancestor(v: &str, rec: &ContainerRecord) -> bool {
    let hex = rec.image_id.trim_start_matches("sha256:");
    let want = v.trim_start_matches("sha256:");
    if want.len() >= 4 && hex.starts_with(want) {
        return true;
    }
    let norm =
        |s: &str| holm_image::Reference::parse_normalized(s).map(|r| r.or_latest().to_string());
    match (norm(v), norm(&rec.image)) {
        (Ok(a), Ok(b)) => a == b,
        _ => v == rec.image,
    }
}

/// Checks every `--filter` before any container is looked at (an unknown filter is an error even when no
/// container is listed, as docker's).
fn check_filters(filters: &[String]) -> holm_engine::Result<Vec<regex::Regex>> {
    let mut names = Vec::new();
    for f in filters {
        let Some((k, v)) = f.split_once('=') else {
            return Err(holm_engine::Error::flag(
                "--filter",
                f,
                "expected KEY=VALUE",
            ));
        };
        if !FILTERS.contains(&k) {
            return Err(holm_engine::Error::flag(
                "--filter",
                f,
                format!("invalid filter '{k}' (holm has {})", FILTERS.join(", ")),
            ));
        }
        // docker's container states (`removing` and `dead` never happen in holm, but are valid words)
        const STATES: [&str; 7] = [
            "created",
            "restarting",
            "running",
            "removing",
            "paused",
            "exited",
            "dead",
        ];
        if k == "status" && !STATES.contains(&v) {
            return Err(holm_engine::Error::flag(
                "--filter",
                f,
                format!("invalid filter '{f}' (status= takes {})", STATES.join(", ")),
            ));
        }
        if k == "exited" && v.parse::<i32>().is_err() {
            return Err(holm_engine::Error::flag(
                "--filter",
                f,
                "exited= takes an exit code",
            ));
        }
        if k == "name" {
            // docker matches the name as a Go regular expression (RE2 syntax, as the regex crate's)
            names.push(regex::Regex::new(v).map_err(|e| {
                let why = e.to_string();
                let why = why.lines().last().unwrap_or("").trim();
                let why = why.strip_prefix("error: ").unwrap_or(why).to_string();
                holm_engine::Error::flag(
                    "--filter",
                    f,
                    format!("invalid regular expression: {why}"),
                )
            })?);
        }
    }
    Ok(names)
}

/// True if the container passes every `--filter` (checked by [`check_filters`], which compiled the `name=`
/// regexes). As docker: the values given for one key are alternatives (`-f status=created -f status=exited`),
/// except `label`, whose values must all hold; every key given must hold. `name=` is a regex matched against the
/// name with and without docker's leading `/` (`name=^/web$` and `name=^web$` both find `web`); `id=` a prefix.
fn matches(filters: &[String], names: &[regex::Regex], rec: &ContainerRecord, st: Status) -> bool {
    let mut keys: Vec<&str> = filters
        .iter()
        .map(|f| f.split_once('=').map_or(f.as_str(), |(k, _)| k))
        .collect();
    keys.sort_unstable();
    keys.dedup();
    let slashed = format!("/{}", rec.name);
    keys.into_iter().all(|key| {
        let mut values = filters
            .iter()
            .filter_map(|f| f.split_once('='))
            .filter(|(k, _)| *k == key)
            .map(|(_, v)| v);
        match key {
            "label" => values.all(|v| match v.split_once('=') {
                Some((lk, lv)) => rec.config.labels.get(lk).is_some_and(|x| x == lv),
                None => rec.config.labels.contains_key(v),
            }),
            "name" => names
                .iter()
                .any(|re| re.is_match(&slashed) || re.is_match(&rec.name)),
            "id" => values.any(|v| rec.id.starts_with(v)),
            "status" => values.any(|v| st.as_str() == v),
            "exited" => {
                values.any(|v| st == Status::Exited && rec.exit_code.unwrap_or(-1).to_string() == v)
            }
            "ancestor" => values.any(|v| is_ancestor(v, rec)),
            "network" => values.any(|v| networks_of(rec).iter().any(|n| n == v)),
            _ => false,
        }
    })
}

/// The networks a container is on, by name: its `--network` (`bridge` when empty) and the user networks it was
/// `network connect`ed to.
fn networks_of(rec: &ContainerRecord) -> Vec<String> {
    let mut v = vec![if rec.config.network.is_empty() {
        "bridge".to_string()
    } else {
        rec.config.network.clone()
    }];
    v.extend(rec.config.connected.iter().map(|a| a.network.clone()));
    v
}

/// docker's STATUS column: `Created`, `Up 5 seconds`, `Up 2 minutes (Paused)`, `Exited (0) 3 seconds ago`.
pub fn status_text(rec: &ContainerRecord, st: Status, now: i64) -> String {
    let since = |t: &str| parse_rfc3339(t).map(|t| ago(t, now));
    match st {
        Status::Created => "Created".into(),
        Status::Running | Status::Paused => {
            let up = since(&rec.started_at)
                .map(|a| a.trim_end_matches(" ago").to_string())
                .unwrap_or_default();
            let paused = if st == Status::Paused {
                " (Paused)"
            } else {
                ""
            };
            format!("Up {up}{paused}")
        }
        Status::Restarting => {
            let code = rec.exit_code.unwrap_or(-1);
            match since(&rec.finished_at) {
                Some(a) => format!("Restarting ({code}) {a}"),
                None => format!("Restarting ({code})"),
            }
        }
        Status::Exited => {
            // -1: the code is unknown (its monitor was killed), as podman shows it and `inspect`/`wait` say.
            let code = rec.exit_code.unwrap_or(-1);
            match since(&rec.finished_at) {
                Some(a) => format!("Exited ({code}) {a}"),
                None => format!("Exited ({code})"),
            }
        }
    }
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
        "Status": status_text(r, st, now) + &if st == Status::Running {
            holm_engine::health::ps_suffix(engine, &r.id).unwrap_or_default()
        } else {
            String::new()
        },
        "Names": r.name,
        "Labels": format::labels_text(&r.config.labels),
        "Label": r.config.labels,
        "Mounts": binds.iter().map(|b| b.source.as_str()).collect::<Vec<_>>().join(","),
        "Networks": networks_of(r).join(","),
        "LocalVolumes": binds.iter().filter(|b| b.volume).count().to_string(),
    })
}

/// `holm ps [-a] [-q] [--format table|json|TEMPLATE]`.
pub fn ps(engine: &Engine, a: &PsArgs) -> Result<i32> {
    let names = check_filters(&a.filter)?;
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
        a.last.filter(|n| *n >= 0)
    };
    let mut list = Vec::new();
    // newest first, as docker lists
    for (r, st) in engine.list()?.into_iter().rev() {
        let shown = a.all
            || last.is_some()
            || matches!(st, Status::Running | Status::Paused | Status::Restarting)
            || a.filter.iter().any(|f| f.starts_with("status="));
        if shown && matches(&a.filter, &names, &r, st) {
            list.push((r, st));
        }
    }
    if let Some(n) = last {
        list.truncate(n as usize);
    }
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
                let rw = engine.writable_size(&r.id);
                let image = engine.image_size(&r.image_id);
                v["Size"] = Value::String(format!(
                    "{} (virtual {})",
                    holm_format::size::size(rw),
                    holm_format::size::size(rw + image)
                ));
            }
            v
        })
        .collect();
    out.write_all(format.render(&rows, &headers())?.as_bytes())?;
    Ok(0)
}
