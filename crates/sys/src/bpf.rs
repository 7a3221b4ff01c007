//! `bpf(2)`, only as far as cgroup v2 device control needs it: load a `BPF_PROG_TYPE_CGROUP_DEVICE` program,
//! attach it to a cgroup, list the programs attached there, and detach one (`linux/bpf.h`,
//! `Documentation/admin-guide/cgroup-v2.rst` § "Device controller").
//!
//! The program itself is built by the caller as plain [`Insn`] values (no `unsafe` needed for that); the kernel's
//! verifier checks it at load time, and its log is returned in the error when it refuses.

use crate::{check, Error, Result};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

/// `BPF_PROG_TYPE_CGROUP_DEVICE`.
pub const PROG_TYPE_CGROUP_DEVICE: u32 = 15;
/// `BPF_CGROUP_DEVICE` attach type.
pub const ATTACH_CGROUP_DEVICE: u32 = 6;
/// `BPF_F_ALLOW_MULTI`: several programs may be attached to one cgroup; all must allow an access.
pub const F_ALLOW_MULTI: u32 = 1 << 1;

const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_PROG_ATTACH: libc::c_long = 8;
const BPF_PROG_DETACH: libc::c_long = 9;
const BPF_PROG_GET_FD_BY_ID: libc::c_long = 13;
const BPF_PROG_QUERY: libc::c_long = 16;

/// One eBPF instruction (`struct bpf_insn`): opcode, destination and source register (4 bits each, destination
/// in the low nibble as on little-endian machines), offset, immediate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(C)]
pub struct Insn {
    /// Opcode (`BPF_ALU | BPF_MOV | BPF_K`, ...).
    pub code: u8,
    /// `dst_reg | src_reg << 4`.
    pub regs: u8,
    /// Signed offset (jump distance in instructions, or memory offset).
    pub off: i16,
    /// Signed immediate.
    pub imm: i32,
}

/// `union bpf_attr` for `BPF_PROG_LOAD` (the fields up to `expected_attach_type`; the rest stays zero).
#[repr(C)]
#[derive(Default)]
struct ProgLoadAttr {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
    prog_name: [u8; 16],
    prog_ifindex: u32,
    expected_attach_type: u32,
}

/// `union bpf_attr` for `BPF_PROG_ATTACH` / `BPF_PROG_DETACH`.
#[repr(C)]
#[derive(Default)]
struct AttachAttr {
    target_fd: u32,
    attach_bpf_fd: u32,
    attach_type: u32,
    attach_flags: u32,
    replace_bpf_fd: u32,
    _pad: u32,
}

/// `union bpf_attr` for `BPF_PROG_QUERY`.
#[repr(C)]
#[derive(Default)]
struct QueryAttr {
    target_fd: u32,
    attach_type: u32,
    query_flags: u32,
    attach_flags: u32,
    prog_ids: u64,
    prog_cnt: u32,
    _pad: u32,
}

/// `union bpf_attr` for `BPF_PROG_GET_FD_BY_ID`.
#[repr(C)]
#[derive(Default)]
struct GetFdAttr {
    prog_id: u32,
    next_id: u32,
    open_flags: u32,
}

/// `bpf(cmd, attr, sizeof *attr)`.
///
/// # Safety
///
/// `attr` must be one of the `bpf_attr` layouts above matching `cmd`, and every pointer stored in it must be
/// valid for the access the kernel makes for `cmd` for the duration of the call.
unsafe fn bpf<T>(cmd: libc::c_long, attr: &mut T) -> libc::c_long {
    // SAFETY: the caller guarantees that `attr` matches `cmd` and that its embedded pointers are valid; the size
    // passed is the size of `T`, which the kernel accepts for every layout above (unused tail fields must be 0,
    // and `Default` zeroes them).
    unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd,
            attr as *mut T,
            std::mem::size_of::<T>() as libc::c_uint,
        )
    }
}

