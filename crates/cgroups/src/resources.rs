//! Applying `linux.resources` (OCI runtime-spec `config-linux.md` § "Control groups"): the engine between the
//! per-controller modules ("what": files and values, v1 and v2 side by side as data) and the placement
//! ([`Cgroup`]: "where").
//!
//! A controller module turns its part of `linux.resources` into [`Setting`]s. Each setting names its controller
//! by its v1 and v2 names ([`Controller`]) and carries what to write on either version ([`Knobs`]). The engine
//! decides per controller where it lives on this host — the v1 hierarchy carrying it if one is mounted, else the
//! cgroup2 directory if the unified hierarchy offers the controller (hybrid hosts mix both) — enables it in the
//! parents' `cgroup.subtree_control` on v2, and writes the first alternative file that exists.
//!
//! Errors name the field, the controller and the file. A value equal to the kernel's default is skipped
//! silently when the host cannot take it (controller not mounted, file missing, no equivalent on this version).

use std::cell::RefCell;
use std::collections::HashSet;

use oci_spec::runtime::LinuxResources;

use crate::cgroup::{Cgroup, CgroupDir};
use crate::dir::Dir;
use crate::{blkio, cpu, cpuset, devices, hugetlb, memory, net, pids, unified, Error};

/// The v2 "controller" name of core files (`cgroup.max.depth`, `cgroup.freeze`): always present, never enabled.
pub(crate) const CORE: &str = "cgroup";

/// A controller by its names: the v1 hierarchy's controller and the v2 name in `cgroup.controllers`. An empty
/// name means the controller does not exist in that version (`net_cls` has no v2 counterpart).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Controller {
    pub(crate) v1: &'static str,
    pub(crate) v2: &'static str,
}

impl Controller {
    /// The name to show in messages: the v1 name, with the v2 name when it differs (`blkio/io`).
    fn name(&self) -> String {
        match (self.v1, self.v2) {
            (a, b) if a == b || b.is_empty() => a.to_string(),
            ("", b) => b.to_string(),
            (a, b) => format!("{a}/{b}"),
        }
    }
}

/// One control file and the text to write to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Knob {
    pub(crate) file: String,
    pub(crate) value: String,
}

/// What a [`Setting`] writes on one cgroup version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Knobs {
    /// Write the first alternative whose file exists (`blkio.weight`, else `blkio.bfq.weight`).
    Write(Vec<Knob>),
    /// Nothing on this version: another setting covers it (v2 `cpu.max` holds both quota and period).
    Nothing,
    /// This version has no equivalent of the field.
    Unsupported,
}

/// `Knobs::Write` of one file.
pub(crate) fn w(file: impl Into<String>, value: impl ToString) -> Knobs {
    Knobs::Write(vec![Knob {
        file: file.into(),
        value: value.to_string(),
    }])
}

/// One field of `linux.resources`, as what to write on v1 and on v2.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Setting {
    /// Path below `linux.resources`, for messages: `memory.limit`, `blockIO.weightDevice[1]`.
    pub(crate) field: String,
    pub(crate) controller: Controller,
    pub(crate) v1: Knobs,
    pub(crate) v2: Knobs,
    /// The value is the kernel's default: skip it silently when the host cannot take it.
    pub(crate) default: bool,
    /// If writing this fails with `EINVAL`, write the next setting first and then retry this one (v1 memory
    /// limit vs. memsw limit, CFS period vs. quota: the kernel checks each value against the other's current one).
    pub(crate) retry_after_next: bool,
}

impl Setting {
    /// A setting with explicit v1 and v2 knobs.
    pub(crate) fn new(
        field: impl Into<String>,
        controller: Controller,
        v1: Knobs,
        v2: Knobs,
    ) -> Setting {
        Setting {
            field: field.into(),
            controller,
            v1,
            v2,
            default: false,
            retry_after_next: false,
        }
    }

    /// The same file and value on both versions.
    pub(crate) fn same(
        field: impl Into<String>,
        controller: Controller,
        file: &str,
        value: impl ToString,
    ) -> Setting {
        let value = value.to_string();
        Setting::new(field, controller, w(file, &value), w(file, value))
    }

    /// Marks the value as the kernel default when `yes`.
    pub(crate) fn default_if(mut self, yes: bool) -> Setting {
        self.default = yes;
        self
    }

    /// See [`Setting::retry_after_next`].
    pub(crate) fn retry_after_next(mut self) -> Setting {
        self.retry_after_next = true;
        self
    }
}

