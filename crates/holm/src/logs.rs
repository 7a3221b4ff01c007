//! `holm logs`: a container's output from its json-file log, to stdout and stderr as it was written.

use anyhow::Result;
use clap::Args;
use holm_engine::logfile::{Record, Stream};
use holm_engine::logs_api::{LogsError, LogsRequest};
use holm_engine::Engine;
use std::io::{BufWriter, Write};

/// `holm logs`.
#[derive(Debug, Args)]
pub struct LogsArgs {
    /// Keep printing new output until the container stops.
    #[arg(short, long)]
    pub follow: bool,
    /// Number of lines to show from the end (`all`, or a negative number as docker, for every line).
    #[arg(
        short = 'n',
        long,
        default_value = "all",
        allow_negative_numbers = true
    )]
    pub tail: String,
    /// Prefix each line with its time (RFC 3339).
    #[arg(short, long)]
    pub timestamps: bool,
    /// Only output since this time: RFC 3339 (`2026-11-29T10:00:00Z`, `…+01:00`, `…05.5Z`), a local date and
    /// time (`2026-11-29T10:00:00`, `2026-11-29`), Unix seconds (`1700000000.5`), or a duration ago (`10m`,
    /// `1h30m`; `-5s` is 5 s from now), as docker.
    #[arg(long, allow_hyphen_values = true)]
    pub since: Option<String>,
    /// Only output before this time (same forms as --since).
    #[arg(long, allow_hyphen_values = true)]
    pub until: Option<String>,
    /// The container (name, id or id prefix).
    pub container: String,
}

/// stdout and stderr, each buffered; switching streams flushes the other, so that their order is kept.
struct Out {
    out: BufWriter<std::io::Stdout>,
    err: BufWriter<std::io::Stderr>,
    last: Stream,
    timestamps: bool,
}

impl Out {
    fn print(&mut self, e: &Record<'_>) -> std::io::Result<()> {
        if e.stream != self.last {
            self.flush()?;
            self.last = e.stream;
        }
        let w: &mut dyn Write = match e.stream {
            Stream::Stdout => &mut self.out,
            Stream::Stderr => &mut self.err,
        };
        if self.timestamps {
            w.write_all(e.time.as_bytes())?;
            w.write_all(b" ")?;
        }
        w.write_all(e.log.as_bytes())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()?;
        self.err.flush()
    }
}

/// `holm logs [-f] [--tail N] [-t] [--since T] [--until T]`: streams the log file (and its rotated files, oldest
/// first) with bounded memory. As docker and podman, `--tail` picks the last N records first and `--since` /
/// `--until` filter those.
pub fn logs(engine: &Engine, a: &LogsArgs) -> Result<i32> {
    let parse_time = holm_engine::logs_api::parse_log_time;
    let req = LogsRequest {
        tail: holm_engine::logs_api::parse_tail(&a.tail)?,
        since: a
            .since
            .as_deref()
            .map(|s| parse_time("--since", s))
            .transpose()?,
        until: a
            .until
            .as_deref()
            .map(|s| parse_time("--until", s))
            .transpose()?,
        follow: a.follow,
    };
    let out = std::cell::RefCell::new(Out {
        out: BufWriter::with_capacity(64 * 1024, std::io::stdout()),
        err: BufWriter::with_capacity(64 * 1024, std::io::stderr()),
        last: Stream::Stdout,
        timestamps: a.timestamps,
    });
    let r = engine.container_logs(
        &a.container,
        &req,
        &mut |e| out.borrow_mut().print(e),
        &mut || out.borrow_mut().flush(),
    );
    match r {
        Ok(()) => Ok(0),
        Err(LogsError::Engine(e)) => Err(e.into()),
        Err(LogsError::Output(e)) => Err(e.into()),
    }
}
