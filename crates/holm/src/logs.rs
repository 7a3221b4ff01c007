//! `holm logs`: a container's output from its json-file log, to stdout and stderr as it was written.

use anyhow::Result;
use clap::Args;
use holm_engine::logfile::{Entry, LogReader, Stream};
use holm_engine::{Engine, State};
use std::io::Write;

/// `holm logs`.
#[derive(Debug, Args)]
pub struct LogsArgs {
    /// Keep printing new output until the container stops.
    #[arg(short, long)]
    pub follow: bool,
    /// Number of lines to show from the end (`all` for every line).
    #[arg(short = 'n', long, default_value = "all")]
    pub tail: String,
    /// Prefix each line with its time (RFC 3339).
    #[arg(short, long)]
    pub timestamps: bool,
    /// The container (name, id or id prefix).
    pub container: String,
}

fn print(entries: &[Entry], timestamps: bool) -> std::io::Result<()> {
    let (mut out, mut err) = (std::io::stdout().lock(), std::io::stderr().lock());
    for e in entries {
        let w: &mut dyn Write = match e.stream {
            Stream::Stdout => &mut out,
            Stream::Stderr => &mut err,
        };
        if timestamps {
            write!(w, "{} ", e.time)?;
        }
        w.write_all(e.log.as_bytes())?;
    }
    out.flush()?;
    err.flush()
}

/// `holm logs [-f] [--tail N] [-t]`.
pub fn logs(engine: &Engine, a: &LogsArgs) -> Result<i32> {
    let tail: Option<usize> = match a.tail.as_str() {
        "all" | "-1" => None,
        n => Some(
            n.parse()
                .map_err(|_| holm_engine::Error::flag("--tail", n, "expected a number or `all`"))?,
        ),
    };
    let rec = engine.find(&a.container)?;
    let Some(path) = engine.log_file(&rec.id, &rec.config) else {
        anyhow::bail!(
            "configured logging driver does not support reading (container {} has --log-driver none)",
            rec.name
        );
    };
    let mut r = LogReader::open(&path)?;
    let mut first = r.read_new()?;
    if let Some(n) = tail {
        first.drain(..first.len().saturating_sub(n));
    }
    print(&first, a.timestamps)?;
    if !a.follow {
        return Ok(0);
    }
    loop {
        // Read the state before the file: output written before the exit was recorded is read below.
        let running = match engine.find(&rec.id) {
            Ok(r) => r.state == State::Running || engine.monitor_alive(&r.id),
            Err(holm_engine::Error::NoSuchContainer(_)) => false,
            Err(e) => return Err(e.into()),
        };
        print(&r.read_new()?, a.timestamps)?;
        if !running {
            return Ok(0);
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}
