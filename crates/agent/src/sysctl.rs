//! `net.*` keys of `linux.sysctl` in the guest. The container keeps the guest's own network namespace (where eth0
//! is; see [`crate::server`]), so holm-container in the guest would refuse them ("needs a network namespace of the
//! container's own"). The agent takes them out of the config and writes them itself, before the container is
//! created, to the guest's `/proc/sys/net/...`: the guest holds this one container, so its network namespace is
//! the container's in all but name. dockerd sets `net.ipv4.ip_unprivileged_port_start=0` and
//! `net.ipv4.ping_group_range=0 2147483647` on every container; with them a non-root process in a VM container
//! binds port 80 and pings, as in a process container.

use oci_spec::runtime::Spec;
use std::path::PathBuf;

/// Where the guest's sysctls are.
const PROC_SYS: &str = "/proc/sys";

/// A `net.*` sysctl that could not be applied: `linux.sysctl.KEY: why`.
#[derive(Debug, thiserror::Error)]
#[error("linux.sysctl.{key}: {msg}")]
pub struct Error {
    /// The key, as in the config.
    pub key: String,
    /// What is wrong.
    pub msg: String,
}

/// The file of sysctl `key` under `root` (`net.ipv4.ping_group_range` → `ROOT/net/ipv4/ping_group_range`; `/` is
/// accepted as the separator too). `None` for a key that is not a plain sysctl name (empty components, `..`).
fn sysctl_file(root: &str, key: &str) -> Option<PathBuf> {
    let parts: Vec<&str> = key.split(['.', '/']).collect();
    if parts.iter().any(|p| p.is_empty() || *p == "..") {
        return None;
    }
    Some(parts.iter().fold(PathBuf::from(root), |p, c| p.join(c)))
}

/// True for a `net.*` key (or `net/...`, the same key with `/` separators).
fn is_net(key: &str) -> bool {
    key.starts_with("net.") || key.starts_with("net/")
}

/// Removes every `net.*` key from `spec`'s `linux.sysctl` and writes it (sorted by key) under `root` (the guest's
/// `/proc/sys` in the agent). Errors name the key: not a sysctl name, not in the guest kernel (no such file), or
/// refused by the kernel (e.g. `EINVAL` for a value out of range). Keys before the failing one stay written; the
/// VM is then torn down with the failed create.
pub fn apply_net(spec: &mut Spec, root: &str) -> Result<Vec<String>, Error> {
    let Some(map) = spec
        .linux_mut()
        .as_mut()
        .and_then(|l| l.sysctl_mut().as_mut())
    else {
        return Ok(Vec::new());
    };
    let mut net: Vec<(String, String)> = map
        .iter()
        .filter(|(k, _)| is_net(k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    net.sort();
    map.retain(|k, _| !is_net(k));
    for (key, value) in &net {
        let err = |msg: String| Error {
            key: key.clone(),
            msg,
        };
        let file = sysctl_file(root, key).ok_or_else(|| err("not a valid sysctl name".into()))?;
        if !file.is_file() {
            return Err(err(format!(
                "the guest kernel has no such sysctl ({} is missing)",
                file.display()
            )));
        }
        std::fs::write(&file, value)
            .map_err(|e| err(format!("write {:?} to {}: {e}", value, file.display())))?;
    }
    Ok(net.into_iter().map(|(k, _)| k).collect())
}

/// [`apply_net`] on the guest's `/proc/sys`.
pub fn apply_net_in_guest(spec: &mut Spec) -> Result<Vec<String>, Error> {
    apply_net(spec, PROC_SYS)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(sysctl: serde_json::Value) -> Spec {
        serde_json::from_value(
            serde_json::json!({"ociVersion": "1.2.0", "linux": {"sysctl": sysctl}}),
        )
        .unwrap()
    }

    #[test]
    fn net_keys_are_written_and_removed_the_others_kept() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path().to_str().unwrap();
        std::fs::create_dir_all(d.path().join("net/ipv4")).unwrap();
        std::fs::write(d.path().join("net/ipv4/ping_group_range"), "1 0").unwrap();
        std::fs::write(d.path().join("net/ipv4/ip_unprivileged_port_start"), "1024").unwrap();
        let mut s = spec(serde_json::json!({
            "net.ipv4.ping_group_range": "0 2147483647",
            "net/ipv4/ip_unprivileged_port_start": "0",
            "kernel.shmmax": "1000"
        }));
        let done = apply_net(&mut s, root).unwrap();
        assert_eq!(
            done,
            [
                "net.ipv4.ping_group_range",
                "net/ipv4/ip_unprivileged_port_start"
            ]
        );
        let left = s.linux().as_ref().unwrap().sysctl().clone().unwrap();
        assert_eq!(left.keys().collect::<Vec<_>>(), ["kernel.shmmax"]);
        assert_eq!(
            std::fs::read_to_string(d.path().join("net/ipv4/ip_unprivileged_port_start")).unwrap(),
            "0"
        );
        assert_eq!(
            std::fs::read_to_string(d.path().join("net/ipv4/ping_group_range")).unwrap(),
            "0 2147483647"
        );
    }

    #[test]
    fn missing_and_bad_keys_are_named() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path().to_str().unwrap();
        let mut s = spec(serde_json::json!({"net.ipv4.no_such_key": "1"}));
        let e = apply_net(&mut s, root).unwrap_err().to_string();
        assert!(
            e.starts_with("linux.sysctl.net.ipv4.no_such_key: the guest kernel has no such sysctl"),
            "{e}"
        );
        let mut s = spec(serde_json::json!({"net.ipv4..x": "1"}));
        let e = apply_net(&mut s, root).unwrap_err().to_string();
        assert_eq!(e, "linux.sysctl.net.ipv4..x: not a valid sysctl name");
        let mut s = spec(serde_json::json!({"kernel.shmmax": "1"}));
        assert!(apply_net(&mut s, root).unwrap().is_empty());
    }
}
