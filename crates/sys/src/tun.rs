//! TUN/TAP devices (Documentation/networking/tuntap.rst): `open("/dev/net/tun")` + `ioctl(TUNSETIFF)`.

use crate::{check, Error, Result};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

/// Opens `/dev/net/tun` and attaches it to a new (or existing) tap device named `name` (at most 15 bytes) in the
/// network namespace of the calling thread, with `IFF_TAP | IFF_NO_PI`, plus `IFF_VNET_HDR` when `vnet_hdr` is set
/// (the virtio-net header qemu's `-netdev tap,fd=N,vhost=off` expects for offloads). The device is not persistent:
/// it disappears when the last fd attached to it is closed. Returns the fd (close-on-exec; the caller clears the
/// flag when handing it to qemu) and the device's name as the kernel set it.
///
/// Errors: `open /dev/net/tun` (ENOENT without the tun driver), `ioctl(TUNSETIFF)` naming the device
/// (EINVAL for a bad name, EPERM without CAP_NET_ADMIN in the netns's user namespace).
pub fn open_tap(name: &str, vnet_hdr: bool) -> Result<(OwnedFd, String)> {
    if name.is_empty()
        || name.len() >= libc::IFNAMSIZ
        || name.bytes().any(|b| b == 0 || b == b'/' || b == b' ')
    {
        return Err(Error::from_errno(
            "ioctl(TUNSETIFF)",
            name.to_string(),
            libc::EINVAL,
        ));
    }
    let path = c"/dev/net/tun";
    // SAFETY: `path` is a NUL-terminated string that outlives the call; open returns a new fd or -1.
    let fd = unsafe { libc::open(path.as_ptr(), libc::O_RDWR | libc::O_CLOEXEC) };
    check(fd as _, "open", || "/dev/net/tun".into())?;
    // SAFETY: `fd` was just returned by open and is owned by nothing else.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: ifreq is plain old data (a name array and a union of integers); all-zero is a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in req.ifr_name.iter_mut().zip(name.bytes()) {
        *dst = src as libc::c_char;
    }
    let mut flags = libc::IFF_TAP | libc::IFF_NO_PI;
    if vnet_hdr {
        flags |= libc::IFF_VNET_HDR;
    }
    req.ifr_ifru.ifru_flags = flags as libc::c_short;
    // SAFETY: TUNSETIFF reads and writes one `struct ifreq`, which `req` is and which outlives the call.
    let ret = unsafe {
        libc::ioctl(
            fd.as_raw_fd(),
            libc::TUNSETIFF,
            &mut req as *mut libc::ifreq,
        )
    };
    check(ret as _, "ioctl(TUNSETIFF)", || name.to_string())?;
    let set: Vec<u8> = req
        .ifr_name
        .iter()
        .take_while(|&&c| c != 0)
        .map(|&c| c as u8)
        .collect();
    Ok((fd, String::from_utf8_lossy(&set).into_owned()))
}
