//! `/volumes…`: list, create, inspect, remove, prune (holm's `local` volumes).

use crate::body::{self, Resp};
use crate::error::ApiError;
use crate::query::Query;
use crate::router::Req;
use crate::server::Ctx;
use crate::system::blocking;
use holm_engine::volumes::Volume;
use holm_engine::Engine;
use hyper::StatusCode;
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// docker's `Volume`.
pub fn volume_json(engine: &Engine, v: &Volume) -> Value {
    json!({
        "Name": v.name,
        "Driver": "local",
        "Mountpoint": engine.volume_path(&v.name),
        "CreatedAt": v.created,
        "Labels": v.labels,
        "Scope": "local",
        "Options": {},
    })
}

/// `GET /volumes?filters` (`name`, `label`, `dangling`).
pub async fn list(ctx: &Ctx, q: &Query) -> Result<Resp, ApiError> {
    let filters = q.filters()?;
    let engine = ctx.engine.clone();
    let v = blocking(move || {
        let mut out = Vec::new();
        for v in engine.volume_list()? {
            let mut keep = true;
            for (k, vals) in &filters {
                keep &= match k.as_str() {
                    "name" => vals.iter().any(|n| v.name.contains(n.as_str())),
                    "label" => vals.iter().all(|l| match l.split_once('=') {
                        Some((lk, lv)) => v.labels.get(lk).is_some_and(|x| x == lv),
                        None => v.labels.contains_key(l.as_str()),
                    }),
                    "dangling" => {
                        let unused = engine.volume_users(&v.name)?.is_empty();
                        vals.iter().any(|d| (d == "true" || d == "1") == unused)
                    }
                    "driver" => vals.iter().any(|d| d == "local"),
                    _ => return Err(ApiError::bad(format!("invalid filter '{k}'"))),
                };
            }
            if keep {
                out.push(volume_json(&engine, &v));
            }
        }
        Ok(json!({"Volumes": out, "Warnings": []}))
    })
    .await?;
    Ok(body::json(StatusCode::OK, &v))
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct CreateBody {
    name: String,
    driver: String,
    driver_opts: BTreeMap<String, String>,
    labels: BTreeMap<String, String>,
}

/// `POST /volumes/create`: 201 with the volume (an existing one of that name is returned as it is, as docker's).
pub async fn create(ctx: &Ctx, req: Req) -> Result<Resp, ApiError> {
    let b: CreateBody = crate::query::read_json(req.inner.into_body()).await?;
    if !b.driver.is_empty() && b.driver != "local" {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!(
                "error looking up volume plugin {}: plugin \"{}\" not found",
                b.driver, b.driver
            ),
        ));
    }
    if !b.driver_opts.is_empty() {
        return Err(ApiError::unsupported("Volume driver options (DriverOpts)"));
    }
    let engine = ctx.engine.clone();
    let v = blocking(move || {
        let name = Some(b.name.as_str()).filter(|n| !n.is_empty());
        if let Some(n) = name {
            holm_engine::volumes::validate_name(n).map_err(|_| {
                ApiError::bad(format!(
                    "create {n}: \"{n}\" includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a host directory, use absolute path"
                ))
            })?;
        }
        let (v, _) = engine.volume_create(name, b.labels)?;
        Ok(volume_json(&engine, &v))
    })
    .await?;
    Ok(body::json(StatusCode::CREATED, &v))
}

/// `GET /volumes/{name}`.
pub async fn inspect(ctx: &Ctx, name: &str) -> Result<Resp, ApiError> {
    let engine = ctx.engine.clone();
    let name = name.to_string();
    let v = blocking(move || {
        let v = engine
            .volume_get(&name)
            .map_err(|_| ApiError::not_found(format!("get {name}: no such volume")))?;
        Ok(volume_json(&engine, &v))
    })
    .await?;
    Ok(body::json(StatusCode::OK, &v))
}

/// `DELETE /volumes/{name}?force`: 204; 409 while a container uses it.
pub async fn remove(ctx: &Ctx, name: &str, q: &Query) -> Result<Resp, ApiError> {
    let force = q.flag("force");
    let engine = ctx.engine.clone();
    let name = name.to_string();
    blocking(move || match engine.volume_remove(&name) {
        Ok(()) => Ok(()),
        Err(holm_engine::Error::NoSuchVolume(_)) if force => Ok(()),
        Err(holm_engine::Error::NoSuchVolume(_)) => {
            Err(ApiError::not_found(format!("get {name}: no such volume")))
        }
        Err(e) => Err(e.into()),
    })
    .await?;
    Ok(body::empty(StatusCode::NO_CONTENT))
}

/// `POST /volumes/prune?filters` (`all=true`: named ones too, as docker 23+).
pub async fn prune(ctx: &Ctx, q: &Query) -> Result<Resp, ApiError> {
    let all = q
        .filters()?
        .get("all")
        .is_some_and(|v| v.iter().any(|x| x == "true" || x == "1"));
    let engine = ctx.engine.clone();
    let (names, bytes) = blocking(move || Ok(engine.volume_prune(all)?)).await?;
    Ok(body::json(
        StatusCode::OK,
        &json!({"VolumesDeleted": names, "SpaceReclaimed": bytes}),
    ))
}
