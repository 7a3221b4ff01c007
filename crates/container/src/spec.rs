//! Loading and validating `config.json` (runtime-spec `config.md`, `config-linux.md`).
//!
//! Parsing errors carry the JSON path of the field (via `serde_path_to_error`); validation errors name the field
//! and say what was expected. Nothing is created before validation passes.

use crate::{Error, Result};
use oci_spec::runtime::{LinuxNamespaceType, Spec};
use std::collections::HashSet;
use std::path::{Path, PathBuf};

/// The largest device major number Linux can encode (12 bits).
pub const MAX_DEVICE_MAJOR: i64 = (1 << 12) - 1;
/// The largest device minor number Linux can encode (20 bits).
pub const MAX_DEVICE_MINOR: i64 = (1 << 20) - 1;

/// A validated bundle: the parsed spec, the bundle directory and the absolute rootfs path.
#[derive(Debug, Clone)]
pub struct Bundle {
    /// Absolute, canonical bundle directory.
    pub dir: PathBuf,
    /// The parsed `config.json`.
    pub spec: Spec,
    /// `root.path` made absolute (relative paths are relative to the bundle) and canonicalised.
    pub rootfs: PathBuf,
}

/// Most bytes a config.json or `exec --process` file may hold (Docker's whole seccomp profile is ~20 KiB).
pub const MAX_CONFIG_BYTES: u64 = 16 << 20;

/// Reads a JSON document of at most [`MAX_CONFIG_BYTES`] (any file: a pipe from `<(...)` too), so a path that
/// names `/dev/zero` or another endless file is refused instead of read until memory runs out.
pub fn read_capped(path: &Path, what: &'static str) -> Result<Vec<u8>> {
    use std::io::Read;
    let f = std::fs::File::open(path).map_err(|e| Error::io(what, path, e))?;
    let mut text = Vec::new();
    f.take(MAX_CONFIG_BYTES + 1)
        .read_to_end(&mut text)
        .map_err(|e| Error::io(what, path, e))?;
    if text.len() as u64 > MAX_CONFIG_BYTES {
        return Err(Error::io(
            what,
            path,
            std::io::Error::other(format!("larger than {} MiB", MAX_CONFIG_BYTES >> 20)),
        ));
    }
    Ok(text)
}

/// Reads and validates `<bundle>/config.json`.
///
/// Errors: [`Error::Io`] when the bundle or file cannot be read; [`Error::Config`] naming the field for bad JSON,
/// unknown enum values (e.g. a namespace type), and for every rule in [`validate`].
pub fn load(bundle: &Path) -> Result<Bundle> {
    let dir = std::fs::canonicalize(bundle).map_err(|e| Error::io("open bundle", bundle, e))?;
    let path = dir.join("config.json");
    let text = read_capped(&path, "read")?;
    let spec = parse(&text)?;
    let rootfs = validate(&spec, &dir)?;
    Ok(Bundle { dir, spec, rootfs })
}

/// Parses `config.json` bytes; errors name the JSON path of the offending field. A document that is not a JSON
/// object (serde would read an array as the struct's fields in order) is refused as
/// `config.json: expected a JSON object at the top level, found an array`.
pub fn parse(text: &[u8]) -> Result<Spec> {
    let found = match text.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'{') => None,
        None => Some("nothing"),
        Some(b'[') => Some("an array"),
        Some(b'"') => Some("a string"),
        Some(b't' | b'f') => Some("a boolean"),
        Some(b'n') => Some("null"),
        Some(b'-' | b'0'..=b'9') => Some("a number"),
        Some(_) => Some("something that is not JSON"),
    };
    if let Some(found) = found {
        return Err(Error::Invalid(format!(
            "config.json: expected a JSON object at the top level, found {found}"
        )));
    }
    let fixed = spec13_fixups(text, "/process/scheduler/flags", "process.scheduler.flags")?;
    let text = fixed.as_deref().unwrap_or(text);
    let de = &mut serde_json::Deserializer::from_slice(text);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let field = e.path().to_string();
        let field = if field == "." {
            "(document)".to_string()
        } else {
            field
        };
        Error::config(field, spec_names(e.inner().to_string()))
    })
}

/// A parse error message with the runtime-spec's names where oci-spec 0.10 lists its own: the expected flags of
/// `scheduler.flags` name `SCHED_FLAG_RESET_ON_FORK`, the name a config must use (see [`spec13_fixups`]).
pub fn spec_names(msg: String) -> String {
    msg.replace("`SCHED_RESET_ON_FORK`", "`SCHED_FLAG_RESET_ON_FORK`")
}

