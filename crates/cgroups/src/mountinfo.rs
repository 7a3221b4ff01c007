//! Which cgroup hierarchies are mounted where: parsing `/proc/self/mountinfo`.
//!
//! Line format (`Documentation/filesystems/proc.rst` § 3.5, `/proc/<pid>/mountinfo`):
//!
//! ```text
//! 36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue
//! (1)(2) (3)  (4)   (5)    (6)        (7)    (8) (9)    (10)       (11)
//! ```
//!
//! (1) mount id, (2) parent mount id, (3) `major:minor` of the file system, (4) root of the mount inside the file
//! system, (5) mount point, (6) per-mount options, (7) zero or more optional fields, (8) `-`, (9) file-system type,
//! (10) source, (11) per-superblock options. Paths escape space, tab, newline and backslash as `\ooo` octal.
//!
//! A cgroup v1 hierarchy is a mount of type `cgroup`; its controllers appear in the superblock options
//! (`rw,cpu,cpuacct`), together with `name=<name>` for named hierarchies such as `name=systemd`
//! (`Documentation/admin-guide/cgroup-v1/cgroups.rst` § 2.1). The cgroup v2 unified hierarchy is a mount of type
//! `cgroup2` (`Documentation/admin-guide/cgroup-v2.rst` § "Mounting").

use std::collections::HashMap;
use std::ffi::OsString;
use std::fmt;
use std::os::unix::ffi::OsStringExt;
use std::path::{Component, Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::Error;

const MOUNTINFO: &str = "/proc/self/mountinfo";

/// Superblock options of a v1 `cgroup` mount that are not controllers: the `rw`/`ro` flag the VFS adds and every
/// flag the kernel's `cgroup1_show_options()` prints besides controller names (`name=` and `release_agent=` are
/// recognised by their `=`).
const V1_NON_CONTROLLER_OPTIONS: &[&str] = &[
    "rw",
    "ro",
    "none",
    "all",
    "noprefix",
    "xattr",
    "clone_children",
    "cpuset_v2_mode",
    "favordynmods",
    "nofavordynmods",
];

/// A device number `major:minor`, as in field (3) of mountinfo and in `st_dev` of every file on the mount.
///
/// All cgroup directories of one hierarchy share the device number of the hierarchy's superblock, so it is used
/// to check that a directory opened by path really belongs to the hierarchy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct DevId {
    /// Major number (0 for the anonymous devices of pseudo file systems like cgroupfs).
    pub major: u32,
    /// Minor number.
    pub minor: u32,
}

impl DevId {
    /// Splits a `dev_t` (`st_dev` from `stat(2)`) with the glibc/Linux encoding:
    /// major = bits 8–19 and 32–43, minor = bits 0–7 and 20–31 (and 44–63).
    pub fn from_dev_t(dev: u64) -> DevId {
        let major = ((dev >> 32) & 0xffff_f000) | ((dev >> 8) & 0x0000_0fff);
        let minor = ((dev >> 12) & 0xffff_ff00) | (dev & 0x0000_00ff);
        // Both expressions are masked to 32 bits, so the conversions cannot fail.
        DevId {
            major: major as u32,
            minor: minor as u32,
        }
    }
}

impl fmt::Display for DevId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.major, self.minor)
    }
}

/// The cgroup version of a hierarchy and, for v1, what it carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "version", rename_all = "lowercase")]
pub enum HierarchyKind {
    /// A cgroup v1 hierarchy (mount type `cgroup`): one or more controllers bound together, and/or a name.
    V1 {
        /// Controllers bound to the hierarchy, in the kernel's order (e.g. `["cpu", "cpuacct"]`); empty for a
        /// named hierarchy without controllers such as `name=systemd`.
        controllers: Vec<String>,
        /// The hierarchy's name from the `name=` option (`"systemd"` for `name=systemd`), if any.
        name: Option<String>,
        /// Mounted with `noprefix`: control files lack the controller prefix (`cpus` instead of `cpuset.cpus`).
        noprefix: bool,
    },
    /// The cgroup v2 unified hierarchy (mount type `cgroup2`). Its available controllers are listed in
    /// `cgroup.controllers`, not in the mount options.
    V2,
}

