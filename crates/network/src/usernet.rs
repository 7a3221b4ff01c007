//! User-defined networks (`holm network create`), host side: each network has its own bridge (`holm-` + 10 hex
//! digits of its id), its own subnet and one nftables table `ip holm-net-<10 hex>`, and a directory
//! `/run/holm-network/nets/<id>/` holding its definition (`net.json`), its address leases and its DNS name table
//! (see [`crate::dns`]).
//!
//! Subnets: a `--subnet` as given, else the first free `/24` of holm's pool [`POOL`] (`10.78.0.0/16`, apart from
//! the default bridge's `10.77.0.0/16` and from podman's and docker's pools). A subnet is free when it overlaps no
//! other holm network on the host (whatever its `--root`: the directories above, read under the host-wide lock
//! `/run/holm-network/nets.lock`) and no route of the host (`/proc/net/route`, the default route aside), as docker
//! checks.
//!
//! The nftables table (one `nft -f` transaction, replaced whole, deleted whole by [`remove`]):
//! - `forward` (filter): traffic between this bridge and any other holm bridge (`holm*`: the default `holm0` and
//!   every user network) is dropped both ways (docker's DOCKER-ISOLATION stages); on an `--internal` network all
//!   traffic between the bridge and any other interface is dropped (no way out, as docker's internal networks).
//! - `postrouting` (nat): masquerade of the subnet leaving through another interface but `lo` (not on `--internal`;
//!   the host's own traffic from the gateway address to itself keeps its source, so the name server sees it), and
//!   the loopback / hairpin rules of the default network for published ports.

use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::fs::File;
use std::io::Write;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

/// holm's pool for user networks' subnets: `/24`s of `10.78.0.0/16`.
pub const POOL: (Ipv4Addr, u8) = (Ipv4Addr::new(10, 78, 0, 0), 16);

/// What the host side knows of a user network (`<dir>/net.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NetDef {
    /// 64 hex digits.
    pub id: String,
    /// Its name (unique per engine root).
    pub name: String,
    /// The Linux bridge.
    pub bridge: String,
    /// The subnet's address.
    pub subnet: Ipv4Addr,
    /// The subnet's prefix length.
    pub prefix: u8,
    /// The gateway, the bridge's address (and the DNS server's).
    pub gateway: Ipv4Addr,
    /// `--internal`: no NAT, no route out.
    pub internal: bool,
}

impl NetDef {
    /// `a.b.c.d/len`.
    pub fn subnet_text(&self) -> String {
        format!("{}/{}", self.subnet, self.prefix)
    }

    /// The network's host-wide directory.
    pub fn dir(&self) -> PathBuf {
        dir_of(&self.id)
    }

    /// Its address leases.
    pub fn ipam(&self) -> crate::ipam::Ipam {
        crate::ipam::Ipam::for_subnet(&self.dir(), (self.subnet, self.prefix), self.gateway)
    }

    /// Whether `ip` is in the subnet.
    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        contains((self.subnet, self.prefix), ip)
    }
}

/// docker's rule for network names: `[a-zA-Z0-9][a-zA-Z0-9_.-]*`.
pub fn valid_name(n: &str) -> bool {
    let mut c = n.chars();
    c.next().is_some_and(|f| f.is_ascii_alphanumeric())
        && c.all(|x| x.is_ascii_alphanumeric() || "_.-".contains(x))
}

/// The bridge of network `id`.
pub fn bridge_name(id: &str) -> String {
    format!("holm-{}", &id[..id.len().min(10)])
}

/// The nftables table of network `id`.
pub fn table_name(id: &str) -> String {
    format!("holm-net-{}", &id[..id.len().min(10)])
}

/// The host-wide directory of network `id`.
pub fn dir_of(id: &str) -> PathBuf {
    Path::new(crate::STATE_DIR).join("nets").join(id)
}

fn mask(len: u8) -> u32 {
    if len == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(len))
    }
}

fn contains((net, len): (Ipv4Addr, u8), ip: Ipv4Addr) -> bool {
    u32::from(ip) & mask(len) == u32::from(net) & mask(len)
}

