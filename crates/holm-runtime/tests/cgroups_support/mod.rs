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
/// that is the host's own unified hierarchy (`/sys/fs/cgroup/unified` outside), which offers at most `hugetlb` (probed), but
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

/// Where this host's kernel offers a cgroup controller (probed from `/proc/self/mountinfo` and cgroup2's
/// `cgroup.controllers`, never assumed: machines of the same kind differ in what their kernels carry).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Offered {
    /// A v1 hierarchy carries it, mounted at this path (e.g. `/sys/fs/cgroup/net_cls,net_prio`).
    V1(PathBuf),
    /// The cgroup2 hierarchy offers it (listed in `cgroup.controllers` at its mount point).
    V2,
    /// Neither: settings for it must be refused by name.
    No,
}

/// Mount points and super options (`rw,net_cls,net_prio`) of this process's cgroup mounts, with `true` for
/// cgroup2.
fn cgroup_mounts() -> Vec<(PathBuf, String, bool)> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").expect("read /proc/self/mountinfo");
    info.lines()
        .filter_map(|l| {
            let (left, right) = l.split_once(" - ")?;
            let mut r = right.split(' ');
            let fstype = r.next()?;
            let superopts = r.nth(1)?.to_string();
            let point = left.split(' ').nth(4)?.replace("\\040", " ");
            match fstype {
                "cgroup" => Some((PathBuf::from(point), superopts, false)),
                "cgroup2" => Some((PathBuf::from(point), superopts, true)),
                _ => None,
            }
        })
        .collect()
}

/// Where `controller` (`hugetlb`, `net_cls`, `net_prio`, `rdma`, ...) is offered on this host.
pub fn offered(controller: &str) -> Offered {
    let mounts = cgroup_mounts();
    if let Some((p, _, _)) = mounts
        .iter()
        .find(|(_, o, v2)| !v2 && o.split(',').any(|c| c == controller))
    {
        return Offered::V1(p.clone());
    }
    let in_v2 = mounts.iter().filter(|(_, _, v2)| *v2).any(|(p, _, _)| {
        std::fs::read_to_string(p.join("cgroup.controllers"))
            .is_ok_and(|t| t.split_whitespace().any(|c| c == controller))
    });
    if in_v2 {
        Offered::V2
    } else {
        Offered::No
    }
}

/// True if the kernel supports huge pages of `size` as the spec names it (`2MB` ⇔
/// `/sys/kernel/mm/hugepages/hugepages-2048kB`).
pub fn hugepage_size_exists(size: &str) -> bool {
    let kb: u64 = match size.strip_suffix("KB") {
        Some(n) => n.parse().unwrap_or(0),
        None => match size.strip_suffix("MB") {
            Some(n) => n.parse::<u64>().unwrap_or(0) << 10,
            None => {
                size.strip_suffix("GB")
                    .and_then(|n| n.parse::<u64>().ok())
                    .unwrap_or(0)
                    << 20
            }
        },
    };
    PathBuf::from(format!("/sys/kernel/mm/hugepages/hugepages-{kb}kB")).exists()
}

/// How `hugepageLimits` of page size 2MB fare on this host: `Some((dir controller, file))` where the limit is
/// written (`("hugetlb", "hugetlb.2MB.limit_in_bytes")` on v1, `("unified", "hugetlb.2MB.max")` on v2, for
/// [`cg_read`]), or `None` when the kernel has no hugetlb controller or no 2MB pages (the runtime refuses it).
pub fn hugetlb_2mb() -> Option<(&'static str, &'static str)> {
    if !hugepage_size_exists("2MB") {
        return None;
    }
    match offered("hugetlb") {
        Offered::V1(_) => Some(("hugetlb", "hugetlb.2MB.limit_in_bytes")),
        Offered::V2 => Some(("unified", "hugetlb.2MB.max")),
        Offered::No => None,
    }
}

/// Which blkio weight file (`blkio.weight`, CFQ; else `blkio.bfq.weight`, BFQ) the kernel creates in a
/// container's cgroup, probed in the cgroup of a container created without resources (the BFQ files are absent
/// from the hierarchy's root directory, and absent everywhere when BFQ is not loaded). `suffix` is `""` for the
/// weight, `"_device"` for per-device weights.
pub fn blkio_weight_file(rt: &Runtime, suffix: &str) -> Option<String> {
    let b = bundle("true", json!({}));
    let id = holm_testkit::unique_id("cg-probe");
    let _g = rt.guard(&id);
    rt.ok(&["create", "--bundle", &path_arg(&b), &id]);
    let found = [
        format!("blkio.weight{suffix}"),
        format!("blkio.bfq.weight{suffix}"),
    ]
    .into_iter()
    .find(|f| cg_dir("blkio", &id).join(f).exists());
    rt.ok(&["delete", "--force", &id]);
    found
}
