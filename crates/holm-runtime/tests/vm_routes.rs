//! A VM container sees the addresses and routes its network namespace has, as a process container does: an IPv4
//! and an IPv6 address (a ULA prefix with a random part), the IPv4 default route, an IPv6 default route via a
//! link-local gateway and an extra route per family (with their metrics) show in the guest (`ip -6 addr`, `ip route`, `ip -6 route`), and the guest reaches an IPv6 peer
//! on the link and another one behind the extra IPv6 route. A route the guest cannot take (another routing table)
//! fails `create` with one line naming the interface and the route, and nothing is left behind. The namespaces
//! are private (the container's `eth0` is a veth peer of `p0` in a second namespace), so parallel runs cannot
//! collide.

mod lifecycle_util;
mod vm_support;

use holm_testkit::{unique_id, Bundle};
use lifecycle_util::*;
use std::io::Read;
use std::process::Command;
use std::time::Duration;
use vm_support::*;

fn ip(args: &[&str]) -> String {
    command_ok(
        Command::new("ip").args(args),
        &format!("ip {}", args.join(" ")),
    )
}

const MAC: &str = "02:42:0a:da:00:02";

/// The container's namespace `c` (`eth0`: 10.218.N.2/24 and ULA::2/64, default route via 10.218.N.1, an extra
/// IPv4 route 192.0.2.0/24 via the peer with metric 5, an extra IPv6 route ULA:1::/64 via ULA::1) and the
/// peer's `p` (`p0`: 10.218.N.1/24, ULA::1/64; ULA:1::1/64 on its `lo`); both removed on drop.
struct Net {
    c: String,
    p: String,
    n: u32,
    /// A random /48 of the ULA range fd00::/8, as three 16-bit groups.
    ula: [u16; 3],
}

