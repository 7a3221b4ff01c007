//! `/containers/…`: list, create, inspect, start, stop, restart, kill, wait, pause, rename, top, stats, remove,
//! prune. Each is a call into holm-engine; the body of `create` becomes the engine's [`RunConfig`] (see
//! [`crate::create`]).

use crate::body::{self, Resp};
use crate::error::ApiError;
use crate::query::Query;
use crate::router::Req;
use crate::server::Ctx;
use crate::system::blocking;
use holm_engine::lifecycle::Status;
use holm_engine::listing::{ContainerFilters, ListOptions};
use holm_engine::wait::WaitCondition;
use holm_engine::{ContainerRecord, Error, State};
use hyper::StatusCode;
use serde_json::json;
use std::time::Duration;

/// docker's JSON `filters` (`{"key": ["v", …]}`) as the engine's `KEY=VALUE` strings, which every listing's
/// filter parser takes.
pub fn filter_pairs(q: &Query) -> Result<Vec<String>, ApiError> {
    Ok(q.filters()?
        .into_iter()
        .flat_map(|(k, vals)| vals.into_iter().map(move |v| format!("{k}={v}")))
        .collect())
}

/// `GET /containers/json?all&limit&size&filters`: the engine's listing, each entry its [`ContainerSummary`]
/// (see [`holm_engine::listing`]).
///
/// [`ContainerSummary`]: holm_engine::listing::ContainerSummary
pub async fn list(ctx: &Ctx, q: &Query) -> Result<Resp, ApiError> {
    let opts = ListOptions {
        all: q.flag("all"),
        last: q
            .int("limit")?
            .filter(|l| *l > 0)
            .and_then(|l| usize::try_from(l).ok()),
        filters: ContainerFilters::parse(&filter_pairs(q)?)?,
    };
    let size = q.flag("size");
    let engine = ctx.engine.clone();
    let v: Vec<_> = blocking(move || {
        Ok(engine
            .container_list(&opts)?
            .iter()
            .map(|(r, st)| engine.container_summary(r, *st, size))
            .collect())
    })
    .await?;
    Ok(body::json(StatusCode::OK, &v))
}

/// `POST /containers/create?name=`: 201 `{"Id", "Warnings"}`.
pub async fn create(ctx: &Ctx, req: Req) -> Result<Resp, ApiError> {
    let name = req
        .query
        .get("name")
        .filter(|n| !n.is_empty())
        .map(str::to_string);
    let spec: crate::create::CreateBody = crate::query::read_json(req.inner.into_body()).await?;
    let (image, cfg, warnings) = crate::create::run_config(spec)?;
    let engine = ctx.engine.clone();
    let rec = blocking(move || Ok(engine.create(&image, name.as_deref(), cfg)?)).await?;
    Ok(body::json(
        StatusCode::CREATED,
        &json!({"Id": rec.id, "Warnings": warnings}),
    ))
}

/// Finds a container (refreshed) on the blocking pool.
pub async fn find(ctx: &Ctx, id: &str) -> Result<(ContainerRecord, Status), ApiError> {
    let engine = ctx.engine.clone();
    let id = id.to_string();
    blocking(move || {
        let r = engine.find(&id)?;
        let st = engine.status(&r);
        Ok((r, st))
    })
    .await
}

/// `GET /containers/{id}/json`.
pub async fn inspect(ctx: &Ctx, id: &str) -> Result<Resp, ApiError> {
    let engine = ctx.engine.clone();
    let id = id.to_string();
    let v = blocking(move || {
        let r = engine.find(&id)?;
        let st = engine.status(&r);
        Ok(holm_engine::inspect::inspect(&engine, &r, st))
    })
    .await?;
    Ok(body::json(StatusCode::OK, &v))
}

/// `POST /containers/{id}/start`: 204, or 304 when it runs already.
pub async fn start(ctx: &Ctx, id: &str) -> Result<Resp, ApiError> {
    let engine = ctx.engine.clone();
    let id = id.to_string();
    let started = blocking(move || {
        let rec = engine.find(&id)?;
        if let Some(r) = crate::attach::table().start(&engine, &rec.id) {
            return Ok(r?);
        }
        match engine.start(&rec.id, None)? {
            Some(s) => {
                // The monitor outlives this request; a thread reaps it when it ends (no zombie per start).
                let mut monitor = engine.detach_monitor(s);
                std::thread::spawn(move || monitor.wait());
                Ok(true)
            }
            None => Ok(false),
        }
    })
    .await?;
    Ok(body::empty(if started {
        StatusCode::NO_CONTENT
    } else {
        StatusCode::NOT_MODIFIED
    }))
}

fn stop_timeout(q: &Query) -> Result<Option<u64>, ApiError> {
    let t = match q.int("t")? {
        Some(t) => Some(t),
        None => q.int("timeout")?,
    };
    Ok(t.map(holm_engine::config::stop_timeout))
}

fn signal(q: &Query) -> Result<Option<i32>, ApiError> {
    match q.get("signal").filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(s) => Ok(Some(holm_engine::options::signal("signal", s)?)),
    }
}

