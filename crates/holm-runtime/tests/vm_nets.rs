//! A VM container whose network namespace has two interfaces (as a container on two networks: `eth0` with the
//! default route, and `net1`) gets two NICs with the same names, MACs and addresses, each reachable from its own
//! peer; `delete` unwires both. A failure wiring the second interface leaves nothing behind: no tap, no ingress
//! qdisc, the addresses in place, no state. The namespaces are made here as an engine would: the container's
//! `eth0`/`net1` are veth peers of `p0`/`p1` in a second namespace (the peers), so the subnets never meet the
//! host's routes and parallel runs cannot collide.

mod lifecycle_util;
mod vm_support;

use holm_testkit::{unique_id, Bundle};
use lifecycle_util::*;
use std::process::Command;
use std::time::Duration;
use vm_support::*;

fn ip(args: &[&str]) -> String {
    command_ok(
        Command::new("ip").args(args),
        &format!("ip {}", args.join(" ")),
    )
}

/// The container's namespace `c` (interfaces `eth0` 10.216.N.2/24 with the default route via 10.216.N.1, and
/// `net1` 10.217.N.2/24) and the peers' namespace `p` (`p0` 10.216.N.1, `p1` 10.217.N.1); both removed on drop.
struct TwoNets {
    c: String,
    p: String,
    n: u32,
}

const MACS: [&str; 2] = ["02:42:0a:d8:00:02", "02:42:0a:d9:00:02"];
/// The container's interface names. The second is not `eth1`, so the guest's agent must rename the NIC it
/// finds by MAC (the guest kernel calls it `eth1`).
const ETHS: [&str; 2] = ["eth0", "net1"];

impl TwoNets {
    fn new(id: &str) -> TwoNets {
        let t = TwoNets {
            c: format!("holm-{id}"),
            p: format!("holm-{id}-p"),
            n: std::process::id() % 250 + 1,
        };
        ip(&["netns", "add", &t.c]);
        ip(&["netns", "add", &t.p]);
        for (i, eth) in ETHS.iter().enumerate() {
            let (peer, eth) = (format!("p{i}"), eth.to_string());
            ip(&[
                "-n", &t.p, "link", "add", &peer, "type", "veth", "peer", "name", &eth, "netns",
                &t.c,
            ]);
            ip(&["-n", &t.c, "link", "set", &eth, "address", MACS[i]]);
            ip(&["-n", &t.c, "addr", "add", &t.addr(i, 2), "dev", &eth]);
            ip(&["-n", &t.p, "addr", "add", &t.addr(i, 1), "dev", &peer]);
            ip(&["-n", &t.c, "link", "set", &eth, "up"]);
            ip(&["-n", &t.p, "link", "set", &peer, "up"]);
        }
        ip(&["-n", &t.c, "link", "set", "lo", "up"]);
        ip(&[
            "-n",
            &t.c,
            "route",
            "add",
            "default",
            "via",
            &t.host(0, 1),
            "dev",
            "eth0",
        ]);
        t
    }
    /// `10.21{6+i}.N.h/24`.
    fn addr(&self, i: usize, h: u32) -> String {
        format!("{}/24", self.host(i, h))
    }
    fn host(&self, i: usize, h: u32) -> String {
        format!("10.{}.{}.{h}", 216 + i, self.n)
    }
    fn links(&self) -> String {
        ip(&["-n", &self.c, "-o", "link"])
    }
    fn addrs(&self, eth: &str) -> String {
        ip(&["-n", &self.c, "-o", "-4", "addr", "show", "dev", eth])
    }
    fn qdiscs(&self, eth: &str) -> String {
        command_ok(
            Command::new("ip").args(["netns", "exec", &self.c, "tc", "qdisc", "show", "dev", eth]),
            "tc qdisc show",
        )
    }
    /// Nothing of a wiring is left: no tap, no ingress qdisc, both addresses and the default route in place.
    fn assert_unwired(&self) {
        let links = self.links();
        assert!(
            !links.contains("tap0") && !links.contains("tap1"),
            "tap left in the namespace:\n{links}"
        );
        for (i, eth) in ETHS.iter().enumerate() {
            let q = self.qdiscs(eth);
            assert!(!q.contains("ingress"), "ingress qdisc left on {eth}: {q}");
            let a = self.addrs(eth);
            assert!(a.contains(&self.addr(i, 2)), "{eth} lost its address: {a}");
        }
        let r = ip(&["-n", &self.c, "route", "show", "default"]);
        assert!(r.contains(&self.host(0, 1)), "default route lost: {r}");
    }
    /// The container's network namespace entry for config.json.
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

impl Drop for TwoNets {
    fn drop(&mut self) {
        for ns in [&self.c, &self.p] {
            let _ = Command::new("ip").args(["netns", "del", ns]).output();
        }
    }
}

#[test]
fn two_interfaces_become_two_nics() {
    let rt = vm_runtime();
    let id = unique_id("vm-nets");
    let t = TwoNets::new(&id);
    let mut b = Bundle::busybox();
    // ping needs CAP_NET_RAW (a raw ICMP socket) in the container.
    for set in ["bounding", "effective", "permitted"] {
        b.config_mut()["process"]["capabilities"][set]
            .as_array_mut()
            .unwrap()
            .push("CAP_NET_RAW".into());
    }
    let script = format!(
        "ip -o link; ip -o -4 addr; ip route; \
         ping -c1 -W10 {} >/dev/null && echo reached0; ping -c1 -W10 {} >/dev/null && echo reached1; \
         echo ready; sleep 1000",
        t.host(0, 1),
        t.host(1, 1)
    );
    b.set_args(&["sh", "-c", &script]);
    t.use_in(&mut b);
    b.write_config();
    let _g = rt.guard(&id);

    let io = create_vm(&rt, &["--isolation", "vm"], &b, &id);
    // Both taps exist, each veth redirects to one.
    let links = t.links();
    assert!(
        links.contains("tap0") && links.contains("tap1"),
        "taps:\n{links}"
    );
    for eth in ETHS {
        assert!(
            t.qdiscs(eth).contains("ingress"),
            "no ingress redirect on {eth}: {}",
            t.qdiscs(eth)
        );
    }
    rt.ok(&["start", &id]);
    io.wait_out("ready", Duration::from_secs(180));
    let out = io.out();
    // The guest's eth0 and net1 have the veths' MACs and addresses, the default route is on eth0.
    for (i, (mac, eth)) in MACS.iter().zip(ETHS).enumerate() {
        let link = out
            .lines()
            .find(|l| l.contains(&format!(": {eth}:")))
            .unwrap_or_else(|| panic!("no {eth} in the guest:\n{out}"));
        assert!(link.contains(mac), "guest {eth} has not {mac}: {link}");
        let addr = out
            .lines()
            .find(|l| l.contains(&format!(" {eth} ")) && l.contains("inet "))
            .unwrap_or_else(|| panic!("no address on the guest's {eth}:\n{out}"));
        assert!(addr.contains(&t.addr(i, 2)), "guest {eth}: {addr}");
    }
    assert!(
        out.contains(&format!("default via {} dev eth0", t.host(0, 1))),
        "guest default route:\n{out}"
    );
    // The guest reached each peer, and each peer reaches the guest.
    assert!(
        out.contains("reached0") && out.contains("reached1"),
        "the guest did not reach both peers:\n{out}\n{}",
        io.err()
    );
    for (i, eth) in ETHS.iter().enumerate() {
        command_ok(
            Command::new("ip").args([
                "netns",
                "exec",
                &t.p,
                "busybox",
                "ping",
                "-c1",
                "-W10",
                &t.host(i, 2),
            ]),
            &format!("ping the guest's {eth} from its peer"),
        );
    }

    rt.ok(&["kill", &id, "KILL"]);
    wait_vm_status(&rt, &id, "stopped");
    rt.ok(&["delete", &id]);
    t.assert_unwired();
    assert_no_trace(&rt, &id, b.path());
}

#[test]
fn failure_wiring_the_second_interface_undoes_the_first() {
    let rt = vm_runtime();
    let id = unique_id("vm-nets-fail");
    let t = TwoNets::new(&id);
    // A tap cannot take a 65535-byte MTU (at most 65521): wiring net1 fails after eth0's is done.
    ip(&["-n", &t.c, "link", "set", ETHS[1], "mtu", "65535"]);
    let mut b = Bundle::busybox();
    b.set_args(&["true"]);
    t.use_in(&mut b);
    b.write_config();
    let _g = rt.guard(&id);

    let out = create_cmd(&rt, &b, &id).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "create succeeded");
    assert!(
        err.contains("VM network") && err.contains("tap1"),
        "create's error should name the network step and tap1: {err}"
    );
    t.assert_unwired();
    assert_no_trace(&rt, &id, b.path());
}

