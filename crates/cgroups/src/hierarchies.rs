//! The set of cgroup hierarchies on this host and the caller's own cgroup in each: v1, v2 or hybrid.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::mountinfo::{parse_mountinfo, HierarchyInfo};
use crate::proc_cgroup::{parse_proc_cgroup, ProcCgroupEntry};
use crate::Error;

/// How cgroups are mounted on the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Layout {
    /// Only cgroup v1 hierarchies (`cgroup` mounts, one per controller or group of co-mounted controllers).
    V1,
    /// Only the cgroup v2 unified hierarchy (a `cgroup2` mount, normally at `/sys/fs/cgroup`).
    V2,
    /// Both: v1 hierarchies for the controllers bound to them, plus a `cgroup2` mount (systemd's "hybrid" puts
    /// it at `/sys/fs/cgroup/unified`) holding the controllers no v1 hierarchy claims.
    Hybrid,
}

/// The visible cgroup hierarchies of the calling process's mount namespace, and the caller's own cgroup in
/// each (needed to resolve a relative `linux.cgroupsPath`).
#[derive(Debug, Clone)]
pub struct Hierarchies {
    /// Mounted hierarchies in mountinfo order, each with the caller's cgroup in it (path from the hierarchy
    /// root, as `/proc/self/cgroup` shows it), if `/proc/self/cgroup` lists the hierarchy.
    entries: Vec<(HierarchyInfo, Option<PathBuf>)>,
}

impl Hierarchies {
    /// Reads `/proc/self/mountinfo` and `/proc/self/cgroup` and returns the hierarchies mounted in the caller's
    /// mount namespace.
    ///
    /// Errors: [`Error::ReadProc`] if a file cannot be read, [`Error::Parse`] for a malformed line,
    /// [`Error::NoHierarchies`] when no `cgroup`/`cgroup2` mount is visible.
    pub fn detect() -> Result<Hierarchies, Error> {
        let read = |path: &str| {
            std::fs::read_to_string(path).map_err(|error| Error::ReadProc {
                path: PathBuf::from(path),
                error,
            })
        };
        Hierarchies::parse(&read("/proc/self/mountinfo")?, &read("/proc/self/cgroup")?)
    }

    /// Like [`Hierarchies::detect`], from the texts of `/proc/<pid>/mountinfo` and `/proc/<pid>/cgroup`.
    ///
    /// A v1 hierarchy is matched to the `/proc/<pid>/cgroup` line with exactly its controllers and name; the
    /// cgroup v2 hierarchy to the `0::` line.
    pub fn parse(mountinfo: &str, proc_cgroup: &str) -> Result<Hierarchies, Error> {
        Hierarchies::from_parts(
            parse_mountinfo(mountinfo)?,
            &parse_proc_cgroup(proc_cgroup)?,
        )
    }

    /// Combines parsed mountinfo hierarchies ([`crate::parse_mountinfo`]) with the caller's cgroup membership
    /// ([`crate::parse_proc_cgroup`]).
    ///
    /// Errors: [`Error::NoHierarchies`] if `hierarchies` is empty.
    pub fn from_parts(
        hierarchies: Vec<HierarchyInfo>,
        own: &[ProcCgroupEntry],
    ) -> Result<Hierarchies, Error> {
        if hierarchies.is_empty() {
            return Err(Error::NoHierarchies);
        }
        let entries = hierarchies
            .into_iter()
            .map(|h| {
                let own_path = own
                    .iter()
                    .find(|e| matches_entry(&h, e))
                    .map(|e| e.path.clone());
                (h, own_path)
            })
            .collect();
        Ok(Hierarchies { entries })
    }

    /// V1, V2 or Hybrid, from which kinds of hierarchy are mounted.
    pub fn layout(&self) -> Layout {
        let v2 = self.entries.iter().any(|(h, _)| h.is_v2());
        let v1 = self.entries.iter().any(|(h, _)| !h.is_v2());
        match (v1, v2) {
            (true, true) => Layout::Hybrid,
            (false, true) => Layout::V2,
            // `from_parts` rejects an empty list, so at least one kind is present.
            (_, false) => Layout::V1,
        }
    }

