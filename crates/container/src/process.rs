//! The container process's own settings (runtime-spec `config.md#process`): executable lookup, environment,
//! rlimits, user and groups, capabilities, `noNewPrivileges`, umask.

use crate::{Error, Result};
use oci_spec::runtime::{Capabilities, PosixRlimitType, Process};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// Default `PATH` when `process.env` has none (the one runc and docker use).
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Finds `args[0]` the way `execvp` would, in the *current* root (call after `pivot_root`): a name with a `/` is
/// used as is; otherwise each directory of `PATH` from `env` (or [`DEFAULT_PATH`]) is tried for an executable
/// regular file.
///
/// Errors: [`Error::Init`] saying `exec: "NAME": executable file not found in $PATH` (runc's wording), or naming
/// the path that is missing or not executable.
pub fn find_executable(arg0: &str, env: &[String]) -> Result<PathBuf> {
    let is_exec = |p: &Path| {
        std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    if arg0.contains('/') {
        let p = PathBuf::from(arg0);
        return match std::fs::metadata(&p) {
            Err(e) => Err(Error::Init(format!("exec: {arg0:?}: {e}"))),
            Ok(m) if m.is_dir() => Err(Error::Init(format!("exec: {arg0:?}: is a directory"))),
            Ok(_) if !is_exec(&p) => Err(Error::Init(format!("exec: {arg0:?}: permission denied"))),
            Ok(_) => Ok(p),
        };
    }
    let path = env
        .iter()
        .find_map(|e| e.strip_prefix("PATH="))
        .unwrap_or(DEFAULT_PATH);
    for dir in path.split(':') {
        let dir = if dir.is_empty() { "." } else { dir };
        let p = Path::new(dir).join(arg0);
        if is_exec(&p) {
            return Ok(p);
        }
    }
    Err(Error::Init(format!(
        "exec: {arg0:?}: executable file not found in $PATH"
    )))
}

/// The environment for the process: `process.env`, plus `HOME` from the rootfs `/etc/passwd` entry of `uid` (or
/// `/`) when absent, as runc does.
pub fn environment(process: &Process, passwd: Option<&str>) -> Vec<String> {
    let mut env: Vec<String> = process.env().clone().unwrap_or_default();
    if !env.iter().any(|e| e.starts_with("HOME=")) {
        let uid = process.user().uid();
        let home = passwd
            .and_then(|p| {
                p.lines().find_map(|l| {
                    let f: Vec<&str> = l.split(':').collect();
                    (f.len() >= 6 && f[2].parse() == Ok(uid)).then(|| f[5].to_string())
                })
            })
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "/".to_string());
        env.push(format!("HOME={home}"));
    }
    env
}

/// Reads a small regular file of the container (at most 1 MiB), called once `/` is the container's root. Symlinks
/// are followed inside that root (an image's `/etc/passwd -> /usr/share/...` works, as with runc; none leads out of
/// it, magic links refused); special files are refused: `/etc/passwd` belongs to the image and may be anything (a
/// FIFO would otherwise hang the runtime).
pub fn read_small(path: &str) -> Option<String> {
    use holm_sys::fs::resolve as rflags;
    use std::io::Read;
    let root = std::fs::File::open("/").ok()?;
    let fd = holm_sys::fs::openat2(
        std::os::fd::AsFd::as_fd(&root),
        std::path::Path::new(path.trim_start_matches('/')),
        libc::O_RDONLY | libc::O_NONBLOCK,
        0,
        rflags::IN_ROOT | rflags::NO_MAGICLINKS,
    )
    .ok()?;
    let f = std::fs::File::from(fd);
    if !f.metadata().ok()?.is_file() {
        return None;
    }
    let mut s = String::new();
    f.take(1 << 20).read_to_string(&mut s).ok()?;
    Some(s)
}

/// The first uid or gid of `process.user` (`uid`, `gid`, `additionalGids`) that is 4294967295: `setresuid(2)` and
/// `setresgid(2)` read it as -1, "leave unchanged", so the process would keep running as root.
pub fn invalid_user_id(process: &Process) -> Option<&'static str> {
    let user = process.user();
    let gids = user.additional_gids().as_deref().unwrap_or_default();
    [("uid", user.uid()), ("gid", user.gid())]
        .into_iter()
        .chain(gids.iter().map(|g| ("additionalGids", *g)))
        .find(|(_, id)| *id == u32::MAX)
        .map(|(name, _)| name)
}

/// Why [`invalid_user_id`] refuses an id.
pub const INVALID_ID_MSG: &str =
    "4294967295 is not a valid id (the kernel reads it as -1, \"unchanged\")";

/// The `RLIMIT_*` resource number of an OCI rlimit type.
pub fn rlimit_resource(t: PosixRlimitType) -> i32 {
    use PosixRlimitType::*;
    (match t {
        RlimitCpu => libc::RLIMIT_CPU,
        RlimitFsize => libc::RLIMIT_FSIZE,
        RlimitData => libc::RLIMIT_DATA,
        RlimitStack => libc::RLIMIT_STACK,
        RlimitCore => libc::RLIMIT_CORE,
        RlimitRss => libc::RLIMIT_RSS,
        RlimitNproc => libc::RLIMIT_NPROC,
        RlimitNofile => libc::RLIMIT_NOFILE,
        RlimitMemlock => libc::RLIMIT_MEMLOCK,
        RlimitAs => libc::RLIMIT_AS,
        RlimitLocks => libc::RLIMIT_LOCKS,
        RlimitSigpending => libc::RLIMIT_SIGPENDING,
        RlimitMsgqueue => libc::RLIMIT_MSGQUEUE,
        RlimitNice => libc::RLIMIT_NICE,
        RlimitRtprio => libc::RLIMIT_RTPRIO,
        RlimitRttime => libc::RLIMIT_RTTIME,
    }) as i32
}

