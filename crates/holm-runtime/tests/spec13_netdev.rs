//! Issue 11, runtime-spec 1.3 `linux.netDevices`: a veth interface made on the host for the test (this kernel has
//! no `dummy` driver; the peer stays on the host) is moved into
//! the container's network namespace under its new name, up, with its permanent address; it leaves the host, and
//! the kernel destroys it with the namespace. Errors name the field.

mod isolation_support;

use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

use holm_testkit::Bundle;
use isolation_support::*;
use serde_json::json;

/// A veth pair on the host with unique names (≤ 15 bytes), deleted on drop if still there.
struct Dummy(String);

impl Dummy {
    fn new(addr: &str) -> Dummy {
        static N: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "hd{}x{}",
            std::process::id() % 1_000_000,
            N.fetch_add(1, Ordering::SeqCst)
        );
        let peer = format!("{name}p");
        ip(&["link", "add", &name, "type", "veth", "peer", "name", &peer]);
        let d = Dummy(name);
        ip(&["addr", "add", addr, "dev", &d.0]);
        d
    }

    fn on_host(&self) -> bool {
        Command::new("ip")
            .args(["link", "show", &self.0])
            .output()
            .unwrap()
            .status
            .success()
    }
}

impl Drop for Dummy {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["link", "del", &self.0]).output();
        let _ = Command::new("ip")
            .args(["link", "del", &format!("{}p", self.0)])
            .output();
    }
}

fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().unwrap();
    assert!(
        out.status.success(),
        "ip {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_host_device_moves_in_renamed_up_with_its_address() {
    let rt = runtime();
    let d = Dummy::new("10.213.7.9/24");
    let t = Dummy::new("10.213.6.9/24");
    let mut b = Bundle::busybox();
    // A `%d` template: the kernel picks the number.
    b.config_mut()["linux"]["netDevices"] =
        json!({ d.0.clone(): { "name": "ctr0" }, t.0.clone(): { "name": "tpl%d" } });
    let out = run_script(
        &rt,
        &mut b,
        "netdev",
        "echo \"flags=$(cat /sys/class/net/ctr0/flags)\"; \
         echo \"addr=$(ip -4 addr show dev ctr0 | grep -o 'inet [0-9./]*')\"; \
         echo \"links=$(ls /sys/class/net | tr '\\n' ' ')\"",
    );
    let flags = u32::from_str_radix(value_of(&out, "flags").trim_start_matches("0x"), 16).unwrap();
    assert_eq!(flags & 1, 1, "IFF_UP not set: {out}");
    assert_eq!(value_of(&out, "addr"), "inet 10.213.7.9/24", "{out}");
    let links = value_of(&out, "links");
    assert!(!links.contains(&d.0), "{out}");
    assert!(links.split(' ').any(|l| l == "tpl0"), "{out}");
    // The namespace died with the container: a virtual device is destroyed with it, never moved back.
    assert!(!d.on_host(), "{} came back to the host", d.0);
}

#[test]
fn the_device_leaves_the_host_while_the_container_runs() {
    let rt = runtime();
    let d = Dummy::new("10.213.8.9/24");
    let mut b = Bundle::busybox();
    b.set_args(&["sleep", "1000"]);
    // No `name`: the host name is kept.
    b.config_mut()["linux"]["netDevices"] = json!({ d.0.clone(): {} });
    b.write_config();
    let id = holm_testkit::unique_id("netdev-run");
    let _g = rt.guard(&id);
    rt.ok(&[
        "run",
        "--detach",
        "--bundle",
        b.path().to_str().unwrap(),
        &id,
    ]);
    assert!(!d.on_host(), "{} is still on the host", d.0);
    let pid = rt.state(&id)["pid"].as_i64().unwrap().to_string();
    let out = Command::new("nsenter")
        .args(["-t", &pid, "-n", "ip", "-o", "link", "show", &d.0])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    rt.ok(&["delete", "--force", &id]);
}

