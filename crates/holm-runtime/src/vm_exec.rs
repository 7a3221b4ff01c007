//! `exec` in a VM container: a request to the VM shim, which runs the process in the guest with the stdio fds
//! sent along. In the foreground the runtime waits for the exit code; with `--detach` a child of the runtime does.

use anyhow::{bail, Context};
use holm_container::state::Status;
use holm_container::Store;
use holm_vm::shim_api::{Client, ShimReply, ShimRequest};
use std::io::Read;
use std::os::fd::AsFd;
use std::path::Path;

/// `exec` in a VM container: the process runs in the guest with this process's stdin, stdout and stderr; returns
/// its exit code. With `--detach` (how conmon and containerd's runc shim always call it) a child of this process
/// holds the connection to the shim and exits with the process's exit code; its pid goes to `--pid-file`, and
/// this command returns 0 once the process runs in the guest.
pub fn exec(store: &Store, opts: &holm_container::ExecOptions) -> anyhow::Result<i32> {
    if opts.tty || opts.console_socket.is_some() {
        bail!("--tty: a terminal is not supported with --isolation vm yet");
    }
    if opts.preserve_fds > 0 {
        bail!("--preserve-fds: not supported with --isolation vm");
    }
    let l = store.lock(&opts.id)?;
    let s = l.load()?;
    let status = l.status(&s);
    if status != Status::Running {
        return Err(holm_container::Error::BadState {
            id: opts.id.clone(),
            status: status.to_string(),
            msg: "cannot exec in a container that is not running".into(),
        }
        .into());
    }
    let process = holm_container::exec::resolve_process(&s.config, opts)?;
    let dir = l.dir.clone();
    // The lock is released before a detached exec forks: its long-lived child must not hold it.
    drop(l);
    if opts.detach {
        return exec_detached(&dir, process, opts.pid_file.as_deref());
    }
    let mut c = Client::connect(&dir)?;
    let pid = start_exec(&mut c, process)?;
    if let Some(f) = &opts.pid_file {
        log::debug!(
            "exec: guest pid {pid}; --pid-file {} not written (no host process)",
            f.display()
        );
    }
    wait_exec(&mut c)
}

/// Sends the exec request with this process's stdin, stdout and stderr; returns the guest pid once it runs.
fn start_exec(c: &mut Client, process: oci_spec::runtime::Process) -> anyhow::Result<i32> {
    let (i, o, e) = (std::io::stdin(), std::io::stdout(), std::io::stderr());
    c.send(
        &ShimRequest::Exec {
            process: Box::new(process),
        },
        &[i.as_fd(), o.as_fd(), e.as_fd()],
    )?;
    match c.recv()? {
        ShimReply::Pid(p) => Ok(p),
        ShimReply::Error(e) => bail!("{e}"),
        other => bail!("unexpected reply from the VM shim: {other:?}"),
    }
}

/// The exit code of a started exec.
fn wait_exec(c: &mut Client) -> anyhow::Result<i32> {
    match c.recv()? {
        ShimReply::Exited(code) => Ok(code),
        ShimReply::Error(e) => bail!("{e}"),
        other => bail!("unexpected reply from the VM shim: {other:?}"),
    }
}

/// `exec --detach`: forks the host process that stands for the guest process (engines wait for the pid in
/// `--pid-file` and take its exit status as the process's). It starts the exec with the stdio it inherited,
/// reports on a pipe (nothing: started; else the error), then waits and exits with the process's code (255 if the
/// VM ends first). Signals sent to it are not forwarded to the guest process.
fn exec_detached(
    dir: &Path,
    process: oci_spec::runtime::Process,
    pid_file: Option<&Path>,
) -> anyhow::Result<i32> {
    use std::io::Write;
    let (mut report_r, report_w) = std::io::pipe().context("pipe")?;
    match holm_sys::process::fork()? {
        holm_sys::process::Fork::Child => {
            drop(report_r);
            let mut report_w = report_w;
            let started = Client::connect(dir)
                .map_err(anyhow::Error::from)
                .and_then(|mut c| start_exec(&mut c, process).map(|_| c));
            match started {
                Err(e) => {
                    let _ = write!(report_w, "{e:#}");
                    holm_sys::process::exit_now(255)
                }
                Ok(mut c) => {
                    drop(report_w);
                    holm_sys::process::exit_now(wait_exec(&mut c).unwrap_or(255))
                }
            }
        }
        holm_sys::process::Fork::Parent(child) => {
            drop(report_w);
            let mut msg = String::new();
            report_r
                .read_to_string(&mut msg)
                .context("read the exec's report")?;
            if !msg.is_empty() {
                let _ = holm_sys::process::waitpid(child, 0);
                bail!("{msg}");
            }
            if let Some(p) = pid_file {
                let tmp = p.with_extension("holm-tmp");
                std::fs::write(&tmp, child.to_string())
                    .and_then(|_| std::fs::rename(&tmp, p))
                    .with_context(|| format!("--pid-file {}", p.display()))?;
            }
            Ok(0)
        }
    }
}
