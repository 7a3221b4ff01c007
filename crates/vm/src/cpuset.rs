//! `linux.resources.cpu.cpus` (docker's `--cpuset-cpus`) for a VM container: the list reaches the guest's cgroup
//! as it is, where only the VM's vCPUs `0..N` exist (N from `--cpus`, else the number of CPUs in the list; see
//! [`crate::qemu::VmSize::from_resources`]). A CPU outside them would fail deep in the guest (`cpuset.cpus:
//! Numerical result out of range`), so it is refused before the VM boots. The VMM's threads are not pinned to the
//! host CPUs of the list (a deliberate difference from a process container, README "VM isolation").

/// A cpuset that names a CPU the VM does not have.
#[derive(Debug, thiserror::Error)]
#[error(
    "linux.resources.cpu.cpus: CPU {cpu} is not among the VM's vCPUs 0-{last} (the VM has {vcpus} vCPU{s}, set by --cpus or the number of CPUs in the list; in a VM the list names vCPUs, not host CPUs)",
    last = vcpus - 1,
    s = if *vcpus == 1 { "" } else { "s" }
)]
pub struct CpusetError {
    /// The first CPU of the list the VM lacks.
    pub cpu: u64,
    /// The VM's vCPU count (at least 1).
    pub vcpus: u32,
}

/// The CPU ranges of a cpuset list (`0-2,4` -> `(0, 2), (4, 4)`), one per non-empty part, each `None` when the part
/// is not `N` or `A-B` with `A <= B`.
fn ranges(list: &str) -> impl Iterator<Item = Option<(u64, u64)>> + '_ {
    list.split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|part| {
            let (a, b) = part.split_once('-').unwrap_or((part, part));
            let (a, b) = (a.trim().parse::<u64>().ok()?, b.trim().parse::<u64>().ok()?);
            (a <= b).then_some((a, b))
        })
}

/// The number of CPUs in a cpuset list (`0-3,6`: 5); `None` when a part does not parse or the list is empty.
pub fn count(list: &str) -> Option<u64> {
    let n = ranges(list).try_fold(0u64, |n, r| r.map(|(a, b)| n + b - a + 1))?;
    (n > 0).then_some(n)
}

/// Checks that every CPU of the cpuset list `list` (`0-2,4`) is one of the VM's `vcpus` vCPUs (`0..vcpus`).
/// Parts that do not parse are left to the guest (holm's and runc's own checks refuse them earlier).
/// Errors: [`CpusetError`] naming the first CPU out of range.
pub fn check_vcpus(list: &str, vcpus: u32) -> Result<(), CpusetError> {
    let vcpus = vcpus.max(1);
    match ranges(list).flatten().find(|(_, b)| *b >= u64::from(vcpus)) {
        // The first CPU of the range that is out: the range's start when it is out too.
        Some((a, _)) => Err(CpusetError {
            cpu: a.max(u64::from(vcpus)),
            vcpus,
        }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::check_vcpus;

    #[test]
    fn cpus_outside_the_vms_vcpus_are_refused() {
        check_vcpus("0", 1).unwrap();
        check_vcpus("0-1", 2).unwrap();
        check_vcpus("0,1", 4).unwrap();
        check_vcpus("junk", 1).unwrap();
        assert_eq!(
            check_vcpus("1", 1).unwrap_err().to_string(),
            "linux.resources.cpu.cpus: CPU 1 is not among the VM's vCPUs 0-0 (the VM has 1 vCPU, set by --cpus or the number of CPUs in the list; in a VM the list names vCPUs, not host CPUs)"
        );
        let e = check_vcpus("0,2-3", 2).unwrap_err();
        assert_eq!((e.cpu, e.vcpus), (2, 2));
        let e = check_vcpus("0-5", 2).unwrap_err();
        assert_eq!((e.cpu, e.vcpus), (2, 2));
        assert!(
            e.to_string().contains("vCPUs 0-1 (the VM has 2 vCPUs"),
            "{e}"
        );
    }
}
