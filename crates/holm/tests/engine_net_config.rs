//! A container's network config through `network connect`/`disconnect`/`rm` (process containers; the config
//! logic is the same for VM containers), as docker: disconnecting the primary network of a container on several
//! keeps it on the others (the next one becomes its primary, eth0 at the start); off its last network a later
//! `connect` works (a `--network none` container is still refused); `network disconnect -f` of a network removed
//! while a created container was on it cleans the container's config so that it starts; the API's create with an
//! unknown network in `EndpointsConfig` is docker's 404 at create, nothing left.

mod api_common;
#[path = "../../image/tests/common/mod.rs"]
mod common;
mod engine_common;

use common::images::{busybox_image, docker_archive};
use common::tars::Tar;
use engine_common::Engine;
use serde_json::json;

const IMAGE: &str = "busybox:netcfg";

/// Removes the test's containers and then its networks (bridges are host-wide) even when it fails.
struct Cleanup<'a> {
    e: &'a Engine,
    networks: Vec<String>,
}

impl Drop for Cleanup<'_> {
    fn drop(&mut self) {
        if let Ok(o) = self.e.cmd(&["ps", "-aq", "--no-trunc"]).output() {
            for id in String::from_utf8_lossy(&o.stdout).split_whitespace() {
                let _ = self.e.run(&["rm", "-f", id]);
            }
        }
        for n in &self.networks {
            let _ = self.e.run(&["network", "rm", n]);
        }
    }
}

/// The subnet's first three octets (`10.78.3.`) of network `net`.
fn prefix_of(e: &Engine, net: &str) -> String {
    let v: serde_json::Value = serde_json::from_str(&e.ok(&["network", "inspect", net])).unwrap();
    let subnet = v[0]["IPAM"]["Config"][0]["Subnet"].as_str().unwrap();
    assert!(subnet.ends_with(".0/24"), "{subnet}");
    subnet.trim_end_matches("0/24").to_string()
}

fn mode(e: &Engine, c: &str) -> String {
    e.inspect(c)["HostConfig"]["NetworkMode"]
        .as_str()
        .unwrap()
        .to_string()
}

/// An API service and engine with [`IMAGE`] loaded.
fn setup() -> api_common::Api {
    let api = api_common::Api::new();
    let e = &api.engine;
    let mut t = Tar::new();
    for a in ["ip", "sleep"] {
        t.symlink(&format!("bin/{a}"), "busybox");
    }
    let img = busybox_image(json!({"Cmd": ["sh"]}), &[t.bytes()]);
    let archive = e.tmp.path().join("busybox-netcfg.tar");
    std::fs::write(&archive, docker_archive(&[(&img, &[IMAGE])])).unwrap();
    e.ok(&["load", "-i", archive.to_str().unwrap()]);
    api
}

/// `network create` of networks named `ncfg<tag><k><pid>`, recorded for removal.
fn networks(clean: &mut Cleanup, tag: &str, n: usize) -> Vec<String> {
    let pid = std::process::id();
    (0..n)
        .map(|k| {
            let name = format!("ncfg{tag}{k}n{pid}");
            clean.e.ok(&["network", "create", &name]);
            clean.networks.push(name.clone());
            name
        })
        .collect()
}

fn addrs(e: &Engine, ctr: &str) -> String {
    e.ok(&["exec", ctr, "ip", "-o", "-4", "addr"])
}

