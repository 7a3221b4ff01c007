//! The shared NAT table `ip holm`, written once and remembered, so a container start without published ports runs
//! no `nft` process (it took ~35 ms of every `holm run`).
//!
//! docker sets its chains up once, when dockerd starts; holm has no daemon, so the first container start after a
//! boot writes the table with `nft` ([`crate::nat::ensure_base`]) and records what it made in a marker file,
//! `/run/holm-network/nat-base.<network namespace inode>` ([`marker`]): the boot id, the namespace's inode, the
//! table's handle and the handles of its three rules. Each later start asks the kernel directly (two `nf_tables` netlink requests on
//! one socket, well under a millisecond: `GETTABLE ip holm`, a dump of `GETRULE ip holm postrouting`) whether that
//! same table with those same rules is still there, and only runs `nft` again when it is not.
//!
//! What an admin's changes do:
//! - `nft flush ruleset`, `nft delete table ip holm`, or a firewall tool that rewrites the ruleset: the table is
//!   gone (or has a new handle); the next container start writes it again. Containers started in between the
//!   flush and the next start have no egress NAT until then (as with docker, whose chains are gone after a flush
//!   until dockerd restarts).
//! - `nft flush table ip holm`, or deleting/adding a rule in its chain: the rule handles differ; rewritten at the
//!   next start.
//! - `nft replace rule … handle N` (a rule changed in place, same handle) is not noticed: delete the marker (or the
//!   table) to make holm write its table again.
//!
//! A reboot (new boot id) never trusts an old marker, and each network namespace (a holm run inside a container,
//! the tests' private namespaces) has its own. Two starts racing both run `nft`; each transaction replaces the table
//! whole, so the rules are always complete, and at worst the marker names the older handle and the next start
//! runs `nft` once more.

use crate::ports::PortBinding;
use crate::{nat, Error, Result};
use netlink_sys::{protocols::NETLINK_NETFILTER, Socket, SocketAddr};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

/// The marker file of the calling thread's network namespace, holding `BOOT_ID NETNS_INODE TABLE_HANDLE
/// RULE_HANDLE,RULE_HANDLE,…`; `None` if the namespace cannot be read.
pub fn marker() -> Option<PathBuf> {
    Some(Path::new(crate::STATE_DIR).join(format!("nat-base.{}", netns_inode()?)))
}

fn netns_inode() -> Option<u64> {
    use std::os::unix::fs::MetadataExt;
    Some(std::fs::metadata("/proc/thread-self/ns/net").ok()?.ino())
}

/// Makes sure the shared table `ip holm` with its masquerade rules exists: a cheap check against [`marker`] when
/// it was written before (see the module doc), else `nft` and a new marker.
///
/// Errors: those of [`nat::ensure_base`] (`nft` missing or failing). A failed check or marker write only costs
/// the `nft` run it would have saved.
pub fn ensure() -> Result<()> {
    with_base(|missing| if missing { nat::ensure_base() } else { Ok(()) })
}

/// [`nat::publish`] of container `id`'s ports, with the shared table in the same `nft` transaction only when
/// [`ensure`] would have written it.
pub fn publish(id: &str, ip: Ipv4Addr, ports: &[PortBinding]) -> Result<()> {
    with_base(|missing| nat::publish(id, ip, ports, missing))
}

/// Calls `write(missing)`, `missing` saying whether the shared table must be written too, and records the table
/// in the marker after it was.
fn with_base(write: impl FnOnce(bool) -> Result<()>) -> Result<()> {
    let (marker, here) = (marker(), identity());
    let fresh = match (
        marker
            .as_ref()
            .and_then(|m| std::fs::read_to_string(m).ok()),
        &here,
    ) {
        (Some(want), Some(here)) => current(here).is_some_and(|now| now == want.trim()),
        _ => false,
    };
    write(!fresh)?;
    if let (false, Some(marker), Some(now)) = (fresh, &marker, here.as_deref().and_then(current)) {
        let _ = write_marker(marker, &now);
    }
    Ok(())
}

/// `BOOT_ID NETNS_INODE` of this boot and network namespace.
fn identity() -> Option<String> {
    let boot = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").ok()?;
    Some(format!("{} {}", boot.trim(), netns_inode()?))
}

