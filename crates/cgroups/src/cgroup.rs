//! A container's cgroup: where it lives in every hierarchy, and creating, joining, listing and removing it.

use std::io;
use std::path::{Component, Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::dir::Dir;
use crate::hierarchies::Hierarchies;
use crate::mountinfo::{is_clean_absolute, HierarchyInfo};
use crate::path::{default_path, parse_cgroups_path};
use crate::Error;

/// How long [`Cgroup::remove`] retries `rmdir` while the kernel reports `EBUSY`.
const REMOVE_TIMEOUT: Duration = Duration::from_secs(1);

/// A container's cgroup: one directory per hierarchy (v1: each mounted hierarchy; v2: the unified one; hybrid:
/// both).
///
/// It is plain data (serialisable into the container's state) and touches the file system only in
/// [`Cgroup::create`], [`Cgroup::add_pid`], [`Cgroup::pids`], [`Cgroup::exists`] and [`Cgroup::remove`]. These
/// reach every directory by walking down from the hierarchy's mount point through open directory handles, never
/// following a symlink and never leaving the hierarchy's file system.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cgroup {
    pub(crate) dirs: Vec<CgroupDir>,
}

/// The container's directory in one hierarchy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct CgroupDir {
    pub(crate) hierarchy: HierarchyInfo,
    /// Absolute path of the cgroup directory: the hierarchy's mount point joined with the cgroup path.
    pub(crate) path: PathBuf,
}

impl Cgroup {
    /// Decides where the container's cgroup lives, from `linux.cgroupsPath` (OCI runtime-spec, config-linux.md).
    ///
    /// - absolute (`/holm/abc`): `<mount point>/holm/abc` in every hierarchy;
    /// - relative (`pod/abc`): joined to the caller's own cgroup in each hierarchy, as listed in
    ///   `/proc/self/cgroup` (`<mount point>/<own cgroup>/pod/abc`);
    /// - `None`: the default `/holm/<id>`.
    ///
    /// Nothing is created. Errors: [`Error::InvalidPath`] naming `linux.cgroupsPath` (empty, NUL, a `..`
    /// component, or the hierarchy root) or `container id` (when used for the default and not a plain name);
    /// [`Error::OwnCgroup`] when a relative path is given and the caller's cgroup in some hierarchy is unknown
    /// or outside the mounted part of it.
    pub fn resolve(h: &Hierarchies, cgroups_path: Option<&str>, id: &str) -> Result<Cgroup, Error> {
        let path = match cgroups_path {
            Some(p) => parse_cgroups_path(p)?,
            None => default_path(id)?,
        };
        let dirs = h
            .iter()
            .map(|(hierarchy, own)| {
                let base = if path.absolute {
                    hierarchy.mount_point().to_path_buf()
                } else {
                    let value = cgroups_path.unwrap_or_default();
                    own_dir(hierarchy, own, value)?
                };
                Ok(CgroupDir {
                    hierarchy: hierarchy.clone(),
                    path: base.join(path.relative()),
                })
            })
            .collect::<Result<_, Error>>()?;
        Ok(Cgroup { dirs })
    }

    /// The container's directory in each hierarchy, in mountinfo order: `(hierarchy, absolute path)`. Use
    /// [`HierarchyInfo::is_v2`] / [`HierarchyInfo::controllers`] to tell v1 controller hierarchies from the v2
    /// one.
    pub fn dirs(&self) -> impl Iterator<Item = (&HierarchyInfo, &Path)> {
        self.dirs.iter().map(|d| (&d.hierarchy, d.path.as_path()))
    }

    /// The directory in the cgroup v2 unified hierarchy, if one is mounted.
    pub fn v2_dir(&self) -> Option<&Path> {
        self.dirs().find(|(h, _)| h.is_v2()).map(|(_, p)| p)
    }

    /// The directory in the v1 hierarchy carrying `controller` (`"cpuset"`, `"name=systemd"`), if mounted.
    pub fn v1_dir(&self, controller: &str) -> Option<&Path> {
        self.dirs()
            .find(|(h, _)| h.has_v1_controller(controller))
            .map(|(_, p)| p)
    }

