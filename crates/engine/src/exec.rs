//! `holm exec` (and the API's exec): a process in a running container, through holm-container's exec or an
//! external runtime's, with docker's `exec_create`/`exec_start`/`exec_die` events.

use crate::db::{ContainerRecord, State};
use crate::lifecycle::not_running;
use crate::{ids, ops, Engine, Error, Result};
use std::path::Path;
use std::process::Command;

/// What `holm exec` runs.
#[derive(Debug, Clone, Default)]
pub struct ExecRequest {
    /// The command and its arguments.
    pub cmd: Vec<String>,
    /// `-e K=V`, added to the container's environment.
    pub env: Vec<String>,
    /// `-u USER[:GROUP]`, resolved with the container's `/etc/passwd` and `/etc/group`.
    pub user: Option<String>,
    /// `-w DIR`.
    pub workdir: Option<String>,
    /// `-t`: a pty, relayed to holm's stdin/stdout (raw mode, resizes) by the runtime.
    pub tty: bool,
    /// `-d`: return once the process runs.
    pub detach: bool,
}

impl Engine {
    /// `holm exec`: runs a process in a running container, in the foreground with `holm`'s stdio; returns its exit
    /// code. The caller must already run from a sealed copy of its binary (the process is forked from it).
    ///
    /// Events (docker's): `exec_create: CMD`, `exec_start: CMD`, and once it ended, `exec_die` with its exit code.
    pub fn exec(&self, what: &str, req: &ExecRequest) -> Result<i32> {
        let rec = self.find(what)?;
        if rec.state != State::Running {
            return Err(not_running(&rec));
        }
        let exec_id = ids::new_id()?;
        let cmd = req.cmd.join(" ");
        let eid = [("execID", exec_id.clone())];
        self.emit_container(&rec, &format!("exec_create: {cmd}"), &eid);
        self.emit_container(&rec, &format!("exec_start: {cmd}"), &eid);
        let r = self.exec_running(rec.clone(), req);
        if let (Ok(code), false) = (&r, req.detach) {
            let extra = [("execID", exec_id), ("exitCode", code.to_string())];
            self.emit_container(&rec, "exec_die", &extra);
        }
        r
    }

    fn exec_running(&self, rec: ContainerRecord, req: &ExecRequest) -> Result<i32> {
        let (user, additional_gids) = match &req.user {
            Some(u) => {
                // An unknown user fails the exec: 126, as docker's.
                let eu = holm_image::passwd::resolve_user(&ops::rootfs(self, &rec.id), u).map_err(
                    |e| Error::StartFailed {
                        id: rec.id.clone(),
                        msg: holm_image::spec::SpecError::from(e).to_string(),
                        code: 126,
                    },
                )?;
                (Some((eu.uid, eu.gid)), eu.additional_gids)
            }
            None => (None, Vec::new()),
        };
        if let Some(bin) = &rec.config.runtime {
            return self.exec_oci(bin, &rec.id, req, user, &additional_gids);
        }
        let opts = holm_container::ExecOptions {
            id: rec.id.clone(),
            args: req.cmd.clone(),
            env: req.env.clone(),
            cwd: req.workdir.as_ref().map(Into::into),
            user,
            additional_gids,
            tty: req.tty,
            detach: req.detach,
            ..Default::default()
        };
        match holm_container::exec(&self.runtime(), &opts) {
            Ok(code) => Ok(code),
            Err(e @ holm_container::Error::Init(_)) => {
                let msg = e.to_string();
                Err(Error::StartFailed {
                    id: rec.id,
                    code: crate::error::exec_failure_code(&msg),
                    msg,
                })
            }
            Err(e) => Err(e.into()),
        }
    }
}

impl Engine {
    /// `holm exec` through an external runtime: `RUNTIME exec` with holm's stdio; its exit code.
    fn exec_oci(
        &self,
        bin: &str,
        id: &str,
        req: &ExecRequest,
        user: Option<(u32, u32)>,
        additional_gids: &[u32],
    ) -> Result<i32> {
        let rt = self.runtime_for(Some(bin));
        // As holm-container's exec refuses a paused container (exit 1), before the runtime would (exit 255).
        if rt
            .state(id)
            .is_some_and(|s| s.status == holm_container::Status::Paused)
        {
            return Err(Error::BadState {
                id: id.to_string(),
                state: "paused".into(),
                msg: "unpause the container before exec".into(),
            });
        }
        let crate::runtime::Runtime::Oci { root, .. } = rt else {
            unreachable!("an external runtime")
        };
        // The runtime's error goes to its stderr (the user sees it) and to this log, which tells an exec that
        // could not start (runc's and holm-runtime's 255) from a process that exited 255 itself.
        let log =
            tempfile::NamedTempFile::new().map_err(Error::io("create the runtime's exec log"))?;
        let mut c = Command::new(bin);
        c.arg("--root").arg(root);
        c.arg("--log")
            .arg(log.path())
            .arg("--log-format")
            .arg("text");
        c.arg("exec");
        if req.tty {
            c.arg("--tty");
        }
        if req.detach {
            c.arg("--detach");
        }
        let process = self.exec_process_file(id, req, user, additional_gids)?;
        c.arg("--process").arg(process.path()).arg(id);
        let code = if req.tty && !req.detach {
            run_passing_winch(c, bin)?
        } else {
            let st = c.status().map_err(Error::io(format!("run {bin} exec")))?;
            st.code().unwrap_or_else(|| {
                128 + std::os::unix::process::ExitStatusExt::signal(&st).unwrap_or(0)
            })
        };
        Ok(exec_code(code, log.path()))
    }
}

