//! A network namespace whose interfaces another VM already has: who has them, for the one-line refusal. In a CRI
//! pod every container joins the sandbox's network namespace; with VMs only one of them can have its interfaces
//! (one address, one MAC), so a second container that would take them is refused at create.

use super::{Launch, NET_WIRING};
use crate::shim_api::LAUNCH;
use std::fs::File;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// The refusal of a VM whose network namespace's `interface` is already handed to another VM, naming that VM's
/// container when a sibling state directory of `dir` (same runtime root) holds its wiring in the same namespace.
pub(super) fn taken(dir: &Path, netns: &File, interface: &str) -> String {
    let who = owner(dir, netns).map_or_else(
        || "another container's VM".to_string(),
        |id| format!("container {id}'s VM"),
    );
    format!(
        "network: the pod's interfaces already belong to {who} ({interface} is redirected to its tap); in a VM \
         pod only one container can have the pod network"
    )
}

/// The id of the container, in `dir`'s runtime root, whose saved tap wirings are in the namespace `netns`.
fn owner(dir: &Path, netns: &File) -> Option<String> {
    let ours = netns.metadata().ok()?;
    for entry in std::fs::read_dir(dir.parent()?).ok()?.flatten() {
        let d = entry.path();
        if d == dir {
            continue;
        }
        let wired = std::fs::read(d.join(NET_WIRING))
            .ok()
            .and_then(|t| serde_json::from_slice::<Vec<serde_json::Value>>(&t).ok())
            .is_some_and(|w| !w.is_empty());
        if !wired {
            continue;
        }
        let Some(l) = std::fs::read(d.join(LAUNCH))
            .ok()
            .and_then(|t| serde_json::from_slice::<Launch>(&t).ok())
        else {
            continue;
        };
        let same = l
            .netns_path
            .and_then(|p| std::fs::metadata(p).ok())
            .is_some_and(|m| m.dev() == ours.dev() && m.ino() == ours.ino());
        if same {
            return Some(l.id);
        }
    }
    None
}
