//! The kernel's random number generator (random(4), random(7)) and the wall clock (clock_settime(2)).

use crate::{check, Result};
use std::os::fd::{AsRawFd, BorrowedFd};

/// Fills `buf` from the kernel's CRNG (`getrandom(2)`, blocking until it is initialised).
pub fn getrandom(buf: &mut [u8]) -> Result<()> {
    let mut done = 0;
    while done < buf.len() {
        // SAFETY: the pointer and length describe the unwritten tail of `buf`, which lives for the call.
        let ret = unsafe { libc::getrandom(buf[done..].as_mut_ptr().cast(), buf.len() - done, 0) };
        match check(ret as _, "getrandom", String::new) {
            Ok(n) => done += n as usize,
            Err(e) if e.errno() == libc::EINTR => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// `RNDADDENTROPY` (`_IOW('R', 0x03, int[2])`).
const RNDADDENTROPY: libc::c_ulong = 0x4008_5203;
/// `RNDRESEEDCRNG` (`_IO('R', 0x07)`).
const RNDRESEEDCRNG: libc::c_ulong = 0x5207;

/// Mixes `bytes` into the kernel's input pool, credited as `8 * bytes.len()` bits of entropy
/// (`ioctl(RNDADDENTROPY)` on an open `/dev/random` or `/dev/urandom`; needs `CAP_SYS_ADMIN`), then forces the CRNG
/// to reseed from the pool at once (`RNDRESEEDCRNG`), so the next read of `/dev/urandom` depends on them.
/// At most 4096 bytes.
pub fn add_entropy_and_reseed(dev: BorrowedFd<'_>, bytes: &[u8]) -> Result<()> {
    let target = || format!("fd {}", dev.as_raw_fd());
    if bytes.len() > 4096 {
        return Err(crate::Error::from_errno(
            "ioctl(RNDADDENTROPY)",
            target(),
            libc::EINVAL,
        ));
    }
    // struct rand_pool_info { int entropy_count; int buf_size; __u32 buf[]; }
    let mut info = Vec::with_capacity(8 + bytes.len().next_multiple_of(4));
    info.extend_from_slice(&((bytes.len() * 8) as i32).to_ne_bytes());
    info.extend_from_slice(&(bytes.len() as i32).to_ne_bytes());
    info.extend_from_slice(bytes);
    info.resize(8 + bytes.len().next_multiple_of(4), 0);
    // SAFETY: `info` is a complete rand_pool_info whose buf_size matches the bytes that follow; the kernel only
    // reads it.
    let ret = unsafe { libc::ioctl(dev.as_raw_fd(), RNDADDENTROPY as _, info.as_ptr()) };
    check(ret as _, "ioctl(RNDADDENTROPY)", target)?;
    // SAFETY: RNDRESEEDCRNG takes no argument.
    let ret = unsafe { libc::ioctl(dev.as_raw_fd(), RNDRESEEDCRNG as _) };
    check(ret as _, "ioctl(RNDRESEEDCRNG)", target)?;
    Ok(())
}

/// Sets `CLOCK_REALTIME` to `ns` nanoseconds since the epoch (`clock_settime(2)`; needs `CAP_SYS_TIME`).
pub fn set_realtime_ns(ns: u64) -> Result<()> {
    let ts = libc::timespec {
        tv_sec: (ns / 1_000_000_000) as libc::time_t,
        tv_nsec: (ns % 1_000_000_000) as libc::c_long,
    };
    // SAFETY: `ts` is a valid timespec for the duration of the call.
    let ret = unsafe { libc::clock_settime(libc::CLOCK_REALTIME, &ts) };
    check(ret as _, "clock_settime(CLOCK_REALTIME)", String::new)?;
    Ok(())
}

/// `CLOCK_REALTIME` in nanoseconds since the epoch.
pub fn realtime_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    #[test]
    fn getrandom_fills_and_ioctl_numbers_match_the_uapi() {
        let (mut a, mut b) = ([0u8; 32], [0u8; 32]);
        super::getrandom(&mut a).unwrap();
        super::getrandom(&mut b).unwrap();
        assert_ne!(a, b);
        // _IOW('R', 0x03, int[2]): dir write (1) << 30 | size 8 << 16 | 'R' << 8 | 3.
        assert_eq!(
            super::RNDADDENTROPY,
            (1 << 30) | (8 << 16) | (0x52 << 8) | 3
        );
        assert_eq!(super::RNDRESEEDCRNG, (0x52 << 8) | 7);
    }
}
