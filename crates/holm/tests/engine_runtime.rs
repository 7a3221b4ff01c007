//! `--runtime runc`: the same containers through an external OCI runtime binary (Debian's runc, installed by
//! scripts/install-test-deps.sh): foreground output and exit code, start errors, detached run, exec, pause,
//! stop, logs, and cleanup.

#[path = "../../image/tests/common/mod.rs"]
mod common;
mod engine_common;

use engine_common::{wait_until, Engine, IMAGE};
use std::time::Duration;

#[test]
fn containers_through_runc() {
    let e = Engine::new();
    let (out, err) = e.code(
        3,
        &[
            "run",
            "--rm",
            "--runtime",
            "runc",
            "--hostname",
            "viarunc",
            IMAGE,
            "sh",
            "-c",
            "echo out; hostname; echo err >&2; exit 3",
        ],
    );
    assert_eq!(out, "out\nviarunc\n");
    assert_eq!(err, "err\n");
    let (_, err) = e.code(
        127,
        &["run", "--rm", "--runtime", "runc", IMAGE, "nosuchcmd"],
    );
    assert!(err.contains("executable file not found"), "{err}");
    let (_, err) = e.code(
        125,
        &["run", "--rm", "--runtime", "no-such-runtime", IMAGE, "true"],
    );
    assert!(err.contains("\"--runtime\""), "{err}");

    let id = e.detached(&[
        "--name",
        "rc",
        "--runtime",
        "runc",
        "--memory",
        "64m",
        IMAGE,
        "sh",
        "-c",
        "echo started; exec sleep 60",
    ]);
    // runc's own state, under holm's runroot
    assert!(e.runroot.join("oci/runc").join(&id).exists());
    wait_until(Duration::from_secs(10), "log", || {
        e.ok(&["logs", "rc"]) == "started\n"
    });
    assert_eq!(
        e.ok(&["exec", "-e", "X=1", "rc", "sh", "-c", "echo $X; id -u"]),
        "1\n0\n"
    );
    assert_eq!(
        e.run(&["exec", "rc", "sh", "-c", "exit 4"]).status.code(),
        Some(4)
    );
    e.ok(&["pause", "rc"]);
    assert_eq!(e.status("rc"), "paused");
    e.ok(&["unpause", "rc"]);
    assert_eq!(e.status("rc"), "running");
    e.ok(&["stop", "-t", "1", "rc"]);
    let v = e.inspect("rc");
    assert_eq!(v["State"]["Status"], "exited");
    // sleep as pid 1 ignores SIGTERM: killed after the timeout
    assert_eq!(v["State"]["ExitCode"], 137);
    assert!(!e.runroot.join("oci/runc").join(&id).exists());
    // it starts again through runc, and rm -f cleans up
    e.ok(&["start", "rc"]);
    assert_eq!(e.status("rc"), "running");
    e.ok(&["rm", "-f", "rc"]);
    e.assert_gone(&id);
    assert!(!e.runroot.join("oci/runc").join(&id).exists());
}