impl Engine {
    /// The process an external runtime's `exec` runs, as a `--process` file (a runtime-spec `process`, mode 0600
    /// under the runroot, removed when dropped): the container's `process` from its bundle's `config.json` with
    /// `req`'s command, environment (added, replacing variables of the same name), working directory and
    /// terminal, and `user`/`additional_gids` — what runc makes of its `--env`/`--cwd`/`--user`/`--tty` flags
    /// ([`holm_container::exec::resolve_process`]). podman hands conmon's runtime a file too: an environment can
    /// be bigger than the kernel's limit on one execve's arguments (`ARG_MAX`, 2 MiB with an 8 MiB stack), which
    /// `--env` flags would hit when the runtime is started ("Argument list too long"); the container's own execve
    /// has the container's limit (its stack rlimit, `--ulimit stack`).
    ///
    /// Errors: the bundle's `config.json` unreadable, the file not written.
    fn exec_process_file(
        &self,
        id: &str,
        req: &ExecRequest,
        user: Option<(u32, u32)>,
        additional_gids: &[u32],
    ) -> Result<tempfile::NamedTempFile> {
        let path = self.bundle(id).join("config.json");
        let spec = oci_spec::runtime::Spec::load(&path).map_err(|e| Error::Io {
            what: format!("read {}", path.display()),
            source: std::io::Error::other(e.to_string()),
        })?;
        let opts = holm_container::ExecOptions {
            id: id.to_string(),
            args: req.cmd.clone(),
            env: req.env.clone(),
            cwd: req.workdir.as_ref().map(Into::into),
            user,
            additional_gids: additional_gids.to_vec(),
            tty: req.tty,
            ..Default::default()
        };
        let process = holm_container::exec::resolve_process(&spec, &opts)?;
        let what = || {
            format!(
                "write the exec's process file under {}",
                self.runroot().display()
            )
        };
        let mut f = tempfile::Builder::new()
            .prefix(".exec-process-")
            .suffix(".json")
            .tempfile_in(self.runroot())
            .map_err(Error::io(what()))?;
        serde_json::to_writer(&mut f, &process).map_err(|e| Error::Io {
            what: what(),
            source: e.into(),
        })?;
        Ok(f)
    }
}

/// docker's exit code for a runtime's `exec` that ended with `code`: when the runtime could not start the
/// process (255 and an `exec failed` error in its `log`), 127 for a command not found and 126 for the rest (as
/// a process container's exec, [`crate::error::exec_failure_code`]); otherwise `code` as it is.
fn exec_code(code: i32, log: &Path) -> i32 {
    if code != 255 {
        return code;
    }
    let text = std::fs::read_to_string(log).unwrap_or_default();
    match text
        .lines()
        .rev()
        .find(|l| l.contains("level=error") && l.contains("exec failed"))
    {
        Some(l) => crate::error::exec_failure_code(&crate::runtime::log_message(l)),
        None => code,
    }
}

/// Runs `c` (a runtime's `exec --tty`, which relays holm's terminal itself) and waits for it, passing on
/// `SIGWINCH`: the runtime copies the terminal's new size to the process's pty when it gets one (runc's relay and
/// holm-runtime's, for a VM container too). Returns its exit code (128+N for signal N).
fn run_passing_winch(mut c: Command, bin: &str) -> Result<i32> {
    use holm_sys::signal::{self, SigSet};
    let what = || format!("run {bin} exec");
    let mut winch = SigSet::empty();
    winch.add(libc::SIGWINCH);
    // Blocked before the child exists so no resize is lost; the child starts with an empty mask (std's spawn
    // resets it).
    let old = signal::set_mask(&winch)?;
    let r = (|| -> Result<i32> {
        let sfd = signal::signalfd(&winch)?;
        let child = c.spawn().map_err(Error::io(what()))?;
        let pid = child.id() as i32;
        let pidfd = holm_sys::process::pidfd_open(pid)?;
        use std::os::fd::AsFd;
        loop {
            let ready = holm_sys::process::poll_any(&[pidfd.as_fd(), sfd.as_fd()], -1)?;
            if ready[1] {
                if let Ok(sig) = signal::read_signal(sfd.as_fd()) {
                    let _ = holm_sys::process::pidfd_send_signal(pidfd.as_fd(), sig);
                }
            }
            if ready[0] {
                let (_, st) = holm_sys::process::waitpid(pid, 0)?;
                return Ok(st.exit_code());
            }
        }
    })();
    let _ = signal::set_mask(&old);
    r
}
