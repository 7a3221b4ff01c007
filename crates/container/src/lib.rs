//! `holm-container`: the OCI runtime core behind `holm-runtime` (and the `holm` engine).
//!
//! Given an OCI bundle (runtime-spec v1.3: a directory with `config.json` and a root filesystem) this crate creates
//! a container — namespaces, cgroup, mounts, devices, `pivot_root`, credentials — and drives it through the
//! lifecycle `creating → created → running → stopped` (runtime-spec `runtime.md`), with the same verbs as runc:
//! [`create`], [`start`], [`state`], [`kill`], [`delete`], [`list`], [`run`] (create + start + wait), and
//! [`exec`](fn@exec) (a new process in a running container: [`exec`](mod@exec), [`tenant`]; terminals in [`console`]).
//!
//! Processes: the runtime process **P** forks a stage-1 child **C1**, which joins or creates the namespaces and
//! then forks (with `CLONE_PARENT`, so P is its parent) the container init **C2**; C2 sets up the root filesystem,
//! reports `created`, and blocks on `exec.fifo` until `start`. See [`launch`] and [`init`] for the ordering.

#![forbid(unsafe_code)]

pub mod cgroup_verbs;
pub mod channel;
pub mod console;
pub mod defaults;
pub use holm_format::duration;
pub mod error;
pub mod exec;
pub mod features;
pub mod hooks;
pub mod idmap;
pub mod init;
pub mod intelrdt;
pub mod launch;
pub mod lifecycle;
pub mod lsm;
pub mod mountopts;
pub mod netdev;
mod nopivot;
pub mod process;
pub mod procfs;
pub mod resolve;
pub mod resources;
pub mod rootfs;
pub mod sched;
pub mod seccomp;
pub mod spec;
pub mod stages;
pub mod state;
pub mod sysctl;
pub mod tenant;
pub mod tmpcopy;

pub use error::{Error, Result};
pub use exec::{exec, ExecOptions};
pub use launch::{create, CreateOptions};
pub use lifecycle::{delete, kill, list, run, start, state, RunOptions};
pub use state::{Status, Store};
