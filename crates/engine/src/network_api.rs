//! Networks for the fronts (`holm network ls|inspect`, `GET /networks`, `GET /networks/{id}`): the predefined
//! networks (`bridge` — the `holm0` bridge —, `host`, `none`) as docker shows its own, beside the user networks
//! of [`crate::networks`]; docker's `network ls` filters; `--network` values as the engine records them.

use crate::lifecycle::Status;
use crate::networks::label_matches;
use crate::{Engine, Error, Result};
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// The predefined networks: (name, driver) ([`crate::networks::PREDEFINED`]).
pub const BUILTIN: [(&str, &str); 3] = crate::networks::PREDEFINED;

/// The hidden command line of a user network's name server (`holm __dns NETWORK_ID`), started by the engine.
pub const DNS_COMMAND: &str = holm_network::dnsproc::COMMAND;

/// Runs a user network's name server (the process [`DNS_COMMAND`] starts); returns its exit status.
pub fn dns_main(network_id: &str) -> i32 {
    holm_network::dnsproc::main(network_id)
}

/// A `--network` value as the engine records it: `bridge` for `""`/`bridge`/`default`, `none`, `host`;
/// `container:NAME` and a user network's name as given (resolved at create). Errors: a value that is none of
/// these.
pub fn normalize_mode(s: &str) -> Result<String> {
    use holm_network::Mode;
    Ok(match Mode::parse(s)? {
        // Resolved to the other container's id at create; a user network's name is checked at create.
        Mode::Container | Mode::User => s.to_string(),
        m => m.as_str().to_string(),
    })
}

/// One line of `holm network ls` (docker's template fields) with the network's full JSON.
#[derive(Debug, Clone)]
pub struct NetworkEntry {
    /// The id (a predefined network's is its name; a user network's is 64 hex digits).
    pub id: String,
    /// Its name.
    pub name: String,
    /// `bridge`, `host`, `null`.
    pub driver: String,
    /// `--internal`.
    pub internal: bool,
    /// Its labels.
    pub labels: BTreeMap<String, String>,
    /// Creation time, RFC 3339 (empty for the predefined networks).
    pub created: String,
    /// One of the predefined networks ([`BUILTIN`]).
    pub builtin: bool,
    /// docker's network JSON (what `inspect` shows, `GET /networks` lists).
    pub json: Value,
}

/// The filters of `holm network ls` / `GET /networks`: `name=` (substring), `id=` (prefix), `driver=`,
/// `label=K[=V]`, `type=custom|builtin`; values of one key are alternatives, all keys must hold.
#[derive(Debug, Clone, Default)]
pub struct NetworkFilters {
    pairs: Vec<(String, String)>,
}

impl NetworkFilters {
    /// Parses `KEY=VALUE` strings (docker's keys; `dangling` and `scope` are accepted and match nothing).
    /// Errors: [`Error::InvalidFilter`] in docker's words.
    pub fn parse(filters: &[String]) -> Result<NetworkFilters> {
        let mut pairs = Vec::new();
        for f in filters {
            let Some((k, v)) = f.split_once('=') else {
                return Err(Error::InvalidFilter(format!(
                    "bad format of filter (expected name=value): {f}"
                )));
            };
            if !["name", "id", "driver", "label", "type", "dangling", "scope"].contains(&k) {
                return Err(Error::InvalidFilter(format!("invalid filter '{k}'")));
            }
            pairs.push((k.to_string(), v.to_string()));
        }
        Ok(NetworkFilters { pairs })
    }

    fn passes(&self, e: &NetworkEntry) -> bool {
        let keys: std::collections::BTreeSet<&str> =
            self.pairs.iter().map(|(k, _)| k.as_str()).collect();
        keys.into_iter().all(|k| {
            self.pairs
                .iter()
                .filter(|(fk, _)| fk == k)
                .any(|(_, v)| match k {
                    "name" => e.name.contains(v.as_str()),
                    "id" => e.id.starts_with(v.as_str()),
                    "driver" => e.driver == *v,
                    "label" => label_matches(&e.labels, v),
                    "type" => (v == "builtin") == e.builtin,
                    _ => false,
                })
        })
    }
}