/// One mounted cgroup hierarchy: a v1 controller hierarchy or the v2 unified hierarchy.
///
/// Its `Display` names it the way the kernel does in `/proc/<pid>/cgroup`: `cpu,cpuacct`, `name=systemd`, and
/// `cgroup2` for the unified hierarchy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HierarchyInfo {
    kind: HierarchyKind,
    mount_point: PathBuf,
    root: PathBuf,
    dev: DevId,
}

impl HierarchyInfo {
    /// Builds a hierarchy description by hand (for tests and for callers that know their mounts).
    ///
    /// `mount_point` is where the hierarchy is mounted (absolute), `root` is the cgroup shown at the mount point
    /// (`/` unless a sub-tree is bind-mounted or a cgroup namespace is in effect), `dev` its device number.
    pub fn new(
        kind: HierarchyKind,
        mount_point: PathBuf,
        root: PathBuf,
        dev: DevId,
    ) -> HierarchyInfo {
        HierarchyInfo {
            kind,
            mount_point,
            root,
            dev,
        }
    }

    /// Version and controllers of the hierarchy.
    pub fn kind(&self) -> &HierarchyKind {
        &self.kind
    }

    /// True for the cgroup v2 unified hierarchy.
    pub fn is_v2(&self) -> bool {
        matches!(self.kind, HierarchyKind::V2)
    }

    /// The v1 controllers bound to this hierarchy (`["cpu", "cpuacct"]`); empty for v2 and for named-only v1
    /// hierarchies.
    pub fn controllers(&self) -> &[String] {
        match &self.kind {
            HierarchyKind::V1 { controllers, .. } => controllers,
            HierarchyKind::V2 => &[],
        }
    }

    /// The v1 hierarchy name (`Some("systemd")` for `name=systemd`).
    pub fn name(&self) -> Option<&str> {
        match &self.kind {
            HierarchyKind::V1 { name, .. } => name.as_deref(),
            HierarchyKind::V2 => None,
        }
    }

    /// True if this is a v1 hierarchy carrying `controller` (`"cpuset"`), or named `controller` when given as
    /// `"name=<name>"` (`"name=systemd"`). Always false for v2; v2 controllers are enabled per cgroup through
    /// `cgroup.subtree_control`.
    pub fn has_v1_controller(&self, controller: &str) -> bool {
        match controller.strip_prefix("name=") {
            Some(n) => self.name() == Some(n),
            None => self.controllers().iter().any(|c| c == controller),
        }
    }

    /// Control-file name for a v1 controller file, honouring `noprefix` (`cpuset.cpus` → `cpus`).
    pub fn v1_file_name<'a>(&self, controller: &str, file: &'a str) -> &'a str {
        match &self.kind {
            HierarchyKind::V1 { noprefix: true, .. } => file
                .strip_prefix(controller)
                .and_then(|rest| rest.strip_prefix('.'))
                .unwrap_or(file),
            _ => file,
        }
    }

    /// Where the hierarchy is mounted, e.g. `/sys/fs/cgroup/cpu` or `/sys/fs/cgroup/unified`.
    pub fn mount_point(&self) -> &Path {
        &self.mount_point
    }

    /// The cgroup that appears at the mount point, as a path from the hierarchy's root as seen by this process
    /// (field 4 of mountinfo): `/` normally, e.g. `/docker/abc` when a sub-tree was bind-mounted.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Device number shared by every file of the hierarchy.
    pub fn dev(&self) -> DevId {
        self.dev
    }

    /// The `/proc/<pid>/cgroup` controller-list of this hierarchy as a set of tokens (`cpu`, `cpuacct`,
    /// `name=systemd`); empty for v2.
    pub(crate) fn proc_cgroup_tokens(&self) -> Vec<String> {
        match &self.kind {
            HierarchyKind::V1 {
                controllers, name, ..
            } => {
                let mut t = controllers.clone();
                t.extend(name.iter().map(|n| format!("name={n}")));
                t
            }
            HierarchyKind::V2 => Vec::new(),
        }
    }
}

