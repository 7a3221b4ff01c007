//! A VM container on two user networks (issue 13), one boot (TCG unless `HOLM_VM_ACCEL` is set): created on `a`,
//! `network connect --alias` to `b` while created (the CLI, and the API's `POST /networks/{id}/connect` and
//! `/disconnect` for a third network; the API's create with two `EndpointsConfig` too), then started: the guest has `eth0` on `a` and `eth1` on `b`, a process
//! container on `b` reaches it by name and by alias and the VM reaches that container by name. While it runs,
//! `network connect`/`disconnect` (CLI and API) are refused with one line saying to stop it first, and nothing
//! changes. Needs what engine_vm.rs needs (root, the guest kernel, `$HOLM_VM_AGENT`, `holm-runtime` built).

mod api_common;
#[path = "../../image/tests/common/mod.rs"]
mod common;
mod engine_common;

use common::images::{busybox_image, docker_archive};
use common::tars::Tar;
use engine_common::Engine;
use serde_json::json;
use std::path::Path;

const IMAGE: &str = "busybox:vmnets";

/// Removes the test's containers and networks (bridges are host-wide) even when it fails.
struct Cleanup<'a> {
    e: &'a Engine,
    containers: Vec<String>,
    networks: Vec<String>,
}

impl Drop for Cleanup<'_> {
    fn drop(&mut self) {
        for c in &self.containers {
            let _ = self.e.run(&["rm", "-f", c]);
        }
        for n in &self.networks {
            let _ = self.e.run(&["network", "rm", n]);
        }
    }
}