/// `POST /containers/{id}/stop?t&signal`: 204, or 304 when it was not running.
pub async fn stop(ctx: &Ctx, id: &str, q: &Query) -> Result<Resp, ApiError> {
    let (t, sig) = (stop_timeout(q)?, signal(q)?);
    let (rec, _) = find(ctx, id).await?;
    if !ctx.engine.is_active(&rec) {
        return Ok(body::empty(StatusCode::NOT_MODIFIED));
    }
    let engine = ctx.engine.clone();
    blocking(move || Ok(engine.stop_with(&rec.id, t, sig)?)).await?;
    Ok(body::empty(StatusCode::NO_CONTENT))
}

/// `POST /containers/{id}/restart?t&signal`: 204.
pub async fn restart(ctx: &Ctx, id: &str, q: &Query) -> Result<Resp, ApiError> {
    let (t, sig) = (stop_timeout(q)?, signal(q)?);
    let engine = ctx.engine.clone();
    let id = id.to_string();
    blocking(move || {
        let id = engine.stop_with(&id, t, sig)?;
        if let Some(s) = engine.start(&id, None)? {
            let mut monitor = engine.detach_monitor(s);
            std::thread::spawn(move || monitor.wait());
        }
        Ok(())
    })
    .await?;
    Ok(body::empty(StatusCode::NO_CONTENT))
}

/// `POST /containers/{id}/kill?signal`: 204; 409 when it is not running (docker's message).
pub async fn kill(ctx: &Ctx, id: &str, q: &Query) -> Result<Resp, ApiError> {
    let sig = signal(q)?.unwrap_or(libc::SIGKILL);
    let engine = ctx.engine.clone();
    let id = id.to_string();
    blocking(move || match engine.kill(&id, sig) {
        Ok(_) => Ok(()),
        Err(Error::BadState { id: full, .. }) => Err(ApiError::conflict(format!(
            "Cannot kill container: {id}: Container {full} is not running"
        ))),
        Err(e) => Err(e.into()),
    })
    .await?;
    Ok(body::empty(StatusCode::NO_CONTENT))
}

/// `POST /containers/{id}/(un)pause`: 204.
pub async fn pause(ctx: &Ctx, id: &str, on: bool) -> Result<Resp, ApiError> {
    let engine = ctx.engine.clone();
    let id = id.to_string();
    blocking(move || {
        if on {
            engine.pause(&id)?;
        } else {
            engine.unpause(&id)?;
        }
        Ok(())
    })
    .await?;
    Ok(body::empty(StatusCode::NO_CONTENT))
}

/// `POST /containers/{id}/rename?name=`: 204.
pub async fn rename(ctx: &Ctx, id: &str, q: &Query) -> Result<Resp, ApiError> {
    let name = q
        .get("name")
        .filter(|n| !n.is_empty())
        .ok_or_else(|| ApiError::bad("new name is required: name"))?
        .to_string();
    let engine = ctx.engine.clone();
    let id = id.to_string();
    blocking(move || Ok(engine.rename(&id, &name)?)).await?;
    Ok(body::empty(StatusCode::NO_CONTENT))
}

/// `POST /containers/{id}/resize?h&w`: the pty of a container started with an interactive attach gets the size;
/// for others it is accepted without effect (their pty's size is their monitor's).
pub async fn resize(ctx: &Ctx, id: &str, q: &Query) -> Result<Resp, ApiError> {
    let (rec, _) = find(ctx, id).await?;
    let dim = |k: &str| -> Result<u16, ApiError> {
        q.int(k)?
            .and_then(|v| u16::try_from(v).ok())
            .ok_or_else(|| {
                ApiError::bad(format!(
                    "{k}: expected a number of {}",
                    if k == "h" { "rows" } else { "columns" }
                ))
            })
    };
    let (h, w) = (dim("h")?, dim("w")?);
    crate::attach::table().resize(&rec.id, h, w);
    Ok(body::empty(StatusCode::OK))
}

/// `DELETE /containers/{id}?force&v`: 204; 409 for a running container without `force`.
pub async fn remove(ctx: &Ctx, id: &str, q: &Query) -> Result<Resp, ApiError> {
    let (force, vols) = (q.flag("force"), q.flag("v"));
    let engine = ctx.engine.clone();
    let id = id.to_string();
    blocking(move || match engine.remove_with(&id, force, vols) {
        Ok(_) => Ok(()),
        Err(Error::BadState { msg, .. }) if msg.starts_with("You cannot remove") => {
            Err(ApiError::conflict(format!(
                "cannot remove container \"/{id}\": container is running: stop the container before removing or force remove"
            )))
        }
        Err(e) => Err(e.into()),
    })
    .await?;
    Ok(body::empty(StatusCode::NO_CONTENT))
}

