//! Exec instances: `POST /containers/{id}/exec`, `POST /exec/{id}/start` (hijacked), `GET /exec/{id}/json`,
//! `POST /exec/{id}/resize`.
//!
//! The server never forks into a container itself (it is multi-threaded): `start` runs `holm exec` as a child
//! process ([`std::process::Command`]: fork immediately followed by exec), with pipes for its stdio; `holm exec`
//! re-executes itself from a sealed copy and joins the container as the CLI's does. Its exit status is the exec's
//! `ExitCode`, recorded before the stream closes (the docker CLI reads it right after).
//!
//! With `Tty` and `AttachStdin` together, `holm exec -i -t` gets a pty of the server's as its stdio (it makes its
//! own terminal raw and relays it to the container's pty); the pty starts with the client's `ConsoleSize`, and
//! `resize` sets its size and tells the child with SIGWINCH. With `Tty` alone the child runs `holm exec -t` on pipes.

use crate::body::{self, Resp, StdStream};
use crate::error::ApiError;
use crate::router::Req;
use crate::server::Ctx;
use bytes::Bytes;
use holm_engine::State;
use hyper::header::UPGRADE;
use hyper::StatusCode;
use hyper_util::rt::TokioIo;
use serde::Deserialize;
use serde_json::json;
use std::collections::HashMap;
use std::io::{Read, Write};
use std::os::fd::AsFd;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

/// The exec instances of this server (by id).
#[derive(Default)]
pub struct Execs(Mutex<HashMap<String, Arc<Mutex<Exec>>>>);

/// One exec instance.
#[derive(Debug, Clone)]
pub struct Exec {
    /// Its id.
    pub id: String,
    /// The container's id.
    pub container: String,
    /// What `create` asked for.
    pub config: ExecConfig,
    /// Started once (an exec runs once).
    pub started: bool,
    /// Its process runs.
    pub running: bool,
    /// Its exit status once it ended.
    pub exit_code: Option<i32>,
    /// The `holm exec` child's pid while it runs.
    pub pid: u32,
    /// The master of the pty the child got as its stdio (`Tty` with `AttachStdin`).
    pub pty: Option<Arc<std::os::fd::OwnedFd>>,
}

/// The body of `POST /containers/{id}/exec`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ExecConfig {
    /// Feed the client's input to the process.
    pub attach_stdin: bool,
    /// Pass its stdout.
    pub attach_stdout: bool,
    /// Pass its stderr.
    pub attach_stderr: bool,
    /// A terminal.
    pub tty: bool,
    /// The command.
    pub cmd: Vec<String>,
    /// `K=V` added.
    pub env: Option<Vec<String>>,
    /// `USER[:GROUP]`.
    pub user: String,
    /// Working directory.
    pub working_dir: String,
    /// `--privileged` (refused: holm's exec has no such mode).
    pub privileged: bool,
    /// The client's terminal size, `[rows, columns]` (API 1.42+; the docker CLI sends it with `-t`).
    pub console_size: Option<[u32; 2]>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct StartConfig {
    detach: bool,
    /// As [`ExecConfig::console_size`]; the start's wins.
    console_size: Option<[u32; 2]>,
}

/// The size an exec's pty starts with, (rows, columns): the client's `ConsoleSize` from start, else from create,
/// else 24x80 (a zero or too large dimension is ignored). Taken at the start so that the process's first look at
/// its terminal sees the client's size, not 24x80 until the client's `resize` arrives (a race `stty size` lost).
fn initial_size(start: Option<[u32; 2]>, create: Option<[u32; 2]>) -> (u16, u16) {
    let valid = |s: [u32; 2]| {
        let (r, c) = (u16::try_from(s[0]).ok()?, u16::try_from(s[1]).ok()?);
        (r > 0 && c > 0).then_some((r, c))
    };
    start
        .and_then(valid)
        .or_else(|| create.and_then(valid))
        .unwrap_or((24, 80))
}

impl Execs {
    fn get(&self, id: &str) -> Result<Arc<Mutex<Exec>>, ApiError> {
        self.0
            .lock()
            .expect("execs lock")
            .get(id)
            .cloned()
            .ok_or_else(|| ApiError::not_found(format!("No such exec instance: {id}")))
    }
}

