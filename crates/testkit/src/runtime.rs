//! Driving an OCI runtime binary (`holm-runtime`, or `runc` for comparison) from tests.

use std::ffi::OsStr;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use tempfile::TempDir;

use crate::bundle::{make_tempdir, report_mounts_inside};

/// Where Debian's `runc` package installs runc.
const RUNC: &str = "/usr/sbin/runc";
/// Timeout for the best-effort cleanup commands run from `Drop`.
const CLEANUP_TIMEOUT: Duration = Duration::from_secs(30);
/// Default per-invocation timeout; `HOLM_TEST_TIMEOUT` (seconds) overrides it.
const DEFAULT_TIMEOUT_SECS: u64 = 60;

/// An OCI runtime binary with a private state root (`--root`), removed on drop.
///
/// Every invocation is `<bin> --root <root> <args...>`, so tests running in parallel never see
/// each other's containers. [`Runtime::run`], [`Runtime::ok`], [`Runtime::fails`] and
/// [`Runtime::state`] give the child a null stdin and capture stdout and stderr in anonymous
/// temporary *files* rather than pipes: a detached container (`create`, `run -d`) inherits
/// them and may keep them open, which would make a pipe reader wait for the container to exit.
/// Each invocation is killed after `HOLM_TEST_TIMEOUT` seconds (default 60) and the test fails.
///
/// On drop, every container still listed by `<bin> --root <root> list -q` is force-deleted
/// (best effort), then the state root is removed unless something is still mounted inside it.
#[derive(Debug)]
pub struct Runtime {
    bin: PathBuf,
    root: TempDir,
    min_timeout: Option<Duration>,
    env: Vec<(String, std::ffi::OsString)>,
}

/// Force-deletes one container when dropped, also while a failed assertion unwinds.
///
/// Made by [`Runtime::guard`]; declare it right after choosing the id, before `create`/`run`:
/// `let _guard = rt.guard(&id);`. Drop runs `<bin> --root <root> delete --force <id>` and ignores
/// every error (the container may already be gone, or may never have been created).
#[derive(Debug)]
pub struct ContainerGuard<'a> {
    runtime: &'a Runtime,
    id: String,
}

impl Runtime {
    /// A runtime for binary `bin` (e.g. `env!("CARGO_BIN_EXE_holm-runtime")`) with a fresh state
    /// root under `/tmp` or `/var/tmp`. Panics if `bin` does not exist.
    pub fn new(bin: impl Into<PathBuf>) -> Runtime {
        let bin = bin.into();
        if !bin.is_file() {
            panic!("runtime binary `{}` does not exist", bin.display());
        }
        Runtime {
            bin,
            root: make_tempdir("holm-state-"),
            min_timeout: None,
            env: Vec::new(),
        }
    }

    /// Sets an environment variable for every invocation (e.g. `HOLM_VM_AGENT`).
    pub fn with_env(mut self, key: &str, value: impl Into<std::ffi::OsString>) -> Runtime {
        self.env.push((key.to_string(), value.into()));
        self
    }

    /// Gives each invocation at least `t` before it is killed (e.g. VM tests, which boot a guest under TCG),
    /// or `HOLM_TEST_TIMEOUT` when that is longer.
    pub fn with_min_timeout(mut self, t: Duration) -> Runtime {
        self.min_timeout = Some(t);
        self
    }

    fn call_timeout(&self) -> Duration {
        timeout().max(self.min_timeout.unwrap_or_default())
    }

    /// The reference runtime, Debian's `/usr/sbin/runc`, with its own fresh state root.
    /// Panics naming the `runc` package if it is not installed.
    pub fn runc() -> Runtime {
        if !Path::new(RUNC).is_file() {
            panic!("`{RUNC}` is missing; install Debian's `runc` package (scripts/install-test-deps.sh)");
        }
        Runtime::new(RUNC)
    }

    /// The runtime binary.
    pub fn bin(&self) -> &Path {
        &self.bin
    }

    /// The private state root passed as `--root`.
    pub fn root(&self) -> &Path {
        self.root.path()
    }

