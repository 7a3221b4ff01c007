//! `holm inspect` and `holm ps --format json`: docker's JSON shapes for the fields holm has.

use crate::config::parse_volume;
use crate::db::ContainerRecord;
use crate::lifecycle::Status;
use crate::{ops, Engine};
use serde_json::{json, Value};

/// docker's `ContainerJSON` for a container.
pub fn inspect(engine: &Engine, rec: &ContainerRecord, status: Status) -> Value {
    let c = &rec.config;
    let image_cfg = engine
        .images()
        .resolve(&rec.image_id)
        .and_then(|i| engine.images().config(&i))
        .ok()
        .and_then(|i| i.config().clone());
    let entrypoint = c
        .entrypoint
        .clone()
        .or_else(|| image_cfg.as_ref().and_then(|i| i.entrypoint().clone()));
    let cmd = if !c.cmd.is_empty() {
        Some(c.cmd.clone())
    } else if c.entrypoint.is_some() {
        None
    } else {
        image_cfg.as_ref().and_then(|i| i.cmd().clone())
    };
    let running = matches!(status, Status::Running | Status::Paused);
    let binds: Vec<&String> = c.volumes.iter().collect();
    let mounts: Vec<Value> = c
        .volumes
        .iter()
        .filter_map(|v| parse_volume(v).ok())
        .map(|b| {
            json!({
                "Type": "bind",
                "Source": b.source,
                "Destination": b.destination,
                "Mode": if b.read_only { "ro" } else { "" },
                "RW": !b.read_only,
                "Propagation": "rprivate",
            })
        })
        .collect();
    let snap = engine.images().snapshot(&rec.id).ok();
    json!({
        "Id": rec.id,
        "Created": rec.created,
        "Path": c.args.first().cloned().unwrap_or_default(),
        "Args": c.args.iter().skip(1).collect::<Vec<_>>(),
        "State": {
            "Status": status.as_str(),
            "Running": running,
            "Paused": status == Status::Paused,
            "Restarting": false,
            "OOMKilled": false,
            "Dead": false,
            "Pid": if running { rec.pid } else { 0 },
            "ExitCode": rec.exit_code.unwrap_or(0),
            "ExitCodeKnown": rec.exit_code.is_some() || status != Status::Exited,
            "Error": rec.error,
            "StartedAt": or_zero(&rec.started_at),
            "FinishedAt": or_zero(&rec.finished_at),
        },
        "Image": rec.image_id,
        "LogPath": engine.log_path(&rec.id),
        "Name": format!("/{}", rec.name),
        "RestartCount": 0,
        "Driver": "overlay",
        "Platform": "linux",
        "HostConfig": {
            "Binds": binds,
            "AutoRemove": c.auto_remove,
            "ReadonlyRootfs": c.read_only,
            "Memory": c.memory.unwrap_or(0),
            "NanoCpus": c.cpus.map_or(0, |f| (f * 1e9).round() as i64),
            "PidsLimit": c.pids_limit,
            "LogConfig": {"Type": "json-file", "Config": {}},
            "NetworkMode": "none",
        },
        "GraphDriver": {
            "Name": "overlay",
            "Data": snap.map(|s| json!({
                "LowerDir": s.lower.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(":"),
                "UpperDir": s.upper,
                "WorkDir": s.work,
                "MergedDir": ops::rootfs(engine, &rec.id),
            })),
        },
        "Mounts": mounts,
        "Config": {
            "Hostname": c.final_hostname,
            "User": c.user.clone().or_else(|| image_cfg.as_ref().and_then(|i| i.user().clone())).unwrap_or_default(),
            "Env": c.process_env,
            "Cmd": cmd,
            "Entrypoint": entrypoint,
            "Image": rec.image,
            "WorkingDir": c.workdir.clone().or_else(|| image_cfg.as_ref().and_then(|i| i.working_dir().clone())).unwrap_or_default(),
            "Labels": image_cfg.as_ref().and_then(|i| i.labels().clone()).unwrap_or_default(),
            "StopSignal": c.stop_signal,
        },
    })
}

fn or_zero(t: &str) -> &str {
    if t.is_empty() {
        "0001-01-01T00:00:00Z"
    } else {
        t
    }
}

/// One `holm ps --format json` entry (podman's field names, which docker's `{{json .}}` shares in spirit).
pub fn ps_json(rec: &ContainerRecord, status: Status) -> Value {
    json!({
        "Id": rec.id,
        "Names": [rec.name],
        "Image": rec.image,
        "ImageID": rec.image_id,
        "Command": rec.config.args,
        "Created": rec.created,
        "State": status.as_str(),
        "Pid": if matches!(status, Status::Running | Status::Paused) { rec.pid } else { 0 },
        "ExitCode": rec.exit_code,
        "StartedAt": rec.started_at,
        "FinishedAt": rec.finished_at,
        "AutoRemove": rec.config.auto_remove,
    })
}
