//! Reading a container's log for the fronts (`holm logs`, `GET /containers/{id}/logs`): its json-file (or k8s)
//! log across rotated files, with docker's `tail`, `since`, `until` and `follow`. The front gets each record
//! (stream, time, text) and writes it its way: the CLI to stdout/stderr, the API server in docker's multiplexed
//! frames.

use crate::logfile::{LogReader, Record};
use crate::{Engine, Error};

/// Why reading a log stopped.
#[derive(Debug, thiserror::Error)]
pub enum LogsError {
    /// No such container, a log driver without a file (`none`), the log files could not be read, the database.
    #[error(transparent)]
    Engine(#[from] Error),
    /// The front's writer failed (a closed pipe, a gone client); passed as it was.
    #[error(transparent)]
    Output(std::io::Error),
}

/// What to read of a log.
#[derive(Debug, Clone, Default)]
pub struct LogsRequest {
    /// Only the last `n` records (`None`: all).
    pub tail: Option<usize>,
    /// Only records at or after this time, in the log's form (see [`parse_log_time`]).
    pub since: Option<String>,
    /// Only records before this time, in the log's form.
    pub until: Option<String>,
    /// Keep reading while the container runs (every 100 ms), as `logs -f`.
    pub follow: bool,
}

/// `--since`/`--until` (`since=`/`until=` of the API): docker's timestamp forms (see
/// [`holm_format::timestamp`]: a Go duration before now, a date and time, Unix seconds), returned as the log's
/// RFC 3339 form (UTC, nanoseconds), which compares as text. Errors: [`Error::InvalidFlag`] naming `flag`.
pub fn parse_log_time(flag: &str, s: &str) -> crate::Result<String> {
    holm_format::timestamp::parse(
        s,
        std::time::SystemTime::now(),
        holm_sys::process::local_utc_offset,
    )
    .map(holm_format::timestamp::to_log_time)
    .map_err(|why| Error::flag(flag, s, why))
}

/// docker's `--tail` (`tail=` of the API): `all` or a number (a negative one means all). Errors:
/// [`Error::InvalidFlag`] naming `--tail`.
pub fn parse_tail(s: &str) -> crate::Result<Option<usize>> {
    match s {
        "all" => Ok(None),
        n => match n.parse::<i64>() {
            Ok(n) => Ok(usize::try_from(n).ok()),
            Err(_) => Err(Error::flag("--tail", n, "expected a number or `all`")),
        },
    }
}

/// A container's log opened for reading ([`Engine::open_logs`]): the files stay readable once open, even if the
/// container is removed before they are read (docker-py's `run(remove=True)` reads a followed log after removing).
pub struct OpenLog {
    id: String,
    path: std::path::PathBuf,
    reader: LogReader,
    req: LogsRequest,
}

impl Engine {
    /// Opens the log of container `what` for `req` (the tail is found now). Errors: no such container,
    /// [`Error::LogsUnsupported`], the log file's (`reading log file PATH: …`).
    pub fn open_logs(&self, what: &str, req: &LogsRequest) -> Result<OpenLog, LogsError> {
        let rec = self.find(what)?;
        let Some(path) = self.log_file(&rec.id, &rec.config) else {
            return Err(Error::LogsUnsupported(rec.name).into());
        };
        let max_file = crate::logopts::rotate(&rec.config.log_opts).map_or(1, |r| r.max_file);
        let reader = open_reader(&path, max_file, req.tail).map_err(|e| log_error(&path, e))?;
        Ok(OpenLog {
            id: rec.id,
            path,
            reader,
            req: req.clone(),
        })
    }

    /// Reads the log of container `what` as `req` asks: [`Engine::open_logs`] then [`OpenLog::read`].
    pub fn container_logs(
        &self,
        what: &str,
        req: &LogsRequest,
        sink: &mut dyn FnMut(&Record<'_>) -> std::io::Result<()>,
        flush: &mut dyn FnMut() -> std::io::Result<()>,
    ) -> Result<(), LogsError> {
        self.open_logs(what, req)?.read(self, sink, flush)
    }
}

/// Opens the log `path` (and its rotated files, `max_file` in all) for reading from the last `tail` records
/// ([`LogReader::open`]). A container that was just created or started may not have its log file yet (its
/// monitor creates it): it is created here, empty, as the monitor opens it (append, mode 0640), when the
/// container's directory exists, so that the reader holds the file the monitor writes to and can still read it
/// after the container was removed (`run --rm`, docker-py's `run(remove=True)`). Errors: creating or reading it.
pub fn open_reader(
    path: &std::path::Path,
    max_file: u32,
    tail: Option<usize>,
) -> std::io::Result<LogReader> {
    if path.parent().is_some_and(std::path::Path::is_dir) && !path.exists() {
        use std::os::unix::fs::OpenOptionsExt;
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o640)
            .open(path)?;
    }
    LogReader::open(path, max_file, tail)
}

fn log_error(path: &std::path::Path, e: std::io::Error) -> LogsError {
    LogsError::Engine(Error::Io {
        what: format!("reading log file {}", path.display()),
        source: e,
    })
}

impl OpenLog {
    /// Gives each record `req` asks for to `sink`; with `follow`, keeps reading while the container runs (every
    /// 100 ms). `flush` is called whenever the reader is about to wait for more and at the end. Errors: see
    /// [`LogsError`]; a failing log file is named.
    pub fn read(
        mut self,
        engine: &Engine,
        sink: &mut dyn FnMut(&Record<'_>) -> std::io::Result<()>,
        flush: &mut dyn FnMut() -> std::io::Result<()>,
    ) -> Result<(), LogsError> {
        let req = &self.req;
        let keep = |e: &Record<'_>| {
            req.since.as_deref().is_none_or(|s| &*e.time >= s)
                && req.until.as_deref().is_none_or(|u| &*e.time < u)
        };
        let mut print = |e: &Record<'_>| -> Result<(), ReadError> {
            if keep(e) {
                sink(e).map_err(ReadError::Out)?;
            }
            Ok(())
        };
        // Errors of the log file name it; errors writing the output pass as they are.
        let path = &self.path;
        let unwrap = |e: ReadError| match e {
            ReadError::Log(e) => log_error(path, e),
            ReadError::Out(e) => LogsError::Output(e),
        };
        let r = &mut self.reader;
        r.read_available(&mut print).map_err(unwrap)?;
        if req.follow {
            loop {
                // Read the state before the file: output written before the exit was recorded is read below.
                let running = match engine.find(&self.id) {
                    Ok(c) => engine.is_active(&c),
                    Err(Error::NoSuchContainer(_)) => false,
                    Err(e) => return Err(e.into()),
                };
                r.read_available(&mut print).map_err(unwrap)?;
                if !running {
                    break;
                }
                flush().map_err(LogsError::Output)?;
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
        }
        flush().map_err(LogsError::Output)
    }
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

#[cfg(test)]
mod tests {
    use super::{parse_log_time, parse_tail};

    fn parse_since(s: &str) -> crate::Result<String> {
        parse_log_time("--since", s)
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

    #[test]
    fn tails() {
        assert_eq!(parse_tail("all").unwrap(), None);
        assert_eq!(parse_tail("3").unwrap(), Some(3));
        assert_eq!(parse_tail("-1").unwrap(), None);
        assert!(parse_tail("x").is_err());
    }
}
