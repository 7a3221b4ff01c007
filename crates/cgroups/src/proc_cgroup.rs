//! Which cgroup a process is in: parsing `/proc/<pid>/cgroup`.
//!
//! One line per hierarchy, `hierarchy-ID:controller-list:cgroup-path`
//! (`Documentation/admin-guide/cgroup-v1/cgroups.rst` § 2.3; `Documentation/admin-guide/cgroup-v2.rst`
//! § "Processes"): v1 lines carry the hierarchy's controllers and `name=` (`4:cpu,cpuacct:/user.slice`,
//! `1:name=systemd:/init.scope`); the v2 line is `0::/path`. The path is relative to the root of the reader's cgroup
//! namespace and may itself contain `:`.

use std::path::PathBuf;

use crate::Error;

const PROC_CGROUP: &str = "/proc/self/cgroup";

/// One line of `/proc/<pid>/cgroup`: the process's cgroup in one hierarchy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcCgroupEntry {
    /// Hierarchy id; 0 for the cgroup v2 unified hierarchy.
    pub hierarchy_id: u32,
    /// Controller-list tokens (`["cpu", "cpuacct"]`, `["name=systemd"]`); empty for v2.
    pub controllers: Vec<String>,
    /// The cgroup, as an absolute path from the root of the hierarchy (within the reader's cgroup namespace;
    /// it starts with `/..` when the process is outside that namespace).
    pub path: PathBuf,
}

impl ProcCgroupEntry {
    /// True for the cgroup v2 line (`0::/path`).
    pub fn is_v2(&self) -> bool {
        self.hierarchy_id == 0 && self.controllers.is_empty()
    }
}

/// Parses the text of `/proc/<pid>/cgroup`.
///
/// Errors: [`Error::Parse`] naming the line when a line is not `id:controllers:path` with a numeric id and an
/// absolute path.
pub fn parse_proc_cgroup(text: &str) -> Result<Vec<ProcCgroupEntry>, Error> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.is_empty())
        .map(|(i, l)| {
            parse_line(l).map_err(|reason| Error::Parse {
                file: PROC_CGROUP,
                line: i + 1,
                reason,
            })
        })
        .collect()
}

fn parse_line(line: &str) -> Result<ProcCgroupEntry, String> {
    let mut parts = line.splitn(3, ':');
    let (Some(id), Some(controllers), Some(path)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err(format!("`{line}` is not `hierarchy-id:controllers:path`"));
    };
    let hierarchy_id = id
        .parse()
        .map_err(|_| format!("hierarchy id `{id}` is not a number"))?;
    if !path.starts_with('/') {
        return Err(format!("cgroup path `{path}` is not absolute"));
    }
    let controllers = controllers
        .split(',')
        .filter(|c| !c.is_empty())
        .map(str::to_owned)
        .collect();
    Ok(ProcCgroupEntry {
        hierarchy_id,
        controllers,
        path: PathBuf::from(path),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::samples::PROC_HYBRID as HYBRID;
    use std::path::Path;

    #[test]
    fn hybrid() {
        let e = parse_proc_cgroup(HYBRID).unwrap();
        assert_eq!(e.len(), 10);
        assert_eq!(e[0].controllers, ["name=systemd"]);
        assert_eq!(e[5].hierarchy_id, 4);
        assert_eq!(
            e[5].path,
            Path::new("/process_api/3e9b09441a9e70fec649a2c54f5b5386")
        );
        assert!(e[9].is_v2());
        assert!(!e[0].is_v2());
    }

    #[test]
    fn v1_comounted_and_colon_in_path() {
        let e = parse_proc_cgroup(
            "4:cpu,cpuacct:/user.slice\n1:name=systemd:/system.slice/a:b.scope\n",
        )
        .unwrap();
        assert_eq!(e[0].controllers, ["cpu", "cpuacct"]);
        assert_eq!(e[1].path, Path::new("/system.slice/a:b.scope"));
    }

    #[test]
    fn v2_only_and_namespaced() {
        let e = parse_proc_cgroup("0::/../../sibling\n").unwrap();
        assert_eq!(e.len(), 1);
        assert!(e[0].is_v2());
        assert_eq!(e[0].path, Path::new("/../../sibling"));
    }

    #[test]
    fn malformed() {
        for bad in ["0:/", "x::/", "0::relative"] {
            let err = parse_proc_cgroup(&format!("1:cpu:/\n{bad}\n")).unwrap_err();
            assert!(matches!(err, Error::Parse { line: 2, .. }), "{bad}: {err}");
        }
    }
}