/// The marker line for the table as the kernel has it now; `None` if it is missing or cannot be read.
fn current(identity: &str) -> Option<String> {
    let sock = Socket::new(NETLINK_NETFILTER).ok()?;
    let table = table_handle(&sock)?;
    let rules = rule_handles(&sock)?;
    // The three rules of nat::add_base, nothing more, nothing less.
    if rules.len() != 3 {
        return None;
    }
    let rules: Vec<String> = rules.iter().map(u64::to_string).collect();
    Some(format!("{identity} {table} {}", rules.join(",")))
}

fn write_marker(marker: &Path, line: &str) -> Result<()> {
    let dir = marker.parent().expect("marker has a parent");
    std::fs::create_dir_all(dir).map_err(Error::io(format!("create {}", dir.display())))?;
    let tmp = dir.join(format!(".nat-base.tmp.{}", std::process::id()));
    std::fs::write(&tmp, format!("{line}\n"))
        .and_then(|_| std::fs::rename(&tmp, marker))
        .map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            Error::io(format!("write {}", marker.display()))(e)
        })
}

// nf_tables over netlink (linux/netfilter/nfnetlink.h, nf_tables.h).
const NFNL_SUBSYS_NFTABLES: u16 = 10;
const NFT_MSG_NEWTABLE: u16 = 0;
const NFT_MSG_GETTABLE: u16 = 1;
const NFT_MSG_NEWRULE: u16 = 6;
const NFT_MSG_GETRULE: u16 = 7;
const NFTA_TABLE_NAME: u16 = 1;
const NFTA_TABLE_HANDLE: u16 = 4;
const NFTA_RULE_TABLE: u16 = 1;
const NFTA_RULE_CHAIN: u16 = 2;
const NFTA_RULE_HANDLE: u16 = 3;
const NFPROTO_IPV4: u8 = 2;
const NLM_F_REQUEST: u16 = 1;
const NLM_F_DUMP: u16 = 0x300;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;

/// One request: `nlmsghdr`, `nfgenmsg` (family ip), then string attributes.
fn request(msg: u16, flags: u16, seq: u32, attrs: &[(u16, &str)]) -> Vec<u8> {
    let mut b = Vec::with_capacity(64);
    b.extend_from_slice(&0u32.to_ne_bytes()); // length, set below
    b.extend_from_slice(&((NFNL_SUBSYS_NFTABLES << 8) | msg).to_ne_bytes());
    b.extend_from_slice(&(NLM_F_REQUEST | flags).to_ne_bytes());
    b.extend_from_slice(&seq.to_ne_bytes());
    b.extend_from_slice(&0u32.to_ne_bytes());
    b.extend_from_slice(&[NFPROTO_IPV4, 0, 0, 0]);
    for (ty, s) in attrs {
        let len = 4 + s.len() + 1;
        b.extend_from_slice(&(len as u16).to_ne_bytes());
        b.extend_from_slice(&ty.to_ne_bytes());
        b.extend_from_slice(s.as_bytes());
        b.push(0);
        b.resize(b.len().next_multiple_of(4), 0);
    }
    let len = b.len() as u32;
    b[..4].copy_from_slice(&len.to_ne_bytes());
    b
}

/// Sends `req` and hands each answering message (type, payload after `nfgenmsg`) to `each` until the answer is
/// complete (one message, or a dump's `NLMSG_DONE`). `None` on any error (a missing table included).
fn exchange(sock: &Socket, req: &[u8], dump: bool, mut each: impl FnMut(u16, &[u8])) -> Option<()> {
    sock.send_to(req, &SocketAddr::new(0, 0), 0).ok()?;
    let mut buf = Vec::with_capacity(64 * 1024);
    loop {
        buf.clear();
        let n = sock.recv(&mut buf, 0).ok()?;
        let mut msgs = &buf[..n];
        while msgs.len() >= 16 {
            let len = u32::from_ne_bytes(msgs[0..4].try_into().ok()?) as usize;
            let ty = u16::from_ne_bytes(msgs[4..6].try_into().ok()?);
            if len < 16 || len > msgs.len() {
                return None;
            }
            match ty {
                NLMSG_DONE => return Some(()),
                // An error (ENOENT: no such table), or an acknowledgement, which a request without ACK never gets.
                NLMSG_ERROR => return None,
                _ if len >= 20 => each(ty & 0xff, &msgs[20..len]),
                _ => return None,
            }
            if !dump {
                return Some(());
            }
            msgs = &msgs[len.next_multiple_of(4).min(msgs.len())..];
        }
    }
}

