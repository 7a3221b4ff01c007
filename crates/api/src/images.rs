//! `/images/…`: list, inspect, create (pull), tag, delete, load, get (save), prune — over the engine's image store.

use crate::body::{self, Resp};
use crate::error::ApiError;
use crate::query::Query;
use crate::router::Req;
use crate::server::Ctx;
use crate::streams::{ChanReader, ChanWriter};
use crate::system::blocking;
use bytes::Bytes;
use holm_image::{ImageRecord, PullEvent, Reference};
use hyper::StatusCode;
use serde_json::{json, Value};

/// One `/images/json` entry (docker's `ImageSummary`).
pub fn summary(i: &ImageRecord) -> Value {
    json!({
        "Id": i.id.to_string(),
        "ParentId": "",
        "RepoTags": i.repo_tags.iter().map(|t| familiar(t)).collect::<Vec<_>>(),
        "RepoDigests": i.repo_digests.iter().map(|t| familiar(t)).collect::<Vec<_>>(),
        "Created": i.created.as_deref().and_then(crate::fmt::unix).unwrap_or(0),
        "Size": i.size,
        "SharedSize": -1,
        "VirtualSize": i.size,
        "Labels": {},
        "Containers": -1,
    })
}

/// docker's short form of a normalised name (`docker.io/library/busybox:1` → `busybox:1`).
fn familiar(n: &str) -> String {
    Reference::parse(n)
        .map(|r| r.familiar())
        .unwrap_or_else(|_| n.to_string())
}

/// `GET /images/json?all&filters` (`reference`, `dangling`).
pub async fn list(ctx: &Ctx, q: &Query) -> Result<Resp, ApiError> {
    let filters = q.filters()?;
    let engine = ctx.engine.clone();
    let v = blocking(move || {
        let mut out = Vec::new();
        for i in engine.images().list()? {
            let dangling = i.repo_tags.is_empty();
            let keep = filters.iter().all(|(k, vals)| match k.as_str() {
                "dangling" => vals.iter().any(|v| (v == "true" || v == "1") == dangling),
                "reference" => vals.iter().any(|v| {
                    i.repo_tags.iter().any(|t| {
                        let f = familiar(t);
                        f == *v || f.split(':').next() == Some(v.as_str()) || t == v
                    })
                }),
                _ => true,
            });
            if keep {
                out.push(summary(&i));
            }
        }
        Ok(Value::Array(out))
    })
    .await?;
    Ok(body::json(StatusCode::OK, &v))
}

/// `GET /images/{name}/json`.
pub async fn inspect(ctx: &Ctx, name: &str) -> Result<Resp, ApiError> {
    let engine = ctx.engine.clone();
    let name = name.to_string();
    let v = blocking(move || {
        let store = engine.images();
        let img = store.resolve(&name).map_err(|e| match e {
            holm_image::StoreError::NotFound(_) => {
                ApiError::not_found(format!("No such image: {name}"))
            }
            e => e.into(),
        })?;
        let cfg = store.config(&img)?;
        let layers: Vec<String> = cfg.rootfs().diff_ids().clone();
        Ok(json!({
            "Id": img.id.to_string(),
            "RepoTags": img.repo_tags.iter().map(|t| familiar(t)).collect::<Vec<_>>(),
            "RepoDigests": img.repo_digests.iter().map(|t| familiar(t)).collect::<Vec<_>>(),
            "Parent": "",
            "Comment": "",
            "Created": img.created,
            "DockerVersion": "",
            "Author": cfg.author(),
            "Config": cfg.config(),
            "Architecture": cfg.architecture().to_string(),
            "Os": cfg.os().to_string(),
            "Variant": cfg.variant(),
            "Size": img.size,
            "GraphDriver": {"Name": "overlay", "Data": null},
            "RootFS": {"Type": "layers", "Layers": layers},
            "Metadata": {"LastTagTime": "0001-01-01T00:00:00Z"},
        }))
    })
    .await?;
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
    Reference::parse_normalized(&target)
        .map_err(|e| ApiError::bad(format!("invalid reference format: {target}: {e}")))?;
    let engine = ctx.engine.clone();
    let name = name.to_string();
    blocking(move || Ok(engine.images().tag(&name, &target)?)).await?;
    Ok(body::empty(StatusCode::CREATED))
}

