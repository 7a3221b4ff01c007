//! `holm-network`: docker-style bridge networking for holm's containers.
//!
//! The default network `bridge` is a Linux bridge [`BRIDGE`] (`holm0`) with the private subnet [`SUBNET`]
//! (`10.77.0.0/16`, gateway `10.77.0.1` on the bridge). The subnet was chosen not to clash with podman's default
//! `10.88.0.0/16`, podman's further networks (`10.89.x` upwards) or docker's `172.17.0.0/16` and its pools in
//! `172.16.0.0/12` and `192.168.0.0/16`. Each container gets one veth pair: the host end (`veth` + 11 hex digits of
//! its id) is a port of the bridge, the peer is created in the container's network namespace as `eth0` with its
//! address, MAC (`02:42:` + the address, as docker's) and a default route via the gateway.
//!
//! Modules, one concern each:
//! - [`ipam`]: address leases of the subnet, host-wide, in a file under `flock` ([`STATE_DIR`]).
//! - [`link`]: the bridge and the veth pairs, through netlink (`rtnetlink`, on a current-thread tokio runtime that
//!   lives only for one call: no thread is left behind, so callers may fork afterwards).
//! - [`nat`]: the firewall through nftables (`nft`): one shared table `ip holm` (masquerade), one table
//!   `ip holm-<container id>` per container with published ports (DNAT), deleted whole at clean-up.
//! - [`natbase`]: the shared table written once and remembered (a marker checked over netlink), so a container
//!   without published ports runs no `nft`.
//! - [`ports`]: `-p/--publish` parsing and the host ports held bound while a container runs.
//! - [`files`]: the container's `/etc/resolv.conf`, `/etc/hosts`, `/etc/hostname`.
//! - [`usernet`]: user-defined networks (`network create`): each its own bridge, subnet and nftables table
//!   (masquerade unless internal, isolation from every other holm bridge).
//! - [`dns`]: the name server of a user network (one small process per network, on its gateway address).
//!
//! The bridge and its address space are shared by every holm on the host, whatever its `--root`/`--runroot`.
#![forbid(unsafe_code)]

pub mod dns;
pub mod dnsproc;
pub mod files;
pub mod ipam;
pub mod link;
pub mod nat;
pub mod natbase;
pub mod ports;
pub mod usernet;

use std::net::Ipv4Addr;

/// The bridge of the default network.
pub const BRIDGE: &str = "holm0";

/// The default network's subnet: address and prefix length.
pub const SUBNET: (Ipv4Addr, u8) = (Ipv4Addr::new(10, 77, 0, 0), 16);

/// The default network's gateway, the bridge's address.
pub const GATEWAY: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 1);

/// Host-wide network state (leases) shared by every holm on the host.
pub const STATE_DIR: &str = "/run/holm-network";

/// `--network`: how a container is networked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `bridge` (default): own network namespace, a veth on [`BRIDGE`], NAT.
    Bridge,
    /// `none`: own network namespace with only `lo`.
    None,
    /// `host`: the host's network namespace.
    Host,
    /// `container:NAME|ID`: the network namespace (and so the address, ports, `lo`) of another, running
    /// container, with its `/etc/hosts`, `/etc/resolv.conf` and hostname.
    Container,
    /// A user-defined network (`network create`), named by the config: own bridge and subnet, DNS by name.
    User,
}

impl Mode {
    /// Parses `--network` (`""` and `default` mean `bridge`). Errors name the value.
    pub fn parse(s: &str) -> Result<Mode> {
        match s {
            "" | "bridge" | "default" => Ok(Mode::Bridge),
            "none" => Ok(Mode::None),
            "host" => Ok(Mode::Host),
            c if c.strip_prefix("container:").is_some_and(|n| !n.is_empty()) => Ok(Mode::Container),
            n if usernet::valid_name(n) => Ok(Mode::User),
            _ => Err(Error::UnknownNetwork(s.to_string())),
        }
    }

    /// docker's `HostConfig.NetworkMode` word.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Bridge => "bridge",
            Mode::None => "none",
            Mode::Host => "host",
            Mode::Container => "container",
            Mode::User => "user",
        }
    }
}

