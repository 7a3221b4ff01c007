//! Listing containers (`holm ps`, `GET /containers/json`): docker's filters, its `Status` text, and the
//! `/containers/json` entry ([`ContainerSummary`]).

use crate::db::ContainerRecord;
use crate::lifecycle::Status;
use crate::{Engine, Error, Result};
use serde::Serialize;
use std::collections::BTreeMap;

pub use holm_network::ports::PortBinding;

/// The `--filter` keys holm knows (docker's names).
pub const FILTER_KEYS: [&str; 9] = [
    "label", "name", "id", "status", "exited", "ancestor", "network", "health", "volume",
];

/// The values of docker's `health=` filter.
const HEALTH: [&str; 4] = ["starting", "healthy", "unhealthy", "none"];

/// docker's container states (`removing` and `dead` never happen in holm, but are valid filter values).
const STATES: [&str; 7] = [
    "created",
    "restarting",
    "running",
    "removing",
    "paused",
    "exited",
    "dead",
];

/// Checked container filters (`holm ps --filter`, the `filters` of `GET /containers/json`), as `(key, value)`
/// pairs: the values given for one key are alternatives (`status=created`, `status=exited`), except `label`,
/// whose values must all hold; every key given must hold.
#[derive(Debug, Clone, Default)]
pub struct ContainerFilters {
    pairs: Vec<(String, String)>,
    names: Vec<regex::Regex>,
}

impl ContainerFilters {
    /// Parses `KEY=VALUE` strings, checking every one before any container is looked at (an unknown filter is an
    /// error even when no container is listed, as docker's). Errors: [`Error::InvalidFlag`] naming `--filter`.
    pub fn parse(filters: &[String]) -> Result<ContainerFilters> {
        let mut out = ContainerFilters::default();
        for f in filters {
            let Some((k, v)) = f.split_once('=') else {
                return Err(Error::flag("--filter", f, "expected KEY=VALUE"));
            };
            if !FILTER_KEYS.contains(&k) {
                return Err(Error::flag(
                    "--filter",
                    f,
                    format!("invalid filter '{k}' (holm has {})", FILTER_KEYS.join(", ")),
                ));
            }
            if k == "status" && !STATES.contains(&v) {
                return Err(Error::flag(
                    "--filter",
                    f,
                    format!("invalid filter '{f}' (status= takes {})", STATES.join(", ")),
                ));
            }
            if k == "health" && !HEALTH.contains(&v) {
                return Err(Error::flag(
                    "--filter",
                    f,
                    format!("invalid filter '{f}' (health= takes {})", HEALTH.join(", ")),
                ));
            }
            if k == "exited" && v.parse::<i32>().is_err() {
                return Err(Error::flag("--filter", f, "exited= takes an exit code"));
            }
            if k == "name" {
                // docker matches the name as a Go regular expression (RE2 syntax, as the regex crate's)
                out.names.push(regex::Regex::new(v).map_err(|e| {
                    let why = e.to_string();
                    let why = why.lines().last().unwrap_or("").trim();
                    let why = why.strip_prefix("error: ").unwrap_or(why).to_string();
                    Error::flag("--filter", f, format!("invalid regular expression: {why}"))
                })?);
            }
            out.pairs.push((k.to_string(), v.to_string()));
        }
        Ok(out)
    }

    /// True if a `status=` filter is given (docker then lists stopped containers without `-a`).
    pub fn has_status(&self) -> bool {
        self.pairs.iter().any(|(k, _)| k == "status")
    }

