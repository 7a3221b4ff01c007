//! The `holm run`/`create` flags beyond the basics, parsed the way docker parses them and mapped onto the runtime
//! spec the way docker maps them: `--env-file`, `--mount`, `--tmpfs`, `--ulimit`, `--cap-add`/`--cap-drop`,
//! `--privileged`, `--security-opt`, `--stop-signal`, `--label`, `--memory-swap`, `--cpu-shares`,
//! `--cpuset-cpus`, `--init`, `--log-driver`. Bad values are [`Error::InvalidFlag`]s naming the flag.

use crate::config::{parse_size, RunConfig, DEFAULT_CAPS};
pub use crate::mounts::{parse_mount, parse_tmpfs, MountOpt};
use crate::{Error, Result};
use oci_spec::runtime::{
    Capabilities, Capability, LinuxDevice, LinuxDeviceCgroup, LinuxDeviceType, LinuxSeccomp, Mount,
    PosixRlimitBuilder, PosixRlimitType, Spec,
};
use std::collections::BTreeMap;
use std::os::fd::AsFd;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

/// docker's `-e`/`--env` values (`run`, `create`, `exec`): `K=V` as given, `K` alone passes holm's own value of K
/// (or nothing if it has none). Errors: an empty name (`=bad`: docker's `invalid environment variable: =bad`).
pub fn env_flags(values: &[String]) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for e in values {
        if e.split('=').next().is_none_or(str::is_empty) {
            return Err(Error::flag(
                "--env",
                e,
                format!("invalid environment variable: {e}"),
            ));
        }
        if e.contains('=') {
            out.push(e.clone());
        } else {
            out.extend(std::env::var(e).ok().map(|v| format!("{e}={v}")));
        }
    }
    Ok(out)
}

/// Reads a docker `--env-file`: one `K=V` per line (`K` alone passes holm's own value, or nothing), blank lines
/// and `#` comments skipped. Errors: unreadable file, a name with whitespace.
pub fn read_env_file(path: &str) -> Result<Vec<String>> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::flag("--env-file", path, format!("open {path}: {e}")))?;
    let mut out = Vec::new();
    for line in text.lines() {
        let l = line.trim_start();
        if l.is_empty() || l.starts_with('#') {
            continue;
        }
        let (k, v) = match l.split_once('=') {
            Some((k, v)) => (k, Some(v)),
            None => (l.trim_end(), None),
        };
        if k.is_empty() {
            return Err(Error::flag(
                "--env-file",
                path,
                format!("no variable name on line {line:?}"),
            ));
        }
        if k.contains(char::is_whitespace) {
            return Err(Error::flag(
                "--env-file",
                path,
                format!("variable '{k}' contains whitespaces"),
            ));
        }
        match v {
            Some(v) => out.push(format!("{k}={v}")),
            None => {
                if let Ok(v) = std::env::var(k) {
                    out.push(format!("{k}={v}"));
                }
            }
        }
    }
    Ok(out)
}

/// One `--ulimit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ulimit {
    /// The resource.
    pub typ: PosixRlimitType,
    /// Soft limit (`u64::MAX`: unlimited).
    pub soft: u64,
    /// Hard limit.
    pub hard: u64,
}

