//! The cgroup verbs of the command line: `pause`, `resume`, `update`, `ps`, `events` (runc's flags and output).
//! Each parses its flags and calls `holm-container`.

use holm_container::Store;

/// `pause ID`.
pub fn pause(store: &Store, id: &str) -> anyhow::Result<()> {
    Ok(holm_container::cgroup_verbs::pause(store, id)?)
}

/// `resume ID`.
pub fn resume(store: &Store, id: &str) -> anyhow::Result<()> {
    Ok(holm_container::cgroup_verbs::resume(store, id)?)
}
