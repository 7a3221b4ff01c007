//! The typed sync channel between the runtime (P), the stage-1 child (C1) and the container init (C2): a
//! `SOCK_SEQPACKET` socketpair carrying one JSON-encoded [`Msg`] per packet. Each `wait_*` method names the one
//! message it waits for; an [`Msg::Error`] from the other side, an unexpected message, or EOF becomes an error
//! that says what was awaited.

use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};

/// One message of the create protocol, in the order they flow.
#[derive(Debug, Serialize, Deserialize)]
pub enum Msg {
    /// P → C1: C1 is in the container's cgroup; go on.
    Go,
    /// C1 → P: C1 made a new user namespace; write its uid/gid maps.
    UserNsReady,
    /// P → C1: maps written.
    MapsWritten,
    /// C1 → P: host pid of the container init (C2).
    InitPid(i32),
    /// C2 → P: mounts are done; run `prestart` and `createRuntime` hooks.
    MountsReady,
    /// P → C2: hooks ran; the state JSON for the container-side hooks, without `annotations` (C2 has the spec).
    HooksDone(String),
    /// C2 → P: the seccomp listener fd (sent with this message) for `linux.seccomp.listenerPath`.
    SeccompFd,
    /// C2 → P: the container is created and waits on `exec.fifo`.
    Created,
    /// P → C2: state recorded.
    Ack,
    /// C2 → P: the init no longer dies with the runtime (`PR_SET_PDEATHSIG` cleared); the runtime may exit.
    Released,
    /// Any child → P: setup failed with this message.
    Error(String),
}

/// One end of the channel.
#[derive(Debug)]
pub struct Channel {
    fd: OwnedFd,
}

impl Channel {
    /// A connected pair (both ends close-on-exec).
    pub fn pair() -> Result<(Channel, Channel)> {
        let (a, b) = holm_sys::socket::seqpacket_pair()?;
        Ok((Channel { fd: a }, Channel { fd: b }))
    }

    /// Sends one message. A peer that is gone gives [`Error::PeerGone`].
    pub fn send(&self, m: &Msg) -> Result<()> {
        self.send_fds(m, &[])
    }