/// Parses docker's `--ulimit TYPE=SOFT[:HARD]` (`nofile=1024:2048`, `core=-1`; -1 is unlimited).
pub fn parse_ulimit(s: &str) -> Result<Ulimit> {
    let bad = |why: String| Error::flag("--ulimit", s, why);
    let (name, vals) = s
        .split_once('=')
        .ok_or_else(|| bad("expected TYPE=SOFT[:HARD]".into()))?;
    const NAMES: &[&str] = &[
        "core",
        "cpu",
        "data",
        "fsize",
        "locks",
        "memlock",
        "msgqueue",
        "nice",
        "nofile",
        "nproc",
        "rss",
        "rtprio",
        "rttime",
        "sigpending",
        "stack",
        "as",
    ];
    if !NAMES.contains(&name) {
        return Err(bad(format!("invalid ulimit type: {name}")));
    }
    let typ: PosixRlimitType = format!("RLIMIT_{}", name.to_ascii_uppercase())
        .parse()
        .map_err(|_| bad(format!("invalid ulimit type: {name}")))?;
    let num = |v: &str| -> Result<u64> {
        match v.trim().parse::<i64>() {
            Ok(-1) => Ok(u64::MAX),
            Ok(n) if n >= 0 => Ok(n as u64),
            _ => Err(bad(format!("invalid ulimit value: {v}"))),
        }
    };
    let (soft, hard) = match vals.split_once(':') {
        Some((a, b)) => (num(a)?, num(b)?),
        None => {
            let v = num(vals)?;
            (v, v)
        }
    };
    if soft > hard {
        return Err(bad(format!(
            "ulimit soft limit must be less than or equal to hard limit: {soft} > {hard}"
        )));
    }
    Ok(Ulimit { typ, soft, hard })
}

/// Parses a capability name as docker does (`NET_ADMIN`, `cap_net_admin`; `ALL` is handled by the caller).
pub fn parse_cap(flag: &str, s: &str) -> Result<Capability> {
    let up = s.trim().to_ascii_uppercase();
    let name = if up.starts_with("CAP_") {
        up
    } else {
        format!("CAP_{up}")
    };
    serde_json::from_value(serde_json::Value::String(name.clone()))
        .map_err(|_| Error::flag(flag, s, format!("unknown capability: \"{name}\"")))
}

/// Every capability holm itself may pass on (its bounding set: a host that withholds one, e.g.
/// `CAP_SYS_RESOURCE`, cannot give it to a container).
fn all_caps() -> Capabilities {
    caps::read(None, caps::CapSet::Bounding)
        .unwrap_or_else(|_| caps::all())
        .into_iter()
        .filter_map(|c| serde_json::from_value(serde_json::Value::String(c.to_string())).ok())
        .collect()
}

/// docker's capability set: the default set, or every capability with `privileged`; then `--cap-drop` (ALL: none
/// left) and `--cap-add` (ALL: every one).
pub fn capability_set(cfg: &RunConfig) -> Result<Capabilities> {
    if cfg.privileged {
        return Ok(all_caps());
    }
    let is_all = |c: &String| c.eq_ignore_ascii_case("all") || c.eq_ignore_ascii_case("cap_all");
    let mut set: Capabilities = DEFAULT_CAPS.iter().copied().collect();
    if cfg.cap_drop.iter().any(is_all) {
        set.clear();
    }
    for c in cfg.cap_drop.iter().filter(|c| !is_all(c)) {
        set.remove(&parse_cap("--cap-drop", c)?);
    }
    if cfg.cap_add.iter().any(is_all) {
        set = all_caps();
    }
    for c in cfg.cap_add.iter().filter(|c| !is_all(c)) {
        set.insert(parse_cap("--cap-add", c)?);
    }
    Ok(set)
}

/// What `--security-opt` asked for.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SecurityOpts {
    /// `no-new-privileges`.
    pub no_new_privileges: bool,
    /// `seccomp=unconfined`.
    pub seccomp_unconfined: bool,
    /// `seccomp=FILE`: the profile read from the file.
    pub seccomp_profile: Option<Box<LinuxSeccomp>>,
}