/// Current values, for the few settings that depend on them (v2 `memory.swap.max` is swap minus the memory
/// limit; v2 `cpu.max` holds quota and period together).
pub(crate) trait Current {
    /// The trimmed content of the v1 file (on v1) or v2 file (on v2) of `controller`, if readable.
    fn read(&self, controller: Controller, v1_file: &str, v2_file: &str) -> Option<String>;
    /// True if `controller` is applied through cgroup v2 on this host.
    fn is_v2(&self, controller: Controller) -> bool;
}

/// Every setting for `r` except devices, in the order they are written: cpuset first (a v1 cpuset must not be
/// empty), `unified` last (raw keys override).
pub(crate) fn plan(r: &LinuxResources, cur: &dyn Current) -> Result<Vec<Setting>, Error> {
    let mut s = Vec::new();
    if let Some(c) = r.cpu() {
        s.extend(cpuset::settings(c));
        s.extend(cpu::settings(c, cur));
    }
    if let Some(m) = r.memory() {
        s.extend(memory::settings(m, cur)?);
    }
    if let Some(p) = r.pids() {
        s.extend(pids::settings(p));
    }
    if let Some(b) = r.block_io() {
        s.extend(blkio::settings(b));
    }
    if let Some(h) = r.hugepage_limits() {
        s.extend(hugetlb::settings(h)?);
    }
    if let Some(n) = r.network() {
        s.extend(net::settings(n));
    }
    if let Some(rdma) = r.rdma() {
        if !rdma.is_empty() {
            return Err(Error::Resource {
                field: "rdma".into(),
                reason: "the rdma controller is not supported by holm".into(),
            });
        }
    }
    if let Some(u) = r.unified() {
        s.extend(unified::settings(u)?);
    }
    Ok(s)
}

/// Where a controller is applied.
#[derive(Clone, Copy)]
struct Place<'a> {
    index: usize,
    dir: &'a CgroupDir,
    v2: bool,
}

/// The engine: a cgroup with its open directories and the v2 controllers known to be enabled.
pub(crate) struct Target<'a> {
    cg: &'a Cgroup,
    /// Controllers the v2 hierarchy offers (`cgroup.controllers` at its mount point).
    v2_available: Vec<String>,
    opened: RefCell<Vec<Option<Dir>>>,
    enabled: RefCell<HashSet<String>>,
}

impl<'a> Target<'a> {
    pub(crate) fn new(cg: &'a Cgroup) -> Target<'a> {
        let v2_available = cg
            .dirs
            .iter()
            .find(|d| d.hierarchy.is_v2())
            .and_then(|d| d.walk(&[]).ok())
            .and_then(|root| root.read("cgroup.controllers").ok())
            .map(|t| t.split_whitespace().map(str::to_owned).collect())
            .unwrap_or_default();
        Target {
            cg,
            v2_available,
            opened: RefCell::new(cg.dirs.iter().map(|_| None).collect()),
            enabled: RefCell::new(HashSet::new()),
        }
    }

    /// The cgroup v2 directory and its index, if the unified hierarchy is mounted.
    pub(crate) fn v2_dir(&self) -> Option<(usize, &'a CgroupDir)> {
        self.cg
            .dirs
            .iter()
            .enumerate()
            .find(|(_, d)| d.hierarchy.is_v2())
    }

    /// The v1 directory of `controller` and its index.
    pub(crate) fn v1_dir(&self, controller: &str) -> Option<(usize, &'a CgroupDir)> {
        self.cg
            .dirs
            .iter()
            .enumerate()
            .find(|(_, d)| d.hierarchy.has_v1_controller(controller))
    }

    /// v1 if a hierarchy carries the controller, else v2 if the unified hierarchy offers it.
    fn place(&self, c: Controller) -> Option<Place<'a>> {
        if !c.v1.is_empty() {
            if let Some((index, dir)) = self.v1_dir(c.v1) {
                return Some(Place {
                    index,
                    dir,
                    v2: false,
                });
            }
        }
        if !c.v2.is_empty() && (c.v2 == CORE || self.v2_available.iter().any(|a| a == c.v2)) {
            if let Some((index, dir)) = self.v2_dir() {
                return Some(Place {
                    index,
                    dir,
                    v2: true,
                });
            }
        }
        None
    }