impl fmt::Display for HierarchyInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            HierarchyKind::V2 => f.write_str("cgroup2"),
            HierarchyKind::V1 { .. } => f.write_str(&self.proc_cgroup_tokens().join(",")),
        }
    }
}

/// One parsed mountinfo line (all file-system types; non-cgroup mounts matter for shadowing).
#[derive(Debug)]
struct RawMount {
    id: u64,
    parent: u64,
    dev: DevId,
    root: PathBuf,
    mount_point: PathBuf,
    fstype: String,
    super_options: String,
}

/// Parses the text of `/proc/<pid>/mountinfo` and returns the cgroup hierarchies that are visible, in mountinfo
/// order: every `cgroup` mount (v1) and `cgroup2` mount (v2).
///
/// - A mount hidden by a later mount on the same point or on one of its ancestors is skipped.
/// - A hierarchy mounted more than once (same device number) is listed once: the mount whose root is `/` if
///   there is one, else the first.
///
/// Errors: [`Error::Parse`] naming the line when a line lacks the fields the kernel documents.
pub fn parse_mountinfo(text: &str) -> Result<Vec<HierarchyInfo>, Error> {
    let mounts = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            parse_line(l).map_err(|reason| Error::Parse {
                file: MOUNTINFO,
                line: i + 1,
                reason,
            })
        })
        .collect::<Result<Vec<_>, _>>()?;

    let mut out: Vec<HierarchyInfo> = Vec::new();
    for (i, m) in mounts.iter().enumerate() {
        let kind = match m.fstype.as_str() {
            "cgroup" => v1_kind(&m.super_options),
            "cgroup2" => HierarchyKind::V2,
            _ => continue,
        };
        if is_shadowed(&mounts, i) {
            continue;
        }
        let info = HierarchyInfo {
            kind,
            mount_point: m.mount_point.clone(),
            root: m.root.clone(),
            dev: m.dev,
        };
        match out.iter_mut().find(|h| h.dev == info.dev) {
            Some(prev) if prev.root != Path::new("/") && info.root == Path::new("/") => {
                *prev = info
            }
            Some(_) => {}
            None => out.push(info),
        }
    }
    Ok(out)
}

fn parse_line(line: &str) -> Result<RawMount, String> {
    let fields: Vec<&str> = line.split(' ').collect();
    let sep = fields
        .iter()
        .position(|f| *f == "-")
        .ok_or("no ` - ` separator before the file-system type")?;
    if sep < 6 {
        return Err(format!("{sep} fields before ` - `, expected at least 6"));
    }
    if fields.len() < sep + 4 {
        return Err("expected file-system type, source and super options after ` - `".into());
    }
    let num = |s: &str, what: &str| {
        s.parse::<u64>()
            .map_err(|_| format!("{what} `{s}` is not a number"))
    };
    let (major, minor) = fields[2]
        .split_once(':')
        .ok_or_else(|| format!("device `{}` is not major:minor", fields[2]))?;
    let dev_part = |s: &str| {
        s.parse::<u32>()
            .map_err(|_| format!("device `{}` is not major:minor", fields[2]))
    };
    Ok(RawMount {
        id: num(fields[0], "mount id")?,
        parent: num(fields[1], "parent id")?,
        dev: DevId {
            major: dev_part(major)?,
            minor: dev_part(minor)?,
        },
        root: unescape(fields[3]),
        mount_point: unescape(fields[4]),
        fstype: fields[sep + 1].to_owned(),
        super_options: fields[sep + 3..].join(" "),
    })
}

