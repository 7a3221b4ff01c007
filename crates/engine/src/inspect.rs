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
    let mut mounts: Vec<Value> = c
        .volumes
        .iter()
        .filter_map(|v| parse_volume(v).ok())
        .map(|b| {
            if b.volume {
                return json!({
                    "Type": "volume",
                    "Name": b.source,
                    "Source": engine.volume_path(&b.source),
                    "Destination": b.destination,
                    "Driver": "local",
                    "Mode": if b.read_only { "ro" } else { "z" },
                    "RW": !b.read_only,
                    "Propagation": "",
                });
            }
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
    for m in c
        .mounts
        .iter()
        .filter_map(|m| crate::mounts::parse_mount(m).ok())
    {
        mounts.push(json!({
            "Type": m.typ,
            "Source": if m.typ == "tmpfs" { String::new() } else { m.source.clone() },
            "Destination": m.destination,
            "Mode": "",
            "RW": !m.read_only,
            "Propagation": if m.typ == "bind" { "rprivate" } else { "" },
        }));
    }
    for t in &c.tmpfs {
        mounts.push(json!({
            "Type": "tmpfs",
            "Source": "",
            "Destination": t.split(':').next().unwrap_or(t),
            "Mode": "",
            "RW": !t.split(':').nth(1).unwrap_or("").split(',').any(|o| o == "ro"),
            "Propagation": "",
        }));
    }
    let snap = engine.images().snapshot(&rec.id).ok();
    let mut v = json!({
        "Id": rec.id,
        "Created": rec.created,
        "Path": c.args.first().cloned().unwrap_or_default(),
        "Args": c.args.iter().skip(1).collect::<Vec<_>>(),
        "State": {
            "Status": status.as_str(),
            "Running": running,
            "Paused": status == Status::Paused,
            "Restarting": status == Status::Restarting,
            "OOMKilled": rec.oom_killed,
            "Dead": false,
            "Pid": if running { rec.pid } else { 0 },
            // -1 when it exited with a code nobody saw (its monitor was killed), as podman: never a false 0.
            "ExitCode": rec.exit_code.unwrap_or(if status == Status::Exited { -1 } else { 0 }),
            "ExitCodeKnown": rec.exit_code.is_some() || status != Status::Exited,
            "Error": if rec.state == crate::State::Creating && !engine.creator_alive(rec) {
                "its creation was interrupted (the holm creating it died): remove it"
            } else {
                rec.error.as_str()
            },
            "StartedAt": or_zero(&rec.started_at),
            "FinishedAt": or_zero(&rec.finished_at),
        },
        "Image": rec.image_id,
        "LogPath": engine.log_file(&rec.id, c).map(|p| p.display().to_string()).unwrap_or_default(),
        "Name": format!("/{}", rec.name),
        "RestartCount": rec.restart_count,
        "Driver": "overlay",
        "Platform": "linux",
        "HostConfig": {
            "Binds": binds,
            "AutoRemove": c.auto_remove,
            "ReadonlyRootfs": c.read_only,
            "Memory": c.memory.unwrap_or(0),
            "NanoCpus": c.cpus.map_or(0, |f| (f * 1e9).round() as i64),
            "PidsLimit": c.pids_limit,
            "LogConfig": {"Type": c.log_driver(), "Config": c.log_opts},
            "CapAdd": c.cap_add,
            "CapDrop": c.cap_drop,
            "Privileged": c.privileged,
            "SecurityOpt": c.security_opt,
            "Tmpfs": c.tmpfs.iter().map(|t| {
                let (d, o) = t.split_once(':').unwrap_or((t, ""));
                (d.to_string(), Value::String(o.to_string()))
            }).collect::<serde_json::Map<String, Value>>(),
            "Ulimits": c.ulimits.iter().filter_map(|u| crate::options::parse_ulimit(u).ok().map(|p| {
                let n = u.split_once('=').map_or(u.as_str(), |x| x.0);
                let v = |x: u64| if x == u64::MAX { -1 } else { x as i64 };
                json!({"Name": n, "Soft": v(p.soft), "Hard": v(p.hard)})
            })).collect::<Vec<_>>(),
            "MemorySwap": c.memory_swap.unwrap_or(0),
            "CpuShares": c.cpu_shares.unwrap_or(0),
            "CpusetCpus": c.cpuset_cpus.clone().unwrap_or_default(),
            "Init": c.init,
            "RestartPolicy": {
                "Name": crate::options::parse_restart(&c.restart).map_or("no", |p| p.docker_name().0),
                "MaximumRetryCount": crate::options::parse_restart(&c.restart).map_or(0, |p| p.docker_name().1),
            },
            "NetworkMode": crate::network::mode_text(c),
            "PortBindings": crate::network::port_bindings(c),
            "PublishAllPorts": c.publish_all,
            "Dns": c.dns,
            "ExtraHosts": c.add_hosts,
            "Runtime": c.runtime.clone().unwrap_or_else(|| "holm".into()),
            "Isolation": c.isolation,
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
        "NetworkSettings": crate::network::inspect_settings(engine, &rec.id, c, running.then_some(rec.pid)),
        "Config": {
            "Hostname": c.final_hostname,
            "User": c.user.clone().or_else(|| image_cfg.as_ref().and_then(|i| i.user().clone())).unwrap_or_default(),
            "Env": c.process_env,
            "Cmd": cmd,
            "Entrypoint": entrypoint,
            "Image": rec.image,
            "WorkingDir": c.workdir.clone().or_else(|| image_cfg.as_ref().and_then(|i| i.working_dir().clone())).unwrap_or_default(),
            "Labels": labels(image_cfg.as_ref(), c),
            "StopSignal": c.stop_signal,
            "StopTimeout": c.stop_timeout.map(|t| if t == crate::config::WAIT_FOREVER { -1 } else { t as i64 }),
            "Tty": c.tty,
            "OpenStdin": c.interactive,
            "StdinOnce": c.interactive,
        },
    });
    // docker shows State.Health only for a container with a healthcheck.
    if let Some(h) = crate::health::read(engine, &rec.id) {
        v["State"]["Health"] = h.to_json();
    }
    if let Some(hc) = &c.healthcheck {
        v["Config"]["Healthcheck"] = serde_json::to_value(hc).unwrap_or_default();
    }
    // docker omits HostConfig.Annotations when there are none.
    if !c.annotations.is_empty() {
        v["HostConfig"]["Annotations"] = serde_json::to_value(&c.annotations).unwrap_or_default();
    }
    v
}

/// The image's labels overridden by `--label`.
fn labels(
    image: Option<&oci_spec::image::Config>,
    c: &crate::RunConfig,
) -> std::collections::BTreeMap<String, String> {
    let mut l: std::collections::BTreeMap<String, String> = image
        .and_then(|i| i.labels().clone())
        .unwrap_or_default()
        .into_iter()
        .collect();
    l.extend(c.labels.clone());
    l
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
        "ExitCode": rec.exit_code.or((status == Status::Exited).then_some(-1)),
        "StartedAt": rec.started_at,
        "FinishedAt": rec.finished_at,
        "AutoRemove": rec.config.auto_remove,
        "Labels": rec.config.labels,
    })
}
