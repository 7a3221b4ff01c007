//! Where and how the container's processes run (runtime-spec 1.3): `process.scheduler` (sched_setattr(2)),
//! `linux.memoryPolicy` (set_mempolicy(2)) and `process.execCPUAffinity` (sched_setaffinity(2) for `exec`).
//!
//! The scheduler and the memory policy are set by the container init and by each exec'd process on itself, after
//! the namespaces are entered and before credentials and seccomp (a filter may deny the calls, and a
//! `SCHED_FIFO` policy needs `CAP_SYS_NICE`); both are inherited across `execve`. `execCPUAffinity.initial` is set
//! by the runtime on the exec's first child before it moves it into the container's cgroup, `final` right after (a
//! v1 cpuset resets the affinity on that move, which is why `final` exists); the child's children inherit it. The
//! init ignores both, as the spec says.
//!
//! Validation follows runc: `nice` in -20..19; `priority` only for `SCHED_FIFO`/`SCHED_RR` (1..99 there);
//! `runtime`/`deadline`/`period` only for `SCHED_DEADLINE`, with runtime ≤ deadline ≤ period; `SCHED_ISO` is not
//! in Linux. Memory policy: `MPOL_DEFAULT` and `MPOL_LOCAL` take no nodes; `MPOL_BIND`, `MPOL_INTERLEAVE`,
//! `MPOL_WEIGHTED_INTERLEAVE` and `MPOL_PREFERRED_MANY` need some; `MPOL_F_STATIC_NODES` and
//! `MPOL_F_RELATIVE_NODES` exclude each other. CPU and node lists are `0-3,7` (runtime-spec's format).

use crate::{Error, Result};
use oci_spec::runtime::{
    LinuxSchedulerFlag, LinuxSchedulerPolicy, MemoryPolicyFlagType, MemoryPolicyModeType, Process,
    Spec,
};

/// Parses a CPU or node list (`0-3,7`) into numbers; errors name `field`.
pub fn parse_list(field: &str, s: &str) -> Result<Vec<usize>> {
    let mut out = Vec::new();
    for part in s.split(',').map(str::trim) {
        let bad = || {
            Error::config(
                field,
                format!("{s:?}: expected a list like `0-3,7` (numbers below 1024)"),
            )
        };
        let (a, b) = match part.split_once('-') {
            Some((a, b)) => (a.trim(), b.trim()),
            None => (part, part),
        };
        let a: usize = a.parse().map_err(|_| bad())?;
        let b: usize = b.parse().map_err(|_| bad())?;
        if a > b || b >= 1024 {
            return Err(bad());
        }
        out.extend(a..=b);
    }
    Ok(out)
}

fn policy_value(p: LinuxSchedulerPolicy) -> Option<u32> {
    Some(match p {
        LinuxSchedulerPolicy::SchedOther => libc::SCHED_OTHER as u32,
        LinuxSchedulerPolicy::SchedFifo => libc::SCHED_FIFO as u32,
        LinuxSchedulerPolicy::SchedRr => libc::SCHED_RR as u32,
        LinuxSchedulerPolicy::SchedBatch => libc::SCHED_BATCH as u32,
        LinuxSchedulerPolicy::SchedIdle => libc::SCHED_IDLE as u32,
        LinuxSchedulerPolicy::SchedDeadline => 6,
        LinuxSchedulerPolicy::SchedIso => return None,
    })
}

fn flag_value(f: LinuxSchedulerFlag) -> u64 {
    (match f {
        LinuxSchedulerFlag::SchedResetOnFork => libc::SCHED_FLAG_RESET_ON_FORK,
        LinuxSchedulerFlag::SchedFlagReclaim => libc::SCHED_FLAG_RECLAIM,
        LinuxSchedulerFlag::SchedFlagDLOverrun => libc::SCHED_FLAG_DL_OVERRUN,
        LinuxSchedulerFlag::SchedFlagKeepPolicy => libc::SCHED_FLAG_KEEP_POLICY,
        LinuxSchedulerFlag::SchedFlagKeepParams => libc::SCHED_FLAG_KEEP_PARAMS,
        LinuxSchedulerFlag::SchedFlagUtilClampMin => libc::SCHED_FLAG_UTIL_CLAMP_MIN,
        LinuxSchedulerFlag::SchedFlagUtilClampMax => libc::SCHED_FLAG_UTIL_CLAMP_MAX,
    }) as u64
}

