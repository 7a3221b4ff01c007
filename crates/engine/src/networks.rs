//! User-defined networks (`holm network create|ls|inspect|rm|prune|connect|disconnect`), the engine's side: the
//! records in the engine's database ([`crate::netdb`]), the host side made by [`holm_network::usernet`], and
//! docker's JSON shape for `network inspect`. A container's endpoints on these networks are made and removed with
//! its other networking ([`crate::netuser`]).
//!
//! docker's behaviour is followed: names are unique per engine, `rm` refuses a network that running containers
//! are on (docker's "has active endpoints"), `prune` removes every user network no running container is on, the
//! predefined `bridge`, `host` and `none` can be neither created nor removed. One difference: a network's
//! definition is per `--root`, its bridge and subnet are host-wide (subnets never overlap across roots).

use crate::config::RunConfig;
use crate::lifecycle::Status;
use crate::{ContainerRecord, Engine, Error, Result};
use holm_network::usernet::{self, NetDef};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::net::Ipv4Addr;

/// The predefined networks and their drivers, as docker lists them.
pub const PREDEFINED: [(&str, &str); 3] =
    [("bridge", "bridge"), ("host", "host"), ("none", "null")];

/// A user network's settings (the `config` column).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct NetworkConfig {
    /// `--driver` (only `bridge`).
    pub driver: String,
    /// The subnet's address.
    pub subnet: Option<Ipv4Addr>,
    /// The subnet's prefix length.
    pub prefix: u8,
    /// The gateway.
    pub gateway: Option<Ipv4Addr>,
    /// `--internal`.
    pub internal: bool,
    /// `--label K=V`.
    pub labels: BTreeMap<String, String>,
    /// `-o K=V` (recorded and shown; none changes anything).
    pub options: BTreeMap<String, String>,
}

/// One user network.
#[derive(Debug, Clone, PartialEq)]
pub struct NetworkRecord {
    /// 64 hex digits.
    pub id: String,
    /// Its name.
    pub name: String,
    /// Creation time, RFC 3339.
    pub created: String,
    /// Its settings.
    pub config: NetworkConfig,
}

/// A container's membership of a user network beyond its `--network` (`network connect`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Attachment {
    /// The network's name.
    pub network: String,
    /// `--alias`.
    pub aliases: Vec<String>,
    /// `--ip`.
    pub ip: Option<Ipv4Addr>,
}

/// What `network create` asks for.
#[derive(Debug, Clone, Default)]
pub struct CreateNetwork {
    /// The name.
    pub name: String,
    /// `--driver` (empty: bridge).
    pub driver: String,
    /// `--subnet` as given.
    pub subnet: Option<String>,
    /// `--gateway` as given.
    pub gateway: Option<String>,
    /// `--internal`.
    pub internal: bool,
    /// `--label K=V`, as given.
    pub labels: Vec<String>,
    /// `-o K=V`, as given.
    pub options: Vec<String>,
}

fn key_values(flag: &str, kv: &[String]) -> Result<BTreeMap<String, String>> {
    kv.iter()
        .map(|s| match s.split_once('=') {
            Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
            None if !s.is_empty() => Ok((s.to_string(), String::new())),
            _ => Err(Error::flag(flag, s, "expected KEY=VALUE")),
        })
        .collect()
}

impl NetworkRecord {
    /// The host side's view of this network.
    pub fn host_def(&self) -> NetDef {
        NetDef {
            id: self.id.clone(),
            name: self.name.clone(),
            bridge: usernet::bridge_name(&self.id),
            subnet: self.config.subnet.unwrap_or(Ipv4Addr::UNSPECIFIED),
            prefix: self.config.prefix,
            gateway: self.config.gateway.unwrap_or(Ipv4Addr::UNSPECIFIED),
            internal: self.config.internal,
        }
    }

    /// The host side's definition, written again if it is missing (its directory was wiped: a reboot, a test's
    /// private `/run`).
    pub fn ensure_host(&self) -> Result<NetDef> {
        let def = self.host_def();
        if usernet::load(&self.id).is_err() {
            let dir = def.dir();
            std::fs::create_dir_all(&dir)
                .map_err(Error::io(format!("create {}", dir.display())))?;
            let p = dir.join("net.json");
            std::fs::write(&p, serde_json::to_vec(&def).expect("serialises"))
                .map_err(Error::io(format!("write {}", p.display())))?;
        }
        usernet::ensure(&def)?;
        Ok(def)
    }
}

