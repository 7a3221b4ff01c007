//! What `create` changes in an engine's config before it becomes a VM container's, with one warning line in the
//! runtime's log (a deliberate difference, README "VM isolation under podman, dockerd and containerd"):
//!
//! - Pods of VM containers (containerd's CRI plugin with a VM runtime handler): every container of a pod, its
//!   sandbox ("pause") container included, gets a VM of its own. CRI asks each container to join the sandbox's IPC
//!   and UTS namespaces (and PID with `shareProcessNamespace`) through `/proc/<sandbox pid>/ns/<type>`; the
//!   sandbox's pid is its VM shim on the host, and the namespaces it stands for live in another guest, which this
//!   VM cannot join. Such a container gets namespaces of its own in its VM instead (Kata puts a whole pod in one
//!   VM). Any other namespace path keeps its meaning (a host namespace is refused by `holm_vm::guest_spec::plan`;
//!   the network namespace is the VMM's).
//!
//! - The network of such a pod: CRI asks each app container to join the sandbox's network namespace through
//!   `/proc/<sandbox pid>/ns/net`, the shim's (the host's); the pod's namespace (`/var/run/netns/cni-…`, where CNI
//!   put `eth0`) is the one the sandbox's VM was started in, so the path is rewritten to that one
//!   ([`vm_peer_netns`]). The sandbox itself keeps none of the pod's interfaces ([`is_pod_sandbox`]): its VM
//!   gets only `lo`, and the first app container's VM takes them.
//!
//! `net.*` sysctls (dockerd sets `net.ipv4.ip_unprivileged_port_start` and `net.ipv4.ping_group_range` on every
//! container) are not changed here: the guest agent writes them to the guest's network namespace, the container's.

use oci_spec::runtime::{LinuxNamespaceType, Spec};
use std::path::{Component, Path};

/// The namespace types a pod shares with its sandbox that a VM container cannot join in another VM.
const PEER_TYPES: [LinuxNamespaceType; 3] = [
    LinuxNamespaceType::Ipc,
    LinuxNamespaceType::Uts,
    LinuxNamespaceType::Pid,
];

/// Drops the path of every IPC, UTS or PID namespace entry of `spec` that names a namespace of another VM
/// container (`/proc/<pid>/ns/<type>` where pid is a VM shim or the VMM it started), with one warning line each.
pub fn private_for_vm_peers(spec: &mut Spec) {
    let Some(nss) = spec
        .linux_mut()
        .as_mut()
        .and_then(|l| l.namespaces_mut().as_mut())
    else {
        return;
    };
    for (i, ns) in nss.iter_mut().enumerate() {
        if !PEER_TYPES.contains(&ns.typ()) {
            continue;
        }
        let Some(path) = ns.path().clone() else {
            continue;
        };
        let Some(pid) = proc_ns_pid(&path) else {
            continue;
        };
        if is_vm_shim(pid) || parent(pid).is_some_and(is_vm_shim) {
            crate::log::warn(&format!(
                "linux.namespaces[{i}].path: {} is a namespace of another VM container; this container gets its \
                 own {} namespace in its VM",
                path.display(),
                ns.typ()
            ));
            ns.set_path(None);
        }
    }
}

/// The annotations by which containerd's and CRI-O's CRI say a container is its pod's sandbox.
const SANDBOX_ANNOTATIONS: [(&str, &str); 2] = [
    ("io.kubernetes.cri.container-type", "sandbox"),
    ("io.kubernetes.cri-o.ContainerType", "sandbox"),
];

/// Whether `spec` is a CRI pod's sandbox ("pause") container: its VM leaves the pod's interfaces in the pod's
/// network namespace (only one VM can have them: the pod IP and MAC are one; the sandbox runs only pause).
pub fn is_pod_sandbox(spec: &Spec) -> bool {
    let Some(a) = spec.annotations().as_ref() else {
        return false;
    };
    SANDBOX_ANNOTATIONS
        .iter()
        .any(|(k, v)| a.get(*k).map(String::as_str) == Some(*v))
}

