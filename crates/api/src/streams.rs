//! Streams: `/containers/{id}/logs`, `/containers/{id}/attach` (hijacked), and the archive endpoints of
//! `docker cp` (`GET|HEAD|PUT /containers/{id}/archive`).
//!
//! Output comes from the container's log file (the monitor writes it; holm has no daemon to tap the pipes), read
//! with holm-engine's [`LogReader`] on a blocking thread: `logs` from the start (or `tail`), `attach` from the
//! end of the log at the time of the request, until the container that was attached to has run and stopped.
//! Without a TTY the bytes are framed as docker's multiplexed stream (`[stream, 0, 0, 0, len]`); with one they
//! go raw. An attach with `stdin` before the start is different: see [`crate::attach`].

use crate::body::{self, frame, Body, Resp, StdStream};
use crate::error::ApiError;
use crate::query::Query;
use crate::router::Req;
use crate::server::Ctx;
use crate::system::blocking;
use bytes::Bytes;
use holm_engine::logfile::{LogReader, Record, Stream};
use holm_engine::logs_api::{self, LogsRequest};
use holm_engine::{ContainerRecord, Engine};
use hyper::header::{HeaderValue, CONNECTION, CONTENT_TYPE, UPGRADE};
use hyper::{Response, StatusCode};
use hyper_util::rt::TokioIo;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;

/// What a log follower passes on, and when it stops.
struct Follow {
    stdout: bool,
    stderr: bool,
    timestamps: bool,
    tty: bool,
    /// Keep reading while the container runs (`follow`, `attach`).
    follow: bool,
    /// `attach`: wait for the container to run first (it is attached to before its start).
    attach: bool,
}

fn encode(f: &Follow, e: &Record<'_>, out: &mut Vec<u8>) {
    let want = match e.stream {
        Stream::Stdout => f.stdout,
        Stream::Stderr => f.stderr,
    };
    if !want {
        return;
    }
    let mut line = Vec::with_capacity(e.log.len() + 32);
    if f.timestamps {
        line.extend_from_slice(e.time.as_bytes());
        line.push(b' ');
    }
    line.extend_from_slice(e.log.as_bytes());
    if f.tty {
        out.extend_from_slice(&line);
    } else {
        let s = match e.stream {
            Stream::Stdout => StdStream::Stdout,
            Stream::Stderr => StdStream::Stderr,
        };
        out.extend_from_slice(&frame(s, &line));
    }
}