    /// True if the container passes every filter. `name=` is a regex matched against the name with and without
    /// docker's leading `/` (`name=^/web$` and `name=^web$` both find `web`); `id=` a prefix; `health=` the
    /// healthcheck's status word of a running container (`none` without a healthcheck, or when not running);
    /// `volume=` a volume's name, a bind's host path or a mount's path in the container.
    pub fn matches(&self, engine: &Engine, rec: &ContainerRecord, st: Status) -> bool {
        let mut keys: Vec<&str> = self.pairs.iter().map(|(k, _)| k.as_str()).collect();
        keys.sort_unstable();
        keys.dedup();
        let slashed = format!("/{}", rec.name);
        keys.into_iter().all(|key| {
            let mut values = self
                .pairs
                .iter()
                .filter(|(k, _)| k == key)
                .map(|(_, v)| v.as_str());
            match key {
                "label" => values.all(|v| match v.split_once('=') {
                    Some((lk, lv)) => rec.config.labels.get(lk).is_some_and(|x| x == lv),
                    None => rec.config.labels.contains_key(v),
                }),
                "name" => self
                    .names
                    .iter()
                    .any(|re| re.is_match(&slashed) || re.is_match(&rec.name)),
                "id" => values.any(|v| rec.id.starts_with(v)),
                "status" => values.any(|v| st.as_str() == v),
                "exited" => values
                    .any(|v| st == Status::Exited && rec.exit_code.unwrap_or(-1).to_string() == v),
                "ancestor" => values.any(|v| is_ancestor(v, rec)),
                "network" => values.any(|v| networks_of(rec).iter().any(|n| n == v)),
                // docker's: a volume's name or a bind's host path, or the path in the container
                "volume" => values.any(|v| {
                    rec.config
                        .volumes
                        .iter()
                        .filter_map(|b| crate::config::parse_volume(b).ok())
                        .any(|b| b.source == v || b.destination == v)
                }),
                "health" => {
                    let word = if st == Status::Running {
                        crate::health::status_word(engine, &rec.id)
                    } else {
                        "none".to_string()
                    };
                    values.any(|v| v == word)
                }
                _ => false,
            }
        })
    }
}

/// The networks a container is on, by name: its `--network` (`bridge` when empty) and the user networks it was
/// `network connect`ed to.
pub fn networks_of(rec: &ContainerRecord) -> Vec<String> {
    let mut v = vec![if rec.config.network.is_empty() {
        "bridge".to_string()
    } else {
        rec.config.network.clone()
    }];
    v.extend(rec.config.connected.iter().map(|a| a.network.clone()));
    v
}

/// docker's `ancestor=`: the container was created from this image, named as given (`busybox`,
/// `busybox:latest`, `docker.io/library/busybox`) or by id (prefix). holm's images have no parents, so only the
/// image itself is an ancestor.
fn is_ancestor(v: &str, rec: &ContainerRecord) -> bool {
    let hex = rec.image_id.trim_start_matches("sha256:");
    let want = v.trim_start_matches("sha256:");
    if want.len() >= 4 && hex.starts_with(want) {
        return true;
    }
    let norm =
        |s: &str| holm_image::Reference::parse_normalized(s).map(|r| r.or_latest().to_string());
    match (norm(v), norm(&rec.image)) {
        (Ok(a), Ok(b)) => a == b,
        _ => v == rec.image,
    }
}

/// What `holm ps` / `GET /containers/json` list.
#[derive(Debug, Clone, Default)]
pub struct ListOptions {
    /// Every state (default: running, paused and restarting ones).
    pub all: bool,
    /// Only the `n` last created (every state).
    pub last: Option<usize>,
    /// The filters.
    pub filters: ContainerFilters,
}

/// docker's `Status` text: `Created`, `Up 5 seconds`, `Up 2 minutes (Paused)`, `Exited (0) 3 seconds ago`,
/// `Restarting (1) 2 seconds ago`, at `now` (Unix seconds). An unknown exit code (its monitor was killed) shows
/// as -1, as podman shows it and `inspect`/`wait` say.
pub fn status_text(rec: &ContainerRecord, st: Status, now: i64) -> String {
    use holm_format::time::{ago, human_duration, parse_rfc3339};
    let since = |t: &str| parse_rfc3339(t).map(|t| ago(t, now));
    match st {
        Status::Created => "Created".into(),
        Status::Running | Status::Paused => {
            let up = parse_rfc3339(&rec.started_at)
                .map(|t| human_duration(now - t))
                .unwrap_or_default();
            let paused = if st == Status::Paused {
                " (Paused)"
            } else {
                ""
            };
            format!("Up {up}{paused}")
        }
        Status::Restarting | Status::Exited => {
            let word = if st == Status::Exited {
                "Exited"
            } else {
                "Restarting"
            };
            let code = rec.exit_code.unwrap_or(-1);
            match since(&rec.finished_at) {
                Some(a) => format!("{word} ({code}) {a}"),
                None => format!("{word} ({code})"),
            }
        }
    }
}