/// The runtime-spec name of a scheduler flag (oci-spec 0.10 spells `SCHED_FLAG_RESET_ON_FORK` without `FLAG_`).
pub fn flag_name(f: LinuxSchedulerFlag) -> &'static str {
    match f {
        LinuxSchedulerFlag::SchedResetOnFork => "SCHED_FLAG_RESET_ON_FORK",
        LinuxSchedulerFlag::SchedFlagReclaim => "SCHED_FLAG_RECLAIM",
        LinuxSchedulerFlag::SchedFlagDLOverrun => "SCHED_FLAG_DL_OVERRUN",
        LinuxSchedulerFlag::SchedFlagKeepPolicy => "SCHED_FLAG_KEEP_POLICY",
        LinuxSchedulerFlag::SchedFlagKeepParams => "SCHED_FLAG_KEEP_PARAMS",
        LinuxSchedulerFlag::SchedFlagUtilClampMin => "SCHED_FLAG_UTIL_CLAMP_MIN",
        LinuxSchedulerFlag::SchedFlagUtilClampMax => "SCHED_FLAG_UTIL_CLAMP_MAX",
    }
}

/// The scheduler of `p` as `sched_setattr` parameters, checked (see the module text); errors name
/// `process.scheduler.*`.
pub fn scheduler_attr(p: &Process) -> Result<Option<holm_sys::sched::SchedAttr>> {
    let Some(s) = p.scheduler() else {
        return Ok(None);
    };
    let f = |k: &str| format!("process.scheduler.{k}");
    let policy = policy_value(*s.policy())
        .ok_or_else(|| Error::config(f("policy"), "SCHED_ISO is not a Linux scheduling policy"))?;
    let nice = s.nice().unwrap_or(0);
    if !(-20..=19).contains(&nice) {
        return Err(Error::config(
            f("nice"),
            format!("{nice}: expected -20 to 19"),
        ));
    }
    let rt = matches!(
        s.policy(),
        LinuxSchedulerPolicy::SchedFifo | LinuxSchedulerPolicy::SchedRr
    );
    let prio = s.priority().unwrap_or(0);
    if rt && !(1..=99).contains(&prio) {
        return Err(Error::config(
            f("priority"),
            format!("{prio}: SCHED_FIFO and SCHED_RR need 1 to 99"),
        ));
    }
    if !rt && prio != 0 {
        return Err(Error::config(
            f("priority"),
            "only SCHED_FIFO and SCHED_RR take a priority",
        ));
    }
    let dl = *s.policy() == LinuxSchedulerPolicy::SchedDeadline;
    let (runtime, deadline, period) = (
        s.runtime().unwrap_or(0),
        s.deadline().unwrap_or(0),
        s.period().unwrap_or(0),
    );
    if !dl && (runtime, deadline, period) != (0, 0, 0) {
        return Err(Error::config(
            f("runtime"),
            "runtime, deadline and period are only for SCHED_DEADLINE",
        ));
    }
    if dl && (runtime > deadline || (period != 0 && deadline > period)) {
        return Err(Error::config(
            f("deadline"),
            "SCHED_DEADLINE needs runtime <= deadline <= period",
        ));
    }
    if dl {
        check_deadline(runtime, deadline, period)?;
    }
    Ok(Some(holm_sys::sched::SchedAttr {
        policy,
        flags: s
            .flags()
            .iter()
            .flatten()
            .map(|x| flag_value(*x))
            .fold(0, |a, b| a | b),
        nice,
        priority: prio as u32,
        runtime,
        deadline,
        period,
    }))
}

/// Sets `process.scheduler` on the calling process. Errors name the field and say what the kernel refused.
pub fn apply_scheduler(p: &Process) -> Result<()> {
    if let Some(attr) = scheduler_attr(p)? {
        holm_sys::sched::sched_setattr(&attr).map_err(|e| {
            let hint = if e.errno() == libc::EPERM && matches!(attr.policy, 1 | 2) {
                " (a real-time policy needs a real-time budget in the container's cpu cgroup: \
                 linux.resources.cpu.realtimeRuntime)"
            } else {
                ""
            };
            Error::config("process.scheduler", format!("{e}{hint}"))
        })?;
    }
    Ok(())
}

