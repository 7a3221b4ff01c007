//! `exec` in a VM container: a request to the VM shim, which runs the process in the guest with the stdio fds
//! sent along. In the foreground the runtime waits for the exit code; with `--detach` a child of the runtime does.
//!
//! With `--tty` the runtime opens a host pty (its peer raw: the guest's pty does the line discipline) and sends
//! the peer as the process's stdio; the shim relays it to the guest's pty, whose size follows the host pty's. The
//! master goes to `--console-socket` (runc's protocol), or, in the foreground without one, to the runtime's own
//! relay to its stdin/stdout (raw mode, `SIGWINCH`), as runc's `exec -t` does. In the foreground the runtime
//! passes the signals it gets on to the guest process, as runc does.

use anyhow::{bail, Context};
use holm_container::console::Relay;
use holm_container::state::Status;
use holm_container::Store;
use holm_vm::shim_api::{Client, ShimReply, ShimRequest};
use std::io::Read;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::Path;

/// Where the pty master of an exec with a terminal goes.
enum Console {
    /// `--console-socket`.
    Socket(UnixStream),
    /// This process relays it (foreground, no socket).
    Relay(Relay),
}

/// `exec` in a VM container: the process runs in the guest with this process's stdin, stdout and stderr (or a
/// terminal, see the module docs); returns its exit code. With `--detach` (how conmon and containerd's runc shim
/// always call it) a child of this process holds the connection to the shim and exits with the process's exit
/// code; its pid goes to `--pid-file`, and this command returns 0 once the process runs in the guest.
pub fn exec(store: &Store, opts: &holm_container::ExecOptions) -> anyhow::Result<i32> {
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
    let mut process = holm_container::exec::resolve_process(&s.config, opts)?;
    // Before any terminal or detached child exists: an exec too big for the shim's request line fails here with
    // one line naming process.env, not with the shim's protocol error.
    holm_vm::guest_spec::check_exec_size(&process)?;
    let dir = l.dir.clone();
    // The lock is released before a detached exec forks: its long-lived child must not hold it.
    drop(l);
    // runc's rules for the console socket.
    let console = match (
        process.terminal().unwrap_or(false),
        &opts.console_socket,
        opts.detach,
    ) {
        (true, Some(p), _) => Some(Console::Socket(
            UnixStream::connect(p)
                .with_context(|| format!("connect to console socket {}", p.display()))?,
        )),
        (true, None, true) => {
            bail!("exec: a terminal (--tty) for a detached process needs --console-socket")
        }
        (true, None, false) => Some(Console::Relay(Relay::new()?)),
        (false, Some(p), _) => bail!(
            "exec: --console-socket `{}` is only used with a terminal (--tty)",
            p.display()
        ),
        (false, None, _) => None,
    };
    // Relayed here: the host pty (and so the guest's, which the shim creates with the host pty's size) starts with
    // our terminal's size, not 0x0 until the relay starts after the process (`stty size` at once saw 0x0).
    if let Some(Console::Relay(r)) = &console {
        if let Some((rows, cols)) = r.terminal_size() {
            let size = oci_spec::runtime::BoxBuilder::default()
                .height(u64::from(rows))
                .width(u64::from(cols))
                .build()
                .context("process.consoleSize")?;
            process.set_console_size(Some(size));
        }
    }
    // The terminal: the master goes to its owner now (before the process starts, as runc's tenant sends it); the
    // peer is the process's stdio.
    let peer = match &console {
        None => None,
        Some(c) => {
            let (master, peer, num) = crate::vm_cmds::open_host_pty(Some(&process))?;
            let sock = match c {
                Console::Socket(s) => s.try_clone().context("dup console socket")?,
                Console::Relay(r) => r.container_end()?,
            };
            holm_sys::socket::send_with_fds(
                sock.as_fd(),
                format!("/dev/pts/{num}").as_bytes(),
                &[master.as_fd()],
            )
            .context("send the terminal to the console socket")?;
            Some(peer)
        }
    };
    if opts.detach {
        return exec_detached(&dir, &opts.id, process, opts.pid_file.as_deref(), peer);
    }
    // Every signal is blocked from before the process starts until it ended, and read from a signalfd meanwhile
    // (passed on to it): a SIGINT that comes as soon as the process runs (its first output can reach the caller
    // before this process hears back from the shim) would otherwise kill this process with the default action
    // instead of reaching the guest process.
    use holm_sys::signal::{self, SigSet};
    let old = signal::set_mask(&SigSet::all())?;
    let r = (|| {
        let mut c = Client::connect(&dir)?;
        let pid = start_exec(&mut c, &opts.id, process, peer.as_ref().map(|p| p.as_fd()))?;
        drop(peer);
        if let Some(f) = &opts.pid_file {
            log::debug!(
                "exec: guest pid {pid}; --pid-file {} not written (no host process)",
                f.display()
            );
        }
        let relay = match console {
            Some(Console::Relay(r)) => Some(r),
            _ => None,
        };
        wait_foreground(&dir, &mut c, pid, relay)
    })();
    let _ = signal::set_mask(&old);
    r
}

/// How long an exec waits for the shim's answer: a VM whose VMM or guest agent is stuck (qemu stopped, a wedged
/// agent) never answers, and the exec fails after this instead of hanging. The shim itself gives up after
/// [`holm_vm::shim_api::EXEC_START_TIMEOUT`] (15 s) and says so; this bounds a shim that does not answer either.
const EXEC_START_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(20);