/// The big-endian u64 attribute `want` of a message's attributes.
fn u64_attr(mut attrs: &[u8], want: u16) -> Option<u64> {
    while attrs.len() >= 4 {
        let len = u16::from_ne_bytes([attrs[0], attrs[1]]) as usize;
        let ty = u16::from_ne_bytes([attrs[2], attrs[3]]) & 0x3fff;
        if len < 4 || len > attrs.len() {
            return None;
        }
        if ty == want && len == 12 {
            return Some(u64::from_be_bytes(attrs[4..12].try_into().ok()?));
        }
        attrs = &attrs[len.next_multiple_of(4).min(attrs.len())..];
    }
    None
}

/// Whether the table `ip NAME` exists, asked over netlink (no `nft` run); false when it cannot be asked.
pub fn table_exists(name: &str) -> bool {
    Socket::new(NETLINK_NETFILTER)
        .ok()
        .and_then(|s| table_handle_of(&s, name))
        .is_some()
}

fn table_handle(sock: &Socket) -> Option<u64> {
    table_handle_of(sock, nat::TABLE)
}

fn table_handle_of(sock: &Socket, name: &str) -> Option<u64> {
    let req = request(NFT_MSG_GETTABLE, 0, 1, &[(NFTA_TABLE_NAME, name)]);
    let mut handle = None;
    exchange(sock, &req, false, |ty, attrs| {
        if ty == NFT_MSG_NEWTABLE {
            handle = u64_attr(attrs, NFTA_TABLE_HANDLE);
        }
    })?;
    handle
}

fn rule_handles(sock: &Socket) -> Option<Vec<u64>> {
    let req = request(
        NFT_MSG_GETRULE,
        NLM_F_DUMP,
        2,
        &[
            (NFTA_RULE_TABLE, nat::TABLE),
            (NFTA_RULE_CHAIN, "postrouting"),
        ],
    );
    let mut out = Vec::new();
    let mut bad = false;
    exchange(sock, &req, true, |ty, attrs| {
        match (ty, u64_attr(attrs, NFTA_RULE_HANDLE)) {
            (NFT_MSG_NEWRULE, Some(h)) => out.push(h),
            _ => bad = true,
        }
    })?;
    (!bad).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_layout() {
        let r = request(NFT_MSG_GETTABLE, 0, 7, &[(NFTA_TABLE_NAME, "holm")]);
        // 16 header + 4 nfgenmsg + 4 attr header + "holm\0" padded to 8.
        assert_eq!(r.len(), 32);
        assert_eq!(u32::from_ne_bytes(r[0..4].try_into().unwrap()), 32);
        assert_eq!(u16::from_ne_bytes(r[4..6].try_into().unwrap()), 0x0a01);
        assert_eq!(r[16], NFPROTO_IPV4);
        assert_eq!(u16::from_ne_bytes(r[20..22].try_into().unwrap()), 9);
        assert_eq!(&r[24..29], b"holm\0");
    }

    #[test]
    fn attributes() {
        let mut a = Vec::new();
        // A string attribute (padded), then the handle.
        a.extend_from_slice(&9u16.to_ne_bytes());
        a.extend_from_slice(&1u16.to_ne_bytes());
        a.extend_from_slice(b"holm\0\0\0\0");
        a.extend_from_slice(&12u16.to_ne_bytes());
        a.extend_from_slice(&(4u16 | 0x8000).to_ne_bytes());
        a.extend_from_slice(&42u64.to_be_bytes());
        assert_eq!(u64_attr(&a, 4), Some(42));
        assert_eq!(u64_attr(&a, 3), None);
    }
}
