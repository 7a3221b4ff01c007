//! `kill -9` of a running VM container's qemu (the VMM dies without any cleanup of its own): `delete --force`
//! must still remove everything: the shim, the VMM's cgroup, the state dir, mounts, and the network hand-over
//! (the tap and the tc ingress redirects in the container's network namespace go; the veth keeps its address, as
//! holm_vm::net leaves it for the engine's teardown). The namespace is made
//! here as an engine or CNI would: a veth pair with the container's end (`eth0`, an address) inside it.

mod lifecycle_util;
mod vm_support;

use holm_testkit::{unique_id, wait_until, Bundle};
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

/// A named network namespace with `eth0` (peer of a host-side veth), removed on drop.
struct NetNs {
    name: String,
    host_if: String,
}

impl NetNs {
    fn new(name: &str, host_if: &str, addr: &str) -> NetNs {
        let ns = NetNs {
            name: name.to_string(),
            host_if: host_if.to_string(),
        };
        ip(&["netns", "add", name]);
        ip(&[
            "link", "add", host_if, "type", "veth", "peer", "name", "eth0", "netns", name,
        ]);
        ip(&["-n", name, "addr", "add", addr, "dev", "eth0"]);
        ip(&["-n", name, "link", "set", "eth0", "up"]);
        ip(&["-n", name, "link", "set", "lo", "up"]);
        ip(&["link", "set", host_if, "up"]);
        ns
    }
    fn links(&self) -> String {
        ip(&["-n", &self.name, "-o", "link"])
    }
    fn eth0_addrs(&self) -> String {
        ip(&["-n", &self.name, "-o", "-4", "addr", "show", "dev", "eth0"])
    }
    fn eth0_qdiscs(&self) -> String {
        ip(&[
            "netns", "exec", &self.name, "tc", "qdisc", "show", "dev", "eth0",
        ])
    }
}

impl Drop for NetNs {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["link", "del", &self.host_if])
            .output();
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .output();
    }
}

#[test]
fn delete_force_cleans_up_after_qemu_is_killed() {
    let rt = vm_runtime();
    let id = unique_id("vm-kill9");
    let n = std::process::id() % 250 + 1;
    let addr = format!("10.213.{n}.2/24");
    let ns = NetNs::new(
        &format!("holm-{id}"),
        &format!("hk9-{}", std::process::id()),
        &addr,
    );
    let mut b = Bundle::busybox();
    b.set_args(&[
        "sh",
        "-c",
        "ip -4 -o addr show dev eth0; echo ready; sleep 1000",
    ]);
    let nss = b.config_mut()["linux"]["namespaces"]
        .as_array_mut()
        .unwrap();
    nss.retain(|x| x["type"] != "network");
    nss.push(serde_json::json!({"type": "network", "path": format!("/var/run/netns/holm-{id}")}));
    b.write_config();
    let _g = rt.guard(&id);

    let io = create_vm(&rt, &["--isolation", "vm"], &b, &id);
    rt.ok(&["start", &id]);
    io.wait_out("ready", Duration::from_secs(120));
    // The guest has the container's address on its eth0; on the host side, the namespace has the tap and an
    // ingress redirect on the veth.
    assert!(io.out().contains(&addr), "guest eth0: {}", io.out());
    assert!(
        ns.links().contains("tap0"),
        "no tap in the namespace:\n{}",
        ns.links()
    );
    assert!(
        ns.eth0_qdiscs().contains("ingress"),
        "no ingress redirect on the veth: {}",
        ns.eth0_qdiscs()
    );
    let dir = rt.root().join(&id);
    let shim: i32 = std::fs::read_to_string(dir.join("shim.pid"))
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let (_, qemu) = status(&rt, &id);
    let qemu = qemu as i32;
    assert!(alive(qemu) && alive(shim));

    holm_sys_kill(qemu);
    wait_until(Duration::from_secs(30), "qemu to die", || !alive(qemu));
    wait_vm_status(&rt, &id, "stopped");
    rt.ok(&["delete", "--force", &id]);
    wait_until(Duration::from_secs(10), "the shim to exit", || !alive(shim));
    assert!(
        !ns.links().contains("tap0"),
        "tap left in the namespace:\n{}",
        ns.links()
    );
    assert!(
        !ns.eth0_qdiscs().contains("ingress"),
        "ingress redirect left on the veth: {}",
        ns.eth0_qdiscs()
    );
    assert!(
        ns.eth0_addrs().contains(&addr),
        "the veth lost {addr}: {}",
        ns.eth0_addrs()
    );
    assert_no_trace(&rt, &id, b.path());
}

/// SIGKILL by the `kill` command (the test crate has no unsafe code).
fn holm_sys_kill(pid: i32) {
    let st = Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()
        .unwrap();
    assert!(st.success(), "kill -9 {pid}");
}
