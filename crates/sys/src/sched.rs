//! Where and how the calling process runs: `sched_setattr(2)` (policy, nice, priority, deadline parameters and
//! `SCHED_FLAG_*`), `sched_setaffinity(2)` (CPU set) and `set_mempolicy(2)` (NUMA memory policy). All act on the
//! calling thread and are inherited by its children and kept across `execve`.

use crate::{check, Result};

/// The parameters of `sched_setattr(2)` (`struct sched_attr`, `SCHED_ATTR_SIZE_VER0` fields).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SchedAttr {
    /// `SCHED_OTHER` (0), `SCHED_FIFO` (1), `SCHED_RR` (2), `SCHED_BATCH` (3), `SCHED_IDLE` (5), `SCHED_DEADLINE` (6).
    pub policy: u32,
    /// `SCHED_FLAG_*` bits.
    pub flags: u64,
    /// Nice value (-20..19) for `SCHED_OTHER` and `SCHED_BATCH`.
    pub nice: i32,
    /// Static priority (1..99) for `SCHED_FIFO` and `SCHED_RR`; 0 otherwise.
    pub priority: u32,
    /// `SCHED_DEADLINE` runtime, nanoseconds.
    pub runtime: u64,
    /// `SCHED_DEADLINE` deadline, nanoseconds.
    pub deadline: u64,
    /// `SCHED_DEADLINE` period, nanoseconds.
    pub period: u64,
}

/// `sched_setattr(0, attr, 0)` on the calling thread.
///
/// Errors: `EINVAL` for a bad combination (priority outside the policy's range, deadline parameters that do not
/// satisfy runtime ≤ deadline ≤ period), `EPERM` without `CAP_SYS_NICE` or when a v1 cpu cgroup has no real-time
/// budget (`cpu.rt_runtime_us` 0) for `SCHED_FIFO`/`SCHED_RR`, `EBUSY` for `SCHED_DEADLINE` without bandwidth.
pub fn sched_setattr(attr: &SchedAttr) -> Result<()> {
    // SAFETY: `sched_attr` is a plain C struct of integers; all-zero is a valid value.
    let mut raw: libc::sched_attr = unsafe { std::mem::zeroed() };
    raw.size = std::mem::size_of::<libc::sched_attr>() as u32;
    raw.sched_policy = attr.policy;
    raw.sched_flags = attr.flags;
    raw.sched_nice = attr.nice;
    raw.sched_priority = attr.priority;
    raw.sched_runtime = attr.runtime;
    raw.sched_deadline = attr.deadline;
    raw.sched_period = attr.period;
    // SAFETY: `raw` is a live, initialised `struct sched_attr` whose `size` field says how much the kernel may read.
    let ret = unsafe { libc::syscall(libc::SYS_sched_setattr, 0, &raw as *const _, 0) };
    check(ret, "sched_setattr", || format!("policy {}", attr.policy)).map(drop)
}

/// `sched_setaffinity(pid, cpus)`: process `pid` (0: the calling thread) may run on the CPUs listed (numbers below
/// 1024).
///
/// Errors: `EINVAL` when none of them is online and allowed by the cpuset, `EPERM`, `ESRCH`.
pub fn set_affinity(pid: i32, cpus: &[usize]) -> Result<()> {
    // SAFETY: `cpu_set_t` is a plain bit array; all-zero is the empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    for &c in cpus {
        if c >= libc::CPU_SETSIZE as usize {
            return Err(crate::Error::from_errno(
                "sched_setaffinity",
                format!("cpu {c}"),
                libc::EINVAL,
            ));
        }
        // SAFETY: `c` is below CPU_SETSIZE (checked above), so the bit lies inside `set`.
        unsafe { libc::CPU_SET(c, &mut set) };
    }
    // SAFETY: `set` is a live `cpu_set_t` whose size is passed.
    let ret = unsafe { libc::sched_setaffinity(pid, std::mem::size_of::<libc::cpu_set_t>(), &set) };
    check(ret as _, "sched_setaffinity", || format!("cpus {cpus:?}")).map(drop)
}

/// `set_mempolicy(mode | flags, nodemask, maxnode)` for the calling thread: `mode` is an `MPOL_*` mode, `flags`
/// `MPOL_F_*` mode flags, `nodes` the node numbers of the mask (empty for `MPOL_DEFAULT`/`MPOL_LOCAL`).
///
/// Errors: `EINVAL` for a mode that needs nodes without any (or the reverse), nodes that are not online or allowed
/// by the cpuset, an unknown mode or flag combination.
pub fn set_mempolicy(mode: i32, flags: i32, nodes: &[usize]) -> Result<()> {
    let max = nodes.iter().copied().max().map_or(0, |m| m + 1);
    let mut mask = vec![0u64; max.div_ceil(64).max(1)];
    for &n in nodes {
        mask[n / 64] |= 1 << (n % 64);
    }
    // maxnode is the number of bits the kernel reads (it ignores the last one: pass one more).
    let maxnode = if nodes.is_empty() {
        0
    } else {
        mask.len() * 64 + 1
    };
    let ptr = if nodes.is_empty() {
        std::ptr::null()
    } else {
        mask.as_ptr()
    };
    // SAFETY: `ptr` is NULL (with maxnode 0) or points to `mask`, which holds at least `maxnode - 1` bits and
    // outlives the call.
    let ret = unsafe { libc::syscall(libc::SYS_set_mempolicy, mode | flags, ptr, maxnode) };
    check(ret, "set_mempolicy", || {
        format!("mode {mode:#x} nodes {nodes:?}")
    })
    .map(drop)
}
