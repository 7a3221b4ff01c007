//! The engine's system verbs: `holm info` / `GET /info`, `holm version` / `GET /version`, `holm system df` /
//! `GET /system/df`, `holm system prune`. Typed values with docker's field names (the fields holm has); the CLI
//! prints them as text, the API server serializes them.

use crate::image_ops::ImageDeleteItem;
use crate::lifecycle::Status;
use crate::{Engine, Result};
use serde::Serialize;

/// The engine's version (`CARGO_PKG_VERSION`).
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The runtime holm runs containers with unless `--runtime` names another.
pub const DEFAULT_RUNTIME: &str = "holm-container";

/// docker's `GET /info` (`system.Info`) for the fields holm has.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct SystemInfo {
    /// Containers in the store.
    pub containers: usize,
    /// Of which running.
    pub containers_running: usize,
    /// Of which paused.
    pub containers_paused: usize,
    /// Of which not running (created, exited, restarting).
    pub containers_stopped: usize,
    /// Images in the store.
    pub images: usize,
    /// The storage driver: `overlay`.
    pub driver: String,
    /// The default log driver: `json-file`.
    pub logging_driver: String,
    /// `cgroupfs` (holm writes cgroup files itself; no systemd).
    pub cgroup_driver: String,
    /// `1` (v1 or hybrid) or `2` (unified only), docker's words; see `cgroup_layout` for holm's.
    pub cgroup_version: String,
    /// `hybrid`, `v1`, `v2`, or `unknown` (no cgroup mounts found): what `holm info` prints.
    #[serde(skip)]
    pub cgroup_layout: String,
    /// `/proc/sys/kernel/osrelease`.
    pub kernel_version: String,
    /// `PRETTY_NAME` of /etc/os-release (`Linux` without one).
    pub operating_system: String,
    /// `linux`.
    #[serde(rename = "OSType")]
    pub os_type: String,
    /// The machine's architecture as the kernel names it (`x86_64`), as docker's.
    pub architecture: String,
    /// CPUs available.
    #[serde(rename = "NCPU")]
    pub ncpu: usize,
    /// Bytes of RAM (`MemTotal` of /proc/meminfo).
    pub mem_total: u64,
    /// `--root`.
    pub docker_root_dir: String,
    /// holm's version.
    pub server_version: String,
    /// `holm-container`.
    pub default_runtime: String,
    /// `name=seccomp,profile=builtin`.
    pub security_options: Vec<String>,
    /// `--runroot`.
    #[serde(skip)]
    pub run_dir: String,
    /// The default bridge network: bridge name, subnet and gateway (`holm0 10.77.0.0/16, gateway 10.77.0.1`).
    #[serde(skip)]
    pub bridge: String,
}

/// docker's `GET /version` for the fields holm has (the API server adds `ApiVersion` and `MinAPIVersion`).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct VersionInfo {
    /// holm's version.
    pub version: String,
    /// `linux`.
    pub os: String,
    /// Go's name of the machine's architecture (`amd64`).
    pub arch: String,
    /// `/proc/sys/kernel/osrelease`.
    pub kernel_version: String,
}

/// One line of `holm system df`: a kind of object, how many, how many in use, their bytes and what removing
/// the unused ones would free.
#[derive(Debug, Clone, Copy, Default, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct UsageRow {
    /// Objects.
    pub total: usize,
    /// Of which in use (an image a container uses, a running container, a volume a container mounts).
    pub active: usize,
    /// Bytes of all.
    pub size: u64,
    /// Bytes of the unused ones.
    pub reclaimable: u64,
}

/// `holm system df`: images, containers (their writable layers), local volumes.
#[derive(Debug, Clone, Copy, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct DiskUsage {
    /// Images.
    pub images: UsageRow,
    /// Containers.
    pub containers: UsageRow,
    /// Local volumes.
    pub volumes: UsageRow,
}

/// A volume as docker's `GET /system/df` lists it: its JSON plus `UsageData`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct VolumeUsage {
    /// docker's Volume fields.
    #[serde(flatten)]
    pub volume: crate::volume_api::VolumeInfo,
    /// `{Size, RefCount}`: bytes of its data, containers that mount it.
    pub usage_data: VolumeUsageData,
}