/// Loads a `BPF_PROG_TYPE_CGROUP_DEVICE` program and returns its fd. `license` is the program's license string
/// (only GPL-only helpers care; device programs use none).
///
/// Errors: `bpf(BPF_PROG_LOAD)` naming the program, with the verifier's log appended when it refused the program.
pub fn load_cgroup_device_prog(insns: &[Insn], license: &str) -> Result<OwnedFd> {
    let lic = crate::cstr("bpf(BPF_PROG_LOAD)", license)?;
    let mut log = vec![0u8; 64 * 1024];
    let cnt = u32::try_from(insns.len())
        .map_err(|_| Error::from_errno("bpf(BPF_PROG_LOAD)", "device program", libc::E2BIG))?;
    let mut name = [0u8; 16];
    name[..11].copy_from_slice(b"holm_device");
    let mut attr = ProgLoadAttr {
        prog_type: PROG_TYPE_CGROUP_DEVICE,
        insn_cnt: cnt,
        insns: insns.as_ptr() as u64,
        license: lic.as_ptr() as u64,
        log_level: 1,
        log_size: log.len() as u32,
        log_buf: log.as_mut_ptr() as u64,
        prog_name: name,
        ..Default::default()
    };
    // SAFETY: `attr` is a BPF_PROG_LOAD attribute; `insns` (insn_cnt elements of the kernel's `struct bpf_insn`
    // layout), `lic` (NUL-terminated) and `log` (log_size writable bytes) all outlive the call.
    let ret = unsafe { bpf(BPF_PROG_LOAD, &mut attr) };
    if ret == -1 {
        let mut e = Error::last("bpf(BPF_PROG_LOAD)", "device program");
        let end = log.iter().position(|b| *b == 0).unwrap_or(log.len());
        let text = String::from_utf8_lossy(&log[..end]);
        let text = text.trim();
        if !text.is_empty() {
            e.target = format!("device program (verifier: {text})");
        }
        return Err(e);
    }
    // SAFETY: the kernel returned a new file descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(ret as RawFd) })
}

/// Attaches program `prog` to the cgroup directory `cgroup` as a `BPF_CGROUP_DEVICE` program with `flags`
/// (e.g. [`F_ALLOW_MULTI`]). `what` names the cgroup in errors.
pub fn attach_cgroup_device(
    cgroup: BorrowedFd<'_>,
    prog: BorrowedFd<'_>,
    flags: u32,
    what: &str,
) -> Result<()> {
    let mut attr = AttachAttr {
        target_fd: cgroup.as_raw_fd() as u32,
        attach_bpf_fd: prog.as_raw_fd() as u32,
        attach_type: ATTACH_CGROUP_DEVICE,
        attach_flags: flags,
        ..Default::default()
    };
    // SAFETY: `attr` is a BPF_PROG_ATTACH attribute holding only fds and integers.
    let ret = unsafe { bpf(BPF_PROG_ATTACH, &mut attr) };
    check(ret, "bpf(BPF_PROG_ATTACH)", || what.to_string()).map(drop)
}

/// Detaches program `prog` from the cgroup directory `cgroup` (`BPF_CGROUP_DEVICE`).
pub fn detach_cgroup_device(
    cgroup: BorrowedFd<'_>,
    prog: BorrowedFd<'_>,
    what: &str,
) -> Result<()> {
    let mut attr = AttachAttr {
        target_fd: cgroup.as_raw_fd() as u32,
        attach_bpf_fd: prog.as_raw_fd() as u32,
        attach_type: ATTACH_CGROUP_DEVICE,
        ..Default::default()
    };
    // SAFETY: `attr` is a BPF_PROG_DETACH attribute holding only fds and integers.
    let ret = unsafe { bpf(BPF_PROG_DETACH, &mut attr) };
    check(ret, "bpf(BPF_PROG_DETACH)", || what.to_string()).map(drop)
}

/// The ids of the `BPF_CGROUP_DEVICE` programs attached directly to the cgroup directory `cgroup`.
pub fn query_cgroup_device(cgroup: BorrowedFd<'_>, what: &str) -> Result<Vec<u32>> {
    let mut ids = vec![0u32; 64];
    let mut attr = QueryAttr {
        target_fd: cgroup.as_raw_fd() as u32,
        attach_type: ATTACH_CGROUP_DEVICE,
        prog_ids: ids.as_mut_ptr() as u64,
        prog_cnt: ids.len() as u32,
        ..Default::default()
    };
    // SAFETY: `attr` is a BPF_PROG_QUERY attribute; `prog_ids` points at `prog_cnt` writable u32 values that
    // outlive the call.
    let ret = unsafe { bpf(BPF_PROG_QUERY, &mut attr) };
    check(ret, "bpf(BPF_PROG_QUERY)", || what.to_string())?;
    ids.truncate((attr.prog_cnt as usize).min(ids.len()));
    Ok(ids)
}

/// An fd for the loaded program with id `id` (from [`query_cgroup_device`]).
pub fn prog_fd_by_id(id: u32) -> Result<OwnedFd> {
    let mut attr = GetFdAttr {
        prog_id: id,
        ..Default::default()
    };
    // SAFETY: `attr` is a BPF_PROG_GET_FD_BY_ID attribute holding only integers.
    let ret = unsafe { bpf(BPF_PROG_GET_FD_BY_ID, &mut attr) };
    let fd = check(ret, "bpf(BPF_PROG_GET_FD_BY_ID)", || {
        format!("program {id}")
    })?;
    // SAFETY: the kernel returned a new file descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layouts_match_the_kernel() {
        assert_eq!(std::mem::size_of::<Insn>(), 8);
        assert_eq!(std::mem::size_of::<ProgLoadAttr>(), 72);
        assert_eq!(std::mem::size_of::<AttachAttr>(), 24);
        assert_eq!(std::mem::size_of::<QueryAttr>(), 32);
    }
}
