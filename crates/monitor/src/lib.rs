//! `holm-monitor`: the part of a container's monitor that lives as long as the container (conmon's job in
//! podman). `holm __monitor` starts the container, then becomes this small executable (same pid, see
//! [`handoff`] for the protocol), which copies the container's output to its log file and to an attached
//! client, copies an attached client's input to the container, runs its healthcheck on its interval (as a new
//! `holm __health` process each time), waits for the init to exit, and then becomes
//! `holm __monitor-exit` to record the exit.
//!
//! Why a separate executable: every running monitor's private memory is mostly the relocated read-only data of
//! the binary it runs (a position-independent executable's vtables and string tables are written at load), which
//! for the full `holm` (tokio, rustls, SQLite, netlink…) is several hundred KiB per container. This crate depends
//! on holm-sys and libc only, and the steady state is one thread around `poll(2)` with a 16 KiB buffer.

pub mod handoff;
pub mod log;
pub mod supervise;

use handoff::{Exit, Handoff};
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;

/// Takes over an inherited fd: an owned close-on-exec duplicate, the original closed.
fn take(fd: RawFd) -> Option<OwnedFd> {
    let owned = holm_sys::fs::dup_raw(fd).ok();
    holm_sys::process::close_inherited(fd);
    owned
}

/// `holm-monitor`'s entry point: supervises per `args` (a [`Handoff`]) and executes holm's exit stage; returns
/// (an exit status) only if that was impossible, after writing why to stderr.
pub fn run(args: &[String]) -> i32 {
    let h = match Handoff::parse(args) {
        Ok(h) => h,
        Err(e) => {
            eprintln!("holm-monitor: {e}");
            return 125;
        }
    };
    // Nothing else inherited may reach holm's exit stage.
    let _ = holm_sys::fs::cloexec_from(3);
    let f = &h.fds;
    let (Some(out), Some(err), Some(ctl), Some(lock)) =
        (take(f.out), take(f.err), take(f.ctl), take(f.lock))
    else {
        eprintln!("holm-monitor: {}: the inherited fds are not open", h.id);
        return 125;
    };
    let io = supervise::Io {
        out,
        err,
        master: f.master.and_then(take),
        stdin: f.stdin.and_then(take),
        attach: f.attach.iter().filter_map(|&fd| take(fd)).collect(),
        ports: f.ports.iter().filter_map(|&fd| take(fd)).collect(),
    };
    let log = h
        .log
        .as_ref()
        .and_then(|(format, path)| log::LogWriter::open_rotating(path, *format, h.rotate).ok());
    let started = std::time::Instant::now();
    let ctl = UnixStream::from(ctl);
    let probe = h.health.map(|t| supervise::Probe {
        argv: h.health_argv(),
        interval: std::time::Duration::from_millis(t.interval_ms),
        timeout: std::time::Duration::from_millis(t.timeout_ms),
    });
    let code = supervise::supervise(h.pid, io, ctl.try_clone().ok(), log, probe);
    let exit = Exit {
        root: h.root,
        runroot: h.runroot,
        id: h.id,
        code,
        ran_ms: started.elapsed().as_millis() as u64,
        ctl: ctl.as_raw_fd(),
        lock: lock.as_raw_fd(),
    };
    for fd in [ctl.as_fd(), lock.as_fd()] {
        if let Err(e) = holm_sys::fs::set_cloexec(fd, false) {
            eprintln!("holm-monitor: {}: {e}", exit.id);
            return 125;
        }
    }
    let env: Vec<String> = std::env::vars().map(|(k, v)| format!("{k}={v}")).collect();
    let e = holm_sys::process::execve(&h.exe, &exit.to_args(), &env);
    eprintln!(
        "holm-monitor: {}: execute {}: {e}",
        exit.id,
        h.exe.display()
    );
    125
}