/// Sends the exec request with `terminal` (a pty peer) or else this process's stdin, stdout and stderr as the
/// process's stdio; returns the guest pid once it runs. A VM that does not answer within [`EXEC_START_TIMEOUT`]
/// is an error naming container `id`.
fn start_exec(
    c: &mut Client,
    id: &str,
    process: oci_spec::runtime::Process,
    terminal: Option<BorrowedFd<'_>>,
) -> anyhow::Result<i32> {
    let (i, o, e) = (std::io::stdin(), std::io::stdout(), std::io::stderr());
    let fds = match terminal {
        Some(t) => [t, t, t],
        None => [i.as_fd(), o.as_fd(), e.as_fd()],
    };
    c.send(
        &ShimRequest::Exec {
            process: Box::new(process),
        },
        &fds,
    )?;
    c.set_read_timeout(Some(EXEC_START_TIMEOUT))?;
    let reply = match c.recv() {
        Err(holm_vm::shim_api::Error::Io(e))
            if matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ) =>
        {
            bail!(
                "exec in {id}: the VM did not answer within {} s (its VMM or guest agent is stuck)",
                EXEC_START_TIMEOUT.as_secs()
            )
        }
        r => r?,
    };
    c.set_read_timeout(None)?;
    match reply {
        ShimReply::Pid(p) => Ok(p),
        ShimReply::Error(e) => bail!("{e}"),
        other => bail!("unexpected reply from the VM shim: {other:?}"),
    }
}

/// The exit code of a started exec. A shim that goes away before the exit (killed: its qemu dies with it) took the
/// VM and the process with it: 137, as for a VM that ends under an exec (the shim's own answer then) and as docker
/// reports an exec whose container was killed.
fn wait_exec(c: &mut Client) -> anyhow::Result<i32> {
    let reply = match c.recv() {
        Err(holm_vm::shim_api::Error::Closed) => {
            log::debug!("exec: the VM shim went away: the process ended with the VM");
            return Ok(128 + libc::SIGKILL);
        }
        r => r?,
    };
    match reply {
        ShimReply::Exited(code) => Ok(code),
        ShimReply::Error(e) => bail!("{e}"),
        other => bail!("unexpected reply from the VM shim: {other:?}"),
    }
}

/// Waits for the exit of the exec'd process (guest pid `pid`) and returns its code, passing on every signal this
/// process gets to it (as runc's foreground `exec` does) through a second connection to the shim; with `relay`,
/// relays the terminal to this process's stdin/stdout meanwhile (raw while it runs; `SIGWINCH` resizes the host
/// pty, which the shim passes on to the guest) and copies the output still buffered at the end. The caller has
/// blocked every signal (they are read from a signalfd here).
fn wait_foreground(
    dir: &Path,
    c: &mut Client,
    pid: i32,
    mut relay: Option<Relay>,
) -> anyhow::Result<i32> {
    use holm_sys::signal::{self, SigSet};
    let r = (|| {
        let sfd = signal::signalfd(&SigSet::all())?;
        if let Some(r) = &mut relay {
            r.start()?;
        }
        loop {
            let mut fds = vec![c.as_fd(), sfd.as_fd()];
            if let Some(r) = &relay {
                fds.extend(r.poll_fds());
            }
            let ready = holm_sys::process::poll_any(&fds, -1)?;
            if let Some(r) = &mut relay {
                r.pump(&ready[2..])?;
            }
            if ready[1] {
                match signal::read_signal(sfd.as_fd())? {
                    libc::SIGCHLD => {}
                    libc::SIGWINCH if relay.is_some() => {
                        if let Some(r) = &relay {
                            r.resize();
                        }
                    }
                    sig => {
                        // Best effort: the process may have just ended.
                        let sent = Client::connect(dir)
                            .and_then(|mut k| k.call(&ShimRequest::KillExec { pid, signal: sig }));
                        log::debug!("exec: signal {sig} to guest pid {pid}: {sent:?}");
                    }
                }
            }
            if ready[0] {
                let code = wait_exec(c);
                if let Some(r) = &mut relay {
                    r.drain();
                }
                return code;
            }
        }
    })();
    drop(relay);
    r
}

/// `exec --detach`: forks the host process that stands for the guest process (engines wait for the pid in
/// `--pid-file` and take its exit status as the process's). It starts the exec with the stdio it inherited (or
/// `terminal`, a pty peer), reports on a pipe (nothing: started; else the error), then waits and exits with the
/// process's code (255 if the VM ends first). Signals sent to it are not forwarded to the guest process.
fn exec_detached(
    dir: &Path,
    id: &str,
    process: oci_spec::runtime::Process,
    pid_file: Option<&Path>,
    terminal: Option<OwnedFd>,
) -> anyhow::Result<i32> {
    use std::io::Write;
    let (mut report_r, report_w) = std::io::pipe().context("pipe")?;
    match holm_sys::process::fork()? {
        holm_sys::process::Fork::Child => {
            drop(report_r);
            let mut report_w = report_w;
            let started = Client::connect(dir)
                .map_err(anyhow::Error::from)
                .and_then(|mut c| {
                    start_exec(&mut c, id, process, terminal.as_ref().map(|t| t.as_fd())).map(|_| c)
                });
            // The shim holds the terminal now.
            drop(terminal);
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
            drop(terminal);
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
