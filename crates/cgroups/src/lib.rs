//! `holm-cgroups`: where a container's cgroup lives.
//!
//! Linux offers cgroups in three layouts ([`Layout`]), and a host may use any of them:
//!
//! - **v1**: one hierarchy per controller or group of co-mounted controllers (`/sys/fs/cgroup/cpu,cpuacct`,
//!   `/sys/fs/cgroup/memory`, ...), plus named hierarchies without controllers (`name=systemd`)
//!   — `Documentation/admin-guide/cgroup-v1/cgroups.rst`;
//! - **v2**: a single unified hierarchy, normally at `/sys/fs/cgroup` — `Documentation/admin-guide/cgroup-v2.rst`;
//! - **hybrid**: v1 hierarchies for most controllers plus a v2 mount (e.g. `/sys/fs/cgroup/unified`) holding the
//!   rest.
//!
//! The *placement* half ("where"): [`Hierarchies::detect`] reads `/proc/self/mountinfo` and `/proc/self/cgroup`;
//! [`Cgroup::resolve`] turns `linux.cgroupsPath` into one directory per hierarchy; and [`Cgroup`] creates, joins,
//! lists and removes those directories.
//!
//! The *resource* half ("what"): [`Cgroup::apply`] writes `linux.resources`. One module per controller
//! (`memory`, `cpu`, `cpuset`, `pids`, `blkio` (v2 `io`), `hugetlb`, `net` (net_cls/net_prio), `unified`,
//! [`devices`]) turns its part into settings that carry the v1 and the v2 file and value side by side, as data;
//! the engine in `resources` decides per controller where it lives on this host (the v1 hierarchy carrying it,
//! else cgroup2 if it offers the controller, enabling it in the parents' `cgroup.subtree_control`), so hybrid
//! hosts mix both. The freezer ([`Cgroup::freeze`], [`Cgroup::thaw`], [`FreezerState`]) backs `pause`/`resume`;
//! [`Cgroup::stats`] and [`Cgroup::oom_kills`] back `events`. The v2 device controller is an eBPF program
//! ([`devices`]) loaded through `holm_sys::bpf`.
//!
//! All file-system access goes through directory handles opened with `O_NOFOLLOW` and checked to lie on the
//! hierarchy's file system; there is no `unsafe` code in this crate.

#![forbid(unsafe_code)]

mod blkio;
mod cgroup;
mod cpu;
mod cpuset;
pub mod devices;
mod dir;
mod error;
mod exec_target;
mod freezer;
mod hierarchies;
mod hugetlb;
mod memory;
mod mountinfo;
mod net;
mod path;
mod pids;
mod proc_cgroup;
mod resources;
#[cfg(test)]
mod samples;
pub mod stats;
mod unified;

pub use blkio::weight_to_io_weight;
pub use cgroup::Cgroup;
pub use cpu::shares_to_weight;
pub use error::Error;
pub use exec_target::SubCgroups;
pub use freezer::FreezerState;
pub use hierarchies::{Hierarchies, Layout};
pub use mountinfo::{
    parse_mountinfo, unescape as unescape_mountinfo_field, DevId, HierarchyInfo, HierarchyKind,
};
pub use proc_cgroup::{parse_proc_cgroup, ProcCgroupEntry};
