//! Routing: the optional `/vX.Y` prefix (checked against the versions holm speaks), then method and path to a
//! handler. Every response carries docker's `Api-Version`, `Ostype` and `Server` headers.

use crate::body::Resp;
use crate::error::ApiError;
use crate::query::Query;
use crate::server::Ctx;
use crate::{containers, exec, images, networks, streams, system, volumes};
use hyper::body::Incoming;
use hyper::header::HeaderValue;
use hyper::{Method, Request};
use std::sync::Arc;

/// A request's parts the handlers use, with the body still to read.
pub struct Req {
    /// The method.
    pub method: Method,
    /// The query parameters.
    pub query: Query,
    /// The whole request (for its body and upgrades).
    pub inner: Request<Incoming>,
}

/// Answers one request (errors become docker's JSON error responses).
pub async fn handle(ctx: Arc<Ctx>, req: Request<Incoming>) -> Resp {
    let path = req.uri().path().to_string();
    let r = match split_version(&path) {
        Ok(rest) => {
            let r = Req {
                method: req.method().clone(),
                query: Query::parse(req.uri().query()),
                inner: req,
            };
            route(ctx, r, rest).await
        }
        Err(e) => Err(e),
    };
    let mut resp = r.unwrap_or_else(|e| e.response());
    let h = resp.headers_mut();
    h.insert("Api-Version", HeaderValue::from_static(crate::API_VERSION));
    h.insert("Ostype", HeaderValue::from_static("linux"));
    h.insert("Docker-Experimental", HeaderValue::from_static("false"));
    h.insert(
        "Server",
        HeaderValue::from_static(concat!("holm/", env!("CARGO_PKG_VERSION"), " (linux)")),
    );
    resp
}

/// Strips `/vX.Y`; a version outside [`crate::MIN_API_VERSION`]..=[`crate::API_VERSION`] is docker's 400.
fn split_version(path: &str) -> Result<&str, ApiError> {
    let Some(rest) = path.strip_prefix("/v") else {
        return Ok(path);
    };
    let (v, tail) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let Some(parsed) = parse_version(v) else {
        return Ok(path);
    };
    if parsed > parse_version(crate::API_VERSION).expect("valid") {
        return Err(ApiError::bad(format!(
            "client version {v} is too new. Maximum supported API version is {}",
            crate::API_VERSION
        )));
    }
    if parsed < parse_version(crate::MIN_API_VERSION).expect("valid") {
        return Err(ApiError::bad(format!(
            "client version {v} is too old. Minimum supported API version is {}, please upgrade your client to a newer version",
            crate::MIN_API_VERSION
        )));
    }
    Ok(if tail.is_empty() { "/" } else { tail })
}

fn parse_version(v: &str) -> Option<(u32, u32)> {
    let (a, b) = v.split_once('.')?;
    Some((a.parse().ok()?, b.parse().ok()?))
}

fn not_found() -> ApiError {
    ApiError::not_found("page not found")
}

