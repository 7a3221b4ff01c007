//! The container commands of `holm` (docker's names and flags): argument shapes and dispatch. Each verb lives in
//! its own file and is a thin call into `holm-engine`; errors are printed once, here, with the exit status of
//! `crate::exitcode`'s rule (125 for `run`/`create` and bad flag values, 126/127 for a command that cannot start,
//! 1 for other verbs).

use crate::exitcode::{fail, Verb};
use clap::{Args, Subcommand};
use std::path::Path;

/// Container commands.
#[derive(Debug, Subcommand)]
pub enum EngineCommand {
    /// Create and start a container from an image.
    Run(Box<crate::run::RunArgs>),
    /// Create a container from an image without starting it.
    Create(Box<crate::run::RunArgs>),
    /// Start created or stopped containers.
    Start(crate::run::StartArgs),
    /// List containers.
    Ps(crate::ps::PsArgs),
    /// Show a container's output.
    Logs(crate::logs::LogsArgs),
    /// Stop containers (stop signal, then SIGKILL after a timeout).
    Stop(crate::stop::StopArgs),
    /// Restart containers (stop, then start).
    Restart(crate::stop::StopArgs),
    /// Send a signal to containers.
    Kill(crate::stop::KillArgs),
    /// Remove containers.
    Rm(crate::stop::RmArgs),
    /// Wait for containers to stop and print their exit codes.
    Wait(Names),
    /// Freeze every process of containers.
    Pause(Names),
    /// Thaw paused containers.
    Unpause(Names),
    /// Change containers' resource limits and restart policy.
    Update(crate::update::UpdateArgs),
    /// Show details of containers, images or volumes as JSON, or through a Go template (`-f`).
    Inspect(crate::inspect::InspectArgs),
    /// Run a command in a running container.
    Exec(crate::exec::ExecArgs),
    /// Show the processes of a container (the host's ps, filtered).
    Top(crate::misc::TopArgs),
    /// Show containers' CPU, memory and process usage.
    Stats(crate::misc::StatsArgs),
    /// Rename a container.
    Rename(crate::misc::RenameArgs),
    /// Show a container's published ports.
    Port(crate::misc::PortArgs),
    /// Copy files between a container and the host: `cp SRC C:DST`, `cp C:SRC DST`.
    Cp(crate::cp::CpArgs),
    /// Manage containers.
    #[command(subcommand)]
    Container(crate::misc::ContainerCommand),
    /// Manage named volumes.
    #[command(subcommand)]
    Volume(crate::volume::VolumeCommand),
    /// Manage networks (bridge, host, none and user-defined ones).
    #[command(subcommand)]
    Network(crate::network::NetworkCommand),
    /// Disk usage and clean-up of the whole engine.
    #[command(subcommand)]
    System(crate::misc::SystemCommand),
    /// Show the engine's events (from its log; follows it without --until).
    Events(crate::events::EventsArgs),
    /// Show holm's version.
    Version,
    /// Show facts about the engine and the host.
    Info,
    /// (internal) the per-container monitor.
    #[command(name = "__monitor", hide = true)]
    Monitor {
        /// Container id.
        id: String,
        /// The on-disk holm binary (holm-monitor is next to it; it executes holm again at the container's end).
        #[arg(long)]
        exe: Option<std::path::PathBuf>,
        /// Set by a monitor restarting its container: the inherited fd holding the monitor lock.
        #[arg(long)]
        lock_fd: Option<i32>,
    },
}

/// Commands that take container names or ids.
#[derive(Debug, Args)]
pub struct Names {
    /// Containers (names, ids or id prefixes).
    #[arg(required = true)]
    pub containers: Vec<String>,
}

/// Runs a container command; returns the process exit status.
/// Verbs that only read and print (listings, inspect, logs, `cp C:SRC -`): they start no container.
fn only_prints(cmd: &EngineCommand) -> bool {
    use crate::misc::{ContainerCommand as C, SystemCommand as S};
    use crate::volume::VolumeCommand as V;
    match cmd {
        EngineCommand::Ps(_)
        | EngineCommand::Logs(_)
        | EngineCommand::Inspect(_)
        | EngineCommand::Top(_)
        | EngineCommand::Stats(_)
        | EngineCommand::Port(_)
        | EngineCommand::Events(_)
        | EngineCommand::Version
        | EngineCommand::Info => true,
        EngineCommand::Network(c) => matches!(
            c,
            crate::network::NetworkCommand::Ls(_) | crate::network::NetworkCommand::Inspect(_)
        ),
        EngineCommand::Cp(a) => a.dst == "-",
        EngineCommand::Container(c) => matches!(c, C::Ls(_) | C::Inspect(_)),
        EngineCommand::System(c) => matches!(c, S::Df | S::Info),
        EngineCommand::Volume(c) => matches!(c, V::Ls(_) | V::Inspect(_)),
        _ => false,
    }
}

