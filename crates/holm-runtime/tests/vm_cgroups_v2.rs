//! The runtime's cgroup v2 code on a real cgroup-v2-only kernel (issue 13: "the guest is also the project's
//! pure-cgroup-v2 test host"). This host is hybrid (v1 + a v2 hierarchy with almost no controllers), so
//! `cgroups_v2.rs` can only fake a v2-only host; here ONE VM boots (TCG boots are slow) whose container is
//! privileged enough to run the host-built `holm-runtime` inside the guest (all capabilities, no seccomp, no masked
//! paths, every device allowed, no cgroup namespace: it mounts the guest's whole cgroup2 tree itself). A script
//! there ([`DRIVER`]) drives that nested runtime on a nested busybox bundle with memory, pids, cpu and cpuset limits
//! and prints what the guest kernel shows; the host asserts each line:
//! the guest mounts only cgroup2 and its root offers cpuset, cpu, io, memory and pids; `linux.resources` land in
//! memory.max, memory.swap.max, pids.max, cpu.max, cpu.weight, cpuset.cpus; the eBPF device filter lets the
//! container use /dev/null and a mknod'ed 1:3 but not a mknod'ed /dev/mem (1:1); `update` rewrites the files;
//! `pause`/`resume` go through cgroup.freeze (state `paused`, cgroup.events `frozen 1`, a counter loop stops and
//! goes on); a busy loop is throttled by cpu.max (cpu.stat nr_throttled) and a fork loop stops at pids.max
//! (pids.events max); `events --stats` reports the container's pids and memory; an exec that allocates past
//! memory.max is OOM-killed (exit 137, memory.events oom_kill 1, one `oom` event in a streaming `events`) and the
//! container lives on; `delete` removes the cgroup. io: the guest has no block device and no io.weight or
//! io.bfq.weight, so a blockIO weight must be refused by name at create (and leave no cgroup); io.max throttling is
//! not exercised.
//!
//! Needs root, qemu, the guest kernel and the static agent (vm_support); the nested runtime is this crate's own
//! debug binary with its shared libraries (from `ldd`) copied into the VM container's rootfs.

mod lifecycle_util;
mod vm_support;

use holm_testkit::{unique_id, Bundle};
use serde_json::json;
use std::path::Path;
use std::time::Duration;
use vm_support::*;

/// The nested container: device filter checks (device nodes made on its /dev tmpfs: the shared rootfs may refuse
/// mknod), its own cgroup view, then a counter loop (to observe the freezer). The loop never forks (ash builtins,
/// a `read -t` on a fifo as its sleep): a failed fork would end this init when the pids test fills pids.max. It
/// appends lines, so a reader never sees a half-written value.
const NESTED: &str = r#"exec 2>&1
echo x > /dev/null && echo null-ok
mknod /dev/mem2 c 1 1 && echo mknod-mem-ok; head -c 1 /dev/mem2 >/dev/null; echo mem=$?
mknod /dev/null2 c 1 3 && echo y > /dev/null2 && echo null2-ok
echo self-cgroup=$(cat /proc/self/cgroup)
echo nested-ready
mkfifo /dev/shm/tick; exec 3<>/dev/shm/tick
while :; do echo tick >> /tmp/count; read -t 0.1 x <&3; done"#;

/// Runs in the VM container: drives the nested runtime (`$1` = nested id, `$2` = its cgroups path) and prints
/// `key=value` lines, then `DRIVER-DONE`.
const DRIVER: &str = r#"exec 2>&1
NID=$1; CG=/sys/fs/cgroup$2
R="/usr/local/bin/holm-runtime --root /run/nested"
mount -t cgroup2 cgroup2 /sys/fs/cgroup || echo cgroup2-mount-failed
echo fstypes=$(sed -n 's/.* - \([^ ]*\) .*/\1/p' /proc/self/mountinfo | grep cgroup | sort -u | tr '\n' ' ')
echo root-controllers=$(cat /sys/fs/cgroup/cgroup.controllers)
show() { for f in "$@"; do echo "$1:$f=$(cat $CG/$f 2>&1 | tr '\n' ' ')"; done; }
$R create --bundle /nb $NID </dev/null >/tmp/n.out 2>/tmp/n.err; echo create=$?
cat /tmp/n.err
$R start $NID; echo start=$?
n=0; while ! grep -q nested-ready /tmp/n.out && [ $n -lt 600 ]; do sleep 0.1; n=$((n+1)); done
sed 's/^/nested:/' /tmp/n.out
for f in memory.max memory.swap.max pids.max cpu.max cpu.weight cpuset.cpus io.max; do
  echo "initial:$f=$(cat $CG/$f 2>&1 | tr '\n' ' ')"; done