/// Applies `process.rlimits` exactly (soft and hard) to the calling process. An error names the entry:
/// ``config.json: `process.rlimits[1]`: RLIMIT_NOFILE soft 1024 hard 2000000: prlimit: Operation not permitted``.
pub fn apply_rlimits(process: &Process) -> Result<()> {
    for (i, r) in process.rlimits().iter().flatten().enumerate() {
        holm_sys::process::set_rlimit(rlimit_resource(r.typ()), r.soft(), r.hard(), "").map_err(
            |e| {
                Error::config(
                    format!("process.rlimits[{i}]"),
                    format!("{} soft {} hard {}: {e}", r.typ(), r.soft(), r.hard()),
                )
            },
        )?;
    }
    Ok(())
}

fn to_caps(set: Option<&Capabilities>, field: &str) -> Result<caps::CapsHashSet> {
    let mut out = caps::CapsHashSet::new();
    for c in set.into_iter().flatten() {
        let name = serde_json::to_value(c)
            .ok()
            .and_then(|v| v.as_str().map(String::from))
            .unwrap_or_default();
        let cap: caps::Capability = name.parse().map_err(|_| {
            Error::config(
                field,
                format!("capability {name} is not known to this runtime"),
            )
        })?;
        out.insert(cap);
    }
    Ok(out)
}

fn caps_err(what: &str, e: caps::errors::CapsError) -> Error {
    Error::Init(format!("capabilities: {what}: {e}"))
}

/// Switches to `process.user` and applies capabilities, in the order the kernel requires: bounding set first,
/// `PR_SET_KEEPCAPS`, `setgroups(additionalGids)`, `setresgid`, `setresuid`, then effective, inheritable, permitted
/// and ambient sets (capabilities(7)). Absent `process.capabilities` means none at all. An ambient capability
/// that is not both permitted and inheritable is skipped, as runc does.
pub fn switch_user(process: &Process) -> Result<()> {
    let c = process.capabilities().as_ref();
    let bounding = to_caps(
        c.and_then(|c| c.bounding().as_ref()),
        "process.capabilities.bounding",
    )?;
    let effective = to_caps(
        c.and_then(|c| c.effective().as_ref()),
        "process.capabilities.effective",
    )?;
    let inheritable = to_caps(
        c.and_then(|c| c.inheritable().as_ref()),
        "process.capabilities.inheritable",
    )?;
    let permitted = to_caps(
        c.and_then(|c| c.permitted().as_ref()),
        "process.capabilities.permitted",
    )?;
    let ambient = to_caps(
        c.and_then(|c| c.ambient().as_ref()),
        "process.capabilities.ambient",
    )?;

    let supported = caps::runtime::procfs_all_supported(None).unwrap_or_else(|_| caps::all());
    for cap in supported.difference(&bounding) {
        caps::drop(None, caps::CapSet::Bounding, *cap)
            .map_err(|e| caps_err(&format!("drop {cap} from bounding"), e))?;
    }
    holm_sys::process::set_keepcaps(true)?;
    let user = process.user();
    let groups: Vec<u32> = user.additional_gids().clone().unwrap_or_default();
    holm_sys::process::set_groups(&groups)?;
    holm_sys::process::set_gid(user.gid())?;
    holm_sys::process::set_uid(user.uid())?;
    // After setresuid away from 0 the effective set is empty; permitted survives thanks to KEEPCAPS.
    caps::set(None, caps::CapSet::Effective, &effective)
        .map_err(|e| caps_err("set effective", e))?;
    caps::set(None, caps::CapSet::Inheritable, &inheritable)
        .map_err(|e| caps_err("set inheritable", e))?;
    caps::set(None, caps::CapSet::Permitted, &permitted)
        .map_err(|e| caps_err("set permitted", e))?;
    caps::clear(None, caps::CapSet::Ambient).map_err(|e| caps_err("clear ambient", e))?;
    // The kernel only lets a capability into the ambient set when it is both permitted and inheritable. runc's own
    // default spec lists ambient capabilities without inheritable ones, and runc skips those; so do we.
    for cap in ambient
        .iter()
        .filter(|c| permitted.contains(c) && inheritable.contains(c))
    {
        caps::raise(None, caps::CapSet::Ambient, *cap)
            .map_err(|e| caps_err(&format!("raise ambient {cap}"), e))?;
    }
    holm_sys::process::set_keepcaps(false)?;
    if process.no_new_privileges().unwrap_or(false) {
        holm_sys::process::set_no_new_privs()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_in_path() {
        let env = vec!["PATH=/nonexistent:/bin".to_string()];
        assert_eq!(
            find_executable("sh", &env).unwrap(),
            PathBuf::from("/bin/sh")
        );
        let e = find_executable("no-such-prog-holm", &env)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("no-such-prog-holm") && e.contains("not found"),
            "{e}"
        );
        assert!(find_executable("/etc/passwd", &env)
            .unwrap_err()
            .to_string()
            .contains("permission denied"));
        assert!(find_executable("/etc", &env).is_err());
    }

    #[test]
    fn home_from_passwd() {
        let mut p = Process::default();
        p.set_env(Some(vec!["A=b".into()]));
        p.user_mut().set_uid(1000);
        let env = environment(
            &p,
            Some("root:x:0:0::/root:/bin/sh\nu:x:1000:1000::/home/u:/bin/sh\n"),
        );
        assert_eq!(env, vec!["A=b".to_string(), "HOME=/home/u".to_string()]);
        assert!(environment(&p, None).contains(&"HOME=/".to_string()));
    }
}