pub fn run(cmd: &EngineCommand, root: &Path, runroot: &Path) -> i32 {
    if let EngineCommand::Monitor { id, exe, lock_fd } = cmd {
        let inv = holm_engine::monitor::Invocation {
            id: id.clone(),
            exe: exe.clone(),
            lock_fd: *lock_fd,
        };
        return holm_engine::monitor::main(root, runroot, &inv);
    }
    let verb = match cmd {
        EngineCommand::Run(_) | EngineCommand::Create(_) => Verb::Create,
        _ => Verb::Other,
    };
    if only_prints(cmd) {
        // A reader that goes away (`holm ps -q | head -1`) ends the listing silently, killed by SIGPIPE, as docker
        // (a Go program) is, instead of `Error: Broken pipe`.
        let _ = holm_sys::signal::default_sigpipe();
    }
    let engine = match holm_engine::Engine::open(root, runroot) {
        Ok(e) => e,
        Err(e) => return fail(&e.into(), verb),
    };
    let r = match cmd {
        EngineCommand::Run(a) => crate::run::run(&engine, a),
        EngineCommand::Create(a) => crate::run::create(&engine, a),
        EngineCommand::Start(a) => crate::run::start(&engine, a),
        EngineCommand::Ps(a) => crate::ps::ps(&engine, a),
        EngineCommand::Logs(a) => crate::logs::logs(&engine, a),
        EngineCommand::Stop(a) => crate::stop::stop(&engine, a),
        EngineCommand::Restart(a) => crate::stop::restart(&engine, a),
        EngineCommand::Kill(a) => crate::stop::kill(&engine, a),
        EngineCommand::Rm(a) => crate::stop::rm(&engine, a),
        EngineCommand::Wait(a) => crate::stop::wait(&engine, a),
        EngineCommand::Pause(a) => crate::stop::each(&a.containers, |c| engine.pause(c)),
        EngineCommand::Unpause(a) => crate::stop::each(&a.containers, |c| engine.unpause(c)),
        EngineCommand::Update(a) => crate::update::update(&engine, a),
        EngineCommand::Inspect(a) => {
            crate::inspect::inspect_sized(&engine, a.kind, a.format.as_deref(), &a.names, a.size)
        }
        EngineCommand::Exec(a) => crate::exec::exec(&engine, a),
        EngineCommand::Top(a) => crate::misc::top(&engine, a),
        EngineCommand::Stats(a) => crate::misc::stats(&engine, a),
        EngineCommand::Rename(a) => crate::misc::rename(&engine, a),
        EngineCommand::Port(a) => crate::misc::port(&engine, a),
        EngineCommand::Cp(a) => crate::cp::cp(&engine, a),
        EngineCommand::Container(c) => crate::misc::container(&engine, c),
        EngineCommand::System(c) => crate::misc::system(&engine, c),
        EngineCommand::Volume(c) => crate::volume::volume(&engine, c),
        EngineCommand::Network(c) => crate::network::network(&engine, c),
        EngineCommand::Events(a) => crate::events::events(&engine, a),
        EngineCommand::Version => crate::misc::version(&engine),
        EngineCommand::Info => crate::misc::info(&engine),
        EngineCommand::Monitor { .. } => unreachable!("handled above"),
    };
    match r {
        Ok(code) => code,
        Err(e) => {
            let e = match typed_container(cmd) {
                Some(word) => crate::errfmt::as_typed(e, word),
                None => e,
            };
            fail(&e, verb)
        }
    }
}

/// The one container a verb names, as the user typed it (its errors then use that word, not the full id).
fn typed_container(cmd: &EngineCommand) -> Option<&str> {
    match cmd {
        EngineCommand::Logs(a) => Some(&a.container),
        EngineCommand::Exec(a) => Some(a.container.as_str()),
        EngineCommand::Top(a) => Some(&a.container),
        EngineCommand::Rename(a) => Some(&a.container),
        EngineCommand::Port(a) => Some(&a.container),
        EngineCommand::Start(a) if a.containers.len() == 1 => Some(&a.containers[0]),
        _ => None,
    }
}