echo "cg-controllers=$(cat $CG/cgroup.controllers)"
echo "io-files=$(ls $CG | grep '^io\.' | tr '\n' ' ')"
echo "block-devices=$(ls /sys/block | tr '\n' ' ')"
$R create --bundle /nb-io $NID-io </dev/null >/dev/null 2>/tmp/io.err; echo io-weight-create=$?
echo "io-weight-err=$(tr '\n' ' ' </tmp/io.err)"
$R delete --force $NID-io >/dev/null 2>&1
if [ -e $CG-io ]; then echo io-cgroup-left=yes; else echo io-cgroup-left=no; fi
echo guest-cpus=$(nproc)
$R update --memory 50331648 --memory-swap 50331648 --memory-reservation 16777216 --pids-limit 80 \
  --cpu-quota 20000 --cpu-period 100000 --cpu-share 2048 --cpuset-cpus $(( $(nproc) - 1 )) $NID
echo update=$?
for f in memory.max memory.swap.max memory.low pids.max cpu.max cpu.weight cpuset.cpus; do
  echo "updated:$f=$(cat $CG/$f 2>&1 | tr '\n' ' ')"; done
$R pause $NID; echo pause=$?
echo "paused-state=$($R state $NID | tr -d ' \n' | grep -o '"status":"[a-z]*"')"
echo "paused-freeze=$(cat $CG/cgroup.freeze) $(grep frozen $CG/cgroup.events)"
count() { wc -l < /nb/rootfs/tmp/count; }
a=$(count); sleep 2; b=$(count)
echo "paused-count=$a $b"
$R resume $NID; echo resume=$?
echo "resumed-state=$($R state $NID | tr -d ' \n' | grep -o '"status":"[a-z]*"')"
echo "resumed-freeze=$(cat $CG/cgroup.freeze) $(grep frozen $CG/cgroup.events)"
n=0; while [ "$(count)" = "$b" ] && [ $n -lt 200 ]; do sleep 0.1; n=$((n+1)); done
c=$(count)
echo "resumed-count=$b $c"
t0=$(sed -n 's/^nr_throttled //p' $CG/cpu.stat)
$R exec $NID timeout 2 sh -c 'while :; do :; done'
echo "cpu-throttled=$t0 $(sed -n 's/^nr_throttled //p' $CG/cpu.stat)"
$R exec $NID sh -c 'while :; do sleep 60 & done' >/dev/null 2>&1; echo pids-fill-exec=$?
echo "pids-filled=$(cat $CG/pids.current) $(sed -n 's/^max //p' $CG/pids.events)"
for p in $(cat $CG/cgroup.procs); do [ "$(tr '\0' ' ' </proc/$p/cmdline)" = "sleep 60 " ] && kill $p; done
n=0; while [ $(cat $CG/pids.current) -gt 10 ] && [ $n -lt 300 ]; do sleep 0.1; n=$((n+1)); done
echo "pids-drained=$(cat $CG/pids.current)"
echo "stats=$($R events --stats $NID | tr -d '\n')"
$R events --interval 500ms $NID >/tmp/ev 2>&1 & EV=$!
n=0; while ! grep -q '"type":"stats"' /tmp/ev && [ $n -lt 300 ]; do sleep 0.1; n=$((n+1)); done
$R exec $NID sh -c 'awk "BEGIN { s = \"x\"; while (1) s = s s }"'
echo oom-exec=$?
sleep 1.5; kill $EV
echo "events-oom=$(grep -c '"type":"oom"' /tmp/ev) events-stats=$(grep -c '"type":"stats"' /tmp/ev)"
echo "oom-events=$(tr '\n' ' ' < $CG/memory.events)"
echo "after-oom-state=$($R state $NID | tr -d ' \n' | grep -o '"status":"[a-z]*"')"
$R kill $NID KILL; echo kill=$?
n=0; while ! $R state $NID | grep -q stopped && [ $n -lt 100 ]; do sleep 0.1; n=$((n+1)); done
$R delete $NID; echo delete=$?
if [ -e $CG ]; then echo cgroup-left=yes; else echo cgroup-left=no; fi
echo DRIVER-DONE
"#;

/// Every capability a 6.1 kernel knows (0..=40).
const ALL_CAPS: [&str; 41] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
];

