//! The engine's side of networking (holm-network does the work):
//!
//! - at `create`, [`prepare`]: the container's `/etc/hostname`, `/etc/hosts` and `/etc/resolv.conf` are files in
//!   its bundle, bind-mounted over the image's (as docker does); `--network host` drops the network namespace
//!   from the spec; `-p`/`-P` are checked.
//! - between the runtime's `create` and `start` (in the monitor, each run, restarts included), [`setup`]: an
//!   address leased, the published host ports bound (held by the monitor while the container runs), the veth
//!   pair on the `holm0` bridge with the container's `eth0`, the DNAT rules, `/etc/hosts` rewritten with the
//!   address, and the state (address, MAC, ports) in `/run/holm-network/containers/<id>.json` for `inspect`,
//!   `port` and teardown.
//! - whenever the container's processes are gone ([`crate::ops::release_runtime`]: its monitor's end, `rm -f`,
//!   the crash recovery of `ps`/`rm`/`prune`), [`teardown`]: rules, veth, lease and state removed. Each step
//!   finds "already gone" fine. The state file is written before anything is set up, so a crash half-way still
//!   leaves what teardown needs to find.

use crate::config::RunConfig;
use crate::{Engine, Error, Result};
use holm_network::ports::PortBinding;
use holm_network::{files, ipam::Ipam, link, nat, natbase, Mode};
use oci_spec::runtime::{LinuxNamespaceType, Mount, Spec};
use serde::{Deserialize, Serialize};
use std::net::Ipv4Addr;
use std::os::fd::OwnedFd;
use std::path::PathBuf;

/// A running container's network, as [`setup`] made it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NetState {
    /// Its address on the bridge network (`None` for `none`/`host`).
    pub ip: Option<Ipv4Addr>,
    /// Its `eth0`'s MAC address.
    pub mac: String,
    /// Its published ports, with the host ports chosen.
    pub ports: Vec<PortBinding>,
    /// Its endpoints on user networks ([`crate::netuser`]), in interface order.
    #[serde(default)]
    pub endpoints: Vec<EpState>,
}

/// A running container's endpoint on a user network.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpState {
    /// The network's id.
    pub network_id: String,
    /// The network's name.
    pub network: String,
    /// Its bridge.
    pub bridge: String,
    /// The container's interface (`eth0`, `eth1`…).
    pub ifname: String,
    /// The host end of the veth pair.
    pub veth: String,
    /// The container's address there.
    pub ip: Ipv4Addr,
    /// The subnet's prefix length.
    pub prefix: u8,
    /// The network's gateway.
    pub gateway: Ipv4Addr,
    /// The interface's MAC address.
    pub mac: String,
    /// Its network aliases.
    pub aliases: Vec<String>,
}

/// The network mode of a container's config.
pub fn mode(cfg: &RunConfig) -> Result<Mode> {
    Ok(Mode::parse(&cfg.network)?)
}

/// docker's `HostConfig.NetworkMode`: `bridge`, `none`, `host` or `container:ID`.
pub fn mode_text(cfg: &RunConfig) -> String {
    match mode(cfg) {
        Ok(Mode::Container | Mode::User) => cfg.network.clone(),
        Ok(m) => m.as_str().to_string(),
        Err(_) => "bridge".to_string(),
    }
}

/// `--network container:X`: the X given (after create: the other container's id).
fn joined(cfg: &RunConfig) -> Option<&str> {
    cfg.network.strip_prefix("container:")
}

/// For `--network container:X`, points the spec's network namespace at X's init (`/proc/PID/ns/net`, read
/// again before each start: X's pid changes when it restarts) and returns X's record. Errors: X missing, or
/// not running (docker's message).
fn join_target(
    engine: &Engine,
    cfg: &RunConfig,
    spec: &mut Spec,
) -> Result<crate::ContainerRecord> {
    let name = joined(cfg).unwrap_or_default();
    let target = engine.find(name)?;
    if target.config.is_vm() {
        return Err(Error::flag(
            "--network",
            &cfg.network,
            format!("{name} runs in a VM (--isolation vm): its network namespace cannot be joined"),
        ));
    }
    if target.state != crate::State::Running || target.pid <= 0 {
        return Err(Error::BadState {
            id: target.id,
            state: "not running".into(),
            msg: format!("cannot join network of a non running container: {name}"),
        });
    }
    join_netns(spec, format!("/proc/{}/ns/net", target.pid).into());
    Ok(target)
}

