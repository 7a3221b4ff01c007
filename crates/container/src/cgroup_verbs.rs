//! The verbs that act on a running container's cgroup (runc's command line): `pause`, `resume`, `update`,
//! `ps` and `events`. The cgroup work itself is in `holm-cgroups`; here are the state checks and the glue.

use crate::state::{Saved, Status, Store};
use crate::{Error, Result};

fn bad_state(id: &str, status: Status, msg: &str) -> Error {
    Error::BadState {
        id: id.to_string(),
        status: status.to_string(),
        msg: msg.to_string(),
    }
}

fn cgroup_of<'a>(id: &str, s: &'a Saved) -> Result<&'a holm_cgroups::Cgroup> {
    s.cgroup
        .as_ref()
        .ok_or_else(|| Error::Invalid(format!("container `{id}` has no cgroup")))
}

/// `pause ID`: freezes every process of a running container (v1 `freezer.state`, v2 `cgroup.freeze`); its
/// status becomes `paused`. Errors: not found; not running (already paused, created or stopped).
pub fn pause(store: &Store, id: &str) -> Result<()> {
    let l = store.lock(id)?;
    let s = l.load()?;
    let status = l.status(&s);
    if status != Status::Running {
        return Err(bad_state(
            id,
            status,
            "only a running container can be paused",
        ));
    }
    cgroup_of(id, &s)?.freeze()?;
    Ok(())
}

/// `resume ID`: thaws a paused container. Errors: not found; not paused.
pub fn resume(store: &Store, id: &str) -> Result<()> {
    let l = store.lock(id)?;
    let s = l.load()?;
    let status = l.status(&s);
    if status != Status::Paused {
        return Err(bad_state(id, status, "the container is not paused"));
    }
    cgroup_of(id, &s)?.thaw()?;
    Ok(())
}

/// After `SIGKILL` was sent to a paused container, thaws it: a process frozen by the v1 freezer handles the
/// signal only once thawed (v2 kills frozen processes, but thawing does no harm). Other signals stay pending
/// until `resume`, as with runc. Best effort: a failure leaves the container as it was.
pub fn thaw_after_kill(s: &Saved, status: Status, sig: i32) {
    if sig != libc::SIGKILL || status != Status::Paused {
        return;
    }
    if let Some(cg) = &s.cgroup {
        if cg.is_paused() {
            let _ = cg.thaw();
        }
    }
}

/// `ps ID`: the host pids of every process in the container's cgroup and its child cgroups, sorted. Errors: not
/// found.
///
/// A stopped container is not an error, as in runc (`Processes()`): the pids still in its cgroup (processes an
/// `exec` left behind without a pid namespace), usually none; a cgroup that is already gone means none.
pub fn pids(store: &Store, id: &str) -> Result<Vec<i32>> {
    let s = store.lock(id)?;
    let saved = s.load()?;
    let status = s.status(&saved);
    if status == Status::Stopped {
        return Ok(saved
            .cgroup
            .as_ref()
            .and_then(|cg| cg.all_pids().ok())
            .unwrap_or_default());
    }
    Ok(cgroup_of(id, &saved)?.all_pids()?)
}

/// One event of `events`, shaped as runc prints it: `{"type":"stats","id":"…","data":{…}}` or
/// `{"type":"oom","id":"…"}`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Event {
    /// `stats` or `oom`.
    #[serde(rename = "type")]
    pub typ: &'static str,
    /// Container id.
    pub id: String,
    /// The stats, for `stats` events.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<holm_cgroups::stats::Stats>,
}

/// The saved state of a container that is not stopped, read under its lock (released on return).
fn load_live(store: &Store, id: &str) -> Result<Saved> {
    let l = store.lock(id)?;
    let s = l.load()?;
    let status = l.status(&s);
    if status == Status::Stopped {
        return Err(bad_state(id, status, "container not running"));
    }
    Ok(s)
}

/// `events --stats ID`: one stats event. Errors: not found; stopped.
pub fn stats(store: &Store, id: &str) -> Result<Event> {
    let s = load_live(store, id)?;
    Ok(Event {
        typ: "stats",
        id: id.to_string(),
        data: Some(cgroup_of(id, &s)?.stats()),
    })
}

/// How often `events` looks for OOM kills and whether the container still runs.
const EVENTS_POLL: std::time::Duration = std::time::Duration::from_millis(50);