/// Parses `--security-opt` values: `no-new-privileges[:true|=true|:false]`, `seccomp=unconfined|FILE` (an OCI /
/// docker seccomp JSON profile), and `apparmor=…`/`label=…`, accepted and ignored (this host has no LSM).
pub fn parse_security_opts(opts: &[String]) -> Result<SecurityOpts> {
    let mut out = SecurityOpts::default();
    for s in opts {
        let bad = |why: String| Error::flag("--security-opt", s, why);
        let (k, v) = match s.split_once(['=', ':']) {
            Some((k, v)) => (k, Some(v)),
            None => (s.as_str(), None),
        };
        match (k, v) {
            ("no-new-privileges", None | Some("true")) => out.no_new_privileges = true,
            ("no-new-privileges", Some("false")) => out.no_new_privileges = false,
            ("seccomp", Some("unconfined")) => {
                out.seccomp_unconfined = true;
                out.seccomp_profile = None;
            }
            ("seccomp", Some(file)) => {
                let text = std::fs::read_to_string(file)
                    .map_err(|e| bad(format!("opening seccomp profile ({file}) failed: {e}")))?;
                let p: LinuxSeccomp = serde_json::from_str(&text)
                    .map_err(|e| bad(format!("decoding seccomp profile ({file}) failed: {e}")))?;
                out.seccomp_unconfined = false;
                out.seccomp_profile = Some(Box::new(p));
            }
            ("apparmor" | "label", Some(_)) => {}
            _ => return Err(bad(format!("invalid --security-opt: {s:?}"))),
        }
    }
    Ok(out)
}

/// Checks `--stop-signal` (a name or number); returns the name as given, upper-cased.
pub fn parse_stop_signal(s: &str) -> Result<String> {
    holm_sys::signal::parse_signal(s)
        .map(|_| s.to_ascii_uppercase())
        .ok_or_else(|| Error::flag("--stop-signal", s, format!("invalid signal: {s}")))
}

/// Parses `--label K=V` (or `K`, an empty value) into the map.
pub fn parse_labels(labels: &[String]) -> Result<BTreeMap<String, String>> {
    parse_key_values("--label", "label", labels)
}

/// Parses `--annotation K=V` (a bare `K` is an empty value), like `--label`.
pub fn parse_annotations(annotations: &[String]) -> Result<BTreeMap<String, String>> {
    parse_key_values("--annotation", "annotation", annotations)
}

fn parse_key_values(
    flag: &'static str,
    what: &str,
    items: &[String],
) -> Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for l in items {
        let (k, v) = l.split_once('=').unwrap_or((l, ""));
        if k.trim().is_empty() {
            return Err(Error::flag(flag, l, format!("empty {what} key")));
        }
        out.insert(k.to_string(), v.to_string());
    }
    Ok(out)
}

/// Parses `--memory-swap` (a size, or -1 for unlimited swap), checked against `--memory` as docker does.
pub fn parse_memory_swap(s: &str, memory: Option<i64>) -> Result<i64> {
    let v = parse_swap_value(s)?;
    let Some(m) = memory else {
        return Err(Error::flag(
            "--memory-swap",
            s,
            "You should always set the Memory limit when using Memoryswap limit, see usage",
        ));
    };
    if v != -1 && v < m {
        return Err(Error::flag(
            "--memory-swap",
            s,
            "Minimum memoryswap limit should be larger than memory limit, see usage",
        ));
    }
    Ok(v)
}

/// The value of `--memory-swap` alone: `-1` (unlimited swap) or a size in bytes (`512m`, `1g`, ...), without the
/// check against `--memory` that [`parse_memory_swap`] adds (`holm update` checks against the container's limit).
pub fn parse_swap_value(s: &str) -> Result<i64> {
    if s.trim() == "-1" {
        Ok(-1)
    } else {
        parse_size("--memory-swap", s)
    }
}

/// Parses `--cpu-shares` (cgroup v1 weight 2..262144; 0 means the default).
pub fn parse_cpu_shares(s: &str) -> Result<u64> {
    s.trim()
        .parse::<u64>()
        .ok()
        .filter(|n| *n == 0 || (2..=262_144).contains(n))
        .ok_or_else(|| Error::flag("--cpu-shares", s, "expected a number from 2 to 262144"))
}

