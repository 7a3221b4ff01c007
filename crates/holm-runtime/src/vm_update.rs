//! `update` of a VM container: the new limits go to the container's cgroup in the guest (through the shim and the
//! agent, holm-container's own `update` there) and, where the VMM can follow, to the VMM's cgroup on the host.
//!
//! What the VM can follow, and what it cannot (refused with one line, before anything changes):
//! - `memory.limit`: the guest's RAM is fixed when the VM boots (`-m`, the container's limit at create, else
//!   [`holm_vm::qemu::DEFAULT_MEMORY_MIB`]). A limit up to that size is applied in the guest; a larger one is
//!   refused naming the VM's size. `-1` (unlimited) is the guest's RAM again. The VMM's cgroup keeps its memory
//!   limit (guest RAM + [`holm_vm::qemu::overhead_mib`]): what qemu needs does not change with the limit inside.
//!   A VM created without a memory limit has none on its VMM; the first update that sets one gives the VMM that
//!   same guest + overhead limit (what `create` would have given it).
//! - `cpu.quota`/`cpu.period`/`cpu.shares`: applied in the guest and on the VMM's cgroup (a quota there bounds the
//!   vCPU threads and qemu's own). The vCPUs are fixed at boot: a quota of more CPUs than the VM has is refused.
//! - `cpu.cpus`: guest CPU numbers (0 to vCPUs - 1); a CPU the VM does not have is refused with `create`'s line
//!   ([`holm_vm::cpuset::check_vcpus`]). Not applied on the host (guest CPUs are not host CPUs).
//! - everything else (`pids`, `memory.reservation`/`swap`, `blockIO`, ...): in the guest only; what the guest's
//!   cgroup v2 lacks is refused by the guest, naming the field.
//!
//! Order: checks, the VMM's cgroup, the guest; if the guest refuses, the VMM's cgroup gets its old values back.
//! A paused VM container (its whole VMM frozen) cannot be updated: the agent cannot answer.

use anyhow::{bail, Context};
use holm_container::state::Status;
use holm_container::Store;
use holm_vm::qemu::VmSize;
use holm_vm::shim_api::{self, Client, ShimReply, ShimRequest};
use oci_spec::runtime::{LinuxCpu, LinuxMemory, LinuxResources};

/// The default period of the CFS bandwidth controller, in microseconds (the kernel's and runc's).
const DEFAULT_PERIOD: u64 = 100_000;
/// The kernel's default `cpu.shares`.
const DEFAULT_SHARES: u64 = 1024;

/// `update` of VM container `id` with `r` (the fields to change). See the module doc.
pub fn update(store: &Store, id: &str, r: &LinuxResources) -> anyhow::Result<()> {
    let l = store.lock(id)?;
    let mut s = l.load()?;
    match l.status(&s) {
        Status::Stopped => {
            return Err(holm_container::Error::BadState {
                id: id.into(),
                status: "stopped".into(),
                msg: "cannot update a stopped container".into(),
            }
            .into())
        }
        Status::Paused => bail!(
            "container `{id}` is paused (its whole VM is frozen, the guest cannot apply an update): resume it first"
        ),
        _ => {}
    }
    let launch_path = l.dir.join(shim_api::LAUNCH);
    let launch: holm_vm::shim::Launch = serde_json::from_slice(
        &std::fs::read(&launch_path).with_context(|| format!("read {}", launch_path.display()))?,
    )
    .with_context(|| format!("parse {}", launch_path.display()))?;
    let mut r = r.clone();
    r.set_devices(None);
    let old = s
        .config
        .linux()
        .as_ref()
        .and_then(|l| l.resources().clone())
        .unwrap_or_default();
    let merged = holm_container::cgroup_verbs::merge_resources(Some(&old), &r)?;
    check(&r, &merged, launch.size)?;
    let (host_new, host_old) = host_changes(&r, &old, launch.size, launch.accel)?;
    let cg = s
        .cgroup
        .clone()
        .with_context(|| format!("container `{id}` has no cgroup"))?;
    cg.apply(&host_new)
        .with_context(|| format!("update the VMM's cgroup of `{id}`"))?;
    let guest = Client::connect(&l.dir)
        .map_err(anyhow::Error::from)
        .and_then(|mut c| {
            Ok(c.call(&ShimRequest::Update {
                resources: Box::new(r.clone()),
            })?)
        });
    let guest = match guest {
        Ok(ShimReply::Ok) => Ok(()),
        Ok(ShimReply::Error(e)) => Err(anyhow::anyhow!("{e}")),
        Ok(other) => Err(anyhow::anyhow!(
            "unexpected reply from the VM shim: {other:?}"
        )),
        Err(e) => Err(e),
    };
    if let Err(e) = guest {
        if let Err(e2) = cg.apply(&host_old) {
            log::debug!("update {id}: restoring the VMM's cgroup: {e2}");
        }
        return Err(e);
    }
    if let Some(linux) = s.config.linux_mut() {
        linux.set_resources(Some(merged));
    }
    l.save(&s)?;
    Ok(())
}

