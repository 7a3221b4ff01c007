//! `linux.sysctl` (runtime-spec `config-linux.md#sysctl`): validated against the namespaces the container owns,
//! written through a verified procfs ([`crate::procfs`]).
//!
//! Allowed, as runc allows them: IPC keys (`kernel.msgmax`, `kernel.msgmnb`, `kernel.msgmni`, `kernel.sem`,
//! `kernel.shmall`, `kernel.shmmax`, `kernel.shmmni`, `kernel.shm_rmid_forced`, `fs.mqueue.*`) with an IPC
//! namespace of the container's own; `net.*` with a network namespace of its own; `kernel.hostname` and
//! `kernel.domainname` with a UTS namespace of its own. "Of its own" means new, or joined by `path` and different
//! (by device and inode) from the runtime's — never judged by the path string. Everything else (`vm.*`, other
//! `kernel.*`, `fs.*`) would change the host and is refused.

use crate::procfs::ProcFs;
use crate::{Error, Result};
use oci_spec::runtime::{LinuxNamespaceType, Spec};
use std::path::PathBuf;

const IPC_KEYS: &[&str] = &[
    "kernel.msgmax",
    "kernel.msgmnb",
    "kernel.msgmni",
    "kernel.sem",
    "kernel.shmall",
    "kernel.shmmax",
    "kernel.shmmni",
    "kernel.shm_rmid_forced",
];

/// Checks every `linux.sysctl` key against the rules in the module doc. Errors name `linux.sysctl.KEY`.
pub fn validate(spec: &Spec) -> Result<()> {
    let Some(map) = spec.linux().as_ref().and_then(|l| l.sysctl().as_ref()) else {
        return Ok(());
    };
    for key in map.keys() {
        let field = format!("linux.sysctl.{key}");
        if key.is_empty() || key.split(['.', '/']).any(|c| c.is_empty() || c == "..") {
            return Err(Error::config(field, "not a valid sysctl name"));
        }
        let (ns, what) = if IPC_KEYS.contains(&key.as_str()) || key.starts_with("fs.mqueue.") {
            (LinuxNamespaceType::Ipc, "an ipc")
        } else if key.starts_with("net.") {
            (LinuxNamespaceType::Network, "a network")
        } else if key == "kernel.hostname" || key == "kernel.domainname" {
            (LinuxNamespaceType::Uts, "a uts")
        } else {
            return Err(Error::config(field, "not namespaced: it would change the host (only ipc, net.* and uts keys are allowed)"));
        };
        if !crate::spec::owns_namespace(spec, ns)? {
            return Err(Error::config(
                field,
                format!("needs {what} namespace of the container's own"),
            ));
        }
    }
    Ok(())
}

/// Writes `linux.sysctl` (sorted by key) through `proc`; call in the container's namespaces.
pub fn apply(spec: &Spec, proc: &ProcFs) -> Result<()> {
    let Some(map) = spec.linux().as_ref().and_then(|l| l.sysctl().as_ref()) else {
        return Ok(());
    };
    let mut keys: Vec<_> = map.iter().collect();
    keys.sort();
    for (k, v) in keys {
        let rel = PathBuf::from("sys").join(k.replace('.', "/"));
        proc.write(&rel, v)
            .map_err(|e| Error::config(format!("linux.sysctl.{k}"), e.to_string()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(sysctl: serde_json::Value, ns: serde_json::Value) -> Spec {
        serde_json::from_value(serde_json::json!({
            "ociVersion": "1.2.0",
            "linux": {"sysctl": sysctl, "namespaces": ns}
        }))
        .unwrap()
    }

    #[test]
    fn keys_need_their_namespace() {
        let all = serde_json::json!([{"type": "network"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}]);
        validate(&spec(serde_json::json!({"net.ipv4.ip_forward": "1", "kernel.shmmax": "1", "fs.mqueue.msg_max": "9", "kernel.domainname": "x"}), all.clone())).unwrap();
        for key in [
            "vm.overcommit_memory",
            "kernel.pid_max",
            "fs.file-max",
            "kernel.core_pattern",
        ] {
            let e = validate(&spec(serde_json::json!({key: "1"}), all.clone()))
                .unwrap_err()
                .to_string();
            assert!(e.contains(key), "{e}");
        }
        let e = validate(&spec(
            serde_json::json!({"net.ipv4.ip_forward": "1"}),
            serde_json::json!([{"type": "mount"}]),
        ))
        .unwrap_err()
        .to_string();
        assert!(e.contains("network namespace"), "{e}");
        // Joining the runtime's own network namespace by path is not "its own", whatever the path string says.
        let e = validate(&spec(
            serde_json::json!({"net.ipv4.ip_forward": "1"}),
            serde_json::json!([{"type": "network", "path": "/proc/self/ns/net"}]),
        ))
        .unwrap_err()
        .to_string();
        assert!(e.contains("network namespace"), "{e}");
        assert!(validate(&spec(serde_json::json!({"net..x": "1"}), all)).is_err());
    }
}