/// Parses and checks `--cpuset-cpus` (`0-2,4`) against the CPUs online.
pub fn parse_cpuset(s: &str) -> Result<String> {
    let bad = |why: String| Error::flag("--cpuset-cpus", s, why);
    let n = std::thread::available_parallelism().map_or(1, |n| n.get()) as u32;
    let mut max = 0;
    for part in s.split(',') {
        let (a, b) = part.split_once('-').unwrap_or((part, part));
        let (Ok(a), Ok(b)) = (a.trim().parse::<u32>(), b.trim().parse::<u32>()) else {
            return Err(bad(format!("invalid format: {s}")));
        };
        if a > b {
            return Err(bad(format!("invalid format: {s}")));
        }
        max = max.max(b);
    }
    if max >= n {
        return Err(bad(format!(
            "Requested CPUs are not available - requested {s}, available: 0-{}",
            n - 1
        )));
    }
    Ok(s.to_string())
}

/// The log drivers holm has.
pub const LOG_DRIVERS: &[&str] = &["json-file", "k8s-file", "none"];

/// Checks `--log-driver`.
pub fn parse_log_driver(s: &str) -> Result<String> {
    if LOG_DRIVERS.contains(&s) {
        Ok(s.to_string())
    } else {
        Err(Error::flag(
            "--log-driver",
            s,
            format!("no log driver named '{s}' is registered (holm has json-file, k8s-file, none)"),
        ))
    }
}

/// A `--restart` policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestartPolicy {
    /// Never (the default).
    No,
    /// After a non-zero exit, at most this many times (`None`: no limit).
    OnFailure(Option<u32>),
    /// After every exit (`always`, and `unless-stopped`, the same without a daemon to restart).
    Always,
}

impl RestartPolicy {
    /// docker's `RestartPolicy` (`Name`, `MaximumRetryCount`).
    pub fn docker_name(self) -> (&'static str, u32) {
        match self {
            RestartPolicy::No => ("no", 0),
            RestartPolicy::OnFailure(n) => ("on-failure", n.unwrap_or(0)),
            RestartPolicy::Always => ("always", 0),
        }
    }
}

/// Parses `--restart no|on-failure[:N]|always|unless-stopped` (empty: `no`).
pub fn parse_restart(s: &str) -> Result<RestartPolicy> {
    let bad = |why: &str| Error::flag("--restart", s, why);
    match s.split_once(':') {
        None if s.is_empty() || s == "no" => Ok(RestartPolicy::No),
        None if s == "always" || s == "unless-stopped" => Ok(RestartPolicy::Always),
        None if s == "on-failure" => Ok(RestartPolicy::OnFailure(None)),
        Some(("on-failure", n)) => match n.parse::<u32>() {
            Ok(0) => Ok(RestartPolicy::OnFailure(None)),
            Ok(n) => Ok(RestartPolicy::OnFailure(Some(n))),
            Err(_) => Err(bad("maximum retry count must be a positive number")),
        },
        Some(("always" | "unless-stopped" | "no", _)) => Err(bad(
            "maximum retry count cannot be used with this restart policy",
        )),
        _ => Err(bad(
            "invalid restart policy: expected no, on-failure[:N], always or unless-stopped",
        )),
    }
}

/// Where `--init` finds its init inside the container (docker's path).
pub const INIT_PATH: &str = "/sbin/docker-init";

/// A tini in the image, used by `--init` as is.
const IMAGE_INITS: &[&str] = &[
    "/sbin/tini",
    "/usr/bin/tini",
    "/usr/sbin/tini",
    "/tini",
    "/usr/local/bin/tini",
];

/// Static inits on the host, bind-mounted read-only at [`INIT_PATH`] when the image has none: docker's
/// docker-init, Debian's `tini-static` (package `tini`), podman's catatonit.
const HOST_INITS: &[&str] = &[
    "/usr/libexec/docker/docker-init",
    "/usr/bin/docker-init",
    "/usr/bin/tini-static",
    "/usr/libexec/podman/catatonit",
    "/usr/bin/catatonit",
];

