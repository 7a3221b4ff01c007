//! Signals: the signal mask, dispositions and `signalfd(2)`; used to forward signals to a container and to hand a
//! clean signal state to the container process.

use crate::{check, Error, Result};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

/// A set of signals (`sigset_t`).
#[derive(Clone, Copy)]
pub struct SigSet(libc::sigset_t);

impl SigSet {
    /// Every signal.
    pub fn all() -> SigSet {
        let mut s = std::mem::MaybeUninit::<libc::sigset_t>::uninit();
        // SAFETY: sigfillset initialises the set it is given.
        unsafe { libc::sigfillset(s.as_mut_ptr()) };
        // SAFETY: initialised just above.
        SigSet(unsafe { s.assume_init() })
    }

    /// No signal.
    pub fn empty() -> SigSet {
        let mut s = std::mem::MaybeUninit::<libc::sigset_t>::uninit();
        // SAFETY: sigemptyset initialises the set it is given.
        unsafe { libc::sigemptyset(s.as_mut_ptr()) };
        // SAFETY: initialised just above.
        SigSet(unsafe { s.assume_init() })
    }

    /// Adds signal `sig` (sigaddset(3)); a number outside 1..=64 is ignored (the call fails with `EINVAL`).
    pub fn add(&mut self, sig: i32) {
        // SAFETY: `self.0` is an initialised sigset_t owned by `self`.
        unsafe { libc::sigaddset(&mut self.0, sig) };
    }
}

/// `sigprocmask(SIG_SETMASK, set)`, returning the previous mask.
pub fn set_mask(set: &SigSet) -> Result<SigSet> {
    let mut old = SigSet::empty();
    // SAFETY: both pointers are valid sigset_t values owned by this frame.
    let ret = unsafe { libc::sigprocmask(libc::SIG_SETMASK, &set.0, &mut old.0) };
    check(ret as _, "sigprocmask", String::new)?;
    Ok(old)
}

/// Every signal blocked (as [`set_mask`] of [`SigSet::all`]) until this is dropped, for a foreground command that
/// must not die of a signal while it sets a container up (docker forwards the signal to the container once it
/// runs; a `signalfd` taken meanwhile reads the pending ones). On drop, signals still pending are discarded (the
/// container they were meant for never ran) and the previous mask is restored. Children forked raw (not through
/// `std::process::Command`, which empties the mask) inherit the blocked mask and must unblock themselves.
pub struct Held {
    old: SigSet,
}

/// Blocks every signal until the returned [`Held`] is dropped. Errors: `sigprocmask` failed.
pub fn hold_all() -> Result<Held> {
    Ok(Held {
        old: set_mask(&SigSet::all())?,
    })
}

impl Drop for Held {
    fn drop(&mut self) {
        if let Ok(fd) = signalfd(&SigSet::all()) {
            let mut p = libc::pollfd {
                fd: fd.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: one valid pollfd; a zero timeout never blocks.
            while unsafe { libc::poll(&mut p, 1, 0) } == 1 && p.revents & libc::POLLIN != 0 {
                if read_signal(fd.as_fd()).is_err() {
                    break;
                }
            }
        }
        let _ = set_mask(&self.old);
    }
}

/// Sets every catchable signal's disposition back to `SIG_DFL` (the Rust runtime ignores `SIGPIPE`, and an
/// ignored signal stays ignored across `execve`) and unblocks all signals.
pub fn reset_all() -> Result<()> {
    for sig in 1..=64 {
        if sig == libc::SIGKILL || sig == libc::SIGSTOP {
            continue;
        }
        // SAFETY: installing SIG_DFL involves no handler code; invalid numbers (32/33, used by glibc) just fail.
        unsafe { libc::signal(sig, libc::SIG_DFL) };
    }
    set_mask(&SigSet::empty()).map(drop)
}

/// Restores the default `SIGPIPE` action (the Rust runtime ignores it), so that writing to a closed pipe ends the
/// process silently, killed by `SIGPIPE`, as it does a Go program writing to its stdout (runc):
/// `holm-runtime events ID | head -1` then ends without an error message. Only for processes that fork no
/// container (the disposition would be inherited).
pub fn default_sigpipe() -> Result<()> {
    // SAFETY: installing SIG_DFL runs no handler code and touches no Rust state.
    if unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) } == libc::SIG_ERR {
        return Err(Error::last("signal", "SIGPIPE"));
    }
    Ok(())
}