/// runtime-spec 1.3 spellings that oci-spec 0.10 does not read as the spec means them, rewritten before the typed
/// parse (`None`: nothing to change): the scheduler flag `SCHED_FLAG_RESET_ON_FORK` (oci-spec knows it as
/// `SCHED_RESET_ON_FORK`, which is refused here as the spec does not have it) at JSON pointer `flags_ptr`, and a
/// `linux.resources.pids` without `limit`, which means "leave pids.max alone" (oci-spec would read a limit of 0).
/// A document that is not valid JSON is left to the typed parse to report.
pub fn spec13_fixups(text: &[u8], flags_ptr: &str, flags_field: &str) -> Result<Option<Vec<u8>>> {
    let has = |n: &[u8]| text.windows(n.len()).any(|w| w == n);
    if !has(b"RESET_ON_FORK") && !has(b"\"pids\"") {
        return Ok(None);
    }
    let Ok(mut v) = serde_json::from_slice::<serde_json::Value>(text) else {
        return Ok(None);
    };
    let mut changed = false;
    if let Some(flags) = v.pointer_mut(flags_ptr).and_then(|f| f.as_array_mut()) {
        for (i, f) in flags.iter_mut().enumerate() {
            match f.as_str() {
                Some("SCHED_FLAG_RESET_ON_FORK") => {
                    *f = "SCHED_RESET_ON_FORK".into();
                    changed = true;
                }
                Some("SCHED_RESET_ON_FORK") => {
                    return Err(Error::config(
                        format!("{flags_field}[{i}]"),
                        "unknown flag `SCHED_RESET_ON_FORK` (the runtime-spec name is SCHED_FLAG_RESET_ON_FORK)",
                    ))
                }
                _ => {}
            }
        }
    }
    if let Some(r) = v
        .pointer_mut("/linux/resources")
        .and_then(|r| r.as_object_mut())
    {
        if r.get("pids")
            .and_then(|p| p.as_object())
            .is_some_and(|p| !p.contains_key("limit"))
        {
            r.remove("pids");
            changed = true;
        }
    }
    Ok(changed.then(|| serde_json::to_vec(&v).unwrap_or_default()))
}

fn ns_name(t: LinuxNamespaceType) -> &'static str {
    match t {
        LinuxNamespaceType::Mount => "mount",
        LinuxNamespaceType::Cgroup => "cgroup",
        LinuxNamespaceType::Uts => "uts",
        LinuxNamespaceType::Ipc => "ipc",
        LinuxNamespaceType::User => "user",
        LinuxNamespaceType::Pid => "pid",
        LinuxNamespaceType::Network => "network",
        LinuxNamespaceType::Time => "time",
    }
}