/// The init `--init` runs: `(path in the container, host file to bind there)`. A tini in the image is used
/// directly; otherwise a static init of the host is bound read-only at [`INIT_PATH`].
pub fn find_init(rootfs: &Path) -> Result<(String, Option<PathBuf>)> {
    if let Ok(root) = std::fs::File::open(rootfs) {
        for p in IMAGE_INITS {
            if let Ok(fd) = holm_container::resolve::open(root.as_fd(), Path::new(p), libc::O_PATH)
            {
                let m = std::fs::metadata(holm_sys::fs::fd_path(fd.as_fd()));
                if m.is_ok_and(|m| m.is_file() && m.mode() & 0o111 != 0) {
                    return Ok((p.to_string(), None));
                }
            }
        }
    }
    for h in HOST_INITS {
        if std::fs::metadata(h).is_ok_and(|m| m.is_file()) {
            return Ok((INIT_PATH.to_string(), Some(PathBuf::from(h))));
        }
    }
    Err(Error::flag(
        "--init",
        "true",
        "no init found: the image has no tini and the host none of docker-init, tini-static (Debian package \
         `tini`) or catatonit",
    ))
}

/// The host's devices for `--privileged` (as runc's HostDevices: every node under `/dev` except `pts`, `shm`,
/// `mqueue`, `fd` and `console`).
fn host_devices() -> Vec<LinuxDevice> {
    fn walk(dir: &Path, out: &mut Vec<LinuxDevice>) {
        let Ok(rd) = std::fs::read_dir(dir) else {
            return;
        };
        for e in rd.flatten() {
            let p = e.path();
            let name = e.file_name();
            let Ok(m) = std::fs::symlink_metadata(&p) else {
                continue;
            };
            let ft = m.file_type();
            if ft.is_dir() {
                if !matches!(
                    name.to_str(),
                    Some("pts" | "shm" | "mqueue" | "fd" | ".udev" | ".lxc")
                ) {
                    walk(&p, out);
                }
                continue;
            }
            if name == "console" {
                continue;
            }
            let typ = if ft.is_char_device() {
                LinuxDeviceType::C
            } else if ft.is_block_device() {
                LinuxDeviceType::B
            } else {
                continue;
            };
            let rdev = m.rdev();
            let mut d = LinuxDevice::default();
            d.set_path(p);
            d.set_typ(typ);
            d.set_major(libc::major(rdev) as i64);
            d.set_minor(libc::minor(rdev) as i64);
            d.set_file_mode(Some(m.mode() & 0o7777));
            d.set_uid(Some(m.uid()));
            d.set_gid(Some(m.gid()));
            out.push(d);
        }
    }
    let mut out = Vec::new();
    walk(Path::new("/dev"), &mut out);
    out
}

fn spec_mount(m: &MountOpt) -> Mount {
    let mut opts = m.options.clone();
    if m.read_only {
        opts.push("ro".into());
    }
    let mut sm = Mount::default();
    sm.set_destination(m.destination.clone().into());
    sm.set_typ(Some(m.typ.clone()));
    sm.set_source(Some(m.source.clone().into()));
    sm.set_options(Some(opts));
    sm
}