    fn missing_controller(&self, c: Controller) -> String {
        let v2 = self
            .v2_dir()
            .map(|(_, d)| d.hierarchy.mount_point().display().to_string());
        match (c.v1.is_empty(), c.v2.is_empty(), v2) {
            (false, true, _) => format!(
                "controller `{}` exists only in cgroup v1, and no v1 hierarchy carries it",
                c.v1
            ),
            (true, false, None) => format!(
                "controller `{}` exists only in cgroup v2, and no cgroup2 hierarchy is mounted",
                c.v2
            ),
            (_, _, None) => format!(
                "controller `{}` is not available: no cgroup v1 hierarchy carries it and no cgroup2 hierarchy is mounted",
                c.name()
            ),
            (_, _, Some(m)) => format!(
                "controller `{}` is not available: no cgroup v1 hierarchy carries it, and `{m}/cgroup.controllers` \
                 does not offer `{}` (it offers: {})",
                c.name(),
                c.v2,
                if self.v2_available.is_empty() {
                    "nothing".to_string()
                } else {
                    self.v2_available.join(" ")
                }
            ),
        }
    }

    /// Runs `f` on the open directory at `index`, opening it on first use.
    pub(crate) fn with_dir<T>(
        &self,
        index: usize,
        f: impl FnOnce(&Dir) -> Result<T, Error>,
    ) -> Result<T, Error> {
        let mut opened = self.opened.borrow_mut();
        if opened[index].is_none() {
            opened[index] = Some(self.cg.dirs[index].open()?);
        }
        // Just filled in above.
        let dir = opened[index].as_ref().ok_or(Error::NoHierarchies)?;
        f(dir)
    }

    /// Writes all settings in order (see [`Setting::retry_after_next`]).
    pub(crate) fn write_all(&self, settings: &[Setting]) -> Result<(), Error> {
        let mut i = 0;
        while i < settings.len() {
            match self.write(&settings[i]) {
                Err(Error::WriteResource { error, .. })
                    if settings[i].retry_after_next
                        && i + 1 < settings.len()
                        && error.raw_os_error() == Some(libc::EINVAL) =>
                {
                    self.write(&settings[i + 1])?;
                    self.write(&settings[i])?;
                    i += 2;
                }
                r => {
                    r?;
                    i += 1;
                }
            }
        }
        Ok(())
    }

    /// Writes one setting where its controller lives.
    pub(crate) fn write(&self, s: &Setting) -> Result<(), Error> {
        let fail = |reason: String| {
            if s.default {
                Ok(())
            } else {
                Err(Error::Resource {
                    field: s.field.clone(),
                    reason,
                })
            }
        };
        let Some(place) = self.place(s.controller) else {
            return fail(self.missing_controller(s.controller));
        };
        let (knobs, version) = if place.v2 {
            (&s.v2, "v2")
        } else {
            (&s.v1, "v1")
        };
        let alts = match knobs {
            Knobs::Nothing => return Ok(()),
            Knobs::Unsupported => {
                return fail(format!(
                    "cgroup {version} has no equivalent (controller `{}`, `{}`)",
                    s.controller.name(),
                    place.dir.path.display()
                ))
            }
            Knobs::Write(alts) => alts,
        };
        if place.v2 && s.controller.v2 != CORE {
            if let Err(e) = self.enable(place, s.controller.v2) {
                return fail(e);
            }
        }
        self.with_dir(place.index, |dir| {
            // A v1 hierarchy mounted with `noprefix` names its files without the controller prefix.
            let alts: Vec<Knob> = alts
                .iter()
                .map(|k| Knob {
                    file: if place.v2 {
                        k.file.clone()
                    } else {
                        place
                            .dir
                            .hierarchy
                            .v1_file_name(s.controller.v1, &k.file)
                            .to_string()
                    },
                    value: k.value.clone(),
                })
                .collect();
            let alts = &alts;
            let mut found = None;
            for k in alts {
                let present = dir
                    .exists(&k.file)
                    .map_err(|e| place.dir.err("stat", dir.child_path(&k.file), e))?;
                if present {
                    found = Some(k);
                    break;
                }
            }
            let Some(k) = found else {
                let files: Vec<String> = alts.iter().map(|k| format!("`{}`", k.file)).collect();
                return fail(format!(
                    "controller `{}`: {} {} not exist in `{}` (the kernel lacks {})",
                    s.controller.name(),
                    files.join(" or "),
                    if files.len() == 1 { "does" } else { "do" },
                    dir.path().display(),
                    if files.len() == 1 { "it" } else { "them" },
                ));
            };
            dir.write(&k.file, k.value.as_bytes())
                .map_err(|error| Error::WriteResource {
                    field: s.field.clone(),
                    value: k.value.clone(),
                    path: dir.child_path(&k.file),
                    hierarchy: place.dir.hierarchy.to_string(),
                    error,
                })
        })
    }