/// A published port of [`ContainerSummary`] (docker's `Port`).
#[derive(Debug, Clone, Serialize)]
pub struct PortSummary {
    /// Host address (`0.0.0.0`).
    #[serde(rename = "IP")]
    pub ip: String,
    /// Port in the container.
    #[serde(rename = "PrivatePort")]
    pub private_port: u16,
    /// Port on the host.
    #[serde(rename = "PublicPort")]
    pub public_port: u16,
    /// `tcp` or `udp`.
    #[serde(rename = "Type")]
    pub kind: String,
}

/// A mount of [`ContainerSummary`] (docker's `MountPoint`, the fields holm has).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct MountSummary {
    /// `volume` or `bind`.
    #[serde(rename = "Type")]
    pub kind: String,
    /// The volume's name (empty for a bind).
    pub name: String,
    /// The host path.
    pub source: String,
    /// The path in the container.
    pub destination: String,
    /// `local` for a volume, empty for a bind.
    pub driver: String,
    /// `ro`, or `z` (volume) / empty (bind) when writable, as `inspect` shows.
    pub mode: String,
    /// Writable.
    #[serde(rename = "RW")]
    pub rw: bool,
    /// `rprivate` for a bind, empty for a volume.
    pub propagation: String,
}

/// `HostConfig` of [`ContainerSummary`].
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct HostConfigSummary {
    /// `bridge`, `host`, `none`, `container:ID`, or a user network's name.
    pub network_mode: String,
}

/// One container as docker's `GET /containers/json` lists it (the fields holm has).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ContainerSummary {
    /// The full id.
    pub id: String,
    /// `["/NAME"]`.
    pub names: Vec<String>,
    /// The image as given to `run`.
    pub image: String,
    /// `sha256:…`.
    #[serde(rename = "ImageID")]
    pub image_id: String,
    /// The command line, joined by spaces.
    pub command: String,
    /// Creation time, Unix seconds.
    pub created: i64,
    /// Published ports (a running container's).
    pub ports: Vec<PortSummary>,
    /// `SizeRw` (with `size`): bytes of its writable layer.
    #[serde(rename = "SizeRw", skip_serializing_if = "Option::is_none")]
    pub size_rw: Option<u64>,
    /// `SizeRootFs` (with `size`): the writable layer plus its image.
    #[serde(rename = "SizeRootFs", skip_serializing_if = "Option::is_none")]
    pub size_root_fs: Option<u64>,
    /// Its labels.
    pub labels: BTreeMap<String, String>,
    /// `created`, `running`, `paused`, `restarting`, `exited`.
    pub state: String,
    /// [`status_text`].
    pub status: String,
    /// Its network mode.
    pub host_config: HostConfigSummary,
    /// `{"Networks": {NAME: EndpointSettings}}`, as `inspect` shows them (addresses while it runs).
    pub network_settings: serde_json::Value,
    /// Volumes and binds.
    pub mounts: Vec<MountSummary>,
}

impl Engine {
    /// The containers `opts` selects, newest first, with their status. Errors: the database's.
    pub fn container_list(&self, opts: &ListOptions) -> Result<Vec<(ContainerRecord, Status)>> {
        let mut list = Vec::new();
        for (r, st) in self.list()?.into_iter().rev() {
            let shown = opts.all
                || opts.last.is_some()
                || matches!(st, Status::Running | Status::Paused | Status::Restarting)
                || opts.filters.has_status();
            if shown && opts.filters.matches(self, &r, st) {
                list.push((r, st));
            }
        }
        if let Some(n) = opts.last {
            list.truncate(n);
        }
        Ok(list)
    }

