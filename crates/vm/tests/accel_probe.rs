//! The accelerator probe against the real guest kernel (scripts/build-guest-kernel.sh must have installed it; the
//! test fails, not skips, without it) and the real qemu.
//!
//! - TCG boot of the probe initramfs reaches the marker (the positive control: kernel, probe `/init` and marker
//!   detection work);
//! - a file that is no kernel never "boots" (the negative control);
//! - the KVM probe's outcome agrees with what the host offers (`/dev/kvm` openable or not), the outcome is cached
//!   under the key and read back from the cache on the next call.

use std::path::Path;
use std::time::Duration;

use holm_vm::accel::{
    cache_key, cached_probe, decide, decode_outcome, encode_outcome, file_sha256, host_release,
    probe_boot, qemu_version, Accel, BootOutcome, ProbeOptions, ProbeOutcome,
};
use holm_vm::kernel::find_kernel;

fn kernel() -> std::path::PathBuf {
    find_kernel(None).unwrap_or_else(|e| panic!("{e}")).path
}

fn opts(timeout_s: u64, cache: Option<&Path>) -> ProbeOptions {
    ProbeOptions {
        timeout: Duration::from_secs(timeout_s),
        cache_dir: cache.map(Path::to_path_buf),
        ..ProbeOptions::default()
    }
}

#[test]
fn tcg_boot_of_the_guest_kernel_reaches_the_probe_init() {
    // Generous bound: TCG boots this kernel in about a second, but the machine may be loaded.
    let out = probe_boot(&kernel(), Accel::Tcg, &opts(120, None)).unwrap();
    assert_eq!(out, BootOutcome::Booted);
}

#[test]
fn a_file_that_is_no_kernel_never_boots() {
    let dir = tempfile::tempdir().unwrap();
    let fake = dir.path().join("vmlinuz");
    let mut data = vec![0u8; 4096];
    data[0x202..0x206].copy_from_slice(b"HdrS");
    std::fs::write(&fake, data).unwrap();
    match probe_boot(&fake, Accel::Tcg, &opts(20, None)).unwrap() {
        BootOutcome::Failed(reason) => assert!(reason.contains("qemu -accel tcg"), "{reason}"),
        BootOutcome::Booted => panic!("a zero-filled image booted to the probe marker"),
    }
}

#[test]
fn kvm_probe_follows_the_host_and_is_cached() {
    let kernel = kernel();
    let cache = tempfile::tempdir().unwrap();
    let o = opts(15, Some(cache.path()));
    let kvm_opens = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/kvm")
        .is_ok();

    // The first call probes (the cache is empty) and stores the outcome under the documented key.
    let direct = cached_probe(&kernel, &o).unwrap();
    match (&direct, kvm_opens) {
        (ProbeOutcome::KvmUnavailable(r), false) => assert!(r.starts_with("/dev/kvm: "), "{r}"),
        (ProbeOutcome::KvmBoots, true) => {}
        (ProbeOutcome::KvmCannotBoot(r), true) => {
            assert!(r.contains("qemu -accel kvm"), "{r}");
            let notice = decide(&direct).notice().unwrap();
            assert!(
                notice.starts_with("holm: KVM cannot boot the guest kernel here (qemu -accel kvm"),
                "{notice}"
            );
            assert!(
                notice.ends_with("; using TCG (software emulation), expect slower VMs"),
                "{notice}"
            );
        }
        (other, opens) => panic!("probe said {other:?} but /dev/kvm opens: {opens}"),
    }
    eprintln!("this host: {direct:?}");

    let first = direct.clone();
    let key = cache_key(
        &file_sha256(&kernel).unwrap(),
        &qemu_version(&o.qemu).unwrap(),
        &host_release(),
    );
    let file = cache.path().join(format!("accel-{key}"));
    let stored =
        std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    assert_eq!(decode_outcome(&stored), Some(first.clone()));

    // The next call reads the cache instead of probing: a planted outcome comes back as it is.
    let planted = ProbeOutcome::KvmCannotBoot("planted by the test".into());
    std::fs::write(&file, encode_outcome(&planted)).unwrap();
    assert_eq!(cached_probe(&kernel, &o).unwrap(), planted);
    // An unreadable cache entry is ignored and replaced by a fresh probe.
    std::fs::write(&file, "garbage").unwrap();
    let again = cached_probe(&kernel, &o).unwrap();
    assert_eq!(
        std::mem::discriminant(&again),
        std::mem::discriminant(&direct)
    );
    assert_eq!(
        decode_outcome(&std::fs::read_to_string(&file).unwrap()),
        Some(again)
    );
}