impl Net {
    fn new(id: &str) -> Net {
        let mut r = [0u8; 5];
        std::fs::File::open("/dev/urandom")
            .unwrap()
            .read_exact(&mut r)
            .unwrap();
        let t = Net {
            c: format!("holm-{id}"),
            p: format!("holm-{id}-p"),
            n: std::process::id() % 250 + 1,
            ula: [
                0xfd00 | u16::from(r[0]),
                u16::from_be_bytes([r[1], r[2]]),
                u16::from_be_bytes([r[3], r[4]]),
            ],
        };
        ip(&["netns", "add", &t.c]);
        ip(&["netns", "add", &t.p]);
        ip(&[
            "-n", &t.p, "link", "add", "p0", "type", "veth", "peer", "name", "eth0", "netns", &t.c,
        ]);
        ip(&["-n", &t.c, "link", "set", "eth0", "address", MAC]);
        ip(&["-n", &t.c, "addr", "add", &t.v4(2, 24), "dev", "eth0"]);
        ip(&[
            "-n",
            &t.c,
            "addr",
            "add",
            &t.v6(2, 64),
            "dev",
            "eth0",
            "nodad",
        ]);
        ip(&["-n", &t.p, "addr", "add", &t.v4(1, 24), "dev", "p0"]);
        ip(&[
            "-n",
            &t.p,
            "addr",
            "add",
            &t.v6(1, 64),
            "dev",
            "p0",
            "nodad",
        ]);
        ip(&["-n", &t.p, "addr", "add", &t.far6(64), "dev", "lo"]);
        for (ns, dev) in [(&t.c, "eth0"), (&t.p, "p0"), (&t.c, "lo"), (&t.p, "lo")] {
            ip(&["-n", ns, "link", "set", dev, "up"]);
        }
        ip(&["-n", &t.c, "route", "add", "default", "via", &t.host4(1)]);
        ip(&[
            "-n",
            &t.c,
            "route",
            "add",
            "192.0.2.0/24",
            "via",
            &t.host4(1),
            "metric",
            "5",
        ]);
        ip(&[
            "-n",
            &t.c,
            "-6",
            "route",
            "add",
            &t.net6(1),
            "via",
            &t.host6(1),
        ]);
        // An IPv6 default route via a link-local gateway, as router advertisements make it.
        ip(&[
            "-n", &t.c, "-6", "route", "add", "default", "via", "fe80::1", "dev", "eth0",
        ]);
        t
    }
    fn host4(&self, h: u32) -> String {
        format!("10.218.{}.{h}", self.n)
    }
    fn v4(&self, h: u32, len: u8) -> String {
        format!("{}/{len}", self.host4(h))
    }
    /// The address `h` of the /64 subnet `sub` of the ULA /48, in `ip`'s (canonical) form.
    fn addr6(&self, sub: u16, h: u16) -> String {
        let [a, b, c] = self.ula;
        std::net::Ipv6Addr::new(a, b, c, sub, 0, 0, 0, h).to_string()
    }
    /// The /64 subnet `sub`, `NET/64`.
    fn net6(&self, sub: u16) -> String {
        format!("{}/64", self.addr6(sub, 0))
    }
    fn host6(&self, h: u16) -> String {
        self.addr6(0, h)
    }
    fn v6(&self, h: u16, len: u8) -> String {
        format!("{}/{len}", self.host6(h))
    }
    /// The peer's address behind the extra IPv6 route.
    fn far6(&self, len: u8) -> String {
        format!("{}/{len}", self.addr6(1, 1))
    }
    /// Nothing of a wiring is left: no tap, no ingress qdisc, the addresses and routes in place.
    fn assert_unwired(&self) {
        let links = ip(&["-n", &self.c, "-o", "link"]);
        assert!(
            !links.contains("tap0"),
            "tap left in the namespace:\n{links}"
        );
        let q = command_ok(
            Command::new("ip").args([
                "netns", "exec", &self.c, "tc", "qdisc", "show", "dev", "eth0",
            ]),
            "tc qdisc show",
        );
        assert!(!q.contains("ingress"), "ingress qdisc left on eth0: {q}");
        let a = ip(&["-n", &self.c, "-o", "addr", "show", "dev", "eth0"]);
        assert!(
            a.contains(&self.v4(2, 24)) && a.contains(&self.v6(2, 64)),
            "eth0 lost an address: {a}"
        );
        let r = ip(&["-n", &self.c, "-6", "route"]);
        assert!(r.contains(&self.net6(1)), "{r}");
    }
    fn use_in(&self, b: &mut Bundle) {
        let nss = b.config_mut()["linux"]["namespaces"]
            .as_array_mut()
            .unwrap();
        nss.retain(|x| x["type"] != "network");
        nss.push(
            serde_json::json!({"type": "network", "path": format!("/var/run/netns/{}", self.c)}),
        );
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        for ns in [&self.c, &self.p] {
            let _ = Command::new("ip").args(["netns", "del", ns]).output();
        }
    }
}

