//! The pids controller: `linux.resources.pids.limit` — `pids.max` on both versions (`max` for a limit ≤ 0).

use oci_spec::runtime::LinuxPids;

use crate::resources::{Controller, Setting};

pub(crate) const PIDS: Controller = Controller {
    v1: "pids",
    v2: "pids",
};

pub(crate) fn settings(p: &LinuxPids) -> Vec<Setting> {
    let limit = p.limit();
    let value = if limit > 0 {
        limit.to_string()
    } else {
        "max".to_string()
    };
    vec![Setting::same("pids.limit", PIDS, "pids.max", value).default_if(limit <= 0)]
}
