//! Running lifecycle hooks (runtime-spec `config.md#posix-platform-hooks`): each hook is executed with its own
//! `args` (args[0] is argv[0]) and *only* the `env` it declares, gets the container state JSON on stdin, and is
//! killed if it outlives `timeout` seconds. Its stdout and stderr go to the runtime's stderr.

use crate::{Error, Result};
use oci_spec::runtime::Hook;
use std::io::Write;
use std::os::fd::AsFd;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Runs `hooks` in order; the first failure stops the list and is returned, naming `kind`, the index and path.
/// Each runs in the bundle directory named by `state` (runc's cwd for the hooks it runs in its own namespaces:
/// `prestart`, `createRuntime`, `poststart`, `poststop`).
pub fn run_all(kind: &'static str, hooks: &[Hook], state: &str) -> Result<()> {
    run_all_in(kind, hooks, state, bundle_of(state).as_deref())
}

/// [`run_all`] with the hooks' working directory given: `None` keeps the caller's (`startContainer` runs in the
/// process's `cwd`, as runc's).
pub fn run_all_in(
    kind: &'static str,
    hooks: &[Hook],
    state: &str,
    cwd: Option<&Path>,
) -> Result<()> {
    for (i, h) in hooks.iter().enumerate() {
        run_one(h, state, cwd).map_err(|msg| Error::Hook {
            kind,
            index: i,
            path: h.path().display().to_string(),
            msg,
        })?;
    }
    Ok(())
}

/// Runs `hooks` (in the bundle directory, as [`run_all`]), reporting failures through `warn` and carrying on (for
/// `poststop`, whose failures the spec says must only be logged).
pub fn run_all_warn(kind: &'static str, hooks: &[Hook], state: &str, warn: &mut dyn FnMut(&Error)) {
    let cwd = bundle_of(state);
    for (i, h) in hooks.iter().enumerate() {
        if let Err(msg) = run_one(h, state, cwd.as_deref()) {
            warn(&Error::Hook {
                kind,
                index: i,
                path: h.path().display().to_string(),
                msg,
            });
        }
    }
}

/// The `bundle` of a state JSON.
fn bundle_of(state: &str) -> Option<PathBuf> {
    let v: serde_json::Value = serde_json::from_str(state).ok()?;
    v.get("bundle")?.as_str().map(PathBuf::from)
}

fn run_one(h: &Hook, state: &str, cwd: Option<&Path>) -> std::result::Result<(), String> {
    let mut cmd = Command::new(h.path());
    if let Some(d) = cwd {
        cmd.current_dir(d);
    }
    if let Some(args) = h.args() {
        if let Some((argv0, rest)) = args.split_first() {
            cmd.arg0(argv0).args(rest);
        }
    }
    cmd.env_clear();
    for kv in h.env().iter().flatten() {
        match kv.split_once('=') {
            Some((k, v)) => cmd.env(k, v),
            None => return Err(format!("env entry {kv:?} is not KEY=VALUE")),
        };
    }
    let err_out = std::io::stderr()
        .as_fd()
        .try_clone_to_owned()
        .map_err(|e| format!("dup stderr: {e}"))?;
    let out = err_out
        .try_clone()
        .map_err(|e| format!("dup stderr: {e}"))?;
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::from(out))
        .stderr(Stdio::from(err_out));
    let mut child = cmd.spawn().map_err(|e| format!("cannot execute: {e}"))?;
    let pidfd = holm_sys::process::pidfd_open(child.id() as i32).map_err(|e| e.to_string());
    if let Some(mut stdin) = child.stdin.take() {
        // A hook may exit without reading its stdin: EPIPE is not a failure.
        let _ = stdin.write_all(state.as_bytes());
    }
    let timeout_ms = h
        .timeout()
        .map_or(-1, |t| t.saturating_mul(1000).min(i32::MAX as i64) as i32);
    let exited = match &pidfd {
        Ok(fd) => {
            holm_sys::process::poll_readable(fd.as_fd(), timeout_ms).map_err(|e| e.to_string())?
        }
        Err(_) => true,
    };
    if !exited {
        let _ = child.kill();
        let _ = child.wait();
        return Err(format!(
            "timed out after {} s",
            h.timeout().unwrap_or_default()
        ));
    }
    let status = child.wait().map_err(|e| format!("wait: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("failed: {status}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hook(v: serde_json::Value) -> Hook {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn state_on_stdin_env_and_args() {
        let d = tempfile::tempdir().unwrap();
        let out = d.path().join("out");
        let h = hook(serde_json::json!({
            "path": "/bin/sh",
            "args": ["sh", "-c", format!("cat > {0}; echo \"|$0\" >> {0}; /usr/bin/env >> {0}", out.display())],
            "env": ["FOO=bar"]
        }));
        run_all("createRuntime", &[h], r#"{"id":"x"}"#).unwrap();
        let text = std::fs::read_to_string(&out).unwrap();
        assert!(text.starts_with("{\"id\":\"x\"}|sh\n"), "{text}");
        assert!(text.lines().any(|l| l == "FOO=bar"), "{text}");
        assert!(
            !text.contains("HOME=") && !text.contains("CARGO"),
            "hook saw the runtime's env: {text}"
        );
    }

    #[test]
    fn failure_and_timeout_are_errors() {
        let h = hook(serde_json::json!({"path": "/bin/false"}));
        let e = run_all("prestart", &[h], "{}").unwrap_err().to_string();
        assert!(e.contains("prestart hook #0 `/bin/false`"), "{e}");
        let h =
            hook(serde_json::json!({"path": "/bin/sleep", "args": ["sleep", "10"], "timeout": 1}));
        let t = std::time::Instant::now();
        let e = run_all("createRuntime", &[h], "{}")
            .unwrap_err()
            .to_string();
        assert!(e.contains("timed out"), "{e}");
        assert!(t.elapsed() < std::time::Duration::from_secs(5));
        let h = hook(serde_json::json!({"path": "/nonexistent/hook"}));
        assert!(run_all("poststop", &[h], "{}")
            .unwrap_err()
            .to_string()
            .contains("cannot execute"));
    }
}
