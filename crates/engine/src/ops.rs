//! Clean-up steps shared by the monitor, `rm`, `--rm` and crash recovery. Each is idempotent: it may run twice
//! (a monitor and `rm -f` racing, or after a crash half-way) and finds "already gone" fine.

use crate::config::cgroups_path;
use crate::{Engine, Error, Result};
use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// The rootfs mount point of a container's bundle.
pub fn rootfs(engine: &Engine, id: &str) -> std::path::PathBuf {
    engine.bundle(id).join("rootfs")
}

/// True if `path` is a mount point (its device differs from its parent's, or it is an overlay's root).
fn is_mount_point(path: &Path) -> bool {
    let (Ok(m), Some(Ok(p))) = (
        std::fs::symlink_metadata(path),
        path.parent().map(std::fs::symlink_metadata),
    ) else {
        return false;
    };
    m.dev() != p.dev()
}

/// Mounts the container's snapshot on its bundle's `rootfs/` (unless it is mounted already).
pub fn mount_rootfs(engine: &Engine, id: &str) -> Result<()> {
    let target = rootfs(engine, id);
    if is_mount_point(&target) {
        return Ok(());
    }
    engine.images().mount_snapshot(id, Some(&target))?;
    Ok(())
}

/// Unmounts the container's rootfs (not mounted is fine).
pub fn unmount_rootfs(engine: &Engine, id: &str) -> Result<()> {
    let target = rootfs(engine, id);
    // Lazily: a process of an `exec` may still hold it for a moment; the mount goes when it lets go.
    while is_mount_point(&target) {
        match holm_sys::mount::umount2(&target, libc::MNT_DETACH) {
            Ok(()) => {}
            Err(e) if e.errno() == libc::EINVAL || e.errno() == libc::ENOENT => break,
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// Everything of a stopped (or to be force-stopped) container that only lives while it runs: the runtime state
/// (its processes are killed), the cgroup (also when the runtime state was lost, e.g. after `/run` was wiped),
/// its network (rules, veth, address lease) and the rootfs mount.
///
/// Every step is tried even when an earlier one failed (the first error is returned), so a broken runtime state
/// never keeps the cgroup, network or mount alive.
///
/// The network goes on a second thread meanwhile: deleting a veth pair waits in the kernel for RCU grace periods
/// (~18 ms here, sleeping, not working), as long as the other steps together. The thread is joined before this
/// returns, so the caller is single-threaded again; the kernel may still count the exiting thread in
/// `/proc/self/status` for a few microseconds, which holm-sys's fork check would refuse (no caller forks right
/// after this: the monitor's restart `execve`s).
pub fn release_runtime(engine: &Engine, id: &str) -> Result<()> {
    let (network, steps) = std::thread::scope(|s| {
        let network = s.spawn(|| crate::network::teardown(engine, id));
        let steps = [
            engine.runtime_of(id).delete(id),
            remove_cgroup(id),
            unmount_rootfs(engine, id),
        ];
        (network.join(), steps)
    });
    let network = network.unwrap_or_else(|_| {
        Err(Error::Monitor {
            id: id.to_string(),
            msg: "network teardown panicked".into(),
        })
    });
    let [runtime, cgroup, mount] = steps;
    // After the runtime's delete, which gives the VM's interface back through this path.
    let netns = crate::vm::release_netns(engine, id);
    [runtime, cgroup, network, mount, netns]
        .into_iter()
        .collect()
}

/// Records `State.OOMKilled` if the OOM killer killed a process in the container's cgroup during this run (its
/// `oom_kill` count, v1 `memory.oom_control` or v2 `memory.events`, is above 0; for a VM container also the
/// guest's count, which the runtime's VM shim records in its state directory, `holm_vm::shim_api::OOM_KILLS`).
/// Call it before [`release_runtime`] removes the cgroup and the runtime's state; a missing cgroup or memory
/// controller records nothing.
pub fn record_oom_kills(engine: &Engine, id: &str) {
    let host = holm_cgroups::Hierarchies::detect()
        .ok()
        .and_then(|h| holm_cgroups::Cgroup::resolve(&h, Some(&cgroups_path(id)), id).ok())
        .and_then(|cg| cg.oom_kills())
        .unwrap_or(0);
    let guest = match engine.runtime_of(id) {
        crate::runtime::Runtime::Oci { root, .. }
            if holm_container::state::validate_id(id).is_ok() =>
        {
            holm_vm::shim_api::read_oom_kills(&root.join(id))
        }
        _ => 0,
    };
    if host + guest > 0 {
        if let Ok(db) = engine.db() {
            let _ = db.set_oom_killed(id);
        }
        // docker's event (before the `die` the monitor appends next)
        engine.emit_for(id, "oom", &[]);
    }
}

/// Kills whatever is left in the container's cgroup and removes it (a missing cgroup is fine).
fn remove_cgroup(id: &str) -> Result<()> {
    let Ok(h) = holm_cgroups::Hierarchies::detect() else {
        return Ok(());
    };
    let Ok(cg) = holm_cgroups::Cgroup::resolve(&h, Some(&cgroups_path(id)), id) else {
        return Ok(());
    };
    let exists = cg.dirs().any(|(_, p)| p.exists());
    if !exists {
        return Ok(());
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let pids = cg.all_pids().unwrap_or_default();
        if pids.is_empty() {
            break;
        }
        if cg.is_paused() {
            let _ = cg.thaw();
        }
        for pid in &pids {
            let _ = holm_sys::process::kill(*pid, libc::SIGKILL);
        }
        if std::time::Instant::now() > deadline {
            return Err(Error::Monitor {
                id: id.to_string(),
                msg: format!("processes {pids:?} survive SIGKILL"),
            });
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    cg.remove().map_err(|e| Error::Io {
        what: format!("remove cgroup of {id}"),
        source: std::io::Error::other(e),
    })
}

/// Removes every trace of a container: runtime, cgroup, mount, snapshot (its writable layer), bundle with the
/// log, and its database row.
pub fn remove(engine: &Engine, id: &str) -> Result<()> {
    remove_with(engine, id, false)
}

/// [`remove`], and with `volumes` its anonymous volumes that no other container uses (`rm -v`, `--rm`).
pub fn remove_with(engine: &Engine, id: &str, volumes: bool) -> Result<()> {
    let rec = engine.db()?.get(id)?;
    let anonymous = match &rec {
        Some(r) if volumes => r.config.anonymous_volumes.clone(),
        _ => Vec::new(),
    };
    remove_container(engine, id)?;
    if let Some(r) = &rec {
        engine.emit_container(r, "destroy", &[]);
    }
    for v in anonymous {
        match engine.volume_remove(&v) {
            Ok(()) | Err(Error::NoSuchVolume(_)) | Err(Error::VolumeInUse { .. }) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

fn remove_container(engine: &Engine, id: &str) -> Result<()> {
    release_runtime(engine, id)?;
    // The snapshot's directory goes first (freeing its space); the image store's metadata is rewritten after, from
    // the root's reserve if the disk is full.
    let snapshot = crate::space::with_reserve(engine.root(), || {
        engine.images().remove_snapshot(id).map_err(Error::from)
    });
    match snapshot {
        Ok(())
        | Err(Error::Image(holm_image::StoreError::Snapshot(
            holm_image::snapshot::SnapshotError::NotFound(_),
        ))) => {}
        Err(e) => return Err(e),
    }
    let bundle = engine.bundle(id);
    // Never delete through a mount.
    if is_mount_point(&rootfs(engine, id)) {
        return Err(Error::Monitor {
            id: id.to_string(),
            msg: format!("{} is still mounted", rootfs(engine, id).display()),
        });
    }
    match std::fs::remove_dir_all(&bundle) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(Error::io(format!("remove {}", bundle.display()))(e)),
    }
    engine.db()?.delete(id)?;
    crate::space::remove_exit(engine.runroot(), id);
    Ok(())
}