    /// `<bin> --root <root> <args...>` as a [`Command`] to adjust and run yourself
    /// (for instance to give the container a stdin, or to `spawn` a foreground `run`).
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(&self.bin);
        cmd.arg("--root").arg(self.root.path()).args(args);
        cmd.envs(self.env.iter().map(|(k, v)| (k, v)));
        cmd
    }

    /// Runs `<bin> --root <root> <args...>` to completion and returns its status and output,
    /// whatever the exit code. Panics only if the binary cannot be started or times out.
    pub fn run(&self, args: &[&str]) -> Output {
        execute(&mut self.cmd(args), self.call_timeout())
            .unwrap_or_else(|e| panic!("`{}`: {e}", self.describe(args)))
    }

    /// Runs the command, asserts that it exited 0 and returns its stdout (lossy UTF-8).
    /// On failure panics with the command line, exit status, stdout and stderr.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        if !out.status.success() {
            panic!(
                "`{}` failed: {}\n{}",
                self.describe(args),
                describe_status(out.status),
                describe_output(&out)
            );
        }
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Runs the command and asserts that it exited non-zero (or was killed by a signal);
    /// returns its output so the test can check the error message.
    pub fn fails(&self, args: &[&str]) -> Output {
        let out = self.run(args);
        if out.status.success() {
            panic!(
                "`{}` succeeded but was expected to fail\n{}",
                self.describe(args),
                describe_output(&out)
            );
        }
        out
    }

    /// `state <id>` parsed as JSON; panics if the command fails or prints something else.
    pub fn state(&self, id: &str) -> Value {
        let text = self.ok(&["state", id]);
        serde_json::from_str(&text).unwrap_or_else(|e| {
            panic!(
                "`{}` printed invalid JSON ({e}):\n{text}",
                self.describe(&["state", id])
            )
        })
    }

    /// A guard that force-deletes container `id` when dropped.
    pub fn guard(&self, id: &str) -> ContainerGuard<'_> {
        ContainerGuard {
            runtime: self,
            id: id.to_string(),
        }
    }

    /// Best-effort `delete --force <id>`: never panics.
    fn force_delete(&self, id: &str) {
        let _ = execute(&mut self.cmd(&["delete", "--force", id]), CLEANUP_TIMEOUT);
    }

    fn describe(&self, args: &[&str]) -> String {
        let root = self.root.path().as_os_str();
        std::iter::once(self.bin.as_os_str())
            .chain([OsStr::new("--root"), root])
            .chain(args.iter().map(OsStr::new))
            .map(|a| {
                let a = a.to_string_lossy();
                if a.is_empty() || a.contains(|c: char| c.is_whitespace() || c == '\'') {
                    format!("{a:?}")
                } else {
                    a.into_owned()
                }
            })
            .collect::<Vec<_>>()
            .join(" ")
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        // Containers a test forgot to guard: ask the runtime itself what is left.
        if let Ok(out) = execute(&mut self.cmd(&["list", "-q"]), CLEANUP_TIMEOUT) {
            if out.status.success() {
                for id in String::from_utf8_lossy(&out.stdout).lines().map(str::trim) {
                    if !id.is_empty() && !id.starts_with('-') && !id.contains(char::is_whitespace) {
                        self.force_delete(id);
                    }
                }
            }
        }
        if report_mounts_inside(self.root.path(), "runtime state root") {
            self.root.disable_cleanup(true);
        }
    }
}

impl ContainerGuard<'_> {
    /// The guarded container id.
    pub fn id(&self) -> &str {
        &self.id
    }
}

impl Drop for ContainerGuard<'_> {
    fn drop(&mut self) {
        self.runtime.force_delete(&self.id);
    }
}

/// Per-invocation timeout: `HOLM_TEST_TIMEOUT` seconds, default 60.
fn timeout() -> Duration {
    let secs = std::env::var("HOLM_TEST_TIMEOUT")
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok())
        .filter(|s| *s > 0)
        .unwrap_or(DEFAULT_TIMEOUT_SECS);
    Duration::from_secs(secs)
}

/// Runs any command as [`Runtime::run`] runs the runtime: null stdin, stdout and stderr captured in
/// temporary files (so a detached grandchild that keeps them open cannot make this wait), killed
/// after `HOLM_TEST_TIMEOUT` seconds (default 60). For engine CLIs (`podman`, `docker`, `ctr`).
///
/// Errors: the command could not be started, or it timed out (the text then carries whatever it
/// printed before it was killed).
pub fn run_command(cmd: &mut Command) -> Result<Output, String> {
    execute(cmd, timeout())
}

