//! `holm`: the engine's command line (docker/podman-like): it parses, calls `holm-engine` and prints. The image
//! commands (`pull`, `load`, `save`, `images`, `image inspect|ls|rm|tag|prune`, `rmi`, `tag`) call the engine's
//! image API (`commands`, `pull`); the container commands
//! (`run`, `create`, `start`, `restart`, `ps`, `logs`, `stop`, `kill`, `rm`, `wait`, `pause`, `unpause`,
//! `inspect`, `exec`, `top`, `stats`, `rename`, `port`, `cp`, `container prune`, `volume …`, `network ls|inspect`,
//! `system df|prune`,
//! `version`, `info`, and the hidden `__monitor`) into `holm-engine` (see `engine_cli`). `inspect` finds
//! containers, images and volumes; `inspect`, `ps`, `images` and `volume ls` take docker's Go-template `--format`
//! (see `template` and `format`). Errors are printed once;
//! exit statuses follow one rule for every verb (see `exitcode`).
#![forbid(unsafe_code)]

mod cli;
mod cliparse;
mod commands;
mod confirm;
mod cp;
mod engine_cli;
mod errfmt;
mod events;
mod exec;
mod exitcode;
mod format;
mod health;
mod inspect;
mod logs;
mod misc;
mod netcmd;
mod network;
mod ps;
mod pull;
mod run;
mod service;
mod stop;
mod template;
mod update;
mod volume;

use cli::{Cli, Command, ImageCommand};

fn run(cli: Cli) -> anyhow::Result<i32> {
    if let Command::Images(_)
    | Command::Image(ImageCommand::Ls(_) | ImageCommand::Inspect(_))
    | Command::Save(_)
    | Command::Image(ImageCommand::Save(_)) = &cli.command
    {
        // a reader that goes away ends the listing silently (SIGPIPE), as docker's
        let _ = holm_sys::signal::default_sigpipe();
    }
    let engine = holm_engine::Engine::open(&cli.root, &cli.runroot)?;
    if let Command::Rmi(a) | Command::Image(ImageCommand::Rm(a)) = &cli.command {
        return commands::rmi(&engine, a);
    }
    if let Command::Image(ImageCommand::Inspect(a)) = &cli.command {
        let kind = Some(inspect::Kind::Image);
        return inspect::inspect(&engine, kind, a.format.as_deref(), &a.images);
    }
    match &cli.command {
        Command::Pull(a) | Command::Image(ImageCommand::Pull(a)) => pull::pull(&engine, a),
        Command::Load(a) | Command::Image(ImageCommand::Load(a)) => commands::load(&engine, a),
        Command::Save(a) | Command::Image(ImageCommand::Save(a)) => commands::save(&engine, a),
        Command::Images(a) | Command::Image(ImageCommand::Ls(a)) => commands::images(&engine, a),
        Command::Rmi(_) | Command::Image(ImageCommand::Rm(_)) => unreachable!("handled above"),
        Command::Tag(a) | Command::Image(ImageCommand::Tag(a)) => commands::tag(&engine, a),
        Command::Image(ImageCommand::Inspect(_)) => unreachable!("handled above"),
        Command::Image(ImageCommand::Prune(a)) => commands::prune(&engine, a),
        Command::Engine(_) => unreachable!("dispatched in main"),
    }
    .map(|()| 0)
}

fn main() {
    // The engine's own re-entries (`__monitor-exit`, `__dns`, `__health`): see holm_engine::handoff.
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if let Some(code) = holm_engine::handoff::fast_path(&args) {
        std::process::exit(code);
    }
    let cli = match cliparse::parse() {
        Ok(c) => c,
        Err(e) => std::process::exit(cliparse::report(&e)),
    };
    if let Command::Engine(cmd) = &cli.command {
        std::process::exit(engine_cli::run(cmd, &cli.root, &cli.runroot));
    }
    std::process::exit(match run(cli) {
        Ok(code) => code,
        Err(e) => exitcode::fail(&e, exitcode::Verb::Other),
    });
}