/// Makes the spec's network namespace entry (`linux.namespaces[type=network]`) join the namespace at `path`
/// (runtime-spec `path`: an nsfs file such as `/proc/PID/ns/net` or a bind mount of one). A spec without that
/// entry is left as it is.
pub(crate) fn join_netns(spec: &mut Spec, path: PathBuf) {
    if let Some(ns) = spec
        .linux_mut()
        .as_mut()
        .and_then(|l| l.namespaces_mut().as_mut())
    {
        for n in ns.iter_mut() {
            if n.typ() == LinuxNamespaceType::Network {
                n.set_path(Some(path.clone()));
            }
        }
    }
}

/// Before the runtime's `create` (each start): for `--network container:X`, rewrites the bundle's `config.json`
/// to join X's current network namespace. Other modes: nothing.
pub fn before_create(engine: &Engine, id: &str, cfg: &RunConfig) -> Result<()> {
    if joined(cfg).is_none() {
        return Ok(());
    }
    let path = engine.bundle(id).join("config.json");
    let mut spec = Spec::load(&path).map_err(|e| Error::Io {
        what: format!("read {}", path.display()),
        source: std::io::Error::other(e),
    })?;
    join_target(engine, cfg, &mut spec)?;
    let tmp = engine.bundle(id).join(".config.json.tmp");
    let bytes = serde_json::to_vec_pretty(&spec).expect("spec serialises");
    std::fs::write(&tmp, bytes)
        .and_then(|_| std::fs::rename(&tmp, &path))
        .map_err(Error::io(format!("write {}", path.display())))
}

/// Every port binding `cfg` asks for (`-p` values, in order). Errors name the bad value.
pub fn requested_ports(cfg: &RunConfig) -> Result<Vec<PortBinding>> {
    let mut out = Vec::new();
    for p in &cfg.publish {
        out.extend(holm_network::ports::parse_publish(p)?);
    }
    Ok(out)
}

/// Host-wide, next to the leases (not under `--runroot`): a wiped runroot must not hide the veth, rules and lease
/// of a container whose kernel state is still there.
fn state_path(_engine: &Engine, id: &str) -> PathBuf {
    std::path::Path::new(holm_network::STATE_DIR)
        .join("containers")
        .join(format!("{id}.json"))
}

/// The network state of a running container (`None` if it has none: stopped, or `--network none`/`host`).
pub fn state(engine: &Engine, id: &str) -> Option<NetState> {
    let b = std::fs::read(state_path(engine, id)).ok()?;
    serde_json::from_slice(&b).ok()
}

/// Whether container `id` may still hold network resources: it has a state file or its veth exists.
pub(crate) fn is_live(engine: &Engine, id: &str) -> bool {
    state_path(engine, id).exists()
        || std::path::Path::new("/sys/class/net")
            .join(holm_network::host_veth(id))
            .exists()
}

pub(crate) fn write_state(engine: &Engine, id: &str, st: &NetState) -> Result<()> {
    let p = state_path(engine, id);
    let dir = p.parent().expect("state path has a parent");
    std::fs::create_dir_all(dir).map_err(Error::io(format!("create {}", dir.display())))?;
    let tmp = dir.join(format!(".{id}.json.tmp"));
    std::fs::write(&tmp, serde_json::to_vec(st).expect("state serialises"))
        .and_then(|_| std::fs::rename(&tmp, &p))
        .map_err(Error::io(format!("write {}", p.display())))
}

