//! The name server of a user network (docker's embedded DNS, podman's aardvark-dns), daemonless: one small process
//! per network (`holm __dns NETWORK_ID`, see [`crate::dnsproc`] for when it runs), bound to the network's gateway
//! address on UDP and TCP port 53, in the host's network namespace.
//!
//! - A query (class IN) for a name in the network's table (`<dir>/names.json`: each container's name, its network
//!   aliases and, under compose, its service name; case-insensitive, with or without a trailing dot, and with the
//!   first search domain of the container's `resolv.conf` stripped) is answered here: `A` with the container's
//!   addresses (TTL 0: names follow containers coming and going), any other type with no records (NOERROR).
//! - Any other query is forwarded as it is to the host's name servers (`/etc/resolv.conf`, loopback ones
//!   included: this process runs in the host's namespace; docker's `8.8.8.8`/`8.8.4.4` when there is none; read
//!   when the server starts), over
//!   the transport it came on, and their answer is relayed unchanged.
//! - Only clients of the network's subnet are answered (others get REFUSED), so a container of another network
//!   cannot read this one's names. At most [`MAX_IN_FLIGHT`] forwarded queries and TCP clients are served at once.
//!
//! A name not in the table is also looked for in the tables of the other networks the asking container is on (found
//! by its address in this table), as docker's embedded DNS answers for all of a container's networks.
//!
//! The table is read again whenever its modification time or size changed. The process ends when its network's
//! directory is gone (network removed), when its table is empty while it is idle ([`crate::dnsproc::idle_exit`]),
//! or on SIGTERM ([`crate::dnsproc::stop`]). The wire format is
//! `hickory-proto`'s.

use crate::usernet::NetDef;
use crate::{Error, Result};
use hickory_proto::op::{Message, MessageType, OpCode, ResponseCode};
use hickory_proto::rr::{rdata::A, DNSClass, RData, Record, RecordType};
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

/// How long an upstream server is waited for.
const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(3);

/// At most this many forwarded queries (UDP) or TCP clients are in flight; more are dropped (the client retries),
/// so a flood cannot make the server start threads without bound.
const MAX_IN_FLIGHT: usize = 64;

/// Counts a thread in [`MAX_IN_FLIGHT`] for as long as it lives.
struct Slot(Arc<AtomicUsize>);

