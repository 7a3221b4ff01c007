//! `/_ping`, `/version`, `/info`, `/system/df`.

use crate::body::{self, Resp};
use crate::error::ApiError;
use crate::server::Ctx;
use holm_engine::lifecycle::Status;
use hyper::header::HeaderValue;
use hyper::StatusCode;
use serde_json::{json, Value};

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

/// The machine's architecture in Go's words (`amd64`, `arm64`).
pub fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        other => other,
    }
}

fn read_trim(p: &str) -> String {
    std::fs::read_to_string(p)
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

/// `GET /version`.
pub async fn version(_ctx: &Ctx) -> Result<Resp, ApiError> {
    let v = env!("CARGO_PKG_VERSION");
    let kernel = read_trim("/proc/sys/kernel/osrelease");
    Ok(body::json(
        StatusCode::OK,
        &json!({
            "Platform": {"Name": "holm"},
            "Components": [{
                "Name": "Engine",
                "Version": v,
                "Details": {
                    "ApiVersion": crate::API_VERSION,
                    "MinAPIVersion": crate::MIN_API_VERSION,
                    "Os": "linux",
                    "Arch": go_arch(),
                    "KernelVersion": kernel,
                    "Experimental": "false",
                },
            }],
            "Version": v,
            "ApiVersion": crate::API_VERSION,
            "MinAPIVersion": crate::MIN_API_VERSION,
            "GitCommit": "",
            "GoVersion": "",
            "Os": "linux",
            "Arch": go_arch(),
            "KernelVersion": kernel,
            "BuildTime": "",
        }),
    ))
}

/// `GET /info`: docker's `SystemInfo` for the facts holm has.
pub async fn info(ctx: &Ctx) -> Result<Resp, ApiError> {
    let engine = ctx.engine.clone();
    let v = blocking(move || {
        let list = engine.list()?;
        let count = |f: &dyn Fn(Status) -> bool| list.iter().filter(|(_, s)| f(*s)).count();
        let images = engine.images().list().map(|l| l.len()).unwrap_or(0);
        let os = std::fs::read_to_string("/etc/os-release")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find_map(|l| l.strip_prefix("PRETTY_NAME="))
                    .map(|v| v.trim_matches('"').to_string())
            })
            .unwrap_or_else(|| "Linux".into());
        let mem = std::fs::read_to_string("/proc/meminfo")
            .ok()
            .and_then(|m| {
                m.lines()
                    .find_map(|l| l.strip_prefix("MemTotal:"))
                    .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            })
            .unwrap_or(0)
            * 1024;
        let cgroup2 = std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists();
        Ok(json!({
            "ID": "",
            "Containers": list.len(),
            "ContainersRunning": count(&|s| s == Status::Running),
            "ContainersPaused": count(&|s| s == Status::Paused),
            "ContainersStopped": count(&|s| matches!(s, Status::Exited | Status::Created | Status::Restarting)),
            "Images": images,
            "Driver": "overlay",
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
            "SystemTime": holm_sys::time::rfc3339(std::time::SystemTime::now()),
            "LoggingDriver": "json-file",
            "CgroupDriver": "cgroupfs",
            "CgroupVersion": if cgroup2 { "2" } else { "1" },
            "NEventsListener": 0,
            "KernelVersion": read_trim("/proc/sys/kernel/osrelease"),
            "OperatingSystem": os,
            "OSVersion": "",
            "OSType": "linux",
            "Architecture": std::env::consts::ARCH,
            "IndexServerAddress": "https://index.docker.io/v1/",
            "RegistryConfig": {"IndexConfigs": {}, "InsecureRegistryCIDRs": [], "Mirrors": []},
            "NCPU": std::thread::available_parallelism().map_or(1, |n| n.get()),
            "MemTotal": mem,
            "DockerRootDir": engine.root(),
            "Name": read_trim("/proc/sys/kernel/hostname"),
            "Labels": [],
            "ExperimentalBuild": false,
            "ServerVersion": env!("CARGO_PKG_VERSION"),
            "Runtimes": {"holm-container": {"path": "holm-container (built in)"}},
            "DefaultRuntime": "holm-container",
            "Swarm": {"LocalNodeState": "inactive", "NodeID": "", "NodeAddr": "", "ControlAvailable": false, "Error": "", "RemoteManagers": null},
            "LiveRestoreEnabled": true,
            "Isolation": "",
            "InitBinary": "",
            "SecurityOptions": ["name=seccomp,profile=builtin"],
            "Warnings": [],
        }))
    })
    .await?;
    Ok(body::json(StatusCode::OK, &v))
}

/// `GET /system/df`: images, containers and volumes with their sizes.
pub async fn df(ctx: &Ctx) -> Result<Resp, ApiError> {
    let engine = ctx.engine.clone();
    let v = blocking(move || {
        let list = engine.list()?;
        let images = engine.images().list()?;
        let count_users = |id: &str| list.iter().filter(|(r, _)| r.image_id == id).count();
        let imgs: Vec<Value> = images
            .iter()
            .map(|i| {
                let mut v = crate::images::summary(i);
                v["Containers"] = json!(count_users(i.id.as_ref()));
                v
            })
            .collect();
        let ctrs: Vec<Value> = list
            .iter()
            .map(|(r, st)| {
                let mut v = crate::containers::summary(&engine, r, *st);
                v["SizeRw"] = json!(engine.writable_size(&r.id));
                v
            })
            .collect();
        let mut vols = Vec::new();
        for v in engine.volume_list()? {
            let mut j = crate::volumes::volume_json(&engine, &v);
            j["UsageData"] = json!({
                "Size": engine.volume_size(&v.name),
                "RefCount": engine.volume_users(&v.name)?.len(),
            });
            vols.push(j);
        }
        let layers: u64 = images.iter().map(|i| i.size).sum();
        Ok(json!({
            "LayersSize": layers,
            "Images": imgs,
            "Containers": ctrs,
            "Volumes": vols,
            "BuildCache": [],
        }))
    })
    .await?;
    Ok(body::json(StatusCode::OK, &v))
}
