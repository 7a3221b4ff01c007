//! Snapshot boot (holm_vm::snapshot) end to end, with a private template directory (`HOLM_VM_SNAPSHOT_DIR`):
//! the first VM of a shape boots and saves a template, the next ones are restored from it (the state directory's
//! `boot-mode` says which), restored guests read different random bytes and show the host's date, a damaged
//! template costs one boot that replaces it, and the annotation `org.holm.vm.snapshot-boot: "false"` boots.
//! Helpers: vm_support (needs the guest kernel and the static agent).

mod lifecycle_util;
mod vm_support;

use holm_testkit::{unique_id, wait_until, Bundle, Runtime};
use vm_support::*;

/// Runs one VM container to its end with `b` (create, read `boot-mode`, start, wait, delete); returns
/// (boot mode, stdout).
fn run_one(rt: &Runtime, b: &Bundle) -> (String, String) {
    let id = unique_id("vm-snap");
    let _g = rt.guard(&id);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let err = dir.path().join("err");
    let st = create_cmd(rt, b, &id)
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(std::fs::File::create(&err).unwrap())
        .status()
        .unwrap();
    assert!(
        st.success(),
        "create: {st}: {}",
        std::fs::read_to_string(&err).unwrap_or_default()
    );
    let mode = std::fs::read_to_string(rt.root().join(&id).join("boot-mode")).unwrap_or_default();
    rt.ok(&["start", &id]);
    wait_until(VM_CALL_TIMEOUT, "the container to stop", || {
        rt.state(&id)["status"] == "stopped"
    });
    rt.ok(&["delete", &id]);
    let text = std::fs::read_to_string(&out).unwrap();
    (mode.trim().to_string(), text)
}

/// Checks the guest's date (first line) against the host's and returns the random hex (second line).
fn date_and_random(text: &str) -> String {
    let host = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let mut lines = text.lines();
    let date: i64 = lines
        .next()
        .unwrap_or_default()
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("a date in {text:?}"));
    assert!(
        (host - 30..=host + 2).contains(&date),
        "guest date {date}, host {host}"
    );
    let rnd = lines.next().unwrap_or_default().trim().to_string();
    assert_eq!(rnd.len(), 32, "16 random bytes in hex: {text:?}");
    rnd
}

#[test]
fn a_second_vm_is_restored_and_differs_a_damaged_template_boots() {
    let snap = tempfile::tempdir().unwrap();
    let rt = vm_runtime().with_env("HOLM_VM_SNAPSHOT_DIR", snap.path());
    let mut b = Bundle::busybox();
    b.set_args(&[
        "sh",
        "-c",
        "date +%s; head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \\n'; echo",
    ]);
    let (m1, t1) = run_one(&rt, &b);
    assert_eq!(m1, "booted, saved a snapshot", "{t1}");
    let states: Vec<_> = std::fs::read_dir(snap.path())
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "state"))
        .collect();
    assert_eq!(states.len(), 1, "{states:?}");
    let meta = std::fs::metadata(&states[0]).unwrap();
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    let (m2, t2) = run_one(&rt, &b);
    let (m3, t3) = run_one(&rt, &b);
    assert_eq!(m2, "restored", "{t2}");
    assert_eq!(m3, "restored", "{t3}");
    let (r2, r3) = (date_and_random(&t2), date_and_random(&t3));
    assert_ne!(r2, r3, "two restored guests read the same random bytes");
    date_and_random(&t1);

    // Damaged: qemu's stream after the header overwritten. One boot replaces it; the next VM is restored again.
    {
        use std::io::{Seek, SeekFrom, Write};
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .open(&states[0])
            .unwrap();
        f.seek(SeekFrom::Start(holm_vm::snapshot::HEADER_LEN as u64))
            .unwrap();
        f.write_all(&[0x5a; 4096]).unwrap();
    }
    let (m4, t4) = run_one(&rt, &b);
    assert_eq!(m4, "booted, saved a snapshot", "{t4}");
    date_and_random(&t4);
    let (m5, t5) = run_one(&rt, &b);
    assert_eq!(m5, "restored", "{t5}");
    date_and_random(&t5);

    // Turned off for one container.
    b.config_mut()["annotations"] = serde_json::json!({ "org.holm.vm.snapshot-boot": "false" });
    b.write_config();
    let (m6, t6) = run_one(&rt, &b);
    assert_eq!(m6, "booted", "{t6}");
}

#[test]
fn a_bad_snapshot_boot_value_is_refused_at_create() {
    let snap = tempfile::tempdir().unwrap();
    let rt = vm_runtime().with_env("HOLM_VM_SNAPSHOT_DIR", snap.path());
    let mut b = Bundle::busybox();
    b.config_mut()["annotations"] = serde_json::json!({ "org.holm.vm.snapshot-boot": "no" });
    b.write_config();
    let id = unique_id("vm-snap-bad");
    let _g = rt.guard(&id);
    let out = create_cmd(&rt, &b, &id)
        .stdout(std::process::Stdio::null())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(
            "annotations.org.holm.vm.snapshot-boot: expected \"true\" or \"false\", got \"no\""
        ),
        "{err}"
    );
    assert!(std::fs::read_dir(snap.path()).unwrap().next().is_none());
}