impl Engine {
    /// docker's network JSON of a predefined network (`name`, `driver`: one of [`BUILTIN`]) with the engine's
    /// running containers on it.
    fn builtin_network_json(&self, name: &str, driver: &str) -> Result<Value> {
        let mut containers = serde_json::Map::new();
        for (rec, st) in self.list()? {
            if !matches!(st, Status::Running | Status::Paused)
                || crate::network::mode(&rec.config).map_or("bridge", |m| m.as_str()) != name
            {
                continue;
            }
            let net = crate::network::state(self, &rec.id).unwrap_or_default();
            containers.insert(
                rec.id.clone(),
                json!({
                    "Name": rec.name,
                    "EndpointID": if name == "bridge" { rec.id.as_str() } else { "" },
                    "MacAddress": net.mac,
                    "IPv4Address": net.ip.map(|ip| format!("{ip}/{}", holm_network::SUBNET.1)).unwrap_or_default(),
                    "IPv6Address": "",
                }),
            );
        }
        let config = if name == "bridge" {
            json!([{
                "Subnet": format!("{}/{}", holm_network::SUBNET.0, holm_network::SUBNET.1),
                "Gateway": holm_network::GATEWAY.to_string(),
            }])
        } else {
            json!([])
        };
        let options = if name == "bridge" {
            json!({"com.docker.network.bridge.name": holm_network::BRIDGE})
        } else {
            json!({})
        };
        Ok(json!({
            "Name": name,
            "Id": name,
            // (docker shows its daemon's start; holm's predefined networks have no creation)
            "Created": "0001-01-01T00:00:00Z",
            "Scope": "local",
            "Driver": driver,
            "EnableIPv4": true,
            "EnableIPv6": false,
            "IPAM": {"Driver": "default", "Options": null, "Config": config},
            "Internal": false,
            "Attachable": false,
            "Ingress": false,
            "ConfigFrom": {"Network": ""},
            "ConfigOnly": false,
            "Containers": containers,
            "Options": options,
            "Labels": {},
        }))
    }

    /// docker's JSON of the network `name` (a predefined one, or a user network's name or id prefix), `None` if
    /// there is no such network. Errors: the database's, an ambiguous prefix.
    pub fn network_inspect(&self, name: &str) -> Result<Option<Value>> {
        match BUILTIN.iter().find(|(n, _)| *n == name) {
            Some((n, d)) => Ok(Some(self.builtin_network_json(n, d)?)),
            None => match self.network_find(name) {
                Ok(rec) => Ok(Some(self.network_json(&rec)?)),
                Err(Error::NoSuchNetwork(_)) => Ok(None),
                Err(e) => Err(e),
            },
        }
    }

    /// The networks that pass `filters`: the predefined ones first, then the user networks.
    pub fn network_list(&self, filters: &NetworkFilters) -> Result<Vec<NetworkEntry>> {
        let mut out = Vec::new();
        for (n, d) in BUILTIN {
            let e = NetworkEntry {
                id: n.into(),
                name: n.into(),
                driver: d.into(),
                internal: false,
                labels: BTreeMap::new(),
                created: String::new(),
                builtin: true,
                json: Value::Null,
            };
            if filters.passes(&e) {
                out.push(NetworkEntry {
                    json: self.builtin_network_json(n, d)?,
                    ..e
                });
            }
        }
        for rec in self.networks()? {
            let c = &rec.config;
            let e = NetworkEntry {
                id: rec.id.clone(),
                name: rec.name.clone(),
                driver: c.driver.clone(),
                internal: c.internal,
                labels: c.labels.clone(),
                created: rec.created.clone(),
                builtin: false,
                json: Value::Null,
            };
            if filters.passes(&e) {
                out.push(NetworkEntry {
                    json: self.network_json(&rec)?,
                    ..e
                });
            }
        }
        Ok(out)
    }
}
