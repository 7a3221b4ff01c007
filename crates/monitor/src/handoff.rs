//! The command lines by which a container's monitor changes executable while keeping its pid (so it stays the
//! parent of the container's init, and keeps its fds and its `monitor.lock`).
//!
//! 1. `holm __monitor ID` (the full binary) starts the container, then executes `holm-monitor` (found next to
//!    `holm`) with a [`Handoff`]:
//!    `holm-monitor --root R --runroot S --id ID --exe HOLM --pid PID --fds OUT,ERR,CTL,LOCK,MASTER,STDIN[,ATTACH…]
//!    --ports [FD,…] [--log FORMAT:PATH [--log-rotate SIZE:FILES]]` where the fds are inherited (without close-on-exec): the read ends of the
//!    container's stdout and stderr pipes, the control socket to holm, the fd holding the monitor lock, the pty
//!    master and the write end of the container's stdin pipe (`-1` when absent), then the attached client's
//!    stdout, stderr and stdin; `--ports` the sockets holding published host ports; `--log` the log driver
//!    (`json-file`, `k8s-file`) and file (absent for `--log-driver none`); `--log-rotate` its rotation
//!    (`--log-opt max-size`, `max-file`; see [`crate::log::Rotate`]). HOLM is the on-disk holm binary.
//!    `--health INTERVAL_MS:TIMEOUT_MS`: the container has a healthcheck; every INTERVAL_MS after the previous
//!    check ended, `holm-monitor` runs `HOLM --root R --runroot S __health ID` ([`HEALTH_COMMAND`]), which runs
//!    one check and records it (see [`crate::supervise::Probe`]).
//! 2. `holm-monitor` copies output until the init exited ([`crate::supervise`]), closes everything but the control
//!    socket and the lock (the port sockets are released), and executes HOLM with an [`Exit`]:
//!    `holm --root R --runroot S __monitor-exit ID CODE RAN_MS CTL LOCK`: the exit code (128+N for signal N), how
//!    long the container ran (milliseconds, for the restart backoff), and the two inherited fds.
//! 3. `holm __monitor-exit` records the exit in the database, releases the runtime state, rootfs and network,
//!    applies `--rm`, tells holm `exited CODE` on the control socket and, when the restart policy says so, waits the
//!    backoff and executes `holm __monitor ID --lock-fd LOCK` again (step 1, same pid).
//!
//! Every other fd of each stage is close-on-exec, and the container's init was started before step 1's exec, so
//! none of these fds reaches the container. This mirrors podman's conmon and its `--exit-command`
//! (`podman container cleanup`).

use crate::log::{Format, Rotate};
use std::os::fd::RawFd;
use std::path::{Path, PathBuf};

/// The executable's file name, looked for in the directory of the `holm` binary.
pub const EXE_NAME: &str = "holm-monitor";

/// The subcommand word of one healthcheck run: `holm --root R --runroot S __health ID`.
pub const HEALTH_COMMAND: &str = "__health";

/// A container's healthcheck timing, as the monitor needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HealthTiming {
    /// Time from the end of one check to the start of the next (and from the start to the first), ms.
    pub interval_ms: u64,
    /// The check's own timeout, ms (the check enforces it; the monitor kills a check that overran it by 10 s).
    pub timeout_ms: u64,
}

/// The fds `holm-monitor` inherits (raw numbers, as they are in the new image).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fds {
    /// Read end of the container's stdout pipe.
    pub out: RawFd,
    /// Read end of the container's stderr pipe.
    pub err: RawFd,
    /// The control socket to holm.
    pub ctl: RawFd,
    /// The fd holding the monitor lock (`flock`).
    pub lock: RawFd,
    /// `-t`: the pty master.
    pub master: Option<RawFd>,
    /// `-i` without `-t`: the write end of the container's stdin pipe.
    pub stdin: Option<RawFd>,
    /// The attached client's stdout, stderr and (`-i`) stdin.
    pub attach: Vec<RawFd>,
    /// Sockets holding published host ports.
    pub ports: Vec<RawFd>,
}

/// The arguments of `holm-monitor` (step 1 above).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handoff {
    /// holm's `--root`.
    pub root: PathBuf,
    /// holm's `--runroot`.
    pub runroot: PathBuf,
    /// The container id.
    pub id: String,
    /// The on-disk holm binary to execute at the end.
    pub exe: PathBuf,
    /// The container init's host pid (a child of the monitor).
    pub pid: i32,
    /// The inherited fds.
    pub fds: Fds,
    /// The log file and its format (`None`: `--log-driver none`).
    pub log: Option<(Format, PathBuf)>,
    /// The log file's rotation (`None`: it grows without limit).
    pub rotate: Option<Rotate>,
    /// The healthcheck (`None`: none).
    pub health: Option<HealthTiming>,
}

