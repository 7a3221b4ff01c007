//! Where a process that joins a running container (`exec`) goes in each hierarchy.
//!
//! - Without `--cgroup`: the cgroup the container's init is in now, read from `/proc/<init>/cgroup`, when that
//!   is the container's cgroup or one below it (the init, or something inside the container, may have moved it
//!   to a sub-cgroup, e.g. systemd in a container, or so that a cgroup v2 parent may enable controllers for its
//!   children); otherwise the container's cgroup. runc 1.2 joins the container's top cgroup and falls back to
//!   the init's only on cgroup v2 when the top refuses processes (`EBUSY`): holm follows the init on v1, v2 and
//!   hybrid alike, so an exec'd process always shares the init's limits and accounting (a deliberate difference,
//!   documented in the README).
//! - `--cgroup PATH` (runc's flag): `PATH` below the container's cgroup in every hierarchy; `/` is the
//!   container's cgroup itself. It must exist.
//! - `--cgroup CONTROLLER[,CONTROLLER...]:PATH` (repeatable, v1 controllers only, as runc): `PATH` below the
//!   container's cgroup in the v1 hierarchy of each named controller; the other hierarchies are chosen as
//!   without the flag.

use std::path::{Component, Path, PathBuf};

use crate::cgroup::{Cgroup, CgroupDir};
use crate::mountinfo::is_clean_absolute;
use crate::proc_cgroup::ProcCgroupEntry;
use crate::Error;

/// The parsed `exec --cgroup` arguments: sub-cgroup paths relative to the container's cgroup.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SubCgroups {
    /// `--cgroup PATH`: the same sub-cgroup in every hierarchy (`""` for the container's own cgroup).
    pub all: Option<PathBuf>,
    /// `--cgroup CONTROLLER[,...]:PATH`: `(controller, path)` pairs, one per named v1 controller.
    pub per_controller: Vec<(String, PathBuf)>,
}

impl SubCgroups {
    /// Parses the values of every `--cgroup` flag, as runc does: either one `PATH`, or any number of
    /// `CONTROLLER[,CONTROLLER...]:PATH`, each controller named once.
    ///
    /// Errors: [`Error::ExecCgroup`] for a plain path given with others, an empty controller, a controller
    /// named twice, or a path that is not clean (a `..` component, NUL).
    pub fn parse(args: &[String]) -> Result<SubCgroups, Error> {
        let mut out = SubCgroups::default();
        for a in args {
            let bad = |reason: &str| Error::ExecCgroup {
                value: a.escape_default().to_string(),
                reason: reason.to_string(),
            };
            match a.split_once(':') {
                None => {
                    if args.len() != 1 {
                        return Err(bad(
                            "a path without a CONTROLLER: prefix must be the only --cgroup",
                        ));
                    }
                    out.all = Some(relative(a).map_err(&bad)?);
                }
                Some((ctrls, path)) => {
                    if path.contains(':') {
                        return Err(bad("expected PATH or CONTROLLER[,CONTROLLER...]:PATH"));
                    }
                    let path = relative(path).map_err(&bad)?;
                    for c in ctrls.split(',') {
                        if c.is_empty() {
                            return Err(bad("empty controller name"));
                        }
                        if out.per_controller.iter().any(|(k, _)| k == c) {
                            return Err(bad(&format!("controller `{c}` is given more than once")));
                        }
                        out.per_controller.push((c.to_string(), path.clone()));
                    }
                }
            }
        }
        Ok(out)
    }

    /// True when no `--cgroup` was given.
    pub fn is_empty(&self) -> bool {
        self.all.is_none() && self.per_controller.is_empty()
    }
}

/// `path` as a relative path below the container's cgroup (a leading `/` is dropped, `.` skipped); refuses
/// `..` and NUL.
fn relative(path: &str) -> Result<PathBuf, &'static str> {
    if path.contains('\0') {
        return Err("the path contains a NUL byte");
    }
    let mut out = PathBuf::new();
    for c in Path::new(path).components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::RootDir | Component::CurDir => {}
            Component::ParentDir => {
                return Err("the path must stay below the container's cgroup (no `..`)")
            }
            Component::Prefix(_) => return Err("not a cgroup path"),
        }
    }
    Ok(out)
}

impl Cgroup {
    /// The cgroup an `exec`'d process joins (see the module docs): `init` is the container init's
    /// `/proc/<pid>/cgroup` as read by the caller, `sub` the `--cgroup` flags. Nothing is touched; a sub-cgroup
    /// that does not exist makes [`Cgroup::add_pid`] fail naming it.
    ///
    /// Errors: [`Error::ExecCgroup`] for a controller no mounted v1 hierarchy carries (including any controller
    /// on a cgroup v2-only host), or two controllers of one hierarchy given different paths.
    pub fn for_exec(&self, init: &[ProcCgroupEntry], sub: &SubCgroups) -> Result<Cgroup, Error> {
        for (c, _) in &sub.per_controller {
            if !self.dirs.iter().any(|d| d.hierarchy.has_v1_controller(c)) {
                return Err(Error::ExecCgroup {
                    value: format!("{c}:…"),
                    reason: format!(
                        "no cgroup v1 hierarchy carries controller `{c}` (per-controller paths are for cgroup v1)"
                    ),
                });
            }
        }
        let dirs = self
            .dirs
            .iter()
            .map(|d| {
                let mut named = sub
                    .per_controller
                    .iter()
                    .filter(|(c, _)| d.hierarchy.has_v1_controller(c));
                let path = if let Some((c, first)) = named.next() {
                    if let Some((c2, _)) = named.find(|(_, p)| p != first) {
                        return Err(Error::ExecCgroup {
                            value: format!("{c}:…"),
                            reason: format!(
                                "`{c}` and `{c2}` share hierarchy {} but were given different paths",
                                d.hierarchy
                            ),
                        });
                    }
                    d.path.join(first)
                } else if let Some(all) = &sub.all {
                    d.path.join(all)
                } else {
                    init_dir(d, init).unwrap_or_else(|| d.path.clone())
                };
                Ok(CgroupDir {
                    hierarchy: d.hierarchy.clone(),
                    path,
                })
            })
            .collect::<Result<_, Error>>()?;
        Ok(Cgroup { dirs })
    }
}