/// Controllers, name and `noprefix` from the superblock options of a v1 `cgroup` mount.
fn v1_kind(super_options: &str) -> HierarchyKind {
    let mut controllers = Vec::new();
    let mut name = None;
    let mut noprefix = false;
    for opt in super_options.split(',') {
        if let Some(n) = opt.strip_prefix("name=") {
            name = Some(n.to_owned());
        } else if opt == "noprefix" {
            noprefix = true;
        } else if !opt.is_empty() && !opt.contains('=') && !V1_NON_CONTROLLER_OPTIONS.contains(&opt)
        {
            controllers.push(opt.to_owned());
        }
    }
    HierarchyKind::V1 {
        controllers,
        name,
        noprefix,
    }
}

/// A mount is hidden when another mount that is not one of its ancestors in the mount tree sits on the same
/// mount point or on an ancestor directory of it (it was mounted on top).
fn is_shadowed(mounts: &[RawMount], i: usize) -> bool {
    let by_id: HashMap<u64, &RawMount> = mounts.iter().map(|m| (m.id, m)).collect();
    let mut ancestors = vec![mounts[i].id];
    let mut cur = &mounts[i];
    while let Some(p) = by_id.get(&cur.parent) {
        if ancestors.contains(&p.id) {
            break;
        }
        ancestors.push(p.id);
        cur = p;
    }
    let target = &mounts[i].mount_point;
    mounts
        .iter()
        .any(|m| !ancestors.contains(&m.id) && target.starts_with(&m.mount_point))
}

