//! Namespaces: `unshare(2)`, `setns(2)`, and the UTS names (`sethostname(2)`, `setdomainname(2)`).

use crate::{check, Result};
use std::os::fd::{AsRawFd, BorrowedFd};

pub use libc::{
    CLONE_NEWCGROUP, CLONE_NEWIPC, CLONE_NEWNET, CLONE_NEWNS, CLONE_NEWPID, CLONE_NEWTIME,
    CLONE_NEWUSER, CLONE_NEWUTS,
};

/// `unshare(flags)`: moves the calling process into new namespaces (`CLONE_NEW*`). For `CLONE_NEWPID` and
/// `CLONE_NEWTIME` only children created afterwards enter the new namespace.
pub fn unshare(flags: i32) -> Result<()> {
    // SAFETY: unshare takes only flags. The callers are single-threaded processes (a multi-threaded process cannot
    // unshare a user namespace; the kernel refuses it with EINVAL).
    let ret = unsafe { libc::unshare(flags) };
    check(ret as _, "unshare", || format!("flags {flags:#x}")).map(drop)
}

/// `setns(fd, nstype)`: joins the namespace `fd` refers to (an open `/proc/PID/ns/*` file or bind mount of one).
/// `what` names it in errors (usually its path).
pub fn setns(fd: BorrowedFd<'_>, nstype: i32, what: &str) -> Result<()> {
    // SAFETY: setns takes an fd and flags only.
    let ret = unsafe { libc::setns(fd.as_raw_fd(), nstype) };
    check(ret as _, "setns", || what.to_string()).map(drop)
}

/// `sethostname(name)`; the caller must be in its own UTS namespace.
pub fn sethostname(name: &str) -> Result<()> {
    // SAFETY: the pointer and length describe `name`'s bytes, which outlive the call.
    let ret = unsafe { libc::sethostname(name.as_ptr() as *const libc::c_char, name.len()) };
    check(ret as _, "sethostname", || name.to_string()).map(drop)
}

/// `setdomainname(name)` (the NIS domain name of the UTS namespace).
pub fn setdomainname(name: &str) -> Result<()> {
    // SAFETY: the pointer and length describe `name`'s bytes, which outlive the call.
    let ret = unsafe { libc::setdomainname(name.as_ptr() as *const libc::c_char, name.len()) };
    check(ret as _, "setdomainname", || name.to_string()).map(drop)
}
