//! VM isolation under real engines (issue 13): podman, dockerd and containerd (`ctr`, through the runc v2 shim)
//! run busybox with holm-runtime asked for a VM the way each engine can ask (see engines_support/vm.rs for the
//! scenarios and what they observe; CONFORMANCE.md for the recorded table). Root; the guest kernel
//! (`scripts/build-guest-kernel.sh`) and the static agent (`HOLM_VM_AGENT="$(scripts/build-agent.sh)"`) are
//! needed; under TCG each boot takes seconds, so the scenarios are few.

mod engines_support;

use engines_support::ctr::Containerd;
use engines_support::dockerish::DockerLike;
use engines_support::vm::{run_all, Plan};

/// Fails (never skips) without the static guest agent: every VM create would fail with a less direct message.
fn require_vm_agent() {
    let agent = std::env::var("HOLM_VM_AGENT").unwrap_or_default();
    assert!(
        !agent.is_empty() && std::path::Path::new(&agent).is_file(),
        "HOLM_VM_AGENT must name the static guest agent: export HOLM_VM_AGENT=\"$(scripts/build-agent.sh)\""
    );
}

#[test]
fn podman_runs_containers_in_vms_with_runtime_flag_isolation_vm() {
    holm_testkit::require_root();
    require_vm_agent();
    let mut engine = DockerLike::podman();
    let report = run_all(&engine, Plan { publish: true });
    let leaks = engine.finish();
    report.assert_ok(&leaks);
}

#[test]
fn dockerd_runs_containers_in_vms_with_runtime_args_isolation_vm() {
    holm_testkit::require_root();
    require_vm_agent();
    let mut engine = DockerLike::docker();
    // `-p`: dockerd moves the veth into the container's new network namespace from a prestart hook, which the
    // runtime runs before the VM boots (vm_netns.rs).
    let report = run_all(&engine, Plan { publish: true });
    let leaks = engine.finish();
    report.assert_ok(&leaks);
}

#[test]
fn containerd_runs_containers_in_vms_through_a_holm_runtime_vm_runc_binary() {
    holm_testkit::require_root();
    require_vm_agent();
    let mut engine = Containerd::start();
    let report = run_all(&engine, Plan { publish: false });
    let leaks = engine.finish();
    report.assert_ok(&leaks);
}

/// containerd's CRI plugin (the kubelet's way in) with a RuntimeClass-style handler `holm-vm` (runc v2 shim,
/// `BinaryName` a `holm-runtime-vm` symlink): a pod sandbox and two containers, each in a VM of its own.
#[test]
fn containerd_cri_runs_a_pod_with_the_holm_vm_runtime_handler() {
    holm_testkit::require_root();
    require_vm_agent();
    let mut cri = engines_support::cri::CriContainerd::start();
    let report = cri.run_pod();
    let leaks = cri.finish();
    let report = report.unwrap_or_else(|e| panic!("{e}"));
    eprintln!("CRI report: {report}");
    let host = engines_support::vm::host_release();
    let log: Vec<String> = serde_json::from_value(report["log"].clone()).unwrap_or_default();
    let mut problems = Vec::new();
    if report["sandbox_ready"] != true {
        problems.push("the pod sandbox was not ready".to_string());
    }
    if report["sandbox_runtime"] != engines_support::cri::HANDLER {
        problems.push(format!(
            "the sandbox's runtime handler is {}, want holm-vm",
            report["sandbox_runtime"]
        ));
    }
    // Only the container's own output: the runtime's warnings go to its --log file, not to the container's stderr.
    match log.as_slice() {
        [r] if !r.is_empty() && r.starts_with(|c: char| c.is_ascii_digit()) && *r != host => {}
        other => problems.push(format!(
            "the container's log is {other:?}, want one line: the guest's kernel release (the host's is {host:?})"
        )),
    }
    if report["exit_code"] != 3 {
        problems.push(format!("exit code {}, want 3", report["exit_code"]));
    }
    let exec_out = report["exec_stdout"].as_str().unwrap_or("").trim();
    if exec_out.is_empty() || exec_out == host {
        problems.push(format!(
            "ExecSync printed {exec_out:?}; the host's kernel is {host:?}"
        ));
    }
    if report["exec_exit_code"] != 4 {
        problems.push(format!(
            "ExecSync exit code {}, want 4",
            report["exec_exit_code"]
        ));
    }
    problems.extend(leaks);
    assert!(
        problems.is_empty(),
        "CRI pod with the holm-vm handler: {} problem(s):\n{}",
        problems.len(),
        problems.join("\n")
    );
}