/// Applies the flags of this module to `spec` (built from the image, on the mounted `rootfs`).
pub fn apply(spec: &mut Spec, cfg: &RunConfig, rootfs: &Path) -> Result<()> {
    let sec = parse_security_opts(&cfg.security_opt)?;
    let caps = capability_set(cfg)?;
    let mut process = spec.process().clone().unwrap_or_default();
    let mut c = process.capabilities().clone().unwrap_or_default();
    c.set_bounding(Some(caps.clone()));
    c.set_effective(Some(caps.clone()));
    c.set_permitted(Some(caps));
    process.set_capabilities(Some(c));
    process.set_no_new_privileges(Some(sec.no_new_privileges));
    if !cfg.ulimits.is_empty() {
        let mut rl = process.rlimits().clone().unwrap_or_default();
        for u in &cfg.ulimits {
            let u = parse_ulimit(u)?;
            rl.retain(|r| r.typ() != u.typ);
            let r = PosixRlimitBuilder::default()
                .typ(u.typ)
                .soft(u.soft)
                .hard(u.hard)
                .build()
                .map_err(|e| Error::flag("--ulimit", &format!("{:?}", u.typ), e.to_string()))?;
            rl.push(r);
        }
        process.set_rlimits(Some(rl));
    }

    let mut mounts = spec.mounts().clone().unwrap_or_default();
    if cfg.init {
        let (path, host) = find_init(rootfs)?;
        if let Some(h) = host {
            mounts.push(spec_mount(&MountOpt {
                typ: "bind".into(),
                source: h.display().to_string(),
                destination: path.clone(),
                read_only: true,
                options: vec!["bind".into(), "rprivate".into()],
                anonymous: false,
            }));
        }
        let mut args = vec![path, "--".to_string()];
        args.extend(process.args().clone().unwrap_or_default());
        process.set_args(Some(args));
    }
    spec.set_process(Some(process));
    for m in &cfg.mounts {
        mounts.push(spec_mount(&parse_mount(m)?));
    }
    for t in &cfg.tmpfs {
        mounts.push(spec_mount(&parse_tmpfs(t)?));
    }
    if cfg.privileged {
        // /sys and its cgroup mount read-write.
        for m in &mut mounts {
            if matches!(m.typ().as_deref(), Some("sysfs" | "cgroup" | "cgroup2")) {
                if let Some(o) = m.options().clone() {
                    m.set_options(Some(o.into_iter().filter(|o| o != "ro").collect()));
                }
            }
        }
    }
    spec.set_mounts(Some(mounts));

    let mut linux = spec.linux().clone().unwrap_or_default();
    if cfg.privileged || sec.seccomp_unconfined {
        linux.set_seccomp(None);
    } else if let Some(p) = sec.seccomp_profile {
        linux.set_seccomp(Some(*p));
    }
    let mut res = linux.resources().clone().unwrap_or_default();
    if cfg.privileged {
        linux.set_masked_paths(None);
        linux.set_readonly_paths(None);
        linux.set_devices(Some(host_devices()));
        let mut all = LinuxDeviceCgroup::default();
        all.set_allow(true);
        all.set_typ(Some(LinuxDeviceType::A));
        all.set_access(Some("rwm".into()));
        let mut rules = res.devices().clone().unwrap_or_default();
        rules.push(all);
        res.set_devices(Some(rules));
    }
    if let Some(swap) = cfg.memory_swap {
        let mut mem = (*res.memory()).unwrap_or_default();
        mem.set_swap(Some(swap));
        res.set_memory(Some(mem));
    }
    if cfg.cpu_shares.is_some_and(|s| s > 0) || cfg.cpuset_cpus.is_some() {
        let mut cpu = res.cpu().clone().unwrap_or_default();
        if let Some(s) = cfg.cpu_shares.filter(|s| *s > 0) {
            cpu.set_shares(Some(s));
        }
        if let Some(c) = &cfg.cpuset_cpus {
            cpu.set_cpus(Some(c.clone()));
        }
        res.set_cpu(Some(cpu));
    }
    linux.set_resources(Some(res));
    spec.set_linux(Some(linux));
    Ok(())
}

