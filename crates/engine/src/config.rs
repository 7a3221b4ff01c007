//! How a container was asked to run ([`RunConfig`], stored as JSON in the database), the parsing of `holm run`'s
//! flag values (sizes, CPUs, volumes), and the runtime spec: holm-image's image config → spec, plus these
//! overrides (hostname, binds, read-only root, resource limits, cgroup path, docker's capabilities, the default
//! seccomp profile).

use crate::{Error, Result};
use oci_spec::image::ImageConfiguration;
use oci_spec::runtime::{
    Capability, LinuxCapabilities, LinuxCpu, LinuxMemory, LinuxPids, LinuxResources, Mount, Spec,
};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::path::Path;

/// Everything `holm run`/`create` was told about a container (docker's `Config` + `HostConfig`, for the fields
/// holm has).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RunConfig {
    /// `--entrypoint` (an empty string clears the image's).
    pub entrypoint: Option<Vec<String>>,
    /// Command after the image (replaces the image's Cmd when not empty).
    pub cmd: Vec<String>,
    /// `-e K=V`.
    pub env: Vec<String>,
    /// `-w`.
    pub workdir: Option<String>,
    /// `-u USER[:GROUP]`.
    pub user: Option<String>,
    /// `--hostname`.
    pub hostname: Option<String>,
    /// `-v SRC:DST[:ro]`, as given.
    pub volumes: Vec<String>,
    /// `--read-only`.
    pub read_only: bool,
    /// `--memory` in bytes.
    pub memory: Option<i64>,
    /// `--pids-limit`.
    pub pids_limit: Option<i64>,
    /// `--cpus`.
    pub cpus: Option<f64>,
    /// `--rm`.
    pub auto_remove: bool,
    /// The process the spec runs (entrypoint + cmd after the image's defaults), filled in at create.
    #[serde(default)]
    pub args: Vec<String>,
    /// The environment the spec gives the process, filled in at create.
    #[serde(default)]
    pub process_env: Vec<String>,
    /// The hostname the container gets, filled in at create.
    #[serde(default)]
    pub final_hostname: String,
    /// `--stop-signal`, else the image's stop signal (`SIGTERM` if it names none), filled in at create.
    #[serde(default)]
    pub stop_signal: String,
    /// `--stop-timeout` in seconds (`stop`'s default wait before SIGKILL).
    pub stop_timeout: Option<u64>,
    /// `--mount`, as given.
    pub mounts: Vec<String>,
    /// `--tmpfs`, as given.
    pub tmpfs: Vec<String>,
    /// `--ulimit`, as given.
    pub ulimits: Vec<String>,
    /// `--cap-add`.
    pub cap_add: Vec<String>,
    /// `--cap-drop`.
    pub cap_drop: Vec<String>,
    /// `--privileged`.
    pub privileged: bool,
    /// `--security-opt`, as given.
    pub security_opt: Vec<String>,
    /// `--label`.
    pub labels: std::collections::BTreeMap<String, String>,
    /// `--annotation`: OCI annotations passed to the runtime in `config.json` (docker 24's `run --annotation`),
    /// e.g. `org.holm.vm.tcg-tb-size` for a VM container.
    pub annotations: std::collections::BTreeMap<String, String>,
    /// `--memory-swap` in bytes (-1: unlimited).
    pub memory_swap: Option<i64>,
    /// `--cpu-shares`.
    pub cpu_shares: Option<u64>,
    /// `--cpuset-cpus`.
    pub cpuset_cpus: Option<String>,
    /// `--init`.
    pub init: bool,
    /// `--log-driver` (empty: `json-file`).
    pub log_driver: String,
    /// `--log-opt KEY=VALUE`, checked ([`crate::logopts`]).
    pub log_opts: std::collections::BTreeMap<String, String>,
    /// `-t`: the process gets a pty.
    pub tty: bool,
    /// `-i`: the process's stdin stays open (fed by an attached client).
    pub interactive: bool,
    /// `--restart` as given (empty: `no`).
    pub restart: String,
    /// `--runtime`: the OCI runtime binary (absolute path); `None` for the built-in holm-container.
    pub runtime: Option<String>,
    /// `--isolation` as given (docker's `HostConfig.Isolation`): empty (not given), `default`, `process` or `vm`
    /// (its own qemu microVM, see [`crate::vm`]).
    pub isolation: String,
    /// `--vm-kernel`: the guest kernel of an `--isolation vm` container (absolute path, checked at create);
    /// `None`: `$HOLM_VM_KERNEL`, else the default kernel ([`holm_vm::kernel::find_kernel`]).
    pub vm_kernel: Option<String>,
    /// `--network`: `bridge` (empty: bridge), `none`, `host`, `container:ID` or a user network's name.
    pub network: String,
    /// `--network-alias`: further names on the user network of `--network`.
    pub network_aliases: Vec<String>,
    /// The address asked for on the user network of `--network` (`network connect --ip` of a network that became
    /// the primary one: the first connected network after a `network disconnect` of the primary; or of the first
    /// network connected after the last one was disconnected). `None`: one from the network's pool.
    pub network_ip: Option<std::net::Ipv4Addr>,
    /// True after `network disconnect` of the container's last network: `network` is `none` (loopback only) but,
    /// unlike `--network none`, a `network connect` makes the network it connects the primary one (as docker).
    pub network_detached: bool,
    /// User networks joined by `network connect` (beyond `--network`), in order.
    pub connected: Vec<crate::networks::Attachment>,
    /// `-p/--publish`, as given.
    pub publish: Vec<String>,
    /// `-P/--publish-all`: every port the image exposes, on a free host port.
    pub publish_all: bool,
    /// `--dns`.
    pub dns: Vec<String>,
    /// `--add-host NAME:IP`, as given.
    pub add_hosts: Vec<String>,
    /// Names of the anonymous volumes it made (`--mount type=volume` without a source): removed with it by
    /// `rm -v` and `--rm`.
    pub anonymous_volumes: Vec<String>,
    /// The healthcheck: `--health-*` / `--no-healthcheck` as given, merged over the image's at create
    /// ([`crate::health`]).
    pub healthcheck: Option<crate::health::HealthConfig>,
}