    fn send_fds(&self, m: &Msg, fds: &[BorrowedFd<'_>]) -> Result<()> {
        let bytes = serde_json::to_vec(m).expect("Msg always serialises");
        match holm_sys::socket::send_with_fds(self.fd.as_fd(), &bytes, fds) {
            Ok(_) => Ok(()),
            Err(e) if matches!(e.errno(), libc::EPIPE | libc::ECONNRESET) => Err(Error::PeerGone {
                during: format!("sending {}", msg_name(m)),
            }),
            Err(e) => Err(e.into()),
        }
    }

    /// The last message left unread on the channel if it is an [`Msg::Error`] (what a process that died said
    /// before it went), without blocking.
    pub fn pending_error(&self) -> Option<String> {
        let mut last = None;
        // Only reads what is queued: a live peer must not make this block.
        while holm_sys::process::poll_any(&[self.fd.as_fd()], 0)
            .ok()
            .is_some_and(|r| r[0])
        {
            match self.recv() {
                Ok(Some(Msg::Error(e))) => last = Some(e),
                Ok(Some(_)) => {}
                Ok(None) | Err(_) => break,
            }
        }
        last
    }

    /// Receives one message; `None` when the peer closed its end.
    pub fn recv(&self) -> Result<Option<Msg>> {
        let mut buf = vec![0u8; 64 * 1024];
        let Some((n, _)) = recv_or_gone(self.fd.as_fd(), &mut buf)? else {
            return Ok(None);
        };
        serde_json::from_slice(&buf[..n])
            .map(Some)
            .map_err(|e| Error::Init(format!("sync channel: malformed message: {e}")))
    }

    fn wait<T>(
        &self,
        what: &str,
        pick: impl FnOnce(Msg) -> std::result::Result<T, Msg>,
    ) -> Result<T> {
        match self.recv()? {
            None => Err(Error::PeerGone {
                during: format!("waiting for {what}"),
            }),
            Some(Msg::Error(e)) => Err(Error::Init(e)),
            Some(m) => pick(m)
                .map_err(|m| Error::Init(format!("sync channel: expected {what}, got {m:?}"))),
        }
    }

    /// C1 waits for [`Msg::Go`].
    pub fn wait_go(&self) -> Result<()> {
        self.wait("Go", |m| if let Msg::Go = m { Ok(()) } else { Err(m) })
    }

    /// P waits for [`Msg::UserNsReady`].
    pub fn wait_userns_ready(&self) -> Result<()> {
        self.wait("UserNsReady", |m| {
            if let Msg::UserNsReady = m {
                Ok(())
            } else {
                Err(m)
            }
        })
    }

    /// C1 waits for [`Msg::MapsWritten`].
    pub fn wait_maps_written(&self) -> Result<()> {
        self.wait("MapsWritten", |m| {
            if let Msg::MapsWritten = m {
                Ok(())
            } else {
                Err(m)
            }
        })
    }

    /// P waits for [`Msg::InitPid`].
    pub fn wait_init_pid(&self) -> Result<i32> {
        self.wait("InitPid", |m| {
            if let Msg::InitPid(p) = m {
                Ok(p)
            } else {
                Err(m)
            }
        })
    }

    /// P waits for [`Msg::MountsReady`].
    pub fn wait_mounts_ready(&self) -> Result<()> {
        self.wait("MountsReady", |m| {
            if let Msg::MountsReady = m {
                Ok(())
            } else {
                Err(m)
            }
        })
    }

    /// C2 waits for [`Msg::HooksDone`] and returns the state JSON.
    pub fn wait_hooks_done(&self) -> Result<String> {
        self.wait("HooksDone", |m| {
            if let Msg::HooksDone(s) = m {
                Ok(s)
            } else {
                Err(m)
            }
        })
    }

    /// Sends one message with one fd attached (`SCM_RIGHTS`).
    pub fn send_fd(&self, m: &Msg, fd: BorrowedFd<'_>) -> Result<()> {
        self.send_fds(m, &[fd])
    }

    /// P waits for [`Msg::Created`]; each [`Msg::SeccompFd`] before it is handed to `on_seccomp_fd`.
    pub fn wait_created_forwarding(
        &self,
        on_seccomp_fd: &mut dyn FnMut(OwnedFd) -> Result<()>,
    ) -> Result<()> {
        loop {
            let mut buf = vec![0u8; 64 * 1024];
            let (n, mut fds) = recv_or_gone(self.fd.as_fd(), &mut buf)?.unwrap_or_default();
            if n == 0 {
                return Err(Error::PeerGone {
                    during: "waiting for Created".into(),
                });
            }
            let m: Msg = serde_json::from_slice(&buf[..n])
                .map_err(|e| Error::Init(format!("sync channel: malformed message: {e}")))?;
            match m {
                Msg::Created => return Ok(()),
                Msg::Error(e) => return Err(Error::Init(e)),
                Msg::SeccompFd if fds.len() == 1 => on_seccomp_fd(fds.remove(0))?,
                m => {
                    return Err(Error::Init(format!(
                        "sync channel: expected Created, got {m:?}"
                    )))
                }
            }
        }
    }

    /// P waits for [`Msg::Created`].
    pub fn wait_created(&self) -> Result<()> {
        self.wait("Created", |m| {
            if let Msg::Created = m {
                Ok(())
            } else {
                Err(m)
            }
        })
    }

    /// C2 waits for [`Msg::Ack`].
    pub fn wait_ack(&self) -> Result<()> {
        self.wait("Ack", |m| if let Msg::Ack = m { Ok(()) } else { Err(m) })
    }

    /// P waits for [`Msg::Released`].
    pub fn wait_released(&self) -> Result<()> {
        self.wait("Released", |m| {
            if let Msg::Released = m {
                Ok(())
            } else {
                Err(m)
            }
        })
    }

    /// The raw fd (to keep it open across steps that close others).
    pub fn raw(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

/// One packet; `None` when the peer is gone: EOF, or `ECONNRESET` (a peer that died with messages of ours unread).
fn recv_or_gone(fd: BorrowedFd<'_>, buf: &mut [u8]) -> Result<Option<(usize, Vec<OwnedFd>)>> {
    match holm_sys::socket::recv_with_fds(fd, buf) {
        Ok((0, _)) => Ok(None),
        Ok(r) => Ok(Some(r)),
        Err(e) if e.errno() == libc::ECONNRESET => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// The variant's name, for messages (`HooksDone`, not its payload).
fn msg_name(m: &Msg) -> &'static str {
    match m {
        Msg::Go => "Go",
        Msg::UserNsReady => "UserNsReady",
        Msg::MapsWritten => "MapsWritten",
        Msg::InitPid(_) => "InitPid",
        Msg::MountsReady => "MountsReady",
        Msg::HooksDone(_) => "HooksDone",
        Msg::SeccompFd => "SeccompFd",
        Msg::Created => "Created",
        Msg::Ack => "Ack",
        Msg::Released => "Released",
        Msg::Error(_) => "Error",
    }
}

impl AsFd for Channel {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}