/// `DELETE /images/{name}?force`: `[{"Untagged"}, {"Deleted"}]`; 409 for an image a running container uses.
pub async fn remove(ctx: &Ctx, name: &str, q: &Query) -> Result<Resp, ApiError> {
    let force = q.flag("force");
    let engine = ctx.engine.clone();
    let name = name.to_string();
    let v = blocking(move || {
        let running: std::collections::HashSet<String> = engine
            .list()?
            .into_iter()
            .filter(|(_, st)| {
                use holm_engine::lifecycle::Status;
                matches!(st, Status::Running | Status::Paused | Status::Restarting)
            })
            .map(|(r, _)| r.id)
            .collect();
        let r = holm_engine::space::with_reserve_of(engine.root(), || {
            engine
                .images()
                .remove_checked(&name, force, &|s| running.contains(s))
        })
        .map_err(|e| match e {
            holm_image::StoreError::NotFound(_) => {
                ApiError::not_found(format!("No such image: {name}"))
            }
            e => ApiError::conflict(e.to_string()),
        })?;
        let mut out: Vec<Value> = r
            .untagged
            .iter()
            .map(|u| json!({"Untagged": familiar(u)}))
            .collect();
        out.extend(r.deleted.iter().map(|d| json!({"Deleted": d.to_string()})));
        Ok(Value::Array(out))
    })
    .await?;
    Ok(body::json(StatusCode::OK, &v))
}

/// `POST /images/prune?filters` (`dangling=false`: every unused image).
pub async fn prune(ctx: &Ctx, q: &Query) -> Result<Resp, ApiError> {
    let all = q
        .filters()?
        .get("dangling")
        .is_some_and(|v| v.iter().any(|x| x == "false" || x == "0"));
    let engine = ctx.engine.clone();
    let (deleted, gc) = blocking(move || {
        Ok(holm_engine::space::with_reserve_of(engine.root(), || {
            engine.images().prune(all)
        })?)
    })
    .await?;
    let list: Vec<Value> = deleted
        .iter()
        .map(|d| json!({"Deleted": d.to_string()}))
        .collect();
    Ok(body::json(
        StatusCode::OK,
        &json!({"ImagesDeleted": list, "SpaceReclaimed": gc.bytes}),
    ))
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
            engine.images().resolve(n).map_err(|e| match e {
                holm_image::StoreError::NotFound(_) => {
                    ApiError::not_found(format!("No such image: {n}"))
                }
                e => e.into(),
            })?;
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
        let _ = engine
            .images()
            .save(&names, holm_image::ArchiveFormat::DockerArchive, w);
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
        let opts = holm_image::LoadOptions::default();
        engine
            .images()
            .load(f.path(), &opts)
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
    let given = Reference::parse_normalized(&name)
        .map_err(|e| ApiError::bad(format!("invalid reference format: {name}: {e}")))?;
    let reference = given.clone().or_latest();
    let platform = match q.get("platform").filter(|p| !p.is_empty()) {
        Some(p) => holm_image::platform::Platform::parse(p)
            .map_err(|e| ApiError::bad(format!("invalid platform {p:?}: {e}")))?,
        None => Default::default(),
    };
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
        let send = |v: Value| {
            let _ = qtx.send(v);
        };
        let what = match (reference.digest(), reference.tag()) {
            (Some(d), _) => d.to_string(),
            (None, t) => t.unwrap_or("latest").to_string(),
        };
        send(json!({"status": format!("Pulling from {}", reference.path()), "id": what}));
        let short = |d: &holm_image::digest::Digest| {
            let s: &str = d.as_ref();
            s.split(':')
                .nth(1)
                .unwrap_or("")
                .chars()
                .take(12)
                .collect::<String>()
        };
        let mut progress = |e: PullEvent| {
            let (status, d) = match &e {
                PullEvent::Resolved(_) => return,
                PullEvent::LayerExists(d) => ("Already exists", d),
                PullEvent::LayerPulling(d) => ("Pulling fs layer", d),
                PullEvent::LayerDownloaded(d) => ("Download complete", d),
                PullEvent::LayerComplete(d) => ("Pull complete", d),
            };
            send(json!({"status": status, "progressDetail": {}, "id": short(d)}));
        };
        let opts = holm_image::PullOptions {
            platform,
            ..Default::default()
        };
        match engine.images().pull(&reference, &opts, &mut progress) {
            Ok(p) => {
                send(json!({"status": format!("Digest: {}", p.digest)}));
                let status = if p.updated {
                    "Downloaded newer image for"
                } else {
                    "Image is up to date for"
                };
                send(json!({"status": format!("Status: {status} {}", p.reference.familiar())}));
            }
            Err(e) => {
                let m = e.to_string();
                send(json!({"errorDetail": {"message": m}, "error": m}));
            }
        }
    });
    Ok(resp)
}