/// `events ID`: a stats event every `interval` (the first after one interval, as runc) and an `oom` event each
/// time the OOM killer kills a process of the container, passed to `emit`, until the container stops or is
/// deleted (then `Ok`). `more_ooms` gives OOM kills the cgroup does not count (a VM guest's, which the runtime
/// records in the state directory), added to the cgroup's; it is read once more after the container stopped, so
/// a count recorded just before the end is reported. No lock is held while waiting, so other verbs go on.
/// Errors: not found; stopped; an error from `emit` ends the stream.
pub fn events(
    store: &Store,
    id: &str,
    interval: std::time::Duration,
    more_ooms: &dyn Fn() -> u64,
    emit: &mut dyn FnMut(&Event) -> Result<()>,
) -> Result<()> {
    let s = load_live(store, id)?;
    let cg = cgroup_of(id, &s)?;
    // The cgroup's last known count (its file may go before the container's state does).
    let mut host = cg.oom_kills().unwrap_or(0);
    let mut ooms = host + more_ooms();
    // A zero interval (refused by the command line, as runc does) would emit stats on every poll.
    let interval = interval.max(std::time::Duration::from_millis(1));
    let mut next = std::time::Instant::now() + interval;
    loop {
        // The state first, then the count: a count recorded before the container stopped is seen.
        let state = store.read(id);
        host = cg.oom_kills().unwrap_or(host);
        let n = host + more_ooms();
        if n > ooms {
            ooms = n;
            emit(&Event {
                typ: "oom",
                id: id.to_string(),
                data: None,
            })?;
        }
        match state {
            Ok(st) if st.status != Status::Stopped => {}
            Ok(_) | Err(Error::NotFound(_)) => return Ok(()),
            Err(e) => return Err(e),
        }
        let now = std::time::Instant::now();
        if now >= next {
            emit(&Event {
                typ: "stats",
                id: id.to_string(),
                data: Some(cg.stats()),
            })?;
            next += interval;
            if next < now {
                next = now + interval;
            }
        }
        std::thread::sleep(EVENTS_POLL.min(next.saturating_duration_since(now)));
    }
}

/// `update ID`: changes the resource limits of a created, running or paused container. Only the fields present
/// in `r` are written; `devices` is ignored and `pids.limit` 0 leaves the limit as it is (both as runc's `update`). The new values are also recorded in the saved
/// config, so later readers see the limits in force. Errors: not found; stopped; a value the host refuses
/// (naming field, controller and file; fields before it stay applied).
pub fn update(store: &Store, id: &str, r: &oci_spec::runtime::LinuxResources) -> Result<()> {
    let l = store.lock(id)?;
    let mut s = l.load()?;
    let status = l.status(&s);
    if status == Status::Stopped {
        return Err(bad_state(id, status, "cannot update a stopped container"));
    }
    let mut r = r.clone();
    r.set_devices(None);
    cgroup_of(id, &s)?.apply(&r)?;
    if let Some(linux) = s.config.linux_mut() {
        let merged = merge_resources(linux.resources().as_ref(), &r)?;
        linux.set_resources(Some(merged));
    }
    l.save(&s)
}

/// `base` with every field present in `upd` replaced (objects merged key by key, arrays replaced): what a
/// container's `linux.resources` become after `update`. Errors: [`Error::Invalid`] when the merged object is not
/// a valid `linux.resources`.
pub fn merge_resources(
    base: Option<&oci_spec::runtime::LinuxResources>,
    upd: &oci_spec::runtime::LinuxResources,
) -> Result<oci_spec::runtime::LinuxResources> {
    fn merge(a: &mut serde_json::Value, b: serde_json::Value) {
        match (a, b) {
            (serde_json::Value::Object(a), serde_json::Value::Object(b)) => {
                for (k, v) in b {
                    merge(a.entry(k).or_insert(serde_json::Value::Null), v);
                }
            }
            (a, b) => *a = b,
        }
    }
    let json = |e: serde_json::Error| Error::Invalid(format!("merge linux.resources: {e}"));
    let mut a = serde_json::to_value(base.cloned().unwrap_or_default()).map_err(json)?;
    merge(&mut a, serde_json::to_value(upd).map_err(json)?);
    serde_json::from_value(a).map_err(json)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_keeps_absent_fields() {
        let base: oci_spec::runtime::LinuxResources = serde_json::from_str(
            r#"{"memory": {"limit": 100, "swap": 200}, "pids": {"limit": 5}, "devices": [{"allow": false}]}"#,
        )
        .unwrap();
        let upd: oci_spec::runtime::LinuxResources =
            serde_json::from_str(r#"{"memory": {"limit": 150}, "cpu": {"shares": 2}}"#).unwrap();
        let m = serde_json::to_value(merge_resources(Some(&base), &upd).unwrap()).unwrap();
        assert_eq!(m["memory"]["limit"], 150);
        assert_eq!(m["memory"]["swap"], 200);
        assert_eq!(m["pids"]["limit"], 5);
        assert_eq!(m["cpu"]["shares"], 2);
        assert_eq!(m["devices"][0]["allow"], false);
    }
}
