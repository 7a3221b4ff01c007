//! Validation of `linux.cgroupsPath` (OCI runtime-spec `config-linux.md` § "Cgroups path") and of the default
//! path built from the container id.

use std::path::PathBuf;

use crate::Error;

const FIELD: &str = "linux.cgroupsPath";

/// A validated cgroup path: whether it is absolute (from each hierarchy's mount point) or relative (from the
/// caller's own cgroup), and its components, none of which is empty, `.` or `..`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CgroupPath {
    pub(crate) absolute: bool,
    pub(crate) components: Vec<String>,
}

impl CgroupPath {
    /// The components joined into a relative path (`holm/abc`).
    pub(crate) fn relative(&self) -> PathBuf {
        self.components.iter().collect()
    }
}

/// Validates `linux.cgroupsPath`: not empty, no NUL, no `..` component, and not naming the hierarchy root
/// (`/`, `.`) — removing that cgroup later would mean removing the root. Empty and `.` components are dropped
/// (`/holm//./abc` is `/holm/abc`).
pub(crate) fn parse_cgroups_path(value: &str) -> Result<CgroupPath, Error> {
    let invalid = |reason| Error::InvalidPath {
        field: FIELD,
        value: value.escape_default().to_string(),
        reason,
    };
    if value.is_empty() {
        return Err(invalid("must not be empty"));
    }
    if value.contains('\0') {
        return Err(invalid("must not contain a NUL byte"));
    }
    let mut components = Vec::new();
    for c in value.split('/') {
        match c {
            "" | "." => {}
            ".." => return Err(invalid("must not contain a `..` component")),
            c => components.push(c.to_owned()),
        }
    }
    if components.is_empty() {
        return Err(invalid(
            "names the root of the cgroup hierarchy; a container needs its own cgroup",
        ));
    }
    Ok(CgroupPath {
        absolute: value.starts_with('/'),
        components,
    })
}

/// The default path `/holm/<id>` used when `linux.cgroupsPath` is absent. The id must be usable as one path
/// component: not empty, not `.` or `..`, no `/` and no NUL.
pub(crate) fn default_path(id: &str) -> Result<CgroupPath, Error> {
    let invalid = |reason| Error::InvalidPath {
        field: "container id",
        value: id.escape_default().to_string(),
        reason,
    };
    if id.is_empty() || id == "." || id == ".." {
        return Err(invalid("must be a non-empty name other than `.` and `..`"));
    }
    if id.contains('/') || id.contains('\0') {
        return Err(invalid("must not contain `/` or a NUL byte"));
    }
    Ok(CgroupPath {
        absolute: true,
        components: vec!["holm".to_owned(), id.to_owned()],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn comps(p: &CgroupPath) -> Vec<&str> {
        p.components.iter().map(String::as_str).collect()
    }

    #[test]
    fn absolute_and_relative() {
        let p = parse_cgroups_path("/holm/abc").unwrap();
        assert!(p.absolute);
        assert_eq!(comps(&p), ["holm", "abc"]);
        let p = parse_cgroups_path("pod1/ctr").unwrap();
        assert!(!p.absolute);
        assert_eq!(p.relative(), PathBuf::from("pod1/ctr"));
    }

    #[test]
    fn normalises_empty_and_dot_components() {
        let p = parse_cgroups_path("//holm/./abc/").unwrap();
        assert!(p.absolute);
        assert_eq!(comps(&p), ["holm", "abc"]);
        // Names are taken literally: `a..b`, `...` and the systemd form `slice:prefix:name` are plain names.
        assert_eq!(
            comps(&parse_cgroups_path("a..b/.../s.slice:x:y").unwrap()),
            ["a..b", "...", "s.slice:x:y"]
        );
    }

    #[test]
    fn rejects_bad_paths_and_names_the_field() {
        for bad in [
            "",
            "/",
            ".",
            "/./",
            "//",
            "/holm/../etc",
            "..",
            "a/..",
            "a/\0b",
        ] {
            let err = parse_cgroups_path(bad).unwrap_err();
            assert!(
                matches!(
                    err,
                    Error::InvalidPath {
                        field: "linux.cgroupsPath",
                        ..
                    }
                ),
                "{bad:?}: {err}"
            );
            assert!(err.to_string().contains("linux.cgroupsPath"), "{err}");
        }
        let err = parse_cgroups_path("a/\0b").unwrap_err();
        assert!(err.to_string().contains("a/\\u{0}b"), "{err}");
    }

    #[test]
    fn default_path_from_id() {
        let p = default_path("abc").unwrap();
        assert!(p.absolute);
        assert_eq!(comps(&p), ["holm", "abc"]);
        for bad in ["", ".", "..", "a/b", "a\0"] {
            let err = default_path(bad).unwrap_err();
            assert!(
                matches!(
                    err,
                    Error::InvalidPath {
                        field: "container id",
                        ..
                    }
                ),
                "{bad:?}: {err}"
            );
        }
    }
}
