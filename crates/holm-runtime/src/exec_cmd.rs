//! `exec` on the command line (runc's flags). Failures exit with 255, as runc's `exec` does, so a caller can tell
//! them from the process's own exit code.

use std::path::PathBuf;

use clap::Args;
use holm_container::{ExecOptions, Store};

/// runc's `exec` flags.
#[derive(Args, Clone)]
pub struct ExecArgs {
    /// Path to a process.json (runtime-spec `process`) to run; the other process flags are then ignored.
    #[arg(short, long, value_name = "FILE")]
    process: Option<PathBuf>,
    /// Allocate a pseudo-TTY.
    #[arg(short, long)]
    tty: bool,
    /// Unix socket that receives the pty master (with --tty).
    #[arg(long = "console-socket", value_name = "PATH")]
    console_socket: Option<PathBuf>,
    /// Return once the process runs.
    #[arg(short, long)]
    detach: bool,
    /// File to write the process's pid to.
    #[arg(long = "pid-file", value_name = "FILE")]
    pid_file: Option<PathBuf>,
    /// Working directory inside the container (must exist).
    #[arg(long, value_name = "DIR")]
    cwd: Option<PathBuf>,
    /// Set an environment variable (repeatable).
    #[arg(short, long = "env", value_name = "K=V")]
    env: Vec<String>,
    /// UID[:GID] to run as.
    #[arg(short, long, value_name = "UID[:GID]")]
    user: Option<String>,
    /// Additional group id (repeatable, or comma-separated).
    #[arg(
        short = 'g',
        long = "additional-gids",
        value_name = "GID",
        value_delimiter = ','
    )]
    additional_gids: Vec<u32>,
    /// Add a capability to the bounding, effective and permitted sets (repeatable).
    #[arg(short, long = "cap", value_name = "CAP")]
    cap: Vec<String>,
    /// Set no_new_privs for the process.
    #[arg(long = "no-new-privs")]
    no_new_privs: bool,
    /// Pass N extra file descriptors (3 .. 3+N-1) to the process.
    #[arg(long = "preserve-fds", default_value_t = 0, value_name = "N")]
    preserve_fds: i32,
    /// AppArmor profile for the process (ignored on a host without AppArmor, as runc does).
    #[arg(long, value_name = "PROFILE")]
    apparmor: Option<String>,
    /// SELinux label for the process (an error on a host without SELinux).
    #[arg(long = "process-label", value_name = "LABEL")]
    process_label: Option<String>,
    /// Exec into a paused container too: the process (and this command) waits, frozen, until `resume`.
    #[arg(long = "ignore-paused")]
    ignore_paused: bool,
    /// Run the process in a sub-cgroup of the container's cgroup: PATH in every hierarchy, or (cgroup v1, repeatable)
    /// CONTROLLER[,CONTROLLER...]:PATH for the named controllers. It must exist. Default: the init's current
    /// cgroup (`/` is the container's own).
    #[arg(long = "cgroup", value_name = "PATH|CONTROLLER:PATH")]
    cgroup: Vec<String>,
    /// Container id.
    id: String,
    /// Command and arguments.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    args: Vec<String>,
}

fn options(a: ExecArgs) -> anyhow::Result<ExecOptions> {
    crate::check_preserve_fds(a.preserve_fds)?;
    Ok(ExecOptions {
        id: a.id,
        process_file: a.process,
        args: a.args,
        tty: a.tty,
        console_socket: a.console_socket,
        detach: a.detach,
        pid_file: a.pid_file,
        cwd: a.cwd,
        env: a.env,
        user: a
            .user
            .as_deref()
            .map(holm_container::exec::parse_user)
            .transpose()?,
        additional_gids: a.additional_gids,
        caps: a.cap,
        no_new_privs: a.no_new_privs,
        preserve_fds: a.preserve_fds,
        apparmor: a.apparmor,
        process_label: a.process_label,
        cgroup: a.cgroup,
        ignore_paused: a.ignore_paused,
    })
}

impl ExecArgs {
    /// The container id.
    pub fn id(&self) -> &str {
        &self.id
    }
}

/// `exec` in a VM container (same exit codes: 255 when it could not run).
pub fn run_vm(store: &Store, a: &ExecArgs) -> i32 {
    let opts = a.clone();
    match options(opts).and_then(|o| crate::vm_exec::exec(store, &o)) {
        Ok(code) => code,
        Err(e) => {
            crate::log::error(&format!("exec failed: {e:#}"));
            255
        }
    }
}

/// `exec`: the process's exit code, or 255 after logging why it could not run.
pub fn run(store: &Store, a: ExecArgs) -> i32 {
    match options(a).and_then(|o| Ok(holm_container::exec(store, &o)?)) {
        Ok(code) => code,
        Err(e) => {
            crate::log::error(&format!("exec failed: {e:#}"));
            255
        }
    }
}