impl Slot {
    fn take(n: &Arc<AtomicUsize>) -> Option<Slot> {
        (n.fetch_add(1, Ordering::AcqRel) < MAX_IN_FLIGHT)
            .then(|| Slot(n.clone()))
            .or_else(|| {
                n.fetch_sub(1, Ordering::AcqRel);
                None
            })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// One container's entry of a network's name table.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Entry {
    /// Its address on the network.
    pub ip: Ipv4Addr,
    /// Its names there: container name, aliases (lower case).
    pub names: Vec<String>,
}

/// A network's name table: container id → entry.
pub type Table = BTreeMap<String, Entry>;

/// The table file of the network in `dir`.
pub fn table_path(dir: &Path) -> PathBuf {
    dir.join("names.json")
}

/// Reads the table in `dir` (empty when there is none).
pub fn read_table(dir: &Path) -> Table {
    std::fs::read(table_path(dir))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default()
}

/// The names → addresses view of a table.
fn index(t: &Table) -> BTreeMap<String, Vec<Ipv4Addr>> {
    let mut out: BTreeMap<String, Vec<Ipv4Addr>> = BTreeMap::new();
    for e in t.values() {
        for n in &e.names {
            let v = out.entry(n.to_ascii_lowercase()).or_default();
            if !v.contains(&e.ip) {
                v.push(e.ip);
            }
        }
    }
    out
}

/// The table as last read, reloaded when the file changed.
struct Names {
    path: PathBuf,
    stamp: Option<(SystemTime, u64)>,
    table: Table,
    index: BTreeMap<String, Vec<Ipv4Addr>>,
    search: Vec<String>,
}

/// `name` (lower case, no trailing dot) in `index`, also with a search domain stripped.
fn find_in(
    index: &BTreeMap<String, Vec<Ipv4Addr>>,
    name: &str,
    search: &[String],
) -> Option<Vec<Ipv4Addr>> {
    if let Some(v) = index.get(name) {
        return Some(v.clone());
    }
    search.iter().find_map(|d| {
        let short = name.strip_suffix(d.as_str())?.strip_suffix('.')?;
        index.get(short).cloned()
    })
}

impl Names {
    /// The addresses of `name` for the client at `client`: from this network's table, else (as docker's embedded
    /// DNS, which answers for every network of the asking container) from the tables of the other networks the
    /// client's container is on.
    fn lookup(&mut self, name: &str, client: Option<Ipv4Addr>) -> Option<Vec<Ipv4Addr>> {
        let stamp = std::fs::metadata(&self.path)
            .ok()
            .and_then(|m| Some((m.modified().ok()?, m.len())));
        let dir = self.path.parent().unwrap_or(Path::new("/")).to_path_buf();
        if stamp != self.stamp {
            self.stamp = stamp;
            self.table = read_table(&dir);
            self.index = index(&self.table);
        }
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        if let Some(v) = find_in(&self.index, &name, &self.search) {
            return Some(v);
        }
        let client = client?;
        let (cid, _) = self.table.iter().find(|(_, e)| e.ip == client)?;
        let nets = dir.parent()?;
        std::fs::read_dir(nets)
            .ok()?
            .flatten()
            .filter(|d| d.path() != dir)
            .find_map(|d| {
                let t = read_table(&d.path());
                t.contains_key(cid)
                    .then(|| find_in(&index(&t), &name, &self.search))
                    .flatten()
            })
    }
}

/// The host's name servers (port 53) and its search domains.
fn host_resolv() -> (Vec<SocketAddr>, Vec<String>) {
    let text = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    let mut servers = Vec::new();
    let mut search = Vec::new();
    for line in text.lines() {
        let mut w = line.split_whitespace();
        match w.next() {
            Some("nameserver") => {
                if let Some(ip) = w.next().and_then(|s| s.parse::<IpAddr>().ok()) {
                    servers.push(SocketAddr::new(ip, 53));
                }
            }
            Some("search") | Some("domain") => {
                search = w
                    .map(|d| d.trim_end_matches('.').to_ascii_lowercase())
                    .collect()
            }
            _ => {}
        }
    }
    if servers.is_empty() {
        servers = crate::files::FALLBACK_DNS
            .iter()
            .map(|s| SocketAddr::new(s.parse().expect("valid"), 53))
            .collect();
    }
    (servers, search)
}

/// The answer to `query` from the table, `None` when it must be forwarded. A malformed query gets FORMERR.
fn answer(names: &mut Names, query: &[u8], client: Option<Ipv4Addr>) -> Option<Vec<u8>> {
    let req = match Message::from_vec(query) {
        Ok(m) => m,
        Err(_) if query.len() >= 2 => {
            let id = u16::from_be_bytes([query[0], query[1]]);
            let m = Message::error_msg(id, OpCode::Query, ResponseCode::FormErr);
            return m.to_vec().ok();
        }
        Err(_) => return None,
    };
    if req.metadata.message_type != MessageType::Query || req.queries.len() != 1 {
        return None;
    }
    let q = &req.queries[0];
    if q.query_class() != DNSClass::IN {
        return None;
    }
    let ips = names.lookup(&q.name().to_ascii(), client)?;
    let mut resp = Message::response(req.metadata.id, req.metadata.op_code);
    resp.metadata.recursion_desired = req.metadata.recursion_desired;
    resp.metadata.recursion_available = true;
    resp.metadata.authoritative = true;
    resp.add_query(q.clone());
    if q.query_type() == RecordType::A {
        for ip in ips {
            resp.add_answer(Record::from_rdata(q.name().clone(), 0, RData::A(A(ip))));
        }
    }
    resp.to_vec().ok()
}

fn refused(query: &[u8]) -> Option<Vec<u8>> {
    let id = u16::from_be_bytes([*query.first()?, *query.get(1)?]);
    Message::error_msg(id, OpCode::Query, ResponseCode::Refused)
        .to_vec()
        .ok()
}

/// Forwards `query` over UDP to each upstream in turn; the first answer whose id matches.
fn forward_udp(upstream: &[SocketAddr], query: &[u8]) -> Option<Vec<u8>> {
    for s in upstream {
        let bind: SocketAddr = if s.is_ipv4() {
            "0.0.0.0:0".parse().expect("valid")
        } else {
            "[::]:0".parse().expect("valid")
        };
        let Ok(sock) = UdpSocket::bind(bind) else {
            continue;
        };
        if sock.set_read_timeout(Some(UPSTREAM_TIMEOUT)).is_err() || sock.connect(s).is_err() {
            continue;
        }
        if sock.send(query).is_err() {
            continue;
        }
        let mut buf = vec![0u8; 65535];
        while let Ok(n) = sock.recv(&mut buf) {
            if n >= 2 && buf[..2] == query[..2] {
                return Some(buf[..n].to_vec());
            }
        }
    }
    None
}

/// Forwards `query` over TCP to each upstream in turn.
fn forward_tcp(upstream: &[SocketAddr], query: &[u8]) -> Option<Vec<u8>> {
    for s in upstream {
        let Ok(mut c) = TcpStream::connect_timeout(s, UPSTREAM_TIMEOUT) else {
            continue;
        };
        let _ = c.set_read_timeout(Some(UPSTREAM_TIMEOUT));
        if let Ok(r) = tcp_exchange(&mut c, query) {
            return Some(r);
        }
    }
    None
}

fn tcp_exchange(c: &mut TcpStream, query: &[u8]) -> std::io::Result<Vec<u8>> {
    let len = u16::try_from(query.len()).map_err(std::io::Error::other)?;
    c.write_all(&len.to_be_bytes())?;
    c.write_all(query)?;
    read_framed(c)
}

fn read_framed(c: &mut TcpStream) -> std::io::Result<Vec<u8>> {
    let mut l = [0u8; 2];
    c.read_exact(&mut l)?;
    let mut b = vec![0u8; u16::from_be_bytes(l) as usize];
    c.read_exact(&mut b)?;
    Ok(b)
}

/// Serves network `id` until its directory is gone. Called by `holm __dns ID`; `ready` is called once both
/// sockets are bound (the starter waits for it).
///
/// Errors: the network's definition unreadable, a socket that cannot be bound (another server on the address).
pub fn serve(id: &str, ready: impl FnOnce()) -> Result<()> {
    let def = crate::usernet::load(id)?;
    let addr = SocketAddr::new(IpAddr::V4(def.gateway), 53);
    let udp = UdpSocket::bind(addr).map_err(Error::io(format!("bind udp {addr}")))?;
    let tcp = TcpListener::bind(addr).map_err(Error::io(format!("bind tcp {addr}")))?;
    udp.set_read_timeout(Some(Duration::from_secs(1)))
        .map_err(Error::io("set a socket timeout"))?;
    let (upstream, search) = host_resolv();
    let names = Arc::new(Mutex::new(Names {
        path: table_path(&def.dir()),
        stamp: None,
        table: Table::new(),
        index: BTreeMap::new(),
        search,
    }));
    ready();
    let in_flight = Arc::new(AtomicUsize::new(0));
    {
        let (names, upstream, def) = (names.clone(), upstream.clone(), def.clone());
        let in_flight = in_flight.clone();
        std::thread::spawn(move || {
            for c in tcp.incoming().flatten() {
                let Some(slot) = Slot::take(&in_flight) else {
                    continue;
                };
                let (names, upstream, def) = (names.clone(), upstream.clone(), def.clone());
                std::thread::spawn(move || {
                    serve_tcp(c, &names, &upstream, &def);
                    drop(slot);
                });
            }
        });
    }
    let dir = def.dir();
    let mut buf = vec![0u8; 4096];
    loop {
        let (n, from) = match udp.recv_from(&mut buf) {
            Ok(x) => x,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                if !dir.join("net.json").exists() || crate::dnsproc::idle_exit(&def) {
                    return Ok(());
                }
                continue;
            }
            Err(_) => continue,
        };
        let q = buf[..n].to_vec();
        if !allowed(&def, from) {
            if let Some(r) = refused(&q) {
                let _ = udp.send_to(&r, from);
            }
            continue;
        }
        let local = answer(
            &mut names.lock().unwrap_or_else(|e| e.into_inner()),
            &q,
            v4(from),
        );
        match local {
            Some(r) => {
                let _ = udp.send_to(&r, from);
            }
            None => {
                // Forwarding waits for the upstream: on a thread of its own, so local names stay quick.
                let Some(slot) = Slot::take(&in_flight) else {
                    continue;
                };
                let (udp, upstream) = (udp.try_clone(), upstream.clone());
                std::thread::spawn(move || {
                    if let (Ok(udp), Some(r)) = (udp, forward_udp(&upstream, &q)) {
                        let _ = udp.send_to(&r, from);
                    }
                    drop(slot);
                });
            }
        }
    }
}