impl RunConfig {
    /// True for `--isolation vm`.
    pub fn is_vm(&self) -> bool {
        self.isolation == "vm"
    }

    /// Checks what both fronts (`holm run`/`create`, `POST /containers/create`) must refuse before anything is
    /// pulled or created, in docker's words: a relative working directory, an environment entry without a
    /// name, an unknown capability, a bad `--security-opt`, a bad restart policy or one combined with `--rm`,
    /// a healthcheck duration under 1ms or negative retries, and for a VM container what its runtime would only
    /// refuse at start ([`crate::vm::validate`]).
    /// Errors: [`Error::InvalidFlag`] naming the CLI flag (`--workdir`, `--env`, `--cap-add`, `--cap-drop`,
    /// `--security-opt`, `--restart`, `--health-*`, `--annotation`, `--cpuset-cpus`) and the value.
    pub fn validate(&self) -> Result<()> {
        use crate::options as o;
        if let Some(w) = self
            .workdir
            .as_deref()
            .filter(|w| !w.is_empty() && !w.starts_with('/'))
        {
            // docker's daemon refuses it (exit 125) rather than taking it from `/`.
            return Err(Error::flag(
                "--workdir",
                w,
                format!("the working directory '{w}' is invalid, it needs to be an absolute path"),
            ));
        }
        if let Some(e) = self
            .env
            .iter()
            .find(|e| e.split('=').next().is_none_or(str::is_empty))
        {
            return Err(Error::flag(
                "--env",
                e,
                format!("invalid environment variable: {e}"),
            ));
        }
        for (flag, caps) in [("--cap-add", &self.cap_add), ("--cap-drop", &self.cap_drop)] {
            for c in caps.iter().filter(|c| !c.eq_ignore_ascii_case("all")) {
                o::parse_cap(flag, c)?;
            }
        }
        o::parse_security_opts(&self.security_opt)?;
        if self.annotations.contains_key(crate::vm::ANNOTATION) {
            // The engine sets it from --isolation: a VM the engine does not know of would get no network namespace.
            return Err(Error::flag(
                "--annotation",
                crate::vm::ANNOTATION,
                format!("{} is set by --isolation", crate::vm::ANNOTATION),
            ));
        }
        if o::parse_restart(&self.restart)? != o::RestartPolicy::No && self.auto_remove {
            return Err(Error::flag(
                "--restart",
                &self.restart,
                "Conflicting options: --restart and --rm",
            ));
        }
        if let Some(h) = &self.healthcheck {
            h.validate()?;
        }
        if self.is_vm() {
            crate::vm::validate(self)?;
        }
        Ok(())
    }

