//! Interactive attach (`docker run -i` / `-it`, `docker start -ai`): an attach with `stdin=1` to a container
//! that is not running yet is wired to its monitor at start, as a foreground `holm run -i` is. The attach makes
//! pipes for stdin, stdout and stderr and parks their container ends here; `start` hands them to the monitor
//! (which copies the container's output, or its pty, to them and the client's input to the container) and keeps
//! the monitor's control socket to pass `resize` on. The hijacked stream ends when the container's output ends.

use crate::body::StdStream;
use bytes::Bytes;
use holm_engine::lifecycle::Resizer;
use holm_engine::Engine;
use std::collections::HashMap;
use std::io::{Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

/// The container ends of an attach waiting for its container's start.
struct Pending {
    stdin: OwnedFd,
    stdout: OwnedFd,
    stderr: OwnedFd,
}

/// Attaches waiting for a start, and the resizers of started ones (by container id).
#[derive(Default)]
pub struct Attaches {
    pending: Mutex<HashMap<String, Pending>>,
    resizers: Mutex<HashMap<String, Arc<Resizer>>>,
}

impl Attaches {
    /// Starts `id` (a full id) with a parked attach if there is one (`Some(Ok(started))`); `None`: there is none
    /// (start it plainly).
    pub fn start(&self, engine: &Engine, id: &str) -> Option<holm_engine::Result<bool>> {
        let p = self.pending.lock().expect("attach lock").remove(id)?;
        let r = engine.start_with_stdin(
            id,
            Some((p.stdout.as_fd(), p.stderr.as_fd())),
            Some(p.stdin.as_fd()),
        );
        // The monitor has its copies: ours go, so the client's stream ends when the container's output does.
        drop(p);
        Some(r.map(|started| {
            let Some(s) = started else { return false };
            let key = id.to_string();
            if let Ok(rz) = s.resizer() {
                self.resizers
                    .lock()
                    .expect("attach lock")
                    .insert(key.clone(), Arc::new(rz));
            }
            let engine = engine.clone();
            let resizers = ResizerDrop(key);
            std::thread::spawn(move || {
                let _ = engine.wait_started(s);
                drop(resizers);
            });
            true
        }))
    }

    /// Passes a resize to an attached, started container; false if there is none.
    pub fn resize(&self, id: &str, rows: u16, cols: u16) -> bool {
        let r = self.resizers.lock().expect("attach lock").get(id).cloned();
        match r {
            Some(r) => {
                r.resize(rows, cols);
                true
            }
            None => false,
        }
    }

    fn forget_resizer(&self, id: &str) {
        self.resizers.lock().expect("attach lock").remove(id);
    }
}

/// Removes a container's resizer from the server's table when its waiter ends.
struct ResizerDrop(String);

impl Drop for ResizerDrop {
    fn drop(&mut self) {
        if let Some(a) = ATTACHES.get() {
            a.forget_resizer(&self.0);
        }
    }
}

/// The server's table (one server per process).
pub static ATTACHES: std::sync::OnceLock<Arc<Attaches>> = std::sync::OnceLock::new();

/// The table.
pub fn table() -> Arc<Attaches> {
    ATTACHES.get_or_init(Default::default).clone()
}

/// Parks an attach for `id`'s next start and serves the hijacked stream `io` until the container's output ends
/// (or, if it never starts, the client went and a minute passed).
pub async fn serve<IO>(id: String, tty: bool, io: IO) -> std::io::Result<()>
where
    IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + 'static,
{
    let (in_r, in_w) = std::io::pipe()?;
    let (out_r, out_w) = std::io::pipe()?;
    let (err_r, err_w) = std::io::pipe()?;
    let attaches = table();
    attaches.pending.lock().expect("attach lock").insert(
        id.clone(),
        Pending {
            stdin: OwnedFd::from(in_r),
            stdout: OwnedFd::from(out_w),
            stderr: OwnedFd::from(err_w),
        },
    );
    let (tx, mut rx) = mpsc::channel::<Bytes>(16);
    for (r, s) in [
        (Box::new(out_r) as Box<dyn Read + Send>, StdStream::Stdout),
        (Box::new(err_r), StdStream::Stderr),
    ] {
        crate::body::relay(r, s, tty, tx.clone());
    }
    drop(tx);
    let (mut rd, mut wr) = tokio::io::split(io);
    let key = id.clone();
    let input = tokio::spawn(async move {
        let mut w = Some(in_w);
        let mut buf = vec![0u8; 32 * 1024];
        loop {
            let n = match rd.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            let Some(mut pw) = w.take() else { break };
            let chunk = buf[..n].to_vec();
            match tokio::task::spawn_blocking(move || pw.write_all(&chunk).map(|_| pw)).await {
                Ok(Ok(pw)) => w = Some(pw),
                _ => break,
            }
        }
        // The client's EOF closes the container's stdin. If the container never starts, its parked ends go
        // after a minute, which ends the stream.
        drop(w);
        tokio::time::sleep(Duration::from_secs(60)).await;
        table().pending.lock().expect("attach lock").remove(&key);
    });
    while let Some(b) = rx.recv().await {
        if wr.write_all(&b).await.is_err() {
            break;
        }
    }
    let _ = wr.shutdown().await;
    input.abort();
    attaches.pending.lock().expect("attach lock").remove(&id);
    Ok(())
}
