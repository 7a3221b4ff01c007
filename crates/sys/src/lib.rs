//! `holm-sys`: the only crate in holm with `unsafe` code.
//!
//! Each function is a thin, safe wrapper over one Linux system call (man section 2) or a small fixed sequence of
//! them. Every failure is an [`Error`] that names the system call, the object it acted on (a path, an fd, a pid)
//! and the `errno`, so that a caller can print one line that says what broke:
//! ``mount `proc` on `/proc`: Operation not permitted (os error 1)``.
//!
//! Invariants the wrappers rely on are stated in `// SAFETY:` comments next to each `unsafe` block.

pub mod bpf;
pub mod fs;
pub mod mount;
pub mod mount_attr;
pub mod netlink;
pub mod ns;
pub mod process;
pub mod random;
pub mod sched;
pub mod signal;
pub mod socket;
pub mod tty;
pub mod tun;

use std::ffi::CString;
use std::fmt;
use std::io;

/// A failed system call: which call, on what, and the `errno` it returned.
#[derive(Debug)]
pub struct Error {
    /// The system call (or libc function) name, e.g. `"openat2"`.
    pub syscall: &'static str,
    /// What the call acted on: a path, `fd N`, `pid N`; empty when nothing is worth naming.
    pub target: String,
    /// The OS error (`errno`).
    pub source: io::Error,
}

impl Error {
    /// Builds an error from the current `errno`.
    pub fn last(syscall: &'static str, target: impl Into<String>) -> Self {
        Error {
            syscall,
            target: target.into(),
            source: io::Error::last_os_error(),
        }
    }

    /// Builds an error from an explicit `errno` value.
    pub fn from_errno(syscall: &'static str, target: impl Into<String>, errno: i32) -> Self {
        Error {
            syscall,
            target: target.into(),
            source: io::Error::from_raw_os_error(errno),
        }
    }

    /// The raw `errno`, or 0 if the error did not come from the OS.
    pub fn errno(&self) -> i32 {
        self.source.raw_os_error().unwrap_or(0)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.target.is_empty() {
            write!(f, "{}: {}", self.syscall, self.source)
        } else {
            write!(f, "{} `{}`: {}", self.syscall, self.target, self.source)
        }
    }
}

// No `source()`: `Display` already ends with the OS error, and a chain printer (anyhow's `{:#}`) would repeat it
// ("sendmsg `socket 5`: Message too long (os error 90): Message too long (os error 90)"). `errno()` and the `source`
// field give the OS error to code that needs it.
impl std::error::Error for Error {}

impl From<Error> for io::Error {
    fn from(e: Error) -> io::Error {
        io::Error::new(e.source.kind(), e.to_string())
    }
}

/// Result of a holm-sys call.
pub type Result<T> = std::result::Result<T, Error>;

/// Converts a Rust string into a C string, failing with `EINVAL` (naming the call) if it holds a NUL byte.
pub(crate) fn cstr(syscall: &'static str, s: &str) -> Result<CString> {
    CString::new(s).map_err(|_| Error::from_errno(syscall, s.replace('\0', "\\0"), libc::EINVAL))
}

/// Converts a path into a C string (see [`cstr`]).
pub(crate) fn cpath(syscall: &'static str, p: &std::path::Path) -> Result<CString> {
    use std::os::unix::ffi::OsStrExt;
    CString::new(p.as_os_str().as_bytes())
        .map_err(|_| Error::from_errno(syscall, p.display().to_string(), libc::EINVAL))
}

/// Maps a `-1` return into an [`Error`] built from `errno`.
pub(crate) fn check(
    ret: libc::c_long,
    syscall: &'static str,
    target: impl FnOnce() -> String,
) -> Result<libc::c_long> {
    if ret == -1 {
        Err(Error::last(syscall, target()))
    } else {
        Ok(ret)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errno_is_printed_once_in_an_error_chain() {
        let e = Error::from_errno("sendmsg", "socket 5", libc::EMSGSIZE);
        let text = e.to_string();
        assert!(text.starts_with("sendmsg `socket 5`: "), "{text}");
        assert_eq!(e.errno(), libc::EMSGSIZE);
        // A chain printer appends every source after the message: there must be none to repeat the errno.
        assert!(std::error::Error::source(&e).is_none());
    }
}
