//! Resolving an image's `User` (`name`, `uid`, `name:group`, `uid:gid`, …; image-spec `config.md`) to numeric ids
//! with the image's own `/etc/passwd` and `/etc/group`, read safely inside the rootfs (see [`crate::rootfs`]).
//!
//! Rules (runc's `GetExecUser`): an empty user is root; a name must be in `/etc/passwd`; a numeric uid not in
//! `/etc/passwd` runs with gid 0; an explicit group (name from `/etc/group`, or numeric) sets the gid, otherwise
//! the user's primary gid is used and the groups listing the user as a member become supplementary gids.

use crate::rootfs;
use std::io;
use std::path::Path;

const MAX_DB_BYTES: u64 = 16 << 20;

/// Errors resolving a user.
#[derive(Debug, thiserror::Error)]
pub enum UserError {
    /// The user name is not in the image's `/etc/passwd`.
    #[error("unable to find user {0}: no matching entries in passwd file")]
    UnknownUser(String),
    /// The group name is not in the image's `/etc/group`.
    #[error("unable to find group {0}: no matching entries in group file")]
    UnknownGroup(String),
    /// Reading the files failed.
    #[error("read {file} in rootfs: {source}")]
    Io {
        /// `/etc/passwd` or `/etc/group`.
        file: &'static str,
        /// The error.
        #[source]
        source: io::Error,
    },
}

/// The ids a process runs with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecUser {
    /// User id.
    pub uid: u32,
    /// Primary group id.
    pub gid: u32,
    /// Supplementary group ids.
    pub additional_gids: Vec<u32>,
    /// Home directory from `/etc/passwd`, if the user is there.
    pub home: Option<String>,
}

/// One `/etc/passwd` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswdEntry {
    /// Login name.
    pub name: String,
    /// uid.
    pub uid: u32,
    /// Primary gid.
    pub gid: u32,
    /// Home directory.
    pub home: String,
}

/// One `/etc/group` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupEntry {
    /// Group name.
    pub name: String,
    /// gid.
    pub gid: u32,
    /// Member user names.
    pub members: Vec<String>,
}

/// Parses `/etc/passwd` (`name:pw:uid:gid:gecos:home:shell`); malformed lines are skipped.
pub fn parse_passwd(text: &str) -> Vec<PasswdEntry> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            if f.len() < 4 || f[0].is_empty() {
                return None;
            }
            Some(PasswdEntry {
                name: f[0].to_string(),
                uid: f[2].parse().ok()?,
                gid: f[3].parse().ok()?,
                home: f.get(5).unwrap_or(&"").to_string(),
            })
        })
        .collect()
}

/// Parses `/etc/group` (`name:pw:gid:member,member`); malformed lines are skipped.
pub fn parse_group(text: &str) -> Vec<GroupEntry> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            if f.len() < 3 || f[0].is_empty() {
                return None;
            }
            Some(GroupEntry {
                name: f[0].to_string(),
                gid: f[2].parse().ok()?,
                members: f
                    .get(3)
                    .map(|m| {
                        m.split(',')
                            .filter(|s| !s.is_empty())
                            .map(str::to_string)
                            .collect()
                    })
                    .unwrap_or_default(),
            })
        })
        .collect()
}

/// Resolves `user` (`""`, `name`, `uid`, `name:group`, `uid:gid`, `name:gid`, `uid:group`) against the databases.
pub fn resolve_with(
    user: &str,
    passwd: &[PasswdEntry],
    group: &[GroupEntry],
) -> Result<ExecUser, UserError> {
    let (u, g) = match user.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (user, None),
    };
    let u = if u.is_empty() { "0" } else { u };
    let entry = match u.parse::<u32>() {
        Ok(uid) => passwd.iter().find(|p| p.uid == uid),
        Err(_) => Some(
            passwd
                .iter()
                .find(|p| p.name == u)
                .ok_or_else(|| UserError::UnknownUser(u.to_string()))?,
        ),
    };
    let mut out = ExecUser {
        uid: entry.map_or_else(|| u.parse().unwrap_or(0), |e| e.uid),
        gid: entry.map_or(0, |e| e.gid),
        additional_gids: Vec::new(),
        home: entry.map(|e| e.home.clone()),
    };
    match g.filter(|g| !g.is_empty()) {
        Some(g) => {
            out.gid = match g.parse::<u32>() {
                Ok(gid) => gid,
                Err(_) => {
                    group
                        .iter()
                        .find(|e| e.name == g)
                        .ok_or_else(|| UserError::UnknownGroup(g.to_string()))?
                        .gid
                }
            };
        }
        None => {
            if let Some(e) = entry {
                for grp in group {
                    if grp.members.contains(&e.name) && !out.additional_gids.contains(&grp.gid) {
                        out.additional_gids.push(grp.gid);
                    }
                }
            }
        }
    }
    Ok(out)
}

/// Resolves `user` with the `/etc/passwd` and `/etc/group` of `rootfs` (missing files count as empty).
pub fn resolve_user(rootfs: &Path, user: &str) -> Result<ExecUser, UserError> {
    let read = |file: &'static str| -> Result<String, UserError> {
        let bytes = rootfs::read_file(rootfs, file, MAX_DB_BYTES)
            .map_err(|source| UserError::Io { file, source })?;
        Ok(String::from_utf8_lossy(&bytes.unwrap_or_default()).into_owned())
    };
    let passwd = parse_passwd(&read("/etc/passwd")?);
    let group = parse_group(&read("/etc/group")?);
    resolve_with(user, &passwd, &group)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\n\
        app:x:1000:1000:App:/home/app:/bin/sh\n\
        # comment\n\
        broken line\n\
        svc:x:1001:1002::/srv:/bin/false\n";
    const GROUP: &str =
        "root:x:0:\napp:x:1000:\nsvcgrp:x:1002:\nstaff:x:50:app,svc\nwheel:x:10:app\n";

    fn r(u: &str) -> Result<ExecUser, UserError> {
        resolve_with(u, &parse_passwd(PASSWD), &parse_group(GROUP))
    }

    #[test]
    fn names_ids_and_groups() {
        let root = r("").unwrap();
        assert_eq!(
            (root.uid, root.gid, root.home.as_deref()),
            (0, 0, Some("/root"))
        );
        let app = r("app").unwrap();
        assert_eq!(
            (app.uid, app.gid, app.additional_gids.clone()),
            (1000, 1000, vec![50, 10])
        );
        assert_eq!(r("1000").unwrap(), app);
        let svc = r("svc").unwrap();
        assert_eq!(
            (svc.uid, svc.gid, svc.additional_gids),
            (1001, 1002, vec![50])
        );
        let x = r("app:staff").unwrap();
        assert_eq!((x.uid, x.gid, x.additional_gids), (1000, 50, vec![]));
        let x = r("1000:7").unwrap();
        assert_eq!((x.uid, x.gid), (1000, 7));
        let x = r("4242").unwrap();
        assert_eq!((x.uid, x.gid, x.home), (4242, 0, None));
        let x = r("4242:svcgrp").unwrap();
        assert_eq!((x.uid, x.gid), (4242, 1002));
        assert!(matches!(r("nobody"), Err(UserError::UnknownUser(_))));
        assert!(matches!(r("app:nogroup"), Err(UserError::UnknownGroup(_))));
        assert!(r("nobody").unwrap_err().to_string().contains("nobody"));
    }
}
