//! IPAM: address leases of the default network's subnet, shared by every holm on the host.
//!
//! The leases live in `<dir>/leases.json` (`{"10.77.0.2": "<container id>", …}`), read and rewritten
//! (temp file, rename) under an exclusive `flock` on `<dir>/leases.lock`, so concurrent `holm run`s never
//! get the same address. The network address, the gateway and the broadcast address are never leased. A container
//! holds at most one lease: allocating again for the same id returns its address.

use crate::{Error, Result, GATEWAY, SUBNET};
use std::collections::BTreeMap;
use std::fs::File;
use std::io::Write;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

/// The lease store in a directory.
#[derive(Debug, Clone)]
pub struct Ipam {
    dir: PathBuf,
    subnet: (Ipv4Addr, u8),
    gateway: Ipv4Addr,
}

type Leases = BTreeMap<Ipv4Addr, String>;

impl Ipam {
    /// The store in `dir` (created on first use, mode 0700).
    pub fn new(dir: &Path) -> Ipam {
        Ipam::for_subnet(dir, SUBNET, GATEWAY)
    }

    /// The store in `dir` of a user network's `subnet` (address, prefix length) whose `gateway` is never leased.
    pub fn for_subnet(dir: &Path, subnet: (Ipv4Addr, u8), gateway: Ipv4Addr) -> Ipam {
        Ipam {
            dir: dir.to_path_buf(),
            subnet,
            gateway,
        }
    }

    /// The host-wide store ([`crate::STATE_DIR`]).
    pub fn host() -> Ipam {
        Ipam::new(Path::new(crate::STATE_DIR))
    }

