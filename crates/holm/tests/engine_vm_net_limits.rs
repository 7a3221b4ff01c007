//! `network connect`/`disconnect` of a VM container whose `holm start` is under way (its monitor runs, the guest
//! boots with the NICs of the config it read) is refused like that of a running one, nothing changed; and the
//! microvm's virtio-mmio limit (8 devices: console, balloon, shared directories, NICs) is checked at `network
//! connect` and at the API's create with several networks, one line naming it. One boot (TCG unless
//! `HOLM_VM_ACCEL` is set). Needs what engine_vm.rs needs (root, the guest kernel, `$HOLM_VM_AGENT`,
//! `holm-runtime` built).

mod api_common;
#[path = "../../image/tests/common/mod.rs"]
mod common;
mod engine_common;

use common::images::{busybox_image, docker_archive};
use common::tars::Tar;
use engine_common::Engine;
use serde_json::json;
use std::path::Path;
use std::time::{Duration, Instant};

const IMAGE: &str = "busybox:vmlimits";

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
fn vm_nics_fixed_while_starting_and_limited() {
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
    t.symlink("bin/sleep", "busybox");
    let img = busybox_image(json!({"Cmd": ["sh"]}), &[t.bytes()]);
    let archive = e.tmp.path().join("busybox-vmlimits.tar");
    std::fs::write(&archive, docker_archive(&[(&img, &[IMAGE])])).unwrap();
    e.ok(&["load", "-i", archive.to_str().unwrap()]);

    let pid = std::process::id();
    let nets: Vec<String> = (0..6).map(|k| format!("vml{k}n{pid}")).collect();
    let (vm, many) = (format!("vml{pid}"), format!("vmlmany{pid}"));
    let mut clean = Cleanup {
        e,
        containers: vec![vm.clone(), many.clone()],
        networks: Vec::new(),
    };
    for n in &nets {
        e.ok(&["network", "create", n]);
        clean.networks.push(n.clone());
    }

    // The limit: on nets[0], the rootfs and the /etc files (2 shares) + console + balloon = 5 devices, so 3 more
    // networks fit and a fourth is refused at connect, one line, nothing changed.
    e.ok(&[
        "create",
        "--isolation",
        "vm",
        "--name",
        &vm,
        "--network",
        &nets[0],
        IMAGE,
        "sleep",
        "300",
    ]);
    for n in &nets[1..4] {
        e.ok(&["network", "connect", n, &vm]);
    }
    let (_, err) = e.code(1, &["network", "connect", &nets[4], &vm]);
    assert!(
        err.contains(
            "VM devices: 5 network interface(s) and 2 shared directories need 9 virtio-mmio devices with the \
             console and the balloon; the microvm has 8"
        ),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert_eq!(networks_of(e, &vm).len(), 4);
    // The API's create of a VM with five networks: refused at create, nothing left.
    let eps: serde_json::Map<String, serde_json::Value> =
        nets[..5].iter().map(|n| (n.clone(), json!({}))).collect();
    let body = json!({
        "Image": IMAGE,
        "Cmd": ["true"],
        "HostConfig": {"Isolation": "vm", "NetworkMode": nets[0]},
        "NetworkingConfig": {"EndpointsConfig": eps},
    });
    let (status, _, resp) = api.raw(
        "POST",
        &format!("/containers/create?name={many}"),
        &[("Content-Type", "application/json")],
        body.to_string().as_bytes(),
    );
    let text = String::from_utf8_lossy(&resp);
    assert!((400..500).contains(&status), "{status} {text}");
    assert!(
        text.contains("VM devices: 5 network interface(s)"),
        "{text}"
    );
    let all = e.ok(&["ps", "-a", "--format", "{{.Names}}"]);
    assert!(!all.lines().any(|l| l == many), "{all}");

    // Back to two networks; then, while `holm start` boots the VM (its monitor runs), connect and disconnect are
    // refused (they wait for the start, then see it live) and the guest's NICs are what it booted with.
    for n in &nets[2..4] {
        e.ok(&["network", "disconnect", n, &vm]);
    }
    // Disconnecting its primary network keeps it on the other (now its primary, eth0 at the start), as docker.
    e.ok(&["network", "disconnect", &nets[0], &vm]);
    assert_eq!(
        e.inspect(&vm)["HostConfig"]["NetworkMode"].as_str(),
        Some(nets[1].as_str())
    );
    assert_eq!(networks_of(e, &vm), [nets[1].clone()]);
    e.ok(&["network", "connect", &nets[0], &vm]);
    let mut start = e.cmd(&["start", &vm]);
    if std::env::var_os("HOLM_VM_ACCEL").is_none() {
        start.env("HOLM_VM_ACCEL", "tcg");
    }
    let mut start = start.spawn().unwrap();
    let t0 = Instant::now();
    while e.monitors().is_empty() {
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "no monitor after holm start"
        );
        assert!(
            start.try_wait().unwrap().is_none(),
            "holm start ended early"
        );
        std::thread::yield_now();
    }
    let (_, err) = e.code(1, &["network", "connect", &nets[5], &vm]);
    assert!(
        err.contains(&format!("cannot connect network {}", nets[5])),
        "{err}"
    );
    let (_, err) = e.code(1, &["network", "disconnect", &nets[1], &vm]);
    assert!(
        err.contains(&format!("cannot disconnect network {}", nets[1])),
        "{err}"
    );
    assert!(start.wait().unwrap().success(), "holm start failed");
    assert_eq!(e.status(&vm), "running");
    let mut want = vec![nets[0].clone(), nets[1].clone()];
    want.sort();
    assert_eq!(networks_of(e, &vm), want);
    for n in &want {
        let ip = e.inspect(&vm)["NetworkSettings"]["Networks"][n]["IPAddress"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(!ip.is_empty(), "no address on {n}");
    }
    drop(clean);
}
