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
pub(crate) fn thaw_after_kill(s: &Saved, status: Status, sig: i32) {
    if sig != libc::SIGKILL || status != Status::Paused {
        return;
    }
    if let Some(cg) = &s.cgroup {
        if cg.is_paused() {
            let _ = cg.thaw();
        }
    }
}
