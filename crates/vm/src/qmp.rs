//! A minimal client of qemu's QMP monitor (qemu's `docs/interop/qmp-spec.txt`): one JSON object per line each
//! way; the server greets first, then answers each command with `{"return": ...}` or `{"error": ...}`, with
//! asynchronous `{"event": ...}` lines in between. Only what [`crate::snapshot`] needs: capabilities
//! negotiation, commands, and passing an fd with `getfd` (`SCM_RIGHTS`).
//!
//! The monitor is a socketpair holm made (`-chardev socket,fd=N -mon mode=control`); qemu is trusted no more than
//! that: a line is at most [`MAX_LINE`] bytes and every wait is bounded by the socket's read timeout.

use std::io::{BufRead, BufReader, Write};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::net::UnixStream;
use std::time::Duration;

/// Longest QMP line read, in bytes.
pub const MAX_LINE: usize = 64 << 10;

/// A connected QMP session.
pub struct Qmp {
    sock: UnixStream,
    reader: BufReader<UnixStream>,
}

impl Qmp {
    /// Reads the greeting and negotiates capabilities (`qmp_capabilities`). Each later read waits at most
    /// `timeout`. Errors: a message naming what failed.
    pub fn connect(sock: UnixStream, timeout: Duration) -> Result<Qmp, String> {
        sock.set_read_timeout(Some(timeout))
            .map_err(|e| format!("QMP: set timeout: {e}"))?;
        let reader = BufReader::new(
            sock.try_clone()
                .map_err(|e| format!("QMP: dup socket: {e}"))?,
        );
        let mut q = Qmp { sock, reader };
        let greeting = q.read()?;
        if greeting.get("QMP").is_none() {
            return Err(format!("QMP: expected the greeting, got {greeting}"));
        }
        q.execute("qmp_capabilities", None)?;
        Ok(q)
    }

    fn read(&mut self) -> Result<serde_json::Value, String> {
        let mut line = Vec::new();
        let n = std::io::Read::take(&mut self.reader, MAX_LINE as u64)
            .read_until(b'\n', &mut line)
            .map_err(|e| format!("QMP: read: {e}"))?;
        if n == 0 {
            return Err("QMP: qemu closed the monitor".into());
        }
        if line.last() != Some(&b'\n') {
            return Err(format!("QMP: a line longer than {MAX_LINE} bytes"));
        }
        serde_json::from_slice(&line).map_err(|e| format!("QMP: bad JSON from qemu: {e}"))
    }

    /// Runs `command` with `arguments`; its `return` value. Events that arrive meanwhile are skipped.
    /// Errors: qemu's error (`class: desc`) or a transport error.
    pub fn execute(
        &mut self,
        command: &str,
        arguments: Option<serde_json::Value>,
    ) -> Result<serde_json::Value, String> {
        self.execute_with_fd(command, arguments, None)
    }

    /// [`Qmp::execute`], passing `fd` along with the command (`SCM_RIGHTS`), as `getfd` and `add-fd` expect.
    pub fn execute_with_fd(
        &mut self,
        command: &str,
        arguments: Option<serde_json::Value>,
        fd: Option<BorrowedFd<'_>>,
    ) -> Result<serde_json::Value, String> {
        let mut msg = serde_json::json!({ "execute": command });
        if let Some(a) = arguments {
            msg["arguments"] = a;
        }
        let mut bytes = serde_json::to_vec(&msg).map_err(|e| e.to_string())?;
        bytes.push(b'\n');
        match fd {
            Some(fd) => holm_sys::socket::send_with_fds(self.sock.as_fd(), &bytes, &[fd])
                .map_err(|e| format!("QMP {command}: {e}"))?,
            None => self
                .sock
                .write_all(&bytes)
                .map_err(|e| format!("QMP {command}: {e}"))?,
        }
        loop {
            let v = self.read()?;
            if let Some(r) = v.get("return") {
                return Ok(r.clone());
            }
            if let Some(e) = v.get("error") {
                let class = e.get("class").and_then(|c| c.as_str()).unwrap_or("?");
                let desc = e.get("desc").and_then(|c| c.as_str()).unwrap_or("?");
                return Err(format!("QMP {command}: {class}: {desc}"));
            }
            if v.get("event").is_none() {
                return Err(format!("QMP {command}: unexpected reply {v}"));
            }
        }
    }
}
