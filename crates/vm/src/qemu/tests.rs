//! Unit tests of the qemu command line builder.

use super::*;

fn devnull() -> OwnedFd {
    std::fs::File::open("/dev/null").unwrap().into()
}

fn size() -> VmSize {
    VmSize {
        memory_mib: 256,
        cpus: 2,
        tcg_tb_mib: TCG_TB_SIZE_MIB,
    }
}

#[test]
fn tcg_cache_size_from_annotation() {
    let ann = |v: &str| {
        std::collections::HashMap::from([(TCG_TB_SIZE_ANNOTATION.to_string(), v.to_string())])
    };
    let none = std::collections::HashMap::<String, String>::new();
    assert_eq!(tcg_tb_size_mib(&none).unwrap(), TCG_TB_SIZE_MIB);
    assert_eq!(tcg_tb_size_mib(&ann("16")).unwrap(), 16);
    for bad in ["4", "2048", "16M", "", "-1", " 16", "64 ", "+16"] {
        let e = tcg_tb_size_mib(&ann(bad)).unwrap_err().to_string();
        assert!(
            e.starts_with("annotations.org.holm.vm.tcg-tb-size: expected a whole number of MiB from 8 to 1024"),
            "{bad}: {e}"
        );
    }
    let mut s = size();
    s.tcg_tb_mib = 16;
    let c = QemuBuilder::new(Accel::Tcg, s, "/vm/vmlinuz").build();
    assert_eq!(values(&c.argv, "-accel"), ["tcg,tb-size=16"]);
    assert_eq!(s.cgroup_memory_bytes(Accel::Tcg), (256 + 64 + 16) << 20);
    assert_eq!(s.cgroup_memory_bytes(Accel::Kvm), (256 + 64) << 20);
    // A state written before the field existed reads as the default.
    let old: VmSize = serde_json::from_str(r#"{"memory_mib":128,"cpus":1}"#).unwrap();
    assert_eq!(old.tcg_tb_mib, TCG_TB_SIZE_MIB);
}

/// The value following `flag` each time it occurs.
fn values<'a>(argv: &'a [String], flag: &str) -> Vec<&'a str> {
    argv.windows(2)
        .filter(|w| w[0] == flag)
        .map(|w| w[1].as_str())
        .collect()
}

#[test]
fn base_command_line() {
    let c = QemuBuilder::new(Accel::Tcg, size(), "/vm/vmlinuz")
        .initrd("/vm/initrd")
        .append("console=hvc0 quiet")
        .build();
    assert_eq!(c.argv[0], DEFAULT_QEMU);
    for f in ["-nodefaults", "-no-user-config", "-nographic", "-no-reboot"] {
        assert!(c.argv.iter().any(|a| a == f), "{f} missing: {:?}", c.argv);
    }
    assert!(values(&c.argv, "-machine")[0].starts_with("microvm,"));
    assert_eq!(values(&c.argv, "-accel"), ["tcg,tb-size=32"]);
    assert!(
        values(&c.argv, "-cpu").is_empty(),
        "TCG keeps qemu's default CPU model"
    );
    assert_eq!(values(&c.argv, "-m"), ["256M"]);
    assert_eq!(values(&c.argv, "-smp"), ["2"]);
    assert_eq!(values(&c.argv, "-kernel"), ["/vm/vmlinuz"]);
    assert_eq!(values(&c.argv, "-initrd"), ["/vm/initrd"]);
    assert_eq!(values(&c.argv, "-append"), ["console=hvc0 quiet"]);
    assert_eq!(
        values(&c.argv, "-sandbox"),
        ["on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny"]
    );
    assert_eq!(
        values(&c.argv, "-device"),
        ["virtio-balloon-device,free-page-reporting=on"],
        "no device but the balloon unless asked"
    );
    assert!(c.fds.is_empty());
}

#[test]
fn the_rtc_is_on_and_tcg_skips_the_lapic_timer() {
    let c = QemuBuilder::new(Accel::Tcg, size(), "/k").build();
    assert!(
        values(&c.argv, "-machine")[0].contains(",rtc=on,"),
        "{:?}",
        c.argv
    );
    assert_eq!(
        guest_cmdline(Accel::Tcg),
        format!("{GUEST_CMDLINE} nolapic_timer")
    );
    assert_eq!(guest_cmdline(Accel::Kvm), GUEST_CMDLINE);
}

