//! The tap wiring (holm_vm::net) on a veth pair between two private network namespaces: a "container" one with
//! eth0 (addresses, default route, MTU) and a "peer" one standing for the host's bridge side. Everything is read
//! back from outside with `ip` and `tc`, and frames really cross: an ARP request written into the tap (as the guest
//! would send it) reaches the peer, and the peer's reply comes back out of the tap.

use std::io::{Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::process::Command;
use std::sync::mpsc;
use std::time::Duration;

use holm_vm::net::{unwire, wire, wire_all, GuestRoute, IpPrefix, NetError};

/// Two named network namespaces joined by a veth pair (eth0 in the container one), deleted on drop.
struct Pair {
    ctr: String,
    peer: String,
    /// The third octet of the test subnet 10.214.N.0/24 (unique per test in this process; private namespaces,
    /// so other processes' tests cannot collide).
    n: u8,
}

fn run(args: &[&str]) -> String {
    let out = Command::new(args[0]).args(&args[1..]).output().unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn in_ns(ns: &str, args: &[&str]) -> String {
    let mut all = vec!["ip", "netns", "exec", ns];
    all.extend_from_slice(args);
    run(&all)
}

impl Pair {
    fn new(n: u8) -> Pair {
        let id = holm_testkit::unique_id("vmnet");
        let p = Pair {
            ctr: format!("{id}-c"),
            peer: format!("{id}-p"),
            n,
        };
        run(&["ip", "netns", "add", &p.ctr]);
        run(&["ip", "netns", "add", &p.peer]);
        run(&[
            "ip", "-n", &p.ctr, "link", "add", "eth0", "mtu", "1400", "type", "veth", "peer",
            "name", "br0",
        ]);
        run(&["ip", "-n", &p.ctr, "link", "set", "br0", "netns", &p.peer]);
        for (ns, dev) in [(&p.ctr, "eth0"), (&p.peer, "br0")] {
            run(&["ip", "-n", ns, "link", "set", dev, "up"]);
            run(&["ip", "-n", ns, "link", "set", "lo", "up"]);
        }
        run(&[
            "ip",
            "-n",
            &p.peer,
            "addr",
            "add",
            &format!("10.214.{n}.1/24"),
            "dev",
            "br0",
        ]);
        run(&[
            "ip",
            "-n",
            &p.ctr,
            "addr",
            "add",
            &format!("10.214.{n}.2/24"),
            "dev",
            "eth0",
        ]);
        run(&[
            "ip",
            "-n",
            &p.ctr,
            "addr",
            "add",
            "fd00:214::2/64",
            "dev",
            "eth0",
            "nodad",
        ]);
        run(&[
            "ip",
            "-n",
            &p.ctr,
            "route",
            "add",
            "default",
            "via",
            &format!("10.214.{n}.1"),
        ]);
        run(&[
            "ip",
            "-n",
            &p.ctr,
            "route",
            "add",
            "192.0.2.0/24",
            "via",
            &format!("10.214.{n}.1"),
        ]);
        run(&[
            "ip",
            "-n",
            &p.ctr,
            "route",
            "add",
            "fd00:215::/64",
            "via",
            "fd00:214::1",
        ]);
        run(&[
            "ip",
            "-n",
            &p.ctr,
            "route",
            "add",
            "198.51.100.0/24",
            "dev",
            "eth0",
            "metric",
            "7",
        ]);
        p
    }

    fn netns_fd(&self) -> OwnedFd {
        std::fs::File::open(format!("/run/netns/{}", self.ctr))
            .unwrap()
            .into()
    }

    fn ctr_addrs(&self) -> String {
        run(&[
            "ip", "-n", &self.ctr, "-o", "addr", "show", "dev", "eth0", "scope", "global",
        ])
    }
}

impl Drop for Pair {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.ctr])
            .output();
        let _ = Command::new("ip")
            .args(["netns", "del", &self.peer])
            .output();
    }
}