/// Reads the log into `tx` until done (see [`Follow`]) or the receiver is gone.
fn pump(
    engine: &Engine,
    rec: &ContainerRecord,
    mut r: LogReader,
    f: &Follow,
    tx: &mpsc::Sender<Bytes>,
) {
    let was_active = engine.is_active(rec);
    let started_at = rec.started_at.clone();
    let flush = |out: &mut Vec<u8>| {
        if out.is_empty() {
            return true;
        }
        tx.blocking_send(Bytes::from(std::mem::take(out))).is_ok()
    };
    let mut out = Vec::new();
    let read = |r: &mut LogReader, out: &mut Vec<u8>| {
        r.read_available::<std::io::Error>(|e| {
            encode(f, e, out);
            Ok(())
        })
        .is_ok()
    };
    if !read(&mut r, &mut out) || !flush(&mut out) || !f.follow {
        return;
    }
    loop {
        // The state before the file: output written before the exit was recorded is read below.
        let (active, ran) = match engine.find(&rec.id) {
            Ok(c) => (
                engine.is_active(&c),
                was_active || c.started_at != started_at,
            ),
            Err(_) => (false, true),
        };
        if !read(&mut r, &mut out) || !flush(&mut out) {
            return;
        }
        if !active && (ran || !f.attach) {
            return;
        }
        if tx.is_closed() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn logs_error(e: logs_api::LogsError) -> ApiError {
    match e {
        logs_api::LogsError::Engine(e) => e.into(),
        logs_api::LogsError::Output(e) => ApiError::internal(e.to_string()),
    }
}

/// Opens a container's log for `attach` (from its end, or with `logs` from its start). Errors: a log driver
/// without a file (501), the log file's.
fn open_log(
    engine: &Engine,
    rec: &ContainerRecord,
    tail: Option<usize>,
) -> Result<LogReader, ApiError> {
    let Some(path) = engine.log_file(&rec.id, &rec.config) else {
        return Err(holm_engine::Error::LogsUnsupported(rec.name.clone()).into());
    };
    let max_file = holm_engine::logopts::rotate(&rec.config.log_opts).map_or(1, |r| r.max_file);
    logs_api::open_reader(&path, max_file, tail)
        .map_err(|e| ApiError::internal(format!("reading log file {}: {e}", path.display())))
}

fn stream_type(tty: bool) -> &'static str {
    if tty {
        "application/vnd.docker.raw-stream"
    } else {
        "application/vnd.docker.multiplexed-stream"
    }
}

/// `GET /containers/{id}/logs?stdout&stderr&follow&tail&timestamps&since&until`: the engine's
/// [`Engine::open_logs`] and [`OpenLog::read`], each record framed (or raw with a TTY) as docker's.
///
/// [`OpenLog::read`]: holm_engine::logs_api::OpenLog::read
pub async fn logs(ctx: &Ctx, id: &str, q: &Query) -> Result<Resp, ApiError> {
    let (stdout, stderr) = (q.flag("stdout"), q.flag("stderr"));
    if !stdout && !stderr {
        return Err(ApiError::bad(
            "Bad parameters: you must choose at least one stream",
        ));
    }
    // (`0` is what clients send for "not given")
    let time = |k: &str| -> Result<Option<String>, ApiError> {
        match q.get(k).filter(|v| !v.is_empty() && *v != "0") {
            None => Ok(None),
            Some(v) => Ok(Some(logs_api::parse_log_time(k, v)?)),
        }
    };
    let req = LogsRequest {
        tail: match q.get("tail").filter(|t| !t.is_empty()) {
            None => None,
            Some(t) => logs_api::parse_tail(t)?,
        },
        since: time("since")?,
        until: time("until")?,
        follow: q.flag("follow"),
    };
    let engine = ctx.engine.clone();
    let id = id.to_string();
    let log_req = req.clone();
    // Opened before the answer: a client may remove the container before it reads the stream (docker-py's run).
    let (rec, log) = blocking(move || {
        let rec = engine.find(&id)?;
        let log = engine.open_logs(&rec.id, &log_req).map_err(logs_error)?;
        Ok((rec, log))
    })
    .await?;
    let f = Follow {
        stdout,
        stderr,
        timestamps: q.flag("timestamps"),
        tty: rec.config.tty,
        follow: req.follow,
        attach: false,
    };
    let (resp, tx) = body::stream(StatusCode::OK, stream_type(f.tty));
    let engine = ctx.engine.clone();
    let guard = ctx.activity.enter();
    tokio::task::spawn_blocking(move || {
        let _guard = guard;
        let out = std::cell::RefCell::new(Vec::new());
        let gone = || std::io::Error::from(std::io::ErrorKind::BrokenPipe);
        let send = || -> std::io::Result<()> {
            let b = std::mem::take(&mut *out.borrow_mut());
            if tx.is_closed() || (!b.is_empty() && tx.blocking_send(b.into()).is_err()) {
                return Err(gone());
            }
            Ok(())
        };
        let mut sink = |e: &Record<'_>| -> std::io::Result<()> {
            encode(&f, e, &mut out.borrow_mut());
            if out.borrow().len() >= 64 * 1024 {
                send()?;
            }
            Ok(())
        };
        // A failure after the headers went out ends the stream (docker's CLI sees a short read).
        let _ = log.read(&engine, &mut sink, &mut || send());
    });
    Ok(resp)
}