/// A signal given by name or number (`--signal` of `stop`/`kill`/`restart`, `signal=` of the API's kill and stop):
/// `SIGTERM`, `TERM`, `term`, `15`. Errors: [`Error::InvalidFlag`] naming `flag`.
pub fn signal(flag: &str, s: &str) -> Result<i32> {
    holm_sys::signal::parse_signal(s).ok_or_else(|| Error::flag(flag, s, "unknown signal"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(r: Result<impl std::fmt::Debug>) -> String {
        r.unwrap_err().to_string()
    }

    #[test]
    fn env_files() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("env");
        std::fs::write(&p, "# comment\n\nA=1\nB=two words\nHOLM_SURELY_UNSET_VAR\n").unwrap();
        assert_eq!(
            read_env_file(p.to_str().unwrap()).unwrap(),
            ["A=1", "B=two words"]
        );
        std::fs::write(&p, "BAD NAME=1\n").unwrap();
        assert!(err(read_env_file(p.to_str().unwrap())).contains("contains whitespaces"));
        assert!(err(read_env_file("/no/such/env")).contains("\"--env-file\""));
    }

    #[test]
    fn ulimits() {
        let u = parse_ulimit("nofile=1024:2048").unwrap();
        assert_eq!(
            (u.typ, u.soft, u.hard),
            (PosixRlimitType::RlimitNofile, 1024, 2048)
        );
        assert_eq!(parse_ulimit("core=-1").unwrap().hard, u64::MAX);
        assert!(err(parse_ulimit("nofile=10:5")).contains("soft limit"));
        assert!(err(parse_ulimit("bogus=1")).contains("invalid ulimit type"));
        assert!(err(parse_ulimit("nofile=x")).contains("invalid ulimit value"));
    }

    #[test]
    fn caps_and_security() {
        let mut cfg = RunConfig {
            cap_drop: vec!["all".into()],
            cap_add: vec!["net_admin".into()],
            ..Default::default()
        };
        assert_eq!(
            capability_set(&cfg).unwrap(),
            [Capability::NetAdmin].into_iter().collect()
        );
        cfg.cap_drop = vec!["CAP_CHOWN".into()];
        cfg.cap_add = vec![];
        let s = capability_set(&cfg).unwrap();
        assert!(!s.contains(&Capability::Chown) && s.contains(&Capability::Kill));
        cfg.cap_add = vec!["ALL".into()];
        assert!(capability_set(&cfg)
            .unwrap()
            .contains(&Capability::SysAdmin));
        cfg.cap_add = vec!["BOGUS".into()];
        assert!(err(capability_set(&cfg)).contains("unknown capability: \"CAP_BOGUS\""));
        let s = parse_security_opts(&["no-new-privileges".into(), "seccomp=unconfined".into()])
            .unwrap();
        assert!(s.no_new_privileges && s.seccomp_unconfined);
        assert!(err(parse_security_opts(&["bogus".into()])).contains("\"--security-opt\""));
        assert!(
            err(parse_security_opts(&["seccomp=/no/such.json".into()])).contains("seccomp profile")
        );
    }

    #[test]
    fn small_values() {
        assert_eq!(parse_stop_signal("sigusr1").unwrap(), "SIGUSR1");
        assert!(err(parse_stop_signal("SIGNOPE")).contains("\"--stop-signal\""));
        assert_eq!(parse_labels(&["a=b".into(), "c".into()]).unwrap()["c"], "");
        assert!(err(parse_memory_swap("1g", None)).contains("Memory limit"));
        assert!(err(parse_memory_swap("1m", Some(64 << 20))).contains("larger than memory"));
        assert_eq!(parse_memory_swap("-1", Some(64 << 20)).unwrap(), -1);
        assert!(parse_cpu_shares("1").is_err());
        assert_eq!(parse_cpu_shares("512").unwrap(), 512);
        assert!(parse_cpuset("0").is_ok());
        assert!(err(parse_cpuset("0-999")).contains("Requested CPUs are not available"));
        assert!(err(parse_cpuset("a")).contains("invalid format"));
        assert!(err(parse_log_driver("syslog")).contains("no log driver named 'syslog'"));
        assert_eq!(parse_restart("").unwrap(), RestartPolicy::No);
        assert_eq!(
            parse_restart("on-failure:3").unwrap(),
            RestartPolicy::OnFailure(Some(3))
        );
        assert_eq!(parse_restart("always").unwrap(), RestartPolicy::Always);
        assert!(err(parse_restart("always:2")).contains("\"--restart\""));
        assert!(err(parse_restart("sometimes")).contains("invalid restart policy"));
        assert!(err(parse_restart("on-failure:x")).contains("positive number"));
    }
}