/// `POST /containers/{id}/exec`: 201 `{"Id"}`; 409 when the container is not running.
pub async fn create(ctx: &Ctx, id: &str, req: Req) -> Result<Resp, ApiError> {
    let cfg: ExecConfig = crate::query::read_json(req.inner.into_body()).await?;
    if cfg.cmd.is_empty() {
        return Err(ApiError::bad("No exec command specified"));
    }
    if cfg.privileged {
        return Err(ApiError::unsupported("Privileged exec"));
    }
    if !cfg.working_dir.is_empty() && !cfg.working_dir.starts_with('/') {
        return Err(ApiError::bad(format!(
            "the working directory '{}' is invalid, it needs to be an absolute path",
            cfg.working_dir
        )));
    }
    let (rec, _) = crate::containers::find(ctx, id).await?;
    if rec.state != State::Running {
        return Err(ApiError::conflict(format!(
            "Container {} is not running",
            rec.id
        )));
    }
    let exec_id = holm_engine::ids::new_id()?;
    let e = Exec {
        id: exec_id.clone(),
        container: rec.id,
        config: cfg,
        started: false,
        running: false,
        exit_code: None,
        pid: 0,
        pty: None,
    };
    ctx.execs
        .0
        .lock()
        .expect("execs lock")
        .insert(exec_id.clone(), Arc::new(Mutex::new(e)));
    Ok(body::json(StatusCode::CREATED, &json!({ "Id": exec_id })))
}

/// `GET /exec/{id}/json`.
pub async fn inspect(ctx: &Ctx, id: &str) -> Result<Resp, ApiError> {
    let e = ctx.execs.get(id)?.lock().expect("exec lock").clone();
    let c = &e.config;
    Ok(body::json(
        StatusCode::OK,
        &json!({
            "ID": e.id,
            "Running": e.running,
            "ExitCode": e.exit_code,
            "ProcessConfig": {
                "tty": c.tty,
                "entrypoint": c.cmd.first(),
                "arguments": c.cmd.get(1..).unwrap_or_default(),
                "privileged": false,
                "user": c.user,
            },
            "OpenStdin": c.attach_stdin,
            "OpenStderr": c.attach_stderr,
            "OpenStdout": c.attach_stdout,
            "CanRemove": false,
            "ContainerID": e.container,
            "DetachKeys": "",
            "Pid": if e.running { e.pid } else { 0 },
        }),
    ))
}

/// `POST /exec/{id}/resize`: accepted (see the module's notes).
pub async fn resize(ctx: &Ctx, id: &str, q: &crate::query::Query) -> Result<Resp, ApiError> {
    let e = ctx.execs.get(id)?.lock().expect("exec lock").clone();
    let (h, w) = (q.int("h")?.unwrap_or(0), q.int("w")?.unwrap_or(0));
    if let (Some(m), Ok(h), Ok(w)) = (&e.pty, u16::try_from(h), u16::try_from(w)) {
        if h > 0 && w > 0 && e.running {
            // The child has no controlling terminal: it is told by SIGWINCH, as a terminal would tell it.
            let _ = holm_sys::tty::set_winsize(m.as_fd(), h, w);
            let _ = holm_sys::process::kill(e.pid as i32, libc::SIGWINCH);
        }
    }
    Ok(body::empty(StatusCode::CREATED))
}

/// A pty (master, peer) for an interactive exec with a TTY, of `size` (rows, columns, see [`initial_size`]) until
/// the client's resize.
fn open_pty(size: (u16, u16)) -> std::io::Result<(std::os::fd::OwnedFd, std::os::fd::OwnedFd)> {
    use std::os::unix::fs::OpenOptionsExt;
    let master = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NOCTTY | libc::O_CLOEXEC)
        .open("/dev/ptmx")?;
    let master = std::os::fd::OwnedFd::from(master);
    let (peer, _) = holm_sys::tty::open_peer(master.as_fd()).map_err(std::io::Error::other)?;
    let _ = holm_sys::tty::set_winsize(master.as_fd(), size.0, size.1);
    Ok((master, peer))
}

