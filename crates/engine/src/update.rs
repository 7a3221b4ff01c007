//! `holm update` (docker's): changes a container's resource limits and restart policy. The new values are kept in
//! the container's record (so `inspect` shows them) and in its bundle's `config.json` (so a later start uses them);
//! a container whose runtime has it alive (running, paused, created) gets them at once through its runtime: the
//! built-in one's `update`, or `RUNTIME update --resources - ID` for an OCI runtime binary. A VM container
//! (`--isolation vm`) goes through `holm-runtime update`, which changes the container's cgroup in the guest and the
//! VMM's CPU limits, and refuses what the VM cannot follow (a memory limit above the guest's RAM, more CPUs than
//! vCPUs) in one line; nothing is recorded then. A stopped VM container's new limits size its next boot. A VM
//! container's `--cpuset-cpus` naming a CPU that the running VM or the one its next start boots does not have is
//! refused first, with create's line ([`crate::vm::check_update`]).

use crate::config::RunConfig;
use crate::options::{parse_restart, RestartPolicy};
use crate::{Engine, Error, Result};
use holm_container::Status;
use oci_spec::runtime::{LinuxCpu, LinuxMemory, LinuxPids, LinuxResources};
use std::io::Write;
use std::process::{Command, Stdio};

/// What `update` changes (each `None` leaves the value as it is). Values are parsed and range-checked by the
/// caller (the CLI's parsers of `holm run`'s flags).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Update {
    /// `--memory`, bytes.
    pub memory: Option<i64>,
    /// `--memory-swap`, bytes (memory + swap; -1 unlimited).
    pub memory_swap: Option<i64>,
    /// `--cpus`.
    pub cpus: Option<f64>,
    /// `--cpu-shares` (0: the default).
    pub cpu_shares: Option<u64>,
    /// `--cpuset-cpus`.
    pub cpuset_cpus: Option<String>,
    /// `--pids-limit` (0 or negative: unlimited).
    pub pids_limit: Option<i64>,
    /// `--restart`.
    pub restart: Option<String>,
}

impl Update {
    /// True when no field is given (docker: "You must provide one or more flags when using this command.").
    pub fn is_empty(&self) -> bool {
        *self == Update::default()
    }

    /// The `linux.resources` fields this update sets.
    fn resources(&self) -> LinuxResources {
        let mut r = LinuxResources::default();
        if self.memory.is_some() || self.memory_swap.is_some() {
            let mut m = LinuxMemory::default();
            m.set_limit(self.memory);
            m.set_swap(self.memory_swap);
            r.set_memory(Some(m));
        }
        if self.cpus.is_some() || self.cpu_shares.is_some() || self.cpuset_cpus.is_some() {
            let mut c = LinuxCpu::default();
            if let Some(n) = self.cpus {
                c.set_period(Some(100_000));
                c.set_quota(Some((n * 100_000.0).round() as i64));
            }
            if let Some(s) = self.cpu_shares {
                c.set_shares(Some(if s == 0 { 1024 } else { s }));
            }
            c.set_cpus(self.cpuset_cpus.clone());
            r.set_cpu(Some(c));
        }
        if let Some(p) = self.pids_limit {
            let mut pids = LinuxPids::default();
            pids.set_limit(if p <= 0 { -1 } else { p });
            r.set_pids(Some(pids));
        }
        r
    }
}

/// `cfg` with `u` applied, checked as docker's daemon checks an update (its messages). Errors: a memory limit
/// above an earlier `--memory-swap` without a new one, a swap limit without any memory limit or below it, a
/// restart policy on an `--rm` container, an invalid restart policy.
fn updated(cfg: &RunConfig, u: &Update) -> std::result::Result<RunConfig, String> {
    let mut c = cfg.clone();
    if let Some(r) = &u.restart {
        let p = parse_restart(r).map_err(|e| e.to_string())?;
        if p != RestartPolicy::No && c.auto_remove {
            return Err(
                "Restart policy cannot be updated because AutoRemove is enabled for the container"
                    .into(),
            );
        }
        c.restart = r.clone();
    }
    if let Some(m) = u.memory {
        if u.memory_swap.is_none() && c.memory_swap.is_some_and(|s| s > 0 && m > s) {
            return Err("Memory limit should be smaller than already set memoryswap limit, update the memoryswap at the same time".into());
        }
        c.memory = Some(m);
    }
    if let Some(s) = u.memory_swap {
        match c.memory {
            None => {
                return Err(
                    "You should always set the Memory limit when using Memoryswap limit, see usage"
                        .into(),
                )
            }
            Some(m) if s != -1 && s < m => {
                return Err(
                    "Minimum memoryswap limit should be larger than memory limit, see usage".into(),
                )
            }
            _ => {}
        }
        c.memory_swap = Some(s);
    }
    if let Some(n) = u.cpus {
        c.cpus = Some(n);
    }
    if let Some(s) = u.cpu_shares {
        c.cpu_shares = Some(s);
    }
    if let Some(s) = &u.cpuset_cpus {
        c.cpuset_cpus = Some(s.clone());
    }
    if let Some(p) = u.pids_limit {
        c.pids_limit = Some(p);
    }
    Ok(c)
}

