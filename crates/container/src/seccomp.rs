//! `linux.seccomp` (runtime-spec `config-linux.md#seccomp`) compiled to a BPF filter with libseccomp, and loaded
//! into the container init.
//!
//! Semantics follow runc: syscall names unknown on this architecture are skipped; a rule whose action equals the
//! default action is skipped (libseccomp refuses it); several `args` on *different* indexes form one rule (AND),
//! while several `args` on the *same* index are added as separate rules (OR); `SCMP_CMP_MASKED_EQ` takes the mask
//! in `value` and the expected value in `valueTwo`. libseccomp's own no_new_privs default is turned off, so
//! `process.noNewPrivileges` alone decides it.

use crate::{Error, Result};
use libseccomp::{
    ScmpAction, ScmpArch, ScmpArgCompare, ScmpCompareOp, ScmpFilterContext, ScmpSyscall,
};
use oci_spec::runtime::{
    LinuxSeccomp, LinuxSeccompAction, LinuxSeccompFilterFlag, LinuxSeccompOperator,
};
use std::collections::HashMap;
use std::os::fd::OwnedFd;
use std::str::FromStr;

/// A compiled filter, ready to load.
pub struct Filter {
    ctx: ScmpFilterContext,
    /// Some rule uses `SCMP_ACT_NOTIFY`: loading yields a listener fd for `linux.seccomp.listenerPath`.
    pub notify: bool,
}

impl std::fmt::Debug for Filter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Filter")
            .field("notify", &self.notify)
            .finish()
    }
}

fn err(field: impl Into<String>, msg: impl std::fmt::Display) -> Error {
    Error::config(field, msg.to_string())
}

fn action(
    field: &str,
    a: LinuxSeccompAction,
    errno_ret: Option<u32>,
    default_errno: u32,
) -> Result<ScmpAction> {
    if errno_ret.is_some()
        && !matches!(
            a,
            LinuxSeccompAction::ScmpActErrno | LinuxSeccompAction::ScmpActTrace
        )
    {
        return Err(err(
            field,
            format!("errnoRet is only valid with SCMP_ACT_ERRNO or SCMP_ACT_TRACE, not {a}"),
        ));
    }
    let ret = errno_ret.unwrap_or(default_errno);
    Ok(match a {
        LinuxSeccompAction::ScmpActKill | LinuxSeccompAction::ScmpActKillThread => {
            ScmpAction::KillThread
        }
        LinuxSeccompAction::ScmpActKillProcess => ScmpAction::KillProcess,
        LinuxSeccompAction::ScmpActTrap => ScmpAction::Trap,
        LinuxSeccompAction::ScmpActErrno => ScmpAction::Errno(
            i32::try_from(ret)
                .ok()
                .filter(|r| *r <= u16::MAX as i32)
                .ok_or_else(|| err(field, format!("errnoRet {ret} is out of range 0..=65535")))?,
        ),
        LinuxSeccompAction::ScmpActTrace => ScmpAction::Trace(
            u16::try_from(ret)
                .map_err(|_| err(field, format!("errnoRet {ret} is out of range 0..=65535")))?,
        ),
        LinuxSeccompAction::ScmpActLog => ScmpAction::Log,
        LinuxSeccompAction::ScmpActAllow => ScmpAction::Allow,
        LinuxSeccompAction::ScmpActNotify => ScmpAction::Notify,
    })
}

fn op(o: LinuxSeccompOperator, value: u64) -> ScmpCompareOp {
    match o {
        LinuxSeccompOperator::ScmpCmpNe => ScmpCompareOp::NotEqual,
        LinuxSeccompOperator::ScmpCmpLt => ScmpCompareOp::Less,
        LinuxSeccompOperator::ScmpCmpLe => ScmpCompareOp::LessOrEqual,
        LinuxSeccompOperator::ScmpCmpEq => ScmpCompareOp::Equal,
        LinuxSeccompOperator::ScmpCmpGe => ScmpCompareOp::GreaterEqual,
        LinuxSeccompOperator::ScmpCmpGt => ScmpCompareOp::Greater,
        LinuxSeccompOperator::ScmpCmpMaskedEq => ScmpCompareOp::MaskedEqual(value),
    }
}

fn name_of<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| v.as_str().map(String::from))
        .unwrap_or_default()
}