/// `POST /containers/{id}/attach?stream&stdout&stderr&logs`: hijacked (`Upgrade: tcp` → 101) when the client
/// asks, else a streamed 200; output until the container has run and stopped.
pub async fn attach(ctx: &Ctx, id: &str, mut req: Req) -> Result<Resp, ApiError> {
    let q = &req.query;
    let (stdout, stderr) = (q.flag("stdout"), q.flag("stderr"));
    let (logs, stream) = (q.flag("logs"), q.flag("stream"));
    let upgrade = req.inner.headers().get(UPGRADE).is_some();
    if q.flag("stdin") && stream && upgrade {
        // `run -i`: wired to the monitor at start (see crate::attach), if it does not run yet.
        let (rec, _) = crate::containers::find(ctx, id).await?;
        if !ctx.engine.is_active(&rec) {
            let tty = rec.config.tty;
            let on_upgrade = hyper::upgrade::on(&mut req.inner);
            let guard = ctx.activity.enter();
            tokio::spawn(async move {
                let _guard = guard;
                if let Ok(up) = on_upgrade.await {
                    let _ = crate::attach::serve(rec.id, tty, TokioIo::new(up)).await;
                }
            });
            return Ok(upgraded(tty));
        }
    }
    let engine = ctx.engine.clone();
    let id = id.to_string();
    let (rec, reader) = blocking(move || {
        let rec = engine.find(&id)?;
        if engine.status(&rec) == holm_engine::lifecycle::Status::Paused {
            return Err(ApiError::conflict(
                "You cannot attach to a paused container, unpause it first",
            ));
        }
        let r = open_log(&engine, &rec, if logs { None } else { Some(0) })?;
        Ok((rec, r))
    })
    .await?;
    let f = Follow {
        stdout,
        stderr,
        timestamps: false,
        tty: rec.config.tty,
        follow: stream,
        attach: true,
    };
    let tty = f.tty;
    let (tx, mut rx) = mpsc::channel::<Bytes>(16);
    let engine = ctx.engine.clone();
    let guard = ctx.activity.enter();
    let on_upgrade = upgrade.then(|| hyper::upgrade::on(&mut req.inner));
    tokio::task::spawn_blocking(move || pump(&engine, &rec, reader, &f, &tx));
    let Some(on_upgrade) = on_upgrade else {
        drop(guard);
        return Ok(Response::builder()
            .status(StatusCode::OK)
            .header(CONTENT_TYPE, stream_type(tty))
            .body(Body::Chan(rx))
            .expect("valid response"));
    };
    tokio::spawn(async move {
        let _guard = guard;
        let Ok(up) = on_upgrade.await else { return };
        let mut io = TokioIo::new(up);
        while let Some(b) = rx.recv().await {
            if io.write_all(&b).await.is_err() {
                return;
            }
        }
        let _ = io.shutdown().await;
    });
    Ok(upgraded(tty))
}

/// docker's 101 for a hijacked stream.
pub fn upgraded(tty: bool) -> Resp {
    let mut r = body::empty(StatusCode::SWITCHING_PROTOCOLS);
    let h = r.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static(stream_type(tty)));
    h.insert(CONNECTION, HeaderValue::from_static("Upgrade"));
    h.insert(UPGRADE, HeaderValue::from_static("tcp"));
    r
}

/// docker's `X-Docker-Container-Path-Stat`: base64 of `{"name", "size", "mode" (Go's FileMode), "mtime",
/// "linkTarget"}`.
fn path_stat_header(st: &holm_engine::copy_tar::PathStat) -> String {
    use std::os::unix::fs::MetadataExt;
    let m = &st.metadata;
    let ft = m.file_type();
    let mut mode = m.mode() & 0o777;
    // Go's os.FileMode type bits
    if ft.is_dir() {
        mode |= 1 << 31;
    } else if ft.is_symlink() {
        mode |= 1 << 27;
    } else if std::os::unix::fs::FileTypeExt::is_fifo(&ft) {
        mode |= 1 << 25;
    } else if std::os::unix::fs::FileTypeExt::is_socket(&ft) {
        mode |= 1 << 24;
    } else if std::os::unix::fs::FileTypeExt::is_char_device(&ft) {
        mode |= (1 << 26) | (1 << 21);
    } else if std::os::unix::fs::FileTypeExt::is_block_device(&ft) {
        mode |= 1 << 26;
    }
    if m.mode() & 0o4000 != 0 {
        mode |= 1 << 23;
    }
    if m.mode() & 0o2000 != 0 {
        mode |= 1 << 22;
    }
    if m.mode() & 0o1000 != 0 {
        mode |= 1 << 20;
    }
    let mtime =
        std::time::UNIX_EPOCH + Duration::new(m.mtime().max(0) as u64, m.mtime_nsec() as u32);
    let v = serde_json::json!({
        "name": st.name,
        "size": m.len(),
        "mode": mode,
        "mtime": holm_format::time::rfc3339(mtime),
        "linkTarget": st.link_target.as_ref().map(|p| p.display().to_string()).unwrap_or_default(),
    });
    base64(&serde_json::to_vec(&v).expect("JSON"))
}

fn base64(b: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut s = String::with_capacity(b.len().div_ceil(3) * 4);
    for c in b.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= c.len() {
                s.push(T[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                s.push('=');
            }
        }
    }
    s
}

fn path_param(q: &Query) -> Result<String, ApiError> {
    q.get("path")
        .filter(|p| !p.is_empty())
        .map(str::to_string)
        .ok_or_else(|| ApiError::bad("path is required: path"))
}

fn not_found_path(id: &str, path: &str) -> ApiError {
    ApiError::not_found(format!("Could not find the file {path} in container {id}"))
}