/// The user networks a container's config puts it on, in order (its `--network` first, then `connect`ed ones),
/// each with its aliases and requested address.
pub fn attachments(cfg: &RunConfig) -> Vec<Attachment> {
    let mut out = Vec::new();
    if holm_network::Mode::parse(&cfg.network).ok() == Some(holm_network::Mode::User) {
        out.push(Attachment {
            network: cfg.network.clone(),
            aliases: cfg.network_aliases.clone(),
            ip: cfg.network_ip,
        });
    }
    out.extend(cfg.connected.iter().cloned());
    out
}

impl Engine {
    /// `network create`: records the network and makes its bridge, subnet and rules. Returns its record.
    ///
    /// Errors: [`Error::NetworkExists`] (also for the predefined names), a bad name, driver, subnet, gateway or
    /// label (naming the flag), an overlapping subnet, netlink/nftables failures.
    pub fn network_create(&self, req: &CreateNetwork) -> Result<NetworkRecord> {
        if PREDEFINED.iter().any(|(n, _)| *n == req.name) {
            return Err(Error::NetworkExists(req.name.clone()));
        }
        if !usernet::valid_name(&req.name) {
            return Err(Error::NetworkRefused(format!(
                "invalid network name \"{}\": only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed",
                req.name
            )));
        }
        let driver = if req.driver.is_empty() {
            "bridge"
        } else {
            req.driver.as_str()
        };
        if driver != "bridge" {
            return Err(Error::NetworkRefused(format!(
                "plugin \"{driver}\" not found (holm has the bridge driver only)"
            )));
        }
        let labels = key_values("--label", &req.labels)?;
        let options = key_values("--opt", &req.options)?;
        let subnet = req
            .subnet
            .as_deref()
            .map(usernet::parse_subnet)
            .transpose()?;
        let gateway = match &req.gateway {
            Some(g) => Some(
                g.parse::<Ipv4Addr>()
                    .map_err(|_| Error::flag("--gateway", g, "not an IPv4 address"))?,
            ),
            None => None,
        };
        if gateway.is_some() && subnet.is_none() {
            return Err(Error::flag(
                "--gateway",
                req.gateway.as_deref().unwrap_or_default(),
                "a gateway needs a --subnet",
            ));
        }
        let db = self.db()?;
        if db.get_network(&req.name)?.is_some() {
            return Err(Error::NetworkExists(req.name.clone()));
        }
        let id = crate::ids::new_id()?;
        let def = usernet::create(&usernet::CreateRequest {
            id: id.clone(),
            name: req.name.clone(),
            subnet,
            gateway,
            internal: req.internal,
        })?;
        let rec = NetworkRecord {
            id,
            name: req.name.clone(),
            created: holm_container::state::rfc3339(std::time::SystemTime::now()),
            config: NetworkConfig {
                driver: driver.to_string(),
                subnet: Some(def.subnet),
                prefix: def.prefix,
                gateway: Some(def.gateway),
                internal: req.internal,
                labels,
                options,
            },
        };
        match db.insert_network(&rec) {
            Ok(true) => {
                self.emit_network(&rec, "create", None);
                Ok(rec)
            }
            Ok(false) => {
                let _ = usernet::remove(&def);
                Err(Error::NetworkExists(req.name.clone()))
            }
            Err(e) => {
                let _ = usernet::remove(&def);
                Err(e)
            }
        }
    }

    /// Every user network, oldest first.
    pub fn networks(&self) -> Result<Vec<NetworkRecord>> {
        self.db()?.list_networks()
    }

    /// The user network named `what`, or whose id or unique id prefix it is. Errors: [`Error::NoSuchNetwork`].
    pub fn network_find(&self, what: &str) -> Result<NetworkRecord> {
        let db = self.db()?;
        if let Some(r) = db.get_network(what)? {
            return Ok(r);
        }
        let hits: Vec<NetworkRecord> =
            if what.bytes().all(|b| b.is_ascii_hexdigit()) && !what.is_empty() {
                db.list_networks()?
                    .into_iter()
                    .filter(|n| n.id.starts_with(what))
                    .collect()
            } else {
                Vec::new()
            };
        match hits.len() {
            1 => Ok(hits.into_iter().next().expect("one")),
            0 => Err(Error::NoSuchNetwork(what.to_string())),
            _ => Err(Error::NetworkRefused(format!(
                "network {what} is ambiguous ({} matches found based on ID prefix)",
                hits.len()
            ))),
        }
    }