/// The command line of one healthcheck of container `id`: `HOLM --root R --runroot S __health ID` (argv\[0\] is
/// the holm binary's path).
pub fn health_argv(exe: &Path, root: &Path, runroot: &Path, id: &str) -> Vec<String> {
    vec![
        exe.display().to_string(),
        "--root".into(),
        root.display().to_string(),
        "--runroot".into(),
        runroot.display().to_string(),
        HEALTH_COMMAND.into(),
        id.to_string(),
    ]
}

impl Handoff {
    /// The command line of one healthcheck of this container ([`health_argv`]).
    pub fn health_argv(&self) -> Vec<String> {
        health_argv(&self.exe, &self.root, &self.runroot, &self.id)
    }
}

fn join(fds: impl IntoIterator<Item = RawFd>) -> String {
    fds.into_iter()
        .map(|f| f.to_string())
        .collect::<Vec<_>>()
        .join(",")
}

fn split(s: &str) -> Result<Vec<RawFd>, String> {
    s.split(',')
        .filter(|p| !p.is_empty())
        .map(|p| p.parse().map_err(|_| format!("bad fd {p:?}")))
        .collect()
}

impl Handoff {
    /// The full argv (argv\[0\] is [`EXE_NAME`]).
    pub fn to_args(&self) -> Vec<String> {
        let f = &self.fds;
        let fds = [
            f.out,
            f.err,
            f.ctl,
            f.lock,
            f.master.unwrap_or(-1),
            f.stdin.unwrap_or(-1),
        ]
        .into_iter()
        .chain(f.attach.iter().copied());
        let mut a = vec![
            EXE_NAME.to_string(),
            "--root".into(),
            self.root.display().to_string(),
            "--runroot".into(),
            self.runroot.display().to_string(),
            "--id".into(),
            self.id.clone(),
            "--exe".into(),
            self.exe.display().to_string(),
            "--pid".into(),
            self.pid.to_string(),
            "--fds".into(),
            join(fds),
            "--ports".into(),
            join(f.ports.iter().copied()),
        ];
        if let Some((format, path)) = &self.log {
            a.push("--log".into());
            a.push(format!("{}:{}", format.driver(), path.display()));
            if let Some(r) = self.rotate {
                a.push("--log-rotate".into());
                a.push(r.to_arg());
            }
        }
        if let Some(t) = self.health {
            a.push("--health".into());
            a.push(format!("{}:{}", t.interval_ms, t.timeout_ms));
        }
        a
    }

    /// Parses an argv made by [`Handoff::to_args`]; the error names what is wrong. Fds must be >= 3 (0-2 are
    /// `/dev/null`).
    pub fn parse(args: &[String]) -> Result<Handoff, String> {
        let mut it = args.iter().skip(1);
        let (mut root, mut runroot, mut id, mut exe, mut pid, mut fds, mut ports, mut log) =
            (None, None, None, None, None, None, None, None);
        let mut rotate = None;
        let mut health = None;
        while let Some(k) = it.next() {
            let v = it.next().ok_or_else(|| format!("{k}: missing value"))?;
            match k.as_str() {
                "--root" => root = Some(PathBuf::from(v)),
                "--runroot" => runroot = Some(PathBuf::from(v)),
                "--id" => id = Some(v.clone()),
                "--exe" => exe = Some(PathBuf::from(v)),
                "--pid" => pid = Some(v.parse().map_err(|_| format!("--pid: bad pid {v:?}"))?),
                "--fds" => fds = Some(split(v).map_err(|e| format!("--fds: {e}"))?),
                "--ports" => ports = Some(split(v).map_err(|e| format!("--ports: {e}"))?),
                "--log" => {
                    let (driver, path) = v
                        .split_once(':')
                        .ok_or_else(|| format!("--log: expected DRIVER:PATH, got {v:?}"))?;
                    let format = Format::of_driver(driver)
                        .filter(|f| f.driver() == driver)
                        .ok_or_else(|| format!("--log: unknown driver {driver:?}"))?;
                    log = Some((format, PathBuf::from(path)));
                }
                "--log-rotate" => {
                    rotate = Some(Rotate::parse(v).ok_or_else(|| {
                        format!("--log-rotate: expected SIZE:FILES (both > 0), got {v:?}")
                    })?);
                }
                "--health" => {
                    let bad = || format!("--health: expected INTERVAL_MS:TIMEOUT_MS, got {v:?}");
                    let (i, t) = v.split_once(':').ok_or_else(bad)?;
                    health = Some(HealthTiming {
                        interval_ms: i.parse().map_err(|_| bad())?,
                        timeout_ms: t.parse().map_err(|_| bad())?,
                    });
                }
                _ => return Err(format!("unknown argument {k:?}")),
            }
        }
        let missing = |what: &str| format!("missing {what}");
        let nums: Vec<RawFd> = fds.ok_or_else(|| missing("--fds"))?;
        let ports: Vec<RawFd> = ports.ok_or_else(|| missing("--ports"))?;
        if nums.len() < 6
            || nums[..4].iter().any(|&fd| fd < 3)
            || nums[4..6].iter().any(|&fd| fd != -1 && fd < 3)
            || nums[6..].iter().any(|&fd| fd < 3)
            || ports.iter().any(|&fd| fd < 3)
        {
            return Err(format!("--fds/--ports: bad fd list {nums:?} {ports:?}"));
        }
        let opt = |fd: RawFd| (fd != -1).then_some(fd);
        Ok(Handoff {
            root: root.ok_or_else(|| missing("--root"))?,
            runroot: runroot.ok_or_else(|| missing("--runroot"))?,
            id: id.ok_or_else(|| missing("--id"))?,
            exe: exe.ok_or_else(|| missing("--exe"))?,
            pid: pid.ok_or_else(|| missing("--pid"))?,
            fds: Fds {
                out: nums[0],
                err: nums[1],
                ctl: nums[2],
                lock: nums[3],
                master: opt(nums[4]),
                stdin: opt(nums[5]),
                attach: nums[6..].to_vec(),
                ports,
            },
            log,
            rotate,
            health,
        })
    }
}