    /// The log driver (`json-file`, `k8s-file` or `none`).
    pub fn log_driver(&self) -> &str {
        if self.log_driver.is_empty() {
            "json-file"
        } else {
            &self.log_driver
        }
    }
}

/// Parses a size as docker's `--memory` does: a number with an optional `b`, `k`, `m`, `g`, `t` suffix (any case,
/// optionally followed by `b` or `ib`), binary multiples.
pub fn parse_size(flag: &str, s: &str) -> Result<i64> {
    let bad = || Error::flag(flag, s, format!("invalid size: '{s}'"));
    let t = s.trim().to_ascii_lowercase();
    let digits_end = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(digits_end);
    let num: f64 = num.parse().map_err(|_| bad())?;
    let unit = unit.trim_start();
    let unit = unit
        .strip_suffix("ib")
        .or_else(|| unit.strip_suffix('b').filter(|u| !u.is_empty()))
        .unwrap_or(unit);
    let mult: i64 = match unit {
        "" | "b" => 1,
        "k" => 1 << 10,
        "m" => 1 << 20,
        "g" => 1 << 30,
        "t" => 1 << 40,
        _ => return Err(bad()),
    };
    let v = num * mult as f64;
    if !v.is_finite() || v < 0.0 || v > i64::MAX as f64 {
        return Err(bad());
    }
    Ok(v as i64)
}

/// Parses and checks `--memory`: docker's minimum is 6 MiB.
pub fn parse_memory(s: &str) -> Result<i64> {
    let v = parse_size("--memory", s)?;
    if v < 6 << 20 {
        return Err(Error::flag(
            "--memory",
            s,
            "minimum memory limit allowed is 6MB",
        ));
    }
    Ok(v)
}

/// Parses and checks `--cpus` (0.01 up to the number of CPUs online).
pub fn parse_cpus(s: &str) -> Result<f64> {
    let v: f64 = s
        .trim()
        .parse()
        .map_err(|_| Error::flag("--cpus", s, "not a number"))?;
    let n = std::thread::available_parallelism().map_or(1, |n| n.get());
    if !(v.is_finite() && (0.01..=n as f64).contains(&v)) {
        return Err(Error::flag(
            "--cpus",
            s,
            format!("range of CPUs is from 0.01 to {n}.00, as there are only {n} CPUs available"),
        ));
    }
    Ok(v)
}

/// One `-v SRC:DST[:OPTS]` bind or named volume.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bind {
    /// Absolute host path, or the volume's name.
    pub source: String,
    /// A named volume (`source` is its name; created on first use).
    pub volume: bool,
    /// `nocopy`: do not copy the image's content into a new (empty) volume.
    pub nocopy: bool,
    /// Absolute container path.
    pub destination: String,
    /// `ro`.
    pub read_only: bool,
}

/// A stop timeout meaning "wait for ever" (docker's `-1`, any negative value).
pub const WAIT_FOREVER: u64 = u64::MAX;