/// The init's cgroup directory in `d`'s hierarchy, if `/proc/<init>/cgroup` lists it at or below `d`.
fn init_dir(d: &CgroupDir, init: &[ProcCgroupEntry]) -> Option<PathBuf> {
    let e = init
        .iter()
        .find(|e| crate::hierarchies::matches_entry(&d.hierarchy, e))?;
    if !is_clean_absolute(&e.path) {
        return None;
    }
    let rel = e.path.strip_prefix(d.hierarchy.root()).ok()?;
    let dir = d.hierarchy.mount_point().join(rel);
    dir.starts_with(&d.path).then_some(dir)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::samples::*;
    use crate::{parse_proc_cgroup, Hierarchies};

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn parse_forms() {
        assert!(SubCgroups::parse(&[]).unwrap().is_empty());
        let p = SubCgroups::parse(&s(&["/a/b"])).unwrap();
        assert_eq!(p.all.as_deref(), Some(Path::new("a/b")));
        assert_eq!(
            SubCgroups::parse(&s(&["/"])).unwrap().all.as_deref(),
            Some(Path::new(""))
        );
        let p = SubCgroups::parse(&s(&["cpu,memory:x", "pids:y"])).unwrap();
        assert_eq!(p.per_controller.len(), 3);
        assert_eq!(p.per_controller[1], ("memory".into(), PathBuf::from("x")));
        for bad in [
            &["a", "cpu:b"][..],
            &["../x"],
            &["cpu:a/../../x"],
            &[",cpu:x"],
            &["cpu:x", "cpu:y"],
            &["a:b:c"],
        ] {
            let e = SubCgroups::parse(&s(bad)).unwrap_err();
            assert!(e.to_string().starts_with("--cgroup "), "{bad:?}: {e}");
        }
    }

    #[test]
    fn follows_the_init_below_the_container_only() {
        let h = Hierarchies::parse(HYBRID, PROC_HYBRID).unwrap();
        let c = Cgroup::resolve(&h, Some("/holm/abc"), "x").unwrap();
        let init = parse_proc_cgroup(
            "4:memory:/holm/abc/sub\n0::/holm/abc/sub/deeper\n3:cpu,cpuacct:/elsewhere\n2:pids:/holm/abc/../x\n",
        )
        .unwrap();
        let t = c.for_exec(&init, &SubCgroups::default()).unwrap();
        assert_eq!(
            t.v1_dir("memory"),
            Some(Path::new("/sys/fs/cgroup/memory/holm/abc/sub"))
        );
        assert_eq!(
            t.v2_dir(),
            Some(Path::new("/sys/fs/cgroup/unified/holm/abc/sub/deeper"))
        );
        // Outside the container's cgroup, or not clean: the container's own.
        assert_eq!(
            t.v1_dir("cpu"),
            Some(Path::new("/sys/fs/cgroup/cpu/holm/abc"))
        );
        assert_eq!(
            t.v1_dir("pids"),
            Some(Path::new("/sys/fs/cgroup/pids/holm/abc"))
        );
    }

    #[test]
    fn sub_paths() {
        let h = Hierarchies::parse(HYBRID, PROC_HYBRID).unwrap();
        let c = Cgroup::resolve(&h, Some("/holm/abc"), "x").unwrap();
        let init = parse_proc_cgroup("4:memory:/holm/abc/sub\n").unwrap();
        let t = c
            .for_exec(&init, &SubCgroups::parse(&s(&["s2"])).unwrap())
            .unwrap();
        assert!(t.dirs().all(|(_, p)| p.ends_with("holm/abc/s2")));
        let t = c
            .for_exec(&init, &SubCgroups::parse(&s(&["cpu:s2"])).unwrap())
            .unwrap();
        assert_eq!(
            t.v1_dir("cpu"),
            Some(Path::new("/sys/fs/cgroup/cpu/holm/abc/s2"))
        );
        assert_eq!(
            t.v1_dir("memory"),
            Some(Path::new("/sys/fs/cgroup/memory/holm/abc/sub"))
        );
        assert!(c
            .for_exec(&init, &SubCgroups::parse(&s(&["nosuch:s2"])).unwrap())
            .is_err());
        // cpu and cpuacct share one hierarchy on this v1 host.
        let v1 = Hierarchies::parse(V1, PROC_V1).unwrap();
        let c1 = Cgroup::resolve(&v1, Some("/holm/abc"), "x").unwrap();
        assert!(c1
            .for_exec(
                &init,
                &SubCgroups::parse(&s(&["cpu:a", "cpuacct:b"])).unwrap()
            )
            .is_err());
        assert!(c1
            .for_exec(&init, &SubCgroups::parse(&s(&["cpu,cpuacct:a"])).unwrap())
            .is_ok());
        let v2 = Hierarchies::parse(V2, PROC_V2).unwrap();
        let c = Cgroup::resolve(&v2, Some("/holm/abc"), "x").unwrap();
        assert!(c
            .for_exec(&[], &SubCgroups::parse(&s(&["memory:s2"])).unwrap())
            .is_err());
    }
}