/// Checks `--network`, `-p`, `--dns` and `--add-host` at create, adds `-P`'s ports (the image's exposed ones),
/// writes the bundle's `hostname`, `hosts` and `resolv.conf`, bind-mounts them in `spec`, and for
/// `--network host` removes the network namespace from it.
pub fn prepare(
    engine: &Engine,
    id: &str,
    image: &oci_spec::image::ImageConfiguration,
    cfg: &mut RunConfig,
    spec: &mut Spec,
) -> Result<()> {
    let mode = mode(cfg)?;
    let user_net = match mode {
        Mode::User => Some(engine.network_find(&cfg.network)?),
        _ => None,
    };
    if let Some(n) = &user_net {
        // The name as recorded (an id or id prefix given becomes the name, as docker's NetworkMode).
        cfg.network = n.name.clone();
    }
    // The further networks (the API's EndpointsConfig): each must exist now, as docker's 404 at create.
    for att in &mut cfg.connected {
        att.network = engine.network_find(&att.network)?.name;
    }
    if user_net.is_none() && !cfg.network_aliases.is_empty() {
        return Err(Error::flag(
            "--network-alias",
            &cfg.network_aliases.join(","),
            "network-scoped alias is supported only for containers in user defined networks",
        ));
    }
    if !matches!(mode, Mode::Bridge | Mode::User) && (!cfg.publish.is_empty() || cfg.publish_all) {
        // docker ignores -p with --network host (with a warning) and none; holm says so instead.
        return Err(Error::flag(
            "--publish",
            &cfg.publish.join(","),
            format!(
                "published ports need the bridge network (this container has --network {})",
                mode.as_str()
            ),
        ));
    }
    if cfg.publish_all {
        let exposed = image
            .config()
            .as_ref()
            .and_then(|c| c.exposed_ports().clone())
            .unwrap_or_default();
        for e in exposed {
            let e = if e.contains('/') {
                e
            } else {
                format!("{e}/tcp")
            };
            if !cfg.publish.contains(&e) {
                cfg.publish.push(e);
            }
        }
    }
    requested_ports(cfg)?;
    for d in &cfg.dns {
        files::parse_dns(d)?;
    }
    let extra = add_hosts(cfg)?;
    let bundle = engine.bundle(id);
    if mode == Mode::Container {
        // docker's rule: the namespace's owner decides these.
        for (flag, set) in [
            ("--hostname", cfg.hostname.is_some()),
            ("--dns", !cfg.dns.is_empty()),
            ("--add-host", !cfg.add_hosts.is_empty()),
        ] {
            if set {
                return Err(Error::flag(
                    "--network",
                    &cfg.network,
                    format!("conflicting options: {flag} and the network mode"),
                ));
            }
        }
        let target = join_target(engine, cfg, spec)?;
        cfg.network = format!("container:{}", target.id);
        cfg.final_hostname = target.config.final_hostname.clone();
        spec.set_hostname(Some(cfg.final_hostname.clone()));
        let mut mounts = spec.mounts().clone().unwrap_or_default();
        for name in ["resolv.conf", "hostname", "hosts"] {
            let dest = format!("/etc/{name}");
            if mounts
                .iter()
                .any(|m| m.destination().as_path() == std::path::Path::new(&dest))
            {
                continue;
            }
            let mut m = Mount::default();
            m.set_destination(dest.into());
            m.set_typ(Some("bind".into()));
            m.set_source(Some(engine.bundle(&target.id).join(name)));
            m.set_options(Some(vec!["rbind".into(), "rprivate".into()]));
            mounts.push(m);
        }
        spec.set_mounts(Some(mounts));
        return Ok(());
    }
    let host_resolv = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    let write = |name: &str, content: &str| {
        let p = bundle.join(name);
        std::fs::write(&p, content).map_err(Error::io(format!("write {}", p.display())))
    };
    write("hostname", &format!("{}\n", cfg.final_hostname))?;
    let hosts = match mode {
        Mode::Host => std::fs::read_to_string("/etc/hosts").unwrap_or_default(),
        _ => files::hosts(&cfg.final_hostname, None, &extra),
    };
    write("hosts", &hosts)?;
    let resolv = match &user_net {
        // The network's name server on its gateway (podman's way); `--dns` replaces it, as elsewhere.
        Some(n) if cfg.dns.is_empty() => {
            files::resolv_conf(&host_resolv, &[n.host_def().gateway.to_string()], mode)
        }
        _ => files::resolv_conf(&host_resolv, &cfg.dns, mode),
    };
    write("resolv.conf", &resolv)?;
    let mut mounts = spec.mounts().clone().unwrap_or_default();
    for (name, dest) in [
        ("resolv.conf", "/etc/resolv.conf"),
        ("hostname", "/etc/hostname"),
        ("hosts", "/etc/hosts"),
    ] {
        // A -v/--mount on the same path wins, as in docker.
        if mounts
            .iter()
            .any(|m| m.destination().as_path() == std::path::Path::new(dest))
        {
            continue;
        }
        let mut m = Mount::default();
        m.set_destination(dest.into());
        m.set_typ(Some("bind".into()));
        m.set_source(Some(bundle.join(name)));
        m.set_options(Some(vec!["rbind".into(), "rprivate".into()]));
        mounts.push(m);
    }
    spec.set_mounts(Some(mounts));
    if mode == Mode::Host {
        if let Some(linux) = spec.linux_mut() {
            if let Some(ns) = linux.namespaces_mut() {
                ns.retain(|n| n.typ() != LinuxNamespaceType::Network);
            }
        }
    }
    Ok(())
}