/// Checks the rules of runtime-spec v1.2 that the kernel would otherwise report obscurely, and returns the absolute
/// rootfs path.
///
/// Rules: `ociVersion` is 1.x; `root.path` names an existing directory; `process` is present with non-empty
/// `args` and an absolute `cwd`; each namespace type appears once, a `path` is absolute and exists; a mount
/// namespace is present; a user namespace has mappings and mappings need a user namespace; `hostname`/`domainname`
/// need a UTS namespace; `timeOffsets` need a time namespace; mount destinations, hook paths, masked/read-only paths
/// and device paths are absolute; rlimit soft ≤ hard and no type is repeated.
pub fn validate(spec: &Spec, bundle: &Path) -> Result<PathBuf> {
    if !spec.version().starts_with("1.") {
        return Err(Error::config(
            "ociVersion",
            format!("expected a 1.x version, got {:?}", spec.version()),
        ));
    }
    let root = spec
        .root()
        .as_ref()
        .ok_or_else(|| Error::config("root", "missing: the bundle must name its rootfs"))?;
    if root.path().as_os_str().is_empty() {
        return Err(Error::config("root.path", "empty"));
    }
    let rootfs = bundle.join(root.path());
    let rootfs = std::fs::canonicalize(&rootfs)
        .map_err(|e| Error::config("root.path", format!("`{}`: {e}", rootfs.display())))?;
    if !rootfs.is_dir() {
        return Err(Error::config(
            "root.path",
            format!("`{}` is not a directory", rootfs.display()),
        ));
    }

    let process = spec
        .process()
        .as_ref()
        .ok_or_else(|| Error::config("process", "missing"))?;
    if process
        .args()
        .as_ref()
        .is_none_or(|a| a.is_empty() || a[0].is_empty())
    {
        return Err(Error::config(
            "process.args",
            "must name the program to run (non-empty)",
        ));
    }
    if !process.cwd().is_absolute() {
        return Err(Error::config(
            "process.cwd",
            format!("`{}` must be an absolute path", process.cwd().display()),
        ));
    }
    if let Some(name) = crate::process::invalid_user_id(process) {
        return Err(Error::config(
            format!("process.user.{name}"),
            crate::process::INVALID_ID_MSG,
        ));
    }
    if let Some(env) = process.env() {
        for (i, e) in env.iter().enumerate() {
            if !e.contains('=') || e.starts_with('=') {
                return Err(Error::config(
                    format!("process.env[{i}]"),
                    format!("{e:?} is not KEY=VALUE"),
                ));
            }
        }
    }
    if let Some(rl) = process.rlimits() {
        let mut seen = HashSet::new();
        for (i, r) in rl.iter().enumerate() {
            if r.soft() > r.hard() {
                return Err(Error::config(
                    format!("process.rlimits[{i}]"),
                    "soft limit is above the hard limit",
                ));
            }
            if !seen.insert(r.typ().to_string()) {
                return Err(Error::config(
                    format!("process.rlimits[{i}].type"),
                    format!("{} repeated", r.typ()),
                ));
            }
        }
    }
    if let Some(cs) = process.console_size() {
        if cs.height() > u16::MAX as u64 || cs.width() > u16::MAX as u64 {
            return Err(Error::config(
                "process.consoleSize",
                "height and width must be at most 65535",
            ));
        }
    }

    let linux = spec
        .linux()
        .as_ref()
        .ok_or_else(|| Error::config("linux", "missing"))?;
    let mut types = HashSet::new();
    for (i, ns) in linux.namespaces().iter().flatten().enumerate() {
        if !types.insert(ns.typ()) {
            return Err(Error::config(
                format!("linux.namespaces[{i}].type"),
                format!("{} repeated", ns_name(ns.typ())),
            ));
        }
        if let Some(p) = ns.path() {
            if !p.is_absolute() {
                return Err(Error::config(
                    format!("linux.namespaces[{i}].path"),
                    "must be an absolute path",
                ));
            }
            if let Err(e) = std::fs::metadata(p) {
                return Err(Error::config(
                    format!("linux.namespaces[{i}].path"),
                    format!("`{}`: {e}", p.display()),
                ));
            }
        }
    }
    let has_new = |t| {
        linux
            .namespaces()
            .iter()
            .flatten()
            .any(|n| n.typ() == t && n.path().is_none())
    };
    let has = |t| types.contains(&t);
    if !has(LinuxNamespaceType::Mount) {
        return Err(Error::config(
            "linux.namespaces",
            "a mount namespace is required",
        ));
    }
    let maps = linux.uid_mappings().as_ref().is_some_and(|m| !m.is_empty())
        || linux.gid_mappings().as_ref().is_some_and(|m| !m.is_empty());
    if has_new(LinuxNamespaceType::User) {
        for (field, m) in [
            ("linux.uidMappings", linux.uid_mappings()),
            ("linux.gidMappings", linux.gid_mappings()),
        ] {
            let m = m.as_deref().unwrap_or_default();
            if m.is_empty() {
                return Err(Error::config(
                    field,
                    "a new user namespace needs at least one mapping",
                ));
            }
            crate::idmap::check_map(field, m)?;
        }
    } else if maps {
        return Err(Error::config(
            "linux.uidMappings",
            "mappings given without a new user namespace",
        ));
    }
    // A UTS namespace joined by path is fine (runc allows it) unless it is the runtime's own.
    for (field, value) in [
        ("hostname", spec.hostname()),
        ("domainname", spec.domainname()),
    ] {
        if value.as_ref().is_some_and(|h| !h.is_empty())
            && !owns_namespace(spec, LinuxNamespaceType::Uts)?
        {
            return Err(Error::config(
                field,
                format!("setting the {field} needs a uts namespace of the container's own"),
            ));
        }
    }
    if let Some(off) = linux.time_offsets() {
        if !off.is_empty() && !has_new(LinuxNamespaceType::Time) {
            return Err(Error::config(
                "linux.timeOffsets",
                "time offsets need a new time namespace",
            ));
        }
        for k in off.keys() {
            if k != "monotonic" && k != "boottime" {
                return Err(Error::config(
                    format!("linux.timeOffsets.{k}"),
                    "expected `monotonic` or `boottime`",
                ));
            }
        }
    }
    if let Some(p) = linux.rootfs_propagation() {
        if !p.is_empty() && crate::mountopts::propagation(p).is_none() {
            return Err(Error::config(
                "linux.rootfsPropagation",
                format!("{p:?}: expected shared, slave, private or unbindable (optionally with an `r` prefix)"),
            ));
        }
    }
    for (i, m) in spec.mounts().iter().flatten().enumerate() {
        if !m.destination().is_absolute() {
            return Err(Error::config(
                format!("mounts[{i}].destination"),
                format!("`{}` must be an absolute path", m.destination().display()),
            ));
        }
        let o = crate::mountopts::parse(m.options().as_deref().unwrap_or_default())
            .map_err(|msg| Error::config(format!("mounts[{i}].options"), msg))?;
        if crate::idmap::wanted(m, &o) {
            crate::idmap::mappings(i, m, &o, linux)?;
        }
    }
    for (field, list) in [
        ("linux.maskedPaths", linux.masked_paths()),
        ("linux.readonlyPaths", linux.readonly_paths()),
    ] {
        for (i, p) in list.iter().flatten().enumerate() {
            if !p.starts_with('/') {
                return Err(Error::config(
                    format!("{field}[{i}]"),
                    format!("`{p}` must be an absolute path"),
                ));
            }
        }
    }
    for (i, d) in linux.devices().iter().flatten().enumerate() {
        if !d.path().is_absolute() {
            return Err(Error::config(
                format!("linux.devices[{i}].path"),
                "must be an absolute path",
            ));
        }
        // A device node replaces whatever is at its path: keep that inside /dev (`/dev/../etc/passwd` would
        // otherwise unlink the rootfs's real file).
        let clean = crate::resolve::clean(d.path());
        if !clean.starts_with("dev") || clean == std::path::Path::new("dev") {
            return Err(Error::config(
                format!("linux.devices[{i}].path"),
                format!("`{}` must name a file below /dev", d.path().display()),
            ));
        }
        // The kernel's device numbers are 12-bit majors and 20-bit minors (mknod(2) takes them packed in 32 bits);
        // larger values would be truncated into another device. A FIFO (`p`) has none.
        if d.typ() != oci_spec::runtime::LinuxDeviceType::P {
            for (what, v, max) in [
                ("major", d.major(), MAX_DEVICE_MAJOR),
                ("minor", d.minor(), MAX_DEVICE_MINOR),
            ] {
                if v > max {
                    return Err(Error::config(
                        format!("linux.devices[{i}].{what}"),
                        format!("{v} is out of range (0 to {max})"),
                    ));
                }
            }
        }
    }
    if let Some(hooks) = spec.hooks() {
        #[allow(deprecated)]
        let lists = [
            ("hooks.prestart", hooks.prestart()),
            ("hooks.createRuntime", hooks.create_runtime()),
            ("hooks.createContainer", hooks.create_container()),
            ("hooks.startContainer", hooks.start_container()),
            ("hooks.poststart", hooks.poststart()),
            ("hooks.poststop", hooks.poststop()),
        ];
        for (field, list) in lists {
            for (i, h) in list.iter().flatten().enumerate() {
                if !h.path().is_absolute() {
                    return Err(Error::config(
                        format!("{field}[{i}].path"),
                        "must be an absolute path",
                    ));
                }
                if h.timeout().is_some_and(|t| t <= 0) {
                    return Err(Error::config(
                        format!("{field}[{i}].timeout"),
                        "must be greater than zero",
                    ));
                }
            }
        }
    }
    crate::sched::validate(spec)?;
    crate::netdev::validate(spec)?;
    crate::intelrdt::check(spec)?;
    if let Some(p) = linux.cgroups_path() {
        let s = p.to_string_lossy();
        if s.split('/').any(|c| c == "..") {
            return Err(Error::config(
                "linux.cgroupsPath",
                format!("`{s}` must not contain `..`"),
            ));
        }
    }
    Ok(rootfs)
}

