//! One healthcheck: `holm __health ID`, started by the container's monitor on the check's interval (see
//! [`crate::health`]). It runs the test as `holm exec` does — a new process in the container (holm-container's
//! exec, or `RUNTIME exec` for `--runtime`) — detached, with its stdout and stderr on a pipe this process reads
//! (up to [`crate::health::MAX_OUTPUT`] bytes kept), and its pid from a pid file; the process is this one's
//! child (or, through an external runtime, its orphan: this process is a child subreaper), so it is waited for
//! with a pidfd and killed (SIGKILL) at the timeout. Then the result is recorded and, if the status changed, a
//! `health_status: STATUS` event appended; `exec_create`, `exec_start` and `exec_die` events are appended as
//! docker does for its checks.

use crate::events::now_nanos;
use crate::health::{self, Check, LogEntry, MAX_OUTPUT};
use crate::{Engine, Error, Result, State};
use std::fs::File;
use std::io::Read;
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;
use std::time::{Duration, Instant};

/// `holm __health ID`'s entry point: runs one check of container `id` and records it. Returns the process's exit
/// status (0, or 1 if the check could not be recorded; a container that no longer runs is not checked: 0).
pub fn main(root: &Path, runroot: &Path, id: &str) -> i32 {
    // The check's process is forked from this one: it must not reach holm's binary (CVE-2019-5736).
    if holm_sys::process::run_from_sealed_copy().is_err() {
        return 1;
    }
    let Ok(engine) = Engine::open(root, runroot) else {
        return 1;
    };
    let rec = match engine.db().and_then(|db| db.get(id)) {
        Ok(Some(r)) if r.state == State::Running => r,
        _ => return 0,
    };
    let Some(check) = rec.config.healthcheck.as_ref().and_then(|h| h.check()) else {
        return 0;
    };
    // A paused container is not checked (its processes are frozen: an exec would fail or hang); its status stays.
    let rt = engine.runtime_for(rec.config.runtime.as_deref());
    if rt
        .state(id)
        .is_some_and(|s| s.status == holm_container::Status::Paused)
    {
        return 0;
    }
    let start_nanos = now_nanos();
    let start = crate::lifecycle::now();
    let exec_id = crate::ids::new_id().unwrap_or_default();
    let cmd = check.args.join(" ");
    let eid = [("execID", exec_id.clone())];
    engine.emit_container(&rec, &format!("exec_create: {cmd}"), &eid);
    engine.emit_container(&rec, &format!("exec_start: {cmd}"), &eid);
    let (exit_code, output) = match run(&engine, &rec, &check) {
        Ok(r) => r,
        Err(e) => {
            let msg = e.to_string();
            (crate::error::exec_failure_code(&msg), msg)
        }
    };
    engine.emit_container(
        &rec,
        "exec_die",
        &[("execID", exec_id), ("exitCode", exit_code.to_string())],
    );
    let entry = LogEntry {
        start,
        end: crate::lifecycle::now(),
        exit_code,
        output,
    };
    // Recorded only while the same run of the container goes on (a restart resets the state).
    let changed = health::update(&engine, id, |old| match old {
        Some(mut h) if h.started_nanos <= start_nanos => {
            let changed = h.record(&check, entry, start_nanos);
            (Some(h), changed)
        }
        _ => (None, None),
    });
    match changed {
        Ok(Some(status)) => {
            engine.emit_container(&rec, &format!("health_status: {status}"), &[]);
            0
        }
        Ok(None) => 0,
        Err(_) => 1,
    }
}

/// Go's `time.Duration` text of a timeout, as docker's message shows it (`30s`, `1.5s`, `500ms`, `1m0s`).
fn go_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 {
        return format!("{ms}ms");
    }
    let secs = d.as_secs_f64();
    let (m, s) = ((secs / 60.0).floor() as u64, secs % 60.0);
    let s = format!("{s}").trim_end_matches(".0").to_string();
    if m == 0 {
        format!("{s}s")
    } else if m < 60 {
        format!("{m}m{s}s")
    } else {
        format!("{}h{}m{s}s", m / 60, m % 60)
    }
}