fn add_hosts(cfg: &RunConfig) -> Result<Vec<(String, std::net::IpAddr)>> {
    cfg.add_hosts
        .iter()
        .map(|h| files::parse_add_host(h).map_err(Error::from))
        .collect()
}

/// Networks the created container `id` whose init is `pid` (between the runtime's create and start). Returns the
/// sockets holding its published host ports: the caller keeps them open while the container runs. On failure,
/// everything done is undone.
///
/// Errors: [`holm_network::Error::PortAllocated`] (docker's `Bind for 0.0.0.0:8080 failed: port is already
/// allocated`), netlink and nftables failures.
pub fn setup(engine: &Engine, id: &str, pid: i32, cfg: &RunConfig) -> Result<Vec<OwnedFd>> {
    // Whatever a crashed earlier run left.
    teardown(engine, id)?;
    match mode(cfg)? {
        Mode::Host | Mode::Container => return Ok(Vec::new()),
        Mode::None => {
            link::loopback_up(pid)?;
            return Ok(Vec::new());
        }
        Mode::Bridge | Mode::User => {}
    }
    let name = engine.db()?.get(id)?.map(|r| r.name).unwrap_or_default();
    let wanted = requested_ports(cfg)?;
    // Under the host-wide ports lock: the ports of other live containers are read, this one's bound and recorded
    // (the state file below) as one step, so two runs never both take a port whose holder's monitor died.
    let ports_lock = if wanted.is_empty() {
        None
    } else {
        Some(lock_ports()?)
    };
    let others = if wanted.is_empty() {
        Vec::new()
    } else {
        published_elsewhere(engine, id)
    };
    let held = holm_network::ports::reserve_avoiding(&wanted, &others)?;
    let ports: Vec<PortBinding> = held.iter().map(|(b, _)| *b).collect();
    let ipam = Ipam::host();
    let r = (|| {
        // A state file before the lease: while a container is being set up it has one, so the collection of
        // leaked leases (no state file, no veth) never takes its address.
        write_state(
            engine,
            id,
            &NetState {
                ports: ports.clone(),
                ..NetState::default()
            },
        )?;
        drop(ports_lock);
        let mut st = NetState {
            ports,
            ..NetState::default()
        };
        let atts = crate::networks::attachments(cfg);
        let ip = if mode(cfg)? == Mode::User {
            let net = engine.network_find(&atts[0].network)?;
            let ep =
                crate::netuser::attach(engine, id, &name, pid, &net, &atts[0], 0, true, &mut st)?;
            st.ip = Some(ep.ip);
            st.mac = ep.mac;
            ep.ip
        } else {
            let ip = ipam.allocate_with(id, |other| is_live(engine, other))?;
            st.ip = Some(ip);
            st.mac = holm_network::mac_string(holm_network::mac_for(ip));
            write_state(engine, id, &st)?;
            link::attach(id, pid, ip)?;
            ip
        };
        write_state(engine, id, &st)?;
        let hosts = engine.bundle(id).join("hosts");
        std::fs::write(
            &hosts,
            files::hosts(&cfg.final_hostname, Some(ip), &add_hosts(cfg)?),
        )
        .map_err(Error::io(format!("write {}", hosts.display())))?;
        // Networks joined by `network connect`: eth1, eth2, …
        let skip = usize::from(mode(cfg)? == Mode::User);
        for (k, att) in atts.iter().enumerate().skip(skip) {
            let net = engine.network_find(&att.network)?;
            let n = k + 1 - skip;
            crate::netuser::attach(engine, id, &name, pid, &net, att, n, false, &mut st)?;
        }
        // The shared masquerade table is written by the first start after a boot and then only checked over
        // netlink (no `nft` run); the container's DNAT table, if it publishes ports, is one `nft` run. A user
        // network has its own masquerade rules.
        if !st.ports.is_empty() {
            natbase::publish(id, ip, &st.ports)?;
        } else if mode(cfg)? == Mode::Bridge {
            natbase::ensure()?;
        }
        Ok(())
    })();
    match r {
        Ok(()) => Ok(held.into_iter().map(|(_, fd)| fd).collect()),
        Err(e) => {
            let _ = teardown(engine, id);
            let _ = ipam.release(id);
            Err(e)
        }
    }
}