extern "C" fn exit_with_signal(sig: libc::c_int) {
    // SAFETY: _exit is async-signal-safe and never returns.
    unsafe { libc::_exit(128 + sig) }
}

/// The signals a created container's init exits on ([`exit_on_termination_signals`]).
const TERMINATION_SIGNALS: [i32; 6] = [
    libc::SIGHUP,
    libc::SIGINT,
    libc::SIGQUIT,
    libc::SIGTERM,
    libc::SIGUSR1,
    libc::SIGUSR2,
];

/// Installs a handler that ends the process with status 128+N for SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1 and
/// SIGUSR2. A container init waiting for `start` is pid 1 of its pid namespace, to which the kernel delivers only
/// signals it handles; runc's init (a Go program) exits on these, and `kill` of a created container relies on it.
/// [`reset_all`] restores the defaults before `execve`.
pub fn exit_on_termination_signals() -> Result<()> {
    for sig in TERMINATION_SIGNALS {
        // SAFETY: the handler only calls the async-signal-safe _exit; installing it touches no Rust state.
        let prev =
            unsafe { libc::signal(sig, exit_with_signal as *const () as libc::sighandler_t) };
        if prev == libc::SIG_ERR {
            return Err(Error::last("signal", sig.to_string()));
        }
    }
    let mut set = SigSet::empty();
    for sig in TERMINATION_SIGNALS {
        // SAFETY: `set` is an initialised sigset_t.
        unsafe { libc::sigaddset(&mut set.0, sig) };
    }
    // SAFETY: unblocks only these signals; both pointers are valid (the old set is not wanted).
    let ret = unsafe { libc::sigprocmask(libc::SIG_UNBLOCK, &set.0, std::ptr::null_mut()) };
    check(ret as _, "sigprocmask", String::new).map(drop)
}

/// `signalfd(-1, set, SFD_CLOEXEC)`: an fd from which the (blocked) signals in `set` are read.
pub fn signalfd(set: &SigSet) -> Result<OwnedFd> {
    // SAFETY: `set` points to a valid sigset_t.
    let fd = unsafe { libc::signalfd(-1, &set.0, libc::SFD_CLOEXEC) };
    check(fd as _, "signalfd", String::new)?;
    // SAFETY: the kernel returned a new fd that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// Reads one signal number from a signalfd (blocking).
pub fn read_signal(fd: BorrowedFd<'_>) -> Result<i32> {
    let mut info = std::mem::MaybeUninit::<libc::signalfd_siginfo>::uninit();
    let size = std::mem::size_of::<libc::signalfd_siginfo>();
    loop {
        // SAFETY: `info` is a buffer of exactly `size` bytes.
        let n = unsafe { libc::read(fd.as_raw_fd(), info.as_mut_ptr() as *mut libc::c_void, size) };
        if n == -1 {
            let e = Error::last("read", format!("signalfd {}", fd.as_raw_fd()));
            if e.errno() == libc::EINTR {
                continue;
            }
            return Err(e);
        }
        if n as usize != size {
            return Err(Error::from_errno("read", "signalfd: short read", libc::EIO));
        }
        // SAFETY: the kernel filled the whole struct.
        return Ok(unsafe { info.assume_init() }.ssi_signo as i32);
    }
}

/// Signal number for a name like `KILL`, `SIGKILL`, `sigterm`, `RTMIN+3`, or a decimal number (1..=64).
pub fn parse_signal(s: &str) -> Option<i32> {
    if let Ok(n) = s.parse::<i32>() {
        return (1..=64).contains(&n).then_some(n);
    }
    let up = s.to_ascii_uppercase();
    let name = up.strip_prefix("SIG").unwrap_or(&up);
    let rt = |base: i32, rest: &str| -> Option<i32> {
        let off: i32 = if rest.is_empty() {
            0
        } else {
            rest.strip_prefix('+').or(Some(rest))?.parse().ok()?
        };
        let n = base + off;
        (libc::SIGRTMIN()..=libc::SIGRTMAX())
            .contains(&n)
            .then_some(n)
    };
    if let Some(rest) = name.strip_prefix("RTMIN") {
        return rt(libc::SIGRTMIN(), rest);
    }
    if let Some(rest) = name.strip_prefix("RTMAX") {
        let r = rest.strip_prefix('-').map(|v| format!("-{v}"));
        return rt(libc::SIGRTMAX(), r.as_deref().unwrap_or(rest));
    }
    SIGNALS.iter().find(|(n, _)| *n == name).map(|(_, v)| *v)
}

/// The name (without `SIG`) of a standard signal number, e.g. `KILL` for 9; `None` for 0, real-time signals and
/// unknown numbers.
pub fn signal_name(n: i32) -> Option<&'static str> {
    SIGNALS.iter().find(|(_, v)| *v == n).map(|(name, _)| *name)
}

