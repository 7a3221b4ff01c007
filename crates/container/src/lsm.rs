//! Linux security modules: `process.apparmorProfile` and `process.selinuxLabel` (runtime-spec `config.md#process`),
//! applied with the same rules as runc: an AppArmor profile on a host where AppArmor is not enabled is ignored
//! (logged at debug level); an SELinux label on a host without SELinux is an error. Both are written as "exec"
//! attributes, which take effect at the container's `execve`, through a verified procfs ([`crate::procfs`]).

use crate::procfs::ProcFs;
use crate::{Error, Result};
use oci_spec::runtime::Process;
use std::path::PathBuf;

/// True if AppArmor is enabled (`/sys/module/apparmor/parameters/enabled` is `Y`).
pub fn apparmor_enabled() -> bool {
    std::fs::read_to_string("/sys/module/apparmor/parameters/enabled")
        .is_ok_and(|s| s.trim() == "Y")
}

/// True if SELinux is enabled (selinuxfs is mounted at `/sys/fs/selinux`).
pub fn selinux_enabled() -> bool {
    std::path::Path::new("/sys/fs/selinux/enforce").exists()
}

/// Fails early (before anything is created) for an SELinux label on a host without SELinux, as runc does.
/// An AppArmor profile on a host without AppArmor is noted at debug level here, in the runtime's own process
/// (the container's stages write no log lines: their stderr is the container's).
pub fn validate(p: &Process) -> Result<()> {
    if let Some(profile) = p.apparmor_profile().as_deref().filter(|s| !s.is_empty()) {
        if !apparmor_enabled() {
            log::debug!("AppArmor is not enabled on this host: ignoring process.apparmorProfile {profile:?}");
        }
    }
    if p.selinux_label().as_deref().is_some_and(|l| !l.is_empty()) && !selinux_enabled() {
        return Err(Error::config(
            "process.selinuxLabel",
            "an SELinux label is set, but SELinux is not enabled on this host",
        ));
    }
    Ok(())
}

/// Sets the exec-time AppArmor profile and SELinux label of the calling process.
pub fn apply(p: &Process, proc: &ProcFs) -> Result<()> {
    let pid = holm_sys::process::getpid();
    if let Some(profile) = p.apparmor_profile().as_deref().filter(|s| !s.is_empty()) {
        if apparmor_enabled() {
            let new = PathBuf::from(format!("{pid}/attr/apparmor/exec"));
            let old = PathBuf::from(format!("{pid}/attr/exec"));
            let value = format!("exec {profile}");
            proc.write(&new, &value)
                .or_else(|_| proc.write(&old, &value))
                .map_err(|e| Error::config("process.apparmorProfile", e.to_string()))?;
        }
    }
    if let Some(label) = p.selinux_label().as_deref().filter(|s| !s.is_empty()) {
        proc.write(&PathBuf::from(format!("{pid}/attr/exec")), label)
            .map_err(|e| Error::config("process.selinuxLabel", e.to_string()))?;
    }
    Ok(())
}
