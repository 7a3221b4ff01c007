//! The defaults `holm-runtime spec` writes: runc's base spec plus a default seccomp profile with the semantics of
//! docker's default profile (an allow-list; everything else fails with `EPERM`), and runc's capability set with no
//! inheritable or ambient capabilities.

use crate::{Error, Result};
use oci_spec::runtime::{Capability, LinuxCapabilities, LinuxSeccomp, Spec};

/// System calls a container may make under the default profile. Notably absent: mount and namespace calls
/// (`mount`, `umount2`, `pivot_root`, `unshare`, `setns`, `chroot`), kernel modules and `kexec`, `bpf`,
/// `perf_event_open`, `userfaultfd`, keyrings, clock setting, `reboot`, `swapon`, `open_by_handle_at`, `acct`,
/// `quotactl`, `syslog`, raw I/O ports.
const ALLOWED: &[&str] = &[
    "accept",
    "accept4",
    "access",
    "adjtimex",
    "alarm",
    "arch_prctl",
    "bind",
    "brk",
    "cachestat",
    "capget",
    "capset",
    "chdir",
    "chmod",
    "chown",
    "chown32",
    "clock_adjtime",
    "clock_adjtime64",
    "clock_getres",
    "clock_getres_time64",
    "clock_gettime",
    "clock_gettime64",
    "clock_nanosleep",
    "clock_nanosleep_time64",
    "close",
    "close_range",
    "connect",
    "copy_file_range",
    "creat",
    "dup",
    "dup2",
    "dup3",
    "epoll_create",
    "epoll_create1",
    "epoll_ctl",
    "epoll_ctl_old",
    "epoll_pwait",
    "epoll_pwait2",
    "epoll_wait",
    "epoll_wait_old",
    "eventfd",
    "eventfd2",
    "execve",
    "execveat",
    "exit",
    "exit_group",
    "faccessat",
    "faccessat2",
    "fadvise64",
    "fadvise64_64",
    "fallocate",
    "fanotify_mark",
    "fchdir",
    "fchmod",
    "fchmodat",
    "fchmodat2",
    "fchown",
    "fchown32",
    "fchownat",
    "fcntl",
    "fcntl64",
    "fdatasync",
    "fgetxattr",
    "flistxattr",
    "flock",
    "fork",
    "fremovexattr",
    "fsetxattr",
    "fstat",
    "fstat64",
    "fstatat64",
    "fstatfs",
    "fstatfs64",
    "fsync",
    "ftruncate",
    "ftruncate64",
    "futex",
    "futex_requeue",
    "futex_time64",
    "futex_wait",
    "futex_waitv",
    "futex_wake",
    "futimesat",
    "getcpu",
    "getcwd",
    "getdents",
    "getdents64",
    "getegid",
    "getegid32",
    "geteuid",
    "geteuid32",
    "getgid",
    "getgid32",
    "getgroups",
    "getgroups32",
    "getitimer",
    "getpeername",
    "getpgid",
    "getpgrp",
    "getpid",
    "getppid",
    "getpriority",
    "getrandom",
    "getresgid",
    "getresgid32",
    "getresuid",
    "getresuid32",
    "getrlimit",
    "get_robust_list",
    "getrusage",
    "getsid",
    "getsockname",
    "getsockopt",
    "get_thread_area",
    "gettid",
    "gettimeofday",
    "getuid",
    "getuid32",
    "getxattr",
    "inotify_add_watch",
    "inotify_init",
    "inotify_init1",
    "inotify_rm_watch",
    "io_cancel",
    "ioctl",
    "io_destroy",
    "io_getevents",
    "io_pgetevents",
    "io_pgetevents_time64",
    "ioprio_get",
    "ioprio_set",
    "io_setup",
    "io_submit",
    "ipc",
    "kill",
    "landlock_add_rule",
    "landlock_create_ruleset",
    "landlock_restrict_self",
    "lchown",
    "lchown32",
    "lgetxattr",
    "link",
    "linkat",
    "listen",
    "listxattr",
    "llistxattr",
    "_llseek",
    "lremovexattr",
    "lseek",
    "lsetxattr",
    "lstat",
    "lstat64",
    "madvise",
    "map_shadow_stack",
    "membarrier",
    "memfd_create",
    "memfd_secret",
    "mincore",
    "mkdir",
    "mkdirat",
    "mknod",
    "mknodat",
    "mlock",
    "mlock2",
    "mlockall",
    "mmap",
    "mmap2",
    "mprotect",
    "mq_getsetattr",
    "mq_notify",
    "mq_open",
    "mq_timedreceive",
    "mq_timedreceive_time64",
    "mq_timedsend",
    "mq_timedsend_time64",
    "mq_unlink",
    "mremap",
    "msgctl",
    "msgget",
    "msgrcv",
    "msgsnd",
    "msync",
    "munlock",
    "munlockall",
    "munmap",
    "name_to_handle_at",
    "nanosleep",
    "newfstatat",
    "_newselect",
    "open",
    "openat",
    "openat2",
    "pause",
    "pidfd_open",
    "pidfd_send_signal",
    "pipe",
    "pipe2",
    "pkey_alloc",
    "pkey_free",
    "pkey_mprotect",
    "poll",
    "ppoll",
    "ppoll_time64",
    "prctl",
    "pread64",
    "preadv",
    "preadv2",
    "prlimit64",
    "process_mrelease",
    "pselect6",
    "pselect6_time64",
    "ptrace",
    "pwrite64",
    "pwritev",
    "pwritev2",
    "read",
    "readahead",
    "readlink",
    "readlinkat",
    "readv",
    "recv",
    "recvfrom",
    "recvmmsg",
    "recvmmsg_time64",
    "recvmsg",
    "remap_file_pages",
    "removexattr",
    "rename",
    "renameat",
    "renameat2",
    "restart_syscall",
    "rmdir",
    "rseq",
    "rt_sigaction",
    "rt_sigpending",
    "rt_sigprocmask",
    "rt_sigqueueinfo",
    "rt_sigreturn",
    "rt_sigsuspend",
    "rt_sigtimedwait",
    "rt_sigtimedwait_time64",
    "rt_tgsigqueueinfo",
    "sched_getaffinity",
    "sched_getattr",
    "sched_getparam",
    "sched_get_priority_max",
    "sched_get_priority_min",
    "sched_getscheduler",
    "sched_rr_get_interval",
    "sched_rr_get_interval_time64",
    "sched_setaffinity",
    "sched_setattr",
    "sched_setparam",
    "sched_setscheduler",
    "sched_yield",
    "seccomp",
    "select",
    "semctl",
    "semget",
    "semop",
    "semtimedop",
    "semtimedop_time64",
    "send",
    "sendfile",
    "sendfile64",
    "sendmmsg",
    "sendmsg",
    "sendto",
    "setfsgid",
    "setfsgid32",
    "setfsuid",
    "setfsuid32",
    "setgid",
    "setgid32",
    "setgroups",
    "setgroups32",
    "setitimer",
    "setpgid",
    "setpriority",
    "setregid",
    "setregid32",
    "setresgid",
    "setresgid32",
    "setresuid",
    "setresuid32",
    "setreuid",
    "setreuid32",
    "setrlimit",
    "set_robust_list",
    "setsid",
    "setsockopt",
    "set_thread_area",
    "set_tid_address",
    "setuid",
    "setuid32",
    "setxattr",
    "shmat",
    "shmctl",
    "shmdt",
    "shmget",
    "shutdown",
    "sigaltstack",
    "signalfd",
    "signalfd4",
    "sigprocmask",
    "sigreturn",
    "socketcall",
    "socketpair",
    "splice",
    "stat",
    "stat64",
    "statfs",
    "statfs64",
    "statx",
    "symlink",
    "symlinkat",
    "sync",
    "sync_file_range",
    "syncfs",
    "sysinfo",
    "tee",
    "tgkill",
    "time",
    "timer_create",
    "timer_delete",
    "timer_getoverrun",
    "timer_gettime",
    "timer_gettime64",
    "timer_settime",
    "timer_settime64",
    "timerfd_create",
    "timerfd_gettime",
    "timerfd_gettime64",
    "timerfd_settime",
    "timerfd_settime64",
    "times",
    "tkill",
    "truncate",
    "truncate64",
    "ugetrlimit",
    "umask",
    "uname",
    "unlink",
    "unlinkat",
    "utime",
    "utimensat",
    "utimensat_time64",
    "utimes",
    "vfork",
    "vmsplice",
    "wait4",
    "waitid",
    "waitpid",
    "write",
    "writev",
];