/// Takes the host-wide `flock` on `/run/holm-network/ports.lock` (released when the file is dropped).
fn lock_ports() -> Result<std::fs::File> {
    let dir = std::path::Path::new(holm_network::STATE_DIR);
    std::fs::create_dir_all(dir).map_err(Error::io(format!("create {}", dir.display())))?;
    lock_file(&dir.join("ports.lock"))
}

/// Opens (creating it if missing) the lock file `p` and takes its exclusive `flock`, waiting for it; released when
/// the returned file is dropped. Errors: opening or locking `p`.
pub(crate) fn lock_file(p: &std::path::Path) -> Result<std::fs::File> {
    let f = std::fs::File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(p)
        .map_err(Error::io(format!("open {}", p.display())))?;
    f.lock()
        .map_err(Error::io(format!("lock {}", p.display())))?;
    Ok(f)
}

/// The host ports that containers other than `id` publish and that are still live (their veth exists: the
/// container's network namespace is alive, so its DNAT rules still catch the port even if the monitor that held
/// the port's socket was killed). From the host-wide state files, so every holm (any `--root`) sees them.
fn published_elsewhere(engine: &Engine, id: &str) -> Vec<PortBinding> {
    let dir = std::path::Path::new(holm_network::STATE_DIR).join("containers");
    let Ok(rd) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(other) = name.strip_suffix(".json") else {
            continue;
        };
        if other == id || other.starts_with('.') {
            continue;
        }
        let live = std::path::Path::new("/sys/class/net")
            .join(holm_network::host_veth(other))
            .exists();
        if !live {
            continue;
        }
        if let Some(st) = state(engine, other) {
            out.extend(st.ports);
        }
    }
    out
}

/// Removes container `id`'s DNAT rules, veth pair, address lease and network state; what is already gone is
/// fine.
pub fn teardown(engine: &Engine, id: &str) -> Result<()> {
    let path = state_path(engine, id);
    let st = state(engine, id);
    // Every step is tried even when one fails (the first error is returned); the state file stays until all
    // succeeded, so a later clean-up (`rm -f`) tries the failed ones again.
    let mut first: Option<Error> = None;
    let mut keep = |r: Result<()>| {
        if let Err(e) = r {
            first.get_or_insert(e);
        }
    };
    if st.as_ref().is_some_and(|s| !s.ports.is_empty()) {
        keep(nat::unpublish(id).map_err(Error::from));
    }
    for ep in st
        .as_ref()
        .map(|s| s.endpoints.as_slice())
        .unwrap_or_default()
    {
        keep(crate::netuser::detach(id, ep));
    }
    // Without a state file (a crash between leasing and writing it, or `--network none|host`) a lease may still
    // exist, and a veth is found by its name.
    let veth = std::path::Path::new("/sys/class/net").join(holm_network::host_veth(id));
    if st.as_ref().is_some_and(|s| s.ip.is_some()) || veth.exists() {
        keep(link::detach(id).map_err(Error::from));
    }
    keep(Ipam::host().release(id).map_err(Error::from));
    if let Some(e) = first {
        return Err(e);
    }
    match std::fs::remove_file(&path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io(format!("remove {}", path.display()))(e)),
    }
}

