//! `POST /containers/{id}/update` (docker's `UpdateConfig`: the resource fields of `HostConfig` and
//! `RestartPolicy`): the engine's [`holm_engine::update`], as `holm update`. docker's clients send every field, most
//! of them zero or null ("unchanged"); a field holm's update does not take (`CpuQuota`, `BlkioWeight`, ...) is
//! refused with 400 naming it only when it asks for a change.

use crate::body::{self, Resp};
use crate::error::ApiError;
use crate::router::Req;
use crate::server::Ctx;
use crate::system::blocking;
use holm_engine::update::Update;
use hyper::StatusCode;
use serde_json::{json, Value};

/// Fields of `UpdateConfig` holm's update does not take.
const UNSUPPORTED: &[&str] = &[
    "BlkioWeight",
    "BlkioWeightDevice",
    "BlkioDeviceReadBps",
    "BlkioDeviceWriteBps",
    "BlkioDeviceReadIOps",
    "BlkioDeviceWriteIOps",
    "CpuPeriod",
    "CpuQuota",
    "CpuRealtimePeriod",
    "CpuRealtimeRuntime",
    "CpusetMems",
    "KernelMemory",
    "KernelMemoryTCP",
    "MemoryReservation",
    "MemorySwappiness",
    "OomKillDisable",
    "CpuCount",
    "CpuPercent",
    "IOMaximumIOps",
    "IOMaximumBandwidth",
];

/// True for docker's "no change" values: null, 0, false, "", [] and {}.
fn unset(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
    }
}

/// The engine's [`Update`] from an `UpdateConfig` body. Errors (400): not an object, a field of the wrong type, a
/// field holm does not update, a `Memory` under docker's 6 MB minimum.
pub fn parse(body: &Value) -> Result<Update, ApiError> {
    let o = body
        .as_object()
        .ok_or_else(|| ApiError::bad("update: expected a JSON object (UpdateConfig)"))?;
    if let Some(f) = UNSUPPORTED
        .iter()
        .find(|f| o.get(**f).is_some_and(|v| !unset(v)))
    {
        return Err(ApiError::bad(format!(
            "{f}: not supported by holm's update (Memory, MemorySwap, NanoCpus, CpuShares, CpusetCpus, PidsLimit and RestartPolicy are)"
        )));
    }
    let int = |k: &str| -> Result<Option<i64>, ApiError> {
        match o.get(k) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => v
                .as_i64()
                .map(Some)
                .ok_or_else(|| ApiError::bad(format!("{k}: expected an integer, got {v}"))),
        }
    };
    let nonzero = |k: &str| -> Result<Option<i64>, ApiError> { Ok(int(k)?.filter(|v| *v != 0)) };
    let memory = nonzero("Memory")?;
    if memory.is_some_and(|m| m > 0 && m < 6 << 20) {
        return Err(ApiError::bad("Minimum memory limit allowed is 6MB"));
    }
    let cpus = nonzero("NanoCpus")?.map(|n| n as f64 / 1e9);
    let shares = nonzero("CpuShares")?
        .map(|s| {
            u64::try_from(s).map_err(|_| {
                ApiError::bad(format!("CpuShares: expected a positive number, got {s}"))
            })
        })
        .transpose()?;
    let cpuset = match o.get("CpusetCpus") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.is_empty() => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(v) => {
            return Err(ApiError::bad(format!(
                "CpusetCpus: expected a string, got {v}"
            )))
        }
    };
    let restart = match o.get("RestartPolicy") {
        None | Some(Value::Null) => None,
        Some(p) => match p.get("Name").and_then(Value::as_str).unwrap_or("") {
            "" => None,
            name => {
                let max = p
                    .get("MaximumRetryCount")
                    .and_then(Value::as_i64)
                    .unwrap_or(0);
                let policy = crate::create::RestartPolicy {
                    name: name.to_string(),
                    maximum_retry_count: u32::try_from(max.max(0)).unwrap_or(u32::MAX),
                };
                Some(policy.flag())
            }
        },
    };
    Ok(Update {
        memory,
        memory_swap: nonzero("MemorySwap")?,
        cpus,
        cpu_shares: shares,
        cpuset_cpus: cpuset,
        pids_limit: int("PidsLimit")?,
        restart,
    })
}

/// `POST /containers/{id}/update`: 200 `{"Warnings": []}`.
pub async fn update(ctx: &Ctx, id: &str, req: Req) -> Result<Resp, ApiError> {
    let body: Value = crate::query::read_json(req.inner.into_body()).await?;
    let u = parse(&body)?;
    if let Some(r) = &u.restart {
        holm_engine::options::parse_restart(r)?;
    }
    let engine = ctx.engine.clone();
    let id = id.to_string();
    blocking(move || Ok(engine.update(&id, &u)?)).await?;
    Ok(body::json(StatusCode::OK, &json!({"Warnings": []})))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_clis_body_with_zero_fields() {
        // What `docker update --memory 100m --cpus 0.5 --restart on-failure:2` sends (docker 20.10, trimmed).
        let b = json!({"BlkioWeight": 0, "CpuPeriod": 0, "CpuQuota": 0, "CpusetMems": "", "Memory": 104857600,
            "MemorySwap": 0, "NanoCpus": 500000000, "CpuShares": 0, "CpusetCpus": "", "PidsLimit": null,
            "MemorySwappiness": null, "OomKillDisable": null, "Ulimits": null, "Devices": null,
            "RestartPolicy": {"Name": "on-failure", "MaximumRetryCount": 2}});
        let u = parse(&b).unwrap();
        assert_eq!(u.memory, Some(100 << 20));
        assert_eq!(u.cpus, Some(0.5));
        assert_eq!(u.memory_swap, None);
        assert_eq!(u.pids_limit, None);
        assert_eq!(u.restart.as_deref(), Some("on-failure:2"));
        let e = parse(&json!({"CpuQuota": 50000})).unwrap_err();
        assert!(format!("{e:?}").contains("CpuQuota"), "{e:?}");
        assert!(parse(&json!({"Memory": 1024})).is_err());
        assert!(parse(&json!({"Memory": "x"})).is_err());
        assert_eq!(parse(&json!({"PidsLimit": 0})).unwrap().pids_limit, Some(0));
    }
}