/// True if the container has a namespace of type `t` of its own: a new one, or one joined by `path` that is not the
/// runtime's own (compared by device and inode of the nsfs file, never by the path string).
pub fn owns_namespace(spec: &Spec, t: LinuxNamespaceType) -> Result<bool> {
    use std::os::unix::fs::MetadataExt;
    let Some(ns) = spec
        .linux()
        .as_ref()
        .and_then(|l| l.namespaces().as_ref())
        .and_then(|n| n.iter().find(|n| n.typ() == t))
    else {
        return Ok(false);
    };
    let Some(path) = ns.path() else {
        return Ok(true);
    };
    let own = format!("/proc/self/ns/{}", proc_ns_name(t));
    let a = std::fs::metadata(path).map_err(|e| Error::io("stat", path, e))?;
    let b = std::fs::metadata(&own).map_err(|e| Error::io("stat", &own, e))?;
    Ok((a.dev(), a.ino()) != (b.dev(), b.ino()))
}

/// Name of a namespace type as written in `/proc/PID/ns/` (`mnt`, `net`, …).
pub fn proc_ns_name(t: LinuxNamespaceType) -> &'static str {
    match t {
        LinuxNamespaceType::Mount => "mnt",
        LinuxNamespaceType::Network => "net",
        other => ns_name(other),
    }
}

