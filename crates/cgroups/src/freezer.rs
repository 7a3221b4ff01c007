//! The freezer: `pause` and `resume`.
//!
//! - v1: `freezer.state` ← `FROZEN` / `THAWED`; the kernel may report `FREEZING` for a while, and a cgroup
//!   whose processes keep forking can stay there, so freezing is retried with an occasional thaw, and given
//!   up (thawed back) after a time budget, as runc does (`Documentation/admin-guide/cgroup-v1/freezer-subsystem.rst`).
//! - v2: `cgroup.freeze` ← `1` / `0`, done when `cgroup.events` shows `frozen 1` / `frozen 0`
//!   (`Documentation/admin-guide/cgroup-v2.rst` § "Core Interface Files").
//!
//! The v1 freezer is used when a v1 hierarchy carries it (hybrid hosts included), else the cgroup2 directory.

use std::time::{Duration, Instant};

use crate::cgroup::{Cgroup, CgroupDir};
use crate::dir::Dir;
use crate::Error;

/// How long freezing or thawing may take before it is reported as failed.
const BUDGET: Duration = Duration::from_secs(5);

/// What the freezer says about the cgroup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FreezerState {
    /// Running normally.
    Thawed,
    /// Being frozen (v1 `FREEZING`; v2 `cgroup.freeze` is 1 but `cgroup.events` not yet `frozen 1`).
    Freezing,
    /// Every process is frozen.
    Frozen,
}