/// `CLONE_NEWNS|CLONE_NEWCGROUP|CLONE_NEWUTS|CLONE_NEWIPC|CLONE_NEWUSER|CLONE_NEWPID|CLONE_NEWNET`: `clone` may
/// not create namespaces under the default profile.
const CLONE_NS_MASK: u64 = 0x7E02_0000;
/// `AF_VSOCK`: sockets to the hypervisor are refused.
const AF_VSOCK: u64 = 40;

fn architectures() -> serde_json::Value {
    if cfg!(target_arch = "x86_64") {
        serde_json::json!(["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"])
    } else if cfg!(target_arch = "aarch64") {
        serde_json::json!(["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"])
    } else {
        serde_json::json!([])
    }
}

/// The default `linux.seccomp` profile (see the module doc). `personality` is allowed for the usual personas only;
/// `clone` without namespace flags; `clone3` fails with `ENOSYS` so C libraries fall back to `clone`.
pub fn seccomp_profile() -> LinuxSeccomp {
    let v = serde_json::json!({
        "defaultAction": "SCMP_ACT_ERRNO",
        "defaultErrnoRet": libc::EPERM,
        "architectures": architectures(),
        "syscalls": [
            {"names": ALLOWED, "action": "SCMP_ACT_ALLOW"},
            {"names": ["personality"], "action": "SCMP_ACT_ALLOW",
             "args": [{"index": 0, "value": 0x0, "op": "SCMP_CMP_EQ"}]},
            {"names": ["personality"], "action": "SCMP_ACT_ALLOW",
             "args": [{"index": 0, "value": 0x8, "op": "SCMP_CMP_EQ"}]},
            {"names": ["personality"], "action": "SCMP_ACT_ALLOW",
             "args": [{"index": 0, "value": 0x20000, "op": "SCMP_CMP_EQ"}]},
            {"names": ["personality"], "action": "SCMP_ACT_ALLOW",
             "args": [{"index": 0, "value": 0x20008, "op": "SCMP_CMP_EQ"}]},
            {"names": ["personality"], "action": "SCMP_ACT_ALLOW",
             "args": [{"index": 0, "value": 0xffff_ffffu64, "op": "SCMP_CMP_EQ"}]},
            {"names": ["clone"], "action": "SCMP_ACT_ALLOW",
             "args": [{"index": 0, "value": CLONE_NS_MASK, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"}]},
            {"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": libc::ENOSYS},
            {"names": ["socket"], "action": "SCMP_ACT_ALLOW",
             "args": [{"index": 0, "value": AF_VSOCK, "op": "SCMP_CMP_NE"}]},
        ]
    });
    serde_json::from_value(v).expect("the built-in seccomp profile is valid")
}

/// runc's default capability set: bounding, effective and permitted hold `CAP_AUDIT_WRITE`, `CAP_KILL` and
/// `CAP_NET_BIND_SERVICE`; inheritable and ambient are empty.
pub fn capabilities() -> LinuxCapabilities {
    let set: oci_spec::runtime::Capabilities = [
        Capability::AuditWrite,
        Capability::Kill,
        Capability::NetBindService,
    ]
    .into_iter()
    .collect();
    let mut c = LinuxCapabilities::default();
    c.set_bounding(Some(set.clone()));
    c.set_effective(Some(set.clone()));
    c.set_permitted(Some(set));
    c.set_inheritable(None);
    c.set_ambient(None);
    c
}

/// The `config.json` that `spec` writes: runc's defaults (terminal `sh`, the default mounts, masked and read-only
/// paths, namespaces pid/network/ipc/uts/mount/cgroup), [`capabilities`] and [`seccomp_profile`]. With
/// `rootless`, a user namespace mapping the caller's uid/gid to root and no network namespace. Pretty JSON.
pub fn spec_json(rootless: bool) -> Result<String> {
    let mut spec = if rootless {
        Spec::rootless(holm_sys::process::geteuid(), holm_sys::process::getegid())
    } else {
        Spec::default()
    };
    spec.set_version(crate::features::OCI_VERSION_MAX.into());
    spec.set_hostname(Some("holm".into()));
    if let Some(p) = spec.process_mut() {
        p.set_terminal(Some(true));
        p.set_capabilities(Some(capabilities()));
    }
    if let Some(l) = spec.linux_mut() {
        l.set_seccomp(Some(seccomp_profile()));
    }
    serde_json::to_string_pretty(&spec).map_err(|e| Error::Invalid(format!("serialise spec: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_profile_compiles_and_spec_has_no_inheritable_caps() {
        let f = crate::seccomp::compile(&seccomp_profile()).unwrap();
        assert!(!f.notify);
        let v: serde_json::Value = serde_json::from_str(&spec_json(false).unwrap()).unwrap();
        let caps = &v["process"]["capabilities"];
        assert!(
            caps.get("inheritable").is_none() && caps.get("ambient").is_none(),
            "{caps}"
        );
        assert_eq!(caps["bounding"].as_array().unwrap().len(), 3);
        assert_eq!(v["linux"]["seccomp"]["defaultAction"], "SCMP_ACT_ERRNO");
        assert!(ALLOWED.windows(2).all(|w| w[0] != w[1]));
        for denied in [
            "mount",
            "unshare",
            "setns",
            "bpf",
            "kexec_load",
            "init_module",
            "pivot_root",
        ] {
            assert!(!ALLOWED.contains(&denied), "{denied}");
        }
    }
}
