//! containerd's CRI plugin (what the kubelet talks to) with a RuntimeClass-style handler for VM isolation:
//! containerd 1.6 started by the test with the CRI plugin enabled and its own root, state, sockets, CNI config dir
//! (empty: pods use the host network; [`CriContainerd::start_with_cni`] writes a bridge + host-local IPAM config
//! with a bridge name and /24 of its own, plugins from Debian's containernetworking-plugins in /usr/lib/cni) and
//!
//! ```toml
//! [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.holm-vm]
//!   runtime_type = "io.containerd.runc.v2"
//!   [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.holm-vm.options]
//!     BinaryName = "<work>/vm/holm-runtime-vm"    # a symlink to holm-runtime: the name asks for a VM
//! ```
//!
//! The sandbox image is busybox whose command is `sleep` (no registry here for the real pause image). The pod is
//! driven by `cri_pod.py` / `cri_podnet.py` (CRI v1 over gRPC, Python package `container-runtime-interface-api` in the venv
//! [`CRI_PYTHON`], installed by scripts/install-test-deps.sh; Debian 12 packages no CRI client: crictl is only
//! a Go module, too new for Debian's Go 1.19).

use super::ctr::{ctr_command, start_containerd};
use super::host::{
    delete_link, free_subnet, network_leaks, remove_cgroup_parent, sweep_leaks, unique_ifname,
    Daemon,
};
use super::{describe, require_tool, run, workdir, workdir_suffix, Rt, PATH};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use tempfile::TempDir;

/// The Python of the venv that holds the CRI client.
pub const CRI_PYTHON: &str = "/var/lib/holm/test-venv/cri/bin/python";
/// The runtime handler (a RuntimeClass's `handler`) that runs pods in VMs.
pub const HANDLER: &str = "holm-vm";
/// The app image.
pub const IMAGE: &str = "docker.io/library/busybox:engines";
/// The sandbox image.
pub const PAUSE: &str = "docker.io/library/busybox:engines-pause";

/// containerd with the CRI plugin. Drop tears it down; [`CriContainerd::finish`] says what was left.
pub struct CriContainerd {
    sock: PathBuf,
    /// The cgroup parent of the pod (removed at the end).
    pub cgroup_parent: String,
    daemon: Option<Daemon>,
    /// The CNI bridge and the pod network's first three octets, with [`CriContainerd::start_with_cni`].
    pub cni: Option<(String, String)>,
    w: PathBuf,
    work: Option<TempDir>,
}

impl CriContainerd {
    /// Starts containerd with the CRI plugin and the `holm-vm` handler and imports both images into `k8s.io`.
    pub fn start() -> CriContainerd {
        Self::start_opts(false)
    }

    /// [`CriContainerd::start`] with a CNI pod network: a bridge of its own (isGateway: the host reaches pod IPs
    /// through it) and host-local addresses from a free 10.217.N.0/24.
    pub fn start_with_cni() -> CriContainerd {
        Self::start_opts(true)
    }

