//! `/images/…`: list, inspect, create (pull), tag, delete, load, get (save), prune — over the engine's image store.

use crate::body::{self, Resp};
use crate::error::ApiError;
use crate::query::Query;
use crate::router::Req;
use crate::server::Ctx;
use crate::streams::{ChanReader, ChanWriter};
use crate::system::blocking;
use bytes::Bytes;
use holm_engine::images::{check_reference, familiar_name as familiar};
use hyper::StatusCode;
use serde_json::{json, Value};

/// `GET /images/json?filters` (`reference`, `dangling`, `label`).
pub async fn list(ctx: &Ctx, q: &Query) -> Result<Resp, ApiError> {
    let flags = crate::containers::filter_pairs(q)?;
    let filters = holm_engine::images::ImageFilters::parse(&flags, None)?;
    let engine = ctx.engine.clone();
    let v = blocking(move || Ok(engine.image_list(&filters)?)).await?;
    Ok(body::json(StatusCode::OK, &v))
}

/// `GET /images/{name}/json`.
pub async fn inspect(ctx: &Ctx, name: &str) -> Result<Resp, ApiError> {
    let engine = ctx.engine.clone();
    let name = name.to_string();
    let v = blocking(move || Ok(engine.image_inspect(&name)?.with_familiar_names())).await?;
    Ok(body::json(StatusCode::OK, &v))
}

/// `POST /images/{name}/tag?repo&tag`: 201.
pub async fn tag(ctx: &Ctx, name: &str, q: &Query) -> Result<Resp, ApiError> {
    let repo = q
        .get("repo")
        .filter(|r| !r.is_empty())
        .ok_or_else(|| ApiError::bad("repository name is required: repo"))?;
    let target = match q.get("tag").filter(|t| !t.is_empty()) {
        Some(t) => format!("{repo}:{t}"),
        None => repo.to_string(),
    };
    check_reference(&target)?;
    let engine = ctx.engine.clone();
    let name = name.to_string();
    blocking(move || Ok(engine.image_tag(&name, &target)?)).await?;
    Ok(body::empty(StatusCode::CREATED))
}

/// `DELETE /images/{name}?force`: `[{"Untagged"}, {"Deleted"}]`; 409 for an image a running container uses.
pub async fn remove(ctx: &Ctx, name: &str, q: &Query) -> Result<Resp, ApiError> {
    let force = q.flag("force");
    let engine = ctx.engine.clone();
    let name = name.to_string();
    let v = blocking(move || {
        let items = engine.image_remove(&name, force)?;
        Ok(items
            .into_iter()
            .map(|i| i.with_familiar_name())
            .collect::<Vec<_>>())
    })
    .await?;
    Ok(body::json(StatusCode::OK, &v))
}

/// `POST /images/prune?filters` (`dangling=false`: every unused image).
pub async fn prune(ctx: &Ctx, q: &Query) -> Result<Resp, ApiError> {
    let all = q
        .prune_filters("image", &["dangling"])?
        .get("dangling")
        .is_some_and(|v| v.iter().any(|x| x == "false" || x == "0"));
    let engine = ctx.engine.clone();
    let v = blocking(move || Ok(engine.image_prune(all)?)).await?;
    Ok(body::json(StatusCode::OK, &v))
}

/// `GET /images/{name}/get` or `/images/get?names=…`: a docker-archive tar.
pub async fn save(ctx: &Ctx, q: &Query, name: Option<String>) -> Result<Resp, ApiError> {
    let names: Vec<String> = match name {
        Some(n) => vec![n],
        None => q.get_all("names"),
    };
    if names.is_empty() {
        return Err(ApiError::bad("no image names given: names"));
    }
    // Resolve first: a missing image is a 404 before any byte goes out.
    let engine = ctx.engine.clone();
    let check = names.clone();
    blocking(move || {
        for n in &check {
            engine.image_inspect(n)?;
        }
        Ok(())
    })
    .await?;
    let (resp, tx) = body::stream(StatusCode::OK, "application/x-tar");
    let engine = ctx.engine.clone();
    let guard = ctx.activity.enter();
    tokio::task::spawn_blocking(move || {
        let _guard = guard;
        let w = ChanWriter {
            tx,
            buf: Vec::new(),
        };
        let _ = engine.image_save(
            &names,
            holm_engine::image_ops::ArchiveFormat::DockerArchive,
            w,
        );
    });
    Ok(resp)
}