/// `holm ARGS` with TCG unless the caller chose; asserts success, returns stdout.
fn vm_ok(e: &Engine, args: &[&str]) -> String {
    let mut c = e.cmd(args);
    if std::env::var_os("HOLM_VM_ACCEL").is_none() {
        c.env("HOLM_VM_ACCEL", "tcg");
    }
    let o = c.output().unwrap();
    assert!(
        o.status.success(),
        "holm {args:?}: {}\n{}",
        o.status,
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// The subnet's first three octets (`10.78.3.`) of network `net`.
fn prefix_of(e: &Engine, net: &str) -> String {
    let v: serde_json::Value = serde_json::from_str(&e.ok(&["network", "inspect", net])).unwrap();
    let subnet = v[0]["IPAM"]["Config"][0]["Subnet"].as_str().unwrap();
    assert!(subnet.ends_with(".0/24"), "{subnet}");
    subnet.trim_end_matches("0/24").to_string()
}

fn networks_of(e: &Engine, c: &str) -> Vec<String> {
    let mut v: Vec<String> = e.inspect(c)["NetworkSettings"]["Networks"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    v.sort();
    v
}

#[test]
fn vm_container_on_two_networks() {
    let holm = Path::new(env!("CARGO_BIN_EXE_holm"));
    assert!(
        holm.parent().unwrap().join("holm-runtime").is_file(),
        "build holm-runtime first (cargo build -p holm-runtime)"
    );
    assert!(
        std::env::var_os("HOLM_VM_AGENT").is_some(),
        "export HOLM_VM_AGENT=\"$(scripts/build-agent.sh)\" (the static guest agent)"
    );
    let api = api_common::Api::new();
    let e = &api.engine;
    let mut t = Tar::new();
    for a in ["ip", "ping", "sleep", "cat"] {
        t.symlink(&format!("bin/{a}"), "busybox");
    }
    let img = busybox_image(json!({"Cmd": ["sh"]}), &[t.bytes()]);
    let archive = e.tmp.path().join("busybox-vmnets.tar");
    std::fs::write(&archive, docker_archive(&[(&img, &[IMAGE])])).unwrap();
    e.ok(&["load", "-i", archive.to_str().unwrap()]);

    let pid = std::process::id();
    let (a, b, c) = (
        format!("vmna{pid}"),
        format!("vmnb{pid}"),
        format!("vmnc{pid}"),
    );
    let (vm, web) = (format!("vm{pid}"), format!("web{pid}"));
    let mut clean = Cleanup {
        e,
        containers: vec![vm.clone(), web.clone()],
        networks: Vec::new(),
    };
    for n in [&a, &b, &c] {
        e.ok(&["network", "create", n]);
        clean.networks.push(n.clone());
    }
    let (pa, pb) = (prefix_of(e, &a), prefix_of(e, &b));

    vm_ok(
        e,
        &[
            "create",
            "--isolation",
            "vm",
            "--name",
            &vm,
            "--network",
            &a,
            IMAGE,
            "sleep",
            "1000",
        ],
    );
    // Created: connect is recorded for the next boot (CLI with an alias; the API for a third network, then the
    // API's disconnect of it).
    e.ok(&["network", "connect", "--alias", "vmalias", &b, &vm]);
    let body = format!(r#"{{"Container":"{vm}"}}"#);
    for verb in ["connect", "disconnect"] {
        let (status, _, resp) = api.raw(
            "POST",
            &format!("/networks/{c}/{verb}"),
            &[("Content-Type", "application/json")],
            body.as_bytes(),
        );
        assert_eq!(
            status,
            200,
            "API {verb} of a created VM: {}",
            String::from_utf8_lossy(&resp)
        );
    }
    let mut want = vec![a.clone(), b.clone()];
    want.sort();
    assert_eq!(networks_of(e, &vm), want);

    // The API's create with two networks (docker ≥ API 1.44's `run --network a --network b`): both recorded.
    let two = format!("vm2{pid}");
    clean.containers.push(two.clone());
    let create = json!({
        "Image": IMAGE,
        "Cmd": ["true"],
        "HostConfig": {"Isolation": "vm", "NetworkMode": a},
        "NetworkingConfig": {"EndpointsConfig": {a.as_str(): {}, b.as_str(): {}}},
    });
    let (status, _, resp) = api.raw(
        "POST",
        &format!("/containers/create?name={two}"),
        &[("Content-Type", "application/json")],
        create.to_string().as_bytes(),
    );
    assert_eq!(
        status,
        201,
        "API create of a VM on two networks: {}",
        String::from_utf8_lossy(&resp)
    );
    assert_eq!(networks_of(e, &two), want);
    e.ok(&["rm", &two]);

    e.ok(&[
        "run",
        "-d",
        "--name",
        &web,
        "--network",
        &b,
        IMAGE,
        "sleep",
        "1000",
    ]);
    vm_ok(e, &["start", &vm]);
    e.wait_status(&vm, "running");

    // The guest: eth0 on a (the default route), eth1 on b.
    let addrs = e.ok(&["exec", &vm, "ip", "-o", "-4", "addr"]);
    let on = |eth: &str, prefix: &str| {
        addrs
            .lines()
            .any(|l| l.contains(&format!(" {eth} ")) && l.contains(&format!("inet {prefix}")))
    };
    assert!(
        on("eth0", &pa) && on("eth1", &pb),
        "guest addresses:\n{addrs}"
    );
    let routes = e.ok(&["exec", &vm, "ip", "route"]);
    assert!(
        routes.contains(&format!("default via {pa}1 dev eth0")),
        "{routes}"
    );
    // Reachable both ways on b, by name and alias (b's name server), and the VM resolves the container on b.
    for target in [vm.as_str(), "vmalias"] {
        e.ok(&["exec", &web, "ping", "-c", "1", "-W", "10", target]);
    }
    e.ok(&["exec", &vm, "ping", "-c", "1", "-W", "10", &web]);

    // Running: connect and disconnect are refused, one line, exit 1, nothing changed; the API says the same.
    for args in [
        ["network", "connect", c.as_str(), vm.as_str()],
        ["network", "disconnect", b.as_str(), vm.as_str()],
    ] {
        let (_, se) = e.code(1, &args);
        assert_eq!(se.trim().lines().count(), 1, "{se}");
        assert!(
            se.contains("running VM cannot add or remove a NIC") && se.contains("stop it first"),
            "{se}"
        );
    }
    for (net, verb) in [(&c, "connect"), (&b, "disconnect")] {
        let (status, _, resp) = api.raw(
            "POST",
            &format!("/networks/{net}/{verb}"),
            &[("Content-Type", "application/json")],
            body.as_bytes(),
        );
        let resp = String::from_utf8_lossy(&resp);
        assert_eq!(status, 403, "API {verb} of a running VM: {resp}");
        assert!(resp.contains("stop it first"), "{resp}");
    }
    assert_eq!(networks_of(e, &vm), want);
    let addrs = e.ok(&["exec", &vm, "ip", "-o", "-4", "addr"]);
    assert!(
        !addrs.contains(" eth2 "),
        "a NIC appeared in the guest:\n{addrs}"
    );

    e.ok(&["rm", "-f", &vm, &web]);
    for n in [&a, &b, &c] {
        e.ok(&["network", "rm", n]);
    }
    clean.containers.clear();
    clean.networks.clear();
}
