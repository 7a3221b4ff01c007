//! The jailed VMM seen from outside: qemu is launched by `holm_vm::jail::spawn` (paused with `-S`, so no guest
//! kernel is needed and it costs no CPU) and everything is read from `/proc/PID`. Needs root.
//!
//! `harness = false`: `spawn` forks, which holm refuses in a multi-threaded process (libtest runs tests on
//! threads), so this file is its own single-threaded `main`.

use holm_vm::jail::{self, Bind, JailSpec};
use holm_vm::qemu::{Accel, QemuBuilder, Share, VmSize};
use std::collections::BTreeSet;
use std::io::Read;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::MetadataExt;

fn main() {
    assert_eq!(holm_sys::process::geteuid(), 0, "the jail tests need root");
    jailed_vmm_sees_only_its_jail();
    failed_setup_names_the_step_and_leaves_nothing();
    println!("jail: 2 tests passed");
}

/// Kills and reaps a pid, removes a cgroup, on drop (also when an assertion fails).
struct Cleanup {
    holder: Option<std::process::Child>,
    pids: Vec<i32>,
    cgroup: Option<holm_cgroups::Cgroup>,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        if let Some(mut h) = self.holder.take() {
            let _ = h.kill();
            let _ = h.wait();
        }
        for &p in &self.pids {
            let _ = holm_sys::process::kill(p, libc::SIGKILL);
            let _ = holm_sys::process::waitpid(p, 0);
        }
        if let Some(cg) = &self.cgroup {
            let _ = cg.remove();
        }
    }
}

fn ns_ino(pid: &str, ns: &str) -> u64 {
    std::fs::metadata(format!("/proc/{pid}/ns/{ns}"))
        .unwrap_or_else(|e| panic!("/proc/{pid}/ns/{ns}: {e}"))
        .ino()
}

fn status_field(pid: i32, key: &str) -> String {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    s.lines()
        .find_map(|l| l.strip_prefix(key).map(|v| v.trim().to_string()))
        .unwrap_or_else(|| panic!("{key} not in /proc/{pid}/status"))
}

