//! `holm exec` (and the API's exec): a process in a running container, through holm-container's exec or an
//! external runtime's, with docker's `exec_create`/`exec_start`/`exec_die` events.

use crate::db::{ContainerRecord, State};
use crate::lifecycle::not_running;
use crate::{ids, ops, Engine, Error, Result};
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
        if rec.config.is_vm() {
            for (flag, set) in [("--tty", req.tty), ("--detach", req.detach)] {
                if set {
                    return Err(Error::flag(
                        flag,
                        "true",
                        "not supported in a container with --isolation vm yet",
                    ));
                }
            }
        }
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
        let crate::runtime::Runtime::Oci { root, .. } = self.runtime_for(Some(bin)) else {
            unreachable!("an external runtime")
        };
        let mut c = Command::new(bin);
        c.arg("--root").arg(root).arg("exec");
        if req.tty {
            c.arg("--tty");
        }
        if req.detach {
            c.arg("--detach");
        }
        if let Some(w) = &req.workdir {
            c.arg("--cwd").arg(w);
        }
        for e in &req.env {
            c.arg("--env").arg(e);
        }
        if let Some((u, g)) = user {
            c.arg("--user").arg(format!("{u}:{g}"));
        }
        for g in additional_gids {
            c.arg("--additional-gids").arg(g.to_string());
        }
        c.arg(id).args(&req.cmd);
        let st = c.status().map_err(Error::io(format!("run {bin} exec")))?;
        Ok(st.code().unwrap_or_else(|| {
            128 + std::os::unix::process::ExitStatusExt::signal(&st).unwrap_or(0)
        }))
    }
}