/// `linux.memoryPolicy` as (mode, flags, nodes), checked; errors name `linux.memoryPolicy.*`.
pub fn memory_policy(spec: &Spec) -> Result<Option<(i32, i32, Vec<usize>)>> {
    let Some(mp) = spec
        .linux()
        .as_ref()
        .and_then(|l| l.memory_policy().as_ref())
    else {
        return Ok(None);
    };
    use MemoryPolicyModeType as M;
    let (mode, needs_nodes, no_nodes) = match mp.mode() {
        M::MpolDefault => (libc::MPOL_DEFAULT, false, true),
        M::MpolPreferred => (libc::MPOL_PREFERRED, false, false),
        M::MpolBind => (libc::MPOL_BIND, true, false),
        M::MpolInterleave => (libc::MPOL_INTERLEAVE, true, false),
        M::MpolLocal => (libc::MPOL_LOCAL, false, true),
        M::MpolPreferredMany => (5, true, false),
        M::MpolWeightedInterleave => (6, true, false),
    };
    let nodes = match mp
        .nodes()
        .as_deref()
        .map(str::trim)
        .filter(|n| !n.is_empty())
    {
        Some(n) => parse_list("linux.memoryPolicy.nodes", n)?,
        None => Vec::new(),
    };
    if needs_nodes && nodes.is_empty() {
        return Err(Error::config(
            "linux.memoryPolicy.nodes",
            format!("{} needs at least one node", mp.mode()),
        ));
    }
    if no_nodes && !nodes.is_empty() {
        return Err(Error::config(
            "linux.memoryPolicy.nodes",
            format!("{} takes no nodes", mp.mode()),
        ));
    }
    let mut flags = 0;
    for fl in mp.flags().iter().flatten() {
        flags |= match fl {
            MemoryPolicyFlagType::MpolFNumaBalancing => libc::MPOL_F_NUMA_BALANCING,
            MemoryPolicyFlagType::MpolFRelativeNodes => libc::MPOL_F_RELATIVE_NODES,
            MemoryPolicyFlagType::MpolFStaticNodes => libc::MPOL_F_STATIC_NODES,
        };
    }
    let both = libc::MPOL_F_RELATIVE_NODES | libc::MPOL_F_STATIC_NODES;
    if flags & both == both {
        return Err(Error::config(
            "linux.memoryPolicy.flags",
            "MPOL_F_STATIC_NODES and MPOL_F_RELATIVE_NODES exclude each other",
        ));
    }
    // The kernel's other flag rules (mm/mempolicy.c sanitize_mpol_flags, mpol_new), checked here so the error says
    // which rule instead of set_mempolicy's EINVAL.
    if flags & libc::MPOL_F_NUMA_BALANCING != 0
        && !matches!(mp.mode(), M::MpolBind | M::MpolPreferredMany)
    {
        return Err(Error::config(
            "linux.memoryPolicy.flags",
            format!(
                "MPOL_F_NUMA_BALANCING goes only with MPOL_BIND or MPOL_PREFERRED_MANY, not {}",
                mp.mode()
            ),
        ));
    }
    let local = matches!(mp.mode(), M::MpolLocal)
        || (matches!(mp.mode(), M::MpolPreferred) && nodes.is_empty());
    if flags & both != 0 && local {
        return Err(Error::config(
            "linux.memoryPolicy.flags",
            "MPOL_F_STATIC_NODES and MPOL_F_RELATIVE_NODES need nodes: not with MPOL_LOCAL or an MPOL_PREFERRED \
             without nodes (local allocation)",
        ));
    }
    Ok(Some((mode, flags, nodes)))
}