/// The `holm exec` command line for an exec instance.
fn command(ctx: &Ctx, e: &Exec, detach: bool) -> Result<Command, ApiError> {
    let exe = holm_engine::monitor::holm_executable()?;
    let c = &e.config;
    let mut cmd = Command::new(exe);
    cmd.arg("--root")
        .arg(ctx.engine.root())
        .arg("--runroot")
        .arg(ctx.engine.runroot())
        .arg("exec");
    if c.attach_stdin && !detach {
        cmd.arg("--interactive");
    }
    // (holm exec has no detached terminal; an interactive one gets a pty from the server, see `start`)
    if c.tty && !detach {
        cmd.arg("--tty");
    }
    if detach {
        cmd.arg("--detach");
    }
    if !c.user.is_empty() {
        cmd.arg("--user").arg(&c.user);
    }
    if !c.working_dir.is_empty() {
        cmd.arg("--workdir").arg(&c.working_dir);
    }
    // `K` alone would pass this server's own value: only `K=V` is taken.
    for v in c.env.iter().flatten().filter(|v| v.contains('=')) {
        cmd.arg("--env").arg(v);
    }
    cmd.arg(&e.container).arg("--").args(&c.cmd);
    Ok(cmd)
}

/// `POST /exec/{id}/start` with `{"Detach", "Tty"}`: detached, 200 once it runs; else the process's output as a
/// hijacked stream (multiplexed without a TTY), the client's input to its stdin, until it ends.
pub async fn start(ctx: &Ctx, id: &str, mut req: Req) -> Result<Resp, ApiError> {
    let upgrade = req.inner.headers().get(UPGRADE).is_some();
    let on_upgrade = upgrade.then(|| hyper::upgrade::on(&mut req.inner));
    let sc: StartConfig = crate::query::read_json(req.inner.into_body()).await?;
    let exec = ctx.execs.get(id)?;
    let e = {
        let mut e = exec.lock().expect("exec lock");
        if e.started {
            return Err(ApiError::conflict(format!(
                "Error: Exec command {id} has already run"
            )));
        }
        e.started = true;
        e.running = true;
        e.clone()
    };
    let mut cmd = command(ctx, &e, sc.detach)?;
    let c = &e.config;
    let stdin = c.attach_stdin && !sc.detach;
    let pty = if stdin && c.tty {
        let (master, peer) = open_pty(initial_size(sc.console_size, c.console_size))
            .map_err(|err| ApiError::internal(format!("open a pty: {err}")))?;
        let dup = |f: &std::os::fd::OwnedFd| {
            f.try_clone()
                .map_err(|err| ApiError::internal(format!("dup the pty: {err}")))
        };
        cmd.stdin(Stdio::from(dup(&peer)?))
            .stdout(Stdio::from(dup(&peer)?))
            .stderr(Stdio::from(peer));
        Some(Arc::new(master))
    } else {
        None
    };
    if pty.is_none() {
        cmd.stdin(if stdin { Stdio::piped() } else { Stdio::null() })
            .stdout(if c.attach_stdout && !sc.detach {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stderr(if c.attach_stderr && !sc.detach {
                Stdio::piped()
            } else {
                Stdio::null()
            });
    }
    let spawned = tokio::task::spawn_blocking(move || cmd.spawn())
        .await
        .map_err(|err| ApiError::internal(err.to_string()))?;
    let mut child = match spawned {
        Ok(c) => c,
        Err(err) => {
            let mut e = exec.lock().expect("exec lock");
            e.running = false;
            e.exit_code = Some(126);
            return Err(ApiError::internal(format!("start holm exec: {err}")));
        }
    };
    {
        let mut e = exec.lock().expect("exec lock");
        e.pid = child.id();
        e.pty = pty.clone();
    }
    let tty = c.tty;
    let pty_io = |m: &Arc<std::os::fd::OwnedFd>| -> Result<std::fs::File, ApiError> {
        m.try_clone()
            .map(std::fs::File::from)
            .map_err(|err| ApiError::internal(format!("dup the pty: {err}")))
    };
    let (pty_out, pty_in) = match &pty {
        Some(m) => (Some(pty_io(m)?), Some(pty_io(m)?)),
        None => (None, None),
    };
    let (tx, mut rx) = mpsc::channel::<Bytes>(16);
    let readers: Vec<_> = [
        (
            pty_out.map(|f| Box::new(f) as Box<dyn Read + Send>),
            StdStream::Stdout,
        ),
        (
            child
                .stdout
                .take()
                .map(|s| Box::new(s) as Box<dyn Read + Send>),
            StdStream::Stdout,
        ),
        (
            child
                .stderr
                .take()
                .map(|s| Box::new(s) as Box<dyn Read + Send>),
            StdStream::Stderr,
        ),
    ]
    .into_iter()
    .filter_map(|(r, s)| r.map(|r| (r, s)))
    .map(|(r, s)| crate::body::relay(r, s, tty, tx.clone()))
    .collect();
    drop(tx);
    let mut child_stdin: Option<Box<dyn Write + Send>> = match pty_in {
        Some(f) => Some(Box::new(f)),
        None => child
            .stdin
            .take()
            .map(|w| Box::new(w) as Box<dyn Write + Send>),
    };
    let guard = ctx.activity.enter();
    let exec2 = exec.clone();
    // The waiter records the exit status, then lets the output stream end.
    let (done_tx, done_rx) = tokio::sync::oneshot::channel::<()>();
    std::thread::spawn(move || {
        let code = child.wait().map_or(-1, |s| {
            s.code().unwrap_or_else(|| {
                128 + std::os::unix::process::ExitStatusExt::signal(&s).unwrap_or(0)
            })
        });
        for r in readers {
            let _ = r.join();
        }
        let mut e = exec2.lock().expect("exec lock");
        e.running = false;
        e.exit_code = Some(code);
        drop(e);
        let _ = done_tx.send(());
    });
    if sc.detach {
        drop(guard);
        return Ok(body::empty(StatusCode::OK));
    }
    let Some(on_upgrade) = on_upgrade else {
        // Not hijacked: the output as the response body.
        drop(child_stdin);
        let (resp, btx) = body::stream(StatusCode::OK, stream_type(tty));
        tokio::spawn(async move {
            let _guard = guard;
            while let Some(b) = rx.recv().await {
                if btx.send(b).await.is_err() {
                    break;
                }
            }
            let _ = done_rx.await;
        });
        return Ok(resp);
    };
    tokio::spawn(async move {
        let _guard = guard;
        let Ok(up) = on_upgrade.await else { return };
        let (mut rd, mut wr) = tokio::io::split(TokioIo::new(up));
        // Client → process stdin (a blocking pipe write, off the runtime).
        let input = tokio::spawn(async move {
            let mut buf = vec![0u8; 32 * 1024];
            loop {
                let n = match rd.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => n,
                };
                let Some(mut w) = child_stdin.take() else {
                    continue;
                };
                let chunk = buf[..n].to_vec();
                match tokio::task::spawn_blocking(move || w.write_all(&chunk).map(|_| w)).await {
                    Ok(Ok(w)) => child_stdin = Some(w),
                    _ => break,
                }
            }
            // EOF from the client (its CloseWrite) closes the process's stdin.
            drop(child_stdin);
        });
        while let Some(b) = rx.recv().await {
            if wr.write_all(&b).await.is_err() {
                break;
            }
        }
        let _ = done_rx.await;
        let _ = wr.shutdown().await;
        input.abort();
    });
    Ok(crate::streams::upgraded(tty))
}

fn stream_type(tty: bool) -> &'static str {
    if tty {
        "application/vnd.docker.raw-stream"
    } else {
        "application/vnd.docker.multiplexed-stream"
    }
}

#[cfg(test)]
mod tests {
    use super::initial_size;

    #[test]
    fn an_exec_pty_starts_with_the_clients_console_size() {
        assert_eq!(initial_size(None, None), (24, 80));
        assert_eq!(initial_size(None, Some([33, 111])), (33, 111));
        assert_eq!(initial_size(Some([40, 100]), Some([33, 111])), (40, 100));
        assert_eq!(initial_size(Some([0, 100]), Some([33, 111])), (33, 111));
        assert_eq!(initial_size(Some([70000, 100]), None), (24, 80));
    }

    #[test]
    fn console_size_is_read_from_the_bodies() {
        let c: super::ExecConfig =
            serde_json::from_str(r#"{"Cmd":["sh"],"Tty":true,"ConsoleSize":[33,111]}"#).unwrap();
        assert_eq!(c.console_size, Some([33, 111]));
        let s: super::StartConfig =
            serde_json::from_str(r#"{"Detach":false,"Tty":true,"ConsoleSize":[33,111]}"#).unwrap();
        assert_eq!(s.console_size, Some([33, 111]));
        let s: super::StartConfig = serde_json::from_str(r#"{"ConsoleSize":null}"#).unwrap();
        assert_eq!(s.console_size, None);
    }
}