/// Whether two subnets overlap.
pub fn overlaps(a: (Ipv4Addr, u8), b: (Ipv4Addr, u8)) -> bool {
    let len = a.1.min(b.1);
    u32::from(a.0) & mask(len) == u32::from(b.0) & mask(len)
}

/// Parses `--subnet a.b.c.d/len` (IPv4, 8 ≤ len ≤ 30); the address is masked to the network's.
pub fn parse_subnet(s: &str) -> Result<(Ipv4Addr, u8)> {
    let bad = |why: &str| Error::BadFlag {
        flag: "--subnet",
        value: s.to_string(),
        why: why.to_string(),
    };
    let (a, l) = s
        .split_once('/')
        .ok_or_else(|| bad("expected an IPv4 CIDR (10.1.2.0/24)"))?;
    let ip: Ipv4Addr = a.parse().map_err(|_| bad("not an IPv4 address"))?;
    let len: u8 = l.parse().map_err(|_| bad("bad prefix length"))?;
    if !(8..=30).contains(&len) {
        return Err(bad("the prefix length must be between 8 and 30"));
    }
    Ok((Ipv4Addr::from(u32::from(ip) & mask(len)), len))
}

/// The host's routes (destination, prefix length), the default route aside.
fn host_routes() -> Vec<(Ipv4Addr, u8)> {
    let text = std::fs::read_to_string("/proc/net/route").unwrap_or_default();
    text.lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let dest = u32::from_str_radix(f.get(1)?, 16).ok()?;
            let m = u32::from_str_radix(f.get(7)?, 16).ok()?;
            // Little-endian words of network-order bytes.
            let (dest, m) = (u32::from_be(dest), u32::from_be(m));
            (m != 0).then(|| (Ipv4Addr::from(dest), m.count_ones() as u8))
        })
        .collect()
}

/// Every user network defined on the host (any root).
pub fn all() -> Vec<NetDef> {
    let Ok(rd) = std::fs::read_dir(Path::new(crate::STATE_DIR).join("nets")) else {
        return Vec::new();
    };
    rd.flatten()
        .filter_map(|e| load(&e.file_name().to_string_lossy()).ok())
        .collect()
}

/// Network `id`'s definition.
pub fn load(id: &str) -> Result<NetDef> {
    let p = dir_of(id).join("net.json");
    let b = std::fs::read(&p).map_err(Error::io(format!("read {}", p.display())))?;
    serde_json::from_slice(&b).map_err(|e| Error::Io {
        what: format!("parse {}", p.display()),
        source: std::io::Error::other(e),
    })
}

/// Takes the host-wide lock of network definitions (released when dropped).
fn lock() -> Result<File> {
    let dir = Path::new(crate::STATE_DIR);
    std::fs::create_dir_all(dir.join("nets"))
        .map_err(Error::io(format!("create {}/nets", dir.display())))?;
    let p = dir.join("nets.lock");
    let f = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&p)
        .map_err(Error::io(format!("open {}", p.display())))?;
    f.lock()
        .map_err(Error::io(format!("lock {}", p.display())))?;
    Ok(f)
}

/// What `network create` asks for.
#[derive(Debug, Clone, Default)]
pub struct CreateRequest {
    /// The new network's id (64 hex digits).
    pub id: String,
    /// Its name.
    pub name: String,
    /// `--subnet`.
    pub subnet: Option<(Ipv4Addr, u8)>,
    /// `--gateway`.
    pub gateway: Option<Ipv4Addr>,
    /// `--internal`.
    pub internal: bool,
}

