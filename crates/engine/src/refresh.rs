//! Keeping recorded state truthful: [`Engine::refresh`] turns a `running` row whose monitor is gone into the exit
//! it was (from the monitor's exit file when there is one, see [`crate::space`]), also when the database cannot be
//! written; and the "do not restart" mark that `stop`, `kill` and `rm -f` set.

use crate::db::{ContainerRecord, Db, State};
use crate::lifecycle::now;
use crate::{ops, Engine, Error, Result};
use holm_container::Status as RtStatus;

impl Engine {
    /// Makes a `running` record whose monitor is gone truthful: if the process is gone too (or the runtime state
    /// was wiped, as by a reboot), records it as exited — with the code from the monitor's exit file if it left one
    /// (it could not write the database: a full disk), else unknown — and releases what it held (applying `--rm`).
    /// If the database cannot be written either, the exit is returned unrecorded (reads work on a full disk). A
    /// process that still runs unmonitored stays `running`.
    pub fn refresh(&self, db: &Db, rec: ContainerRecord) -> Result<ContainerRecord> {
        if rec.state != State::Running || self.monitor_alive(&rec.id) {
            return Ok(rec);
        }
        if let Some(st) = self.runtime_of(&rec.id).state(&rec.id) {
            if st.status != RtStatus::Stopped {
                return Ok(rec);
            }
        }
        // The monitor may have recorded the exit between our read and its death.
        let Some(fresh) = db.get(&rec.id)? else {
            return Err(Error::NoSuchContainer(rec.id));
        };
        if fresh.state != State::Running {
            return Ok(fresh);
        }
        ops::record_oom_kills(self, &rec.id);
        ops::release_runtime(self, &rec.id)?;
        // The monitor's exit file, if it could not record the exit itself (a full disk), has the code.
        let (code, finished_at, error) = match crate::space::read_exit(self.runroot(), &rec.id) {
            Some(e) => (Some(e.code), e.finished_at, ""),
            None => (None, now(), "the monitor died: exit code unknown"),
        };
        let recorded = match db.set_exited(&rec.id, code, &finished_at, error) {
            Ok(_) => {
                crate::space::remove_exit(self.runroot(), &rec.id);
                true
            }
            Err(e) if e.is_disk_full() => false,
            Err(e) => return Err(e),
        };
        if rec.config.auto_remove {
            match ops::remove_with(self, &rec.id, true) {
                Ok(()) => return Err(Error::NoSuchContainer(rec.id)),
                Err(e) if recorded || !e.is_disk_full() => return Err(e),
                Err(_) => {}
            }
        }
        if !recorded {
            // Reads must work on a full disk: show what could not be recorded (the exit file stays for later).
            return Ok(ContainerRecord {
                state: State::Exited,
                pid: 0,
                monitor_pid: 0,
                monitor_start: 0,
                exit_code: code,
                finished_at,
                error: error.to_string(),
                ..rec
            });
        }
        db.get(&rec.id)?
            .ok_or_else(|| Error::NoSuchContainer(rec.id.clone()))
    }

    /// Sets the "do not restart" mark (`stop`, `kill`, `rm -f`). Not needed when it is set already, and not
    /// needed for a container without a restart policy: then a full disk that cannot record it is no error.
    pub(crate) fn mark_no_restart(&self, rec: &ContainerRecord) -> Result<()> {
        if rec.no_restart {
            return Ok(());
        }
        match self.db()?.set_no_restart(&rec.id, true) {
            Err(e) if e.is_disk_full() && !self.has_restart_policy(rec) => Ok(()),
            r => r.map(drop),
        }
    }
}
