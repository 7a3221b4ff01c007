//! holm's exit statuses, one rule for every verb (docker's, where docker has one; see the README's "Exit codes"):
//!
//! | status | when |
//! |---|---|
//! | the container's | `run` (foreground), `start -a`, `exec`: the process's own exit code |
//! | 125 | the command line is wrong: a clap parse error (unknown flag, missing argument, a value of the wrong type) or a flag value holm rejects (`--memory 12q`, `kill -s NOSUCH`, `logs --tail x`, `--format '{{'`), in every verb; and any failure of `run` / `create` before the container's process starts (unknown image, name in use, missing bind source) |
//! | 126 | the container's command cannot be invoked (not executable, a directory) — `run`, `start`, `exec` |
//! | 127 | the container's command is not found — `run`, `start`, `exec` |
//! | 1 | any other failure of any other verb: a `start`/`restart` the engine could not carry out (a port taken); `No such container: X` for `stop`, `rm`, `logs`, `inspect`, `exec`, …; `No such image` for `rmi`, `tag`, `save`; a failed `pull` (docker's 1); a container in the wrong state |
//!
//! `rm -f` / `rmi -f` of an object that does not exist print the error but exit 0 (docker ≥ 20.10, like `rm -f`).
//!
//! holm differs from docker in two places, both on purpose: docker exits 1 for flag values only its daemon checks
//! (`kill -s NOSUCH`, `ps --filter bogus=1`) and 125 for those its CLI checks; holm has no daemon, so every value it
//! rejects is a command-line error (125). And docker's `start` exits 1 when the command is missing, where holm
//! keeps 127/126 (as `run` does), so a script can tell "no such program" apart. podman exits 125 for every engine
//! error; holm follows docker's 1 so a script can tell "no such container" from "bad command line".

/// The verbs whose failures count as "the engine could not create the container" (125 rather than 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    /// `run` and `create`.
    Create,
    /// Every other verb.
    Other,
}

/// The exit status for a failed command (see the module doc).
pub fn code(e: &anyhow::Error, verb: Verb) -> i32 {
    for cause in e.chain() {
        if let Some(err) = cause.downcast_ref::<holm_engine::Error>() {
            match err {
                // docker's `start`/`restart` exit 1 when the daemon could not start the container (a port
                // taken, a bad mount); holm keeps 126/127 for the command (see above).
                holm_engine::Error::StartFailed { code: 125, .. } if verb == Verb::Other => {
                    return 1
                }
                holm_engine::Error::StartFailed { code, .. } => return *code,
                holm_engine::Error::InvalidFlag { .. } => return 125,
                _ => {}
            }
        }
    }
    match verb {
        Verb::Create => 125,
        Verb::Other => 1,
    }
}

/// Prints `e` once (`Error: …`, one line, see [`crate::errfmt`]) and returns its exit status.
pub fn fail(e: &anyhow::Error, verb: Verb) -> i32 {
    eprintln!("Error: {}", crate::errfmt::render(e));
    code(e, verb)
}

/// Exit status for a clap error: 0 for `--help` / `--version` (printed to stdout), 125 for every real parse error
/// (docker's and podman's status for a bad command line; clap's own default is 2).
pub fn clap_code(e: &clap::Error) -> i32 {
    if e.use_stderr() {
        125
    } else {
        0
    }
}

#[cfg(test)]
mod tests {
    use super::{code, Verb};

    #[test]
    fn rule() {
        let missing: anyhow::Error = holm_engine::Error::NoSuchContainer("x".into()).into();
        assert_eq!(code(&missing, Verb::Other), 1);
        assert_eq!(code(&missing, Verb::Create), 125);
        let flag: anyhow::Error =
            holm_engine::Error::flag("--memory", "12q", "invalid size").into();
        assert_eq!(code(&flag, Verb::Other), 125);
        assert_eq!(code(&flag.context("parse"), Verb::Other), 125);
        let start: anyhow::Error = holm_engine::Error::StartFailed {
            id: "x".into(),
            msg: "not found".into(),
            code: 127,
        }
        .into();
        assert_eq!(code(&start, Verb::Other), 127);
        let engine: anyhow::Error = holm_engine::Error::StartFailed {
            id: "x".into(),
            msg: "port is already allocated".into(),
            code: 125,
        }
        .into();
        assert_eq!(code(&engine, Verb::Other), 1);
        assert_eq!(code(&engine, Verb::Create), 125);
        assert_eq!(code(&anyhow::anyhow!("other"), Verb::Other), 1);
    }
}
