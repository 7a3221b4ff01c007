//! The runtime's log: messages go to stderr and, with `--log FILE`, are appended to FILE as text
//! (`time="…" level=error msg="…"`, logrus style) or JSON (`{"level":"error","msg":"…","time":"…"}`), the formats
//! containerd and podman read back from runc. With `--debug`, the `log::debug!` lines of holm-container (each step
//! of create, start, kill, delete and exec, from the runtime and from the container's init before it executes the
//! process) are written too: to FILE only when there is one, as runc does, otherwise to stderr (the runtime's
//! own lines only: the container's stages share the container's stderr). Warnings follow the same rule (with
//! `--log FILE` only there: engines give `create` the container's stdio, so they would land in its log).

use std::io::Write;
use std::path::Path;
use std::sync::OnceLock;

/// `--log-format`.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// logrus text format.
    Text,
    /// One JSON object per line.
    Json,
}

struct Logger {
    file: Option<std::fs::File>,
    format: Format,
    debug: bool,
    /// The runtime's own pid: its forked children (the container's stages) share the container's stderr.
    pid: u32,
}

static LOGGER: OnceLock<Logger> = OnceLock::new();

/// Sets up logging; a log file that cannot be opened is reported on stderr and skipped.
pub fn init(file: Option<&Path>, format: Format, debug: bool) {
    let file = file.and_then(|p| {
        match std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(p)
        {
            Ok(f) => Some(f),
            Err(e) => {
                eprintln!("holm-runtime: cannot open log file {}: {e}", p.display());
                None
            }
        }
    });
    let _ = LOGGER.set(Logger {
        file,
        format,
        debug,
        pid: std::process::id(),
    });
    // Library messages (`log::debug!` in holm-container) go through the same sink.
    let _ = ::log::set_logger(&FACADE);
    ::log::set_max_level(if debug {
        ::log::LevelFilter::Debug
    } else {
        ::log::LevelFilter::Warn
    });
}

struct Facade;
static FACADE: Facade = Facade;

impl ::log::Log for Facade {
    fn enabled(&self, m: &::log::Metadata<'_>) -> bool {
        m.level() <= ::log::max_level()
    }

    fn log(&self, r: &::log::Record<'_>) {
        if self.enabled(r.metadata()) {
            let level = match r.level() {
                ::log::Level::Error => "error",
                ::log::Level::Warn => "warning",
                ::log::Level::Info => "info",
                _ => "debug",
            };
            emit(level, &r.args().to_string());
        }
    }

    fn flush(&self) {}
}

fn emit(level: &str, msg: &str) {
    let Some(l) = LOGGER.get() else {
        eprintln!("holm-runtime: {level}: {msg}");
        return;
    };
    if level == "debug" && !l.debug {
        return;
    }
    // Debug lines go to the log file only when there is one (runc's --debug --log FILE: nothing on stderr, which
    // a container process may share); without --log they go to stderr, but only the runtime's own: a child of
    // the runtime (the container's init before it executes the process) writes to the container's stderr.
    // Warnings likewise go to the log file only when there is one (runc's logrus writes every level there): an
    // engine gives `create` the container's stdio, so a warning on stderr would land in the container's log.
    let file_only = level == "debug" || level == "warning";
    if !file_only || (l.file.is_none() && std::process::id() == l.pid) {
        eprintln!("holm-runtime: {level}: {msg}");
    }
    if let Some(mut f) = l.file.as_ref() {
        let time = holm_container::state::rfc3339(std::time::SystemTime::now());
        let line = match l.format {
            Format::Json => {
                serde_json::json!({"level": level, "msg": msg, "time": time}).to_string()
            }
            Format::Text => format!("time={time:?} level={level} msg={msg:?}"),
        };
        let _ = writeln!(f, "{line}");
    }
}

/// Logs an error.
pub fn error(msg: &str) {
    emit("error", msg);
}

/// Logs a warning.
pub fn warn(msg: &str) {
    emit("warning", msg);
}