#[test]
fn kvm_uses_the_host_cpu() {
    let c = QemuBuilder::new(Accel::Kvm, size(), "/k").build();
    assert_eq!(values(&c.argv, "-accel"), ["kvm"]);
    assert_eq!(values(&c.argv, "-cpu"), ["host"]);
}

#[test]
fn ports_console_shares_and_nics_get_fds_in_order() {
    let c = QemuBuilder::new(Accel::Tcg, size(), "/k")
        .serial_port("org.holm.control", devnull())
        .unwrap()
        .console(devnull())
        .serial_port("org.holm.stdio", devnull())
        .unwrap()
        .share(Share {
            tag: "rootfs".into(),
            path: "/vm/rootfs".into(),
            readonly: false,
        })
        .unwrap()
        .share(Share {
            tag: "vol0".into(),
            path: "/vm/vol,0".into(),
            readonly: true,
        })
        .unwrap()
        .nic(devnull(), "02:42:AC:11:00:02")
        .unwrap()
        .nic(devnull(), "02:42:0a:4e:01:03")
        .unwrap()
        .build();
    let nums: Vec<RawFd> = c.fds.iter().map(|(n, _)| *n).collect();
    assert_eq!(nums, [3, 4, 5, 6, 7]);
    assert_eq!(
        values(&c.argv, "-chardev"),
        [
            "socket,id=con,fd=4",
            "socket,id=port0,fd=3",
            "socket,id=port1,fd=5"
        ]
    );
    assert_eq!(
        values(&c.argv, "-device"),
        [
            "virtio-serial-device",
            "virtconsole,chardev=con",
            "virtserialport,chardev=port0,name=org.holm.control",
            "virtserialport,chardev=port1,name=org.holm.stdio",
            "virtio-9p-device,fsdev=fs0,mount_tag=rootfs",
            "virtio-9p-device,fsdev=fs1,mount_tag=vol0",
            "virtio-net-device,netdev=net0,mac=02:42:ac:11:00:02",
            "virtio-net-device,netdev=net1,mac=02:42:0a:4e:01:03",
            "virtio-balloon-device,free-page-reporting=on",
        ]
    );
    assert_eq!(
        values(&c.argv, "-fsdev"),
        [
            "local,id=fs0,path=/vm/rootfs,security_model=passthrough,multidevs=remap",
            "local,id=fs1,path=/vm/vol,,0,security_model=passthrough,multidevs=remap,readonly=on",
        ]
    );
    assert_eq!(
        values(&c.argv, "-netdev"),
        ["tap,id=net0,fd=6", "tap,id=net1,fd=7"]
    );
}

#[test]
fn snapshot_shape_ignores_macs_readonly_monitor_and_incoming() {
    let vm = |mac: &str, ro: bool| {
        QemuBuilder::new(Accel::Tcg, size(), "/k")
            .serial_port("org.holm.control", devnull())
            .unwrap()
            .share(Share {
                tag: "rootfs".into(),
                path: "/vm/rootfs".into(),
                readonly: ro,
            })
            .unwrap()
            .nic(devnull(), mac)
            .unwrap()
    };
    let a = vm("02:42:ac:11:00:02", false);
    let b = vm("02:42:ac:11:00:03", true).monitor(devnull());
    assert_eq!(a.shape(), b.shape());
    assert!(!a.shape().contains("mac="), "{}", a.shape());
    let c = b.build();
    assert_eq!(values(&c.argv, "-mon"), ["chardev=qmp,mode=control"]);
    assert!(values(&c.argv, "-chardev").contains(&"socket,id=qmp,fd=5"));
    let r = vm("02:42:ac:11:00:02", false).incoming(devnull());
    assert_eq!(r.shape(), a.shape());
    assert_eq!(values(&r.build().argv, "-incoming"), ["fd:5"]);
    // A different device shape, memory or cache size is another snapshot.
    let mut s2 = size();
    s2.memory_mib = 512;
    let other = |s: VmSize| {
        QemuBuilder::new(Accel::Tcg, s, "/k")
            .serial_port("org.holm.control", devnull())
            .unwrap()
            .shape()
    };
    assert_ne!(other(s2), other(size()));
    s2 = size();
    s2.tcg_tb_mib = 16;
    assert_ne!(other(s2), other(size()));
    assert_ne!(
        vm("02:42:ac:11:00:02", false)
            .nic(devnull(), "02:42:ac:11:00:09")
            .unwrap()
            .shape(),
        a.shape()
    );
}

