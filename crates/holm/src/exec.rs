//! `holm exec`.

use anyhow::{Context, Result};
use clap::Args;
use holm_engine::lifecycle::ExecRequest;
use holm_engine::Engine;
use std::os::fd::AsFd;

/// `holm exec`.
#[derive(Debug, Args)]
pub struct ExecArgs {
    /// Set an environment variable (`K=V`; `K` alone passes holm's own value of K, or nothing if it has none, as
    /// `run -e`).
    #[arg(short, long = "env", value_name = "K=V")]
    pub env: Vec<String>,
    /// Read environment variables from a file (docker's format, as `run --env-file`: `K=V` or `K` lines, `#`
    /// comments); applied before `-e`, which wins.
    #[arg(long = "env-file", value_name = "FILE")]
    pub env_file: Vec<String>,
    /// User (name or uid) and optionally group: `USER[:GROUP]`.
    #[arg(short, long)]
    pub user: Option<String>,
    /// Working directory inside the container.
    #[arg(short, long)]
    pub workdir: Option<String>,
    /// Keep stdin open (holm's stdin is the process's).
    #[arg(short, long, num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value_t = false, action = clap::ArgAction::Set)]
    pub interactive: bool,
    /// Allocate a pseudo-terminal.
    #[arg(short, long, num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value_t = false, action = clap::ArgAction::Set)]
    pub tty: bool,
    /// Run in the background (output discarded).
    #[arg(short, long, num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value_t = false, action = clap::ArgAction::Set)]
    pub detach: bool,
    /// The container (name, id or id prefix).
    pub container: String,
    /// The command and its arguments.
    #[arg(required = true, num_args = 1.., trailing_var_arg = true, value_name = "COMMAND")]
    pub cmd: Vec<String>,
}

/// `holm exec`: runs the command in the foreground and exits with its code.
pub fn exec(engine: &Engine, a: &ExecArgs) -> Result<i32> {
    let mut env = Vec::new();
    for f in &a.env_file {
        env.extend(holm_engine::options::read_env_file(f)?);
    }
    env.extend(holm_engine::options::env_flags(&a.env)?);
    // The process is forked from holm itself: run from a sealed copy so it cannot reach holm's binary
    // (CVE-2019-5736). Re-executes holm with the same arguments the first time.
    holm_sys::process::run_from_sealed_copy().context("re-executing from a sealed copy of holm")?;
    if a.detach && a.tty {
        anyhow::bail!("holm exec: -d with -t is not supported yet (a detached terminal needs a console owner)");
    }
    let stdin_tty = holm_sys::tty::is_terminal(std::io::stdin().as_fd());
    if a.tty && a.interactive && !stdin_tty {
        anyhow::bail!("the input device is not a TTY (use -i without -t to pipe input)");
    }
    // Without -i the process gets no input; detached, no output either (docker's behaviour).
    let null = std::fs::File::options()
        .read(true)
        .write(true)
        .open("/dev/null")
        .context("open /dev/null")?;
    if !a.interactive || a.detach {
        holm_sys::fs::dup_onto(null.as_fd(), 0)?;
    }
    // holm's own stderr, for its errors once the process was started.
    let saved_err = holm_sys::fs::dup_raw(2)?;
    if a.detach {
        holm_sys::fs::dup_onto(null.as_fd(), 1)?;
        holm_sys::fs::dup_onto(null.as_fd(), 2)?;
    }
    let req = ExecRequest {
        cmd: a.cmd.clone(),
        env,
        user: a.user.clone(),
        workdir: a.workdir.clone(),
        tty: a.tty,
        detach: a.detach,
    };
    let r = engine.exec(&a.container, &req);
    holm_sys::fs::dup_onto(saved_err.as_fd(), 2)?;
    Ok(r?)
}