/// The arguments of `holm __monitor-exit` (step 2 above).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exit {
    /// holm's `--root`.
    pub root: PathBuf,
    /// holm's `--runroot`.
    pub runroot: PathBuf,
    /// The container id.
    pub id: String,
    /// The exit code (128+N for signal N).
    pub code: i32,
    /// How long the container ran, in milliseconds.
    pub ran_ms: u64,
    /// The inherited control socket to holm.
    pub ctl: RawFd,
    /// The inherited fd holding the monitor lock.
    pub lock: RawFd,
}

/// The subcommand word of [`Exit`].
pub const EXIT_COMMAND: &str = "__monitor-exit";

impl Exit {
    /// The full argv (argv\[0\] is `holm`).
    pub fn to_args(&self) -> Vec<String> {
        vec![
            "holm".to_string(),
            "--root".into(),
            self.root.display().to_string(),
            "--runroot".into(),
            self.runroot.display().to_string(),
            EXIT_COMMAND.into(),
            self.id.clone(),
            self.code.to_string(),
            self.ran_ms.to_string(),
            self.ctl.to_string(),
            self.lock.to_string(),
        ]
    }

    /// Recognises an argv made by [`Exit::to_args`] (`None` for any other command line).
    pub fn parse(args: &[String]) -> Option<Exit> {
        let [_, r, root, rr, runroot, cmd, id, code, ran, ctl, lock] = args else {
            return None;
        };
        if r != "--root" || rr != "--runroot" || cmd != EXIT_COMMAND {
            return None;
        }
        let (ctl, lock) = (ctl.parse().ok()?, lock.parse().ok()?);
        if ctl < 3 || lock < 3 {
            return None;
        }
        Some(Exit {
            root: root.into(),
            runroot: runroot.into(),
            id: id.clone(),
            code: code.parse().ok()?,
            ran_ms: ran.parse().ok()?,
            ctl,
            lock,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handoff_round_trip() {
        let h = Handoff {
            root: "/var/lib/holm".into(),
            runroot: "/run/holm".into(),
            id: "abc".into(),
            exe: "/usr/bin/holm".into(),
            pid: 42,
            fds: Fds {
                out: 3,
                err: 4,
                ctl: 5,
                lock: 6,
                master: None,
                stdin: Some(7),
                attach: vec![8, 9],
                ports: vec![],
            },
            log: Some((Format::K8s, "/x/abc-k8s.log".into())),
            rotate: Some(Rotate {
                max_size: 10_000_000,
                max_file: 3,
            }),
            health: Some(HealthTiming {
                interval_ms: 1000,
                timeout_ms: 30_000,
            }),
        };
        assert_eq!(Handoff::parse(&h.to_args()), Ok(h.clone()));
        let none = Handoff {
            log: None,
            rotate: None,
            health: None,
            fds: Fds {
                ports: vec![10, 11],
                ..h.fds.clone()
            },
            ..h
        };
        assert_eq!(Handoff::parse(&none.to_args()), Ok(none.clone()));
        let mut bad = none.to_args();
        let i = bad.iter().position(|a| a == "--fds").unwrap();
        bad[i + 1] = "3,4,1,6,-1,-1".into();
        assert!(Handoff::parse(&bad).unwrap_err().contains("bad fd list"));
        assert!(Handoff::parse(&["m".into(), "--pid".into()])
            .unwrap_err()
            .contains("missing value"));
    }

    #[test]
    fn exit_round_trip() {
        let e = Exit {
            root: "/r".into(),
            runroot: "/s".into(),
            id: "abc".into(),
            code: 137,
            ran_ms: 1500,
            ctl: 3,
            lock: 4,
        };
        assert_eq!(Exit::parse(&e.to_args()), Some(e.clone()));
        let mut a = e.to_args();
        a[9] = "1".into();
        assert_eq!(Exit::parse(&a), None);
        assert_eq!(Exit::parse(&a[..5]), None);
    }
}