    /// All hierarchies, in mountinfo order, each with the caller's own cgroup in it (a path from the root of
    /// the hierarchy as `/proc/self/cgroup` shows it, e.g. `/user.slice`), or `None` when `/proc/self/cgroup`
    /// has no line for it.
    pub fn iter(&self) -> impl Iterator<Item = (&HierarchyInfo, Option<&Path>)> {
        self.entries.iter().map(|(h, own)| (h, own.as_deref()))
    }

    /// The cgroup v2 unified hierarchy, if mounted.
    pub fn v2(&self) -> Option<&HierarchyInfo> {
        self.iter().map(|(h, _)| h).find(|h| h.is_v2())
    }

    /// The v1 hierarchy carrying `controller` (`"memory"`, or `"name=systemd"` for a named hierarchy), if
    /// mounted.
    pub fn v1(&self, controller: &str) -> Option<&HierarchyInfo> {
        self.iter()
            .map(|(h, _)| h)
            .find(|h| h.has_v1_controller(controller))
    }
}

/// True if `/proc/<pid>/cgroup` line `e` describes hierarchy `h`: the v2 line for v2, the line with exactly
/// `h`'s controllers and name for v1.
pub(crate) fn matches_entry(h: &HierarchyInfo, e: &ProcCgroupEntry) -> bool {
    if h.is_v2() {
        return e.is_v2();
    }
    if e.is_v2() {
        return false;
    }
    let mut want = h.proc_cgroup_tokens();
    let mut got = e.controllers.clone();
    want.sort();
    got.sort();
    want == got
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::samples::*;

    #[test]
    fn hybrid_layout_and_own_cgroups() {
        let h = Hierarchies::parse(HYBRID, PROC_HYBRID).unwrap();
        assert_eq!(h.layout(), Layout::Hybrid);
        assert_eq!(h.iter().count(), 10);
        assert!(h.iter().all(|(_, own)| own.is_some()));
        let memory = h.v1("memory").unwrap();
        let (_, own) = h.iter().find(|(x, _)| *x == memory).unwrap();
        assert_eq!(
            own,
            Some(Path::new("/process_api/3e9b09441a9e70fec649a2c54f5b5386"))
        );
        assert_eq!(
            h.v2().unwrap().mount_point(),
            Path::new("/sys/fs/cgroup/unified")
        );
        assert_eq!(
            h.v1("name=systemd").unwrap().mount_point(),
            Path::new("/sys/fs/cgroup/systemd")
        );
        assert!(h.v1("hugetlb").is_none());
    }

    #[test]
    fn v1_layout_matches_comounted_controllers() {
        let h = Hierarchies::parse(V1, PROC_V1).unwrap();
        assert_eq!(h.layout(), Layout::V1);
        assert!(h.v2().is_none());
        let own: Vec<_> = h
            .iter()
            .map(|(h, own)| (h.to_string(), own.map(Path::to_path_buf)))
            .collect();
        assert_eq!(
            own,
            [
                (
                    "name=systemd".into(),
                    Some("/user.slice/user-1000.slice/session-2.scope".into())
                ),
                ("cpu,cpuacct".into(), Some("/user.slice".into())),
                ("cpuset".into(), Some("/".into())),
                ("net_cls,net_prio".into(), Some("/".into())),
                ("memory".into(), Some("/user.slice/user-1000.slice".into())),
            ]
        );
    }

    #[test]
    fn v2_layout() {
        let h = Hierarchies::parse(V2, PROC_V2).unwrap();
        assert_eq!(h.layout(), Layout::V2);
        let (v2, own) = h.iter().next().unwrap();
        assert!(v2.is_v2());
        assert_eq!(
            own,
            Some(Path::new("/user.slice/user-1000.slice/session-2.scope"))
        );
    }

    #[test]
    fn missing_proc_cgroup_line_leaves_own_unknown() {
        let h = Hierarchies::parse(HYBRID, "0::/\n").unwrap();
        assert!(h
            .iter()
            .filter(|(h, _)| !h.is_v2())
            .all(|(_, own)| own.is_none()));
    }

    #[test]
    fn no_cgroup_mounts() {
        let err =
            Hierarchies::parse("27 1 254:0 / / rw - ext4 /dev/vda rw\n", "0::/\n").unwrap_err();
        assert!(matches!(err, Error::NoHierarchies), "{err}");
    }
}