/// Refuses what the VM cannot follow (module doc): a memory limit above the guest's RAM, a CPU quota of more CPUs
/// than it has vCPUs (checked on the merged quota/period when the update touches either), CPUs it does not have.
fn check(r: &LinuxResources, merged: &LinuxResources, size: VmSize) -> anyhow::Result<()> {
    let ram = size.memory_mib << 20;
    if let Some(limit) = r.memory().as_ref().and_then(|m| m.limit()) {
        if limit > 0 && limit as u64 > ram {
            bail!(
                "memory.limit: {limit} bytes ({} MiB) is more than the VM's memory ({} MiB, fixed when the VM \
                 booted): a VM container's memory limit can only be set up to its VM's size",
                (limit as u64).div_ceil(1 << 20),
                size.memory_mib
            );
        }
    }
    let vcpus = size.cpus;
    if let Some(cpu) = r.cpu() {
        if cpu.quota().is_some() || cpu.period().is_some() {
            let m = merged.cpu().as_ref();
            let quota = m.and_then(|c| c.quota()).unwrap_or(-1);
            let period = m
                .and_then(|c| c.period())
                .filter(|p| *p > 0)
                .unwrap_or(DEFAULT_PERIOD);
            if quota > 0 && (quota as u64).div_ceil(period) > u64::from(vcpus) {
                bail!(
                    "cpu.quota: {quota} µs per {period} µs period is {:.2} CPUs, more than the VM's {vcpus} vCPU(s) \
                     (fixed when the VM booted)",
                    quota as f64 / period as f64
                );
            }
        }
        if let Some(list) = cpu.cpus().as_deref() {
            // The same line as `create`'s.
            holm_vm::cpuset::check_vcpus(list, vcpus)?;
        }
    }
    Ok(())
}

/// What the VMM's cgroup gets for update `r` (module doc), and the values that undo it: the CPU fields `r` sets
/// (their old values, or the kernel's defaults when there were none), and a memory limit of guest RAM + overhead
/// when `r` sets a limit and the container had none (undone by -1).
fn host_changes(
    r: &LinuxResources,
    old: &LinuxResources,
    size: VmSize,
    accel: holm_vm::qemu::Accel,
) -> anyhow::Result<(LinuxResources, LinuxResources)> {
    let (mut new, mut undo) = (LinuxResources::default(), LinuxResources::default());
    if let Some(cpu) = r.cpu() {
        let before = old.cpu().clone().unwrap_or_default();
        let (mut n, mut u) = (LinuxCpu::default(), LinuxCpu::default());
        if let Some(q) = cpu.quota() {
            n.set_quota(Some(q));
            u.set_quota(Some(before.quota().unwrap_or(-1)));
        }
        if let Some(p) = cpu.period() {
            n.set_period(Some(p));
            u.set_period(Some(before.period().unwrap_or(DEFAULT_PERIOD)));
        }
        if let Some(sh) = cpu.shares() {
            n.set_shares(Some(sh));
            u.set_shares(Some(before.shares().unwrap_or(DEFAULT_SHARES)));
        }
        if n != LinuxCpu::default() {
            new.set_cpu(Some(n));
            undo.set_cpu(Some(u));
        }
    }
    let had_limit = old
        .memory()
        .as_ref()
        .and_then(|m| m.limit())
        .is_some_and(|l| l > 0);
    let sets_limit = r
        .memory()
        .as_ref()
        .and_then(|m| m.limit())
        .is_some_and(|l| l > 0);
    if sets_limit && !had_limit {
        let mut m = LinuxMemory::default();
        m.set_limit(Some(size.cgroup_memory_bytes(accel) as i64));
        new.set_memory(Some(m));
        let mut m = LinuxMemory::default();
        m.set_limit(Some(-1));
        undo.set_memory(Some(m));
    }
    Ok((new, undo))
}

