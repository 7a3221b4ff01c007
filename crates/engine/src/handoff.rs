//! The hidden re-entries of the `holm` executable that the engine's own processes run (nobody types them), each
//! recognised from the exact command line its starter writes, without clap:
//!
//! - `holm --root R --runroot S __monitor-exit ID CODE RAN_MS CTL LOCK`: the monitor's exit stage, executed by
//!   `holm-monitor` when the container ended ([`holm_monitor::handoff::Exit`], [`crate::monitor::exit_main`]);
//! - `holm __dns NETWORK_ID`: a user network's name server ([`crate::network_api::dns_main`]);
//! - `holm --root R --runroot S __health ID`: one healthcheck, run by the monitor
//!   ([`holm_monitor::handoff::HEALTH_COMMAND`], [`crate::health_probe::main`]).
//!
//! `holm`'s `main` calls [`fast_path`] first, so these start without parsing the user-facing command line.

use std::path::Path;

/// Runs the re-entry `args` (the whole argv, `args[0]` included) names and returns its exit status, or `None` when
/// `args` is no re-entry's command line (then it is a user's command).
pub fn fast_path(args: &[std::ffi::OsString]) -> Option<i32> {
    let args: Vec<&str> = args.iter().map(|a| a.to_str()).collect::<Option<_>>()?;
    match args.as_slice() {
        [_, "--root", _, "--runroot", _, cmd, ..]
            if *cmd == holm_monitor::handoff::EXIT_COMMAND =>
        {
            let owned: Vec<String> = args.iter().map(|a| a.to_string()).collect();
            let exit = holm_monitor::handoff::Exit::parse(&owned)?;
            Some(crate::monitor::exit_main(&exit))
        }
        [_, cmd, id] if *cmd == crate::network_api::DNS_COMMAND => {
            Some(crate::network_api::dns_main(id))
        }
        [_, "--root", root, "--runroot", runroot, cmd, id]
            if *cmd == holm_monitor::handoff::HEALTH_COMMAND =>
        {
            Some(crate::health_probe::main(
                Path::new(root),
                Path::new(runroot),
                id,
            ))
        }
        _ => None,
    }
}