/// Runs `cmd` with null stdin and stdout/stderr captured in temporary files; kills it after
/// `timeout`. The error text carries whatever it printed before being killed.
fn execute(cmd: &mut Command, timeout: Duration) -> Result<Output, String> {
    let stdout = tempfile::tempfile().map_err(|e| format!("create stdout capture file: {e}"))?;
    let stderr = tempfile::tempfile().map_err(|e| format!("create stderr capture file: {e}"))?;
    let out_handle = stdout
        .try_clone()
        .map_err(|e| format!("dup capture file: {e}"))?;
    let err_handle = stderr
        .try_clone()
        .map_err(|e| format!("dup capture file: {e}"))?;
    cmd.stdin(Stdio::null())
        .stdout(Stdio::from(out_handle))
        .stderr(Stdio::from(err_handle));
    let mut child = spawn_retrying_etxtbsy(cmd).map_err(|e| format!("spawn: {e}"))?;
    // Close our copies of the capture fds held inside `cmd` as soon as possible.
    cmd.stdout(Stdio::null()).stderr(Stdio::null());
    let waited = wait_timeout(&mut child, timeout);
    let output = Output {
        status: match waited {
            Ok(status) => status,
            Err(_) => child.wait().map_err(|e| format!("wait: {e}"))?,
        },
        stdout: read_all(&stdout),
        stderr: read_all(&stderr),
    };
    match waited {
        Ok(_) => Ok(output),
        Err(e) => Err(format!("{e}\n{}", describe_output(&output))),
    }
}

/// Waits for `child` for at most `timeout`; on expiry kills it and returns an error.
fn wait_timeout(child: &mut Child, timeout: Duration) -> Result<ExitStatus, String> {
    let deadline = Instant::now() + timeout;
    let mut pause = Duration::from_micros(50);
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Ok(status),
            Ok(None) => {}
            Err(e) => return Err(format!("wait: {e}")),
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            return Err(format!(
                "timed out after {timeout:?} (HOLM_TEST_TIMEOUT) and was killed"
            ));
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(5));
    }
}

/// Everything written to a capture file so far, read with `pread` so the offset shared with a
/// container that may still hold the file stays untouched.
fn read_all(file: &File) -> Vec<u8> {
    let mut data = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        match file.read_at(&mut buf, data.len() as u64) {
            Ok(0) | Err(_) => return data,
            Ok(n) => data.extend_from_slice(&buf[..n]),
        }
    }
}

fn describe_status(status: ExitStatus) -> String {
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit code {code}"),
        (None, Some(sig)) => format!("killed by signal {sig}"),
        (None, None) => status.to_string(),
    }
}

fn describe_output(out: &Output) -> String {
    format!(
        "--- stdout ---\n{}\n--- stderr ---\n{}",
        String::from_utf8_lossy(&out.stdout).trim_end(),
        String::from_utf8_lossy(&out.stderr).trim_end()
    )
}

/// `cmd.spawn()`, retried for a while on `ETXTBSY`: a binary a test has just written (a copied runtime, a fake
/// runtime script) can still be open for writing in a child that another test thread forked at that moment and
/// that has not yet exec'd (the fd is close-on-exec, so it goes away by itself).
pub fn spawn_retrying_etxtbsy(cmd: &mut Command) -> std::io::Result<std::process::Child> {
    let mut tries = 0;
    loop {
        match cmd.spawn() {
            Err(e) if e.kind() == std::io::ErrorKind::ExecutableFileBusy && tries < 100 => {
                tries += 1;
                std::thread::sleep(Duration::from_millis(20));
            }
            r => return r,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::PermissionsExt;

    /// A fake runtime: a shell script that logs its arguments and acts on a few verbs.
    fn fake_runtime(dir: &Path) -> PathBuf {
        let bin = dir.join("fake-runtime");
        let log = dir.join("log");
        let script = format!(
            r#"#!/bin/sh
echo "$@" >> '{log}'
root="$2"; shift 2
case "$1" in
  state) [ "$2" = garbage ] && {{ echo 'not json'; exit 0; }}
         echo '{{"ociVersion":"1.2.0","id":"'"$2"'","status":"running","pid":1,"bundle":"/b"}}' ;;
  list) printf 'leftover-1\nleftover-2\n' ;;
  fail) echo "bad thing" >&2; echo partial; exit 3 ;;
  sleep) exec sleep 30 ;;
  detach) (sleep 5 &) ; echo detached ;;
  *) echo "ok $*" ;;