    fn locked<T>(&self, f: impl FnOnce(&mut Leases) -> Result<(T, bool)>) -> Result<T> {
        let mut b = std::fs::DirBuilder::new();
        b.recursive(true);
        std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
        b.create(&self.dir)
            .map_err(Error::io(format!("create {}", self.dir.display())))?;
        let lock_path = self.dir.join("leases.lock");
        let lock = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(Error::io(format!("open {}", lock_path.display())))?;
        lock.lock()
            .map_err(Error::io(format!("lock {}", lock_path.display())))?;
        let path = self.dir.join("leases.json");
        let mut leases: Leases = match std::fs::read(&path) {
            Ok(b) => serde_json::from_slice(&b).map_err(|e| Error::Io {
                what: format!("parse {}", path.display()),
                source: std::io::Error::other(e),
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Leases::new(),
            Err(e) => return Err(Error::io(format!("read {}", path.display()))(e)),
        };
        let (out, changed) = f(&mut leases)?;
        if changed {
            let tmp = self.dir.join(".leases.json.tmp");
            let bytes = serde_json::to_vec(&leases).expect("leases serialise");
            // No fsync: the rename alone makes the update atomic for every process crash, and what a power loss
            // could undo (the last updates) describes veths that a reboot removes anyway; a lease left by that is
            // collected at allocation. On this machine `/run` is on disk: the fsync cost 1-11 ms per start and
            // again per stop.
            File::create(&tmp)
                .and_then(|mut f| f.write_all(&bytes))
                .and_then(|_| std::fs::rename(&tmp, &path))
                .map_err(Error::io(format!("write {}", path.display())))?;
        }
        Ok(out)
    }

    /// Leases `ip` to container `id` (`connect --ip`). Errors: [`Error::AddressInUse`] when another container
    /// holds it, [`Error::BadAddress`] when it is outside the subnet or reserved.
    pub fn allocate_exact(&self, id: &str, ip: Ipv4Addr) -> Result<Ipv4Addr> {
        let (net, len) = self.subnet;
        let size = 1u64 << (32 - len);
        let off = u64::from(u32::from(ip)).wrapping_sub(u64::from(u32::from(net)));
        if off == 0 || off >= size - 1 || ip == self.gateway {
            return Err(Error::BadAddress(ip.to_string(), format!("{net}/{len}")));
        }
        self.locked(|leases| match leases.get(&ip) {
            Some(v) if v == id => Ok((ip, false)),
            Some(_) => Err(Error::AddressInUse(ip.to_string())),
            None => {
                leases.retain(|_, v| v != id);
                leases.insert(ip, id.to_string());
                Ok((ip, true))
            }
        })
    }

    /// Leases the lowest free address of the subnet to container `id` (its existing lease, if it has one).
    ///
    /// Errors: [`Error::NoAddress`] when the subnet is full.
    pub fn allocate(&self, id: &str) -> Result<Ipv4Addr> {
        self.allocate_with(id, |_| true)
    }

    /// [`Ipam::allocate`], first dropping the leases of other containers for which `live` says false (leaked by a
    /// holder that died before it could record them, or whose engine's data was deleted without `rm`).
    pub fn allocate_with(&self, id: &str, live: impl Fn(&str) -> bool) -> Result<Ipv4Addr> {
        self.locked(|leases| {
            if let Some((ip, _)) = leases.iter().find(|(_, v)| *v == id) {
                return Ok((*ip, false));
            }
            leases.retain(|_, v| live(v));
            let (net, len) = self.subnet;
            let gateway = self.gateway;
            let base = u32::from(net);
            let size = 1u32 << (32 - len);
            // Skip the network address (0), the gateway (1) and the broadcast address (size - 1).
            let ip = (2..size - 1)
                .map(|i| Ipv4Addr::from(base + i))
                .find(|ip| *ip != gateway && !leases.contains_key(ip))
                .ok_or(Error::NoAddress(leases.len()))?;
            leases.insert(ip, id.to_string());
            Ok((ip, true))
        })
    }

    /// Releases container `id`'s lease (none is fine).
    pub fn release(&self, id: &str) -> Result<()> {
        self.locked(|leases| {
            let before = leases.len();
            leases.retain(|_, v| v != id);
            Ok(((), leases.len() != before))
        })
    }

    /// Container `id`'s leased address, if any.
    pub fn lease_of(&self, id: &str) -> Result<Option<Ipv4Addr>> {
        self.locked(|leases| {
            Ok((
                leases.iter().find(|(_, v)| *v == id).map(|(ip, _)| *ip),
                false,
            ))
        })
    }

    /// Every lease: address → container id.
    pub fn leases(&self) -> Result<BTreeMap<Ipv4Addr, String>> {
        self.locked(|leases| Ok((leases.clone(), false)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allocate_release() {
        let d = tempfile::tempdir().unwrap();
        let ipam = Ipam::new(d.path());
        let a = ipam.allocate("a").unwrap();
        let b = ipam.allocate("b").unwrap();
        assert_eq!(a, Ipv4Addr::new(10, 77, 0, 2));
        assert_eq!(b, Ipv4Addr::new(10, 77, 0, 3));
        assert_eq!(ipam.allocate("a").unwrap(), a);
        ipam.release("a").unwrap();
        ipam.release("a").unwrap();
        assert_eq!(ipam.lease_of("a").unwrap(), None);
        assert_eq!(ipam.allocate("c").unwrap(), a);
        assert_eq!(ipam.leases().unwrap().len(), 2);
    }

    #[test]
    fn dead_leases_are_collected() {
        let d = tempfile::tempdir().unwrap();
        let ipam = Ipam::new(d.path());
        let a = ipam.allocate("dead").unwrap();
        let b = ipam.allocate("alive").unwrap();
        assert_eq!(ipam.allocate_with("new", |id| id != "dead").unwrap(), a);
        let leases = ipam.leases().unwrap();
        assert_eq!(leases.len(), 2);
        assert_eq!(leases[&b], "alive");
    }

    #[test]
    fn concurrent_allocations_are_unique() {
        let d = tempfile::tempdir().unwrap();
        let dir = d.path().to_path_buf();
        let threads: Vec<_> = (0..8)
            .map(|t| {
                let dir = dir.clone();
                std::thread::spawn(move || {
                    (0..10)
                        .map(|i| Ipam::new(&dir).allocate(&format!("c{t}-{i}")).unwrap())
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let mut all: Vec<Ipv4Addr> = threads
            .into_iter()
            .flat_map(|t| t.join().unwrap())
            .collect();
        let n = all.len();
        all.sort();
        all.dedup();
        assert_eq!(all.len(), n);
    }
}
