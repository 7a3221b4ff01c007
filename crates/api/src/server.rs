//! The listener: the socket (mode 0660, owner root:root, made under a temporary name and renamed into place so
//! it is never reachable with looser permissions), the accept loop, the idle timer (`--time`), and the
//! termination signals.

use crate::error::ServeError;
use crate::router;
use holm_engine::Engine;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use std::os::fd::AsFd;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How `holm system service` serves.
#[derive(Debug, Clone)]
pub struct ServiceOptions {
    /// The Unix socket's path.
    pub socket: PathBuf,
    /// Exit after this long with no connection (`None`: serve forever; podman's `--time 0`).
    pub idle: Option<Duration>,
}

/// The socket path of `unix://PATH` (or a bare absolute path); other schemes (`tcp://`) are refused.
pub fn parse_address(s: &str) -> Result<PathBuf, ServeError> {
    let p = match s.strip_prefix("unix://") {
        Some(p) => p,
        None if s.starts_with('/') => s,
        None => return Err(ServeError::Address(s.to_string())),
    };
    if !p.starts_with('/') || p.len() < 2 {
        return Err(ServeError::Address(s.to_string()));
    }
    Ok(PathBuf::from(p))
}

/// Open connections and hijacked streams; the idle timer runs while there are none.
pub struct Activity {
    active: AtomicUsize,
    last: Mutex<Instant>,
}

/// Counts one connection or stream while it lives.
pub struct ActivityGuard(Arc<Activity>);

impl Activity {
    /// A guard counting one more active connection until dropped.
    pub fn enter(self: &Arc<Self>) -> ActivityGuard {
        self.active.fetch_add(1, Ordering::SeqCst);
        *self.last.lock().expect("activity lock") = Instant::now();
        ActivityGuard(self.clone())
    }

    fn idle_for(&self) -> Option<Duration> {
        (self.active.load(Ordering::SeqCst) == 0)
            .then(|| self.last.lock().expect("activity lock").elapsed())
    }
}

impl Drop for ActivityGuard {
    fn drop(&mut self) {
        *self.0.last.lock().expect("activity lock") = Instant::now();
        self.0.active.fetch_sub(1, Ordering::SeqCst);
    }
}

/// What every request handler shares.
pub struct Ctx {
    /// The engine (its stores are opened per call).
    pub engine: Engine,
    /// For hijacked streams to count as activity.
    pub activity: Arc<Activity>,
    /// Exec instances created through `/containers/{id}/exec` (kept while the server runs, as dockerd's).
    pub execs: crate::exec::Execs,
}

/// Serves the Engine API on `opts.socket` until idle for `opts.idle`, or SIGINT/SIGTERM/SIGHUP; removes the
/// socket when done.
pub fn serve(engine: Engine, opts: &ServiceOptions) -> Result<(), ServeError> {
    use holm_sys::signal::{self, SigSet};
    // Signals are read from a signalfd: blocked here, before any thread exists, so every thread inherits the
    // mask. Children get an empty mask again (std's Command resets it before exec).
    signal::set_mask(&SigSet::all())?;
    let sigfd = signal::signalfd(&SigSet::all())?;
    let listener = bind(&opts.socket)?;
    let path = opts.socket.clone();
    std::thread::spawn(move || loop {
        match signal::read_signal(sigfd.as_fd()) {
            Ok(s) if [libc::SIGINT, libc::SIGTERM, libc::SIGHUP].contains(&s) => {
                let _ = std::fs::remove_file(&path);
                std::process::exit(0);
            }
            Ok(_) => {}
            Err(_) => return,
        }
    });
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(ServeError::Runtime)?;
    let ctx = Arc::new(Ctx {
        engine,
        activity: Arc::new(Activity {
            active: AtomicUsize::new(0),
            last: Mutex::new(Instant::now()),
        }),
        execs: Default::default(),
    });
    let r = rt.block_on(accept_loop(ctx, listener, opts.idle, &opts.socket));
    let _ = std::fs::remove_file(&opts.socket);
    // Streams still open (a `logs -f` client) are cut, as when dockerd stops.
    rt.shutdown_background();
    r
}

async fn accept_loop(
    ctx: Arc<Ctx>,
    listener: std::os::unix::net::UnixListener,
    idle: Option<Duration>,
    path: &Path,
) -> Result<(), ServeError> {
    let sock_err = |what| {
        move |source| ServeError::Socket {
            what,
            path: path.to_path_buf(),
            source,
        }
    };
    listener
        .set_nonblocking(true)
        .map_err(sock_err("listen on"))?;
    let listener = tokio::net::UnixListener::from_std(listener).map_err(sock_err("listen on"))?;
    let mut tick = tokio::time::interval(Duration::from_millis(200));
    loop {
        tokio::select! {
            r = listener.accept() => {
                let Ok((stream, _)) = r else { continue };
                let guard = ctx.activity.enter();
                let ctx = ctx.clone();
                tokio::spawn(async move {
                    let _guard = guard;
                    let svc = service_fn(move |req| {
                        let ctx = ctx.clone();
                        async move { Ok::<_, std::convert::Infallible>(router::handle(ctx, req).await) }
                    });
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), svc)
                        .with_upgrades()
                        .await;
                });
            }
            _ = tick.tick() => {
                if let (Some(limit), Some(idle)) = (idle, ctx.activity.idle_for()) {
                    if idle >= limit {
                        return Ok(());
                    }
                }
            }
        }
    }
}

/// Binds the socket: refuses one another server answers on, replaces a stale one, and makes the new one under a
/// temporary name, mode 0660 and owner root:root (when run as root) before renaming it into place.
fn bind(path: &Path) -> Result<std::os::unix::net::UnixListener, ServeError> {
    let err = |what| {
        move |source| ServeError::Socket {
            what,
            path: path.to_path_buf(),
            source,
        }
    };
    let parent = path
        .parent()
        .ok_or_else(|| ServeError::Address(path.display().to_string()))?;
    std::fs::create_dir_all(parent).map_err(err("create the directory of"))?;
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_socket() => {
            if std::os::unix::net::UnixStream::connect(path).is_ok() {
                return Err(ServeError::InUse(path.to_path_buf()));
            }
        }
        Ok(_) => {
            return Err(err("replace")(std::io::Error::other(
                "it exists and is not a socket",
            )))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(err("stat")(e)),
    }
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let tmp = parent.join(format!(".{name}.{}.tmp", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    let l = std::os::unix::net::UnixListener::bind(&tmp).map_err(err("bind"))?;
    let r = (|| {
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o660))?;
        if holm_sys::process::geteuid() == 0 {
            std::os::unix::fs::chown(&tmp, Some(0), Some(0))?;
        }
        std::fs::rename(&tmp, path)
    })();
    if let Err(e) = r {
        let _ = std::fs::remove_file(&tmp);
        return Err(err("set up")(e));
    }
    Ok(l)
}