/// docker's `NetworkSettings` for `holm inspect`: address, gateway, MAC and published ports of a running
/// container (empty strings and no ports once it stopped, as docker shows).
pub fn inspect_settings(
    engine: &Engine,
    id: &str,
    cfg: &RunConfig,
    pid: Option<i32>,
) -> serde_json::Value {
    use serde_json::json;
    let mode = mode(cfg).unwrap_or(Mode::Bridge);
    let st = pid.and_then(|_| state(engine, id)).unwrap_or_default();
    let ip = st.ip.map(|i| i.to_string()).unwrap_or_default();
    let primary = st
        .endpoints
        .iter()
        .find(|e| Some(e.ip) == st.ip && mode == Mode::User);
    let (gateway, prefix) = match (st.ip, primary) {
        (Some(_), Some(ep)) => (ep.gateway.to_string(), ep.prefix),
        (Some(_), None) => (holm_network::GATEWAY.to_string(), holm_network::SUBNET.1),
        (None, _) => (String::new(), 0),
    };
    let mut ports = serde_json::Map::new();
    for p in &st.ports {
        let e = ports
            .entry(p.key())
            .or_insert_with(|| serde_json::Value::Array(Vec::new()));
        if let Some(a) = e.as_array_mut() {
            a.push(json!({"HostIp": p.host_ip.to_string(), "HostPort": p.host_port.to_string()}));
        }
    }
    let mut networks = serde_json::Map::new();
    if mode == Mode::Bridge || mode == Mode::None || mode == Mode::Host {
        networks.insert(
            mode.as_str().to_string(),
            json!({
                "IPAMConfig": null,
                "Links": null,
                "Aliases": null,
                "MacAddress": if mode == Mode::Bridge { st.mac.as_str() } else { "" },
                "NetworkID": mode.as_str(),
                "EndpointID": if pid.is_some() { id } else { "" },
                "Gateway": if mode == Mode::Bridge { gateway.as_str() } else { "" },
                "IPAddress": if mode == Mode::Bridge { ip.as_str() } else { "" },
                "IPPrefixLen": if mode == Mode::Bridge { prefix } else { 0 },
            }),
        );
    }
    // User networks: each one the config puts it on, with its endpoint while it runs.
    for att in crate::networks::attachments(cfg) {
        let ep = st.endpoints.iter().find(|e| e.network == att.network);
        let mut aliases = att.aliases.clone();
        if mode != Mode::Container {
            aliases.push(id[..12.min(id.len())].to_string());
        }
        networks.insert(
            att.network.clone(),
            json!({
                "IPAMConfig": att.ip.map(|ip| json!({"IPv4Address": ip.to_string()})),
                "Links": null,
                "Aliases": aliases,
                "MacAddress": ep.map(|e| e.mac.clone()).unwrap_or_default(),
                "NetworkID": ep.map(|e| e.network_id.clone()).unwrap_or_default(),
                "EndpointID": ep.map(|e| e.veth.clone()).unwrap_or_default(),
                "Gateway": ep.map(|e| e.gateway.to_string()).unwrap_or_default(),
                "IPAddress": ep.map(|e| e.ip.to_string()).unwrap_or_default(),
                "IPPrefixLen": ep.map(|e| e.prefix).unwrap_or_default(),
            }),
        );
    }
    json!({
        "Bridge": match (mode, primary) {
            (Mode::Bridge, _) => holm_network::BRIDGE.to_string(),
            (_, Some(ep)) => ep.bridge.clone(),
            _ => String::new(),
        },
        "SandboxID": "",
        "SandboxKey": match pid {
            Some(p) if mode != Mode::Host => format!("/proc/{p}/ns/net"),
            _ => String::new(),
        },
        "Ports": ports,
        "Gateway": gateway,
        "IPAddress": ip,
        "IPPrefixLen": prefix,
        "MacAddress": st.mac,
        // docker shows no network of its own for `container:X`.
        "Networks": networks,
    })
}

/// docker's `HostConfig.PortBindings`: the `-p` values (host address and port empty where not given).
pub fn port_bindings(cfg: &RunConfig) -> serde_json::Value {
    let mut out = serde_json::Map::new();
    for p in requested_ports(cfg).unwrap_or_default() {
        let e = out
            .entry(p.key())
            .or_insert_with(|| serde_json::Value::Array(Vec::new()));
        if let Some(a) = e.as_array_mut() {
            a.push(serde_json::json!({
                "HostIp": if p.host_ip.is_unspecified() { String::new() } else { p.host_ip.to_string() },
                "HostPort": if p.host_port == 0 { String::new() } else { p.host_port.to_string() },
            }));
        }
    }
    serde_json::Value::Object(out)
}

/// `holm ps`'s PORTS text of a running container: docker's `0.0.0.0:8080->80/tcp, …`.
pub fn ports_text(engine: &Engine, id: &str) -> String {
    let mut ports = state(engine, id).map(|s| s.ports).unwrap_or_default();
    ports.sort_by_key(|p| (p.container_port, p.proto, p.host_ip, p.host_port));
    ports
        .iter()
        .map(|p| format!("{}->{}", p.host_addr(), p.key()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Bytes the container received and sent on its `eth0` (read from the host end of its veth pair, whose
/// received bytes are the container's sent ones); `None` without a bridge network.
pub fn net_io(id: &str) -> Option<(u64, u64)> {
    let dir = std::path::Path::new("/sys/class/net")
        .join(holm_network::host_veth(id))
        .join("statistics");
    let read = |f: &str| -> Option<u64> {
        std::fs::read_to_string(dir.join(f))
            .ok()?
            .trim()
            .parse()
            .ok()
    };
    Some((read("tx_bytes")?, read("rx_bytes")?))
}