/// dockerd: `docker network connect` of a created (not started) VM container to a second network, then `start`.
/// dockerd's libnetwork-setkey prestart hook moves both veths (`eth0` on the default bridge, `eth1` on the user
/// network) into the new namespace; the runtime runs it before the boot, so the guest gets both NICs with
/// docker's addresses and reaches each network's gateway.
#[test]
fn dockerd_connects_a_created_vm_container_to_a_second_network() {
    holm_testkit::require_root();
    require_vm_agent();
    let mut engine = DockerLike::docker();
    let name = holm_testkit::unique_id("engvm-nets");
    let net = holm_testkit::unique_id("engvmnet");
    let sub = engines_support::host::free_subnet(215);
    let ok = |args: &[&str]| {
        let o = engine.cli(args);
        assert!(
            o.status.success(),
            "docker {args:?}: {}",
            engines_support::describe(&o)
        );
        engines_support::stdout(&o)
    };
    ok(&[
        "network",
        "create",
        "--subnet",
        &format!("{sub}.0/24"),
        &net,
    ]);
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        ok(&[
            "create",
            "--runtime",
            "holmvm",
            "--name",
            &name,
            "busybox:engines",
            "sleep",
            "1000",
        ]);
        ok(&["network", "connect", &net, &name]);
        ok(&["start", &name]);
        let nets = ok(&[
            "inspect",
            "-f",
            "{{range $k, $v := .NetworkSettings.Networks}}{{$v.IPAddress}} {{$v.Gateway}}\n{{end}}",
            &name,
        ]);
        let addrs = ok(&["exec", &name, "ip", "-o", "-4", "addr"]);
        let eth1 = addrs
            .lines()
            .find(|l| l.contains(" eth1 "))
            .unwrap_or_else(|| panic!("no eth1 in the guest:\n{addrs}"));
        assert!(eth1.contains(&format!("inet {sub}.")), "{eth1}");
        for line in nets.lines().filter(|l| !l.trim().is_empty()) {
            let (ip, gw) = line.trim().split_once(' ').unwrap();
            assert!(
                addrs.contains(&format!("inet {ip}/")),
                "docker's {ip} is not in the guest:\n{addrs}"
            );
            ok(&["exec", &name, "ping", "-c", "1", "-W", "10", gw]);
        }
    }));
    let _ = engine.cli(&["rm", "-f", &name]);
    let _ = engine.cli(&["network", "rm", &net]);
    let leaks = engine.finish();
    if let Err(p) = r {
        std::panic::resume_unwind(p);
    }
    assert!(leaks.is_empty(), "left behind: {leaks:?}");
}

/// containerd's CRI plugin with the `holm-vm` handler and a CNI pod network (bridge + host-local IPAM, a bridge
/// and /24 of this test's own): the sandbox's VM leaves the pod's eth0 alone, the app container's VM takes it, so
/// busybox httpd in that VM answers at the pod IP CNI assigned, from the host; the guest has the pod IP on eth0
/// and its own kernel. A second container of the pod is refused at start with one line naming the first, and the
/// first still serves. After RemovePodSandbox nothing is left: the pod's network namespace, veths on the bridge,
/// processes, cgroups.
#[test]
fn containerd_cri_pod_on_a_cni_network_serves_from_its_vm() {
    holm_testkit::require_root();
    require_vm_agent();
    let mut cri = engines_support::cri::CriContainerd::start_with_cni();
    let net = cri.cni.as_ref().map(|(_, n)| n.clone()).unwrap();
    let report = cri.run_pod_on_network();
    let leaks = cri.finish();
    let report = report.unwrap_or_else(|e| panic!("{e}"));
    eprintln!("CRI pod network report: {report}");
    let host = engines_support::vm::host_release();
    let mut problems = Vec::new();
    if report["sandbox_ready"] != true {
        problems.push("the pod sandbox was not ready".to_string());
    }
    let ip = report["pod_ip"].as_str().unwrap_or("");
    if !ip.starts_with(&format!("{net}.")) {
        problems.push(format!("pod IP {ip:?}, want one of CNI's {net}.0/24"));
    }
    if report["http"].as_str().map(str::trim) != Some("hello from the pod VM") {
        problems.push(format!(
            "GET http://{ip}:8080/ from the host: {}",
            report["http"]
        ));
    }
    let uname = report["uname"].as_str().unwrap_or("");
    if uname.is_empty() || uname == host {
        problems.push(format!(
            "uname -r in the container: {uname:?} (the host's is {host:?})"
        ));
    }
    if !report["addr"]
        .as_str()
        .is_some_and(|a| a.contains(&format!("inet {ip}/")))
    {
        problems.push(format!(
            "eth0 in the guest: {} (want the pod IP {ip})",
            report["addr"]
        ));
    }
    match report["second_error"].as_str() {
        Some(e) if e.contains("in a VM pod only one container can have the pod network") => {
            if e.lines().count() != 1 {
                problems.push(format!("the refusal is more than one line: {e:?}"));
            }
        }
        other => problems.push(format!(
            "the second container of the pod: {other:?}, want the refusal (the pod's interfaces belong to web's VM)"
        )),
    }
    if report["http_after"].as_str().map(str::trim) != Some("hello from the pod VM") {
        problems.push(format!(
            "after the refusal, GET http://{ip}:8080/: {}",
            report["http_after"]
        ));
    }
    match report["netns"].as_str() {
        Some(p) if !p.is_empty() => {
            if std::path::Path::new(p).exists() {
                problems.push(format!("the pod's network namespace {p} is still there"));
            }
        }
        _ => problems.push(format!(
            "no network namespace path in the sandbox's spec: {}",
            report["netns"]
        )),
    }
    problems.extend(leaks);
    assert!(
        problems.is_empty(),
        "CRI pod on a CNI network with the holm-vm handler: {} problem(s):\n{}",
        problems.len(),
        problems.join("\n")
    );
}
