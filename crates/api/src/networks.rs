//! `/networks…`: list, inspect, create, remove, connect, disconnect, prune — the engine's network verbs and its
//! docker-shaped network JSON (the predefined `bridge`, `host` and `none` included: see
//! [`holm_engine::network_api`]).

use crate::body::{self, Resp};
use crate::error::ApiError;
use crate::query::Query;
use crate::router::Req;
use crate::server::Ctx;
use crate::system::blocking;
use holm_engine::network_api::NetworkFilters;
use holm_engine::networks::CreateNetwork;
use holm_engine::Error;
use hyper::StatusCode;
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// `GET /networks?filters` (`name`, `id`, `driver`, `label`, `type`): the engine's listing, predefined networks
/// first.
pub async fn list(ctx: &Ctx, q: &Query) -> Result<Resp, ApiError> {
    let filters = NetworkFilters::parse(&crate::containers::filter_pairs(q)?)?;
    let engine = ctx.engine.clone();
    let v: Vec<Value> = blocking(move || {
        Ok(engine
            .network_list(&filters)?
            .into_iter()
            .map(|n| n.json)
            .collect())
    })
    .await?;
    Ok(body::json(StatusCode::OK, &v))
}

/// `GET /networks/{id}`: the engine's network JSON.
pub async fn inspect(ctx: &Ctx, what: &str) -> Result<Resp, ApiError> {
    let engine = ctx.engine.clone();
    let what = what.to_string();
    let v = blocking(move || {
        engine
            .network_inspect(&what)?
            .ok_or_else(|| Error::NoSuchNetwork(what).into())
    })
    .await?;
    Ok(body::json(StatusCode::OK, &v))
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct IpamConfig {
    subnet: String,
    gateway: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct Ipam {
    config: Option<Vec<IpamConfig>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct CreateBody {
    name: String,
    driver: String,
    internal: bool,
    enable_ipv6: bool,
    #[serde(rename = "IPAM")]
    ipam: Option<Ipam>,
    options: Option<BTreeMap<String, String>>,
    labels: Option<BTreeMap<String, String>>,
}

/// `POST /networks/create`: 201 `{"Id", "Warning"}`.
pub async fn create(ctx: &Ctx, req: Req) -> Result<Resp, ApiError> {
    let b: CreateBody = crate::query::read_json(req.inner.into_body()).await?;
    if b.name.is_empty() {
        return Err(ApiError::bad("network name is required: Name"));
    }
    if b.enable_ipv6 {
        return Err(ApiError::unsupported("IPv6 networks (EnableIPv6)"));
    }
    let ipam = b.ipam.and_then(|i| i.config).unwrap_or_default();
    if ipam.len() > 1 {
        return Err(ApiError::unsupported("More than one IPAM config"));
    }
    let first = ipam.into_iter().next().unwrap_or_default();
    let kv = |m: Option<BTreeMap<String, String>>| -> Vec<String> {
        m.unwrap_or_default()
            .into_iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect()
    };
    let req = CreateNetwork {
        name: b.name,
        driver: b.driver,
        subnet: Some(first.subnet).filter(|s| !s.is_empty()),
        gateway: Some(first.gateway).filter(|s| !s.is_empty()),
        internal: b.internal,
        labels: kv(b.labels),
        options: kv(b.options),
    };
    let engine = ctx.engine.clone();
    let rec = blocking(move || Ok(engine.network_create(&req)?)).await?;
    Ok(body::json(
        StatusCode::CREATED,
        &json!({"Id": rec.id, "Warning": ""}),
    ))
}

/// `DELETE /networks/{id}`: 204; 403 while containers are on it.
pub async fn remove(ctx: &Ctx, what: &str) -> Result<Resp, ApiError> {
    let engine = ctx.engine.clone();
    let what = what.to_string();
    blocking(move || Ok(engine.network_remove(&what)?)).await?;
    Ok(body::empty(StatusCode::NO_CONTENT))
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct EndpointIpam {
    #[serde(rename = "IPv4Address")]
    ipv4_address: String,
}

/// docker's `EndpointSettings` (the fields holm takes).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct EndpointConfig {
    /// Extra names on the network.
    pub aliases: Option<Vec<String>>,
    #[serde(rename = "IPAMConfig")]
    ipam_config: Option<EndpointIpam>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct ConnectBody {
    container: String,
    endpoint_config: Option<EndpointConfig>,
    force: bool,
}

/// `POST /networks/{id}/connect` and `/disconnect`: 200.
pub async fn connect(ctx: &Ctx, net: &str, req: Req, on: bool) -> Result<Resp, ApiError> {
    let b: ConnectBody = crate::query::read_json(req.inner.into_body()).await?;
    if b.container.is_empty() {
        return Err(ApiError::bad("container is required: Container"));
    }
    let ep = b.endpoint_config.unwrap_or_default();
    let ip = match ep
        .ipam_config
        .map(|i| i.ipv4_address)
        .filter(|s| !s.is_empty())
    {
        Some(s) => Some(
            s.parse()
                .map_err(|_| ApiError::bad(format!("invalid IPv4 address: {s}")))?,
        ),
        None => None,
    };
    let engine = ctx.engine.clone();
    let net = net.to_string();
    blocking(move || {
        if on {
            engine.network_connect(&net, &b.container, &ep.aliases.unwrap_or_default(), ip)?;
        } else {
            engine.network_disconnect(&net, &b.container, b.force)?;
        }
        Ok(())
    })
    .await?;
    Ok(body::empty(StatusCode::OK))
}

/// `POST /networks/prune?filters` (`label`).
pub async fn prune(ctx: &Ctx, q: &Query) -> Result<Resp, ApiError> {
    let labels = q
        .prune_filters("network", &["label"])?
        .remove("label")
        .unwrap_or_default();
    let engine = ctx.engine.clone();
    let names = blocking(move || Ok(engine.network_prune(&labels)?)).await?;
    Ok(body::json(
        StatusCode::OK,
        &json!({"NetworksDeleted": names}),
    ))
}
