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
//! This crate is the *placement* half ("where"): [`Hierarchies::detect`] reads `/proc/self/mountinfo` and
//! `/proc/self/cgroup`; [`Cgroup::resolve`] turns `linux.cgroupsPath` into one directory per hierarchy; and
//! [`Cgroup`] creates, joins, lists and removes those directories. It writes no resource limits.
//!
//! The *resource* half ("what") is to come as one module per controller (`cpu`, `cpuset`, `memory`, `pids`,
//! `blkio`/`io`, `devices`, `freezer`, `hugetlb`, ...), each knowing its v1 and v2 file names and value
//! encodings as data, and writing into the directories that [`Cgroup::v1_dir`] / [`Cgroup::v2_dir`] name,
//! through the crate-private `dir::Dir` handle (no symlink following). Enabling v2 controllers in the parents'
//! `cgroup.subtree_control` belongs there too.
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
pub mod stats;
#[cfg(test)]
mod samples;
mod unified;

pub use blkio::weight_to_io_weight;
pub use cgroup::Cgroup;
pub use cpu::shares_to_weight;
pub use error::Error;
pub use freezer::FreezerState;
pub use hierarchies::{Hierarchies, Layout};
pub use mountinfo::{parse_mountinfo, DevId, HierarchyInfo, HierarchyKind};
pub use proc_cgroup::{parse_proc_cgroup, ProcCgroupEntry};