    /// Creates the cgroup: `mkdir -p` in every hierarchy (mode 0755). Directories that already exist are used
    /// as they are.
    ///
    /// In a v1 `cpuset` hierarchy, every directory on the way whose `cpuset.cpus` or `cpuset.mems` is empty gets
    /// its parent's value (a new cpuset cgroup starts empty, and adding a task to it fails with `ENOSPC`;
    /// `Documentation/admin-guide/cgroup-v1/cpusets.rst` § 2.1).
    ///
    /// If anything fails, the directories this call created are removed again, deepest first, and the first
    /// error is returned ([`Error::Io`] naming the path and hierarchy).
    pub fn create(&self) -> Result<(), Error> {
        let mut created: Vec<(Dir, String)> = Vec::new();
        let result = self
            .dirs
            .iter()
            .try_for_each(|d| create_one(d, &mut created));
        if result.is_err() {
            // Deepest first: later entries are deeper (same hierarchy) or in a later hierarchy. Failures here
            // are ignored: a directory another process started using in the meantime must stay.
            for (parent, name) in created.iter().rev() {
                let _ = parent.rmdir(name);
            }
        }
        result
    }

    /// Moves process `pid` (with all its threads) into the cgroup: writes the decimal pid to `cgroup.procs` in
    /// every hierarchy, one `write(2)` each.
    ///
    /// Errors: [`Error::Io`] naming the `cgroup.procs` file and hierarchy (e.g. `ESRCH` if the process is gone,
    /// `ENOSPC` for an empty v1 cpuset, `InvalidInput` for a pid ≤ 0, which is refused before any write).
    /// Hierarchies before the failing one have already been joined.
    pub fn add_pid(&self, pid: i32) -> Result<(), Error> {
        if pid <= 0 {
            // The kernel reads 0 as "the writing process": that would move the runtime itself.
            let e = io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("pid {pid} is not positive"),
            );
            let d = self.dirs.first().ok_or(Error::NoHierarchies)?;
            return Err(d.err("write", d.path.join("cgroup.procs"), e));
        }
        let data = pid.to_string();
        for d in &self.dirs {
            let dir = d.open()?;
            dir.write("cgroup.procs", data.as_bytes())
                .map_err(|e| d.err("write", dir.child_path("cgroup.procs"), e))?;
        }
        Ok(())
    }

    /// The processes (thread-group ids) in the cgroup, sorted, without duplicates.
    ///
    /// Read from `cgroup.procs` of the v2 directory if there is one, else of the v1 `pids` hierarchy, else of
    /// `freezer`, else of the first v1 hierarchy. Child cgroups are not included.
    ///
    /// Errors: [`Error::Io`] naming `cgroup.procs` (including `ENOENT` when the cgroup does not exist).
    pub fn pids(&self) -> Result<Vec<i32>, Error> {
        let Some(d) = self.procs_dir() else {
            return Ok(Vec::new());
        };
        let dir = d.open()?;
        let path = dir.child_path("cgroup.procs");
        let text = dir
            .read("cgroup.procs")
            .map_err(|e| d.err("read", path.clone(), e))?;
        let mut pids = text
            .split_whitespace()
            .map(|s| {
                s.parse::<i32>().map_err(|_| {
                    let e =
                        io::Error::new(io::ErrorKind::InvalidData, format!("`{s}` is not a pid"));
                    d.err("read", path.clone(), e)
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        pids.sort_unstable();
        pids.dedup();
        Ok(pids)
    }

    /// The processes in the cgroup and in all its descendant cgroups (runc's `GetAllPids`, used by `ps`), read
    /// from the same hierarchy as [`Cgroup::pids`]; sorted, without duplicates.
    ///
    /// Errors: [`Error::Io`] naming the directory or `cgroup.procs` (including `ENOENT` when the cgroup does not
    /// exist). A child cgroup removed while it is being walked is skipped.
    pub fn all_pids(&self) -> Result<Vec<i32>, Error> {
        let Some(d) = self.procs_dir() else {
            return Ok(Vec::new());
        };
        let mut pids = Vec::new();
        let mut todo = vec![(d.open()?, true)];
        while let Some((dir, top)) = todo.pop() {
            let text = match dir.read("cgroup.procs") {
                Ok(t) => t,
                Err(e) if !top && e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(d.err("read", dir.child_path("cgroup.procs"), e)),
            };
            pids.extend(
                text.split_whitespace()
                    .filter_map(|s| s.parse::<i32>().ok()),
            );
            let subs = dir
                .subdirs()
                .map_err(|e| d.err("read", dir.path().to_path_buf(), e))?;
            for name in subs {
                match dir.open_dir(&name) {
                    Ok(sub) => todo.push((sub, false)),
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    Err(e) => return Err(d.err("open", dir.child_path(&name), e)),
                }
            }
        }
        pids.sort_unstable();
        pids.dedup();
        Ok(pids)
    }

    /// The directory whose `cgroup.procs` lists the container's processes: v2, else v1 `pids`, else `freezer`,
    /// else the first hierarchy.
    fn procs_dir(&self) -> Option<&CgroupDir> {
        self.dirs
            .iter()
            .find(|d| d.hierarchy.is_v2())
            .or_else(|| {
                self.dirs
                    .iter()
                    .find(|d| d.hierarchy.has_v1_controller("pids"))
            })
            .or_else(|| {
                self.dirs
                    .iter()
                    .find(|d| d.hierarchy.has_v1_controller("freezer"))
            })
            .or_else(|| self.dirs.first())
    }

    /// True if the cgroup directory exists in at least one hierarchy (so a half-removed cgroup still counts:
    /// [`Cgroup::remove`] is needed before the path can be considered free).
    pub fn exists(&self) -> bool {
        self.dirs.iter().any(|d| d.open().is_ok())
    }

    /// Removes the cgroup: `rmdir` of the leaf directory in every hierarchy, after any child cgroups below it
    /// (deepest first, as runc). Parent directories are left alone,
    /// even if [`Cgroup::create`] made them (other containers share `/holm`).
    ///
    /// A directory that is already gone is fine. `EBUSY` (processes or child cgroups remain; processes take a
    /// moment to leave after being killed) is retried for up to one second, then reported as [`Error::Busy`].
    /// All hierarchies are attempted; the first error is returned, naming the path.
    pub fn remove(&self) -> Result<(), Error> {
        // Per hierarchy: the open parent and leaf name while removal is pending, or the outcome.
        let mut pending = Vec::new();
        let mut errors: Vec<Option<Error>> = Vec::new();
        for (i, d) in self.dirs.iter().enumerate() {
            errors.push(None);
            match open_parent(d) {
                Ok(Some((parent, leaf))) => pending.push((i, d, parent, leaf)),
                Ok(None) => {}
                Err(e) => errors[i] = Some(e),
            }
        }
        // One deadline for all hierarchies: a dying process leaves all of them at the same time.
        let start = Instant::now();
        let mut pause = Duration::from_millis(5);
        loop {
            pending.retain(|(i, d, parent, leaf)| {
                // Child cgroups (made inside the container, e.g. with a cgroup namespace) go first, deepest first.
                if let Ok(dir) = parent.open_dir(leaf) {
                    remove_descendants(&dir);
                }
                match parent.rmdir(leaf) {
                    // Removed on a retry: forget the EBUSY of an earlier attempt.
                    Ok(()) => {
                        errors[*i] = None;
                        false
                    }
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {
                        errors[*i] = None;
                        false
                    }
                    Err(e) if e.raw_os_error() == Some(libc::EBUSY) => {
                        let waited_ms =
                            u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX);
                        let (path, hierarchy) = (d.path.clone(), d.hierarchy.to_string());
                        errors[*i] = Some(Error::Busy {
                            path,
                            hierarchy,
                            waited_ms,
                            error: e,
                        });
                        true
                    }
                    Err(e) => {
                        errors[*i] = Some(d.err("rmdir", d.path.clone(), e));
                        false
                    }
                }
            });
            let waited = start.elapsed();
            if pending.is_empty() || waited >= REMOVE_TIMEOUT {
                break;
            }
            std::thread::sleep(pause.min(REMOVE_TIMEOUT - waited));
            pause = (pause * 2).min(Duration::from_millis(100));
        }
        errors.into_iter().flatten().next().map_or(Ok(()), Err)
    }
}

impl CgroupDir {
    /// The path's components below the mount point. Refuses paths that are not strictly below it (possible only
    /// for a hand-edited, deserialised `Cgroup`).
    pub(crate) fn components(&self) -> Result<Vec<&str>, Error> {
        let bad = || {
            let e = io::Error::new(
                io::ErrorKind::InvalidInput,
                "not a directory strictly below the mount point",
            );
            self.err("open", self.path.clone(), e)
        };
        let rel = self
            .path
            .strip_prefix(self.hierarchy.mount_point())
            .map_err(|_| bad())?;
        let comps = rel
            .components()
            .map(|c| match c {
                Component::Normal(n) => n.to_str().ok_or_else(bad),
                _ => Err(bad()),
            })
            .collect::<Result<Vec<_>, _>>()?;
        if comps.is_empty() {
            return Err(bad());
        }
        Ok(comps)
    }

    /// Opens the directory by walking down from the mount point.
    pub(crate) fn open(&self) -> Result<Dir, Error> {
        self.walk(&self.components()?)
    }

    /// Opens `<mount point>/<comps...>`, one component at a time.
    pub(crate) fn walk(&self, comps: &[&str]) -> Result<Dir, Error> {
        let mount = self.hierarchy.mount_point();
        let mut dir = Dir::open_mount_point(&self.hierarchy)
            .map_err(|e| self.err("open", mount.to_path_buf(), e))?;
        for c in comps {
            dir = dir
                .open_dir(c)
                .map_err(|e| self.err("open", dir.child_path(c), e))?;
        }
        Ok(dir)
    }

    pub(crate) fn err(&self, op: &'static str, path: PathBuf, error: io::Error) -> Error {
        Error::Io {
            op,
            path,
            hierarchy: self.hierarchy.to_string(),
            error,
        }
    }
}

/// `mkdir -p` of one hierarchy's directory, recording each directory it creates as `(parent, name)`.
fn create_one(d: &CgroupDir, created: &mut Vec<(Dir, String)>) -> Result<(), Error> {
    let cpuset = d.hierarchy.has_v1_controller("cpuset");
    let comps = d.components()?;
    let mut dir = d.walk(&[])?;
    for c in comps {
        let path = dir.child_path(c);
        let made = dir.mkdir(c).map_err(|e| d.err("mkdir", path.clone(), e))?;
        let child = dir.open_dir(c).map_err(|e| d.err("open", path, e))?;
        let parent = std::mem::replace(&mut dir, child);
        // Record the new directory before anything else can fail, so that it is rolled back.
        let parent = if made {
            created.push((parent, c.to_owned()));
            &created.last().expect("just pushed").0
        } else {
            &parent
        };
        if cpuset {
            copy_cpuset_if_empty(d, parent, &dir)?;
        }
    }
    Ok(())
}

/// Gives `child` its parent's `cpuset.cpus` / `cpuset.mems` where the child's are empty.
fn copy_cpuset_if_empty(d: &CgroupDir, parent: &Dir, child: &Dir) -> Result<(), Error> {
    for file in ["cpuset.cpus", "cpuset.mems"] {
        let name = d.hierarchy.v1_file_name("cpuset", file);
        let read = |dir: &Dir| {
            dir.read(name)
                .map_err(|e| d.err("read", dir.child_path(name), e))
        };
        if !read(child)?.trim().is_empty() {
            continue;
        }
        let value = read(parent)?;
        let value = value.trim();
        if !value.is_empty() {
            child
                .write(name, value.as_bytes())
                .map_err(|e| d.err("write", child.child_path(name), e))?;
        }
    }
    Ok(())
}

/// Opens the parent of `d`'s leaf directory; `None` if it does not exist (then neither does the leaf).
fn open_parent(d: &CgroupDir) -> Result<Option<(Dir, &str)>, Error> {
    let comps = d.components()?;
    let (leaf, parents) = comps.split_last().expect("components() is never empty");
    match d.walk(parents) {
        Ok(p) => Ok(Some((p, leaf))),
        Err(Error::Io { error, .. }) if error.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Removes every cgroup below `dir`, deepest first; best effort (a busy one makes the caller's `rmdir` of `dir`
/// report `EBUSY`).
fn remove_descendants(dir: &Dir) {
    for name in dir.subdirs().unwrap_or_default() {
        if let Ok(sub) = dir.open_dir(&name) {
            remove_descendants(&sub);
        }
        let _ = dir.rmdir(&name);
    }
}

/// `<mount point>/<own cgroup relative to the mount's root>`: the caller's own cgroup directory in `h`.
fn own_dir(h: &HierarchyInfo, own: Option<&Path>, value: &str) -> Result<PathBuf, Error> {
    let fail = |reason: String| Error::OwnCgroup {
        value: value.escape_default().to_string(),
        hierarchy: h.to_string(),
        reason,
    };
    let own = own.ok_or_else(|| fail("is not listed in /proc/self/cgroup".into()))?;
    if !is_clean_absolute(own) {
        return Err(fail(format!(
            "`{}` lies outside the caller's cgroup namespace",
            own.display()
        )));
    }
    let rel = own.strip_prefix(h.root()).map_err(|_| {
        fail(format!(
            "`{}` lies outside `{}`, the part of the hierarchy mounted at `{}`",
            own.display(),
            h.root().display(),
            h.mount_point().display()
        ))
    })?;
    Ok(h.mount_point().join(rel))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::samples::*;
    use crate::{parse_mountinfo, HierarchyKind};

    fn paths(c: &Cgroup) -> Vec<String> {
        c.dirs().map(|(_, p)| p.display().to_string()).collect()
    }

    #[test]
    fn absolute_path_in_every_hybrid_hierarchy() {
        let h = Hierarchies::parse(HYBRID, PROC_HYBRID).unwrap();
        let c = Cgroup::resolve(&h, Some("/holm/abc"), "ignored").unwrap();
        let p = paths(&c);
        assert_eq!(p.len(), 10);
        assert_eq!(p[0], "/sys/fs/cgroup/cpu/holm/abc");
        // Absolute paths ignore the caller's own cgroup (memory is /process_api/... here).
        assert_eq!(
            c.v1_dir("memory"),
            Some(Path::new("/sys/fs/cgroup/memory/holm/abc"))
        );
        assert_eq!(
            c.v1_dir("name=systemd"),
            Some(Path::new("/sys/fs/cgroup/systemd/holm/abc"))
        );
        assert_eq!(
            c.v2_dir(),
            Some(Path::new("/sys/fs/cgroup/unified/holm/abc"))
        );
    }

    #[test]
    fn default_path_is_holm_id() {
        let h = Hierarchies::parse(V2, PROC_V2).unwrap();
        let c = Cgroup::resolve(&h, None, "abc").unwrap();
        assert_eq!(paths(&c), ["/sys/fs/cgroup/holm/abc"]);
        assert!(Cgroup::resolve(&h, None, "../x").is_err());
    }

    #[test]
    fn relative_path_joins_own_cgroup_per_hierarchy() {
        let h = Hierarchies::parse(HYBRID, PROC_HYBRID).unwrap();
        let c = Cgroup::resolve(&h, Some("pod/ctr"), "x").unwrap();
        assert_eq!(
            c.v1_dir("memory"),
            Some(Path::new(
                "/sys/fs/cgroup/memory/process_api/3e9b09441a9e70fec649a2c54f5b5386/pod/ctr"
            ))
        );
        assert_eq!(
            c.v1_dir("cpu"),
            Some(Path::new("/sys/fs/cgroup/cpu/pod/ctr"))
        );

        let h = Hierarchies::parse(V1, PROC_V1).unwrap();
        let c = Cgroup::resolve(&h, Some("ctr"), "x").unwrap();
        assert_eq!(
            paths(&c),
            [
                "/sys/fs/cgroup/systemd/user.slice/user-1000.slice/session-2.scope/ctr",
                "/sys/fs/cgroup/cpu,cpuacct/user.slice/ctr",
                "/sys/fs/cgroup/cpuset/ctr",
                "/sys/fs/cgroup/net_cls,net_prio/ctr",
                "/sys/fs/cgroup/memory/user.slice/user-1000.slice/ctr",
            ]
        );
    }

    #[test]
    fn relative_path_below_a_bind_mounted_subtree() {
        // Inside a container: the host's /docker/abc is mounted at /sys/fs/cgroup, and /proc/self/cgroup shows
        // host paths (no cgroup namespace).
        let mi = "1 0 8:1 / / rw - ext4 /dev/sda1 rw\n2 1 0:30 /docker/abc /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n";
        let h = Hierarchies::parse(mi, "0::/docker/abc/init\n").unwrap();
        let c = Cgroup::resolve(&h, Some("sub"), "x").unwrap();
        assert_eq!(paths(&c), ["/sys/fs/cgroup/init/sub"]);
        // An absolute path starts at the mount point, whatever sub-tree is mounted there.
        let c = Cgroup::resolve(&h, Some("/sub"), "x").unwrap();
        assert_eq!(paths(&c), ["/sys/fs/cgroup/sub"]);

        let h = Hierarchies::parse(mi, "0::/elsewhere\n").unwrap();
        let err = Cgroup::resolve(&h, Some("sub"), "x").unwrap_err();
        assert!(matches!(err, Error::OwnCgroup { .. }), "{err}");
        let h = Hierarchies::parse(mi, "0::/../x\n").unwrap();
        assert!(matches!(
            Cgroup::resolve(&h, Some("sub"), "x"),
            Err(Error::OwnCgroup { .. })
        ));
    }

    #[test]
    fn relative_path_needs_own_cgroup() {
        let h = Hierarchies::parse(HYBRID, "0::/\n").unwrap();
        let err = Cgroup::resolve(&h, Some("ctr"), "x").unwrap_err();
        assert!(
            err.to_string().contains("not listed in /proc/self/cgroup"),
            "{err}"
        );
        assert!(err.to_string().contains("linux.cgroupsPath `ctr`"), "{err}");
        // Absolute paths do not need it.
        assert!(Cgroup::resolve(&h, Some("/ctr"), "x").is_ok());
    }

    #[test]
    fn invalid_paths_are_rejected() {
        let h = Hierarchies::parse(HYBRID, PROC_HYBRID).unwrap();
        for bad in ["", "/", "/holm/../x", "a\0b"] {
            let err = Cgroup::resolve(&h, Some(bad), "x").unwrap_err();
            assert!(
                err.to_string().contains("linux.cgroupsPath"),
                "{bad:?}: {err}"
            );
        }
    }

    #[test]
    fn tampered_paths_are_refused() {
        // A `Cgroup` read back from a state file must still only name directories strictly below the mount.
        let hier = parse_mountinfo(V2).unwrap().remove(0);
        assert_eq!(hier.kind(), &HierarchyKind::V2);
        for bad in [
            "/sys/fs/cgroup",
            "/sys/fs/cgroup/",
            "/sys/fs/cgroup/../../etc",
            "/etc/x",
            "relative",
        ] {
            let c = Cgroup {
                dirs: vec![CgroupDir {
                    hierarchy: hier.clone(),
                    path: bad.into(),
                }],
            };
            for err in [
                c.remove().unwrap_err(),
                c.create().unwrap_err(),
                c.add_pid(1).unwrap_err(),
            ] {
                assert!(
                    err.to_string().contains("strictly below the mount point"),
                    "{bad}: {err}"
                );
            }
            assert!(!c.exists());
        }
    }
}
