//! runc's flags and verbs holm-runtime parses but does not implement, or implements only in part: the global
//! `--systemd-cgroup`, `--rootless` and `--criu`, and the `checkpoint` / `restore` verbs. What is not implemented
//! is refused with one line naming it (exit 1, as runc's errors), never a command-line parser error, so a caller
//! that passes runc's flags learns what is missing.

use anyhow::bail;
use clap::{Args, ValueEnum};
use std::path::Path;

/// Where systemd keeps its runtime state; it exists only while systemd runs as pid 1 (sd_booted(3)).
const SYSTEMD_RUN_DIR: &str = "/run/systemd/system";

/// `--rootless` (runc: `true`, `false` or `auto`, default `auto`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum Rootless {
    /// Rootless when the caller is not root (holm-runtime then refuses cgroup-needing configs as usual).
    #[default]
    Auto,
    /// Rootless mode (cgroup errors ignored): not implemented.
    True,
    /// Not rootless.
    False,
}

/// The arguments of `checkpoint` / `restore`: runc's flags (`--image-path`, `--leave-running`, `--bundle`, …)
/// and the container id, taken as they come since nothing of them is used.
#[derive(Args, Debug)]
pub struct CriuArgs {
    /// runc's options and the container id.
    #[arg(
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "OPTIONS... ID"
    )]
    args: Vec<String>,
}

/// `checkpoint` / `restore`: refused in one line (CRIU support is not implemented). `criu` is the global
/// `--criu PATH`, named so the caller sees it was read.
pub fn criu_verb(verb: &str, _args: &CriuArgs, criu: Option<&Path>) -> anyhow::Result<()> {
    let with = criu
        .map(|p| format!(" (--criu {})", p.display()))
        .unwrap_or_default();
    bail!("{verb}: not implemented: holm-runtime cannot checkpoint or restore containers{with}")
}

/// Checks for verbs that set up a container's cgroup (`create`, `run`), as runc does at that point:
/// `--systemd-cgroup` needs a running systemd (else a one-line error; with systemd, holm still manages cgroupfs
/// itself and says so), and `--rootless true` is not implemented.
pub fn check_create_flags(systemd_cgroup: bool, rootless: Rootless) -> anyhow::Result<()> {
    if systemd_cgroup {
        if !Path::new(SYSTEMD_RUN_DIR).is_dir() {
            bail!(
                "--systemd-cgroup: systemd is not running on this host (no {SYSTEMD_RUN_DIR}), cannot use the \
                 systemd cgroup manager"
            );
        }
        crate::log::warn(
            "--systemd-cgroup: the systemd cgroup manager is not implemented; using cgroupfs",
        );
    }
    if rootless == Rootless::True {
        bail!("--rootless true: not implemented (use auto or false)");
    }
    Ok(())
}