    /// The running (or paused) containers on network `name`, with their records.
    pub fn network_members(&self, name: &str) -> Result<Vec<ContainerRecord>> {
        Ok(self
            .list()?
            .into_iter()
            .filter(|(rec, st)| {
                matches!(st, Status::Running | Status::Paused)
                    && attachments(&rec.config).iter().any(|a| a.network == name)
            })
            .map(|(rec, _)| rec)
            .collect())
    }

    /// `network rm`: removes the user network `what`. Errors: [`Error::NoSuchNetwork`], [`Error::NetworkInUse`]
    /// while running containers are on it, a predefined network (docker's message).
    pub fn network_remove(&self, what: &str) -> Result<String> {
        if PREDEFINED.iter().any(|(n, _)| *n == what) {
            return Err(Error::NetworkRefused(format!(
                "{what} is a pre-defined network and cannot be removed"
            )));
        }
        let rec = self.network_find(what)?;
        if !self.network_members(&rec.name)?.is_empty() {
            return Err(Error::NetworkInUse {
                name: rec.name,
                id: rec.id,
            });
        }
        usernet::remove(&rec.host_def())?;
        self.db()?.delete_network(&rec.id)?;
        self.emit_network(&rec, "destroy", None);
        Ok(rec.name)
    }

    /// `network prune`: removes every user network no running container is on (and, with `labels`, that has
    /// all these labels: `K` or `K=V`). Returns their names.
    pub fn network_prune(&self, labels: &[String]) -> Result<Vec<String>> {
        let mut out = Vec::new();
        for rec in self.networks()? {
            if !labels.iter().all(|l| label_matches(&rec.config.labels, l)) {
                continue;
            }
            if self.network_members(&rec.name)?.is_empty() {
                usernet::remove(&rec.host_def())?;
                self.db()?.delete_network(&rec.id)?;
                self.emit_network(&rec, "destroy", None);
                out.push(rec.name);
            }
        }
        Ok(out)
    }

    /// docker's `network inspect` JSON of user network `rec`, with the running containers on it.
    pub fn network_json(&self, rec: &NetworkRecord) -> Result<Value> {
        let mut containers = serde_json::Map::new();
        for c in self.network_members(&rec.name)? {
            let st = crate::network::state(self, &c.id).unwrap_or_default();
            if let Some(ep) = st.endpoints.iter().find(|e| e.network_id == rec.id) {
                containers.insert(
                    c.id.clone(),
                    json!({
                        "Name": c.name,
                        "EndpointID": ep.veth,
                        "MacAddress": ep.mac,
                        "IPv4Address": format!("{}/{}", ep.ip, ep.prefix),
                        "IPv6Address": "",
                    }),
                );
            }
        }
        let c = &rec.config;
        Ok(json!({
            "Name": rec.name,
            "Id": rec.id,
            "Created": rec.created,
            "Scope": "local",
            "Driver": c.driver,
            "EnableIPv4": true,
            "EnableIPv6": false,
            "IPAM": {"Driver": "default", "Options": {}, "Config": [{
                "Subnet": format!("{}/{}", c.subnet.unwrap_or(Ipv4Addr::UNSPECIFIED), c.prefix),
                "Gateway": c.gateway.map(|g| g.to_string()).unwrap_or_default(),
            }]},
            "Internal": c.internal,
            "Attachable": false,
            "Ingress": false,
            "ConfigFrom": {"Network": ""},
            "ConfigOnly": false,
            "Containers": containers,
            "Options": c.options,
            "Labels": c.labels,
        }))
    }