    fn start_opts(with_cni: bool) -> CriContainerd {
        require_tool("/usr/bin/containerd", "containerd");
        require_tool("/usr/bin/ctr", "containerd");
        require_tool("/usr/bin/containerd-shim-runc-v2", "containerd");
        if !Path::new(CRI_PYTHON).is_file() {
            panic!(
                "{CRI_PYTHON} is missing: scripts/install-test-deps.sh makes the venv with the CRI client \
                 (pip: container-runtime-interface-api)"
            );
        }
        let work = workdir();
        let w = work.path().to_path_buf();
        fs::create_dir_all(w.join("vm")).unwrap();
        fs::create_dir_all(w.join("cni")).unwrap();
        fs::create_dir_all(w.join("pods")).unwrap();
        let cni = with_cni.then(|| {
            require_tool("/usr/lib/cni/bridge", "containernetworking-plugins");
            require_tool("/usr/lib/cni/host-local", "containernetworking-plugins");
            require_tool("/usr/lib/cni/loopback", "containernetworking-plugins");
            let bridge = unique_ifname("hcri");
            let net = free_subnet(217);
            let conflist = format!(
                r#"{{"cniVersion": "0.4.0", "name": "holm-cri", "plugins": [
  {{"type": "bridge", "bridge": "{bridge}", "isGateway": true, "ipMasq": false,
   "ipam": {{"type": "host-local", "dataDir": "{data}", "routes": [{{"dst": "0.0.0.0/0"}}],
            "ranges": [[{{"subnet": "{net}.0/24", "gateway": "{net}.1"}}]]}}}}]}}
"#,
                data = w.join("cni-ipam").display()
            );
            fs::write(w.join("cni/10-holm-cri.conflist"), conflist).unwrap();
            (bridge, net)
        });
        let vm_binary = w.join("vm/holm-runtime-vm");
        std::os::unix::fs::symlink(Rt::HolmVm.binary(), &vm_binary)
            .unwrap_or_else(|e| panic!("symlink {}: {e}", vm_binary.display()));
        let cri = "plugins.\"io.containerd.grpc.v1.cri\"";
        let plugins = format!(
            "[{cri}]\n  sandbox_image = \"{PAUSE}\"\n  stream_server_port = \"0\"\n\
             [{cri}.cni]\n  conf_dir = \"{cni}\"\n  bin_dir = \"/usr/lib/cni\"\n\
             [{cri}.containerd]\n  default_runtime_name = \"runc\"\n\
             [{cri}.containerd.runtimes.runc]\n  runtime_type = \"io.containerd.runc.v2\"\n\
             [{cri}.containerd.runtimes.{HANDLER}]\n  runtime_type = \"io.containerd.runc.v2\"\n\
             [{cri}.containerd.runtimes.{HANDLER}.options]\n  BinaryName = \"{bin}\"\n  Root = \"{vmroot}\"\n",
            cni = w.join("cni").display(),
            bin = vm_binary.display(),
            vmroot = w.join("holm-vm-state").display(),
        );
        let (daemon, sock) = start_containerd("containerd (CRI)", &w, "", &plugins, "k8s.io");
        let c = CriContainerd {
            sock,
            cgroup_parent: format!("/holm-cri-{}", workdir_suffix(&w)),
            daemon: Some(daemon),
            cni,
            w: w.clone(),
            work: Some(work),
        };
        let pause = w.join("pause.tar");
        let script =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/make-busybox-image.sh");
        let out = run(Command::new(&script)
            .env("IMAGE_CMD", r#"["sleep","2147483647"]"#)
            .arg(&pause)
            .arg("busybox:engines-pause"));
        assert!(
            out.status.success(),
            "{}: {}",
            script.display(),
            describe(&out)
        );
        let out = c.ctr(&["images", "import", pause.to_str().unwrap()]);
        assert!(
            out.status.success(),
            "ctr images import: {}",
            describe(&out)
        );
        c
    }

    /// Runs `ctr --address SOCK --namespace k8s.io ARGS` (the CRI plugin's namespace).
    pub fn ctr(&self, args: &[&str]) -> Output {
        run(ctr_command(&self.sock, "k8s.io").args(args))
    }

    /// Runs cri_pod.py against this containerd and returns its JSON report, or the error with containerd's log
    /// tail.
    pub fn run_pod(&self) -> Result<serde_json::Value, String> {
        self.run_script("cri_pod.py")
    }

    /// Runs cri_podnet.py (a pod on the CNI network: needs [`CriContainerd::start_with_cni`]) like
    /// [`CriContainerd::run_pod`].
    pub fn run_pod_on_network(&self) -> Result<serde_json::Value, String> {
        self.run_script("cri_podnet.py")
    }

    fn run_script(&self, name: &str) -> Result<serde_json::Value, String> {
        let script = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/engines_support")
            .join(name);
        let out = run(Command::new(CRI_PYTHON)
            .env("PATH", PATH)
            .arg(&script)
            .arg(&self.sock)
            .arg(HANDLER)
            .arg(IMAGE)
            .arg(&self.cgroup_parent)
            .arg(self.w.join("pods")));
        if !out.status.success() {
            let log = self
                .daemon
                .as_ref()
                .map(|d| d.log_text())
                .unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(15).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            return Err(format!(
                "{name}: {}\ncontainerd's log (last lines):\n{}",
                describe(&out),
                tail.join("\n")
            ));
        }
        let text = String::from_utf8_lossy(&out.stdout);
        serde_json::from_str(text.trim()).map_err(|e| format!("{name} printed {text:?}: {e}"))
    }

    /// Stops containerd and returns what was still running or mounted below the work dir, or left in the pod's
    /// cgroup parent (cleaning them up as well).
    pub fn finish(&mut self) -> Vec<String> {
        let Some(work) = self.work.take() else {
            return Vec::new();
        };
        let mut leaks = Vec::new();
        if let Some(mut d) = self.daemon.take() {
            if let Err(e) = d.stop() {
                leaks.push(e);
            }
        }
        leaks.extend(sweep_leaks(work.path()));
        if let Some((bridge, net)) = self.cni.take() {
            leaks.extend(pod_netns_leaks(&net));
            leaks.extend(network_leaks(&bridge, &net));
            delete_link(&bridge);
        }
        leaks.extend(remove_cgroup_parent(
            self.cgroup_parent.trim_start_matches('/'),
        ));
        if sweep_leaks(work.path()).is_empty() {
            drop(work);
        } else {
            let _ = work.keep();
        }
        leaks
    }
}

impl Drop for CriContainerd {
    fn drop(&mut self) {
        let _ = self.finish();
    }
}

/// The pod network namespaces (`/var/run/netns/cni-…`) still holding an address of the test's `net` (a pod the
/// CRI did not tear down, e.g. after the client was killed), deleted after being reported.
fn pod_netns_leaks(net: &str) -> Vec<String> {
    let mut leaks = Vec::new();
    let Ok(entries) = fs::read_dir("/var/run/netns") else {
        return leaks;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if !name.starts_with("cni-") {
            continue;
        }
        let out = run(Command::new("ip").args(["netns", "exec", &name, "ip", "-o", "-4", "addr"]));
        if String::from_utf8_lossy(&out.stdout).contains(&format!("inet {net}.")) {
            leaks.push(format!("pod network namespace left: /var/run/netns/{name}"));
            let _ = run(Command::new("ip").args(["netns", "del", &name]));
        }
    }
    leaks
}
