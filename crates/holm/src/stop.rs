//! `holm stop`, `kill`, `rm`, `wait`, `pause`, `unpause`: verbs on a list of containers. Like docker,
//! each container is tried; failures are printed and make the exit status 1.

use crate::engine_cli::Names;
use anyhow::Result;
use clap::Args;
use holm_engine::Engine;

/// Runs `f` on each container, printing its name as given on success and the error otherwise.
pub fn each(
    containers: &[String],
    mut f: impl FnMut(&str) -> holm_engine::Result<String>,
) -> Result<i32> {
    let mut code = 0;
    for c in containers {
        match f(c) {
            Ok(_) => println!("{c}"),
            Err(e) => {
                code = code.max(crate::exitcode::fail(
                    &crate::errfmt::as_typed(e.into(), c),
                    crate::exitcode::Verb::Other,
                ));
            }
        }
    }
    Ok(code)
}

/// `holm stop`.
#[derive(Debug, Args)]
pub struct StopArgs {
    /// Seconds to wait after the stop signal before SIGKILL (default: the container's --stop-timeout, or 10);
    /// a negative value (`-1`) waits for ever, as docker's.
    #[arg(
        short = 't',
        long = "time",
        alias = "timeout",
        allow_negative_numbers = true
    )]
    pub time: Option<i64>,
    /// Signal to send instead of the container's stop signal (name or number).
    #[arg(short, long)]
    pub signal: Option<String>,
    /// Containers (names, ids or id prefixes).
    #[arg(required = true)]
    pub containers: Vec<String>,
}

/// `-s/--signal` of `stop`, `restart` and `kill`. Errors: an unknown signal, naming the flag (exit status 125).
fn signal(s: &str) -> holm_engine::Result<i32> {
    holm_engine::options::signal("--signal", s)
}

/// `holm stop [-t N] [-s SIG]`.
pub fn stop(engine: &Engine, a: &StopArgs) -> Result<i32> {
    let sig = a.signal.as_deref().map(signal).transpose()?;
    let t = a.time.map(holm_engine::config::stop_timeout);
    each(&a.containers, |c| engine.stop_with(c, t, sig))
}

/// `holm restart [-t N] [-s SIG]`.
pub fn restart(engine: &Engine, a: &StopArgs) -> Result<i32> {
    let sig = a.signal.as_deref().map(signal).transpose()?;
    let t = a.time.map(holm_engine::config::stop_timeout);
    each(&a.containers, |c| engine.restart_with(c, t, sig))
}

/// `holm kill`.
#[derive(Debug, Args)]
pub struct KillArgs {
    /// Signal to send (name or number).
    #[arg(short, long, default_value = "KILL")]
    pub signal: String,
    /// Containers (names, ids or id prefixes).
    #[arg(required = true)]
    pub containers: Vec<String>,
}

/// `holm kill [-s SIG]`.
pub fn kill(engine: &Engine, a: &KillArgs) -> Result<i32> {
    let sig = signal(&a.signal)?;
    each(&a.containers, |c| engine.kill(c, sig))
}

/// `holm rm`.
#[derive(Debug, Args)]
pub struct RmArgs {
    /// Kill and remove running containers.
    #[arg(short, long)]
    pub force: bool,
    /// Remove the container's anonymous volumes (`--mount type=volume` without a source) too.
    #[arg(short, long)]
    pub volumes: bool,
    /// Containers (names, ids or id prefixes).
    #[arg(required = true)]
    pub containers: Vec<String>,
}

/// `holm rm [-f]`. With `-f` a container that does not exist is reported but is no failure (docker ≥ 20.10, like
/// `rm -f` of a missing file).
pub fn rm(engine: &Engine, a: &RmArgs) -> Result<i32> {
    let mut code = 0;
    for c in &a.containers {
        match engine.remove_with(c, a.force, a.volumes) {
            Ok(_) => println!("{c}"),
            Err(e @ holm_engine::Error::NoSuchContainer(_)) if a.force => {
                crate::exitcode::fail(&e.into(), crate::exitcode::Verb::Other);
            }
            Err(e) => {
                code = code.max(crate::exitcode::fail(
                    &crate::errfmt::as_typed(e.into(), c),
                    crate::exitcode::Verb::Other,
                ));
            }
        }
    }
    Ok(code)
}

/// `holm wait`: prints each container's exit code once it stopped: 0 for a container that never ran (docker's
/// "not-running" condition holds at once), -1 if the code is unknown (its monitor was killed).
pub fn wait(engine: &Engine, a: &Names) -> Result<i32> {
    let mut code = 0;
    for c in &a.containers {
        match engine.wait(c) {
            Ok(Some(n)) => println!("{n}"),
            Ok(None)
                if engine
                    .find(c)
                    .is_ok_and(|r| r.state == holm_engine::State::Created) =>
            {
                println!("0")
            }
            Ok(None) => println!("-1"),
            Err(e) => {
                code = code.max(crate::exitcode::fail(
                    &crate::errfmt::as_typed(e.into(), c),
                    crate::exitcode::Verb::Other,
                ));
            }
        }
    }
    Ok(code)
}