fn mac_bytes(mac: &str) -> Vec<u8> {
    mac.split(':')
        .map(|h| u8::from_str_radix(h, 16).unwrap())
        .collect()
}

/// An Ethernet ARP request (RFC 826) from `mac`/`from` asking for `to`.
fn arp_request(mac: &[u8], from: [u8; 4], to: [u8; 4]) -> Vec<u8> {
    let mut f = vec![0xff; 6];
    f.extend(mac);
    f.extend([0x08, 0x06, 0, 1, 0x08, 0, 6, 4, 0, 1]);
    f.extend(mac);
    f.extend(from);
    f.extend([0; 6]);
    f.extend(to);
    f
}

#[test]
fn wire_hands_eth0_to_a_tap_and_frames_cross_both_ways() {
    let p = Pair::new(1);
    let ns = p.netns_fd();
    let mac_before = in_ns(&p.ctr, &["cat", "/sys/class/net/eth0/address"])
        .trim()
        .to_string();

    let (w, tap) = wire(ns.as_fd(), None, "tap0").unwrap_or_else(|e| panic!("{e}"));
    let net = &w.network;
    assert_eq!(net.interface, "eth0");
    assert_eq!(net.mac, mac_before);
    assert_eq!(net.mtu, 1400);
    let v4 = IpPrefix {
        address: format!("10.214.{}.2", p.n).parse().unwrap(),
        prefix_len: 24,
    };
    let v6 = IpPrefix {
        address: "fd00:214::2".parse().unwrap(),
        prefix_len: 64,
    };
    let prefixes: Vec<IpPrefix> = net.addresses.iter().map(|a| a.prefix()).collect();
    assert!(prefixes.contains(&v4) && prefixes.contains(&v6), "{net:?}");
    // No IPv6 link-local address: the guest derives its own from the same MAC.
    assert!(
        !net.addresses
            .iter()
            .any(|a| a.address.to_string().starts_with("fe80")),
        "{net:?}"
    );
    let gw = format!("10.214.{}.1", p.n).parse().unwrap();
    let has = |dest: Option<IpPrefix>, gateway: Option<std::net::IpAddr>| -> Option<&GuestRoute> {
        net.routes
            .iter()
            .find(|r| r.destination == dest && r.gateway == gateway)
    };
    assert!(has(None, Some(gw)).is_some(), "{net:?}");
    let extra = IpPrefix {
        address: "192.0.2.0".parse().unwrap(),
        prefix_len: 24,
    };
    assert!(has(Some(extra), Some(gw)).is_some(), "{net:?}");
    // The IPv6 route with its metric, and an IPv4 route on the link with its scope and metric.
    let v6_route = has(
        Some(IpPrefix {
            address: "fd00:215::".parse().unwrap(),
            prefix_len: 64,
        }),
        Some("fd00:214::1".parse().unwrap()),
    )
    .unwrap_or_else(|| panic!("no IPv6 route: {net:?}"));
    assert_eq!(v6_route.metric, Some(1024), "{v6_route:?}");
    let link_route = has(
        Some(IpPrefix {
            address: "198.51.100.0".parse().unwrap(),
            prefix_len: 24,
        }),
        None,
    )
    .unwrap_or_else(|| panic!("no link route: {net:?}"));
    assert_eq!(link_route.metric, Some(7), "{link_route:?}");
    assert_eq!(link_route.scope(), holm_vm_proto::Scope::Link);
    // The kernel's own prefix routes are left to the guest's kernel.
    assert_eq!(net.routes.len(), 4, "{net:?}");
    let proto = net.to_proto();
    proto.validate().unwrap();
    assert_eq!(proto.mtu, Some(1400));
    assert!(proto
        .routes
        .iter()
        .any(|r| r.to_string() == format!("route default via {gw}")));

    // Seen from outside: eth0 keeps its global addresses (CNI's DEL looks for them; the ingress filter keeps every
    // frame from the namespace's stack), tap0 is up with eth0's MTU, each redirects to the other.
    let kept = p.ctr_addrs();
    assert!(
        kept.contains(&format!("10.214.{}.2/24", p.n)) && kept.contains("fd00:214::2/64"),
        "eth0 lost its addresses: {kept}"
    );
    let tap_link = in_ns(&p.ctr, &["ip", "-o", "link", "show", "tap0"]);
    assert!(
        tap_link.contains("mtu 1400") && tap_link.contains(",UP"),
        "{tap_link}"
    );
    let f = in_ns(&p.ctr, &["tc", "filter", "show", "dev", "eth0", "ingress"]);
    assert!(f.contains("Egress Redirect to device tap0"), "{f}");
    let f = in_ns(&p.ctr, &["tc", "filter", "show", "dev", "tap0", "ingress"]);
    assert!(f.contains("Egress Redirect to device eth0"), "{f}");

    // Frames: the "guest" asks for the gateway's MAC through the tap; the peer answers into the tap.
    let mut file = std::fs::File::from(tap);
    let mut req = vec![0u8; 10]; // struct virtio_net_hdr (IFF_VNET_HDR), all zero: no offloads
    let mac = mac_bytes(&net.mac);
    req.extend(arp_request(&mac, [10, 214, p.n, 2], [10, 214, p.n, 1]));
    file.write_all(&req).unwrap();
    let (tx, rx) = mpsc::channel();
    let mut reader = file.try_clone().unwrap();
    std::thread::spawn(move || {
        let mut buf = vec![0u8; 65536];
        while let Ok(n) = reader.read(&mut buf) {
            if tx.send(buf[..n].to_vec()).is_err() {
                break;
            }
        }
    });
    let reply = loop {
        let frame = rx
            .recv_timeout(Duration::from_secs(20))
            .expect("no ARP reply came out of the tap");
        let eth = &frame[10..];
        // ARP (0x0806), op 2 (reply), sender 10.214.N.1, to our MAC.
        if eth.len() >= 42 && eth[12..14] == [0x08, 0x06] && eth[20..22] == [0, 2] {
            break eth.to_vec();
        }
    };
    assert_eq!(
        &reply[0..6],
        &mac[..],
        "reply not addressed to the guest's MAC"
    );
    assert_eq!(&reply[28..32], &[10, 214, p.n, 1]);
    // The peer learnt the guest's MAC for the container's address from the request.
    let neigh = in_ns(
        &p.peer,
        &["ip", "neigh", "show", &format!("10.214.{}.2", p.n)],
    );
    assert!(neigh.contains(&net.mac), "{neigh}");
    drop(file);

    // Teardown gives eth0 its configuration back and leaves no tc state or tap; twice is fine.
    unwire(ns.as_fd(), &w).unwrap_or_else(|e| panic!("{e}"));
    unwire(ns.as_fd(), &w).unwrap_or_else(|e| panic!("second unwire: {e}"));
    let addrs = p.ctr_addrs();
    assert!(
        addrs.contains(&format!("10.214.{}.2/24", p.n)) && addrs.contains("fd00:214::2/64"),
        "{addrs}"
    );
    let routes = in_ns(&p.ctr, &["ip", "route", "show"]);
    assert!(
        routes.contains(&format!("default via 10.214.{}.1 dev eth0", p.n)),
        "{routes}"
    );
    assert!(
        routes.contains(&format!("192.0.2.0/24 via 10.214.{}.1 dev eth0", p.n)),
        "{routes}"
    );
    let q = in_ns(&p.ctr, &["tc", "qdisc", "show", "dev", "eth0"]);
    assert!(!q.contains("ingress"), "{q}");
    let links = in_ns(&p.ctr, &["ip", "-o", "link", "show"]);
    assert!(!links.contains("tap0"), "{links}");
}

