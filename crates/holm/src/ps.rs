//! `holm ps`: docker's table (CONTAINER ID, IMAGE, COMMAND, CREATED, STATUS, PORTS, NAMES), `-q`, or JSON.

use crate::cli::ListFormat;
use crate::human;
use anyhow::Result;
use clap::Args;
use holm_engine::lifecycle::Status;
use holm_engine::{ContainerRecord, Engine};
use std::io::Write;

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
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    pub format: ListFormat,
    /// Filter: `label=K[=V]`, `name=N`, `id=PREFIX`, `status=S` (repeatable; all must hold).
    #[arg(short, long = "filter", value_name = "KEY=VALUE")]
    pub filter: Vec<String>,
}

/// Checks every `--filter` before any container is looked at (an unknown filter is an error even when no
/// container is listed, as docker's).
fn check_filters(filters: &[String]) -> holm_engine::Result<()> {
    for f in filters {
        let Some((k, _)) = f.split_once('=') else {
            return Err(holm_engine::Error::flag(
                "--filter",
                f,
                "expected KEY=VALUE",
            ));
        };
        if !["label", "name", "id", "status"].contains(&k) {
            return Err(holm_engine::Error::flag(
                "--filter",
                f,
                format!("invalid filter '{k}' (holm has label, name, id, status)"),
            ));
        }
    }
    Ok(())
}

/// True if the container passes every `--filter` (checked by [`check_filters`]).
fn matches(filters: &[String], rec: &ContainerRecord, st: Status) -> bool {
    for f in filters {
        let (k, v) = f.split_once('=').unwrap_or((f, ""));
        let ok = match k {
            "label" => match v.split_once('=') {
                Some((lk, lv)) => rec.config.labels.get(lk).is_some_and(|x| x == lv),
                None => rec.config.labels.contains_key(v),
            },
            "name" => rec.name.contains(v.trim_start_matches('/')),
            "id" => rec.id.starts_with(v),
            "status" => st.as_str() == v,
            _ => false,
        };
        if !ok {
            return false;
        }
    }
    true
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// docker's STATUS column: `Created`, `Up 5 seconds`, `Up 2 minutes (Paused)`, `Exited (0) 3 seconds ago`.
pub fn status_text(rec: &ContainerRecord, st: Status, now: i64) -> String {
    let since = |t: &str| human::parse_rfc3339(t).map(|t| human::ago(t, now));
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
            let code = rec
                .exit_code
                .map_or_else(|| "unknown".to_string(), |c| c.to_string());
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

/// `holm ps [-a] [-q] [--format json]`.
pub fn ps(engine: &Engine, a: &PsArgs) -> Result<i32> {
    check_filters(&a.filter)?;
    let mut list = Vec::new();
    for (r, st) in engine.list()? {
        let shown = a.all
            || matches!(st, Status::Running | Status::Paused | Status::Restarting)
            || a.filter.iter().any(|f| f.starts_with("status="));
        if shown && matches(&a.filter, &r, st) {
            list.push((r, st));
        }
    }
    let mut out = std::io::stdout().lock();
    let id = |r: &ContainerRecord| {
        if a.no_trunc {
            r.id.clone()
        } else {
            r.id[..12].to_string()
        }
    };
    if a.quiet {
        for (r, _) in &list {
            writeln!(out, "{}", id(r))?;
        }
        return Ok(0);
    }
    if a.format == ListFormat::Json {
        let v: Vec<_> = list
            .iter()
            .map(|(r, st)| holm_engine::inspect::ps_json(r, *st))
            .collect();
        writeln!(out, "{}", serde_json::to_string_pretty(&v)?)?;
        return Ok(0);
    }
    let now = now();
    let mut rows = vec![[
        "CONTAINER ID".to_string(),
        "IMAGE".into(),
        "COMMAND".into(),
        "CREATED".into(),
        "STATUS".into(),
        "PORTS".into(),
        "NAMES".into(),
    ]];
    for (r, st) in &list {
        rows.push([
            id(r),
            r.image.clone(),
            command_text(&r.config.args, a.no_trunc),
            human::parse_rfc3339(&r.created).map_or_else(String::new, |t| human::ago(t, now)),
            status_text(r, *st, now),
            if r.state == holm_engine::State::Running {
                holm_engine::network::ports_text(engine, &r.id)
            } else {
                String::new()
            },
            r.name.clone(),
        ]);
    }
    let mut widths = [0usize; 7];
    for row in &rows {
        for (w, c) in widths.iter_mut().zip(row) {
            *w = (*w).max(c.chars().count());
        }
    }
    for row in &rows {
        let mut line = String::new();
        for (i, c) in row.iter().enumerate() {
            if i == 6 {
                line.push_str(c);
            } else {
                line.push_str(c);
                line.push_str(&" ".repeat(widths[i] - c.chars().count() + 3));
            }
        }
        writeln!(out, "{}", line.trim_end())?;
    }
    Ok(0)
}
