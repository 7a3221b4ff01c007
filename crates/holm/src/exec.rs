//! `holm exec`.

use anyhow::{Context, Result};
use clap::Args;
use holm_engine::lifecycle::ExecRequest;
use holm_engine::Engine;

/// `holm exec`.
#[derive(Debug, Args)]
pub struct ExecArgs {
    /// Set an environment variable (`K=V`).
    #[arg(short, long = "env", value_name = "K=V")]
    pub env: Vec<String>,
    /// User (name or uid) and optionally group: `USER[:GROUP]`.
    #[arg(short, long)]
    pub user: Option<String>,
    /// Working directory inside the container.
    #[arg(short, long)]
    pub workdir: Option<String>,
    /// The container, then the command and its arguments.
    #[arg(required = true, num_args = 2.., trailing_var_arg = true, value_name = "CONTAINER COMMAND [ARG...]")]
    pub container_and_cmd: Vec<String>,
}

/// `holm exec`: runs the command in the foreground and exits with its code.
pub fn exec(engine: &Engine, a: &ExecArgs) -> Result<i32> {
    // The process is forked from holm itself: run from a sealed copy so it cannot reach holm's binary
    // (CVE-2019-5736). Re-executes holm with the same arguments the first time.
    holm_sys::process::run_from_sealed_copy().context("re-executing from a sealed copy of holm")?;
    let req = ExecRequest {
        cmd: a.container_and_cmd[1..].to_vec(),
        env: a.env.clone(),
        user: a.user.clone(),
        workdir: a.workdir.clone(),
    };
    Ok(engine.exec(&a.container_and_cmd[0], &req)?)
}