async fn route(ctx: Arc<Ctx>, req: Req, path: &str) -> Result<Resp, ApiError> {
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    let m = req.method.clone();
    let (get, post, del, head, put) = (
        m == Method::GET,
        m == Method::POST,
        m == Method::DELETE,
        m == Method::HEAD,
        m == Method::PUT,
    );
    match segs.as_slice() {
        ["_ping"] if get || head => Ok(system::ping()),
        ["version"] if get => system::version(&ctx).await,
        ["info"] if get => system::info(&ctx).await,
        ["system", "df"] if get => system::df(&ctx).await,
        ["containers", "json"] if get => containers::list(&ctx, &req.query).await,
        ["containers", "create"] if post => containers::create(&ctx, req).await,
        ["containers", "prune"] if post => containers::prune(&ctx, &req.query).await,
        ["containers", id, "json"] if get => containers::inspect(&ctx, id).await,
        ["containers", id, "start"] if post => containers::start(&ctx, id).await,
        ["containers", id, "stop"] if post => containers::stop(&ctx, id, &req.query).await,
        ["containers", id, "restart"] if post => containers::restart(&ctx, id, &req.query).await,
        ["containers", id, "kill"] if post => containers::kill(&ctx, id, &req.query).await,
        ["containers", id, "wait"] if post => containers::wait(&ctx, id, &req.query).await,
        ["containers", id, "pause"] if post => containers::pause(&ctx, id, true).await,
        ["containers", id, "unpause"] if post => containers::pause(&ctx, id, false).await,
        ["containers", id, "rename"] if post => containers::rename(&ctx, id, &req.query).await,
        ["containers", id, "update"] if post => crate::update::update(&ctx, id, req).await,
        ["containers", id, "top"] if get => containers::top(&ctx, id, &req.query).await,
        ["containers", id, "stats"] if get => containers::stats(&ctx, id, &req.query).await,
        ["containers", id, "resize"] if post => containers::resize(&ctx, id, &req.query).await,
        ["containers", id] if del => containers::remove(&ctx, id, &req.query).await,
        ["containers", id, "logs"] if get => streams::logs(&ctx, id, &req.query).await,
        ["containers", id, "attach"] if post => streams::attach(&ctx, id, req).await,
        ["containers", id, "archive"] if get || head => streams::archive_get(&ctx, id, req).await,
        ["containers", id, "archive"] if put => streams::archive_put(&ctx, id, req).await,
        ["containers", id, "exec"] if post => exec::create(&ctx, id, req).await,
        ["exec", id, "start"] if post => exec::start(&ctx, id, req).await,
        ["exec", id, "json"] if get => exec::inspect(&ctx, id).await,
        ["exec", id, "resize"] if post => exec::resize(&ctx, id, &req.query).await,
        ["images", "json"] if get => images::list(&ctx, &req.query).await,
        ["images", "create"] if post => images::pull(&ctx, req).await,
        ["images", "load"] if post => images::load(&ctx, req).await,
        ["images", "get"] if get => images::save(&ctx, &req.query, None).await,
        ["images", "prune"] if post => images::prune(&ctx, &req.query).await,
        // holm builds nothing, so it has no build cache: `docker system prune` prunes an empty one.
        ["build", "prune"] if post => Ok(crate::body::json(
            hyper::StatusCode::OK,
            &serde_json::json!({"CachesDeleted": [], "SpaceReclaimed": 0}),
        )),
        ["images", "search"] | ["build"] | ["commit"] | ["images", .., "push"] => Err(
            ApiError::unsupported(format!("/{}", path.trim_start_matches('/'))),
        ),
        ["images", name @ .., "json"] if get && !name.is_empty() => {
            images::inspect(&ctx, &name.join("/")).await
        }
        ["images", name @ .., "tag"] if post && !name.is_empty() => {
            images::tag(&ctx, &name.join("/"), &req.query).await
        }
        ["images", name @ .., "get"] if get && !name.is_empty() => {
            images::save(&ctx, &req.query, Some(name.join("/"))).await
        }
        ["images", name @ ..] if del && !name.is_empty() => {
            images::remove(&ctx, &name.join("/"), &req.query).await
        }
        ["volumes"] if get => volumes::list(&ctx, &req.query).await,
        ["volumes", "create"] if post => volumes::create(&ctx, req).await,
        ["volumes", "prune"] if post => volumes::prune(&ctx, &req.query).await,
        ["volumes", name] if get => volumes::inspect(&ctx, name).await,
        ["volumes", name] if del => volumes::remove(&ctx, name, &req.query).await,
        ["networks"] if get => networks::list(&ctx, &req.query).await,
        ["networks", "create"] if post => networks::create(&ctx, req).await,
        ["networks", "prune"] if post => networks::prune(&ctx, &req.query).await,
        ["networks", id] if get => networks::inspect(&ctx, id).await,
        ["networks", id] if del => networks::remove(&ctx, id).await,
        ["networks", id, "connect"] if post => networks::connect(&ctx, id, req, true).await,
        ["networks", id, "disconnect"] if post => networks::connect(&ctx, id, req, false).await,
        ["events"] if get => system::events(&ctx, &req.query).await,
        ["swarm", ..]
        | ["services", ..]
        | ["nodes", ..]
        | ["secrets", ..]
        | ["configs", ..]
        | ["plugins", ..]
        | ["session"]
        | ["distribution", ..]
        | ["auth"]
        | ["containers", _, "export"]
        | ["containers", _, "changes"] => Err(ApiError::unsupported(format!(
            "/{}",
            path.trim_start_matches('/')
        ))),
        _ => Err(not_found()),
    }
}

#[cfg(test)]
mod tests {
    use super::split_version;

    #[test]
    fn version_prefixes() {
        assert_eq!(
            split_version("/v1.44/containers/json").unwrap(),
            "/containers/json"
        );
        assert_eq!(split_version("/v1.24/_ping").unwrap(), "/_ping");
        assert_eq!(split_version("/_ping").unwrap(), "/_ping");
        assert_eq!(split_version("/volumes").unwrap(), "/volumes");
        assert!(split_version("/v1.50/info").is_err());
        assert!(split_version("/v1.12/info").is_err());
    }
}
