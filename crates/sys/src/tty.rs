//! Pseudo-terminals (pty(7)): open a master on a devpts `ptmx`, get its peer, make it the controlling terminal,
//! and set its window size (tty_ioctl(4)).

use crate::{check, Result};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

const TIOCGPTPEER: libc::c_ulong = 0x5441;

/// Unlocks the pty master `master` (`TIOCSPTLCK` 0) and opens its peer (`TIOCGPTPEER`, Linux ≥ 4.13), which
/// resolves the peer inside the master's own devpts instance without any path lookup. Returns (peer fd, pty number).
pub fn open_peer(master: BorrowedFd<'_>) -> Result<(OwnedFd, u32)> {
    let unlock: libc::c_int = 0;
    // SAFETY: TIOCSPTLCK reads one int from the pointer we pass.
    let ret = unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCSPTLCK, &unlock) };
    check(ret as _, "ioctl(TIOCSPTLCK)", || "ptmx".into())?;
    let mut num: libc::c_uint = 0;
    // SAFETY: TIOCGPTN writes one unsigned int to the pointer we pass.
    let ret = unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCGPTN, &mut num) };
    check(ret as _, "ioctl(TIOCGPTN)", || "ptmx".into())?;
    // SAFETY: TIOCGPTPEER takes open flags by value and returns a new fd.
    let fd = unsafe {
        libc::ioctl(
            master.as_raw_fd(),
            TIOCGPTPEER,
            libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC,
        )
    };
    check(fd as _, "ioctl(TIOCGPTPEER)", || "ptmx".into())?;
    // SAFETY: the kernel returned a new fd that nothing else owns.
    Ok((unsafe { OwnedFd::from_raw_fd(fd as RawFd) }, num))
}

/// `ioctl(fd, TIOCSCTTY, 0)`: makes the terminal the caller's controlling terminal (caller must be a session
/// leader without one).
pub fn set_controlling(fd: BorrowedFd<'_>) -> Result<()> {
    // SAFETY: TIOCSCTTY takes an integer argument.
    let ret = unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCSCTTY, 0) };
    check(ret as _, "ioctl(TIOCSCTTY)", || {
        format!("fd {}", fd.as_raw_fd())
    })
    .map(drop)
}

/// `ioctl(fd, TIOCSWINSZ)`: sets the window size in character cells.
pub fn set_winsize(fd: BorrowedFd<'_>, rows: u16, cols: u16) -> Result<()> {
    let ws = libc::winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ reads one winsize struct from the pointer.
    let ret = unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCSWINSZ, &ws) };
    check(ret as _, "ioctl(TIOCSWINSZ)", || {
        format!("fd {}", fd.as_raw_fd())
    })
    .map(drop)
}

/// True if `fd` is a terminal.
pub fn is_terminal(fd: BorrowedFd<'_>) -> bool {
    // SAFETY: isatty takes an fd and only queries it.
    unsafe { libc::isatty(fd.as_raw_fd()) == 1 }
}

/// `ioctl(fd, TIOCGWINSZ)`: the window size as (rows, columns).
pub fn get_winsize(fd: BorrowedFd<'_>) -> Result<(u16, u16)> {
    // SAFETY: winsize is a plain C struct; all-zero is a valid value.
    let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
    // SAFETY: TIOCGWINSZ writes one winsize struct to the pointer, which points to `ws`.
    let ret = unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCGWINSZ, &mut ws) };
    check(ret as _, "ioctl(TIOCGWINSZ)", || {
        format!("fd {}", fd.as_raw_fd())
    })?;
    Ok((ws.ws_row, ws.ws_col))
}

/// A terminal's saved attributes, from [`make_raw`], for [`restore_attrs`].
#[derive(Clone, Copy)]
pub struct Termios(libc::termios);

impl std::fmt::Debug for Termios {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Termios")
    }
}

/// Puts the terminal `fd` in raw mode (`cfmakeraw`: no echo, no line editing, no signals from keys) and returns its
/// previous attributes.
pub fn make_raw(fd: BorrowedFd<'_>) -> Result<Termios> {
    // SAFETY: termios is a plain C struct; all-zero is a valid value that tcgetattr overwrites.
    let mut t: libc::termios = unsafe { std::mem::zeroed() };
    // SAFETY: tcgetattr writes one termios struct to the pointer, which points to `t`.
    let ret = unsafe { libc::tcgetattr(fd.as_raw_fd(), &mut t) };
    check(ret as _, "tcgetattr", || format!("fd {}", fd.as_raw_fd()))?;
    let saved = Termios(t);
    // SAFETY: cfmakeraw only modifies the struct it is given.
    unsafe { libc::cfmakeraw(&mut t) };
    // SAFETY: tcsetattr reads one termios struct from the pointer.
    let ret = unsafe { libc::tcsetattr(fd.as_raw_fd(), libc::TCSANOW, &t) };
    check(ret as _, "tcsetattr", || format!("fd {}", fd.as_raw_fd()))?;
    Ok(saved)
}

/// Restores attributes saved by [`make_raw`] (`tcsetattr(TCSANOW)`).
pub fn restore_attrs(fd: BorrowedFd<'_>, t: &Termios) -> Result<()> {
    // SAFETY: tcsetattr reads one termios struct from the pointer, which points into `t`.
    let ret = unsafe { libc::tcsetattr(fd.as_raw_fd(), libc::TCSANOW, &t.0) };
    check(ret as _, "tcsetattr", || format!("fd {}", fd.as_raw_fd())).map(drop)
}