/// `UsageData` of [`VolumeUsage`].
#[derive(Debug, Clone, Copy, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct VolumeUsageData {
    /// Bytes of its data.
    pub size: u64,
    /// Containers that mount it.
    pub ref_count: u64,
}

/// docker's `GET /system/df` answer (`docker system df [-v]` computes its table from these lists).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct DiskUsageLists {
    /// Bytes of all images' layers.
    pub layers_size: u64,
    /// The images, each with `Containers` = how many containers use it.
    pub images: Vec<crate::images::ImageSummary>,
    /// The containers, with `SizeRw` and `SizeRootFs`.
    pub containers: Vec<crate::listing::ContainerSummary>,
    /// The volumes with their usage.
    pub volumes: Vec<VolumeUsage>,
    /// Always empty: holm does not build images.
    pub build_cache: Vec<serde_json::Value>,
}

/// What `holm system prune` removed.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct SystemPruned {
    /// Ids of the containers removed.
    pub containers_deleted: Vec<String>,
    /// Names of the user networks removed (those no running container is on).
    pub networks_deleted: Vec<String>,
    /// Names of the volumes removed.
    pub volumes_deleted: Vec<String>,
    /// Images removed.
    pub images_deleted: Vec<ImageDeleteItem>,
    /// Bytes freed in all.
    pub space_reclaimed: u64,
}

/// The machine's architecture in Go's (docker's, OCI's) words: `amd64`, `arm64`, `386`, … (Rust says `x86_64`,
/// `aarch64`, `x86`).
pub fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" if cfg!(target_endian = "little") => "ppc64le",
        "powerpc64" => "ppc64",
        "loongarch64" => "loong64",
        "mips64" if cfg!(target_endian = "little") => "mips64le",
        other => other,
    }
}