#[test]
fn a_failed_wiring_is_undone() {
    let p = Pair::new(2);
    let ns = p.netns_fd();
    // A tap name longer than IFNAMSIZ fails; eth0 keeps its addresses and routes.
    let err = wire(ns.as_fd(), Some("eth0"), "tap-name-far-too-long").unwrap_err();
    assert!(matches!(err, NetError::Tap(_)), "{err}");
    assert!(err.to_string().contains("tap-name-far-too-long"), "{err}");
    let addrs = p.ctr_addrs();
    assert!(
        addrs.contains(&format!("10.214.{}.2/24", p.n)),
        "addresses not restored: {addrs}"
    );
    let routes = in_ns(&p.ctr, &["ip", "route", "show"]);
    assert!(
        routes.contains(&format!("default via 10.214.{}.1", p.n)),
        "{routes}"
    );
    let q = in_ns(&p.ctr, &["tc", "qdisc", "show", "dev", "eth0"]);
    assert!(!q.contains("ingress"), "{q}");
}

#[test]
fn a_missing_interface_is_named() {
    let p = Pair::new(3);
    let ns = p.netns_fd();
    let err = wire(ns.as_fd(), Some("nope0"), "tap0").unwrap_err();
    assert!(
        matches!(err, NetError::NoInterface(ref n) if n == "nope0"),
        "{err}"
    );
    assert!(p.ctr_addrs().contains("10.214.3.2/24"));
}

