//! The pids controller: `linux.resources.pids.limit` — `pids.max` on both versions: a limit of 0 or more as is
//! (runtime-spec 1.3: "`0` is a valid limit value … and SHOULD be treated as such"; runc 1.4 does the same), a
//! negative one as `max` (unlimited). An absent `limit` changes nothing: `holm_container::spec::parse` drops a
//! `pids` object without one (oci-spec 0.10 would read it as 0).

use oci_spec::runtime::LinuxPids;

use crate::resources::{Controller, Setting};

pub(crate) const PIDS: Controller = Controller {
    v1: "pids",
    v2: "pids",
};

pub(crate) fn settings(p: &LinuxPids) -> Vec<Setting> {
    let limit = p.limit();
    let value = if limit >= 0 {
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
    fn zero_is_a_limit_and_negative_means_max() {
        assert_eq!(values(20), ["20"]);
        assert_eq!(values(-1), ["max"]);
        assert_eq!(values(-5), ["max"]);
        assert_eq!(values(0), ["0"]);
    }
}
