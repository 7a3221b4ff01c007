//! A signal sent to a foreground `holm run --isolation vm` while its VM boots reaches the container: holm holds it
//! until the container runs and forwards it then, and the guest agent holds a signal for the init that the init
//! does not catch yet (pid 1 of its pid namespace: the kernel would drop it) until it installs its handler, for up
//! to 2 s after the start. Before, the signal came right after the start and was dropped (rc 0 instead of the
//! trap's 9). Root, TCG (`HOLM_VM_ACCEL=tcg` unless set), `$HOLM_VM_AGENT` and holm-runtime built (as engine_vm).

#[path = "../../image/tests/common/mod.rs"]
mod common;
mod engine_common;

use engine_common::{vm_engine, IMAGE};

#[test]
fn a_signal_during_the_boot_reaches_the_container() {
    let e = vm_engine();
    for (sig, name, code) in [(libc::SIGINT, "INT", 9), (libc::SIGTERM, "TERM", 7)] {
        let script = format!("trap 'echo {name}; exit {code}' {name}; sleep 5");
        let mut c = e.cmd(&[
            "run",
            "--rm",
            "--isolation",
            "vm",
            IMAGE,
            "sh",
            "-c",
            &script,
        ]);
        if std::env::var_os("HOLM_VM_ACCEL").is_none() {
            c.env("HOLM_VM_ACCEL", "tcg");
        }
        let child = c
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // While the VM boots (about a second under TCG), after holm blocked its signals (at once).
        std::thread::sleep(std::time::Duration::from_millis(600));
        holm_sys::process::kill(child.id() as i32, sig).unwrap();
        let o = child.wait_with_output().unwrap();
        let (out, err) = (
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr),
        );
        // SIGINT: busybox sh handles it from its start, so one that comes before its trap is set ends it with 130
        // (as in a process container); SIGTERM it does not handle before the trap. Before the fix: rc 0, nothing.
        if sig == libc::SIGINT && o.status.code() == Some(130) {
            continue;
        }
        assert_eq!(o.status.code(), Some(code), "{name}: {out} {err}");
        assert_eq!(out, format!("{name}\n"), "{name}: {err}");
    }
}