    /// Enables v2 `controller` in `cgroup.subtree_control` of every directory above the container's, from the
    /// mount point down. Returns the reason on failure.
    fn enable(&self, place: Place<'_>, controller: &str) -> Result<(), String> {
        if self.enabled.borrow().contains(controller) {
            return Ok(());
        }
        let comps = place.dir.components().map_err(|e| e.to_string())?;
        for depth in 0..comps.len() {
            let dir = place.dir.walk(&comps[..depth]).map_err(|e| e.to_string())?;
            let on = dir
                .read("cgroup.subtree_control")
                .map(|t| t.split_whitespace().any(|c| c == controller))
                .unwrap_or(false);
            if on {
                continue;
            }
            dir.write(
                "cgroup.subtree_control",
                format!("+{controller}").as_bytes(),
            )
            .map_err(|e| {
                format!(
                    "enable controller `{controller}`: write `+{controller}` to `{}`: {e}",
                    dir.child_path("cgroup.subtree_control").display()
                )
            })?;
        }
        self.enabled.borrow_mut().insert(controller.to_owned());
        Ok(())
    }

    /// Enables every controller the v2 hierarchy offers, best effort (so that a v2 container has its stats
    /// files); failures are left for the settings that need a controller to report.
    pub(crate) fn enable_all_v2(&self) {
        if let Some((index, dir)) = self.v2_dir() {
            let place = Place {
                index,
                dir,
                v2: true,
            };
            for c in self.v2_available.clone() {
                let _ = self.enable(place, &c);
            }
        }
    }
}

impl Target<'_> {
    /// Where `controller` lives here: `Some(true)` in cgroup v2, `Some(false)` in v1, `None` nowhere.
    pub(crate) fn version_of(&self, controller: Controller) -> Option<bool> {
        self.place(controller).map(|p| p.v2)
    }

    /// The content of `file` of `controller`, where the controller lives; `None` if it is not mounted or the file
    /// cannot be read.
    pub(crate) fn read_file(&self, controller: Controller, file: &str) -> Option<String> {
        self.read_either(controller, file, file)
    }

    /// The content of `v2_file` or `v1_file` of `controller`, whichever version holds it here.
    fn read_either(&self, controller: Controller, v1_file: &str, v2_file: &str) -> Option<String> {
        let place = self.place(controller)?;
        let file = if place.v2 {
            v2_file
        } else {
            place.dir.hierarchy.v1_file_name(controller.v1, v1_file)
        };
        self.with_dir(place.index, |d| {
            d.read(file)
                .map_err(|e| place.dir.err("read", d.child_path(file), e))
        })
        .ok()
    }
}

impl Current for Target<'_> {
    fn read(&self, controller: Controller, v1_file: &str, v2_file: &str) -> Option<String> {
        self.read_either(controller, v1_file, v2_file)
            .map(|t| t.trim().to_owned())
    }

    fn is_v2(&self, controller: Controller) -> bool {
        self.place(controller).is_some_and(|p| p.v2)
    }
}

impl Cgroup {
    /// Applies `linux.resources` to the cgroup: at `create` right after [`Cgroup::create`] and before any
    /// process joins, and again for `update` with the fields to change (absent fields are left as they are).
    ///
    /// `devices` is applied only when present, as the complete list: on v1 `devices.deny` of everything, then
    /// each rule in order to `devices.allow`/`devices.deny`; on v2 an eBPF program replacing any earlier one.
    /// Callers add the devices a container always needs (see [`crate::devices::default_allowed`]).
    ///
    /// Errors: [`Error::Resource`] for an invalid value or one the host cannot take (naming the controller and
    /// file), [`Error::WriteResource`] when the kernel refuses a write; earlier fields stay applied.
    pub fn apply(&self, r: &LinuxResources) -> Result<(), Error> {
        let t = Target::new(self);
        t.enable_all_v2();
        let settings = plan(r, &t)?;
        t.write_all(&settings)?;
        if let Some(rules) = r.devices() {
            devices::apply(&t, rules)?;
        }
        Ok(())
    }
}
