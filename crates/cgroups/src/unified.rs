//! `linux.resources.unified`: raw cgroup v2 keys (`"memory.high": "64M"`), written as given to the container's
//! cgroup2 directory after everything else. The controller is the key's prefix (`memory`); `cgroup.*` keys are
//! core files. On a hybrid host a key works only if cgroup2 offers its controller.

use std::collections::HashMap;

use crate::resources::{w, Controller, Knobs, Setting, CORE};
use crate::Error;

/// Known v2 controller names (the `Controller` type holds static names).
const V2_CONTROLLERS: [&str; 9] = [
    CORE, "cpu", "cpuset", "io", "memory", "pids", "hugetlb", "rdma", "misc",
];

pub(crate) fn settings(u: &HashMap<String, String>) -> Result<Vec<Setting>, Error> {
    let mut keys: Vec<_> = u.iter().collect();
    keys.sort();
    keys.into_iter()
        .map(|(k, v)| {
            let field = format!("unified.{k:?}");
            let bad = |reason: String| Error::Resource {
                field: field.clone(),
                reason,
            };
            let prefix = k.split('.').next().unwrap_or_default();
            if k.contains('/') || !k.contains('.') || k.starts_with('.') || k.ends_with('.') {
                return Err(bad(format!(
                    "`{k}` is not a cgroup v2 control file name like `memory.high`"
                )));
            }
            if matches!(
                k.as_str(),
                "cgroup.procs" | "cgroup.threads" | "cgroup.subtree_control"
            ) {
                return Err(bad(format!(
                    "`{k}` is managed by the runtime and cannot be set"
                )));
            }
            let v2 = V2_CONTROLLERS
                .iter()
                .find(|c| **c == prefix)
                .ok_or_else(|| bad(format!("unknown cgroup v2 controller `{prefix}`")))?;
            Ok(Setting::new(
                field.clone(),
                Controller { v1: "", v2 },
                Knobs::Unsupported,
                w(k.as_str(), v),
            ))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_map_to_their_controller() {
        let u: HashMap<String, String> = [
            ("memory.high".to_string(), "64M".to_string()),
            ("cgroup.max.descendants".to_string(), "5".to_string()),
        ]
        .into();
        let s = settings(&u).unwrap();
        assert_eq!(s[0].controller.v2, "cgroup");
        assert_eq!(s[0].v2, w("cgroup.max.descendants", "5"));
        assert_eq!(s[1].controller.v2, "memory");
        for bad in ["../x.y", "memory", "cgroup.procs", "nope.x", ".x"] {
            let u: HashMap<String, String> = [(bad.to_string(), "1".to_string())].into();
            assert!(settings(&u).is_err(), "{bad}");
        }
    }
}
