//! Signals to an attached `holm run` / `holm start -a` before its container runs: holm must not die of them
//! (which left the container "Created", or running with no one to remove it) but forward them once the container
//! runs, as docker does. The window is held open deterministically by a `--runtime` wrapper around runc that
//! waits in `create` until the test has sent the signal.

#[path = "../../image/tests/common/mod.rs"]
mod common;
mod engine_common;

use engine_common::{wait_until, Engine, IMAGE};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A runtime wrapper in `dir`: `create` touches `dir/at-create` and waits for `dir/go`, then everything is runc.
fn gated_runtime(dir: &Path) -> PathBuf {
    let runc = ["/usr/sbin/runc", "/usr/bin/runc", "/usr/local/sbin/runc"]
        .into_iter()
        .find(|p| Path::new(p).is_file())
        .expect("runc is needed (scripts/install-test-deps.sh)");
    let d = dir.display();
    let script = format!(
        "#!/bin/sh\ncase \" $* \" in *\" create \"*) touch {d}/at-create; \
         while [ ! -e {d}/go ]; do sleep 0.01; done;; esac\nexec {runc} \"$@\"\n"
    );
    let p = dir.join("gated-runc");
    std::fs::write(&p, script).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    p
}

/// Runs `holm ARGS` (which must create through a [`gated_runtime`] in `dir`), sends it SIGINT while the runtime
/// is in `create`, lets the create go on and returns holm's exit status and stderr.
fn sigint_while_creating(
    e: &Engine,
    dir: &Path,
    args: &[&str],
) -> (std::process::ExitStatus, String) {
    let _ = std::fs::remove_file(dir.join("at-create"));
    let _ = std::fs::remove_file(dir.join("go"));
    let child = e.spawn(args);
    wait_until(Duration::from_secs(20), "the runtime's create", || {
        dir.join("at-create").exists()
    });
    holm_sys::process::kill(child.id() as i32, libc::SIGINT).unwrap();
    // The signal is delivered (or left pending) before the create goes on.
    std::thread::sleep(Duration::from_millis(100));
    std::fs::write(dir.join("go"), b"").unwrap();
    let o = child.wait_with_output().unwrap();
    (o.status, String::from_utf8_lossy(&o.stderr).into_owned())
}

#[test]
fn sigint_before_the_container_runs_is_forwarded_not_fatal() {
    let e = Engine::new();
    let dir = e.tmp.path().join("gate");
    std::fs::create_dir(&dir).unwrap();
    let rt = gated_runtime(&dir);
    let rt = rt.to_str().unwrap();
    // --init (tini) forwards SIGINT to `sleep`, which dies of it: docker's 130. Without the forwarding the
    // container would sleep its 30 s out; without the blocking holm dies of SIGINT.
    let cmd = ["--init", "--runtime", rt, IMAGE, "sleep", "30"];

    // run --rm: the container gets the signal and is removed
    let mut args = vec!["run", "--rm", "--name", "sig-rm"];
    args.extend_from_slice(&cmd);
    let (st, err) = sigint_while_creating(&e, &dir, &args);
    assert_eq!(st.signal(), None, "holm died of a signal: {st}; {err}");
    assert_eq!(st.code(), Some(130), "{err}");
    wait_until(Duration::from_secs(10), "--rm removal", || {
        e.ok(&["ps", "-aq"]).trim().is_empty()
    });

    // run (kept): exited with the signal's code, not left "Created"
    let mut args = vec!["run", "--name", "sig-keep"];
    args.extend_from_slice(&cmd);
    let (st, err) = sigint_while_creating(&e, &dir, &args);
    assert_eq!(st.signal(), None, "holm died of a signal: {st}; {err}");
    assert_eq!(st.code(), Some(130), "{err}");
    wait_until(Duration::from_secs(10), "exited", || {
        e.status("sig-keep") == "exited"
    });
    assert_eq!(e.inspect("sig-keep")["State"]["ExitCode"], 130);

    // start -a has the same window
    let (st, err) = sigint_while_creating(&e, &dir, &["start", "-a", "sig-keep"]);
    assert_eq!(st.signal(), None, "holm died of a signal: {st}; {err}");
    assert_eq!(st.code(), Some(130), "{err}");
    wait_until(Duration::from_secs(10), "exited", || {
        e.status("sig-keep") == "exited"
    });
    e.ok(&["rm", "sig-keep"]);
}
