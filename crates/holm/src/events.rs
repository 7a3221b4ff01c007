//! `holm events`: the engine's event log ([`holm_engine::events`]) in docker's line format, or through a Go
//! template / as JSON (`--format`). Without `--until` it follows the log until interrupted; without `--since`
//! (and `--until`) it shows only events from now on, as docker does.
//!
//! Difference from docker: times are printed in UTC (`2026-01-02T03:04:05.123456789Z`), not the local zone.

use anyhow::Result;
use clap::Args;
use holm_engine::events::{Event, Query};
use holm_engine::events_filter::Filters;
use holm_engine::Engine;
use std::io::Write;

/// `holm events`.
#[derive(Debug, Args)]
pub struct EventsArgs {
    /// Show events from this time on: RFC 3339 date/time, Unix seconds, or a duration before now (`10m`).
    #[arg(long)]
    pub since: Option<String>,
    /// Stop at this time (same forms); without it, follow until interrupted.
    #[arg(long)]
    pub until: Option<String>,
    /// `type=`, `event=`, `container=`, `image=`, `volume=`, `network=`, `label=K[=V]`, `scope=` (repeatable).
    #[arg(short, long = "filter", value_name = "KEY=VALUE")]
    pub filter: Vec<String>,
    /// A Go template (`{{.Type}} {{.Action}}`) or `json`.
    #[arg(long)]
    pub format: Option<String>,
}

/// docker's default line: `TIME TYPE ACTION ID (k=v, k=v)`.
pub fn line(ev: &Event) -> String {
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_nanos(ev.time_nano.max(0) as u64);
    let mut s = format!(
        "{} {} {} {}",
        holm_format::time::rfc3339(t),
        ev.typ,
        ev.action,
        ev.actor.id
    );
    if !ev.actor.attributes.is_empty() {
        let attrs: Vec<String> = ev
            .actor
            .attributes
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        s.push_str(&format!(" ({})", attrs.join(", ")));
    }
    s
}

/// The template's view of an event: docker's Go field names.
fn template_data(ev: &Event) -> serde_json::Value {
    serde_json::json!({
        "Status": ev.status, "ID": ev.id, "From": ev.from, "Type": ev.typ, "Action": ev.action,
        "Actor": {"ID": ev.actor.id, "Attributes": ev.actor.attributes},
        "Scope": ev.scope, "Time": ev.time, "TimeNano": ev.time_nano,
    })
}

/// `holm events`.
pub fn events(engine: &Engine, a: &EventsArgs) -> Result<i32> {
    let q = Query {
        since: a
            .since
            .as_deref()
            .map(|s| holm_engine::events::parse_time("--since", s))
            .transpose()?,
        until: a
            .until
            .as_deref()
            .map(|s| holm_engine::events::parse_time("--until", s))
            .transpose()?,
        filters: Filters::parse(&a.filter)?,
    };
    let json = matches!(a.format.as_deref(), Some("json") | Some("{{json .}}"));
    let tpl = match a.format.as_deref() {
        Some(f) if !json && !f.is_empty() => Some(
            crate::template::Template::parse(f)
                .map_err(|e| holm_engine::Error::flag("--format", f, e.to_string()))?,
        ),
        _ => None,
    };
    let mut out = std::io::stdout().lock();
    for ev in engine.events(&q)? {
        let text = if json {
            serde_json::to_string(&ev)?
        } else if let Some(t) = &tpl {
            t.execute(&template_data(&ev))
                .map_err(|e| anyhow::anyhow!("template: {e}"))?
        } else {
            line(&ev)
        };
        writeln!(out, "{text}")?;
        out.flush()?;
    }
    Ok(0)
}
