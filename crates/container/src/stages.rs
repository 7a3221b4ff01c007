//! What the child stages of `create` ([`crate::init`]) and `exec` ([`crate::tenant`]) share: the namespace to
//! join, the stage-1 entry point (close the runtime's fds, run, report an error over the channel, exit), becoming
//! root of a user namespace, and forking stage 2 as the runtime's child.

use crate::channel::{Channel, Msg};
use crate::{Error, Result};
use holm_sys::process::{exit_now, Fork};
use std::os::fd::{AsFd, OwnedFd, RawFd};

/// A namespace to join: an open namespace file (a `linux.namespaces[i].path` for `create`, `/proc/<init>/ns/<name>`
/// for `exec`) and its `CLONE_NEW*` type.
#[derive(Debug)]
pub struct JoinNs {
    /// `CLONE_NEW*` flag.
    pub flag: i32,
    /// The open namespace file.
    pub fd: OwnedFd,
    /// Its path (for errors).
    pub path: String,
    /// The config field it comes from (`linux.namespaces[2].path`), named in errors; `None` for the init's own
    /// namespace files that `exec` joins.
    pub field: Option<String>,
}

impl JoinNs {
    /// `setns` into it. An error names the config field when there is one: ``config.json:
    /// `linux.namespaces[2].path`: `/proc/1/ns/uts`: setns: Invalid argument (os error 22)``; otherwise
    /// ``setns `/proc/42/ns/net`: …``.
    pub fn enter(&self) -> Result<()> {
        match &self.field {
            None => Ok(holm_sys::ns::setns(self.fd.as_fd(), self.flag, &self.path)?),
            Some(field) => holm_sys::ns::setns(self.fd.as_fd(), self.flag, "")
                .map_err(|e| Error::config(field.clone(), format!("`{}`: {e}", self.path))),
        }
    }
}

/// A stage-1 child's whole life: closes the runtime's fds it inherited (`close`: its lock on the state directory,
/// its end of the channel), runs `body`, and exits 0, or sends the error to the runtime as [`Msg::Error`] and
/// exits 1.
pub(crate) fn run_stage1(chan: &Channel, close: &[RawFd], body: impl FnOnce() -> Result<()>) -> ! {
    for fd in close {
        holm_sys::process::close_inherited(*fd);
    }
    match body() {
        Ok(()) => exit_now(0),
        Err(e) => {
            let _ = chan.send(&Msg::Error(e.to_string()));
            exit_now(1)
        }
    }
}

/// Becomes uid and gid 0 of the user namespace just created or joined (0 must be mapped): the host ids are
/// unmapped there, and a file created with an unmapped fsuid (a device node, a pty) fails with `EOVERFLOW`.
pub(crate) fn become_userns_root() -> Result<()> {
    let err = |e: holm_sys::Error| Error::Init(format!("become root in the user namespace: {e}"));
    holm_sys::process::set_gid(0).map_err(err)?;
    holm_sys::process::set_uid(0).map_err(err)
}

/// Forks stage 2 with `CLONE_PARENT` (the runtime becomes its parent and can wait for it; it lives in the pid and
/// time namespaces stage 1 entered, which only apply to children), sends its pid to the runtime as
/// [`Msg::InitPid`], and returns. The child runs `stage2(args)`, but only after that message is out: it shares the
/// channel end, and a message of its own sent first would reach the runtime out of order. It waits for EOF on a
/// pipe whose write end only stage 1 holds (closed when stage 1 exits or returns here).
///
/// Errors: the pipe or the fork failed; `ENOMEM` from the fork means the pid namespace's init has exited (the
/// kernel takes no new process into it).
pub(crate) fn fork_stage2<A>(chan: &Channel, args: &A, stage2: fn(&A) -> !) -> Result<()> {
    let (mut sent_r, sent_w) = std::io::pipe().map_err(|e| Error::io("pipe", "", e))?;
    let forked = holm_sys::process::fork_sibling().map_err(|e| {
        if e.errno() == libc::ENOMEM {
            Error::Init(
                "the container's init exited: its pid namespace takes no new process".into(),
            )
        } else {
            e.into()
        }
    })?;
    match forked {
        Fork::Child => {
            drop(sent_w);
            let _ = std::io::Read::read(&mut sent_r, &mut [0u8; 1]);
            drop(sent_r);
            stage2(args)
        }
        Fork::Parent(pid) => chan.send(&Msg::InitPid(pid)),
    }
}
