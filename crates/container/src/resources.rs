//! `linux.resources` at `create`: the config's resources, with the device rules every container needs, applied
//! to the new cgroup before any process joins it (so nothing in the container ever runs unlimited).

use crate::Result;
use oci_spec::runtime::{Linux, LinuxResources};

/// The resources to apply for `linux`: `linux.resources` as given, and for devices (as runc's specconv) the
/// config's `linux.resources.devices` rules followed by the devices every container may use
/// ([`holm_cgroups::devices::default_allowed`]). Device rules are applied even when `linux.resources` is
/// absent: a container starts from "deny every device".
///
/// A `linux.devices` entry only creates a node: it adds no rule of its own, so a config that creates a device
/// and denies it (explicitly or by a deny-all without an allow) keeps it denied, as with runc. A config that
/// wants a created device usable allows it in `linux.resources.devices` (as `runc spec`, podman and docker do).
pub fn effective(linux: &Linux) -> LinuxResources {
    let mut r = linux.resources().clone().unwrap_or_default();
    let mut rules = r.devices().clone().unwrap_or_default();
    rules.extend(holm_cgroups::devices::default_allowed());
    r.set_devices(Some(rules));
    r
}

/// Applies [`effective`] resources to the container's freshly created cgroup, except `pids` (see
/// [`apply_pids_after_fork`]).
pub(crate) fn apply_at_create(cg: &holm_cgroups::Cgroup, linux: &Linux) -> Result<()> {
    let mut r = effective(linux);
    r.set_pids(None);
    cg.apply(&r)?;
    Ok(())
}

/// Writes `linux.resources.pids` once the init exists and its setup process has left the cgroup: the init is then
/// the cgroup's only task, so a limit of 0 or 1 (runtime-spec 1.3: 0 is a real limit) still lets it be created, and
/// holds for everything the container's process forks. Applied before `Created`, so no user code runs unlimited.
pub(crate) fn apply_pids_after_fork(cg: &holm_cgroups::Cgroup, linux: &Linux) -> Result<()> {
    if let Some(p) = linux.resources().as_ref().and_then(|r| r.pids().as_ref()) {
        let mut r = LinuxResources::default();
        r.set_pids(Some(*p));
        cg.apply(&r)?;
    }
    Ok(())
}
