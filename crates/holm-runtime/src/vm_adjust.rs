//! What `create` changes in an engine's config before it becomes a VM container's, each with one warning line in
//! the runtime's log (deliberate differences, README "VM isolation under podman, dockerd and containerd"):
//!
//! - Pods of VM containers (containerd's CRI plugin with a VM runtime handler): every container of a pod, its
//!   sandbox ("pause") container included, gets a VM of its own. CRI asks each container to join the sandbox's IPC
//!   and UTS namespaces (and PID with `shareProcessNamespace`) through `/proc/<sandbox pid>/ns/<type>`; the
//!   sandbox's pid is its VM shim on the host, and the namespaces it stands for live in another guest, which this
//!   VM cannot join. Such a container gets namespaces of its own in its VM instead (Kata puts a whole pod in one
//!   VM). Any other namespace path keeps its meaning (a host namespace is refused by `holm_vm::guest_spec::plan`;
//!   the network namespace is the VMM's).
//! - `net.*` sysctls (dockerd sets `net.ipv4.ip_unprivileged_port_start` and `net.ipv4.ping_group_range` on every
//!   container): the guest agent gives the container the guest's own network namespace (where eth0 is) and keeps
//!   no network namespace entry, so the container code in the guest refuses them as "needs a network namespace of
//!   the container's own". They are dropped: the guest keeps its defaults (a non-root process cannot bind ports
//!   below 1024 or ping). Applying them in the guest needs the agent to do it.

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

/// Removes every `net.*` key from `linux.sysctl` (see the module doc), with one warning line naming them.
pub fn drop_net_sysctls(spec: &mut Spec) {
    let Some(map) = spec
        .linux_mut()
        .as_mut()
        .and_then(|l| l.sysctl_mut().as_mut())
    else {
        return;
    };
    let dropped: Vec<String> = map
        .keys()
        .filter(|k| k.starts_with("net."))
        .cloned()
        .collect();
    if dropped.is_empty() {
        return;
    }
    map.retain(|k, _| !k.starts_with("net."));
    crate::log::warn(&format!(
        "linux.sysctl: {} not applied with --isolation vm (the guest's network namespace keeps its defaults)",
        dropped.join(", ")
    ));
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
    fn net_sysctls_are_dropped_and_the_others_kept() {
        let mut spec: Spec = serde_json::from_value(serde_json::json!({
            "ociVersion": "1.0.2",
            "linux": {"sysctl": {"net.ipv4.ping_group_range": "0 1", "kernel.shmmax": "1000"}}
        }))
        .unwrap();
        drop_net_sysctls(&mut spec);
        let map = spec.linux().as_ref().unwrap().sysctl().clone().unwrap();
        assert_eq!(map.keys().collect::<Vec<_>>(), ["kernel.shmmax"]);
    }

    #[test]
    fn this_process_is_not_a_vm_shim() {
        assert!(!is_vm_shim(std::process::id() as i32));
        assert!(parent(std::process::id() as i32).is_some());
    }
}