/// Makes a user network on the host: chooses its subnet (see the module doc), writes its definition, makes its
/// bridge (up, with the gateway address) and its nftables table. On failure nothing is left.
///
/// Errors: [`Error::SubnetOverlap`], [`Error::NoSubnet`], [`Error::BadFlag`] (a gateway outside the subnet),
/// netlink and nftables failures.
pub fn create(req: &CreateRequest) -> Result<NetDef> {
    let _lock = lock()?;
    let taken: Vec<(Ipv4Addr, u8)> = all()
        .iter()
        .map(|d| (d.subnet, d.prefix))
        .chain(host_routes())
        .collect();
    let subnet = match req.subnet {
        Some(s) => {
            if let Some(o) = taken.iter().find(|t| overlaps(s, **t)) {
                return Err(Error::SubnetOverlap(format!(
                    "{}/{} and {}/{}",
                    s.0, s.1, o.0, o.1
                )));
            }
            s
        }
        None => {
            let base = u32::from(POOL.0);
            (0..(1u32 << (24 - POOL.1)))
                .map(|i| (Ipv4Addr::from(base + (i << 8)), 24u8))
                .find(|s| !taken.iter().any(|t| overlaps(*s, *t)))
                .ok_or(Error::NoSubnet)?
        }
    };
    let gateway = match req.gateway {
        Some(g) => {
            let size = 1u32 << (32 - subnet.1);
            let off = u32::from(g).wrapping_sub(u32::from(subnet.0));
            if !contains(subnet, g) || off == 0 || off == size - 1 {
                return Err(Error::BadFlag {
                    flag: "--gateway",
                    value: g.to_string(),
                    why: format!("not a host address of the subnet {}/{}", subnet.0, subnet.1),
                });
            }
            g
        }
        None => Ipv4Addr::from(u32::from(subnet.0) + 1),
    };
    let def = NetDef {
        id: req.id.clone(),
        name: req.name.clone(),
        bridge: bridge_name(&req.id),
        subnet: subnet.0,
        prefix: subnet.1,
        gateway,
        internal: req.internal,
    };
    let dir = def.dir();
    let r = (|| {
        std::fs::create_dir_all(&dir).map_err(Error::io(format!("create {}", dir.display())))?;
        let p = dir.join("net.json");
        let tmp = dir.join(".net.json.tmp");
        File::create(&tmp)
            .and_then(|mut f| f.write_all(&serde_json::to_vec(&def).expect("serialises")))
            .and_then(|_| std::fs::rename(&tmp, &p))
            .map_err(Error::io(format!("write {}", p.display())))?;
        crate::link::ensure_bridge_up(&def.bridge, def.gateway, def.prefix)?;
        write_rules(&def)
    })();
    if let Err(e) = r {
        let _ = remove_host(&def);
        return Err(e);
    }
    Ok(def)
}

/// Makes sure network `def`'s bridge and rules exist (each container start: after a reboot or `nft flush
/// ruleset` they are gone).
pub fn ensure(def: &NetDef) -> Result<()> {
    let bridge_there = Path::new("/sys/class/net").join(&def.bridge).exists();
    if !bridge_there {
        crate::link::ensure_bridge_up(&def.bridge, def.gateway, def.prefix)?;
    }
    // Checked over netlink: a start runs `nft` only when the table is gone (a flush, a reboot).
    if !bridge_there || !crate::natbase::table_exists(&table_name(&def.id)) {
        write_rules(def)?;
    }
    Ok(())
}

/// The `nft -f` text of network `def`'s table (see the module doc).
pub fn rules_text(def: &NetDef) -> String {
    let (t, br, net) = (table_name(&def.id), &def.bridge, def.subnet_text());
    let mut fwd = format!(
        "    iifname \"{br}\" oifname != \"{br}\" oifname \"holm*\" drop comment \"holm: isolation\"\n\
         \x20   oifname \"{br}\" iifname != \"{br}\" iifname \"holm*\" drop comment \"holm: isolation\"\n"
    );
    let mut post = String::new();
    if def.internal {
        fwd.push_str(&format!(
            "    iifname \"{br}\" oifname != \"{br}\" drop comment \"holm: internal\"\n\
             \x20   oifname \"{br}\" iifname != \"{br}\" drop comment \"holm: internal\"\n"
        ));
    } else {
        post.push_str(&format!(
            "    ip saddr {net} oifname != \"{br}\" oifname != \"lo\" masquerade comment \"holm: egress\"\n"
        ));
    }
    post.push_str(&format!(
        "    oifname \"{br}\" ip saddr 127.0.0.0/8 masquerade comment \"holm: host loopback to published ports\"\n\
         \x20   oifname \"{br}\" ip saddr {net} ct status dnat masquerade comment \"holm: hairpin\"\n"
    ));
    format!(
        "add table ip {t}\ndelete table ip {t}\ntable ip {t} {{\n\
         \x20 chain forward {{\n    type filter hook forward priority 0; policy accept;\n{fwd}  }}\n\
         \x20 chain postrouting {{\n    type nat hook postrouting priority 100; policy accept;\n{post}  }}\n}}\n"
    )
}

