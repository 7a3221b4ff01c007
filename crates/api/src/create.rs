//! The body of `POST /containers/create` (docker's `Config` with `HostConfig`) and its translation into the
//! engine's [`RunConfig`] — the same record `holm create` makes from its flags. Fields holm does not have are
//! ignored (as dockerd ignores unknown fields); those that change how the container runs and that holm cannot
//! honour are refused with a 400 naming them, and a few are accepted with a warning in the response.

use crate::error::ApiError;
use holm_engine::RunConfig;
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;

/// docker's `ContainerConfig` plus `HostConfig` (the fields holm maps).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct CreateBody {
    /// Host name.
    pub hostname: String,
    /// `USER[:GROUP]`.
    pub user: String,
    /// `-t`.
    pub tty: bool,
    /// `-i`.
    pub open_stdin: bool,
    /// `K=V` list.
    pub env: Option<Vec<String>>,
    /// A string or a list.
    pub cmd: Option<Value>,
    /// A string or a list (an empty list or string clears the image's).
    pub entrypoint: Option<Value>,
    /// The image.
    pub image: String,
    /// `-w`.
    pub working_dir: String,
    /// `--label`.
    pub labels: Option<BTreeMap<String, String>>,
    /// `--stop-signal`.
    pub stop_signal: Option<String>,
    /// `--stop-timeout`.
    pub stop_timeout: Option<i64>,
    /// `--health-*` (docker's `HealthConfig`; merged over the image's at create).
    pub healthcheck: Option<holm_engine::health::HealthConfig>,
    /// `VOLUME`s of the request (anonymous volumes).
    pub volumes: Option<BTreeMap<String, Value>>,
    /// The host side.
    pub host_config: Option<HostConfig>,
    /// `{"EndpointsConfig": {NETWORK: {"Aliases": […]}}}` (docker-compose names its services so).
    pub networking_config: Option<NetworkingConfig>,
}

/// `NetworkingConfig`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct NetworkingConfig {
    /// Per network.
    pub endpoints_config: Option<BTreeMap<String, Option<crate::networks::EndpointConfig>>>,
}

/// docker's `HostConfig` (the fields holm maps).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct HostConfig {
    /// `-v SRC:DST[:ro]`.
    pub binds: Option<Vec<String>>,
    /// `{"80/tcp": [{"HostIp": "", "HostPort": "8080"}]}`.
    pub port_bindings: Option<BTreeMap<String, Option<Vec<PortBinding>>>>,
    /// `-P`.
    pub publish_all_ports: bool,
    /// `--rm`.
    pub auto_remove: bool,
    /// Bytes.
    pub memory: i64,
    /// Bytes (`-1`: unlimited swap).
    pub memory_swap: i64,
    /// CPUs × 10⁹.
    pub nano_cpus: i64,
    /// `--cpu-shares`.
    pub cpu_shares: i64,
    /// `--cpuset-cpus`.
    pub cpuset_cpus: String,
    /// `--pids-limit`.
    pub pids_limit: Option<i64>,
    /// `bridge`, `default`, `none`, `host`, `container:X`.
    pub network_mode: String,
    /// `--restart`.
    pub restart_policy: Option<RestartPolicy>,
    /// `--privileged`.
    pub privileged: bool,
    /// `--read-only`.
    pub readonly_rootfs: bool,
    /// `--cap-add`.
    pub cap_add: Option<Vec<String>>,
    /// `--cap-drop`.
    pub cap_drop: Option<Vec<String>>,
    /// `--dns`.
    pub dns: Option<Vec<String>>,
    /// `--add-host`.
    pub extra_hosts: Option<Vec<String>>,
    /// `--init`.
    pub init: Option<bool>,
    /// `--security-opt`.
    pub security_opt: Option<Vec<String>>,
    /// `--tmpfs DST:OPTS`.
    pub tmpfs: Option<BTreeMap<String, String>>,
    /// `--mount`.
    pub mounts: Option<Vec<MountSpec>>,
    /// `--log-driver`, `--log-opt`.
    pub log_config: Option<LogConfig>,
    /// `--isolation`: empty, `default`, `process` or `vm`.
    pub isolation: String,
    /// `--annotation` (API 1.43): OCI annotations for the runtime.
    pub annotations: Option<BTreeMap<String, String>>,
}

/// One host binding of a port.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct PortBinding {
    /// Host address (empty: every one).
    pub host_ip: String,
    /// Host port (empty: any free one).
    pub host_port: String,
}