/// Rewrites a network namespace path `/proc/<pid>/ns/net` whose pid is another VM container's shim (a CRI pod's
/// sandbox: the pid its runtime reported) to the namespace that container's VM was started in: the path its
/// launch names (the pod's `/var/run/netns/cni-…`), or its VMM's own namespace when it got a new one. A VM
/// started without a network namespace entry (a pod on the node's network) leaves the path as it is: the shim's
/// namespace is the host's, whose interfaces are never handed to a guest.
pub fn vm_peer_netns(spec: &mut Spec) {
    let Some(ns) = spec
        .linux_mut()
        .as_mut()
        .and_then(|l| l.namespaces_mut().as_mut())
        .and_then(|nss| {
            nss.iter_mut()
                .find(|n| n.typ() == LinuxNamespaceType::Network)
        })
    else {
        return;
    };
    let Some(pid) = ns.path().as_deref().and_then(proc_ns_pid) else {
        return;
    };
    if !is_vm_shim(pid) {
        return;
    }
    let Some(dir) = shim_dir(pid) else {
        return;
    };
    let launch = std::fs::read(dir.join(holm_vm::shim_api::LAUNCH))
        .ok()
        .and_then(|t| serde_json::from_slice::<holm_vm::shim::Launch>(&t).ok());
    let target = match launch {
        Some(l) if l.netns_path.is_some() => l.netns_path,
        Some(l) if l.new_netns => std::fs::read(dir.join(holm_container::state::STATE_FILE))
            .ok()
            .and_then(|t| serde_json::from_slice::<holm_container::state::Saved>(&t).ok())
            .map(|saved| saved.pid)
            .filter(|vmm| parent(*vmm) == Some(pid))
            .map(|vmm| format!("/proc/{vmm}/ns/net").into()),
        _ => None,
    };
    if let Some(t) = target {
        log::debug!(
            "network namespace {}: the VM container's own, {}",
            ns.path().as_deref().unwrap_or(Path::new("")).display(),
            t.display()
        );
        ns.set_path(Some(t));
    }
}

/// The state directory of the VM shim `pid` (its third argument).
fn shim_dir(pid: i32) -> Option<std::path::PathBuf> {
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let arg = cmdline.split(|b| *b == 0).nth(2)?;
    Some(std::path::PathBuf::from(std::str::from_utf8(arg).ok()?))
}

/// The pid of a `/proc/<pid>/ns/<name>` path.
fn proc_ns_pid(path: &Path) -> Option<i32> {
    let c: Vec<Component> = path.components().collect();
    match c.as_slice() {
        [Component::RootDir, Component::Normal(proc), Component::Normal(pid), Component::Normal(ns), Component::Normal(_)]
            if *proc == "proc" && *ns == "ns" =>
        {
            pid.to_str()?.parse().ok()
        }
        _ => None,
    }
}

/// The parent pid of `pid`.
fn parent(pid: i32) -> Option<i32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 2..];
    rest.split_whitespace().nth(1)?.parse().ok()
}

/// Whether `pid` is a VM shim: `holm-runtime-vm vm-shim DIR` (how `create` starts it).
fn is_vm_shim(pid: i32) -> bool {
    let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
        return false;
    };
    let mut args = cmdline.split(|b| *b == 0);
    let argv0 = args.next().unwrap_or_default();
    argv0 == crate::vm_cmds::VM_ARGV0.as_bytes() && args.next() == Some(b"vm-shim".as_slice())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_proc_ns_paths_name_a_pid() {
        assert_eq!(proc_ns_pid(Path::new("/proc/42/ns/ipc")), Some(42));
        assert_eq!(proc_ns_pid(Path::new("/proc/self/ns/ipc")), None);
        assert_eq!(proc_ns_pid(Path::new("/run/netns/x")), None);
        assert_eq!(proc_ns_pid(Path::new("/proc/42/ns/ipc/x")), None);
    }

    #[test]
    fn cri_sandboxes_are_known_by_their_annotation() {
        let with = |k: &str, v: &str| {
            let mut s = Spec::default();
            s.set_annotations(Some([(k.to_string(), v.to_string())].into()));
            is_pod_sandbox(&s)
        };
        assert!(with("io.kubernetes.cri.container-type", "sandbox"));
        assert!(with("io.kubernetes.cri-o.ContainerType", "sandbox"));
        assert!(!with("io.kubernetes.cri.container-type", "container"));
        assert!(!with("org.example", "sandbox"));
        assert!(!is_pod_sandbox(&Spec::default()));
    }

    #[test]
    fn this_process_is_not_a_vm_shim() {
        assert!(!is_vm_shim(std::process::id() as i32));
        assert!(parent(std::process::id() as i32).is_some());
    }
}