#[cfg(test)]
mod tests {
    use super::*;
    use holm_vm::qemu::Accel;

    fn res(v: serde_json::Value) -> LinuxResources {
        serde_json::from_value(v).unwrap()
    }

    const SIZE: VmSize = VmSize {
        memory_mib: 128,
        cpus: 2,
        tcg_tb_mib: holm_vm::qemu::TCG_TB_SIZE_MIB,
    };

    #[test]
    fn what_the_vm_cannot_follow_is_refused_by_name() {
        let ok = |v: serde_json::Value, base: serde_json::Value| {
            let r = res(v);
            let m = holm_container::cgroup_verbs::merge_resources(Some(&res(base)), &r).unwrap();
            check(&r, &m, SIZE)
        };
        ok(
            serde_json::json!({"memory": {"limit": 128 << 20}}),
            serde_json::json!({}),
        )
        .unwrap();
        ok(
            serde_json::json!({"memory": {"limit": -1}}),
            serde_json::json!({}),
        )
        .unwrap();
        let e = ok(
            serde_json::json!({"memory": {"limit": 256 << 20}}),
            serde_json::json!({}),
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.starts_with("memory.limit: 268435456 bytes (256 MiB)"),
            "{e}"
        );
        assert!(e.contains("VM's memory (128 MiB"), "{e}");
        ok(
            serde_json::json!({"cpu": {"quota": 200000}}),
            serde_json::json!({}),
        )
        .unwrap();
        let e = ok(
            serde_json::json!({"cpu": {"quota": 200001}}),
            serde_json::json!({}),
        )
        .unwrap_err()
        .to_string();
        assert!(e.starts_with("cpu.quota: 200001 µs per 100000 µs"), "{e}");
        assert!(e.contains("2 vCPU(s)"), "{e}");
        // A smaller period makes the old quota more CPUs.
        let e = ok(
            serde_json::json!({"cpu": {"period": 50000}}),
            serde_json::json!({"cpu": {"quota": 150000, "period": 100000}}),
        )
        .unwrap_err()
        .to_string();
        assert!(e.starts_with("cpu.quota: 150000 µs per 50000 µs"), "{e}");
        // An update that does not touch the quota is not judged by it.
        ok(
            serde_json::json!({"pids": {"limit": 5}}),
            serde_json::json!({"cpu": {"quota": 400000, "period": 100000}}),
        )
        .unwrap();
        ok(
            serde_json::json!({"cpu": {"cpus": "0-1"}}),
            serde_json::json!({}),
        )
        .unwrap();
        let e = ok(
            serde_json::json!({"cpu": {"cpus": "1,2-3"}}),
            serde_json::json!({}),
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.starts_with("linux.resources.cpu.cpus: CPU 2 is not among the VM's vCPUs 0-1 (the VM has 2 vCPUs"),
            "{e}"
        );
    }

    #[test]
    fn the_vmm_gets_cpu_and_a_first_memory_limit() {
        let (n, u) = host_changes(
            &res(serde_json::json!({"cpu": {"quota": 50000}, "memory": {"limit": 64 << 20}, "pids": {"limit": 9}})),
            &res(serde_json::json!({"cpu": {"quota": 150000, "period": 100000}})),
            SIZE,
            Accel::Tcg,
        )
        .unwrap();
        let n = serde_json::to_value(n).unwrap();
        let u = serde_json::to_value(u).unwrap();
        assert_eq!(n["cpu"], serde_json::json!({"quota": 50000}));
        assert_eq!(u["cpu"], serde_json::json!({"quota": 150000}));
        assert_eq!(n["memory"]["limit"], (128 + 96) << 20);
        assert_eq!(u["memory"]["limit"], -1);
        assert!(n.get("pids").is_none_or(|p| p.is_null()), "{n}");
        // With a limit already there, the VMM's stays.
        let (n, _) = host_changes(
            &res(serde_json::json!({"memory": {"limit": 64 << 20}})),
            &res(serde_json::json!({"memory": {"limit": 128 << 20}})),
            SIZE,
            Accel::Tcg,
        )
        .unwrap();
        assert_eq!(n, LinuxResources::default());
    }
}