/// The host-side veth name of container `id` (15 characters, IFNAMSIZ - 1).
pub fn host_veth(id: &str) -> String {
    format!("veth{}", &id[..id.len().min(11)])
}

/// The MAC address docker derives from an IPv4 address: `02:42:` followed by the address's four bytes.
pub fn mac_for(ip: Ipv4Addr) -> [u8; 6] {
    let o = ip.octets();
    [0x02, 0x42, o[0], o[1], o[2], o[3]]
}

/// `aa:bb:cc:dd:ee:ff`.
pub fn mac_string(mac: [u8; 6]) -> String {
    mac.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// Errors of holm-network.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// `--network` named a network holm does not have.
    #[error("network {0} not found")]
    UnknownNetwork(String),
    /// `--ip` names an address outside the network's subnet, or a reserved one.
    #[error("invalid address {0}: it is not in the network's subnet {1}, or is reserved")]
    BadAddress(String, String),
    /// `--ip` names an address another container holds (docker's wording).
    #[error("Address already in use: {0}")]
    AddressInUse(String),
    /// A `--subnet` overlaps another network or a host route (docker's wording).
    #[error("invalid pool request: Pool overlaps with other one on this address space ({0})")]
    SubnetOverlap(String),
    /// Every subnet of holm's pool for user networks is taken (docker's wording).
    #[error("could not find an available, non-overlapping IPv4 address pool among the defaults to assign to the network")]
    NoSubnet,
    /// A `-p` value is malformed.
    #[error("invalid argument \"{value}\" for \"-p, --publish\" flag: {why}")]
    BadPublish {
        /// The value as given.
        value: String,
        /// What is wrong.
        why: String,
    },
    /// A host port is taken (docker's wording).
    #[error("Bind for {addr} failed: port is already allocated")]
    PortAllocated {
        /// `IP:PORT`.
        addr: String,
    },
    /// Binding a host port failed for another reason.
    #[error("Bind for {addr} failed: {source}")]
    Bind {
        /// `IP:PORT`.
        addr: String,
        /// The error.
        source: std::io::Error,
    },
    /// A flag's value is malformed.
    #[error("invalid argument \"{value}\" for \"{flag}\" flag: {why}")]
    BadFlag {
        /// The flag (`--dns`).
        flag: &'static str,
        /// The value as given.
        value: String,
        /// What is wrong.
        why: String,
    },
    /// Every address of the subnet is leased.
    #[error("no available IPv4 addresses on network bridge ({0} leases)")]
    NoAddress(usize),
    /// A netlink request failed.
    #[error("netlink: {what}: {msg}")]
    Netlink {
        /// What was done (`create veth vethab12…`).
        what: String,
        /// The kernel's or library's message.
        msg: String,
    },
    /// `nft` failed.
    #[error("nftables: {what}: {msg}")]
    Nft {
        /// What was done.
        what: String,
        /// nft's message.
        msg: String,
    },
    /// A file operation failed.
    #[error("{what}: {source}")]
    Io {
        /// What was done, with the path.
        what: String,
        /// The error.
        source: std::io::Error,
    },
    /// A system call of holm-sys failed.
    #[error(transparent)]
    Sys(#[from] holm_sys::Error),
}

impl Error {
    pub(crate) fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
        let what = what.into();
        move |source| Error::Io { what, source }
    }
}

/// holm-network's result.
pub type Result<T> = std::result::Result<T, Error>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_and_names() {
        assert_eq!(Mode::parse("").unwrap(), Mode::Bridge);
        assert_eq!(Mode::parse("host").unwrap(), Mode::Host);
        assert_eq!(Mode::parse("none").unwrap(), Mode::None);
        assert_eq!(Mode::parse("container:web").unwrap(), Mode::Container);
        assert!(Mode::parse("container:").is_err());
        assert_eq!(Mode::parse("mynet").unwrap(), Mode::User);
        assert!(Mode::parse("my net")
            .unwrap_err()
            .to_string()
            .contains("network my net not found"));
        let id = "0123456789abcdef0123";
        assert_eq!(host_veth(id), "veth0123456789a");
        assert_eq!(host_veth(id).len(), 15);
        assert_eq!(
            mac_string(mac_for(Ipv4Addr::new(10, 77, 0, 2))),
            "02:42:0a:4d:00:02"
        );
    }
}