/// Copies `bin` and the shared libraries `ldd` names for it into `rootfs` at the same paths.
fn install_with_libs(bin: &Path, rootfs: &Path, dest: &str) {
    let copy = |from: &Path, to: &Path| {
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(from, to)
            .unwrap_or_else(|e| panic!("copy {} to {}: {e}", from.display(), to.display()));
    };
    copy(bin, &rootfs.join(dest.trim_start_matches('/')));
    let out = std::process::Command::new("ldd").arg(bin).output().unwrap();
    assert!(out.status.success(), "ldd {}", bin.display());
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        // `libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x...)` or `/lib64/ld-linux-x86-64.so.2 (0x...)`.
        let path = line
            .split("=>")
            .last()
            .unwrap()
            .split_whitespace()
            .next()
            .unwrap_or("");
        if path.starts_with('/') {
            copy(Path::new(path), &rootfs.join(path.trim_start_matches('/')));
        }
    }
}

/// The value of the first `key=...` line of `out` (panics naming the key and the whole output).
fn field<'a>(out: &'a str, key: &str) -> &'a str {
    let p = format!("{key}=");
    out.lines()
        .find_map(|l| l.strip_prefix(&p))
        .unwrap_or_else(|| panic!("no `{key}=` line in the guest's output:\n{out}"))
        .trim()
}