/// A `stop -t` / `--stop-timeout` value in seconds: a negative one is [`WAIT_FOREVER`].
pub fn stop_timeout(secs: i64) -> u64 {
    u64::try_from(secs).unwrap_or(WAIT_FOREVER)
}

/// Parses `-v SRC:DST[:OPTS]` (OPTS: `ro`, `rw`, `nocopy`, and docker's labels and propagation words, which are
/// accepted and ignored; at most one of each kind, as docker: `ro,rw` is an invalid mode). SRC is an existing absolute host path, or the name of a volume.
pub fn parse_volume(s: &str) -> Result<Bind> {
    let bad = |why: &str| Error::flag("--volume", s, why);
    let parts: Vec<&str> = s.split(':').collect();
    let (src, dst, opts) = match parts.as_slice() {
        [src, dst] => (*src, *dst, ""),
        [src, dst, opts] => (*src, *dst, *opts),
        _ => return Err(bad("expected SRC:DST[:OPTIONS]")),
    };
    let volume = !src.starts_with('/');
    if volume {
        crate::volumes::validate_name(src).map_err(|_| {
            bad(&format!(
                "\"{src}\" includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a host directory, use absolute path"
            ))
        })?;
    }
    if !dst.starts_with('/') || dst.trim_end_matches('/').is_empty() {
        return Err(bad(
            "the destination must be an absolute path other than `/`",
        ));
    }
    let mut read_only = false;
    let mut nocopy = false;
    // As docker's validMountMode: at most one word of each kind (`ro,rw` or `z,Z` is an invalid mode).
    let mut kinds = [0u8; 4];
    for o in opts.split(',').filter(|o| !o.is_empty()) {
        let kind = match o {
            "ro" => {
                read_only = true;
                0
            }
            "rw" => 0,
            "nocopy" => {
                nocopy = true;
                1
            }
            "z" | "Z" => 2,
            "private" | "rprivate" | "shared" | "rshared" | "slave" | "rslave" => 3,
            _ => return Err(bad(&format!("unknown option `{o}`"))),
        };
        kinds[kind] += 1;
        if kinds[kind] > 1 {
            return Err(bad(&format!(
                "invalid mode: {opts} (`{o}` conflicts with an earlier option of its kind)"
            )));
        }
    }
    if !volume && std::fs::symlink_metadata(src).is_err() {
        return Err(bad(&format!("bind source path does not exist: {src}")));
    }
    Ok(Bind {
        source: src.to_string(),
        volume,
        nocopy,
        destination: dst.to_string(),
        read_only,
    })
}

/// Docker's default capability set.
pub const DEFAULT_CAPS: &[Capability] = &[
    Capability::Chown,
    Capability::DacOverride,
    Capability::Fsetid,
    Capability::Fowner,
    Capability::Mknod,
    Capability::NetRaw,
    Capability::Setgid,
    Capability::Setuid,
    Capability::Setfcap,
    Capability::Setpcap,
    Capability::NetBindService,
    Capability::SysChroot,
    Capability::Kill,
    Capability::AuditWrite,
];

fn docker_caps() -> LinuxCapabilities {
    let set: HashSet<Capability> = DEFAULT_CAPS.iter().copied().collect();
    let mut c = LinuxCapabilities::default();
    c.set_bounding(Some(set.clone()));
    c.set_effective(Some(set.clone()));
    c.set_permitted(Some(set));
    c.set_inheritable(None);
    c.set_ambient(None);
    c
}

/// The cgroup path holm gives a container (absolute: the same under every hierarchy).
pub fn cgroups_path(id: &str) -> String {
    format!("/holm/{id}")
}

