//! `/volumes…`: list, create, inspect, remove, prune (holm's `local` volumes).

use crate::body::{self, Resp};
use crate::error::ApiError;
use crate::query::Query;
use crate::router::Req;
use crate::server::Ctx;
use crate::system::blocking;
use holm_engine::volume_api::VolumeFilters;
use hyper::StatusCode;
use serde::Deserialize;
use serde_json::json;
use std::collections::BTreeMap;

/// `GET /volumes?filters` (`name`, `label`, `dangling`, `driver`): the engine's filtered listing as docker's
/// `{"Volumes", "Warnings"}`.
pub async fn list(ctx: &Ctx, q: &Query) -> Result<Resp, ApiError> {
    let filters = VolumeFilters::parse(&crate::containers::filter_pairs(q)?)?;
    let engine = ctx.engine.clone();
    let v = blocking(move || {
        let list: Vec<_> = engine
            .volume_list_filtered(&filters)?
            .iter()
            .map(|v| engine.volume_info(v))
            .collect();
        Ok(json!({"Volumes": list, "Warnings": []}))
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
        let (v, _) = engine.volume_create(name, b.labels)?;
        Ok(engine.volume_info(&v))
    })
    .await?;
    Ok(body::json(StatusCode::CREATED, &v))
}

/// `GET /volumes/{name}`.
pub async fn inspect(ctx: &Ctx, name: &str) -> Result<Resp, ApiError> {
    let engine = ctx.engine.clone();
    let name = name.to_string();
    let v = blocking(move || Ok(engine.volume_info(&engine.volume_get(&name)?))).await?;
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
        Err(e) => Err(e.into()),
    })
    .await?;
    Ok(body::empty(StatusCode::NO_CONTENT))
}

/// `POST /volumes/prune?filters` (`all=true`: named ones too, as docker 23+).
pub async fn prune(ctx: &Ctx, q: &Query) -> Result<Resp, ApiError> {
    let all = q
        .prune_filters("volume", &["all"])?
        .get("all")
        .is_some_and(|v| v.iter().any(|x| x == "true" || x == "1"));
    let engine = ctx.engine.clone();
    let (names, bytes) = blocking(move || Ok(engine.volume_prune(all)?)).await?;
    Ok(body::json(
        StatusCode::OK,
        &json!({"VolumesDeleted": names, "SpaceReclaimed": bytes}),
    ))
}