    /// A container's published ports, sorted by container port, protocol, host address and port (none unless it
    /// runs).
    pub fn container_ports(&self, rec: &ContainerRecord) -> Vec<PortBinding> {
        let mut ports = if rec.state == crate::State::Running {
            crate::network::state(self, &rec.id)
                .map(|s| s.ports)
                .unwrap_or_default()
        } else {
            Vec::new()
        };
        ports.sort_by_key(|p| (p.container_port, p.proto, p.host_ip, p.host_port));
        ports
    }

    /// docker's `Status` of a container: [`status_text`], and for a running one with a healthcheck its health
    /// (`Up 5 seconds (healthy)`, `(unhealthy)`, `(health: starting)`).
    pub fn container_status_text(&self, rec: &ContainerRecord, st: Status, now: i64) -> String {
        let mut s = status_text(rec, st, now);
        if st == Status::Running {
            s.push_str(&crate::health::ps_suffix(self, &rec.id).unwrap_or_default());
        }
        s
    }

    /// Bytes of a container's writable layer and of that plus its image (`ps -s`, `inspect -s`).
    pub fn container_sizes(&self, rec: &ContainerRecord) -> (u64, u64) {
        let rw = self.writable_size(&rec.id);
        (rw, rw + self.image_size(&rec.image_id))
    }

    /// docker's `/containers/json` entry for `rec` (with `size`, its sizes).
    pub fn container_summary(
        &self,
        rec: &ContainerRecord,
        st: Status,
        size: bool,
    ) -> ContainerSummary {
        let ports = self.container_ports(rec);
        let sizes = size.then(|| self.container_sizes(rec));
        ContainerSummary {
            id: rec.id.clone(),
            names: vec![format!("/{}", rec.name)],
            image: rec.image.clone(),
            image_id: rec.image_id.clone(),
            command: rec.config.args.join(" "),
            created: holm_format::time::parse_rfc3339(&rec.created).unwrap_or(0),
            ports: ports
                .iter()
                .map(|p| PortSummary {
                    ip: p.host_ip.to_string(),
                    private_port: p.container_port,
                    public_port: p.host_port,
                    kind: p.proto.as_str().to_string(),
                })
                .collect(),
            size_rw: sizes.map(|s| s.0),
            size_root_fs: sizes.map(|s| s.1),
            labels: rec
                .config
                .labels
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            state: st.as_str().to_string(),
            status: self.container_status_text(rec, st, holm_format::time::now_secs()),
            network_settings: serde_json::json!({
                "Networks": crate::network::inspect_settings(
                    self,
                    &rec.id,
                    &rec.config,
                    matches!(st, Status::Running | Status::Paused).then_some(rec.pid),
                )["Networks"]
                    .clone()
            }),
            host_config: HostConfigSummary {
                network_mode: crate::network::mode_text(&rec.config),
            },
            mounts: rec
                .config
                .volumes
                .iter()
                .filter_map(|v| crate::config::parse_volume(v).ok())
                .map(|b| MountSummary {
                    kind: if b.volume { "volume" } else { "bind" }.into(),
                    name: if b.volume {
                        b.source.clone()
                    } else {
                        String::new()
                    },
                    source: if b.volume {
                        self.volume_path(&b.source).display().to_string()
                    } else {
                        b.source.clone()
                    },
                    destination: b.destination.clone(),
                    driver: if b.volume { "local" } else { "" }.into(),
                    mode: match (b.read_only, b.volume) {
                        (true, _) => "ro",
                        (false, true) => "z",
                        (false, false) => "",
                    }
                    .into(),
                    rw: !b.read_only,
                    propagation: if b.volume { "" } else { "rprivate" }.into(),
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::ContainerFilters;

    #[test]
    fn filters_are_checked_before_listing() {
        let f = |v: &[&str]| {
            ContainerFilters::parse(&v.iter().map(|s| s.to_string()).collect::<Vec<_>>())
        };
        assert!(f(&[
            "health=healthy",
            "health=none",
            "network=n1",
            "status=exited",
            "volume=/data"
        ])
        .is_ok());
        for bad in [
            "health=bogus",
            "status=up",
            "exited=x",
            "nope=1",
            "name=(",
            "label",
        ] {
            let e = f(&[bad]).unwrap_err().to_string();
            assert!(e.contains("--filter") && e.contains(bad), "{bad}: {e}");
        }
    }
}
