//! Helpers shared by the `cgroups_*` integration tests: busybox containers with `linux.resources`, and the
//! host's view of their cgroup (the holm VM is hybrid: v1 controllers under `/sys/fs/cgroup/<name>`, cgroup2 at
//! `/sys/fs/cgroup/unified`).
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Output;

use holm_testkit::{require_root, Bundle, Runtime};
use serde_json::{json, Value};

/// A `holm-runtime` with a private state root. Panics (never skips) without root.
pub fn runtime() -> Runtime {
    require_root();
    Runtime::new(env!("CARGO_BIN_EXE_holm-runtime"))
}

/// A busybox bundle running `sh -c <script>` with `linux.resources` merged with `resources` (keys replace).
pub fn bundle(script: &str, resources: Value) -> Bundle {
    let mut b = Bundle::busybox();
    b.config_mut()["process"]["args"] = json!(["sh", "-c", script]);
    let r = &mut b.config_mut()["linux"]["resources"];
    for (k, v) in resources.as_object().expect("resources is an object") {
        r[k] = v.clone();
    }
    b.write_config();
    b
}

/// The bundle path as a string argument.
pub fn path_arg(b: &Bundle) -> String {
    b.path().to_str().expect("UTF-8 bundle path").to_string()
}

/// Where container `id` with the default cgroups path (`/holm/<id>`) lives in v1 hierarchy `controller`
/// (`memory`, `cpu`, ...) or, for `unified`, in cgroup2.
pub fn cg_dir(controller: &str, id: &str) -> PathBuf {
    PathBuf::from(format!("/sys/fs/cgroup/{controller}/holm/{id}"))
}

/// The trimmed content of a cgroup file of container `id` on the host; panics naming the file.
pub fn cg_read(controller: &str, id: &str, file: &str) -> String {
    let p = cg_dir(controller, id).join(file);
    std::fs::read_to_string(&p)
        .unwrap_or_else(|e| panic!("read `{}`: {e}", p.display()))
        .trim()
        .to_string()
}

/// Every cgroup directory of container `id` that still exists on the host.
pub fn leftover_dirs(id: &str) -> Vec<PathBuf> {
    [
        "cpu", "cpuacct", "cpuset", "memory", "devices", "freezer", "blkio", "pids", "systemd",
        "unified",
    ]
    .iter()
    .map(|c| cg_dir(c, id))
    .filter(|p| p.exists())
    .collect()
}

/// stdout and stderr of `out`, for assertion messages.
pub fn describe(out: &Output) -> String {
    format!(
        "status {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// `major:minor` of a block device of this host (the first disk that is not a loop, ram or zram device, else
/// the first of any kind), for blkio rules.
pub fn block_device() -> (u64, u64) {
    let mut names: Vec<String> = std::fs::read_dir("/sys/block")
        .expect("read /sys/block")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort_by_key(|n| {
        (
            n.starts_with("loop") || n.starts_with("ram") || n.starts_with("zram"),
            n.clone(),
        )
    });
    let name = names.first().expect("a block device in /sys/block");
    let dev = std::fs::read_to_string(format!("/sys/block/{name}/dev")).expect("read dev");
    let (ma, mi) = dev.trim().split_once(':').expect("major:minor");
    (ma.parse().unwrap(), mi.parse().unwrap())
}

/// A "cgroup v2 host" runtime: a wrapper that runs `holm-runtime` in a private mount namespace where the only
/// cgroup mount is cgroup2 at `/sys/fs/cgroup` (the v1 hierarchies are unmounted there). On this hybrid machine
/// that is the host's own unified hierarchy (`/sys/fs/cgroup/unified` outside), which offers only `hugetlb`, but
/// has the v2 core files (`cgroup.freeze`, `cgroup.kill`, `cgroup.events`) and eBPF device filtering: the
/// runtime's v2 code paths run for real.
pub fn v2_runtime() -> Runtime {
    require_root();
    let bin = env!("CARGO_BIN_EXE_holm-runtime");
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let script = dir.join("holm-runtime-cgroup2-only");
    let text = format!(
        "#!/bin/sh\n\
         # holm-runtime on a cgroup2-only view of this host (see cgroups_support::v2_runtime).\n\
         exec unshare --mount --propagation private sh -c \
         'umount -l /sys/fs/cgroup && mount -t cgroup2 none /sys/fs/cgroup && exec \"$0\" \"$@\"' '{bin}' \"$@\"\n"
    );
    // Written under a name unique to this call, then renamed: parallel tests never see a half-written file.
    static CALLS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = CALLS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let tmp = dir.join(format!(
        ".holm-runtime-cgroup2-only.{}.{n}",
        std::process::id()
    ));
    std::fs::write(&tmp, text).expect("write the cgroup2 wrapper");
    std::fs::set_permissions(&tmp, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    std::fs::rename(&tmp, &script).expect("install the cgroup2 wrapper");
    Runtime::new(script)
}

/// The host path of container `id`'s cgroup2 directory (default cgroups path `/holm/<id>`).
pub fn v2_dir(id: &str) -> PathBuf {
    cg_dir("unified", id)
}

/// `state ID`'s status.
pub fn status(rt: &Runtime, id: &str) -> String {
    rt.state(id)["status"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// Starts a detached container running a shell loop that increments `/tmp/count` every 20 ms; returns the path
/// of that file on the host (the rootfs has no mount on /tmp).
pub fn run_counter(rt: &Runtime, b: &mut Bundle, id: &str) -> PathBuf {
    b.config_mut()["process"]["args"] = json!([
        "sh",
        "-c",
        "i=0; while true; do i=$((i+1)); echo $i > /tmp/count.new; mv /tmp/count.new /tmp/count; sleep 0.02; done"
    ]);
    b.write_config();
    rt.ok(&["run", "--detach", "--bundle", &path_arg(b), id]);
    let count = b.rootfs().join("tmp/count");
    holm_testkit::wait_until(
        std::time::Duration::from_secs(10),
        "the counter to start",
        || read_count(&count) > 0,
    );
    count
}

/// The counter's current value (0 if not readable yet).
pub fn read_count(p: &std::path::Path) -> u64 {
    std::fs::read_to_string(p)
        .ok()
        .and_then(|t| t.trim().parse().ok())
        .unwrap_or(0)
}