#[test]
fn the_guest_has_the_namespaces_ipv4_and_ipv6_addresses_and_routes() {
    let rt = vm_runtime();
    let id = unique_id("vm-routes");
    let t = Net::new(&id);
    let mut b = Bundle::busybox();
    // ping needs CAP_NET_RAW (a raw ICMP socket) in the container.
    for set in ["bounding", "effective", "permitted"] {
        b.config_mut()["process"]["capabilities"][set]
            .as_array_mut()
            .unwrap()
            .push("CAP_NET_RAW".into());
    }
    let far = t.addr6(1, 1);
    let script = format!(
        "echo '== addr6'; ip -6 addr show dev eth0; echo '== route4'; ip route; echo '== route6'; ip -6 route; \
         echo '== mtu'; cat /sys/class/net/eth0/mtu; \
         ping -c1 -W10 {} >/dev/null && echo reached-near6; ping -c1 -W10 {far} >/dev/null && echo reached-far6; \
         ping -c1 -W10 {} >/dev/null && echo reached-near4; \
         echo ready; sleep 1000",
        t.host6(1),
        t.host4(1),
    );
    b.set_args(&["sh", "-c", &script]);
    t.use_in(&mut b);
    b.write_config();
    let _g = rt.guard(&id);

    let io = create_vm(&rt, &["--isolation", "vm"], &b, &id);
    rt.ok(&["start", &id]);
    io.wait_out("ready", Duration::from_secs(180));
    let out = io.out();
    let section = |name: &str| -> String {
        out.split(&format!("== {name}\n"))
            .nth(1)
            .and_then(|s| s.split("== ").next())
            .unwrap_or_else(|| panic!("no {name} section:\n{out}"))
            .to_string()
    };
    let addr6 = section("addr6");
    assert!(
        addr6.contains(&format!("inet6 {} scope global", t.v6(2, 64))),
        "the guest's eth0 has not the namespace's IPv6 address:\n{addr6}"
    );
    // A line of a section with every fragment (busybox's `ip` pads some fields with two spaces: compared with
    // single spaces).
    let has_line = |name: &str, fragments: &[String]| {
        let text = section(name);
        assert!(
            text.lines()
                .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
                .any(|l| fragments.iter().all(|f| l.contains(f.as_str()))),
            "no line with {fragments:?} in the guest's {name}:\n{text}"
        );
    };
    has_line("route4", &[format!("default via {} dev eth0", t.host4(1))]);
    has_line(
        "route4",
        &[
            format!("192.0.2.0/24 via {} dev eth0", t.host4(1)),
            "metric 5".into(),
        ],
    );
    has_line(
        "route4",
        &[
            format!("10.218.{}.0/24 dev eth0", t.n),
            format!("src {}", t.host4(2)),
        ],
    );
    has_line(
        "route6",
        &[
            format!("{} via {} dev eth0", t.net6(1), t.host6(1)),
            "metric 1024".into(),
        ],
    );
    has_line("route6", &[format!("{} dev eth0", t.net6(0))]);
    has_line("route6", &["default via fe80::1 dev eth0".to_string()]);
    assert_eq!(section("mtu").lines().next(), Some("1500"), "{out}");
    for r in ["reached-near6", "reached-far6", "reached-near4"] {
        assert!(out.contains(r), "{r} missing:\n{out}\n{}", io.err());
    }
    // The peer reaches the guest over IPv6 too.
    command_ok(
        Command::new("ip").args([
            "netns",
            "exec",
            &t.p,
            "busybox",
            "ping",
            "-c1",
            "-W10",
            &t.host6(2),
        ]),
        "ping the guest's IPv6 address from the peer",
    );

    rt.ok(&["kill", &id, "KILL"]);
    wait_vm_status(&rt, &id, "stopped");
    rt.ok(&["delete", &id]);
    t.assert_unwired();
    assert_no_trace(&rt, &id, b.path());
}

#[test]
fn a_route_the_guest_cannot_take_fails_create_naming_it() {
    let rt = vm_runtime();
    let id = unique_id("vm-routes-bad");
    let t = Net::new(&id);
    ip(&[
        "-n",
        &t.c,
        "route",
        "add",
        "10.99.0.0/16",
        "via",
        &t.host4(1),
        "table",
        "100",
    ]);
    let mut b = Bundle::busybox();
    b.set_args(&["true"]);
    t.use_in(&mut b);
    b.write_config();
    let _g = rt.guard(&id);

    let out = create_cmd(&rt, &b, &id).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "create succeeded");
    let want = format!(
        "interface eth0: route 10.99.0.0/16 via {} table 100: the guest has only the main routing table",
        t.host4(1)
    );
    let line = err
        .lines()
        .find(|l| l.contains(&want))
        .unwrap_or_else(|| panic!("no `{want}` in create's error:\n{err}"));
    assert!(line.contains("VM network"), "{line}");
    t.assert_unwired();
    assert_no_trace(&rt, &id, b.path());
}
