//! `/networks…`: list, inspect, create, remove, connect, disconnect, prune — user networks through the engine's
//! network verbs; the predefined `bridge`, `host` and `none` are listed with docker's fields (their members are
//! shown by `docker inspect CONTAINER`, not here).

use crate::body::{self, Resp};
use crate::error::ApiError;
use crate::query::Query;
use crate::router::Req;
use crate::server::Ctx;
use crate::system::blocking;
use holm_engine::networks::{CreateNetwork, PREDEFINED};
use holm_engine::{Engine, Error};
use hyper::StatusCode;
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::BTreeMap;

fn net_error(e: Error) -> ApiError {
    match e {
        Error::NoSuchNetwork(_) => ApiError::not_found(e.to_string()),
        Error::NetworkExists(_) => ApiError::conflict(e.to_string()),
        Error::NetworkInUse { .. } | Error::NetworkRefused(_) => {
            ApiError::new(StatusCode::FORBIDDEN, e.to_string())
        }
        e => e.into(),
    }
}

fn predefined_json(name: &str, driver: &str) -> Value {
    json!({
        "Name": name,
        "Id": name,
        "Created": "0001-01-01T00:00:00Z",
        "Scope": "local",
        "Driver": driver,
        "EnableIPv6": false,
        "IPAM": {"Driver": "default", "Options": null, "Config": []},
        "Internal": false,
        "Attachable": false,
        "Ingress": false,
        "ConfigFrom": {"Network": ""},
        "ConfigOnly": false,
        "Containers": {},
        "Options": {},
        "Labels": {},
    })
}

fn all_json(engine: &Engine) -> Result<Vec<Value>, ApiError> {
    let mut out: Vec<Value> = PREDEFINED
        .iter()
        .map(|(n, d)| predefined_json(n, d))
        .collect();
    for rec in engine.networks()? {
        out.push(engine.network_json(&rec).map_err(net_error)?);
    }
    Ok(out)
}

fn find_json(engine: &Engine, what: &str) -> Result<Value, ApiError> {
    if let Some((n, d)) = PREDEFINED.iter().find(|(n, _)| *n == what) {
        return Ok(predefined_json(n, d));
    }
    let rec = engine.network_find(what).map_err(net_error)?;
    engine.network_json(&rec).map_err(net_error)
}

/// `GET /networks?filters` (`name`, `id`, `driver`, `label`, `type`).
pub async fn list(ctx: &Ctx, q: &Query) -> Result<Resp, ApiError> {
    let filters = q.filters()?;
    let engine = ctx.engine.clone();
    let v = blocking(move || {
        let mut out = Vec::new();
        for n in all_json(&engine)? {
            let s = |k: &str| n[k].as_str().unwrap_or_default().to_string();
            let builtin = PREDEFINED.iter().any(|(p, _)| *p == s("Name"));
            let mut keep = true;
            for (k, vals) in &filters {
                keep &= match k.as_str() {
                    "name" => vals.iter().any(|v| s("Name").contains(v.as_str())),
                    "id" => vals.iter().any(|v| s("Id").starts_with(v.as_str())),
                    "driver" => vals.iter().any(|v| *v == s("Driver")),
                    "type" => vals.iter().any(|v| (v == "builtin") == builtin),
                    "label" => vals.iter().all(|v| {
                        let labels: BTreeMap<String, String> =
                            serde_json::from_value(n["Labels"].clone()).unwrap_or_default();
                        holm_engine::networks::label_matches(&labels, v)
                    }),
                    _ => return Err(ApiError::bad(format!("invalid filter '{k}'"))),
                };
            }
            if keep {
                out.push(n);
            }
        }
        Ok(Value::Array(out))
    })
    .await?;
    Ok(body::json(StatusCode::OK, &v))
}

/// `GET /networks/{id}`.
pub async fn inspect(ctx: &Ctx, what: &str) -> Result<Resp, ApiError> {
    let engine = ctx.engine.clone();
    let what = what.to_string();
    let v = blocking(move || find_json(&engine, &what)).await?;
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
    let rec = blocking(move || engine.network_create(&req).map_err(net_error)).await?;
    Ok(body::json(
        StatusCode::CREATED,
        &json!({"Id": rec.id, "Warning": ""}),
    ))
}

/// `DELETE /networks/{id}`: 204; 403 while containers are on it.
pub async fn remove(ctx: &Ctx, what: &str) -> Result<Resp, ApiError> {
    let engine = ctx.engine.clone();
    let what = what.to_string();
    blocking(move || engine.network_remove(&what).map_err(net_error)).await?;
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
            engine
                .network_connect(&net, &b.container, &ep.aliases.unwrap_or_default(), ip)
                .map_err(net_error)
        } else {
            engine
                .network_disconnect(&net, &b.container, b.force)
                .map_err(net_error)
        }
    })
    .await?;
    Ok(body::empty(StatusCode::OK))
}

/// `POST /networks/prune?filters` (`label`).
pub async fn prune(ctx: &Ctx, q: &Query) -> Result<Resp, ApiError> {
    let labels = q.filters()?.remove("label").unwrap_or_default();
    let engine = ctx.engine.clone();
    let names = blocking(move || engine.network_prune(&labels).map_err(net_error)).await?;
    Ok(body::json(
        StatusCode::OK,
        &json!({"NetworksDeleted": names}),
    ))
}
