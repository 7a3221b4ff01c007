//! Helpers of the `vm_*.rs` end-to-end tests (`--isolation vm` under TCG): the static guest agent, a runtime that
//! uses it, a `create` whose container stdio goes to files, and waiting for text in them.
//!
//! Needs root, qemu-system-x86, the guest kernel (`scripts/build-guest-kernel.sh`, or `HOLM_VM_KERNEL`) and the
//! static agent (`$HOLM_VM_AGENT`, as scripts/test.sh exports it; else built here by `scripts/build-agent.sh`).
#![allow(dead_code)]

use super::lifecycle_util::{path_str, runtime};
use holm_testkit::{wait_until, Bundle, Runtime};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

/// How long one runtime call may take: a VM boots in seconds under TCG, much slower beside a full test run.
pub const VM_CALL_TIMEOUT: Duration = Duration::from_secs(240);

/// The static guest agent: `$HOLM_VM_AGENT`, else what `scripts/build-agent.sh` prints (built once per process).
pub fn agent() -> PathBuf {
    static AGENT: OnceLock<PathBuf> = OnceLock::new();
    AGENT
        .get_or_init(|| {
            if let Some(p) = std::env::var_os("HOLM_VM_AGENT").filter(|p| !p.is_empty()) {
                return PathBuf::from(p);
            }
            let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/build-agent.sh");
            let out = Command::new(&script)
                .output()
                .unwrap_or_else(|e| panic!("run {}: {e}", script.display()));
            assert!(
                out.status.success(),
                "scripts/build-agent.sh failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            PathBuf::from(String::from_utf8(out.stdout).unwrap().trim())
        })
        .clone()
}

/// `holm-runtime` (private state root) with the static agent and VM-sized timeouts.
pub fn vm_runtime() -> Runtime {
    vm_runtime_with_agent(&agent())
}

/// `holm-runtime` (private state root) with `agent` as the guest's pid 1 (e.g. a hostile or no agent) and
/// VM-sized timeouts.
pub fn vm_runtime_with_agent(agent: &Path) -> Runtime {
    runtime()
        .with_min_timeout(VM_CALL_TIMEOUT)
        .with_env("HOLM_VM_AGENT", agent)
}

/// `--isolation vm create --bundle B ID` with stdin from `/dev/null`; the caller chooses stdout and stderr.
pub fn create_cmd(rt: &Runtime, b: &Bundle, id: &str) -> Command {
    let mut c = rt.cmd(&[
        "--isolation",
        "vm",
        "create",
        "--bundle",
        path_str(b.path()),
        id,
    ]);
    c.stdin(Stdio::null());
    c
}

/// Runs `cmd` (`what` names it in messages), which must succeed; its stdout.
pub fn command_ok(cmd: &mut Command, what: &str) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("run {what}: {e}"));
    assert!(
        out.status.success(),
        "{what}: {}: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Same, but invoked through `bin` (e.g. a `holm-runtime-vm` symlink).
pub fn vm_runtime_at(bin: &Path) -> Runtime {
    holm_testkit::require_root();
    Runtime::new(bin)
        .with_min_timeout(VM_CALL_TIMEOUT)
        .with_env("HOLM_VM_AGENT", agent())
}

/// The host's kernel release (`uname -r`).
pub fn host_release() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .unwrap()
        .trim()
        .to_string()
}

/// The container's stdout and stderr, as files (a pipe would keep `create` waiting for the container, as runc's
/// does).
pub struct Stdio2 {
    _dir: tempfile::TempDir,
    /// The container's stdout.
    pub out: PathBuf,
    /// The container's stderr.
    pub err: PathBuf,
}

impl Stdio2 {
    /// The stdout text so far.
    pub fn out(&self) -> String {
        std::fs::read_to_string(&self.out).unwrap_or_default()
    }
    /// The stderr text so far.
    pub fn err(&self) -> String {
        std::fs::read_to_string(&self.err).unwrap_or_default()
    }
    /// Waits until stdout contains `needle`.
    pub fn wait_out(&self, needle: &str, t: Duration) {
        wait_until(t, &format!("`{needle}` on the container's stdout"), || {
            self.out().contains(needle)
        });
    }
}

/// `<global...> create --bundle B ID` with the container's stdio on files; asserts success (naming stderr).
pub fn create_vm(rt: &Runtime, global: &[&str], b: &Bundle, id: &str) -> Stdio2 {
    let dir = tempfile::tempdir().unwrap();
    let (out, err) = (dir.path().join("out"), dir.path().join("err"));
    let mut args: Vec<&str> = global.to_vec();
    args.extend(["create", "--bundle", path_str(b.path()), id]);
    let mut cmd = rt.cmd(&args);
    cmd.stdin(Stdio::null())
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(std::fs::File::create(&err).unwrap());
    let mut child = cmd.spawn().expect("spawn holm-runtime create");
    let deadline = std::time::Instant::now() + VM_CALL_TIMEOUT;
    let st = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("create {id} did not return in {VM_CALL_TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let s = Stdio2 {
        _dir: dir,
        out,
        err,
    };
    assert!(st.success(), "create {id}: {st}: {}", s.err());
    s
}

/// Adds a bind mount to the bundle's config (`ro` adds the `ro` option).
pub fn add_bind(b: &mut Bundle, src: &Path, dst: &str, ro: bool) {
    let mut opts = vec!["rbind"];
    if ro {
        opts.push("ro");
    }
    let m = serde_json::json!({"destination": dst, "type": "bind", "source": src, "options": opts});
    b.config_mut()["mounts"].as_array_mut().unwrap().push(m);
}

/// Waits (up to 120 s: VM verbs are slow on a loaded host) until `state` reports `want`.
pub fn wait_vm_status(rt: &Runtime, id: &str, want: &str) {
    wait_until(
        Duration::from_secs(120),
        &format!("VM container `{id}` to be {want}"),
        || super::lifecycle_util::status(rt, id).0 == want,
    );
}