#[test]
fn bad_names_and_macs_are_refused() {
    let b = || QemuBuilder::new(Accel::Tcg, size(), "/k");
    for name in ["", "a,b", "a b", "port=1"] {
        let e = b().serial_port(name, devnull()).unwrap_err();
        assert!(e.to_string().starts_with("virtserialport name:"), "{e}");
    }
    let e = b()
        .share(Share {
            tag: "x,readonly=off".into(),
            path: "/p".into(),
            readonly: true,
        })
        .unwrap_err();
    assert!(e.to_string().starts_with("9p mount tag:"), "{e}");
    for mac in [
        "02:42:ac:11:00",
        "02:42:ac:11:00:zz",
        "0242ac110002",
        "02:42:ac:11:00:02,x=y",
    ] {
        let e = b().nic(devnull(), mac).unwrap_err();
        assert!(e.to_string().starts_with("MAC address:"), "{e}");
    }
    // 8 virtio-mmio transports: serial + balloon + 6 more; a 7th NIC or share is refused by name.
    let mut q = b();
    for _ in 0..6 {
        q = q.nic(devnull(), "02:42:ac:11:00:02").unwrap();
    }
    let e = q.nic(devnull(), "02:42:ac:11:00:03").unwrap_err();
    assert!(
        e.to_string()
            .starts_with("VM devices: 7 network interface(s) and 0 shared directories"),
        "{e}"
    );
    let share = |t: &str| Share {
        tag: t.into(),
        path: "/p".into(),
        readonly: false,
    };
    let mut q = b().nic(devnull(), "02:42:ac:11:00:02").unwrap();
    for i in 0..5 {
        q = q.share(share(&format!("v{i}"))).unwrap();
    }
    let e = q.share(share("v5")).unwrap_err();
    assert!(
        e.to_string()
            .starts_with("VM devices: 1 network interface(s) and 6 shared directories need 9"),
        "{e}"
    );
    // Counted whole: 3 NICs and 4 shares say so, not where the eighth slot ran out.
    let e = check_devices(3, 4).unwrap_err().to_string();
    assert!(
        e.starts_with("VM devices: 3 network interface(s) and 4 shared directories need 9"),
        "{e}"
    );
    assert!(check_devices(2, 4).is_ok());
}

#[test]
fn size_from_limits() {
    let s = |m, q, p, c| VmSize::from_resources(m, q, p, c, 8).unwrap();
    assert_eq!(
        s(None, None, None, None),
        VmSize {
            memory_mib: DEFAULT_MEMORY_MIB,
            cpus: 1,
            tcg_tb_mib: TCG_TB_SIZE_MIB,
        }
    );
    assert_eq!(s(Some(-1), None, None, None).memory_mib, DEFAULT_MEMORY_MIB);
    assert_eq!(
        s(Some(6 << 20), None, None, None).memory_mib,
        MIN_MEMORY_MIB
    );
    assert_eq!(s(Some((300 << 20) + 1), None, None, None).memory_mib, 301);
    // docker --cpus 1.5 = quota 150000 / period 100000 -> 2 vCPUs
    assert_eq!(s(None, Some(150_000), Some(100_000), None).cpus, 2);
    assert_eq!(s(None, Some(50_000), None, None).cpus, 1);
    assert_eq!(s(None, None, None, Some("0-2,5")).cpus, 4);
    assert_eq!(s(None, None, None, Some("garbage")).cpus, 1);
    assert_eq!(
        s(None, Some(64_000_000), Some(100_000), None).cpus,
        8,
        "capped at host CPUs"
    );
    // More than the host has: refused before qemu fails to allocate it.
    let host = host_memory_mib().unwrap();
    let e = VmSize::from_resources(Some(((host + 1024) << 20) as i64), None, None, None, 8)
        .unwrap_err();
    assert!(e.to_string().contains("the host's memory"), "{e}");
    let e = VmSize::from_resources(Some(i64::MAX), None, None, None, 8).unwrap_err();
    assert!(
        e.to_string().starts_with("linux.resources.memory.limit:"),
        "{e}"
    );
    let v = VmSize {
        memory_mib: 128,
        cpus: 1,
        tcg_tb_mib: TCG_TB_SIZE_MIB,
    };
    assert_eq!(v.cgroup_memory_bytes(Accel::Kvm), 192 << 20);
    assert_eq!(v.cgroup_memory_bytes(Accel::Tcg), 224 << 20);
}

#[test]
fn argv_display_quotes() {
    let a = ["qemu", "-append", "console=hvc0 quiet", "it's"].map(String::from);
    assert_eq!(
        display_argv(&a),
        r"qemu -append 'console=hvc0 quiet' 'it'\''s'"
    );
}