/// The kernel's other SCHED_DEADLINE bounds (kernel/sched/deadline.c `__checkparam_dl`), checked so the error names
/// the field and the bound instead of sched_setattr's EINVAL: a deadline, a runtime of at least 1024 ns, and a
/// period (the deadline when unset) within `/proc/sys/kernel/sched_deadline_period_{min,max}_us`.
fn check_deadline(runtime: u64, deadline: u64, period: u64) -> Result<()> {
    let f = |n: &str| format!("process.scheduler.{n}");
    if deadline == 0 {
        return Err(Error::config(
            f("deadline"),
            "SCHED_DEADLINE needs a deadline (ns)",
        ));
    }
    if runtime < 1024 {
        return Err(Error::config(
            f("runtime"),
            format!("{runtime}: SCHED_DEADLINE needs a runtime of at least 1024 ns"),
        ));
    }
    let (field, value) = if period == 0 {
        ("deadline", deadline)
    } else {
        ("period", period)
    };
    let knob = |n: &str| {
        std::fs::read_to_string(format!("/proc/sys/kernel/sched_deadline_period_{n}_us"))
            .ok()
            .and_then(|t| t.trim().parse::<u64>().ok())
    };
    for (n, bad) in [
        ("min", value < knob("min").unwrap_or(0).saturating_mul(1000)),
        (
            "max",
            knob("max").is_some_and(|m| value > m.saturating_mul(1000)),
        ),
    ] {
        if bad {
            return Err(Error::config(
                f(field),
                format!(
                    "{value} ns is outside the kernel's SCHED_DEADLINE period bounds (/proc/sys/kernel/sched_deadline_period_{n}_us: {} µs)",
                    knob(n).unwrap_or(0)
                ),
            ));
        }
    }
    Ok(())
}

/// Sets `linux.memoryPolicy` on the calling process. Errors name the field.
pub fn apply_memory_policy(spec: &Spec) -> Result<()> {
    if let Some((mode, flags, nodes)) = memory_policy(spec)? {
        holm_sys::sched::set_mempolicy(mode, flags, &nodes).map_err(|e| {
            let hint = if e.errno() == libc::EINVAL {
                " (a node that is not online, or not in the container's cpuset.mems)"
            } else {
                ""
            };
            Error::config("linux.memoryPolicy", format!("{e}{hint}"))
        })?;
    }
    Ok(())
}

/// Which half of `process.execCPUAffinity`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Affinity {
    /// `initial`: before the move into the container's cgroup.
    Initial,
    /// `final`: after it.
    Final,
}

/// The CPUs of `process.execCPUAffinity.initial` or `.final`, if set; errors name the field.
pub fn exec_affinity(p: &Process, which: Affinity) -> Result<Option<Vec<usize>>> {
    let Some(a) = p.exec_cpu_affinity() else {
        return Ok(None);
    };
    let (field, v) = match which {
        Affinity::Initial => ("process.execCPUAffinity.initial", a.initial()),
        Affinity::Final => ("process.execCPUAffinity.final", a.cpu_affinity_final()),
    };
    match v.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        Some(s) => parse_list(field, s).map(Some),
        None => Ok(None),
    }
}

/// Sets the CPU affinity of process `pid` (the exec's first child, before and after the runtime moves it into the
/// container's cgroup) from `process.execCPUAffinity` (`which` half), if given.
pub fn apply_exec_affinity(pid: i32, p: &Process, which: Affinity) -> Result<()> {
    if let Some(cpus) = exec_affinity(p, which)? {
        let field = match which {
            Affinity::Initial => "process.execCPUAffinity.initial",
            Affinity::Final => "process.execCPUAffinity.final",
        };
        holm_sys::sched::set_affinity(pid, &cpus).map_err(|e| {
            let hint = if e.errno() == libc::EINVAL {
                " (no CPU of the list is online and in the container's cpuset.cpus)"
            } else {
                ""
            };
            Error::config(field, format!("{e}{hint}"))
        })?;
    }
    Ok(())
}

/// Checks `process.scheduler` and `process.execCPUAffinity` of a process (the init's, or one `exec` runs).
pub fn validate_process(p: &Process) -> Result<()> {
    scheduler_attr(p)?;
    exec_affinity(p, Affinity::Initial)?;
    exec_affinity(p, Affinity::Final)?;
    Ok(())
}

/// Checks `process.scheduler`, `linux.memoryPolicy` and `process.execCPUAffinity` at `create`.
pub fn validate(spec: &Spec) -> Result<()> {
    if let Some(p) = spec.process() {
        validate_process(p)?;
    }
    memory_policy(spec)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists() {
        assert_eq!(parse_list("f", "0-3,7").unwrap(), [0, 1, 2, 3, 7]);
        assert_eq!(parse_list("f", "1").unwrap(), [1]);
        for bad in ["", "a", "3-1", "1-", "2000", "1,,2"] {
            let e = parse_list("x.y", bad).unwrap_err().to_string();
            assert!(e.contains("x.y"), "{bad}: {e}");
        }
    }
}