/// Runs the check's process; its exit code (128+N for signal N; -1 at the timeout) and output.
fn run(engine: &Engine, rec: &crate::ContainerRecord, check: &Check) -> Result<(i32, String)> {
    let (out_r, out_w) = std::io::pipe().map_err(Error::io("pipe"))?;
    let null = File::options()
        .read(true)
        .write(true)
        .open("/dev/null")
        .map_err(Error::io("open /dev/null"))?;
    let pid_file = engine
        .runroot()
        .join(format!("health-{}-{}.pid", rec.id, std::process::id()));
    // An external runtime's detached process is re-parented to the nearest subreaper: this process.
    holm_sys::process::set_child_subreaper()?;
    // The process inherits fds 0-2: /dev/null and the pipe.
    holm_sys::fs::dup_onto(null.as_fd(), 0)?;
    holm_sys::fs::dup_onto(out_w.as_fd(), 1)?;
    holm_sys::fs::dup_onto(out_w.as_fd(), 2)?;
    let started = start(engine, rec, check, &pid_file);
    holm_sys::fs::dup_onto(null.as_fd(), 1)?;
    holm_sys::fs::dup_onto(null.as_fd(), 2)?;
    drop(out_w);
    let pid = std::fs::read_to_string(&pid_file)
        .ok()
        .and_then(|s| s.trim().parse::<i32>().ok());
    let _ = std::fs::remove_file(&pid_file);
    started?;
    let pid = pid.ok_or_else(|| Error::Monitor {
        id: rec.id.clone(),
        msg: "healthcheck: the runtime wrote no pid file".into(),
    })?;
    let pidfd = holm_sys::process::pidfd_open(pid)?;
    let deadline = Instant::now() + check.timeout;
    let mut pipe = Some(File::from(OwnedFd::from(out_r)));
    let mut output = Vec::new();
    let mut buf = [0u8; 4096];
    let code = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            let _ = holm_sys::process::kill(pid, libc::SIGKILL);
            let _ = holm_sys::process::waitpid(pid, 0);
            break None;
        }
        let mut fds = vec![pidfd.as_fd()];
        fds.extend(pipe.as_ref().map(|p| p.as_fd()));
        let ready = holm_sys::process::poll_any(&fds, left.as_millis().max(1) as i32)?;
        if ready.get(1) == Some(&true) {
            read_some(&mut pipe, &mut buf, &mut output);
        }
        if ready[0] {
            let (_, st) = holm_sys::process::waitpid(pid, 0)?;
            break Some(st.exit_code());
        }
    };
    // What it wrote before it ended (a child that keeps the pipe open is not waited for).
    while let Some(p) = &pipe {
        if !holm_sys::process::poll_any(&[p.as_fd()], 0)?[0] {
            break;
        }
        read_some(&mut pipe, &mut buf, &mut output);
    }
    let text = String::from_utf8_lossy(&output).into_owned();
    Ok(match code {
        Some(c) => (c, text),
        None => {
            let t = go_duration(check.timeout);
            let msg = if text.is_empty() {
                format!("Health check exceeded timeout ({t})")
            } else {
                format!("Health check exceeded timeout ({t}): {text}")
            };
            (-1, msg)
        }
    })
}

/// Reads once from the pipe into `output` (kept up to [`MAX_OUTPUT`] bytes); EOF closes it.
fn read_some(pipe: &mut Option<File>, buf: &mut [u8], output: &mut Vec<u8>) {
    let n = pipe.as_mut().map_or(Ok(0), |p| p.read(buf)).unwrap_or(0);
    if n == 0 {
        *pipe = None;
        return;
    }
    let room = MAX_OUTPUT.saturating_sub(output.len());
    output.extend_from_slice(&buf[..n.min(room)]);
}

/// Starts the check's process detached, its pid in `pid_file`.
fn start(
    engine: &Engine,
    rec: &crate::ContainerRecord,
    check: &Check,
    pid_file: &Path,
) -> Result<()> {
    match engine.runtime_for(rec.config.runtime.as_deref()) {
        crate::runtime::Runtime::Builtin(store) => {
            let opts = holm_container::ExecOptions {
                id: rec.id.clone(),
                args: check.args.clone(),
                detach: true,
                pid_file: Some(pid_file.to_path_buf()),
                ..Default::default()
            };
            holm_container::exec(&store, &opts)
                .map(|_| ())
                .map_err(|e| {
                    let msg = e.to_string();
                    Error::StartFailed {
                        id: rec.id.clone(),
                        code: crate::error::exec_failure_code(&msg),
                        msg,
                    }
                })
        }
        // A VM container: the runtime's exec in the foreground is the process (its exit code is the check's; at
        // the timeout it is killed, and the VM shim then kills the process in the guest).
        crate::runtime::Runtime::Oci { bin, root } if rec.config.is_vm() => {
            let child = std::process::Command::new(&bin)
                .arg("--root")
                .arg(root)
                .arg("exec")
                .arg(&rec.id)
                .args(&check.args)
                .spawn()
                .map_err(Error::io(format!("run {} exec", bin.display())))?;
            std::fs::write(pid_file, child.id().to_string())
                .map_err(Error::io(format!("write {}", pid_file.display())))
        }
        crate::runtime::Runtime::Oci { bin, root } => {
            let st = std::process::Command::new(&bin)
                .arg("--root")
                .arg(root)
                .arg("exec")
                .arg("--detach")
                .arg("--pid-file")
                .arg(pid_file)
                .arg(&rec.id)
                .args(&check.args)
                .status()
                .map_err(Error::io(format!("run {} exec", bin.display())))?;
            if st.success() {
                Ok(())
            } else {
                Err(Error::StartFailed {
                    id: rec.id.clone(),
                    code: 126,
                    msg: format!("{} exec failed: {st}", bin.display()),
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn go_durations() {
        use std::time::Duration;
        assert_eq!(super::go_duration(Duration::from_secs(30)), "30s");
        assert_eq!(super::go_duration(Duration::from_millis(1500)), "1.5s");
        assert_eq!(super::go_duration(Duration::from_millis(500)), "500ms");
        assert_eq!(super::go_duration(Duration::from_secs(90)), "1m30s");
    }
}