#[test]
fn disconnect_of_the_primary_keeps_the_others_and_connect_after_the_last_works() {
    let api = setup();
    let e = &api.engine;
    let pid = std::process::id();
    let mut clean = Cleanup {
        e,
        networks: Vec::new(),
    };
    let [a, b, c] = <[String; 3]>::try_from(networks(&mut clean, "p", 3)).unwrap();
    let (pb, pc) = (prefix_of(e, &b), prefix_of(e, &c));
    let addrs = |ctr: &str| addrs(e, ctr);

    // Created on a, connected to b, disconnected from a: still on b (its primary now), which it has at the start.
    let one = format!("one{pid}");
    e.ok(&[
        "create",
        "--name",
        &one,
        "--network",
        &a,
        IMAGE,
        "sleep",
        "300",
    ]);
    e.ok(&["network", "connect", "--alias", "bee", &b, &one]);
    // The predefined networks are refused as by `connect`, naming them (was: "network bridge not found").
    let (_, err) = e.code(1, &["network", "disconnect", "bridge", &one]);
    assert_eq!(
        err.trim(),
        "Error: holm disconnects containers from user networks only (bridge is predefined)"
    );
    e.ok(&["network", "disconnect", &a, &one]);
    assert_eq!(
        mode(e, &one),
        b,
        "disconnecting the primary dropped the others"
    );
    e.ok(&["start", &one]);
    let got = addrs(&one);
    assert!(got.contains(&format!("eth0    inet {pb}")), "{got}");
    assert!(!got.contains("eth1"), "{got}");
    // Off its last network (while it runs): connect works again, the new network is its primary.
    e.ok(&["network", "disconnect", &b, &one]);
    assert!(!addrs(&one).contains("eth0"), "{}", addrs(&one));
    e.ok(&["network", "connect", &c, &one]);
    assert!(
        addrs(&one).contains(&format!("inet {pc}")),
        "{}",
        addrs(&one)
    );
    assert_eq!(mode(e, &one), c);
    e.ok(&["rm", "-f", &one]);
    // Created off its only network, connected again: it starts on the new one.
    let two = format!("two{pid}");
    e.ok(&[
        "create",
        "--name",
        &two,
        "--network",
        &b,
        IMAGE,
        "sleep",
        "300",
    ]);
    e.ok(&["network", "disconnect", &b, &two]);
    e.ok(&["network", "connect", &c, &two]);
    e.ok(&["start", &two]);
    assert!(
        addrs(&two).contains(&format!("eth0    inet {pc}")),
        "{}",
        addrs(&two)
    );
    e.ok(&["rm", "-f", &two]);
    // `--network none` is still refused (docker's message).
    let private = format!("private{pid}");
    e.ok(&["create", "--name", &private, "--network", "none", IMAGE]);
    let (_, err) = e.code(1, &["network", "connect", &c, &private]);
    assert!(err.contains("private (none) mode"), "{err}");
}

#[test]
fn disconnect_force_cleans_a_removed_network_from_the_config() {
    let api = setup();
    let e = &api.engine;
    let pid = std::process::id();
    let mut clean = Cleanup {
        e,
        networks: Vec::new(),
    };
    let [b, d] = <[String; 2]>::try_from(networks(&mut clean, "r", 2)).unwrap();
    let pb = prefix_of(e, &b);
    let addrs = |ctr: &str| addrs(e, ctr);
    // A network removed while created containers are on it (docker allows it: no active endpoint); disconnect -f
    // of the missing network cleans their config: the one only on it starts with no network, the other stays on b.
    let (lone, pair) = (format!("lone{pid}"), format!("pair{pid}"));
    e.ok(&[
        "create",
        "--name",
        &lone,
        "--network",
        &d,
        IMAGE,
        "sleep",
        "300",
    ]);
    e.ok(&[
        "create",
        "--name",
        &pair,
        "--network",
        &b,
        IMAGE,
        "sleep",
        "300",
    ]);
    e.ok(&["network", "connect", &d, &pair]);
    e.ok(&["network", "rm", &d]);
    for ctr in [&lone, &pair] {
        e.ok(&["network", "disconnect", "-f", &d, ctr]);
        e.ok(&["start", ctr]);
    }
    assert!(!addrs(&lone).contains("eth"), "{}", addrs(&lone));
    let got = addrs(&pair);
    assert!(got.contains(&format!("eth0    inet {pb}")), "{got}");
    assert!(!got.contains("eth1"), "{got}");
    // -f of a network neither existing nor on the container: nothing to do, exit 0.
    e.ok(&["network", "disconnect", "-f", &d, &pair]);
}

#[test]
fn api_create_with_an_unknown_network_is_404() {
    let api = setup();
    let e = &api.engine;
    let pid = std::process::id();
    let mut clean = Cleanup {
        e,
        networks: Vec::new(),
    };
    let b = networks(&mut clean, "u", 1).remove(0);
    // The API's create with an unknown network among EndpointsConfig: docker's 404 at create, nothing left.
    let missing = format!("nosuch{pid}");
    let name = format!("api{pid}");
    let body = json!({
        "Image": IMAGE,
        "Cmd": ["true"],
        "HostConfig": {"NetworkMode": b},
        "NetworkingConfig": {"EndpointsConfig": {b.as_str(): {}, missing.as_str(): {}}},
    });
    let (status, _, resp) = api.raw(
        "POST",
        &format!("/containers/create?name={name}"),
        &[("Content-Type", "application/json")],
        body.to_string().as_bytes(),
    );
    let msg = api_common::json(&resp)["message"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert_eq!(status, 404, "{}", String::from_utf8_lossy(&resp));
    assert_eq!(msg, format!("network {missing} not found"));
    let all = e.ok(&["ps", "-a", "--format", "{{.Names}}"]);
    assert!(!all.lines().any(|l| l == name), "{all}");
}