/// A container that joins its caller's own network namespace (a CRI pod on the node's network joins its VM
/// sandbox's, the host's): none of the host's interfaces is handed over (no tap, no ingress redirect on the
/// host's interfaces), the guest has only `lo`.
#[test]
fn the_callers_own_namespace_is_not_wired() {
    let rt = vm_runtime();
    let id = unique_id("vm-nets-own");
    let mut b = Bundle::busybox();
    b.set_args(&["sh", "-c", "ip -o link; echo ready; sleep 1000"]);
    let nss = b.config_mut()["linux"]["namespaces"]
        .as_array_mut()
        .unwrap();
    nss.retain(|x| x["type"] != "network");
    nss.push(serde_json::json!({"type": "network", "path": "/proc/self/ns/net"}));
    b.write_config();
    let _g = rt.guard(&id);
    let io = create_vm(&rt, &["--isolation", "vm"], &b, &id);
    let vmm = status(&rt, &id).1;
    let links = command_ok(Command::new("ip").args(["-o", "link"]), "ip -o link (host)");
    let qdiscs = command_ok(Command::new("tc").args(["qdisc", "show"]), "tc qdisc show");
    let joined = std::fs::read_link(format!("/proc/{vmm}/ns/net")).unwrap();
    let ours = std::fs::read_link("/proc/self/ns/net").unwrap();
    rt.ok(&["start", &id]);
    io.wait_out("ready", Duration::from_secs(180));
    rt.ok(&["kill", &id, "KILL"]);
    wait_vm_status(&rt, &id, "stopped");
    rt.ok(&["delete", &id]);
    assert_eq!(joined, ours, "the VMM is not in the caller's namespace");
    assert!(
        !links.lines().any(|l| l.contains(": tap0:")),
        "a tap in the host's namespace:\n{links}"
    );
    assert!(
        !qdiscs.contains("ingress"),
        "an ingress qdisc on a host interface:\n{qdiscs}"
    );
    let out = io.out();
    let nics: Vec<&str> = out.lines().filter(|l| l.contains("link/ether")).collect();
    assert!(nics.is_empty(), "the guest got NICs: {nics:?}\n{out}");
    assert_no_trace(&rt, &id, b.path());
}