fn jailed_vmm_sees_only_its_jail() {
    let id = holm_testkit::unique_id("vmjail");
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("jail");
    let rootfs = tmp.path().join("rootfs");
    let vol = tmp.path().join("vol");
    for d in [&root, &rootfs, &vol] {
        std::fs::create_dir(d).unwrap();
    }
    std::fs::write(rootfs.join("hello"), "from the rootfs").unwrap();
    let kernel = tmp.path().join("vmlinuz");
    std::fs::write(&kernel, vec![0u8; 4096]).unwrap();
    // A file the launcher has open without close-on-exec: it must not reach qemu.
    let sentinel_path = tmp.path().join("sentinel");
    let sentinel = std::fs::File::create(&sentinel_path).unwrap();
    holm_sys::fs::set_cloexec(sentinel.as_fd(), false).unwrap();

    let mut cleanup = Cleanup {
        holder: None,
        pids: vec![],
        cgroup: None,
    };
    // The container's network namespace: a process holding a new one.
    let holder = std::process::Command::new("unshare")
        .args(["--net", "sleep", "600"])
        .spawn()
        .expect("unshare(1) from util-linux");
    let holder_pid = holder.id().to_string();
    cleanup.holder = Some(holder);
    let netns = loop {
        // unshare(1) execs sleep once its namespace exists.
        if ns_ino(&holder_pid, "net") != ns_ino("self", "net") {
            break std::fs::File::open(format!("/proc/{holder_pid}/ns/net")).unwrap();
        }
        std::thread::yield_now();
    };

    let h = holm_cgroups::Hierarchies::detect().unwrap();
    let cg = holm_cgroups::Cgroup::resolve(&h, Some(&format!("/{id}")), &id).unwrap();
    cg.create().unwrap();
    cleanup.cgroup = Some(cg);
    let cg = cleanup.cgroup.as_ref().unwrap();

    let (ours, theirs) = std::os::unix::net::UnixStream::pair().unwrap();
    let (err_r, err_w) = std::io::pipe().unwrap();
    let size = VmSize {
        memory_mib: 128,
        cpus: 1,
        tcg_tb_mib: holm_vm::qemu::TCG_TB_SIZE_MIB,
    };
    let cmd = QemuBuilder::new(Accel::Tcg, size, "/vm/vmlinuz")
        .paused()
        .serial_port("org.holm.test", OwnedFd::from(theirs))
        .unwrap()
        .share(Share {
            tag: "rootfs".into(),
            path: "/vm/rootfs".into(),
            readonly: false,
        })
        .unwrap()
        .share(Share {
            tag: "vol0".into(),
            path: "/vm/vol0".into(),
            readonly: true,
        })
        .unwrap()
        .build();
    let spec = JailSpec {
        qemu: cmd,
        root: root.clone(),
        binds: vec![
            Bind {
                host: kernel.clone(),
                jail: "/vm/vmlinuz".into(),
                readonly: true,
            },
            Bind {
                host: rootfs.clone(),
                jail: "/vm/rootfs".into(),
                readonly: false,
            },
            Bind {
                host: vol.clone(),
                jail: "/vm/vol0".into(),
                readonly: true,
            },
        ],
        kvm: false,
        netns: jail::NetNs::Join(netns.as_fd()),
        cgroup: Some(cg),
        stderr: Some(err_w.as_fd()),
    };
    let vmm = jail::spawn(spec).expect("spawn the jailed qemu");
    cleanup.pids.push(vmm.pid);
    drop(err_w);
    let pid = vmm.pid;
    let p = pid.to_string();

    // It is qemu, and our child.
    let exe = std::fs::read_link(format!("/proc/{pid}/exe")).unwrap();
    assert!(exe.ends_with("qemu-system-x86_64"), "exe {exe:?}");
    assert_eq!(status_field(pid, "PPid:"), std::process::id().to_string());
    // Namespaces: the container's network namespace, its own everything else.
    assert_eq!(ns_ino(&p, "net"), ns_ino(&holder_pid, "net"), "netns");
    for ns in ["mnt", "pid", "user", "ipc", "uts", "cgroup"] {
        assert_ne!(
            ns_ino(&p, ns),
            ns_ino("self", ns),
            "{ns} namespace shared with the host"
        );
    }
    // pid 1 of its pid namespace: no host process is visible to it.
    assert_eq!(
        status_field(pid, "NSpid:").split_whitespace().last(),
        Some("1")
    );
    // uid 0 of a user namespace with the identity map.
    let map = std::fs::read_to_string(format!("/proc/{pid}/uid_map")).unwrap();
    assert_eq!(
        map.split_whitespace().collect::<Vec<_>>(),
        ["0", "0", "4294967295"]
    );
    // Capabilities: only 9p passthrough's, no new privileges, qemu's seccomp sandbox on.
    let bnd = u64::from_str_radix(&status_field(pid, "CapBnd:"), 16).unwrap();
    let want: u64 = jail::KEPT_CAPS.iter().map(|c| 1u64 << c.index()).sum();
    assert_eq!(bnd, want, "CapBnd {bnd:#x}");
    assert_eq!(status_field(pid, "NoNewPrivs:"), "1");
    // qemu loads its filter while it parses its options; wait (bounded) until it has.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while status_field(pid, "Seccomp:") != "2" {
        assert!(
            std::time::Instant::now() < deadline,
            "qemu's -sandbox filter never loaded"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    // Its root holds only what qemu needs.
    let jail_root = format!("/proc/{pid}/root");
    let top: BTreeSet<String> = std::fs::read_dir(&jail_root)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    for gone in ["home", "root", "sys", "tmp", "var", "run", "boot"] {
        assert!(!top.contains(gone), "/{gone} in the jail: {top:?}");
    }
    for want in ["usr", "dev", "vm"] {
        assert!(top.contains(want), "/{want} missing from the jail: {top:?}");
    }
    // Its /proc shows its own pid namespace: itself only.
    let procs: Vec<String> = std::fs::read_dir(format!("{jail_root}/proc"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.parse::<u32>().is_ok())
        .collect();
    assert_eq!(procs, ["1"], "processes visible in the jail's /proc");
    let devs: BTreeSet<String> = std::fs::read_dir(format!("{jail_root}/dev"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        devs,
        BTreeSet::from(["null".to_string(), "urandom".to_string()]),
        "no /dev/kvm under TCG"
    );
    assert_eq!(
        std::fs::read_to_string(format!("{jail_root}/vm/rootfs/hello")).unwrap(),
        "from the rootfs"
    );
    // The host's view of the jail directory stays empty (the tmpfs lives in the VMM's mount namespace).
    assert_eq!(std::fs::read_dir(&root).unwrap().count(), 0);
    // fds: the serial port's socket at 3, no launcher fd (the sentinel) anywhere.
    let fd3 = std::fs::read_link(format!("/proc/{pid}/fd/3")).unwrap();
    assert!(
        fd3.to_string_lossy().starts_with("socket:"),
        "fd 3 is {fd3:?}"
    );
    for e in std::fs::read_dir(format!("/proc/{pid}/fd")).unwrap() {
        let target = std::fs::read_link(e.unwrap().path()).unwrap_or_default();
        assert_ne!(target, sentinel_path, "the launcher's fd leaked into qemu");
    }
    // Its cgroup.
    let own = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    assert!(own.contains(&format!("/{id}")), "{own}");
    assert!(cg.all_pids().unwrap().contains(&pid));

    // qemu printed no error while it ran.
    drop(cleanup);
    let mut err = String::new();
    let _ = (&err_r).read_to_string(&mut err);
    assert!(err.is_empty(), "qemu said: {err}");
    drop((ours, sentinel, netns));
    println!("jailed_vmm_sees_only_its_jail ... ok");
}

fn failed_setup_names_the_step_and_leaves_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("jail");
    std::fs::create_dir(&root).unwrap();
    let missing = tmp.path().join("no-such-kernel");
    let cmd = QemuBuilder::new(
        Accel::Tcg,
        VmSize {
            memory_mib: 128,
            cpus: 1,
            tcg_tb_mib: holm_vm::qemu::TCG_TB_SIZE_MIB,
        },
        "/vm/vmlinuz",
    )
    .paused()
    .build();
    let e = jail::spawn(JailSpec {
        qemu: cmd,
        root: root.clone(),
        binds: vec![Bind {
            host: missing.clone(),
            jail: "/vm/vmlinuz".into(),
            readonly: true,
        }],
        kvm: false,
        netns: jail::NetNs::Inherit,
        cgroup: None,
        stderr: None,
    })
    .expect_err("a missing kernel must fail the launch");
    let msg = e.to_string();
    assert!(msg.contains(&missing.display().to_string()), "{msg}");
    // No child is left (the VMM process was reaped), and the host's jail dir is empty.
    let left = holm_sys::process::waitpid(-1, libc::WNOHANG);
    assert!(left.is_err(), "a child is left: {left:?}");
    assert_eq!(std::fs::read_dir(&root).unwrap().count(), 0);
    println!("failed_setup_names_the_step_and_leaves_nothing ... ok");
}