/// `GET|HEAD /containers/{id}/archive?path=`: a tar of the path (HEAD: only the stat header).
pub async fn archive_get(ctx: &Ctx, id: &str, req: Req) -> Result<Resp, ApiError> {
    let path = path_param(&req.query)?;
    let head = req.method == hyper::Method::HEAD;
    let engine = ctx.engine.clone();
    let (idc, pathc) = (id.to_string(), path.clone());
    let st = blocking(move || match engine.stat_path(&idc, &pathc) {
        Ok(s) => Ok(s),
        Err(e @ holm_engine::Error::NoSuchContainer(_)) => Err(e.into()),
        Err(_) => Err(not_found_path(&idc, &pathc)),
    })
    .await?;
    let header = path_stat_header(&st);
    if head {
        let mut r = body::empty(StatusCode::OK);
        r.headers_mut().insert(
            "X-Docker-Container-Path-Stat",
            HeaderValue::from_str(&header).expect("base64 is a valid header"),
        );
        return Ok(r);
    }
    let (mut resp, tx) = body::stream(StatusCode::OK, "application/x-tar");
    resp.headers_mut().insert(
        "X-Docker-Container-Path-Stat",
        HeaderValue::from_str(&header).expect("base64 is a valid header"),
    );
    let engine = ctx.engine.clone();
    let id = id.to_string();
    let guard = ctx.activity.enter();
    tokio::task::spawn_blocking(move || {
        let _guard = guard;
        let w = ChanWriter {
            tx,
            buf: Vec::new(),
        };
        // An error mid-stream can only cut the archive short (the status went out): the client sees a bad tar.
        let _ = engine.copy_from_to_tar(&id, &path, Default::default(), w);
    });
    Ok(resp)
}

/// `PUT /containers/{id}/archive?path=`: extracts the tar body into the existing directory `path`.
pub async fn archive_put(ctx: &Ctx, id: &str, req: Req) -> Result<Resp, ApiError> {
    let path = path_param(&req.query)?;
    crate::containers::find(ctx, id).await?;
    let (tx, rx) = mpsc::channel::<Bytes>(16);
    let engine = ctx.engine.clone();
    let id = id.to_string();
    let extract = tokio::task::spawn_blocking(move || {
        let r = ChanReader {
            rx,
            cur: Bytes::new(),
        };
        engine.copy_to_from_tar(&id, r, &path).map_err(|e| match e {
            holm_engine::Error::Io { what, .. } if what.starts_with("Could not find the file") => {
                ApiError::not_found(what)
            }
            holm_engine::Error::Io { what, source }
                if source.to_string().contains("not a directory") =>
            {
                ApiError::bad(format!("{what}: {source}"))
            }
            e => ApiError::bad(e.to_string()),
        })
    });
    feed_body(req.inner.into_body(), tx).await;
    extract
        .await
        .map_err(|e| ApiError::internal(format!("extraction failed: {e}")))??;
    Ok(body::empty(StatusCode::OK))
}

/// Sends a request body's chunks to `tx` until it ends or the receiver is gone.
pub async fn feed_body(mut b: hyper::body::Incoming, tx: mpsc::Sender<Bytes>) {
    use http_body_util::BodyExt;
    while let Some(Ok(f)) = b.frame().await {
        if let Ok(d) = f.into_data() {
            if tx.send(d).await.is_err() {
                return;
            }
        }
    }
}

/// A blocking [`std::io::Write`] into a response body channel (64 KiB chunks).
pub struct ChanWriter {
    /// The body's sender.
    pub tx: mpsc::Sender<Bytes>,
    /// Bytes not sent yet.
    pub buf: Vec<u8>,
}

impl std::io::Write for ChanWriter {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(b);
        if self.buf.len() >= 64 * 1024 {
            self.flush()?;
        }
        Ok(b.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        self.tx
            .blocking_send(Bytes::from(std::mem::take(&mut self.buf)))
            .map_err(|_| std::io::Error::from(std::io::ErrorKind::BrokenPipe))
    }
}

impl Drop for ChanWriter {
    fn drop(&mut self) {
        let _ = std::io::Write::flush(self);
    }
}

/// A blocking [`std::io::Read`] of a request body fed through a channel.
pub struct ChanReader {
    /// The chunks.
    pub rx: mpsc::Receiver<Bytes>,
    /// The chunk being read.
    pub cur: Bytes,
}

impl std::io::Read for ChanReader {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        while self.cur.is_empty() {
            match self.rx.blocking_recv() {
                Some(b) => self.cur = b,
                None => return Ok(0),
            }
        }
        let n = out.len().min(self.cur.len());
        out[..n].copy_from_slice(&self.cur.split_to(n));
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn base64() {
        assert_eq!(super::base64(b"hello"), "aGVsbG8=");
        assert_eq!(super::base64(b"hi"), "aGk=");
        assert_eq!(super::base64(b"abc"), "YWJj");
    }
}
