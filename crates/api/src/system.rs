//! `/_ping`, `/version`, `/info`, `/system/df`.

use crate::body::{self, Resp};
use crate::error::ApiError;
use crate::server::Ctx;
use hyper::header::HeaderValue;
use hyper::StatusCode;
use serde_json::json;

/// Runs a blocking engine call on tokio's blocking pool.
pub async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::internal(format!("request handler failed: {e}")))?
}

/// `GET|HEAD /_ping`: `OK`, with `Api-Version` (added to every response) for the client's negotiation.
pub fn ping() -> Resp {
    let mut r = body::bytes(StatusCode::OK, "text/plain; charset=utf-8", "OK");
    let h = r.headers_mut();
    h.insert(
        "Cache-Control",
        HeaderValue::from_static("no-cache, no-store, must-revalidate"),
    );
    h.insert("Pragma", HeaderValue::from_static("no-cache"));
    h.insert("Builder-Version", HeaderValue::from_static("1"));
    r
}

fn read_trim(p: &str) -> String {
    std::fs::read_to_string(p)
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

/// `GET /version`: the engine's facts plus the API versions.
pub async fn version(ctx: &Ctx) -> Result<Resp, ApiError> {
    let v = ctx.engine.system_version();
    Ok(body::json(
        StatusCode::OK,
        &json!({
            "Platform": {"Name": "holm"},
            "Components": [{
                "Name": "Engine",
                "Version": v.version,
                "Details": {
                    "ApiVersion": crate::API_VERSION,
                    "MinAPIVersion": crate::MIN_API_VERSION,
                    "Os": v.os,
                    "Arch": v.arch,
                    "KernelVersion": v.kernel_version,
                    "Experimental": "false",
                },
            }],
            "Version": v.version,
            "ApiVersion": crate::API_VERSION,
            "MinAPIVersion": crate::MIN_API_VERSION,
            "GitCommit": "",
            "GoVersion": "",
            "Os": v.os,
            "Arch": v.arch,
            "KernelVersion": v.kernel_version,
            "BuildTime": "",
        }),
    ))
}

/// `GET /info`: the engine's `SystemInfo`, with docker's other fields at their daemonless values (no swarm,
/// plugins holm has built in).
pub async fn info(ctx: &Ctx) -> Result<Resp, ApiError> {
    let engine = ctx.engine.clone();
    let v = blocking(move || {
        let info = engine.system_info()?;
        let mut v = json!({
            "ID": "",
            "DriverStatus": [],
            "Plugins": {"Volume": ["local"], "Network": ["bridge", "host", "none"], "Log": ["json-file", "k8s-file", "none"]},
            "MemoryLimit": true,
            "SwapLimit": true,
            "CpuCfsPeriod": true,
            "CpuCfsQuota": true,
            "CPUShares": true,
            "CPUSet": true,
            "PidsLimit": true,
            "IPv4Forwarding": true,
            "Debug": false,
            "NFd": 0,
            "NGoroutines": 0,
            "SystemTime": holm_format::time::rfc3339(std::time::SystemTime::now()),
            "NEventsListener": 0,
            "OSVersion": "",
            "IndexServerAddress": "https://index.docker.io/v1/",
            "RegistryConfig": {"IndexConfigs": {}, "InsecureRegistryCIDRs": [], "Mirrors": []},
            "Name": read_trim("/proc/sys/kernel/hostname"),
            "Labels": [],
            "ExperimentalBuild": false,
            "Runtimes": {"holm-container": {"path": "holm-container (built in)"}},
            "Swarm": {"LocalNodeState": "inactive", "NodeID": "", "NodeAddr": "", "ControlAvailable": false, "Error": "", "RemoteManagers": null},
            "LiveRestoreEnabled": true,
            "Isolation": "",
            "InitBinary": "",
            "Warnings": [],
        });
        let typed = serde_json::to_value(info).map_err(|e| ApiError::internal(e.to_string()))?;
        if let (Some(o), Some(t)) = (v.as_object_mut(), typed.as_object()) {
            o.extend(t.clone());
        }
        Ok(v)
    })
    .await?;
    Ok(body::json(StatusCode::OK, &v))
}

/// `GET /system/df`: the engine's [`DiskUsageLists`](holm_engine::system::DiskUsageLists) (images,
/// containers and volumes with their sizes).
pub async fn df(ctx: &Ctx) -> Result<Resp, ApiError> {
    let engine = ctx.engine.clone();
    let v = blocking(move || Ok(engine.system_df_lists()?)).await?;
    Ok(body::json(StatusCode::OK, &v))
}

/// `since`/`until` of `/events` (see [`holm_engine::events::parse_time`]); absent or empty: `None`.
fn event_time(q: &crate::query::Query, k: &str) -> Result<Option<i64>, ApiError> {
    match q.get(k).filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(v) => Ok(Some(holm_engine::events::parse_time(k, v)?)),
    }
}

/// `GET /events?since&until&filters`: the engine's event log as docker's JSON messages, one per line, followed
/// until `until` (or until the client goes).
pub async fn events(ctx: &Ctx, q: &crate::query::Query) -> Result<Resp, ApiError> {
    let query = holm_engine::events::Query {
        since: event_time(q, "since")?,
        until: event_time(q, "until")?,
        filters: holm_engine::events_filter::Filters::from_json(q.get("filters").unwrap_or(""))
            .map_err(|e| ApiError::bad(e.to_string()))?,
    };
    let engine = ctx.engine.clone();
    let stream = blocking(move || Ok(engine.events(&query)?)).await?;
    let (resp, tx) = body::stream(StatusCode::OK, "application/json");
    let stop = stream.stop_flag();
    let guard = ctx.activity.enter();
    // The reader blocks (it follows the log): the client's going away sets its stop flag.
    // (a weak handle: the body must end when the reader is done)
    let weak = tx.downgrade();
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            match weak.upgrade() {
                None => return,
                Some(s) if s.is_closed() => {
                    stop.store(true, std::sync::atomic::Ordering::Relaxed);
                    return;
                }
                Some(_) => {}
            }
        }
    });
    tokio::task::spawn_blocking(move || {
        let _guard = guard;
        for ev in stream {
            let mut b = serde_json::to_vec(&ev).expect("JSON");
            b.push(b'\n');
            if tx.blocking_send(b.into()).is_err() {
                return;
            }
        }
    });
    Ok(resp)
}
