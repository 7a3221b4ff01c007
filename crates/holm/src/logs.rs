//! `holm logs`: a container's output from its json-file log, to stdout and stderr as it was written.

use anyhow::Result;
use clap::Args;
use holm_engine::logfile::{LogReader, Record, Stream};
use holm_engine::{Engine, State};
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
    let tail: Option<usize> = match a.tail.as_str() {
        "all" => None,
        n => match n.parse::<i64>() {
            Ok(n) => usize::try_from(n).ok(),
            Err(_) => {
                return Err(
                    holm_engine::Error::flag("--tail", n, "expected a number or `all`").into(),
                )
            }
        },
    };
    let since = a
        .since
        .as_deref()
        .map(|s| parse_time("--since", s))
        .transpose()?;
    let until = a
        .until
        .as_deref()
        .map(|s| parse_time("--until", s))
        .transpose()?;
    let keep = |e: &Record<'_>| {
        since.as_deref().is_none_or(|s| &*e.time >= s)
            && until.as_deref().is_none_or(|u| &*e.time < u)
    };
    let rec = engine.find(&a.container)?;
    let Some(path) = engine.log_file(&rec.id, &rec.config) else {
        anyhow::bail!(
            "configured logging driver does not support reading (container {} has --log-driver none)",
            rec.name
        );
    };
    let max_file = holm_engine::logopts::rotate(&rec.config.log_opts).map_or(1, |r| r.max_file);
    let log_err = |e: std::io::Error| anyhow::anyhow!("reading log file {}: {e}", path.display());
    let mut r = LogReader::open(&path, max_file, tail).map_err(log_err)?;
    let mut out = Out {
        out: BufWriter::with_capacity(64 * 1024, std::io::stdout()),
        err: BufWriter::with_capacity(64 * 1024, std::io::stderr()),
        last: Stream::Stdout,
        timestamps: a.timestamps,
    };
    let print = |out: &mut Out, e: &Record<'_>| -> Result<(), ReadError> {
        if keep(e) {
            out.print(e).map_err(ReadError::Out)?;
        }
        Ok(())
    };
    // Errors of the log file name it; errors writing the output pass as they are.
    let unwrap = |e: ReadError| match e {
        ReadError::Log(e) => log_err(e),
        ReadError::Out(e) => e.into(),
    };
    r.read_available(|e| print(&mut out, e)).map_err(unwrap)?;
    if a.follow {
        loop {
            // Read the state before the file: output written before the exit was recorded is read below.
            let running = match engine.find(&rec.id) {
                Ok(r) => r.state == State::Running || engine.monitor_alive(&r.id),
                Err(holm_engine::Error::NoSuchContainer(_)) => false,
                Err(e) => return Err(e.into()),
            };
            r.read_available(|e| print(&mut out, e)).map_err(unwrap)?;
            if !running {
                break;
            }
            out.flush()?;
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    }
    out.flush()?;
    Ok(0)
}

/// Why reading a log stopped: its files could not be read, or the output could not be written.
enum ReadError {
    Log(std::io::Error),
    Out(std::io::Error),
}

impl From<std::io::Error> for ReadError {
    fn from(e: std::io::Error) -> ReadError {
        ReadError::Log(e)
    }
}

/// `--since`/`--until`: docker's timestamp forms (see [`holm_format::timestamp`]), returned as the log's RFC 3339 form
/// (UTC, nanoseconds), which compares as text.
fn parse_time(flag: &str, s: &str) -> holm_engine::Result<String> {
    holm_format::timestamp::parse(
        s,
        std::time::SystemTime::now(),
        holm_sys::process::local_utc_offset,
    )
    .map(holm_format::timestamp::to_log_time)
    .map_err(|why| holm_engine::Error::flag(flag, s, why))
}

#[cfg(test)]
mod tests {
    use super::parse_time;

    fn parse_since(s: &str) -> holm_engine::Result<String> {
        parse_time("--since", s)
    }

    #[test]
    fn since_forms() {
        assert_eq!(
            parse_since("2026-01-02T03:04:05Z").unwrap(),
            "2026-01-02T03:04:05.000000000Z"
        );
        assert_eq!(parse_since("0").unwrap(), "1970-01-01T00:00:00.000000000Z");
        let ago = parse_since("1h30m").unwrap();
        let now = parse_since("0s").unwrap();
        assert!(ago < now);
        assert!(parse_since("yesterday").is_err());
        assert!(parse_since("5x").is_err());
    }
}