/// `RestartPolicy`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct RestartPolicy {
    /// `no`, `always`, `unless-stopped`, `on-failure`.
    pub name: String,
    /// For `on-failure`.
    pub maximum_retry_count: u32,
}

impl RestartPolicy {
    /// docker's `--restart` text for it: `on-failure:N` when N > 0, else the name.
    pub fn flag(&self) -> String {
        if self.name == "on-failure" && self.maximum_retry_count > 0 {
            format!("on-failure:{}", self.maximum_retry_count)
        } else {
            self.name.clone()
        }
    }
}

/// One `Mounts` entry.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct MountSpec {
    /// `bind`, `volume`, `tmpfs`.
    #[serde(rename = "Type")]
    pub kind: String,
    /// Host path or volume name.
    pub source: String,
    /// Path in the container.
    pub target: String,
    /// Read-only.
    pub read_only: bool,
}

/// `LogConfig`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct LogConfig {
    /// Driver.
    #[serde(rename = "Type")]
    pub kind: String,
    /// Options.
    pub config: BTreeMap<String, String>,
}

fn str_list(field: &str, v: Value) -> Result<Vec<String>, ApiError> {
    match v {
        Value::Null => Ok(Vec::new()),
        Value::String(s) => Ok(vec![s]),
        Value::Array(a) => a
            .into_iter()
            .map(|x| match x {
                Value::String(s) => Ok(s),
                _ => Err(ApiError::bad(format!(
                    "{field}: expected a list of strings"
                ))),
            })
            .collect(),
        _ => Err(ApiError::bad(format!(
            "{field}: expected a string or a list of strings"
        ))),
    }
}

fn checked<T>(r: holm_engine::Result<T>) -> Result<T, ApiError> {
    r.map_err(|e| ApiError::bad(e.to_string()))
}