fn nft(text: &str, what: &str) -> Result<()> {
    use std::process::{Command, Stdio};
    let child = Command::new("nft")
        .args(["-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(Error::Nft {
                what: what.to_string(),
                msg: crate::nat::NFT_MISSING.to_string(),
            })
        }
        Err(e) => return Err(Error::io(format!("{what}: run nft"))(e)),
    };
    if let Some(mut i) = child.stdin.take() {
        i.write_all(text.as_bytes())
            .map_err(Error::io(format!("{what}: write to nft")))?;
    }
    let out = child
        .wait_with_output()
        .map_err(Error::io(format!("{what}: wait for nft")))?;
    if out.status.success() {
        return Ok(());
    }
    let err = String::from_utf8_lossy(&out.stderr);
    Err(Error::Nft {
        what: what.to_string(),
        msg: err.lines().next().unwrap_or("failed").to_string(),
    })
}

fn write_rules(def: &NetDef) -> Result<()> {
    write_sysctl_forward(&def.bridge);
    nft(
        &rules_text(def),
        &format!("write table ip {}", table_name(&def.id)),
    )
}

/// `route_localnet` on the bridge (published ports reached on 127.0.0.1), as on `holm0`; failing is harmless.
fn write_sysctl_forward(bridge: &str) {
    let _ = std::fs::write(
        format!("/proc/sys/net/ipv4/conf/{bridge}/route_localnet"),
        "1",
    );
}

/// Removes network `def` from the host: its name server, nftables table, bridge and directory (each "already
/// gone" is fine).
pub fn remove(def: &NetDef) -> Result<()> {
    let _lock = lock()?;
    remove_host(def)
}

fn remove_host(def: &NetDef) -> Result<()> {
    crate::dnsproc::stop(def);
    let t = table_name(&def.id);
    let r1 = nft(
        &format!("add table ip {t}\ndelete table ip {t}\n"),
        &format!("delete table ip {t}"),
    );
    let r2 = crate::link::delete_link(&def.bridge);
    let dir = def.dir();
    let r3 = match std::fs::remove_dir_all(&dir) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(Error::io(format!("remove {}", dir.display()))(e))
        }
        _ => Ok(()),
    };
    r1.and(r2).and(r3)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_subnets() {
        assert!(valid_name("my-net_1.x"));
        assert!(!valid_name("-x"));
        assert!(!valid_name("a b"));
        assert!(!valid_name(""));
        assert_eq!(
            parse_subnet("10.1.2.3/24").unwrap(),
            (Ipv4Addr::new(10, 1, 2, 0), 24)
        );
        assert!(parse_subnet("10.1.2.0").is_err());
        assert!(parse_subnet("10.1.2.0/31").is_err());
        let a = (Ipv4Addr::new(10, 78, 0, 0), 16);
        assert!(overlaps(a, (Ipv4Addr::new(10, 78, 5, 0), 24)));
        assert!(!overlaps(a, (Ipv4Addr::new(10, 77, 5, 0), 24)));
        assert_eq!(bridge_name("0123456789abcdef"), "holm-0123456789");
    }

    #[test]
    fn rules() {
        let d = NetDef {
            id: "0123456789abcdef".into(),
            name: "n".into(),
            bridge: "holm-0123456789".into(),
            subnet: Ipv4Addr::new(10, 78, 3, 0),
            prefix: 24,
            gateway: Ipv4Addr::new(10, 78, 3, 1),
            internal: true,
        };
        let t = rules_text(&d);
        assert!(t.contains("table ip holm-net-0123456789 {"), "{t}");
        assert!(t.contains("comment \"holm: internal\""), "{t}");
        assert!(!t.contains("egress"), "{t}");
        let t = rules_text(&NetDef {
            internal: false,
            ..d
        });
        assert!(t.contains(
            "ip saddr 10.78.3.0/24 oifname != \"holm-0123456789\" oifname != \"lo\" masquerade"
        ));
    }
}