/// Compiles `linux.seccomp`. Errors name the field: an unknown architecture, `errnoRet` on an action that takes
/// none, an argument index above 5, `SCMP_ACT_NOTIFY` without `listenerPath`, a flag this libseccomp lacks.
pub fn compile(s: &LinuxSeccomp) -> Result<Filter> {
    let default = action(
        "linux.seccomp.defaultAction",
        s.default_action(),
        s.default_errno_ret(),
        libc::EPERM as u32,
    )?;
    let mut ctx =
        ScmpFilterContext::new(default).map_err(|e| err("linux.seccomp.defaultAction", e))?;
    ctx.set_ctl_nnp(false)
        .map_err(|e| err("linux.seccomp", e))?;
    for (i, a) in s.architectures().iter().flatten().enumerate() {
        let field = format!("linux.seccomp.architectures[{i}]");
        let arch = ScmpArch::from_str(&name_of(a)).map_err(|e| err(&field, e))?;
        if !ctx.is_arch_present(arch).unwrap_or(false) {
            ctx.add_arch(arch).map_err(|e| err(&field, e))?;
        }
    }
    for (i, f) in s.flags().iter().flatten().enumerate() {
        let field = format!("linux.seccomp.flags[{i}]");
        let r = match f {
            LinuxSeccompFilterFlag::SeccompFilterFlagLog => ctx.set_ctl_log(true).map(drop),
            LinuxSeccompFilterFlag::SeccompFilterFlagTsync => ctx.set_ctl_tsync(true).map(drop),
            LinuxSeccompFilterFlag::SeccompFilterFlagSpecAllow => ctx.set_ctl_ssb(true).map(drop),
            LinuxSeccompFilterFlag::SeccompFilterFlagWaitKillableRecv => {
                ctx.set_ctl_waitkill(true).map(drop)
            }
        };
        r.map_err(|e| err(&field, format!("{}: {e}", name_of(f))))?;
    }
    let mut notify = matches!(default, ScmpAction::Notify);
    for (i, sc) in s.syscalls().iter().flatten().enumerate() {
        let field = format!("linux.seccomp.syscalls[{i}]");
        // A rule without errnoRet returns EPERM (runc); defaultErrnoRet is for the default action only.
        let act = action(&field, sc.action(), sc.errno_ret(), libc::EPERM as u32)?;
        if act == default {
            continue;
        }
        notify |= matches!(act, ScmpAction::Notify);
        let mut conds: Vec<ScmpArgCompare> = Vec::new();
        let mut per_index: HashMap<usize, usize> = HashMap::new();
        for (j, a) in sc.args().iter().flatten().enumerate() {
            if a.index() > 5 {
                return Err(err(
                    format!("{field}.args[{j}].index"),
                    format!("{} is above 5", a.index()),
                ));
            }
            *per_index.entry(a.index()).or_default() += 1;
            let datum = if a.op() == LinuxSeccompOperator::ScmpCmpMaskedEq {
                a.value_two().unwrap_or(0)
            } else {
                a.value()
            };
            conds.push(ScmpArgCompare::new(
                a.index() as u32,
                op(a.op(), a.value()),
                datum,
            ));
        }
        let or_semantics = per_index.values().any(|n| *n > 1);
        for name in sc.names() {
            // Names this architecture does not know are skipped, as runc does.
            let Ok(call) = ScmpSyscall::from_name(name) else {
                continue;
            };
            let r = if conds.is_empty() {
                ctx.add_rule(act, call)
            } else if or_semantics {
                conds
                    .iter()
                    .try_for_each(|c| {
                        ctx.add_rule_conditional(act, call, std::slice::from_ref(c))
                            .map(drop)
                    })
                    .map(|_| &mut ctx)
            } else {
                ctx.add_rule_conditional(act, call, &conds)
            };
            r.map_err(|e| err(&field, format!("{name}: {e}")))?;
        }
    }
    if notify
        && s.listener_path()
            .as_ref()
            .is_none_or(|p| p.as_os_str().is_empty())
    {
        return Err(err(
            "linux.seccomp.listenerPath",
            "SCMP_ACT_NOTIFY needs a listenerPath",
        ));
    }
    Ok(Filter { ctx, notify })
}

impl Filter {
    /// Loads the filter into the calling process (`seccomp(SECCOMP_SET_MODE_FILTER)`); with `notify`, returns the
    /// listener fd. Without `no_new_privs` the caller needs `CAP_SYS_ADMIN`.
    pub fn load(&self) -> Result<Option<OwnedFd>> {
        self.ctx
            .load()
            .map_err(|e| Error::Init(format!("seccomp: load filter: {e}")))?;
        if !self.notify {
            return Ok(None);
        }
        let fd = self
            .ctx
            .get_notify_fd()
            .map_err(|e| Error::Init(format!("seccomp: notify fd: {e}")))?;
        // The notify fd belongs to the filter context (never freed here: the process execs next); pass on a dup.
        let dup = holm_sys::fs::dup_raw(fd)?;
        Ok(Some(dup))
    }
}

/// Loads `filter` (if any) into the calling process and, for `SCMP_ACT_NOTIFY` profiles, sends the listener fd to
/// the runtime over `chan` ([`crate::channel::Msg::SeccompFd`]), which passes it on to `listenerPath`.
pub fn load_and_report(filter: Option<&Filter>, chan: &crate::channel::Channel) -> Result<()> {
    let Some(filter) = filter else { return Ok(()) };
    if let Some(fd) = filter.load()? {
        chan.send_fd(
            &crate::channel::Msg::SeccompFd,
            std::os::fd::AsFd::as_fd(&fd),
        )?;
    }
    Ok(())
}