esac
"#,
            log = log.display()
        );
        fs::write(&bin, script).unwrap();
        fs::set_permissions(&bin, fs::Permissions::from_mode(0o755)).unwrap();
        bin
    }

    fn log(dir: &Path) -> String {
        fs::read_to_string(dir.join("log")).unwrap_or_default()
    }

    #[test]
    fn cmd_prefixes_root_and_ok_returns_stdout() {
        let dir = TempDir::new().unwrap();
        let rt = Runtime::new(fake_runtime(dir.path()));
        assert!(rt.root().is_dir());
        let cmd = rt.cmd(&["run", "x"]);
        let args: Vec<_> = cmd.get_args().collect();
        assert_eq!(
            args,
            [
                OsStr::new("--root"),
                rt.root().as_os_str(),
                "run".as_ref(),
                "x".as_ref()
            ]
        );
        assert_eq!(rt.ok(&["start", "c1"]), "ok start c1\n");
    }

    #[test]
    fn ok_panics_with_args_code_and_output() {
        let dir = TempDir::new().unwrap();
        let rt = Runtime::new(fake_runtime(dir.path()));
        let err =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| rt.ok(&["fail", "a b"])))
                .unwrap_err();
        let msg = err.downcast_ref::<String>().unwrap();
        for want in [
            "fail \"a b\"",
            "exit code 3",
            "partial",
            "bad thing",
            "--root",
        ] {
            assert!(msg.contains(want), "{want:?} missing from {msg}");
        }
    }

    #[test]
    fn fails_returns_output_and_panics_on_success() {
        let dir = TempDir::new().unwrap();
        let rt = Runtime::new(fake_runtime(dir.path()));
        let out = rt.fails(&["fail"]);
        assert_eq!(out.status.code(), Some(3));
        assert_eq!(String::from_utf8_lossy(&out.stderr), "bad thing\n");
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| rt.fails(&["start"])));
        assert!(r.is_err());
    }

    #[test]
    fn state_parses_json_or_panics() {
        let dir = TempDir::new().unwrap();
        let rt = Runtime::new(fake_runtime(dir.path()));
        assert_eq!(rt.state("c9")["id"], "c9");
        assert_eq!(rt.state("c9")["status"], "running");
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| rt.state("garbage")));
        let msg = r.unwrap_err();
        assert!(msg.downcast_ref::<String>().unwrap().contains("not json"));
    }

    #[test]
    fn guard_deletes_even_when_the_test_panics() {
        let dir = TempDir::new().unwrap();
        let rt = Runtime::new(fake_runtime(dir.path()));
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let guard = rt.guard("c1");
            assert_eq!(guard.id(), "c1");
            panic!("assertion failed in a test");
        }));
        assert!(r.is_err());
        assert!(
            log(dir.path()).contains("delete --force c1\n"),
            "{}",
            log(dir.path())
        );
    }

    #[test]
    fn drop_deletes_listed_containers_and_removes_root() {
        let dir = TempDir::new().unwrap();
        let rt = Runtime::new(fake_runtime(dir.path()));
        let root = rt.root().to_path_buf();
        drop(rt);
        let log = log(dir.path());
        assert!(log.contains("list -q\n"), "{log}");
        assert!(log.contains("delete --force leftover-1\n"), "{log}");
        assert!(log.contains("delete --force leftover-2\n"), "{log}");
        assert!(!root.exists());
    }

    #[test]
    fn detached_children_holding_stdout_do_not_block() {
        let dir = TempDir::new().unwrap();
        let rt = Runtime::new(fake_runtime(dir.path()));
        let start = Instant::now();
        assert_eq!(rt.ok(&["detach"]), "detached\n");
        assert!(
            start.elapsed() < Duration::from_secs(4),
            "{:?}",
            start.elapsed()
        );
    }

    #[test]
    fn hung_commands_are_killed_after_the_timeout() {
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "echo before; exec sleep 30"]);
        let start = Instant::now();
        let err = execute(&mut cmd, Duration::from_millis(300)).unwrap_err();
        assert!(start.elapsed() < Duration::from_secs(10));
        assert!(err.contains("timed out"), "{err}");
        assert!(err.contains("before"), "{err}");
    }

    #[test]
    fn missing_binaries_panic_with_their_path() {
        let r = std::panic::catch_unwind(|| Runtime::new("/no/such/holm-runtime"));
        let msg = r.unwrap_err();
        assert!(msg
            .downcast_ref::<String>()
            .unwrap()
            .contains("/no/such/holm-runtime"));
    }

    #[test]
    fn runc_reference_runtime_works() {
        let rt = Runtime::runc();
        assert!(rt.ok(&["--version"]).contains("runc version"));
        assert_eq!(rt.ok(&["list", "-q"]), "");
    }
}