#[test]
fn cgroup_v2_verbs_on_a_v2_only_guest_kernel() {
    let rt = vm_runtime();
    let id = unique_id("vm-cg2");
    let nid = unique_id("nested");
    let cg_path = format!("/holm-nested/{nid}");

    // The nested bundle (built on the host, copied into the VM container's rootfs at /nb).
    let mut nb = Bundle::busybox();
    nb.config_mut()["process"]["args"] = json!(["sh", "-c", NESTED]);
    for set in ["bounding", "effective", "permitted"] {
        nb.config_mut()["process"]["capabilities"][set]
            .as_array_mut()
            .unwrap()
            .push(json!("CAP_MKNOD"));
    }
    nb.config_mut()["linux"]["cgroupsPath"] = json!(cg_path);
    nb.config_mut()["linux"]["resources"] = json!({
        "devices": [{"allow": false, "access": "rwm"}],
        "memory": {"limit": 67108864, "swap": 67108864},
        "pids": {"limit": 64},
        "cpu": {"quota": 50000, "period": 100000, "shares": 512, "cpus": "0"}
    });
    nb.write_config();
    // A second nested bundle (same rootfs) asking for an io weight: the guest's io controller has neither
    // io.weight nor io.bfq.weight (no BFQ, no iocost), so create must fail naming them and leave no cgroup.
    let mut io_cfg = nb.config().clone();
    io_cfg["root"]["path"] = json!("/nb/rootfs");
    io_cfg["linux"]["cgroupsPath"] = json!(format!("{cg_path}-io"));
    io_cfg["linux"]["resources"]["blockIO"] = json!({"weight": 500});

    // The VM container: privileged enough to run a runtime.
    let mut b = Bundle::busybox();
    let rootfs = b.rootfs();
    install_with_libs(
        Path::new(env!("CARGO_BIN_EXE_holm-runtime")),
        &rootfs,
        "/usr/local/bin/holm-runtime",
    );
    let st = std::process::Command::new("cp")
        .arg("-a")
        .arg(nb.path())
        .arg(rootfs.join("nb"))
        .status()
        .unwrap();
    assert!(st.success(), "copy the nested bundle");
    std::fs::create_dir(rootfs.join("nb-io")).unwrap();
    std::fs::write(
        rootfs.join("nb-io/config.json"),
        serde_json::to_vec_pretty(&io_cfg).unwrap(),
    )
    .unwrap();
    std::fs::write(rootfs.join("driver.sh"), DRIVER).unwrap();
    {
        let c = b.config_mut();
        c["process"]["args"] = json!(["sh", "/driver.sh", nid, cg_path]);
        c["process"]["noNewPrivileges"] = json!(false);
        for set in ["bounding", "effective", "permitted"] {
            c["process"]["capabilities"][set] = json!(ALL_CAPS.as_slice());
        }
        c["linux"]["resources"]["devices"] = json!([{"allow": true, "access": "rwm"}]);
        // Two vCPUs (capped at the host's count) so that the cpuset update has somewhere to move.
        c["linux"]["resources"]["cpu"] = json!({"quota": 200000, "period": 100000});
        c["linux"]["maskedPaths"] = json!([]);
        c["linux"]["readonlyPaths"] = json!([]);
        // No cgroup namespace and no cgroup mount: the script mounts the guest's whole cgroup2 tree.
        c["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .retain(|n| n["type"] != "cgroup");
        let mounts = c["mounts"].as_array_mut().unwrap();
        mounts.retain(|m| m["type"] != "cgroup");
        for m in mounts.iter_mut() {
            if m["type"] == "sysfs" {
                m["options"] = json!(["nosuid", "noexec", "nodev"]);
            }
        }
        mounts.push(
            json!({"destination": "/run", "type": "tmpfs", "source": "tmpfs",
                           "options": ["nosuid", "nodev", "mode=755"]}),
        );
    }
    b.write_config();
    let _g = rt.guard(&id);

    let io = create_vm(&rt, &["--isolation", "vm"], &b, &id);
    rt.ok(&["start", &id]);
    // ~35 s alone, ~130 s with three at once on this 2-core host: leave room for a loaded CI run.
    io.wait_out("DRIVER-DONE", Duration::from_secs(480));
    wait_vm_status(&rt, &id, "stopped");
    rt.ok(&["delete", &id]);
    let out = io.out();
    eprintln!("guest output:\n{out}");
    let ctx = |what: &str| format!("{what}; guest output:\n{out}");

    // A cgroup-v2-only kernel with the controllers issue 13 expects.
    assert_eq!(
        field(&out, "fstypes"),
        "cgroup2",
        "{}",
        ctx("only cgroup2 mounted")
    );
    let ctrl: Vec<&str> = field(&out, "root-controllers").split(' ').collect();
    for c in ["cpuset", "cpu", "io", "memory", "pids"] {
        assert!(ctrl.contains(&c), "{}", ctx(&format!("controller {c}")));
    }

    // create/start and the container's view.
    assert_eq!(field(&out, "create"), "0", "{}", ctx("nested create"));
    assert_eq!(field(&out, "start"), "0", "{}", ctx("nested start"));
    assert_eq!(
        field(&out, "nested:self-cgroup"),
        "0::/",
        "{}",
        ctx("cgroup ns")
    );

    // The eBPF device filter.
    assert!(out.contains("nested:null-ok"), "{}", ctx("/dev/null"));
    assert!(out.contains("nested:null2-ok"), "{}", ctx("mknod 1:3"));
    assert!(out.contains("nested:mknod-mem-ok"), "{}", ctx("mknod 1:1"));
    assert_eq!(field(&out, "nested:mem"), "1", "{}", ctx("/dev/mem denied"));
    assert!(
        out.contains("nested:head: /dev/mem2: Operation not permitted"),
        "{}",
        ctx("/dev/mem denied with EPERM by the filter")
    );

    // linux.resources in the v2 files (cpu.weight from shares: 1 + (512-2)*9999/262142 = 20).
    for (f, want) in [
        ("memory.max", "67108864"),
        ("memory.swap.max", "0"),
        ("pids.max", "64"),
        ("cpu.max", "50000 100000"),
        ("cpu.weight", "20"),
        ("cpuset.cpus", "0"),
    ] {
        assert_eq!(field(&out, &format!("initial:{f}")), want, "{}", ctx(f));
    }
    // update: memory.low from the reservation, cpuset.cpus moves to the guest's last CPU (the guest has two when
    // the host has), cpu.weight from 2048 shares: 1 + 2046*9999/262142 = 79.
    assert_eq!(field(&out, "update"), "0", "{}", ctx("update"));
    let last_cpu = field(&out, "guest-cpus").parse::<u32>().unwrap() - 1;
    let last_cpu = last_cpu.to_string();
    for (f, want) in [
        ("memory.max", "50331648"),
        ("memory.swap.max", "0"),
        ("memory.low", "16777216"),
        ("pids.max", "80"),
        ("cpu.max", "20000 100000"),
        ("cpu.weight", "79"),
        ("cpuset.cpus", last_cpu.as_str()),
    ] {
        assert_eq!(field(&out, &format!("updated:{f}")), want, "{}", ctx(f));
    }

    // pause/resume through cgroup.freeze.
    assert_eq!(field(&out, "pause"), "0", "{}", ctx("pause"));
    assert_eq!(
        field(&out, "paused-state"),
        r#""status":"paused""#,
        "{}",
        ctx("paused")
    );
    assert_eq!(
        field(&out, "paused-freeze"),
        "1 frozen 1",
        "{}",
        ctx("freeze")
    );
    let counts = |k: &str| -> (u64, u64) {
        let v: Vec<u64> = field(&out, k)
            .split(' ')
            .map(|n| n.parse().unwrap_or_else(|_| panic!("{}", ctx(k))))
            .collect();
        (v[0], v[1])
    };
    let (a, b2) = counts("paused-count");
    assert_eq!(a, b2, "{}", ctx("a frozen counter moved"));
    assert_eq!(field(&out, "resume"), "0", "{}", ctx("resume"));
    assert_eq!(
        field(&out, "resumed-state"),
        r#""status":"running""#,
        "{}",
        ctx("running")
    );
    assert_eq!(
        field(&out, "resumed-freeze"),
        "0 frozen 0",
        "{}",
        ctx("thawed")
    );
    let (b3, c) = counts("resumed-count");
    assert!(c > b3, "{}", ctx("the counter must go on after resume"));

    // cpu.max throttles a busy loop; pids.max stops a fork loop (pids.events counts it) and the pids come back.
    let (t0, t1) = counts("cpu-throttled");
    assert!(
        t1 > t0,
        "{}",
        ctx("a busy loop under cpu.max 20% is throttled")
    );
    assert_ne!(field(&out, "pids-fill-exec"), "0", "{}", ctx("fork loop"));
    let (cur, max_events) = counts("pids-filled");
    assert!(
        (70..=80).contains(&cur) && max_events >= 1,
        "{}",
        ctx("pids.max 80 reached and counted")
    );
    let drained: u64 = field(&out, "pids-drained").parse().unwrap();
    assert!(drained <= 10, "{}", ctx("pids after killing the fork loop"));

    // events --stats: runc's stats event with the container's pids and memory.
    let stats: serde_json::Value = serde_json::from_str(field(&out, "stats"))
        .unwrap_or_else(|e| panic!("{}", ctx(&format!("stats JSON: {e}"))));
    assert_eq!(stats["type"], "stats", "{}", ctx("stats type"));
    assert_eq!(stats["id"], nid.as_str(), "{}", ctx("stats id"));
    let pids = stats["data"]["pids"]["current"].as_u64().unwrap_or(0);
    assert!((1..=80).contains(&pids), "{}", ctx("stats pids.current"));
    assert_eq!(
        stats["data"]["pids"]["limit"].as_u64(),
        Some(80),
        "{}",
        ctx("stats pids.limit")
    );
    let usage = stats["data"]["memory"]["usage"]["usage"]
        .as_u64()
        .unwrap_or(0);
    assert!(
        usage > 0 && usage <= 50331648,
        "{}",
        ctx("stats memory usage")
    );
    assert_eq!(
        stats["data"]["memory"]["usage"]["limit"].as_u64(),
        Some(50331648),
        "{}",
        ctx("stats memory limit")
    );

    // OOM: the exec is killed by the memcg OOM killer, the container lives on.
    assert_eq!(field(&out, "oom-exec"), "137", "{}", ctx("OOM exit code"));
    // ... and a streaming `events` reported it once, beside its periodic stats events.
    let streamed = field(&out, "events-oom");
    assert!(
        streamed.starts_with("1 events-stats=") && !streamed.ends_with("=0"),
        "{}",
        ctx("events stream: one oom event and stats events")
    );
    let events = field(&out, "oom-events");
    assert!(events.contains("oom_kill 1"), "{}", ctx("memory.events"));
    assert_eq!(
        field(&out, "after-oom-state"),
        r#""status":"running""#,
        "{}",
        ctx("alive after OOM")
    );

    // io: the controller is there (io.max, io.stat) but the guest has no block device to throttle and no
    // io.weight/io.bfq.weight: a weight is refused by name at create, and the failed create leaves no cgroup.
    assert_eq!(
        field(&out, "io-files"),
        "io.max io.stat",
        "{}",
        ctx("io files")
    );
    assert_eq!(
        field(&out, "io-weight-create"),
        "1",
        "{}",
        ctx("io weight refused")
    );
    let err = field(&out, "io-weight-err");
    assert!(
        err.contains("linux.resources.blockIO.weight") && err.contains("io.weight"),
        "{}",
        ctx("io weight error names the field and file")
    );
    assert_eq!(field(&out, "io-cgroup-left"), "no", "{}", ctx("io cgroup"));

    // kill + delete remove the cgroup.
    assert_eq!(field(&out, "kill"), "0", "{}", ctx("kill"));
    assert_eq!(field(&out, "delete"), "0", "{}", ctx("delete"));
    assert_eq!(
        field(&out, "cgroup-left"),
        "no",
        "{}",
        ctx("cgroup removed")
    );
}