impl Engine {
    /// `holm update`: see the module doc. Returns the container's id.
    pub fn update(&self, what: &str, u: &Update) -> Result<String> {
        let rec = self.find(what)?;
        let cannot = |msg: String| Error::Io {
            what: format!("Cannot update container {}", rec.id),
            source: std::io::Error::other(msg),
        };
        let cfg = updated(&rec.config, u).map_err(cannot)?;
        let r = u.resources();
        let rt = self.runtime_for(rec.config.runtime.as_deref());
        let live = rt
            .state(&rec.id)
            .is_some_and(|s| s.status != Status::Stopped);
        if cfg.is_vm() && (u.cpuset_cpus.is_some() || u.cpus.is_some()) {
            if let crate::runtime::Runtime::Oci { root, .. } = &rt {
                crate::vm::check_update(&cfg, live, &root.join(&rec.id))?;
            }
        }
        if live && r != LinuxResources::default() {
            rt.update(&rec.id, &r).map_err(|e| cannot(e.to_string()))?;
        }
        if r != LinuxResources::default() {
            self.update_bundle(&rec.id, &r)?;
        }
        self.db()?.set_config(&rec.id, &cfg)?;
        self.emit_container(&rec, "update", &[]);
        Ok(rec.id)
    }

    /// Merges `r` into the `linux.resources` of the bundle's `config.json` (temp file, then rename), so the next
    /// start has the new limits.
    fn update_bundle(&self, id: &str, r: &LinuxResources) -> Result<()> {
        let path = self.bundle(id).join("config.json");
        let text = match std::fs::read(&path) {
            Ok(t) => t,
            // Not created yet or already gone: the record is what a new bundle is made from.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(Error::io(format!("read {}", path.display()))(e)),
        };
        let bad = |e: serde_json::Error| Error::Io {
            what: format!("{}", path.display()),
            source: std::io::Error::other(e),
        };
        let mut spec: oci_spec::runtime::Spec = serde_json::from_slice(&text).map_err(bad)?;
        let mut linux = spec.linux().clone().unwrap_or_default();
        let merged = holm_container::cgroup_verbs::merge_resources(linux.resources().as_ref(), r)?;
        linux.set_resources(Some(merged));
        spec.set_linux(Some(linux));
        let tmp = path.with_file_name(".config.json.update.tmp");
        std::fs::write(&tmp, serde_json::to_vec(&spec).map_err(bad)?)
            .and_then(|_| std::fs::rename(&tmp, &path))
            .map_err(Error::io(format!("write {}", path.display())))
    }
}

impl crate::runtime::Runtime {
    /// Changes the live container's `linux.resources` (only the fields `r` sets).
    pub fn update(&self, id: &str, r: &LinuxResources) -> Result<()> {
        match self {
            crate::runtime::Runtime::Builtin(store) => {
                Ok(holm_container::cgroup_verbs::update(store, id, r)?)
            }
            crate::runtime::Runtime::Oci { bin, root } => {
                let json = serde_json::to_vec(r).expect("resources serialise");
                let mut child = Command::new(bin)
                    .arg("--root")
                    .arg(root)
                    .args(["update", "--resources", "-", id])
                    .stdin(Stdio::piped())
                    .stdout(Stdio::null())
                    .stderr(Stdio::piped())
                    .spawn()
                    .map_err(Error::io(format!("run {}", bin.display())))?;
                if let Some(mut i) = child.stdin.take() {
                    let _ = i.write_all(&json);
                }
                let out = child
                    .wait_with_output()
                    .map_err(Error::io(format!("run {}", bin.display())))?;
                if out.status.success() {
                    return Ok(());
                }
                let err = String::from_utf8_lossy(&out.stderr);
                let last = err
                    .lines()
                    .rev()
                    .find(|l| !l.trim().is_empty())
                    .unwrap_or("failed");
                let msg = crate::runtime::log_message(last);
                let msg = msg
                    .strip_prefix("holm-runtime: error: ")
                    .unwrap_or(&msg)
                    .to_string();
                let name = bin
                    .file_name()
                    .map_or_else(|| bin.display().to_string(), |n| n.to_string_lossy().into());
                Err(Error::Io {
                    what: name,
                    source: std::io::Error::other(msg),
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn updates_are_checked_as_docker_checks_them() {
        let base = RunConfig {
            memory: Some(64 << 20),
            memory_swap: Some(128 << 20),
            ..Default::default()
        };
        let e = updated(
            &base,
            &Update {
                memory: Some(256 << 20),
                ..Default::default()
            },
        )
        .unwrap_err();
        assert!(e.contains("already set memoryswap"), "{e}");
        let c = updated(
            &base,
            &Update {
                memory: Some(256 << 20),
                memory_swap: Some(-1),
                cpus: Some(0.5),
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(
            (c.memory, c.memory_swap, c.cpus),
            (Some(256 << 20), Some(-1), Some(0.5))
        );
        let rm = RunConfig {
            auto_remove: true,
            ..Default::default()
        };
        let u = Update {
            restart: Some("always".into()),
            ..Default::default()
        };
        assert!(updated(&rm, &u).unwrap_err().contains("AutoRemove"));
        let r = serde_json::to_value(
            Update {
                cpus: Some(1.5),
                pids_limit: Some(0),
                ..Default::default()
            }
            .resources(),
        )
        .unwrap();
        assert_eq!(r["cpu"]["quota"], 150000);
        assert_eq!(r["cpu"]["period"], 100000);
        assert_eq!(r["pids"]["limit"], -1);
        assert!(r.get("memory").is_none_or(|m| m.is_null()), "{r}");
    }
}
