//! `linux.intelRdt` (runtime-spec `config-linux.md#intelrdt`): not implemented by holm. The spec requires an error
//! when no `resctrl` file system is mounted in the runtime's mount namespace; holm refuses the field in every
//! case, with a message that says which (`features` reports `intelRdt.enabled: false`).

use crate::{Error, Result};
use oci_spec::runtime::Spec;

/// Where `resctrl` is mounted (from `/proc/self/mountinfo`), if it is.
pub fn resctrl_mount() -> Option<String> {
    let text = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    text.lines().find_map(|l| {
        let (pre, post) = l.split_once(" - ")?;
        (post.split(' ').next() == Some("resctrl"))
            .then(|| pre.split(' ').nth(4).unwrap_or("").to_string())
    })
}

/// Refuses `linux.intelRdt`: without resctrl (the runtime-spec's rule), or because holm does not implement it.
pub fn check(spec: &Spec) -> Result<()> {
    if spec
        .linux()
        .as_ref()
        .and_then(|l| l.intel_rdt().as_ref())
        .is_none()
    {
        return Ok(());
    }
    Err(Error::config(
        "linux.intelRdt",
        match resctrl_mount() {
            None => "no resctrl file system is mounted on this host (Intel RDT needs `mount -t resctrl resctrl /sys/fs/resctrl`)".to_string(),
            Some(at) => format!("Intel RDT is not supported by holm (resctrl is mounted at {at})"),
        },
    ))
}