/// Builds the runtime spec of container `id` from the image config and `cfg`, on the mounted `rootfs` (the
/// working directory and user are resolved in it). Fills `cfg`'s `args`, `process_env`, `final_hostname` and
/// `stop_signal`.
pub fn build_spec(
    id: &str,
    image: &ImageConfiguration,
    rootfs: &Path,
    volumes_dir: &Path,
    cfg: &mut RunConfig,
) -> Result<Spec> {
    let ov = holm_image::spec::Overrides {
        entrypoint: cfg.entrypoint.clone(),
        cmd: (!cfg.cmd.is_empty()).then(|| cfg.cmd.clone()),
        env: cfg.env.clone(),
        working_dir: cfg.workdir.clone(),
        user: cfg.user.clone(),
        terminal: cfg.tty,
    };
    let mut spec = holm_image::spec::runtime_spec(image, rootfs, &ov)?;
    // As docker: the short id, or with `--network host` the host's name.
    let hostname = cfg.hostname.clone().unwrap_or_else(|| {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
        match host.trim() {
            h if cfg.network == "host" && !h.is_empty() => h.to_string(),
            _ => id[..12].to_string(),
        }
    });
    spec.set_hostname(Some(hostname.clone()));
    let mut process = spec.process().clone().unwrap_or_default();
    process.set_capabilities(Some(docker_caps()));
    process.set_no_new_privileges(Some(false));
    cfg.args = process.args().clone().unwrap_or_default();
    cfg.process_env = process.env().clone().unwrap_or_default();
    cfg.final_hostname = hostname;
    if cfg.stop_signal.is_empty() {
        cfg.stop_signal = image
            .config()
            .as_ref()
            .and_then(|c| c.stop_signal().clone())
            .unwrap_or_else(|| "SIGTERM".into());
    }
    spec.set_process(Some(process));

    if cfg.read_only {
        let mut root = spec.root().clone().unwrap_or_default();
        root.set_readonly(Some(true));
        spec.set_root(Some(root));
    }

    let mut mounts = spec.mounts().clone().unwrap_or_default();
    for v in &cfg.volumes {
        let b = parse_volume(v)?;
        let mut opts = vec!["rbind".to_string(), "rprivate".to_string()];
        if b.read_only {
            opts.push("ro".into());
        }
        let mut m = Mount::default();
        m.set_destination(b.destination.into());
        m.set_typ(Some("bind".into()));
        let source = if b.volume {
            crate::volumes::data_path(volumes_dir, &b.source)
        } else {
            b.source.into()
        };
        m.set_source(Some(source));
        m.set_options(Some(opts));
        mounts.push(m);
    }
    spec.set_mounts(Some(mounts));

    let mut linux = spec.linux().clone().unwrap_or_default();
    linux.set_cgroups_path(Some(cgroups_path(id).into()));
    linux.set_seccomp(Some(holm_container::defaults::seccomp_profile()));
    let mut res = linux
        .resources()
        .clone()
        .unwrap_or(LinuxResources::default());
    if let Some(m) = cfg.memory {
        let mut mem = LinuxMemory::default();
        mem.set_limit(Some(m));
        res.set_memory(Some(mem));
    }
    if let Some(p) = cfg.pids_limit {
        let mut pids = LinuxPids::default();
        pids.set_limit(if p <= 0 { -1 } else { p });
        res.set_pids(Some(pids));
    }
    if let Some(c) = cfg.cpus {
        let mut cpu = LinuxCpu::default();
        cpu.set_period(Some(100_000));
        cpu.set_quota(Some((c * 100_000.0).round() as i64));
        res.set_cpu(Some(cpu));
    }
    linux.set_resources(Some(res));
    spec.set_linux(Some(linux));
    crate::options::apply(&mut spec, cfg, rootfs)?;
    cfg.args = spec
        .process()
        .as_ref()
        .and_then(|p| p.args().clone())
        .unwrap_or_default();
    Ok(spec)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_configs_are_validated_for_both_fronts() {
        let ok = RunConfig {
            workdir: Some("/srv".into()),
            env: vec!["A=1".into(), "B".into()],
            cap_add: vec!["NET_ADMIN".into(), "ALL".into()],
            restart: "on-failure:3".into(),
            ..Default::default()
        };
        ok.validate().unwrap();
        for (bad, word) in [
            (
                RunConfig {
                    workdir: Some("rel".into()),
                    ..ok.clone()
                },
                "--workdir",
            ),
            (
                RunConfig {
                    env: vec!["=x".into()],
                    ..ok.clone()
                },
                "--env",
            ),
            (
                RunConfig {
                    cap_drop: vec!["NOT_A_CAP".into()],
                    ..ok.clone()
                },
                "NOT_A_CAP",
            ),
            (
                RunConfig {
                    restart: "sometimes".into(),
                    ..ok.clone()
                },
                "sometimes",
            ),
            (
                RunConfig {
                    auto_remove: true,
                    ..ok.clone()
                },
                "--rm",
            ),
            (
                RunConfig {
                    healthcheck: Some(crate::health::HealthConfig {
                        test: vec!["CMD".into(), "true".into()],
                        interval: 5,
                        ..Default::default()
                    }),
                    ..ok.clone()
                },
                "Interval in Healthcheck cannot be less than 1ms",
            ),
            (
                RunConfig {
                    healthcheck: Some(crate::health::HealthConfig {
                        timeout: -1_000_000_000,
                        ..Default::default()
                    }),
                    ..ok.clone()
                },
                "Timeout in Healthcheck cannot be less than 1ms",
            ),
            (
                RunConfig {
                    healthcheck: Some(crate::health::HealthConfig {
                        retries: -1,
                        ..Default::default()
                    }),
                    ..ok.clone()
                },
                "Retries in Healthcheck cannot be negative",
            ),
        ] {
            let e = bad.validate().unwrap_err().to_string();
            assert!(e.contains(word), "{word}: {e}");
        }
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("-m", "512").unwrap(), 512);
        assert_eq!(parse_size("-m", "64m").unwrap(), 64 << 20);
        assert_eq!(parse_size("-m", "1G").unwrap(), 1 << 30);
        assert_eq!(parse_size("-m", "1gb").unwrap(), 1 << 30);
        assert_eq!(parse_size("-m", "2kib").unwrap(), 2048);
        assert_eq!(parse_size("-m", "1.5k").unwrap(), 1536);
        for bad in ["12q", "", "m", "-1m", "1..2m", "1mm"] {
            let e = parse_size("--memory", bad).unwrap_err().to_string();
            assert!(e.contains("invalid size"), "{bad}: {e}");
        }
        assert!(parse_memory("1m").unwrap_err().to_string().contains("6MB"));
        assert!(parse_memory("12q")
            .unwrap_err()
            .to_string()
            .contains("invalid argument \"12q\" for \"--memory\""));
    }

    #[test]
    fn cpus() {
        assert_eq!(parse_cpus("0.5").unwrap(), 0.5);
        assert!(parse_cpus("0").is_err());
        assert!(parse_cpus("x").is_err());
        assert!(parse_cpus("100000").is_err());
    }

    #[test]
    fn volumes() {
        let b = parse_volume("/tmp:/data:ro").unwrap();
        assert_eq!(
            b,
            Bind {
                source: "/tmp".into(),
                volume: false,
                nocopy: false,
                destination: "/data".into(),
                read_only: true
            }
        );
        assert!(!parse_volume("/tmp:/data").unwrap().read_only);
        let e = parse_volume("/no/such/dir/x:/data")
            .unwrap_err()
            .to_string();
        assert!(e.contains("bind source path does not exist"), "{e}");
        let v = parse_volume("name:/data:ro,nocopy").unwrap();
        assert!(v.volume && v.nocopy && v.read_only);
        assert!(parse_volume("bad name:/data")
            .unwrap_err()
            .to_string()
            .contains("invalid characters"));
        assert!(parse_volume("/tmp:rel").is_err());
        assert!(parse_volume("/tmp:/d:bogus").is_err());
        assert!(parse_volume("/tmp").is_err());
    }
}