    /// `network connect [--alias A] [--ip IP] NET CTR`: records the membership in the container's config and, if
    /// it runs, attaches it now (a further interface, `eth1`…; a VM container gets it as a further NIC at its next
    /// start). A container off its last network (after `disconnect`) takes it as its primary network. Waits for a
    /// `start` under way. Errors: no such network or container, a predefined network, already connected (docker's
    /// message), `--network none`, host or container mode, a bad or taken `--ip`, a VM container that runs, is
    /// paused or is being started ([`crate::vm::refuse_running_nic_change`]), more NICs than a VM has devices for
    /// ([`crate::vm::check_devices`]).
    pub fn network_connect(
        &self,
        net: &str,
        ctr: &str,
        aliases: &[String],
        ip: Option<Ipv4Addr>,
    ) -> Result<()> {
        if PREDEFINED.iter().any(|(n, _)| *n == net) {
            return Err(Error::NetworkRefused(format!(
                "holm connects containers to user networks only ({net} is predefined)"
            )));
        }
        let rec = self.network_find(net)?;
        // Serialised with `start` (and other connects and disconnects): a start under way is seen as live.
        let _lock = lock_nics(self, &self.find(ctr)?.id)?;
        let c = self.find(ctr)?;
        let mut cfg = c.config.clone();
        if attachments(&cfg).iter().any(|a| a.network == rec.name) {
            return Err(Error::NetworkRefused(format!(
                "endpoint with name {} already exists in network {}",
                c.name, rec.name
            )));
        }
        let detached = cfg.network_detached && cfg.network == "none";
        if holm_network::Mode::parse(&cfg.network).ok() == Some(holm_network::Mode::None)
            && !detached
        {
            return Err(Error::NetworkRefused(
                "container cannot be connected to multiple networks with one of the networks in private (none) mode"
                    .into(),
            ));
        }
        if matches!(
            holm_network::Mode::parse(&cfg.network),
            Ok(holm_network::Mode::Host | holm_network::Mode::Container)
        ) {
            return Err(Error::NetworkRefused(format!(
                "container sharing network namespace with another container or host cannot be connected to any other network ({})",
                c.name
            )));
        }
        if let Some(ip) = ip {
            if !rec.host_def().contains(ip) {
                return Err(Error::flag(
                    "--ip",
                    &ip.to_string(),
                    format!("not in the subnet of network {}", rec.name),
                ));
            }
        }
        let att = Attachment {
            network: rec.name.clone(),
            aliases: aliases.to_vec(),
            ip,
        };
        if c.config.is_vm() && self.vm_live(&c.id)? {
            return Err(crate::vm::refuse_running_nic_change(
                "connect", &rec.name, &c.name,
            ));
        }
        if self.is_live(&c.id)? {
            crate::netuser::connect_live(self, &c, &rec, &att)?;
        }
        if detached {
            // The container's networks were all disconnected: this one becomes its primary network.
            cfg.network = att.network;
            cfg.network_aliases = att.aliases;
            cfg.network_ip = att.ip;
            cfg.network_detached = false;
        } else {
            cfg.connected.push(att);
        }
        if cfg.is_vm() {
            let path = self.bundle(&c.id).join("config.json");
            let spec = oci_spec::runtime::Spec::load(&path).map_err(|e| {
                Error::io(format!("read {}", path.display()))(std::io::Error::other(e))
            })?;
            crate::vm::check_devices(&cfg, &spec, &self.bundle(&c.id))?;
        }
        self.db()?.set_config(&c.id, &cfg)?;
        self.emit_network(&rec, "connect", Some(&c.id));
        Ok(())
    }

    /// `network disconnect [-f] NET CTR`: removes the membership (and, if the container runs, its interface on
    /// that network). The container stays on its other networks (the first connected one becomes its primary); off
    /// its last one it has none until a `network connect`. With `-f`, a network that no longer exists (`network
    /// rm` while a created container was on it) is removed from the container's config by name. Errors: a
    /// predefined network (`bridge`, `host`, `none`: as `connect`, holm does not detach those), no such network or
    /// container, the container is not on it, a VM container that runs, is paused or is being started
    /// ([`crate::vm::refuse_running_nic_change`]).
    pub fn network_disconnect(&self, net: &str, ctr: &str, force: bool) -> Result<()> {
        // `bridge`, `host` and `none` are not records: the same refusal as `connect`'s (was: "network bridge not
        // found", although `network ls` shows it).
        if PREDEFINED.iter().any(|(n, _)| *n == net) {
            self.find(ctr)?;
            return Err(Error::NetworkRefused(format!(
                "holm disconnects containers from user networks only ({net} is predefined)"
            )));
        }
        let rec = match self.network_find(net) {
            Ok(r) => Some(r),
            Err(e) if !force => return Err(e),
            Err(_) => None,
        };
        let name = rec.as_ref().map_or(net, |r| r.name.as_str()).to_string();
        let _lock = lock_nics(self, &self.find(ctr)?.id)?;
        let c = self.find(ctr)?;
        let mut cfg = c.config.clone();
        if !attachments(&cfg).iter().any(|a| a.network == name) {
            if force {
                return Ok(());
            }
            return Err(Error::NetworkRefused(format!(
                "container {} is not connected to network {name}",
                c.id
            )));
        }
        if c.config.is_vm() && self.vm_live(&c.id)? {
            return Err(crate::vm::refuse_running_nic_change(
                "disconnect",
                &name,
                &c.name,
            ));
        }
        if let Some(rec) = &rec {
            crate::netuser::disconnect_live(self, &c.id, &rec.id)?;
        }
        leave(&mut cfg, &name);
        self.db()?.set_config(&c.id, &cfg)?;
        if let Some(rec) = &rec {
            self.emit_network(rec, "disconnect", Some(&c.id));
        }
        Ok(())
    }