/// `POST /images/load`: the tar body (spooled to a temporary file) loaded; docker's JSON message stream.
pub async fn load(ctx: &Ctx, req: Req) -> Result<Resp, ApiError> {
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(16);
    let engine = ctx.engine.clone();
    let spool = tokio::task::spawn_blocking(move || {
        let mut f = tempfile_in(engine.root())?;
        let mut r = ChanReader {
            rx,
            cur: Bytes::new(),
        };
        std::io::copy(&mut r, f.as_file_mut())
            .map_err(|e| ApiError::internal(format!("spool the archive: {e}")))?;
        Ok::<_, ApiError>(f)
    });
    crate::streams::feed_body(req.inner.into_body(), tx).await;
    let f = spool
        .await
        .map_err(|e| ApiError::internal(e.to_string()))??;
    let engine = ctx.engine.clone();
    let loaded = blocking(move || {
        engine
            .image_load(
                f.path(),
                "linux/amd64",
                holm_engine::image_ops::DEFAULT_MAX_LAYER_BYTES,
            )
            .map_err(|e| ApiError::bad(format!("load the archive: {e}")))
    })
    .await?;
    let mut out = Vec::new();
    for l in loaded {
        // `quiet` only silences progress (docker's CLI sets it when its output is not a terminal).
        let lines: Vec<String> = if l.names.is_empty() {
            vec![format!("Loaded image ID: {}\n", l.id)]
        } else {
            l.names
                .iter()
                .map(|n| format!("Loaded image: {}\n", familiar(n)))
                .collect()
        };
        for s in lines {
            out.extend(serde_json::to_vec(&json!({ "stream": s })).expect("JSON"));
            out.push(b'\n');
        }
    }
    Ok(body::bytes(StatusCode::OK, "application/json", out))
}

fn tempfile_in(root: &std::path::Path) -> Result<TempFile, ApiError> {
    let dir = root.join("tmp");
    std::fs::create_dir_all(&dir)
        .map_err(|e| ApiError::internal(format!("create {}: {e}", dir.display())))?;
    let path = dir.join(format!("api-load-{}", holm_engine::ids::new_id()?));
    let file = std::fs::OpenOptions::new()
        .create_new(true)
        .read(true)
        .write(true)
        .open(&path)
        .map_err(|e| ApiError::internal(format!("create {}: {e}", path.display())))?;
    Ok(TempFile { path, file })
}

/// A file removed when dropped.
struct TempFile {
    path: std::path::PathBuf,
    file: std::fs::File,
}

impl TempFile {
    fn path(&self) -> &std::path::Path {
        &self.path
    }
    fn as_file_mut(&mut self) -> &mut std::fs::File {
        &mut self.file
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// `POST /images/create?fromImage&tag&platform` (pull): docker's JSON progress stream; a failure is its last
/// message (`{"error", "errorDetail"}`), as dockerd's once the stream began.
pub async fn pull(ctx: &Ctx, req: Req) -> Result<Resp, ApiError> {
    let q = &req.query;
    if q.get("fromSrc").is_some() {
        return Err(ApiError::unsupported(
            "Importing a root filesystem (fromSrc)",
        ));
    }
    let from = q
        .get("fromImage")
        .filter(|f| !f.is_empty())
        .ok_or_else(|| ApiError::bad("fromImage is required"))?;
    let name = match q.get("tag").filter(|t| !t.is_empty()) {
        Some(t) if t.contains(':') => format!("{from}@{t}"),
        Some(t) => format!("{from}:{t}"),
        None => from.to_string(),
    };
    check_reference(&name)?;
    let platform = q
        .get("platform")
        .filter(|p| !p.is_empty())
        .unwrap_or("linux/amd64")
        .to_string();
    let (resp, tx) = body::stream(StatusCode::OK, "application/json");
    let engine = ctx.engine.clone();
    let guard = ctx.activity.enter();
    // The registry client runs its own async runtime inside, and calls `progress` from it: messages go through
    // an unbounded queue to a forwarder thread, which may block on the response body.
    let (qtx, qrx) = std::sync::mpsc::channel::<Value>();
    std::thread::spawn(move || {
        let _guard = guard;
        for v in qrx {
            let mut b = serde_json::to_vec(&v).expect("JSON");
            b.push(b'\n');
            if tx.blocking_send(b.into()).is_err() {
                return;
            }
        }
    });
    std::thread::spawn(move || {
        let req = holm_engine::pull::PullRequest {
            image: &name,
            platform: &platform,
            tls_verify: None,
        };
        let mut progress = |p: holm_engine::pull::PullProgress| {
            // lines docker's CLI prints itself (`Using default tag`) are not the daemon's
            if !p.client_side {
                let _ = qtx.send(serde_json::to_value(&p).unwrap_or(Value::Null));
            }
        };
        if let Err(e) = engine.image_pull(&req, &mut progress) {
            let m = e.to_string();
            let _ = qtx.send(json!({"errorDetail": {"message": m}, "error": m}));
        }
    });
    Ok(resp)
}
