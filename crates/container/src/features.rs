//! `features`: what this build of the runtime implements, on this host (runtime-spec `features.md`,
//! `features-linux.md`), as the JSON document `runc features` prints.
//!
//! Each list is what holm really accepts here, computed rather than written down where the host decides:
//! namespaces whose `/proc/self/ns` file exists; capabilities up to the kernel's `cap_last_cap`; seccomp
//! architectures libseccomp can add and flags it can set on this kernel (`supportedFlags`); mount options that
//! [`crate::mountopts::parse`] takes as option words (not file-system data). AppArmor and SELinux are reported as
//! enabled only when the host has them enabled (holm applies a profile or label only then). Intel RDT is not
//! implemented (a config with `linux.intelRdt` is refused, see [`crate::intelrdt`]); systemd cgroups and the rdma
//! controller are not either.

use crate::mountopts;
use libseccomp::{ScmpArch, ScmpFilterContext};
use serde_json::{json, Value};
use std::str::FromStr;

/// The runtime-spec versions holm reads (`ociVersionMin`, `ociVersionMax`).
pub const OCI_VERSION_MIN: &str = "1.0.0";
/// See [`OCI_VERSION_MIN`].
pub const OCI_VERSION_MAX: &str = "1.3.0";

/// Hook kinds run by holm.
pub const HOOKS: &[&str] = &[
    "prestart",
    "createRuntime",
    "createContainer",
    "startContainer",
    "poststart",
    "poststop",
];

/// The runtime-spec's seccomp architecture names (libseccomp 2.6's list).
const ARCHS: &[&str] = &[
    "SCMP_ARCH_X86",
    "SCMP_ARCH_X86_64",
    "SCMP_ARCH_X32",
    "SCMP_ARCH_ARM",
    "SCMP_ARCH_AARCH64",
    "SCMP_ARCH_MIPS",
    "SCMP_ARCH_MIPS64",
    "SCMP_ARCH_MIPS64N32",
    "SCMP_ARCH_MIPSEL",
    "SCMP_ARCH_MIPSEL64",
    "SCMP_ARCH_MIPSEL64N32",
    "SCMP_ARCH_PPC",
    "SCMP_ARCH_PPC64",
    "SCMP_ARCH_PPC64LE",
    "SCMP_ARCH_S390",
    "SCMP_ARCH_S390X",
    "SCMP_ARCH_PARISC",
    "SCMP_ARCH_PARISC64",
    "SCMP_ARCH_RISCV64",
    "SCMP_ARCH_LOONGARCH64",
    "SCMP_ARCH_M68K",
    "SCMP_ARCH_SH",
    "SCMP_ARCH_SHEB",
];

/// Seccomp actions holm compiles (all of the spec's).
pub const SECCOMP_ACTIONS: &[&str] = &[
    "SCMP_ACT_KILL",
    "SCMP_ACT_KILL_PROCESS",
    "SCMP_ACT_KILL_THREAD",
    "SCMP_ACT_TRAP",
    "SCMP_ACT_ERRNO",
    "SCMP_ACT_TRACE",
    "SCMP_ACT_ALLOW",
    "SCMP_ACT_LOG",
    "SCMP_ACT_NOTIFY",
];

/// Seccomp argument operators holm compiles (all of the spec's).
pub const SECCOMP_OPERATORS: &[&str] = &[
    "SCMP_CMP_NE",
    "SCMP_CMP_LT",
    "SCMP_CMP_LE",
    "SCMP_CMP_EQ",
    "SCMP_CMP_GE",
    "SCMP_CMP_GT",
    "SCMP_CMP_MASKED_EQ",
];

/// Seccomp filter flags holm knows.
pub const SECCOMP_FLAGS: &[&str] = &[
    "SECCOMP_FILTER_FLAG_TSYNC",
    "SECCOMP_FILTER_FLAG_LOG",
    "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
    "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV",
];

/// `linux.memoryPolicy` modes and flags holm applies.
pub const MEMORY_POLICY_MODES: &[&str] = &[
    "MPOL_DEFAULT",
    "MPOL_BIND",
    "MPOL_INTERLEAVE",
    "MPOL_WEIGHTED_INTERLEAVE",
    "MPOL_PREFERRED",
    "MPOL_PREFERRED_MANY",
    "MPOL_LOCAL",
];
/// See [`MEMORY_POLICY_MODES`].
pub const MEMORY_POLICY_FLAGS: &[&str] = &[
    "MPOL_F_NUMA_BALANCING",
    "MPOL_F_RELATIVE_NODES",
    "MPOL_F_STATIC_NODES",
];

