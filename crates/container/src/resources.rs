//! `linux.resources` at `create`: the config's resources, with the device rules every container needs, applied
//! to the new cgroup before any process joins it (so nothing in the container ever runs unlimited).

use crate::Result;
use oci_spec::runtime::{Linux, LinuxDeviceCgroup, LinuxResources};

/// The resources to apply for `linux`: `linux.resources` as given, and for devices (as runc) the config's rules,
/// then an allow rule for each `linux.devices` entry, then the devices every container may use
/// ([`holm_cgroups::devices::default_allowed`]). Device rules are applied even when `linux.resources` is
/// absent: a container starts from "deny every device".
pub fn effective(linux: &Linux) -> LinuxResources {
    let mut r = linux.resources().clone().unwrap_or_default();
    let mut rules = r.devices().clone().unwrap_or_default();
    for d in linux.devices().iter().flatten() {
        let mut rule = LinuxDeviceCgroup::default();
        rule.set_allow(true);
        rule.set_typ(Some(d.typ()));
        rule.set_major(Some(d.major()));
        rule.set_minor(Some(d.minor()));
        rule.set_access(Some("rwm".into()));
        rules.push(rule);
    }
    rules.extend(holm_cgroups::devices::default_allowed());
    r.set_devices(Some(rules));
    r
}

/// Applies [`effective`] resources to the container's freshly created cgroup.
pub(crate) fn apply_at_create(cg: &holm_cgroups::Cgroup, linux: &Linux) -> Result<()> {
    cg.apply(&effective(linux))?;
    Ok(())
}