/// Which freezer interface a cgroup uses.
enum Freezer<'a> {
    V1(&'a CgroupDir),
    V2(&'a CgroupDir),
}

impl Cgroup {
    fn freezer(&self) -> Result<Freezer<'_>, Error> {
        if let Some(d) = self
            .dirs
            .iter()
            .find(|d| d.hierarchy.has_v1_controller("freezer"))
        {
            return Ok(Freezer::V1(d));
        }
        if let Some(d) = self.dirs.iter().find(|d| d.hierarchy.is_v2()) {
            return Ok(Freezer::V2(d));
        }
        Err(Error::Unsupported(
            "no freezer: no cgroup v1 hierarchy carries `freezer` and no cgroup2 hierarchy is mounted".into(),
        ))
    }

    /// The freezer state of the cgroup. Errors: no freezer, or its file cannot be read (the cgroup is gone).
    pub fn freezer_state(&self) -> Result<FreezerState, Error> {
        match self.freezer()? {
            Freezer::V1(d) => {
                let dir = d.open()?;
                let text = read(d, &dir, "freezer.state")?;
                Ok(match text.trim() {
                    "FROZEN" => FreezerState::Frozen,
                    "FREEZING" => FreezerState::Freezing,
                    _ => FreezerState::Thawed,
                })
            }
            Freezer::V2(d) => {
                let dir = d.open()?;
                if read(d, &dir, "cgroup.freeze")?.trim() != "1" {
                    return Ok(FreezerState::Thawed);
                }
                Ok(if v2_frozen(d, &dir)? {
                    FreezerState::Frozen
                } else {
                    FreezerState::Freezing
                })
            }
        }
    }

    /// True if the freezer has frozen the cgroup (or is freezing it); false also when it cannot be read.
    pub fn is_paused(&self) -> bool {
        matches!(
            self.freezer_state(),
            Ok(FreezerState::Frozen | FreezerState::Freezing)
        )
    }

    /// Freezes every process of the cgroup and returns once they are all frozen. On failure the cgroup is
    /// thawed again. Errors: [`Error::Freezer`] naming the control file, [`Error::Unsupported`] without a
    /// freezer.
    pub fn freeze(&self) -> Result<(), Error> {
        match self.freezer()? {
            Freezer::V1(d) => {
                let dir = d.open()?;
                let start = Instant::now();
                let mut i = 0u32;
                loop {
                    if i % 50 == 49 {
                        // New processes keep appearing: thaw briefly, which helps the next attempt (runc).
                        let _ = dir.write("freezer.state", b"THAWED");
                        std::thread::sleep(Duration::from_millis(10));
                    }
                    write(d, &dir, "freezer.state", "FROZEN", "freeze")?;
                    if i % 25 == 24 {
                        std::thread::sleep(Duration::from_micros(100));
                    }
                    match read(d, &dir, "freezer.state")?.trim() {
                        "FROZEN" => return Ok(()),
                        "FREEZING" => {}
                        other => {
                            return Err(freezer_err(
                                "freeze",
                                &dir,
                                "freezer.state",
                                format!("unexpected state `{other}` after writing FROZEN"),
                            ))
                        }
                    }
                    if start.elapsed() > BUDGET {
                        let _ = dir.write("freezer.state", b"THAWED");
                        return Err(freezer_err(
                            "freeze",
                            &dir,
                            "freezer.state",
                            format!("still FREEZING after {BUDGET:?}; thawed again"),
                        ));
                    }
                    i += 1;
                }
            }
            Freezer::V2(d) => {
                let dir = d.open()?;
                write(d, &dir, "cgroup.freeze", "1", "freeze")?;
                if let Err(e) = wait_v2(d, &dir, true, "freeze") {
                    let _ = dir.write("cgroup.freeze", b"0");
                    return Err(e);
                }
                Ok(())
            }
        }
    }

    /// Thaws the cgroup and returns once its processes run again.
    pub fn thaw(&self) -> Result<(), Error> {
        match self.freezer()? {
            Freezer::V1(d) => {
                let dir = d.open()?;
                let start = Instant::now();
                loop {
                    write(d, &dir, "freezer.state", "THAWED", "thaw")?;
                    if read(d, &dir, "freezer.state")?.trim() == "THAWED" {
                        return Ok(());
                    }
                    if start.elapsed() > BUDGET {
                        return Err(freezer_err(
                            "thaw",
                            &dir,
                            "freezer.state",
                            format!("not THAWED after {BUDGET:?}"),
                        ));
                    }
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
            Freezer::V2(d) => {
                let dir = d.open()?;
                write(d, &dir, "cgroup.freeze", "0", "thaw")?;
                wait_v2(d, &dir, false, "thaw")
            }
        }
    }
}

fn read(d: &CgroupDir, dir: &Dir, file: &str) -> Result<String, Error> {
    dir.read(file)
        .map_err(|e| d.err("read", dir.child_path(file), e))
}

fn write(d: &CgroupDir, dir: &Dir, file: &str, value: &str, op: &'static str) -> Result<(), Error> {
    dir.write(file, value.as_bytes())
        .map_err(|e| Error::Freezer {
            op,
            path: dir.child_path(file),
            reason: format!("write `{value}` (cgroup {}): {e}", d.hierarchy),
        })
}

fn freezer_err(op: &'static str, dir: &Dir, file: &str, reason: String) -> Error {
    Error::Freezer {
        op,
        path: dir.child_path(file),
        reason,
    }
}

/// `frozen 1` in `cgroup.events`.
fn v2_frozen(d: &CgroupDir, dir: &Dir) -> Result<bool, Error> {
    Ok(read(d, dir, "cgroup.events")?
        .lines()
        .any(|l| l.trim() == "frozen 1"))
}

/// Waits until `cgroup.events` shows `frozen` equal to `frozen`.
fn wait_v2(d: &CgroupDir, dir: &Dir, frozen: bool, op: &'static str) -> Result<(), Error> {
    let start = Instant::now();
    let mut pause = Duration::from_micros(200);
    loop {
        if v2_frozen(d, dir)? == frozen {
            return Ok(());
        }
        if start.elapsed() > BUDGET {
            return Err(freezer_err(
                op,
                dir,
                "cgroup.events",
                format!("no `frozen {}` after {BUDGET:?}", u8::from(frozen)),
            ));
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(20));
    }
}