    /// Whether container `id` runs or is paused (its network namespace exists).
    fn is_live(&self, id: &str) -> Result<bool> {
        Ok(self
            .list()?
            .into_iter()
            .any(|(r, st)| r.id == id && matches!(st, Status::Running | Status::Paused)))
    }

    /// Whether VM container `id`'s NICs are fixed: it runs or is paused, or a monitor runs for it (a `start` under
    /// way, booting the VM with the NICs of the config it read, or a restart policy's backoff).
    fn vm_live(&self, id: &str) -> Result<bool> {
        Ok(self.monitor_alive(id) || self.is_live(id)?)
    }

    /// Appends a network event (docker's: `Actor.ID` the network id; `name`, `type` and, for `connect` and
    /// `disconnect`, `container`).
    pub fn emit_network(&self, rec: &NetworkRecord, action: &str, container: Option<&str>) {
        let driver = if rec.config.driver.is_empty() {
            "bridge".to_string()
        } else {
            rec.config.driver.clone()
        };
        let mut attrs = vec![("name", rec.name.clone()), ("type", driver)];
        attrs.extend(container.map(|c| ("container", c.to_string())));
        self.emit(&crate::events::Event::of(
            "network", action, &rec.id, &attrs,
        ));
    }

    /// docker's `network connect` (at a start) or `disconnect` (at the end) events of container `rec` on each
    /// user network it is on.
    pub fn emit_network_membership(&self, cfg: &RunConfig, id: &str, action: &str) {
        for a in attachments(cfg) {
            if let Ok(n) = self.network_find(&a.network) {
                self.emit_network(&n, action, Some(id));
            }
        }
    }
}

/// Removes user network `name` from `cfg`: as docker, the container stays on its other networks (the first
/// connected one becomes the primary, `eth0` at the next start); off its last one it is left `none`, marked
/// [`RunConfig::network_detached`] so that a later `network connect` works.
fn leave(cfg: &mut RunConfig, name: &str) {
    cfg.connected.retain(|a| a.network != name);
    if cfg.network != name {
        return;
    }
    if cfg.connected.is_empty() {
        cfg.network = "none".into();
        cfg.network_aliases.clear();
        cfg.network_ip = None;
        cfg.network_detached = true;
    } else {
        let next = cfg.connected.remove(0);
        cfg.network = next.network;
        cfg.network_aliases = next.aliases;
        cfg.network_ip = next.ip;
    }
}

/// The bundle's `nics.lock` of container `id`, locked exclusively (blocking; released when the file is dropped).
/// `network connect`/`disconnect` hold it while they check whether the container is live and change its config;
/// `start` holds it while it takes the monitor lock, so a start is either seen (the monitor lock is held) or
/// reads the changed config. Errors: opening or locking the file.
pub(crate) fn lock_nics(engine: &Engine, id: &str) -> Result<std::fs::File> {
    crate::network::lock_file(&engine.bundle(id).join("nics.lock"))
}

/// Whether `labels` has the label filter `f` (`K` or `K=V`).
pub fn label_matches(labels: &BTreeMap<String, String>, f: &str) -> bool {
    match f.split_once('=') {
        Some((k, v)) => labels.get(k).is_some_and(|x| x == v),
        None => labels.contains_key(f),
    }
}
