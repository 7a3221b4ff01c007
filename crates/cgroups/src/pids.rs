//! The pids controller: `linux.resources.pids.limit` — `pids.max` on both versions: a positive limit as is, a
//! negative one as `max` (unlimited), and 0 leaves `pids.max` unchanged, as runc 1.1.5 does (libcontainer's pids
//! `Set` writes only when `PidsLimit != 0`; `runc update --pids-limit 0` changes nothing).

use oci_spec::runtime::LinuxPids;

use crate::resources::{Controller, Setting};

pub(crate) const PIDS: Controller = Controller {
    v1: "pids",
    v2: "pids",
};

pub(crate) fn settings(p: &LinuxPids) -> Vec<Setting> {
    let limit = p.limit();
    if limit == 0 {
        return Vec::new();
    }
    let value = if limit > 0 {
        limit.to_string()
    } else {
        "max".to_string()
    };
    vec![Setting::same("pids.limit", PIDS, "pids.max", value).default_if(limit < 0)]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(limit: i64) -> Vec<String> {
        let mut p = LinuxPids::default();
        p.set_limit(limit);
        settings(&p)
            .into_iter()
            .flat_map(|s| match s.v2 {
                crate::resources::Knobs::Write(k) => k.into_iter().map(|k| k.value).collect(),
                _ => Vec::new(),
            })
            .collect()
    }

    #[test]
    fn zero_leaves_the_limit_alone_and_negative_means_max() {
        assert_eq!(values(20), ["20"]);
        assert_eq!(values(-1), ["max"]);
        assert_eq!(values(-5), ["max"]);
        assert!(values(0).is_empty());
    }
}