#[test]
fn bad_net_devices_name_the_field() {
    let rt = runtime();
    let d = Dummy::new("10.213.9.9/24");
    let cases = [
        (
            json!({ "nosuchdev9q": {} }),
            true,
            "linux.netDevices.nosuchdev9q",
        ),
        (
            json!({ d.0.clone(): { "name": "lo" } }),
            true,
            format!("linux.netDevices.{}", d.0).leak() as &str,
        ),
        (json!({ d.0.clone(): { "name": "a/b" } }), true, "name"),
        (json!({ d.0.clone(): {} }), false, "network namespace"),
    ];
    for (devs, netns, field) in cases {
        let mut b = Bundle::busybox();
        if !netns {
            remove_ns(&mut b, "network");
        }
        b.config_mut()["linux"]["netDevices"] = devs.clone();
        let out = run_script_output(&rt, &mut b, "netdev-bad", "true");
        assert!(!out.status.success(), "{devs}: {}", describe(&out));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(field), "{devs}: wanted {field}: {err}");
        // A refused or failed create leaves the device on the host.
        assert!(d.on_host(), "{devs}: {} vanished", d.0);
    }
    // Two devices, the second (in the runtime's order: by name) refused before any move, or failing its move (a
    // bridge cannot change namespace; its name sorts after the veths'): the first stays on the host or is moved
    // back with its address (left inside, it would have died with the namespace).
    let e = Dummy::new("10.213.9.10/24");
    let (first, second) = if d.0 < e.0 { (&d, &e) } else { (&e, &d) };
    let bridge = Dummy(format!("hz{}", std::process::id() % 1_000_000));
    ip(&["link", "add", &bridge.0, "type", "bridge"]);
    for (devs, want) in [
        (
            json!({ first.0.clone(): { "name": "ok0" }, second.0.clone(): { "name": "lo" } }),
            format!("linux.netDevices.{}.name`: \"lo\" already exists", second.0),
        ),
        (
            json!({ first.0.clone(): { "name": "ok0" }, bridge.0.clone(): {} }),
            format!("linux.netDevices.{}`: move into the container", bridge.0),
        ),
    ] {
        let mut b = Bundle::busybox();
        b.config_mut()["linux"]["netDevices"] = devs.clone();
        let out = run_script_output(&rt, &mut b, "netdev-two", "true");
        assert!(!out.status.success(), "{devs}: {}", describe(&out));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(&want), "{devs}: wanted {want}: {err}");
        assert!(
            first.on_host() && second.on_host() && bridge.on_host(),
            "{devs}: a device vanished: {err}"
        );
        let addr = Command::new("ip")
            .args(["-4", "-o", "addr", "show", "dev", &first.0])
            .output()
            .unwrap();
        let want_addr = if first.0 == d.0 {
            "10.213.9.9/24"
        } else {
            "10.213.9.10/24"
        };
        assert!(
            String::from_utf8_lossy(&addr.stdout).contains(want_addr),
            "{devs}: address of {} lost: {}",
            first.0,
            String::from_utf8_lossy(&addr.stdout)
        );
    }
}

/// A named network namespace (`ip netns add`) with a unique name, deleted on drop (which destroys the devices
/// left in it).
struct NetNs(String);

impl Drop for NetNs {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).output();
    }
}

/// In a joined namespace the host index of a moved device can be taken; the kernel then gives it a new one. The
/// address and the link-up go to the moved device (found by its name inside), never to the namespace's own
/// device that happens to have the host index.
#[test]
fn in_a_joined_namespace_whose_index_is_taken_the_moved_device_gets_its_address() {
    let rt = runtime();
    let d = Dummy::new("10.213.10.9/24");
    let t = Dummy::new("10.213.11.9/24");
    let ns = NetNs(format!("hn{}", holm_testkit::unique_id("nd")));
    ip(&["netns", "add", &ns.0]);
    // Devices inside the namespace with the host indexes of both devices.
    for (k, dev) in [&d, &t].into_iter().enumerate() {
        let index = std::fs::read_to_string(format!("/sys/class/net/{}/ifindex", dev.0)).unwrap();
        let (a, b) = (format!("taken{k}"), format!("taken{k}p"));
        ip(&[
            "-n",
            &ns.0,
            "link",
            "add",
            &a,
            "index",
            index.trim(),
            "type",
            "veth",
            "peer",
            "name",
            &b,
        ]);
    }
    let mut b = Bundle::busybox();
    for n in namespaces(&mut b).iter_mut() {
        if n["type"] == "network" {
            n["path"] = json!(format!("/run/netns/{}", ns.0));
        }
    }
    b.config_mut()["linux"]["netDevices"] =
        json!({ d.0.clone(): { "name": "ctr0" }, t.0.clone(): { "name": "tpl%d" } });
    let out = run_script(
        &rt,
        &mut b,
        "netdev-joined",
        "for l in ctr0 tpl0 taken0 taken1; do \
           echo \"$l=$(cat /sys/class/net/$l/flags) $(ip -4 addr show dev $l | grep -o 'inet [0-9./]*')\"; \
         done",
    );
    for (link, want) in [
        ("ctr0", Some("inet 10.213.10.9/24")),
        ("tpl0", Some("inet 10.213.11.9/24")),
        ("taken0", None),
        ("taken1", None),
    ] {
        let v = value_of(&out, link);
        let (flags, addr) = v.split_once(' ').unwrap_or((&v, ""));
        let up = u32::from_str_radix(flags.trim_start_matches("0x"), 16).unwrap() & 1 == 1;
        assert_eq!(up, want.is_some(), "{link} up={up}:\n{out}");
        assert_eq!(addr.trim(), want.unwrap_or(""), "{link}:\n{out}");
    }
}