/// A route the guest cannot take (another routing table, multipath, a route type other than unicast, a
/// blackhole/unreachable/prohibit route with no device) fails the
/// wiring with one line naming the interface and the route, and nothing is wired.
#[test]
fn a_route_the_guest_cannot_take_is_refused_before_wiring() {
    for (n, extra, expect) in [
        (
            4,
            vec!["route", "add", "10.99.0.0/16", "dev", "eth0", "table", "100"],
            "interface eth0: route 10.99.0.0/16 table 100: the guest has only the main routing table",
        ),
        (
            5,
            vec![
                "route", "add", "10.98.0.0/16", "nexthop", "via", "10.214.5.1", "dev", "eth0", "nexthop", "via",
                "10.214.5.3", "dev", "eth0",
            ],
            "interface eth0: route 10.98.0.0/16: multipath routes are not supported in the guest",
        ),
        (
            6,
            vec!["route", "add", "local", "10.97.0.1", "dev", "eth0", "table", "main"],
            "interface eth0: route 10.97.0.1/32: route type local is not supported in the guest",
        ),
        // Routes without an output device: no interface's routes carry them; the guest would use its default.
        (
            7,
            vec!["route", "add", "blackhole", "10.200.0.0/16"],
            "interface eth0: route blackhole 10.200.0.0/16: blackhole routes are not carried to the guest",
        ),
        (
            8,
            vec!["-6", "route", "add", "unreachable", "fd99:7::/48"],
            "interface eth0: route unreachable fd99:7::/48: unreachable routes are not carried to the guest",
        ),
        (
            9,
            vec!["route", "add", "prohibit", "10.201.0.0/16"],
            "interface eth0: route prohibit 10.201.0.0/16: prohibit routes are not carried",
        ),
    ] {
        let p = Pair::new(n);
        let mut args = vec!["ip", "-n", &p.ctr];
        args.extend(extra);
        run(&args);
        let ns = p.netns_fd();
        let err = wire_all(ns.as_fd()).unwrap_err();
        assert!(matches!(err, NetError::Unsupported(_)), "{err}");
        let msg = err.to_string();
        assert!(msg.contains(expect), "{msg}");
        assert!(!msg.contains('\n'), "{msg}");
        let q = in_ns(&p.ctr, &["tc", "qdisc", "show", "dev", "eth0"]);
        assert!(!q.contains("ingress"), "{q}");
        let links = in_ns(&p.ctr, &["ip", "-o", "link", "show"]);
        assert!(!links.contains("tap0"), "{links}");
    }
}
