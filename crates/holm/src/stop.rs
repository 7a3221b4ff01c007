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
                    &e.into(),
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
    /// Seconds to wait after the stop signal before SIGKILL (default: the container's --stop-timeout, or 10).
    #[arg(short = 't', long = "time", alias = "timeout")]
    pub time: Option<u64>,
    /// Containers (names, ids or id prefixes).
    #[arg(required = true)]
    pub containers: Vec<String>,
}

/// `holm stop [-t N]`.
pub fn stop(engine: &Engine, a: &StopArgs) -> Result<i32> {
    each(&a.containers, |c| engine.stop(c, a.time))
}

/// `holm restart [-t N]`.
pub fn restart(engine: &Engine, a: &StopArgs) -> Result<i32> {
    each(&a.containers, |c| engine.restart(c, a.time))
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
    let Some(sig) = holm_sys::signal::parse_signal(&a.signal) else {
        return Err(holm_engine::Error::flag("--signal", &a.signal, "unknown signal").into());
    };
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

/// `holm rm [-f]`.
pub fn rm(engine: &Engine, a: &RmArgs) -> Result<i32> {
    each(&a.containers, |c| engine.remove_with(c, a.force, a.volumes))
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
                    &e.into(),
                    crate::exitcode::Verb::Other,
                ));
            }
        }
    }
    Ok(code)
}