/// `POST /containers/prune` (no filters: any is refused rather than ignored).
pub async fn prune(ctx: &Ctx, q: &Query) -> Result<Resp, ApiError> {
    q.prune_filters("container", &[])?;
    let engine = ctx.engine.clone();
    let (ids, bytes) = blocking(move || Ok(engine.prune()?)).await?;
    Ok(body::json(
        StatusCode::OK,
        &json!({"ContainersDeleted": ids, "SpaceReclaimed": bytes}),
    ))
}

/// `POST /containers/{id}/wait?condition=not-running|next-exit|removed`: the headers go out at once (the docker
/// CLI starts the container only after they came), then `{"StatusCode", "Error"}` when the condition is met.
pub async fn wait(ctx: &Ctx, id: &str, q: &Query) -> Result<Resp, ApiError> {
    let cond = WaitCondition::parse(q.get("condition").unwrap_or_default())?;
    let (rec, _) = find(ctx, id).await?;
    let (resp, tx) = body::stream(StatusCode::OK, "application/json");
    let engine = ctx.engine.clone();
    let guard = ctx.activity.enter();
    tokio::task::spawn_blocking(move || {
        let _guard = guard;
        let code = engine.wait_condition(&rec, cond);
        let v = match code {
            Ok(c) => json!({"StatusCode": c, "Error": null}),
            Err(e) => json!({"StatusCode": -1, "Error": {"Message": e.to_string()}}),
        };
        let mut b = serde_json::to_vec(&v).expect("JSON");
        b.push(b'\n');
        let _ = tx.blocking_send(b.into());
    });
    Ok(resp)
}

/// `GET /containers/{id}/top?ps_args`: the engine's `top` (the host's `ps`, default `-ef`, rows of the
/// container's processes), serialized as docker's `{"Titles", "Processes"}`.
pub async fn top(ctx: &Ctx, id: &str, q: &Query) -> Result<Resp, ApiError> {
    let args: Vec<String> = q
        .get("ps_args")
        .unwrap_or_default()
        .split_whitespace()
        .map(str::to_string)
        .collect();
    let engine = ctx.engine.clone();
    let id = id.to_string();
    let top = blocking(move || Ok(engine.container_top(&id, &args)?)).await?;
    Ok(body::json(StatusCode::OK, &top))
}

/// `GET /containers/{id}/stats?stream=false`: one docker `StatsJSON` (two samples 1 s apart, for `precpu_stats`);
/// with `stream` (the default) one per second until the container stops or the client goes.
pub async fn stats(ctx: &Ctx, id: &str, q: &Query) -> Result<Resp, ApiError> {
    let stream = q.get("stream").is_none() || q.flag("stream");
    let one_shot = q.flag("one-shot");
    let (rec, _) = find(ctx, id).await?;
    let (resp, tx) = body::stream(StatusCode::OK, "application/json");
    let engine = ctx.engine.clone();
    let guard = ctx.activity.enter();
    tokio::task::spawn_blocking(move || {
        let _guard = guard;
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get()) as u64;
        let sample = || holm_engine::stats::sample(&rec.id).unwrap_or_default();
        let mut prev = if one_shot {
            Default::default()
        } else {
            sample()
        };
        loop {
            if !one_shot {
                std::thread::sleep(Duration::from_secs(1));
            }
            let running = engine
                .find(&rec.id)
                .is_ok_and(|r| r.state == State::Running);
            let s = if running {
                sample()
            } else {
                Default::default()
            };
            let sys = |x: &holm_engine::stats::Sample| x.at_ns as u64 * cpus;
            let v = json!({
                "read": holm_format::time::rfc3339(std::time::SystemTime::now()),
                "preread": "0001-01-01T00:00:00Z",
                "id": rec.id,
                "name": format!("/{}", rec.name),
                "pids_stats": {"current": s.pids},
                "cpu_stats": {
                    "cpu_usage": {"total_usage": s.cpu_ns, "usage_in_kernelmode": 0, "usage_in_usermode": 0},
                    "system_cpu_usage": sys(&s),
                    "online_cpus": cpus,
                    "throttling_data": {"periods": 0, "throttled_periods": 0, "throttled_time": 0},
                },
                "precpu_stats": {
                    "cpu_usage": {"total_usage": prev.cpu_ns, "usage_in_kernelmode": 0, "usage_in_usermode": 0},
                    "system_cpu_usage": sys(&prev),
                    "online_cpus": cpus,
                    "throttling_data": {"periods": 0, "throttled_periods": 0, "throttled_time": 0},
                },
                "memory_stats": {"usage": s.mem_usage, "limit": s.mem_limit, "stats": {}},
                "blkio_stats": {},
                "networks": holm_engine::network::net_io(&rec.id).map(|(rx, tx)| json!({
                    "eth0": {"rx_bytes": rx, "tx_bytes": tx, "rx_packets": 0, "tx_packets": 0,
                             "rx_errors": 0, "tx_errors": 0, "rx_dropped": 0, "tx_dropped": 0}
                })),
            });
            let mut b = serde_json::to_vec(&v).expect("JSON");
            b.push(b'\n');
            if tx.blocking_send(b.into()).is_err() || !stream || !running {
                return;
            }
            prev = s;
        }
    });
    Ok(resp)
}