/// Namespace types (runtime-spec names) whose `/proc/self/ns` file exists on this kernel.
pub fn namespaces() -> Vec<&'static str> {
    [
        ("cgroup", "cgroup"),
        ("ipc", "ipc"),
        ("mount", "mnt"),
        ("network", "net"),
        ("pid", "pid"),
        ("time", "time"),
        ("user", "user"),
        ("uts", "uts"),
    ]
    .into_iter()
    .filter(|(_, f)| std::path::Path::new("/proc/self/ns").join(f).exists())
    .map(|(n, _)| n)
    .collect()
}

/// Capability names known to holm and to this kernel (index ≤ `/proc/sys/kernel/cap_last_cap`), in index order.
pub fn capabilities() -> Vec<String> {
    let last: u8 = std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(40);
    let mut all: Vec<_> = caps::all()
        .into_iter()
        .filter(|c| c.index() <= last)
        .collect();
    all.sort_by_key(|c| c.index());
    all.into_iter().map(|c| c.to_string()).collect()
}

/// Architecture names libseccomp can add to a filter here.
pub fn seccomp_archs() -> Vec<&'static str> {
    ARCHS
        .iter()
        .copied()
        .filter(|a| {
            let Ok(arch) = ScmpArch::from_str(a) else {
                return false;
            };
            ScmpFilterContext::new(libseccomp::ScmpAction::Allow)
                .and_then(|mut c| {
                    if !c.is_arch_present(arch)? {
                        c.add_arch(arch)?;
                    }
                    Ok(())
                })
                .is_ok()
        })
        .collect()
}

/// Filter flags libseccomp accepts on this kernel (its API level decides).
pub fn seccomp_supported_flags() -> Vec<&'static str> {
    SECCOMP_FLAGS
        .iter()
        .copied()
        .filter(|f| {
            let Ok(mut c) = ScmpFilterContext::new(libseccomp::ScmpAction::Allow) else {
                return false;
            };
            let r = match *f {
                "SECCOMP_FILTER_FLAG_TSYNC" => c.set_ctl_tsync(true).map(drop),
                "SECCOMP_FILTER_FLAG_LOG" => c.set_ctl_log(true).map(drop),
                "SECCOMP_FILTER_FLAG_SPEC_ALLOW" => c.set_ctl_ssb(true).map(drop),
                _ => c.set_ctl_waitkill(true).map(drop),
            };
            r.is_ok()
        })
        .collect()
}

/// Mount option words holm recognises (each parses as a flag, propagation, recursive attribute or id-map word).
pub fn mount_options() -> Vec<&'static str> {
    mountopts::FLAG_WORDS
        .iter()
        .copied()
        .chain(mountopts::RECURSIVE_WORDS.iter().map(|(w, _, _)| *w))
        .filter(|w| mountopts::parse(&[w.to_string()]).is_ok_and(|o| o.data.is_empty()))
        .collect()
}

/// The features document.
pub fn features() -> Value {
    let libseccomp = libseccomp::ScmpVersion::current()
        .map(|v| format!("{}.{}.{}", v.major, v.minor, v.micro))
        .unwrap_or_default();
    json!({
        "ociVersionMin": OCI_VERSION_MIN,
        "ociVersionMax": OCI_VERSION_MAX,
        "hooks": HOOKS,
        "mountOptions": mount_options(),
        "linux": {
            "namespaces": namespaces(),
            "capabilities": capabilities(),
            "cgroup": { "v1": true, "v2": true, "systemd": false, "systemdUser": false, "rdma": false },
            "seccomp": {
                "enabled": true,
                "actions": SECCOMP_ACTIONS,
                "operators": SECCOMP_OPERATORS,
                "archs": seccomp_archs(),
                "knownFlags": SECCOMP_FLAGS,
                "supportedFlags": seccomp_supported_flags(),
            },
            "apparmor": { "enabled": crate::lsm::apparmor_enabled() },
            "selinux": { "enabled": crate::lsm::selinux_enabled() },
            "intelRdt": { "enabled": false },
            "memoryPolicy": { "modes": MEMORY_POLICY_MODES, "flags": MEMORY_POLICY_FLAGS },
            "mountExtensions": { "idmap": { "enabled": true } },
            "netDevices": { "enabled": crate::netdev::SUPPORTED },
        },
        "annotations": {
            "io.github.seccomp.libseccomp.version": libseccomp,
            "org.holm.runtime.version": env!("CARGO_PKG_VERSION"),
        },
    })
}