/// Standard signal names (without `SIG`) and numbers on Linux x86-64/arm64.
pub const SIGNALS: &[(&str, i32)] = &[
    ("HUP", libc::SIGHUP),
    ("INT", libc::SIGINT),
    ("QUIT", libc::SIGQUIT),
    ("ILL", libc::SIGILL),
    ("TRAP", libc::SIGTRAP),
    ("ABRT", libc::SIGABRT),
    ("IOT", libc::SIGIOT),
    ("BUS", libc::SIGBUS),
    ("FPE", libc::SIGFPE),
    ("KILL", libc::SIGKILL),
    ("USR1", libc::SIGUSR1),
    ("SEGV", libc::SIGSEGV),
    ("USR2", libc::SIGUSR2),
    ("PIPE", libc::SIGPIPE),
    ("ALRM", libc::SIGALRM),
    ("TERM", libc::SIGTERM),
    ("STKFLT", libc::SIGSTKFLT),
    ("CHLD", libc::SIGCHLD),
    ("CONT", libc::SIGCONT),
    ("STOP", libc::SIGSTOP),
    ("TSTP", libc::SIGTSTP),
    ("TTIN", libc::SIGTTIN),
    ("TTOU", libc::SIGTTOU),
    ("URG", libc::SIGURG),
    ("XCPU", libc::SIGXCPU),
    ("XFSZ", libc::SIGXFSZ),
    ("VTALRM", libc::SIGVTALRM),
    ("PROF", libc::SIGPROF),
    ("WINCH", libc::SIGWINCH),
    ("IO", libc::SIGIO),
    ("POLL", libc::SIGPOLL),
    ("PWR", libc::SIGPWR),
    ("SYS", libc::SIGSYS),
];

#[cfg(test)]
mod tests {
    use super::{parse_signal, signal_name};

    #[test]
    fn names_and_numbers() {
        assert_eq!(parse_signal("KILL"), Some(9));
        assert_eq!(parse_signal("SIGTERM"), Some(15));
        assert_eq!(parse_signal("sigusr1"), Some(10));
        assert_eq!(parse_signal("9"), Some(9));
        assert_eq!(parse_signal("0"), None);
        assert_eq!(parse_signal("65"), None);
        assert_eq!(parse_signal("NOPE"), None);
        assert_eq!(parse_signal("RTMIN+1"), Some(libc::SIGRTMIN() + 1));
        assert_eq!(parse_signal("RTMAX-1"), Some(libc::SIGRTMAX() - 1));
    }

    #[test]
    fn names_of_numbers() {
        assert_eq!(signal_name(9), Some("KILL"));
        assert_eq!(signal_name(15), Some("TERM"));
        assert_eq!(signal_name(0), None);
        assert_eq!(signal_name(libc::SIGRTMIN()), None);
    }
}