/// Undoes mountinfo's `\ooo` octal escapes (space, tab, newline, backslash) in a path field of
/// `/proc/PID/mountinfo` (`Documentation/filesystems/proc.rst` § 3.5); other bytes are kept as they are.
pub fn unescape(field: &str) -> PathBuf {
    let b = field.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 4 <= b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            let v = (b[i + 1] - b'0') as u32 * 64
                + (b[i + 2] - b'0') as u32 * 8
                + (b[i + 3] - b'0') as u32;
            if let Ok(byte) = u8::try_from(v) {
                out.push(byte);
                i += 4;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    PathBuf::from(OsString::from_vec(out))
}

/// True if `p` is absolute and made only of normal components (no `.`, `..`).
pub(crate) fn is_clean_absolute(p: &Path) -> bool {
    let mut c = p.components();
    c.next() == Some(Component::RootDir) && c.all(|c| matches!(c, Component::Normal(_)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::samples::{HYBRID, V1, V2};

    #[test]
    fn hybrid_lists_every_v1_hierarchy_and_unified() {
        let h = parse_mountinfo(HYBRID).unwrap();
        let names: Vec<String> = h.iter().map(|h| h.to_string()).collect();
        assert_eq!(
            names,
            [
                "cpu",
                "cpuacct",
                "cpuset",
                "memory",
                "devices",
                "freezer",
                "blkio",
                "pids",
                "name=systemd",
                "cgroup2"
            ]
        );
        assert_eq!(h[2].mount_point(), Path::new("/sys/fs/cgroup/cpuset"));
        assert_eq!(
            h[2].dev(),
            DevId {
                major: 0,
                minor: 31
            }
        );
        assert!(h[8].controllers().is_empty());
        assert_eq!(h[8].name(), Some("systemd"));
        assert!(h[9].is_v2());
        assert_eq!(h[9].mount_point(), Path::new("/sys/fs/cgroup/unified"));
        assert!(h[0].has_v1_controller("cpu") && !h[0].has_v1_controller("cpuacct"));
        assert!(h[8].has_v1_controller("name=systemd"));
    }

    #[test]
    fn v1_comounted_controllers_and_options() {
        let h = parse_mountinfo(V1).unwrap();
        let names: Vec<String> = h.iter().map(|h| h.to_string()).collect();
        assert_eq!(
            names,
            [
                "name=systemd",
                "cpu,cpuacct",
                "cpuset",
                "net_cls,net_prio",
                "memory"
            ]
        );
        assert_eq!(h[1].controllers(), ["cpu", "cpuacct"]);
        assert_eq!(h[1].mount_point(), Path::new("/sys/fs/cgroup/cpu,cpuacct"));
        assert!(h.iter().all(|h| !h.is_v2()));
    }

    #[test]
    fn v2_unified_at_sys_fs_cgroup() {
        let h = parse_mountinfo(V2).unwrap();
        assert_eq!(h.len(), 1);
        assert!(h[0].is_v2());
        assert_eq!(h[0].mount_point(), Path::new("/sys/fs/cgroup"));
        assert_eq!(h[0].root(), Path::new("/"));
    }

    #[test]
    fn escapes_noprefix_and_bind_mount_root() {
        let text = "\
1 0 8:1 / / rw - ext4 /dev/sda1 rw
2 1 0:40 /docker/abc /my\\040cgroups/cpuset rw - cgroup cgroup rw,noprefix,cpuset
3 1 0:40 / /other rw - cgroup none rw,noprefix,cpuset
4 1 0:41 / /empty\\134src rw - cgroup2  rw
";
        let h = parse_mountinfo(text).unwrap();
        assert_eq!(h.len(), 2, "{h:?}");
        // Same hierarchy twice: the mount of the hierarchy root wins.
        assert_eq!(h[0].mount_point(), Path::new("/other"));
        assert_eq!(h[0].v1_file_name("cpuset", "cpuset.cpus"), "cpus");
        assert_eq!(h[1].mount_point(), Path::new("/empty\\src"));
        let only_bind =
            parse_mountinfo(&text.replace("3 1 0:40 / /other", "3 1 0:99 / /other")).unwrap();
        assert_eq!(only_bind[0].mount_point(), Path::new("/my cgroups/cpuset"));
        assert_eq!(only_bind[0].root(), Path::new("/docker/abc"));
    }

    #[test]
    fn shadowed_mounts_are_skipped() {
        // cgroup2 mounted over /sys/fs/cgroup (on top of the tmpfs, 31) after the v1 hierarchies: they are no
        // longer reachable.
        let text = format!("{HYBRID}50 31 0:60 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n");
        let h = parse_mountinfo(&text).unwrap();
        assert_eq!(h.len(), 1);
        assert_eq!(
            h[0].dev(),
            DevId {
                major: 0,
                minor: 60
            }
        );
        // A mount stacked exactly on one hierarchy hides only that one.
        let text = format!("{HYBRID}51 32 0:61 / /sys/fs/cgroup/cpu rw - tmpfs tmpfs rw\n");
        let h = parse_mountinfo(&text).unwrap();
        assert_eq!(h.len(), 9);
        assert!(h
            .iter()
            .all(|h| h.mount_point() != Path::new("/sys/fs/cgroup/cpu")));
    }

    #[test]
    fn malformed_lines_are_reported_with_line_number() {
        let err = parse_mountinfo(
            "1 0 8:1 / / rw - ext4 /dev/sda1 rw\n2 1 0:40 / /x rw cgroup cgroup rw\n",
        )
        .unwrap_err();
        assert!(matches!(err, Error::Parse { line: 2, .. }), "{err}");
        assert!(err.to_string().contains("/proc/self/mountinfo"), "{err}");
        let err = parse_mountinfo("x 0 8:1 / / rw - ext4 /dev/sda1 rw\n").unwrap_err();
        assert!(err.to_string().contains("mount id"), "{err}");
    }

    #[test]
    fn dev_t_split_matches_glibc() {
        // glibc's makedev(), the inverse of the split.
        fn makedev(major: u64, minor: u64) -> u64 {
            ((major & 0xffff_f000) << 32)
                | ((major & 0xfff) << 8)
                | ((minor & 0xffff_ff00) << 12)
                | (minor & 0xff)
        }
        assert_eq!(
            DevId::from_dev_t(0x1d),
            DevId {
                major: 0,
                minor: 29
            }
        );
        assert_eq!(
            DevId::from_dev_t(0xfd01),
            DevId {
                major: 253,
                minor: 1
            }
        );
        let big = DevId {
            major: 0x12345,
            minor: 0x6789a,
        };
        assert_eq!(DevId::from_dev_t(makedev(0x12345, 0x6789a)), big);
    }
}