fn v4(a: SocketAddr) -> Option<Ipv4Addr> {
    match a.ip() {
        IpAddr::V4(ip) => Some(ip),
        IpAddr::V6(_) => None,
    }
}

fn allowed(def: &NetDef, from: SocketAddr) -> bool {
    match from.ip() {
        IpAddr::V4(ip) => def.contains(ip),
        IpAddr::V6(_) => false,
    }
}

fn serve_tcp(mut c: TcpStream, names: &Mutex<Names>, upstream: &[SocketAddr], def: &NetDef) {
    let _ = c.set_read_timeout(Some(Duration::from_secs(10)));
    let Ok(peer) = c.peer_addr() else { return };
    while let Ok(q) = read_framed(&mut c) {
        let r = if !allowed(def, peer) {
            refused(&q)
        } else {
            let local = answer(
                &mut names.lock().unwrap_or_else(|e| e.into_inner()),
                &q,
                v4(peer),
            );
            local.or_else(|| forward_tcp(upstream, &q))
        };
        let Some(r) = r else { return };
        let Ok(len) = u16::try_from(r.len()) else {
            return;
        };
        if c.write_all(&len.to_be_bytes())
            .and_then(|_| c.write_all(&r))
            .is_err()
        {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::op::Query;
    use hickory_proto::rr::Name;
    use std::str::FromStr;

    #[test]
    fn answers_from_the_table() {
        let d = tempfile::tempdir().unwrap();
        let mut t = Table::new();
        t.insert(
            "c1".into(),
            Entry {
                ip: Ipv4Addr::new(10, 78, 0, 2),
                names: vec!["web".into(), "alias1".into()],
            },
        );
        std::fs::write(table_path(d.path()), serde_json::to_vec(&t).unwrap()).unwrap();
        let mut names = Names {
            path: table_path(d.path()),
            stamp: None,
            table: Table::new(),
            index: BTreeMap::new(),
            search: vec!["example.com".into()],
        };
        let ask = |names: &mut Names, n: &str, ty: RecordType| {
            let mut m = Message::query();
            m.add_query(Query::query(Name::from_str(n).unwrap(), ty));
            answer(names, &m.to_vec().unwrap(), None).map(|b| Message::from_vec(&b).unwrap())
        };
        let r = ask(&mut names, "WEB.", RecordType::A).unwrap();
        assert_eq!(r.answers.len(), 1);
        assert_eq!(r.answers[0].data, RData::A(A(Ipv4Addr::new(10, 78, 0, 2))));
        assert!(ask(&mut names, "alias1.example.com.", RecordType::A).is_some());
        let r = ask(&mut names, "web.", RecordType::AAAA).unwrap();
        assert!(r.answers.is_empty());
        assert_eq!(r.metadata.response_code, ResponseCode::NoError);
        assert!(ask(&mut names, "example.org.", RecordType::A).is_none());
        let bad = answer(&mut names, &[1, 2, 3], None).unwrap();
        assert_eq!(
            Message::from_vec(&bad).unwrap().metadata.response_code,
            ResponseCode::FormErr
        );
    }
}
