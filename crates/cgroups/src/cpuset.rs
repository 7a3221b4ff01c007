//! The cpuset controller: `linux.resources.cpu.cpus` and `.mems` — `cpuset.cpus` and `cpuset.mems` on both
//! versions.

use oci_spec::runtime::LinuxCpu;

use crate::resources::{Controller, Setting};

pub(crate) const CPUSET: Controller = Controller {
    v1: "cpuset",
    v2: "cpuset",
};

pub(crate) fn settings(c: &LinuxCpu) -> Vec<Setting> {
    let mut out = Vec::new();
    if let Some(cpus) = c.cpus().as_deref().filter(|s| !s.is_empty()) {
        out.push(Setting::same("cpu.cpus", CPUSET, "cpuset.cpus", cpus));
    }
    if let Some(mems) = c.mems().as_deref().filter(|s| !s.is_empty()) {
        out.push(Setting::same("cpu.mems", CPUSET, "cpuset.mems", mems));
    }
    out
}
