//! `holm-engine`: the engine behind `holm run`, `ps`, `logs`, `stop`, `rm`, `exec`, … — containers from images,
//! with no daemon.
//!
//! Where things live:
//!
//! ```text
//! <root>/holm.db                       container metadata (SQLite, WAL)         see [`db`]
//! <root>/containers/<id>/config.json   the bundle: runtime spec                 see [`config`]
//! <root>/containers/<id>/rootfs/       the overlay snapshot, mounted while it runs (holm-image snapshots)
//! <root>/containers/<id>/<id>-json.log docker's json-file log (`<id>-k8s.log`)  see [`logfile`]
//! <root>/volumes/<name>/_data          named volumes                            see [`volumes`]
//! <root>/events/events.log             the event log (JSON lines, docker's Message)  see [`events`]
//! <runroot>/runtime/<id>/              holm-container's runtime state (gone after a reboot)
//! <runroot>/oci/<runtime>/<id>/        an external runtime's state (`--runtime`) see [`runtime`]
//! /run/holm-network/containers/<id>.json  a running container's address, MAC, ports (host-wide) see [`network`]
//! <root>/containers/<id>/{hosts,hostname,resolv.conf}  bind-mounted on its /etc  see [`network`]
//! ```
//!
//! Processes: `holm run` prepares the bundle and spawns a **monitor** (`holm __monitor`, [`monitor`]) in its own
//! session. The monitor calls holm-container's `create` + `start` (networking the container in between, see
//! [`network`]), so it is the parent of the container's init; it
//! holds the container's stdout/stderr pipes, writes the log, records the exit code in the database, applies
//! `--rm` and the restart policy, and outlives `holm`. A foreground `holm run` hands its own stdout/stderr (and
//! with `-i` its stdin) to the monitor over a Unix socket ([`control`]) and waits there for the exit code,
//! forwarding signals to the container; with `-t` the monitor relays the container's pty ([`tty`]).
//!
//! Truthfulness after crashes: a `running` row whose monitor is gone is checked against the runtime state (and
//! after a reboot, the runtime state is gone): [`Engine::refresh`] records such a container as exited (with the
//! code from the monitor's exit file if the database was full, see [`space`]; else unknown) and cleans what it left.
#![forbid(unsafe_code)]

pub mod config;
pub mod control;
pub mod copy;
mod copy_mounts;
pub mod copy_tar;
pub mod db;
pub mod error;
pub mod events;
pub mod events_filter;
pub mod exec;
pub mod handoff;
pub mod health;
pub mod health_probe;
pub mod ids;
pub mod image_ops;
pub mod images;
pub mod inspect;
pub mod lifecycle;
pub mod listing;
pub mod logfile;
pub mod logopts;
pub mod logs_api;
pub mod monitor;
pub mod mounts;
pub mod netdb;
pub mod netuser;
pub mod network;
pub mod network_api;
pub mod networks;
pub mod ops;
pub mod options;
pub mod pull;
mod refresh;
pub mod runtime;
#[cfg(test)]
mod shapes;
pub mod space;
pub mod stats;
pub mod system;
pub mod tty;
pub mod update;
pub mod vm;
pub mod volume_api;
pub mod volumes;
pub mod wait;

pub use config::RunConfig;
pub use db::{ContainerRecord, Db, State};
pub use error::{Error, Result};
pub use lifecycle::Started;

use std::path::{Path, PathBuf};

/// The default runtime-state directory (`--runroot`).
pub const DEFAULT_RUNROOT: &str = "/run/holm";

/// An engine on a root (persistent) and a runroot (runtime state).
#[derive(Debug, Clone)]
pub struct Engine {
    root: PathBuf,
    runroot: PathBuf,
    images: holm_image::ImageStore,
}

impl Engine {
    /// Opens the engine's stores under `root` and `runroot` (creating them if needed).
    pub fn open(root: &Path, runroot: &Path) -> Result<Engine> {
        let images = holm_image::ImageStore::open(root)?;
        Ok(Engine {
            root: root.to_path_buf(),
            runroot: runroot.to_path_buf(),
            images,
        })
    }

    /// `--root`.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `--runroot`.
    pub fn runroot(&self) -> &Path {
        &self.runroot
    }

    /// The image store.
    pub fn images(&self) -> &holm_image::ImageStore {
        &self.images
    }

    /// Opens the metadata database.
    pub fn db(&self) -> Result<Db> {
        let db = Db::open(&self.root)?;
        space::ensure_reserve(&self.root);
        Ok(db)
    }

    /// The runtime's state store (`<runroot>/runtime`).
    pub fn runtime(&self) -> holm_container::Store {
        holm_container::Store::new(self.runroot.join("runtime"))
    }

    /// The bundle directory of a container.
    pub fn bundle(&self, id: &str) -> PathBuf {
        self.root.join("containers").join(id)
    }

    /// The json-file log of a container.
    pub fn log_path(&self, id: &str) -> PathBuf {
        self.bundle(id).join(format!("{id}-json.log"))
    }

    /// The log file of a container for its `--log-driver` (`None` for `none`).
    pub fn log_file(&self, id: &str, cfg: &RunConfig) -> Option<PathBuf> {
        match logfile::Format::of_driver(cfg.log_driver())? {
            logfile::Format::Json => Some(self.log_path(id)),
            logfile::Format::K8s => Some(self.bundle(id).join(format!("{id}-k8s.log"))),
        }
    }
}