/// The `CLONE_NEW*` flag of a namespace type.
pub fn clone_flag(t: LinuxNamespaceType) -> i32 {
    use holm_sys::ns::*;
    match t {
        LinuxNamespaceType::Mount => CLONE_NEWNS,
        LinuxNamespaceType::Cgroup => CLONE_NEWCGROUP,
        LinuxNamespaceType::Uts => CLONE_NEWUTS,
        LinuxNamespaceType::Ipc => CLONE_NEWIPC,
        LinuxNamespaceType::User => CLONE_NEWUSER,
        LinuxNamespaceType::Pid => CLONE_NEWPID,
        LinuxNamespaceType::Network => CLONE_NEWNET,
        LinuxNamespaceType::Time => CLONE_NEWTIME,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_json_names_the_field() {
        let e = parse(
            br#"{"ociVersion":"1.2.0","linux":{"namespaces":[{"type":"pid"},{"type":"bogus"}]}}"#,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("linux.namespaces[1].type"), "{e}");
        assert!(e.contains("bogus"), "{e}");
        let e = parse(b"{not json").unwrap_err().to_string();
        assert!(e.contains("config.json"), "{e}");
    }

    fn base() -> serde_json::Value {
        serde_json::json!({
            "ociVersion": "1.2.0",
            "root": {"path": "rootfs"},
            "process": {"args": ["sh"], "cwd": "/", "user": {"uid": 0, "gid": 0}},
            "linux": {"namespaces": [{"type": "mount"}, {"type": "pid"}]}
        })
    }

    fn check(v: serde_json::Value) -> std::result::Result<(), String> {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("rootfs")).unwrap();
        let spec = parse(v.to_string().as_bytes()).map_err(|e| e.to_string())?;
        validate(&spec, dir.path())
            .map(drop)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn validation_rules_name_fields() {
        check(base()).unwrap();
        let cases: Vec<(&str, serde_json::Value, &str)> = vec![
            ("/process/cwd", "rel".into(), "process.cwd"),
            ("/process/args", serde_json::json!([]), "process.args"),
            ("/root/path", "missing-dir".into(), "root.path"),
            (
                "/linux/namespaces",
                serde_json::json!([{"type": "pid"}]),
                "linux.namespaces",
            ),
            (
                "/linux/namespaces",
                serde_json::json!([{"type": "mount"}, {"type": "mount"}]),
                "linux.namespaces[1]",
            ),
            (
                "/linux/namespaces",
                serde_json::json!([{"type": "mount"}, {"type": "user"}]),
                "linux.uidMappings",
            ),
            (
                "/linux/namespaces",
                serde_json::json!([{"type": "mount"}, {"type": "network", "path": "x"}]),
                "path",
            ),
            ("/hostname", "h".into(), "hostname"),
            (
                "/mounts",
                serde_json::json!([{"destination": "rel", "type": "tmpfs"}]),
                "mounts[0].destination",
            ),
            (
                "/process/rlimits",
                serde_json::json!([{"type": "RLIMIT_NOFILE", "soft": 10, "hard": 5}]),
                "rlimits",
            ),
            ("/ociVersion", "0.9".into(), "ociVersion"),
        ];
        for (ptr, val, field) in cases {
            let mut v = base();
            let (parent, key) = ptr.rsplit_once('/').unwrap();
            v.pointer_mut(parent)
                .unwrap()
                .as_object_mut()
                .unwrap()
                .insert(key.into(), val);
            let err = check(v).expect_err(ptr);
            assert!(err.contains(field), "{ptr}: {err}");
        }
    }
}