fn read_trim(p: &str) -> String {
    std::fs::read_to_string(p)
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

/// The kernel's release (`6.1.0-18-amd64`), empty if /proc cannot say.
pub fn kernel_version() -> String {
    read_trim("/proc/sys/kernel/osrelease")
}

impl Engine {
    /// holm's version facts (`holm version`, `GET /version`).
    pub fn system_version(&self) -> VersionInfo {
        VersionInfo {
            version: VERSION.into(),
            os: "linux".into(),
            arch: go_arch().into(),
            kernel_version: kernel_version(),
        }
    }

    /// Facts about the engine and the host (`holm info`, `GET /info`). Errors: the database's.
    pub fn system_info(&self) -> Result<SystemInfo> {
        let list = self.list()?;
        let count = |f: &dyn Fn(Status) -> bool| list.iter().filter(|(_, s)| f(*s)).count();
        let images = self.images().list().map(|l| l.len()).unwrap_or(0);
        let layout = holm_cgroups::Hierarchies::detect().map(|h| h.layout()).ok();
        let os = std::fs::read_to_string("/etc/os-release")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find_map(|l| l.strip_prefix("PRETTY_NAME="))
                    .map(|v| v.trim_matches('"').to_string())
            })
            .unwrap_or_else(|| "Linux".into());
        let mem = std::fs::read_to_string("/proc/meminfo")
            .ok()
            .and_then(|m| {
                m.lines()
                    .find_map(|l| l.strip_prefix("MemTotal:"))
                    .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            })
            .unwrap_or(0)
            * 1024;
        Ok(SystemInfo {
            containers: list.len(),
            containers_running: count(&|s| s == Status::Running),
            containers_paused: count(&|s| s == Status::Paused),
            containers_stopped: count(&|s| {
                matches!(s, Status::Exited | Status::Created | Status::Restarting)
            }),
            images,
            driver: "overlay".into(),
            logging_driver: "json-file".into(),
            cgroup_driver: "cgroupfs".into(),
            cgroup_version: match layout {
                Some(holm_cgroups::Layout::V2) => "2".into(),
                _ => "1".into(),
            },
            cgroup_layout: layout
                .map_or_else(|| "unknown".into(), |l| format!("{l:?}").to_lowercase()),
            kernel_version: kernel_version(),
            operating_system: os,
            os_type: "linux".into(),
            architecture: std::env::consts::ARCH.into(),
            ncpu: std::thread::available_parallelism().map_or(1, |n| n.get()),
            mem_total: mem,
            docker_root_dir: self.root().display().to_string(),
            server_version: VERSION.into(),
            default_runtime: DEFAULT_RUNTIME.into(),
            security_options: vec!["name=seccomp,profile=builtin".into()],
            run_dir: self.runroot().display().to_string(),
            bridge: format!(
                "{} {}/{}, gateway {}",
                holm_network::BRIDGE,
                holm_network::SUBNET.0,
                holm_network::SUBNET.1,
                holm_network::GATEWAY
            ),
        })
    }

    /// Disk usage of images, containers and volumes (`holm system df`). Errors: the database's, the store's.
    pub fn system_df(&self) -> Result<DiskUsage> {
        let list = self.list()?;
        let images = self.images().list()?;
        let used: std::collections::HashSet<&str> =
            list.iter().map(|(r, _)| r.image_id.as_str()).collect();
        let mut img = UsageRow {
            total: images.len(),
            ..Default::default()
        };
        for i in &images {
            img.size += i.size;
            if used.contains(i.id.to_string().as_str()) {
                img.active += 1;
            } else {
                img.reclaimable += i.size;
            }
        }
        let mut ctr = UsageRow {
            total: list.len(),
            ..Default::default()
        };
        for (r, st) in &list {
            let sz = self.writable_size(&r.id);
            ctr.size += sz;
            if matches!(st, Status::Running | Status::Paused | Status::Restarting) {
                ctr.active += 1;
            } else {
                ctr.reclaimable += sz;
            }
        }
        let vols = self.volume_list()?;
        let mut vol = UsageRow {
            total: vols.len(),
            ..Default::default()
        };
        for v in &vols {
            let sz = self.volume_size(&v.name);
            vol.size += sz;
            if self.volume_users(&v.name)?.is_empty() {
                vol.reclaimable += sz;
            } else {
                vol.active += 1;
            }
        }
        Ok(DiskUsage {
            images: img,
            containers: ctr,
            volumes: vol,
        })
    }

    /// docker's `GET /system/df`: every image (with how many containers use it), container (with its sizes) and
    /// volume (with its size and users). Errors: the database's, the store's.
    pub fn system_df_lists(&self) -> Result<DiskUsageLists> {
        let list = self.list()?;
        let mut images = self.image_list(&crate::images::ImageFilters::default())?;
        for i in &mut images {
            i.containers = list.iter().filter(|(r, _)| r.image_id == i.id).count() as i64;
            // docker's /system/df always computes it (the CLI counts an image whose SharedSize is -1 as wholly
            // reclaimable even while containers use it); holm counts every image's layers as its own, as
            // `LayersSize` and `holm system df` do
            i.shared_size = 0;
        }
        let containers = list
            .iter()
            .map(|(r, st)| self.container_summary(r, *st, true))
            .collect();
        let mut volumes = Vec::new();
        for v in self.volume_list()? {
            volumes.push(VolumeUsage {
                usage_data: VolumeUsageData {
                    size: self.volume_size(&v.name),
                    ref_count: self.volume_users(&v.name)?.len() as u64,
                },
                volume: self.volume_info(&v),
            });
        }
        Ok(DiskUsageLists {
            layers_size: images.iter().map(|i| i.size).sum(),
            images,
            containers,
            volumes,
            build_cache: Vec::new(),
        })
    }

    /// Removes stopped containers, with `volumes` unused anonymous volumes (named ones stay, as with docker
    /// 23+), then unused images (dangling ones; with `all` every image no container uses). Errors: the first
    /// failing step's (what the steps before it removed stays removed).
    pub fn system_prune(&self, all: bool, volumes: bool) -> Result<SystemPruned> {
        let (containers, cbytes) = self.prune()?;
        let networks = self.network_prune(&[])?;
        let (vols, vbytes) = if volumes {
            self.volume_prune(false)?
        } else {
            (Vec::new(), 0)
        };
        let imgs = self.image_prune(all)?;
        Ok(SystemPruned {
            containers_deleted: containers,
            networks_deleted: networks,
            volumes_deleted: vols,
            images_deleted: imgs.images_deleted,
            space_reclaimed: cbytes + vbytes + imgs.space_reclaimed,
        })
    }
}
