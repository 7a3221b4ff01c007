//! A VM container's new network namespace, made before its VM boots when the config has `createRuntime` or
//! `prestart` hooks. dockerd asks for a new namespace (no path) and fills it from a prestart hook
//! (`libnetwork-setkey`: the veth moves into the namespace of the state's `pid`). The VM shim hands the guest the
//! interface it finds in the namespace when the VM boots, so those hooks must run first: `create` makes the
//! namespace in a [`Holder`] process, runs the hooks with `pid` = the holder's (a process in the container's
//! network namespace, as `state.pid` is for a VM container), then boots the VM in that namespace (`/proc/<holder
//! pid>/ns/net`); the holder ends with `create` (the VMM keeps the namespace alive).
//!
//! Also: the config's namespace path ([`netns_path`]) and giving the container's interfaces back from the VM's
//! taps ([`unwire`], when `create` fails and at `delete`).

use anyhow::{bail, Context};
use std::io::{Read, Write};
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

/// A child process alone in a new network namespace; killed (and reaped) on drop.
pub struct Holder {
    /// Its pid.
    pub pid: i32,
}

impl Holder {
    /// Forks the holder and waits until it is in its new network namespace. Must be called single-threaded.
    ///
    /// # Errors
    /// fork or pipe failed, or the child could not unshare its network namespace (the message says so).
    pub fn spawn() -> anyhow::Result<Holder> {
        let (mut ready_r, mut ready_w) = std::io::pipe().context("pipe")?;
        match holm_sys::process::fork()? {
            holm_sys::process::Fork::Child => {
                drop(ready_r);
                let r = holm_sys::process::set_parent_death_signal(libc::SIGKILL)
                    .and_then(|_| holm_sys::ns::unshare(libc::CLONE_NEWNET));
                let _ = match &r {
                    Ok(()) => ready_w.write_all(b"ok"),
                    Err(e) => ready_w.write_all(e.to_string().as_bytes()),
                };
                drop(ready_w);
                if r.is_err() {
                    holm_sys::process::exit_now(1);
                }
                loop {
                    std::thread::sleep(std::time::Duration::from_secs(3600));
                }
            }
            holm_sys::process::Fork::Parent(pid) => {
                drop(ready_w);
                let holder = Holder { pid };
                let mut msg = String::new();
                ready_r
                    .read_to_string(&mut msg)
                    .context("read the network namespace holder's report")?;
                if msg != "ok" {
                    bail!("new network namespace for the VM: {msg}");
                }
                Ok(holder)
            }
        }
    }

    /// Its network namespace, `/proc/<pid>/ns/net`.
    pub fn path(&self) -> PathBuf {
        PathBuf::from(format!("/proc/{}/ns/net", self.pid))
    }
}

impl Drop for Holder {
    fn drop(&mut self) {
        let _ = holm_sys::process::kill(self.pid, libc::SIGKILL);
        let _ = holm_sys::process::waitpid(self.pid, 0);
    }
}

/// The network namespace path of the container's config, if it names one (`linux.namespaces[].path`).
pub(crate) fn netns_path(spec: &oci_spec::runtime::Spec) -> Option<PathBuf> {
    spec.linux()
        .as_ref()
        .and_then(|l| l.namespaces().as_ref())
        .and_then(|ns| {
            ns.iter()
                .find(|n| n.typ() == oci_spec::runtime::LinuxNamespaceType::Network)
        })
        .and_then(|n| n.path().clone())
}

/// Gives the container's interfaces back their addresses and removes the taps (the shim's wiring), if there was one
/// and the namespace still exists. Failures are logged: the namespace may already be gone with the engine.
pub(crate) fn unwire(dir: &Path, netns: Option<&Path>) {
    if let Ok(text) = std::fs::read(dir.join(holm_vm::shim::NET_WIRING)) {
        unwire_saved(&text, netns);
    }
}

/// [`unwire`] from the saved wirings' bytes: a JSON list (one per NIC), or the single object an older holm saved.
pub(crate) fn unwire_saved(text: &[u8], netns: Option<&Path>) {
    let wirings = serde_json::from_slice::<Vec<holm_vm::net::TapWiring>>(text)
        .or_else(|_| serde_json::from_slice::<holm_vm::net::TapWiring>(text).map(|w| vec![w]));
    let (Ok(w), Some(ns)) = (wirings, netns) else {
        return;
    };
    if let Ok(f) = std::fs::File::open(ns) {
        if let Err(e) = holm_vm::net::unwire_all(f.as_fd(), &w) {
            log::debug!("unwire {}: {e}", ns.display());
        }
    }
}