/// The image and the engine's [`RunConfig`] for a create body, and docker's warnings. Bad values are a 400
/// naming the field.
pub fn run_config(b: CreateBody) -> Result<(String, RunConfig, Vec<String>), ApiError> {
    use holm_engine::options as o;
    if b.image.is_empty() {
        return Err(ApiError::bad(
            "config cannot be empty in order to create a container: Image is required",
        ));
    }
    let warnings = Vec::new();
    let h = b.host_config.unwrap_or_default();
    let mut cfg = RunConfig {
        cmd: b
            .cmd
            .map(|c| str_list("Cmd", c))
            .transpose()?
            .unwrap_or_default(),
        entrypoint: b
            .entrypoint
            .map(|e| str_list("Entrypoint", e))
            .transpose()?
            .map(|e| {
                if e.len() == 1 && e[0].is_empty() {
                    Vec::new()
                } else {
                    e
                }
            }),
        env: b.env.unwrap_or_default(),
        workdir: Some(b.working_dir).filter(|w| !w.is_empty()),
        user: Some(b.user).filter(|u| !u.is_empty()),
        hostname: Some(b.hostname).filter(|h| !h.is_empty()),
        tty: b.tty,
        interactive: b.open_stdin,
        labels: b.labels.unwrap_or_default(),
        stop_timeout: b.stop_timeout.map(holm_engine::config::stop_timeout),
        read_only: h.readonly_rootfs,
        auto_remove: h.auto_remove,
        privileged: h.privileged,
        cap_add: h.cap_add.unwrap_or_default(),
        cap_drop: h.cap_drop.unwrap_or_default(),
        dns: h.dns.unwrap_or_default(),
        add_hosts: h.extra_hosts.unwrap_or_default(),
        init: h.init.unwrap_or(false),
        security_opt: h.security_opt.unwrap_or_default(),
        annotations: h.annotations.unwrap_or_default(),
        publish_all: h.publish_all_ports,
        healthcheck: b.healthcheck,
        ..Default::default()
    };
    if let Some(s) = b.stop_signal.filter(|s| !s.is_empty()) {
        cfg.stop_signal = checked(o::parse_stop_signal(&s))?;
    }
    if h.memory > 0 {
        cfg.memory = Some(h.memory);
    } else if h.memory < 0 {
        return Err(ApiError::bad("Memory: must be a positive number of bytes"));
    }
    if h.memory_swap != 0 {
        cfg.memory_swap = Some(h.memory_swap);
    }
    if h.nano_cpus > 0 {
        cfg.cpus = Some(h.nano_cpus as f64 / 1e9);
    } else if h.nano_cpus < 0 {
        return Err(ApiError::bad("NanoCpus: must be a positive number"));
    }
    if h.cpu_shares > 0 {
        cfg.cpu_shares = Some(h.cpu_shares as u64);
    }
    if !h.cpuset_cpus.is_empty() {
        cfg.cpuset_cpus = Some(checked(o::parse_cpuset(&h.cpuset_cpus))?);
    }
    cfg.pids_limit = h.pids_limit.filter(|p| *p != 0);
    cfg.isolation = checked(holm_engine::vm::parse_isolation(&h.isolation))?;
    cfg.network = match h.network_mode.as_str() {
        "" | "default" => String::new(),
        m => m.to_string(),
    };
    checked(holm_engine::network::mode(&cfg))?;
    for (net, ep) in b
        .networking_config
        .and_then(|n| n.endpoints_config)
        .unwrap_or_default()
    {
        let aliases = ep.and_then(|e| e.aliases).unwrap_or_default();
        // the docker CLI names the default network `default` (and NetworkMode `default`)
        let primary =
            net == cfg.network || (cfg.network.is_empty() && (net == "bridge" || net == "default"));
        if primary {
            cfg.network_aliases = aliases;
        } else {
            cfg.connected.push(holm_engine::networks::Attachment {
                network: net,
                aliases,
                ip: None,
            });
        }
    }
    if let Some(r) = h
        .restart_policy
        .filter(|r| !r.name.is_empty() && r.name != "no")
    {
        cfg.restart = r.flag();
    }
    for (port, bindings) in h.port_bindings.unwrap_or_default() {
        let list = bindings.unwrap_or_default();
        if list.is_empty() {
            cfg.publish.push(port.clone());
        }
        for pb in list {
            let mut s = String::new();
            if !pb.host_ip.is_empty() {
                s.push_str(&pb.host_ip);
                s.push(':');
            }
            if !pb.host_port.is_empty() || !pb.host_ip.is_empty() {
                s.push_str(&pb.host_port);
                s.push(':');
            }
            s.push_str(&port);
            cfg.publish.push(s);
        }
    }
    checked(holm_engine::network::requested_ports(&cfg))?;
    for v in h.binds.unwrap_or_default() {
        let (v, anon) = checked(holm_engine::volumes::expand_volume_flag(&v))?;
        cfg.anonymous_volumes.extend(anon);
        cfg.volumes.push(v);
    }
    for m in h.mounts.unwrap_or_default() {
        if !m.target.starts_with('/') {
            return Err(ApiError::bad(format!(
                "invalid mount config: Target {:?} must be an absolute path",
                m.target
            )));
        }
        let ro = if m.read_only { ",readonly" } else { "" };
        match m.kind.as_str() {
            "bind" | "volume" => {
                let flag = format!(
                    "type={},source={},target={}{ro}",
                    m.kind, m.source, m.target
                );
                if m.kind == "volume" {
                    let spec = if m.source.is_empty() {
                        m.target.clone()
                    } else {
                        format!(
                            "{}:{}{}",
                            m.source,
                            m.target,
                            if m.read_only { ":ro" } else { "" }
                        )
                    };
                    let (v, anon) = checked(holm_engine::volumes::expand_volume_flag(&spec))?;
                    cfg.anonymous_volumes.extend(anon);
                    cfg.volumes.push(v);
                } else {
                    cfg.mounts.push(flag);
                }
            }
            "tmpfs" => cfg.tmpfs.push(m.target.clone()),
            k => {
                return Err(ApiError::bad(format!(
                    "invalid mount config: mount type {k:?} is not supported by holm"
                )))
            }
        }
    }
    for (dst, opts) in h.tmpfs.unwrap_or_default() {
        cfg.tmpfs.push(if opts.is_empty() {
            dst
        } else {
            format!("{dst}:{opts}")
        });
    }
    for v in b.volumes.unwrap_or_default().into_keys() {
        if !cfg
            .volumes
            .iter()
            .any(|x| x.ends_with(&format!(":{v}")) || x.contains(&format!(":{v}:")))
        {
            let (v, anon) = checked(holm_engine::volumes::expand_volume_flag(&v))?;
            cfg.anonymous_volumes.extend(anon);
            cfg.volumes.push(v);
        }
    }
    if let Some(l) = h.log_config.filter(|l| !l.kind.is_empty()) {
        cfg.log_driver = checked(o::parse_log_driver(&l.kind))?;
        cfg.log_opts = l.config;
    }
    checked(cfg.validate())?;
    Ok((b.image, cfg, warnings))
}
