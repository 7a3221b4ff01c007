//! docker's wait conditions (`POST /containers/{id}/wait?condition=`): `not-running`, `next-exit`, `removed`,
//! watched by polling the container's record and its monitor (holm has no daemon to be told of an exit).

use crate::db::ContainerRecord;
use crate::{Engine, Error, Result, State};
use std::time::Duration;

/// What a wait waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WaitCondition {
    /// The container is not running (at once if it is not): docker's default.
    #[default]
    NotRunning,
    /// The container runs (or ran since the wait began) and then stops.
    NextExit,
    /// The container is removed.
    Removed,
}

impl WaitCondition {
    /// docker's words (`""` is `not-running`). Errors: [`Error::InvalidFlag`] naming `condition`.
    pub fn parse(s: &str) -> Result<WaitCondition> {
        match s {
            "" | "not-running" => Ok(WaitCondition::NotRunning),
            "next-exit" => Ok(WaitCondition::NextExit),
            "removed" => Ok(WaitCondition::Removed),
            _ => Err(Error::flag(
                "condition",
                s,
                "invalid condition (docker's are not-running, next-exit, removed)",
            )),
        }
    }
}

impl Engine {
    /// True while the container runs or its monitor is still alive (it is stopping, or starting).
    pub fn is_active(&self, rec: &ContainerRecord) -> bool {
        rec.state == State::Running || self.monitor_alive(&rec.id)
    }

    /// Blocks until `cond` holds for the container `rec` was when the wait began (polling every 50 ms); its exit
    /// code, -1 when unknown. A failed start (the container is left `created` with its error) counts as an exit,
    /// as docker's; a removed container answers the code recorded at its removal. Errors: the database's.
    pub fn wait_condition(&self, rec: &ContainerRecord, cond: WaitCondition) -> Result<i64> {
        let was_running = self.is_active(rec);
        let started_at = rec.started_at.clone();
        loop {
            match self.find(&rec.id) {
                Err(Error::NoSuchContainer(_)) => {
                    let code = self.db()?.removed_exit_code(&rec.id)?;
                    return Ok(code.unwrap_or(-1).into());
                }
                Err(e) => return Err(e),
                Ok(r) => {
                    let active = self.is_active(&r);
                    let ran = was_running || r.started_at != started_at;
                    let done = match cond {
                        WaitCondition::NextExit => ran && !active,
                        WaitCondition::Removed => false,
                        WaitCondition::NotRunning => !active,
                    };
                    let failed_start = cond != WaitCondition::Removed
                        && !active
                        && r.state == State::Created
                        && !r.error.is_empty();
                    if done || failed_start {
                        return Ok(r.exit_code.unwrap_or(-1).into());
                    }
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::WaitCondition as W;

    #[test]
    fn conditions_are_dockers() {
        assert_eq!(W::parse("").unwrap(), W::NotRunning);
        assert_eq!(W::parse("not-running").unwrap(), W::NotRunning);
        assert_eq!(W::parse("next-exit").unwrap(), W::NextExit);
        assert_eq!(W::parse("removed").unwrap(), W::Removed);
        let e = W::parse("gone").unwrap_err().to_string();
        assert!(e.contains("condition") && e.contains("gone"), "{e}");
    }
}
