//! `holm run --isolation vm` (issue 13): the container runs in its own qemu microVM through holm-runtime's VM shim.
//! Root, TCG (`HOLM_VM_ACCEL=tcg` unless set), the guest kernel at its default place and the static agent from
//! `$HOLM_VM_AGENT` (`scripts/build-agent.sh`), `holm-runtime` next to `holm` (`cargo build -p holm-runtime`).
//! Boots are few and serialized (each is seconds under TCG on 2 cores); each boot checks several things:
//!
//! - foreground `--rm`: the guest's kernel (not the host's), exit code 3, stdout and stderr, `-e`, `-w`, `-u`,
//!   a bind mount read-write and a named volume `:ro`, and nothing left afterwards; 127 for a missing command;
//! - detached with `-p`: `inspect` (`HostConfig.Isolation`, the VMM as `State.Pid`), `logs`, the published port
//!   on 127.0.0.1 (busybox httpd in the guest), `exec`, `exec -t`, `exec -d` (returns at once, its process goes
//!   on in the guest), `pause`/`unpause`, `stop` (SIGTERM ignored by pid 1, then
//!   SIGKILL after the timeout: 137), and `rm` leaving nothing (no VMM, cgroup, mount, network namespace);
//! - `--memory`/`--cpus`: the guest's size and the VMM's cgroup limit; `stats`; `rm -f` of a running VM; the same
//!   VM boots a copy of the kernel given by `--vm-kernel` (with `$HOLM_VM_KERNEL` pointing nowhere) and takes
//!   `holm update` (the guest's cgroup and the VMM's quota change; memory above the guest's RAM is refused);
//! - a healthcheck (run in the guest; one that times out is killed in the guest);
//! - `-it` through a pty the test drives: the guest's shell, its terminal size and a resize, Ctrl-C, Ctrl-D; and
//!   `exec -it` into it (prompt, output, size and resize, Ctrl-C on a foreground job, `exit 3` gives 3);
//! - the docker CLI through `holm system service`: `docker run --isolation vm` (the API's `HostConfig.Isolation`),
//!   `docker exec -it` into a VM container (a pty in the guest with the client's size, exit code);
//! - refusals without a boot: no guest kernel or agent (125), a bad `--vm-kernel` (125, nothing left), a bad
//!   `--isolation` value, `--network host`, joining a VM's network namespace; `network connect`/`disconnect` of a
//!   created VM container is accepted (two networks in a booted VM: `engine_vm_nets.rs`).

mod api_common;
#[path = "../../image/tests/common/mod.rs"]
mod common;
mod engine_common;

use common::images::{busybox_image, docker_archive};
use common::tars::Tar;
use engine_common::pty::Pty;
use engine_common::{cgroup_file, wait_until, Engine};
use serde_json::json;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsFd;
use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;
use std::time::Instant;

/// busybox with the applets these tests use.
const VM_IMAGE: &str = "busybox:vm";

/// One VM boots at a time (TCG on a shared 2-core machine).
static BOOTS: Mutex<()> = Mutex::new(());

fn engine() -> Engine {
    let holm = Path::new(env!("CARGO_BIN_EXE_holm"));
    let rt = holm.parent().unwrap().join("holm-runtime");
    assert!(
        rt.is_file(),
        "{} missing: build it first (cargo build -p holm-runtime)",
        rt.display()
    );
    assert!(
        std::env::var_os("HOLM_VM_AGENT").is_some(),
        "export HOLM_VM_AGENT=\"$(scripts/build-agent.sh)\" (the static guest agent)"
    );
    let e = Engine::new();
    let mut t = Tar::new();
    for a in [
        "httpd", "uname", "id", "cat", "sleep", "grep", "echo", "touch", "pwd", "mkdir", "ls",
        "ps", "rm",
    ] {
        t.symlink(&format!("bin/{a}"), "busybox");
    }
    let img = busybox_image(json!({"Cmd": ["sh"]}), &[t.bytes()]);
    let archive = e.tmp.path().join("busybox-vm.tar");
    std::fs::write(&archive, docker_archive(&[(&img, &[VM_IMAGE])])).unwrap();
    e.ok(&["load", "-i", archive.to_str().unwrap()]);
    e
}

/// `holm ARGS` with TCG unless the caller chose.
fn vm_cmd(e: &Engine, args: &[&str]) -> std::process::Command {
    let mut c = e.cmd(args);
    if std::env::var_os("HOLM_VM_ACCEL").is_none() {
        c.env("HOLM_VM_ACCEL", "tcg");
    }
    c
}

fn out(o: &std::process::Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// Runs `holm ARGS` (TCG), asserting exit code `code`; (stdout, stderr).
fn vm_code(e: &Engine, code: i32, args: &[&str]) -> (String, String) {
    let o = vm_cmd(e, args).output().unwrap();
    let (so, se) = out(&o);
    assert_eq!(
        o.status.code(),
        Some(code),
        "holm {args:?}\nstdout: {so}\nstderr: {se}"
    );
    (so, se)
}

fn host_release() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .unwrap()
        .trim()
        .to_string()
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `GET /index.html` from `addr`, retried for 30 s.
fn http_get(addr: &str) -> String {
    let mut body = String::new();
    wait_until(Duration::from_secs(30), &format!("GET {addr}"), || {
        let Ok(mut s) = TcpStream::connect_timeout(&addr.parse().unwrap(), Duration::from_secs(2))
        else {
            return false;
        };
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        if s.write_all(b"GET /index.html HTTP/1.0\r\n\r\n").is_err() {
            return false;
        }
        body.clear();
        s.read_to_string(&mut body).is_ok() && body.contains("200 OK")
    });
    body
}

/// Nothing of VM container `id` is left: the engine's checks, the VMM (`vmm`, if known) and the network
/// namespace's bind mount.
fn assert_vm_gone(e: &Engine, id: &str, vmm: Option<i32>) {
    e.assert_gone(id);
    if let Some(p) = vmm {
        assert!(
            !Path::new(&format!("/proc/{p}")).exists()
                || !std::fs::read_to_string(format!("/proc/{p}/cmdline"))
                    .unwrap_or_default()
                    .contains("qemu"),
            "the VMM {p} is still running"
        );
    }
    assert!(!e.runroot.join("netns").join(id).exists(), "netns left");
    assert!(
        engine_common::processes_mentioning(id, "vm-shim").is_empty(),
        "VM shim left"
    );
    assert!(
        !Path::new("/sys/class/net")
            .join(format!("veth{}", &id[..11]))
            .exists(),
        "veth left"
    );
}

#[test]
fn foreground_run_in_a_vm() {
    let e = engine();
    let _boot = BOOTS.lock().unwrap_or_else(|p| p.into_inner());
    let bind = e.tmp.path().join("bind");
    std::fs::create_dir(&bind).unwrap();
    std::fs::set_permissions(&bind, std::os::unix::fs::PermissionsExt::from_mode(0o777)).unwrap();
    let v_rw = format!("{}:/rw", bind.display());
    // A bind-mounted file is the host's file (not a copy): the guest's write reaches it.
    let file = e.tmp.path().join("file");
    std::fs::write(&file, "from-host\n").unwrap();
    std::fs::set_permissions(&file, std::os::unix::fs::PermissionsExt::from_mode(0o666)).unwrap();
    let v_file = format!("{}:/rwfile", file.display());
    // The named volume, with a file, read-only in the VM.
    e.ok(&["volume", "create", "vmvol"]);
    let (_, _) = e.code(
        0,
        &[
            "run",
            "--rm",
            "-v",
            "vmvol:/v",
            VM_IMAGE,
            "sh",
            "-c",
            "echo in-volume > /v/f",
        ],
    );
    let script = "uname -r; echo \"env=$FOO\"; echo \"cwd=$(pwd)\"; echo \"uid=$(id -u)\"; \
                  echo to-stderr >&2; echo written > /rw/f; cat /ro/f; \
                  touch /ro/x 2>/dev/null && echo ro-writable || echo ro-refused; \
                  cat /rwfile; echo from-guest > /rwfile; exit 3";
    let (so, se) = vm_code(
        &e,
        3,
        &[
            "run",
            "--rm",
            "--isolation",
            "vm",
            "--name",
            "fg",
            "-e",
            "FOO=bar",
            "-w",
            "/tmp",
            "-u",
            "1000",
            "-v",
            &v_rw,
            "-v",
            "vmvol:/ro:ro",
            "-v",
            &v_file,
            VM_IMAGE,
            "sh",
            "-c",
            script,
        ],
    );
    let lines: Vec<&str> = so.lines().collect();
    assert!(lines.len() >= 7, "stdout: {so}\nstderr: {se}");
    assert!(!lines[0].is_empty());
    assert_ne!(lines[0], host_release(), "the guest runs the host's kernel");
    assert_eq!(
        &lines[1..7],
        &[
            "env=bar",
            "cwd=/tmp",
            "uid=1000",
            "in-volume",
            "ro-refused",
            "from-host"
        ],
        "stdout: {so}"
    );
    assert!(se.contains("to-stderr"), "stderr: {se}");
    assert_eq!(
        std::fs::read_to_string(bind.join("f")).unwrap(),
        "written\n"
    );
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        "from-guest\n",
        "the guest's write to a bind-mounted file did not reach the host's file"
    );
    assert_eq!(e.ok(&["ps", "-aq"]), "", "--rm left the container");
    assert!(e.mounts().is_empty(), "mounts left: {:?}", e.mounts());
    // A command the guest cannot find: docker's 127, one line, nothing left.
    let (_, se) = vm_code(
        &e,
        127,
        &[
            "run",
            "--rm",
            "--isolation",
            "vm",
            VM_IMAGE,
            "no-such-command",
        ],
    );
    assert!(se.contains("no-such-command"), "{se}");
    assert_eq!(se.trim().lines().count(), 1, "{se}");
    assert_eq!(e.ok(&["ps", "-aq"]), "", "--rm left the container");
    assert!(e.mounts().is_empty(), "mounts left: {:?}", e.mounts());
}

#[test]
fn detached_vm_with_a_published_port() {
    let e = engine();
    let _boot = BOOTS.lock().unwrap_or_else(|p| p.into_inner());
    let port = free_port();
    let p = format!("127.0.0.1:{port}:80");
    let (so, _) = vm_code(
        &e,
        0,
        &[
            "run",
            "-d",
            "--isolation",
            "vm",
            "--name",
            "web",
            "-p",
            &p,
            "--health-cmd",
            "if [ -e /www/hang ]; then rm /www/hang; exec sleep 1000.75; fi; cat /www/index.html",
            "--health-interval",
            "1s",
            "--health-timeout",
            "10s",
            VM_IMAGE,
            "sh",
            "-c",
            "mkdir -p /www && echo hello-vm > /www/index.html && echo started && exec httpd -f -p 80 -h /www",
        ],
    );
    let id = so.trim().to_string();
    assert_eq!(id.len(), 64, "{so}");
    let v = e.inspect("web");
    assert_eq!(v["HostConfig"]["Isolation"], "vm", "{v}");
    assert_eq!(v["State"]["Status"], "running", "{v}");
    let vmm = v["State"]["Pid"].as_i64().unwrap() as i32;
    let cmdline = std::fs::read_to_string(format!("/proc/{vmm}/cmdline")).unwrap_or_default();
    assert!(
        cmdline.contains("qemu"),
        "State.Pid {vmm} is not the VMM: {cmdline:?}"
    );
    wait_until(Duration::from_secs(30), "logs: started", || {
        e.ok(&["logs", "web"]).contains("started")
    });
    assert!(http_get(&format!("127.0.0.1:{port}")).contains("hello-vm"));
    // The healthcheck runs in the guest (through the runtime's exec).
    wait_until(Duration::from_secs(30), "healthy", || {
        e.inspect("web")["State"]["Health"]["Status"] == "healthy"
    });
    let h = e.inspect("web")["State"]["Health"]["Log"][0].clone();
    assert_eq!(h["Output"], "hello-vm\n", "{h}");
    // exec (no terminal): stdout and its exit code.
    let (so, _) = vm_code(&e, 0, &["exec", "web", "cat", "/www/index.html"]);
    assert_eq!(so, "hello-vm\n");
    vm_code(&e, 5, &["exec", "web", "sh", "-c", "exit 5"]);
    vm_code(&e, 255, &["exec", "web", "sh", "-c", "exit 255"]);
    // An exec the guest cannot start: docker's 127 (not found) and 126 (any other failure), as for a process
    // container, with the runtime's one line naming the command or directory.
    let (_, se) = vm_code(&e, 127, &["exec", "web", "no-such-command"]);
    assert!(
        se.contains("no-such-command") && se.trim().lines().count() == 1,
        "{se}"
    );
    let (_, se) = vm_code(&e, 126, &["exec", "-w", "/no-such-dir", "web", "true"]);
    assert!(
        se.contains("/no-such-dir") && se.trim().lines().count() == 1,
        "{se}"
    );
    // A check that times out is killed in the guest too (the engine kills the runtime's exec; the VM shim then
    // kills the guest process): the next check hangs in `sleep 1000.75`, which must be gone after the timeout.
    vm_code(&e, 0, &["exec", "web", "touch", "/www/hang"]);
    wait_until(Duration::from_secs(60), "a health check timed out", || {
        e.inspect("web")["State"]["Health"]["Log"]
            .as_array()
            .is_some_and(|l| l.iter().any(|h| h["ExitCode"] == -1))
    });
    wait_until(
        Duration::from_secs(30),
        "the timed-out check's sleep gone from the guest",
        || {
            !vm_code(&e, 0, &["exec", "web", "ps"])
                .0
                .contains("sleep 1000.75")
        },
    );
    // exec -t without -i: the output comes through the guest's pty (CRLF line ends).
    let (so, _) = vm_code(&e, 0, &["exec", "-t", "web", "echo", "tty-out"]);
    assert_eq!(so, "tty-out\r\n");
    // exec -d returns while the process still runs in the guest; what it writes there shows up later.
    let t = Instant::now();
    let (so, _) = vm_code(
        &e,
        0,
        &[
            "exec",
            "-d",
            "web",
            "sh",
            "-c",
            "sleep 8; echo bg-done > /www/bg",
        ],
    );
    assert_eq!(so, "");
    let o = vm_cmd(&e, &["exec", "web", "cat", "/www/bg"])
        .output()
        .unwrap();
    if t.elapsed() < Duration::from_secs(8) {
        assert_eq!(
            o.status.code(),
            Some(1),
            "exec -d waited for its process: {o:?}"
        );
    }
    wait_until(
        Duration::from_secs(60),
        "the exec -d process's file",
        || e.ok(&["exec", "web", "sh", "-c", "cat /www/bg 2>/dev/null; true"]) == "bg-done\n",
    );
    // pause freezes the VM: the port stops answering until unpause.
    e.ok(&["pause", "web"]);
    assert_eq!(e.status("web"), "paused");
    // exec into a paused VM: refused with one line, exit 1, as for a process container.
    let (_, se) = vm_code(&e, 1, &["exec", "web", "true"]);
    assert!(
        se.contains("is paused") && se.trim().lines().count() == 1,
        "{se}"
    );
    e.ok(&["unpause", "web"]);
    assert_eq!(e.status("web"), "running");
    assert!(http_get(&format!("127.0.0.1:{port}")).contains("hello-vm"));
    // An exec still running when the VM stops is killed with it: 137, as for a process container.
    let mut long_exec = vm_cmd(
        &e,
        &["exec", "web", "sh", "-c", "touch /www/exec-on; sleep 300"],
    )
    .spawn()
    .unwrap();
    wait_until(Duration::from_secs(30), "the exec in the guest", || {
        e.ok(&[
            "exec",
            "web",
            "sh",
            "-c",
            "test -e /www/exec-on && echo on; true",
        ]) == "on\n"
    });
    // stop: httpd as pid 1 has no SIGTERM handler, so SIGKILL after the timeout.
    let t = std::time::Instant::now();
    e.ok(&["stop", "-t", "2", "web"]);
    let st = long_exec.wait().unwrap();
    assert_eq!(st.code(), Some(137), "exec during stop: {st:?}");
    assert!(t.elapsed() >= Duration::from_secs(2), "stop did not wait");
    let v = e.inspect("web");
    assert_eq!(v["State"]["Status"], "exited", "{v}");
    assert_eq!(v["State"]["ExitCode"], 137, "{v}");
    assert!(
        !Path::new(&format!("/proc/{vmm}/cmdline")).exists()
            || !std::fs::read_to_string(format!("/proc/{vmm}/cmdline"))
                .unwrap_or_default()
                .contains("qemu")
    );
    assert!(e.ok(&["logs", "web"]).contains("started"));
    e.ok(&["rm", "web"]);
    assert_vm_gone(&e, &id, Some(vmm));
}

#[test]
fn vm_size_and_rm_force() {
    let e = engine();
    let _boot = BOOTS.lock().unwrap_or_else(|p| p.into_inner());
    // --vm-kernel: a copy of the kernel, with $HOLM_VM_KERNEL (which the runtime would otherwise use) pointing
    // nowhere: the VM boots only if the flag's kernel reaches the runtime.
    let default_kernel = std::env::var_os("HOLM_VM_KERNEL")
        .filter(|k| !k.is_empty())
        .unwrap_or_else(|| "/var/lib/holm/vm/vmlinuz".into());
    let kernel = e.tmp.path().join("my-vmlinuz");
    std::fs::copy(&default_kernel, &kernel).unwrap();
    let o = vm_cmd(
        &e,
        &[
            "run",
            "-d",
            "--isolation",
            "vm",
            "--vm-kernel",
            kernel.to_str().unwrap(),
            "--memory",
            "200m",
            "--cpus",
            "1",
            "--annotation",
            "org.holm.vm.tcg-tb-size=16",
            VM_IMAGE,
            "sh",
            "-c",
            "grep MemTotal /proc/meminfo; grep -c ^processor /proc/cpuinfo; echo up; exec sleep 1000",
        ],
    )
    .env("HOLM_VM_KERNEL", "/nonexistent/vmlinuz")
    .output()
    .unwrap();
    let (so, se) = out(&o);
    assert_eq!(o.status.code(), Some(0), "run --vm-kernel: {se}");
    let id = so.trim().to_string();
    wait_until(Duration::from_secs(30), "logs: up", || {
        e.ok(&["logs", &id]).contains("up")
    });
    let logs = e.ok(&["logs", &id]);
    let mut l = logs.lines();
    let mem_kib: u64 = l
        .next()
        .and_then(|m| m.split_whitespace().nth(1))
        .and_then(|k| k.parse().ok())
        .unwrap_or_else(|| panic!("MemTotal in {logs}"));
    assert!(
        mem_kib <= 200 * 1024 && mem_kib > 100 * 1024,
        "guest memory {mem_kib} KiB for --memory 200m: {logs}"
    );
    assert_eq!(l.next(), Some("1"), "guest CPUs for --cpus 1: {logs}");
    // The VMM's cgroup: a memory limit above the guest's (the VMM's overhead: 64 MiB, + the TCG cache that
    // --annotation asked for, 16 MiB, under TCG) and the CPU quota.
    let limit: u64 = cgroup_file(&id, "memory.limit_in_bytes")
        .or_else(|| cgroup_file(&id, "memory.max"))
        .and_then(|v| v.parse().ok())
        .expect("the VMM's memory limit");
    assert!(
        limit == (200 + 64 + 16) << 20 || limit == (200 + 64) << 20,
        "VMM memory limit {limit}"
    );
    assert_eq!(
        e.inspect(&id)["HostConfig"]["Annotations"],
        serde_json::json!({"org.holm.vm.tcg-tb-size": "16"})
    );
    let quota = cgroup_file(&id, "cpu.cfs_quota_us").or_else(|| cgroup_file(&id, "cpu.max"));
    assert!(
        quota.as_deref().is_some_and(|q| q.starts_with("100000")),
        "VMM CPU quota {quota:?}"
    );
    // stats: the VMM's cgroup (its memory includes the guest's).
    let st = e.ok(&["stats", "--no-stream", "--format", "{{.MemUsage}}", &id]);
    assert!(st.contains("MiB /") || st.contains("GiB /"), "{st}");
    // update: the container's cgroup in the guest and the VMM's quota; memory above the guest's RAM is refused in
    // one line and changes nothing.
    let guest_cg = || {
        vm_code(
            &e,
            0,
            &[
                "exec",
                &id,
                "cat",
                "/sys/fs/cgroup/memory.max",
                "/sys/fs/cgroup/cpu.max",
            ],
        )
        .0
    };
    assert_eq!(guest_cg(), "209715200\n100000 100000\n");
    assert_eq!(
        vm_code(&e, 0, &["update", "--memory", "100m", "--cpus", "0.5", &id]).0,
        format!("{id}\n")
    );
    assert_eq!(guest_cg(), "104857600\n50000 100000\n");
    let quota = cgroup_file(&id, "cpu.cfs_quota_us").or_else(|| cgroup_file(&id, "cpu.max"));
    assert!(
        quota.as_deref().is_some_and(|q| q.starts_with("50000")),
        "VMM CPU quota {quota:?}"
    );
    assert_eq!(e.inspect(&id)["HostConfig"]["Memory"], 100 << 20);
    let (_, se) = vm_code(&e, 1, &["update", "--memory", "300m", &id]);
    assert!(
        se.contains(
            "memory.limit: 314572800 bytes (300 MiB) is more than the VM's memory (200 MiB"
        ),
        "{se}"
    );
    assert_eq!(se.trim().lines().count(), 1, "{se}");
    assert_eq!(guest_cg(), "104857600\n50000 100000\n");
    assert_eq!(e.inspect(&id)["HostConfig"]["Memory"], 100 << 20);
    let vmm = e.inspect(&id)["State"]["Pid"].as_i64().unwrap() as i32;
    // kill -9 of the VMM under a running exec: the exec ends with SIGKILL's 137 (it was killed with the guest),
    // not the runtime's 255, and rm -f still cleans everything.
    let mut long_exec = vm_cmd(
        &e,
        &["exec", &id, "sh", "-c", "touch /tmp/exec-on; sleep 300"],
    )
    .spawn()
    .unwrap();
    wait_until(Duration::from_secs(30), "the exec in the guest", || {
        e.ok(&[
            "exec",
            &id,
            "sh",
            "-c",
            "test -e /tmp/exec-on && echo on; true",
        ]) == "on\n"
    });
    holm_sys::process::kill(vmm, libc::SIGKILL).unwrap();
    let st = long_exec.wait().unwrap();
    assert_eq!(st.code(), Some(137), "exec when the VMM was killed: {st:?}");
    e.ok(&["rm", "-f", &id]);
    assert_vm_gone(&e, &id, Some(vmm));
}

#[test]
fn refusals_without_a_boot() {
    let e = Engine::new();
    let (_, se) = e.code(
        125,
        &[
            "run",
            "--rm",
            "--isolation",
            "hyperv",
            "busybox:test",
            "true",
        ],
    );
    assert_eq!(se.trim().lines().count(), 1, "{se}");
    assert!(
        se.contains("--isolation") && se.contains("default, process, vm"),
        "{se}"
    );
    // A typo in holm's org.holm.vm. annotation namespace, at create.
    let (_, se) = e.code(
        125,
        &[
            "create",
            "--isolation",
            "vm",
            "--annotation",
            "org.holm.vm.tcg-tbsize=16",
            "busybox:test",
            "true",
        ],
    );
    assert_eq!(se.trim().lines().count(), 1, "{se}");
    assert!(
        se.contains("--annotation")
            && se.contains("unknown VM annotation")
            && se.contains("org.holm.vm.tcg-tb-size"),
        "{se}"
    );
    let (_, se) = e.code(
        125,
        &[
            "create",
            "--isolation",
            "vm",
            "--network",
            "host",
            "busybox:test",
            "true",
        ],
    );
    assert!(se.contains("--network"), "{se}");
    // The isolation annotation belongs to --isolation.
    let (_, se) = e.code(
        125,
        &[
            "create",
            "--annotation",
            "org.holm.isolation=vm",
            "busybox:test",
            "true",
        ],
    );
    assert_eq!(se.trim().lines().count(), 1, "{se}");
    assert!(
        se.contains("--annotation") && se.contains("org.holm.isolation is set by --isolation"),
        "{se}"
    );
    // No guest kernel or agent: 125 (not 127 for "No such file"), one line, nothing left.
    for (var, what) in [
        ("HOLM_VM_KERNEL", "guest kernel"),
        ("HOLM_VM_AGENT", "guest agent"),
    ] {
        let o = e
            .cmd(&["run", "--rm", "--isolation", "vm", "busybox:test", "true"])
            .env(var, "/nonexistent")
            .output()
            .unwrap();
        let (_, se) = out(&o);
        assert_eq!(o.status.code(), Some(125), "{var}: {se}");
        assert!(se.contains(what) && se.contains("/nonexistent"), "{se}");
        assert_eq!(se.trim().lines().count(), 1, "{se}");
        assert_eq!(e.ok(&["ps", "-aq"]), "", "--rm left the container");
    }
    // --vm-kernel: a missing file or one that is no kernel is one line naming the path, 125, nothing left; the flag
    // without --isolation vm is refused too.
    let not_kernel = e.tmp.path().join("not-a-kernel");
    std::fs::write(&not_kernel, "hello").unwrap();
    for (path, why) in [
        ("/nonexistent/vmlinuz-x", "No such file"),
        (not_kernel.to_str().unwrap(), "not a kernel image"),
    ] {
        let (_, se) = e.code(
            125,
            &[
                "run",
                "--rm",
                "--isolation",
                "vm",
                "--vm-kernel",
                path,
                "busybox:test",
                "true",
            ],
        );
        assert!(
            se.contains("--vm-kernel") && se.contains(path) && se.contains(why),
            "{se}"
        );
        assert_eq!(se.trim().lines().count(), 1, "{se}");
        assert_eq!(
            e.ok(&["ps", "-aq"]),
            "",
            "a refused --vm-kernel left a container"
        );
    }
    let (_, se) = e.code(
        125,
        &[
            "create",
            "--vm-kernel",
            not_kernel.to_str().unwrap(),
            "busybox:test",
            "true",
        ],
    );
    assert!(se.contains("only with --isolation vm"), "{se}");
    assert_eq!(e.ok(&["ps", "-aq"]), "");
    // `network connect` of a created VM container is recorded for its next boot (engine_vm_nets boots one); no
    // `--network container:` into it.
    let vm = e.ok(&[
        "create",
        "--isolation",
        "vm",
        "--name",
        "vmc",
        "busybox:test",
        "true",
    ]);
    assert_eq!(e.inspect("vmc")["HostConfig"]["Isolation"], "vm");
    let net = format!("vmref{}", std::process::id());
    e.ok(&["network", "create", &net]);
    e.ok(&["network", "connect", &net, "vmc"]);
    assert!(
        e.inspect("vmc")["NetworkSettings"]["Networks"]
            .get(&net)
            .is_some(),
        "{}",
        e.inspect("vmc")["NetworkSettings"]
    );
    e.ok(&["network", "disconnect", &net, "vmc"]);
    let (_, se) = e.code(
        125,
        &[
            "create",
            "--network",
            "container:vmc",
            "busybox:test",
            "true",
        ],
    );
    assert!(se.contains("runs in a VM"), "{se}");
    e.ok(&["rm", vm.trim()]);
    e.ok(&["network", "rm", &net]);
    // default and process are process containers; docker's field shows what was given.
    let id = e.ok(&["create", "--isolation", "process", "busybox:test", "true"]);
    assert_eq!(e.inspect(id.trim())["HostConfig"]["Isolation"], "process");
    let id = e.ok(&["create", "busybox:test", "true"]);
    assert_eq!(e.inspect(id.trim())["HostConfig"]["Isolation"], "");
    assert_eq!(e.ok(&["ps", "-aq"]).lines().count(), 2);
}

#[test]
fn docker_cli_run_isolation_vm() {
    let api = api_common::Api::new();
    let _boot = BOOTS.lock().unwrap_or_else(|p| p.into_inner());
    // The service's own environment decides the accelerator (KVM when it boots the guest here, else TCG).
    let c = api.docker_cmd(&[
        "run",
        "--rm",
        "--isolation",
        "vm",
        engine_common::IMAGE,
        "busybox",
        "uname",
        "-r",
    ]);
    let o = api_common::output_within(c, Duration::from_secs(120), &["run", "--isolation", "vm"]);
    let (so, se) = out(&o);
    assert!(o.status.success(), "stdout: {so}\nstderr: {se}");
    assert!(!so.trim().is_empty());
    assert_ne!(
        so.trim(),
        host_release(),
        "the guest runs the host's kernel"
    );
    let id = api.docker_ok(&[
        "create",
        "--isolation",
        "vm",
        engine_common::IMAGE,
        "sleep",
        "300",
    ]);
    let iso = api.docker_ok(&["inspect", "-f", "{{.HostConfig.Isolation}}", id.trim()]);
    assert_eq!(iso.trim(), "vm");
    // docker exec -it under a terminal (script(1)): the API's exec with Tty and AttachStdin runs `holm exec -it` on
    // a pty of the service's, which reaches the guest's pty; the client's size, the guest's kernel, the exit code.
    api.docker_ok(&["start", id.trim()]);
    let cmdline = format!(
        "stty cols 111 rows 33; DOCKER_HOST=unix://{} DOCKER_CONFIG={} {} exec -it {} sh",
        api.socket.display(),
        api.engine.tmp.path().join("docker-config").display(),
        api_common::docker_bin().display(),
        id.trim()
    );
    let mut c = std::process::Command::new("script");
    c.args(["-qec", &cmdline, "/dev/null"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = c.spawn().unwrap();
    // stdin stays open until script exits: at its EOF script would end the session before the guest answered.
    let mut stdin = child.stdin.take().unwrap();
    stdin
        .write_all(b"tty; busybox stty size; busybox uname -r; exit 3\n")
        .unwrap();
    let end = Instant::now() + Duration::from_secs(120);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > end {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    drop(stdin);
    let o = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&o.stdout).replace('\r', "");
    assert_eq!(o.status.code(), Some(3), "{text}");
    assert!(text.contains("/dev/pts/"), "{text}");
    assert!(text.contains("33 111\n"), "{text}");
    assert!(!text.contains(&format!("\n{}\n", host_release())), "{text}");
    api.docker_ok(&["rm", "-f", id.trim()]);
    let o = api.docker(&[
        "create",
        "--isolation",
        "bogus",
        engine_common::IMAGE,
        "true",
    ]);
    let (_, se) = out(&o);
    assert!(!o.status.success());
    assert!(
        se.contains("--isolation") && se.contains("default, process, vm"),
        "{se}"
    );
}

#[test]
fn interactive_terminal_in_a_vm() {
    let e = engine();
    let _boot = BOOTS.lock().unwrap_or_else(|p| p.into_inner());
    let mut pty = Pty::new(40, 100, Duration::from_secs(60));
    let mut child = pty.spawn(vm_cmd(
        &e,
        &[
            "run",
            "-it",
            "--rm",
            "--isolation",
            "vm",
            "--name",
            "vmsh",
            VM_IMAGE,
            "sh",
        ],
    ));
    pty.expect("# ");
    assert!(
        pty.wait_size("40 100"),
        "the guest's pty did not get the terminal's size"
    );
    let out = pty.run_line("echo $((6*7)); tty; uname -r");
    assert!(out.contains("42\r\n"), "{out:?}");
    assert!(out.contains("/dev/pts/0\r\n"), "{out:?}");
    assert!(!out.contains(&host_release()), "{out:?}");
    // a resize (SIGWINCH to holm, which sets the master's size) reaches the guest
    holm_sys::tty::set_winsize(pty.peer.as_fd(), 50, 120).unwrap();
    holm_sys::process::kill(child.id() as i32, libc::SIGWINCH).unwrap();
    assert!(pty.wait_size("50 120"), "the guest's pty was not resized");
    // Ctrl-C interrupts the foreground job in the guest, not the shell
    pty.send("sleep 100\r");
    std::thread::sleep(Duration::from_millis(1000));
    pty.send("\x03");
    pty.send("echo after-$((1+1))\r");
    pty.expect("after-2");
    assert_eq!(e.status("vmsh"), "running");
    // exec -it: a second shell in the guest, on its own pty: prompt, output, size and resize, Ctrl-C, exit code
    exec_it(&e, "vmsh");
    assert_eq!(e.status("vmsh"), "running");
    // Ctrl-D ends the shell, holm exits with its code, --rm removes it
    pty.send("\x04");
    let end = Instant::now() + Duration::from_secs(30);
    let code = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st.code();
        }
        if Instant::now() > end {
            let _ = child.kill();
            panic!("holm did not exit");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(code, Some(0));
    assert_eq!(e.ok(&["ps", "-aq"]), "");
    assert!(e.mounts().is_empty(), "mounts left: {:?}", e.mounts());
}

/// `holm exec -it NAME sh` through a pty the test drives: the prompt, a command's output, the terminal's size and a
/// resize (SIGWINCH to holm), Ctrl-C on a foreground `sleep 100` returns to the same shell, `exit 3` gives 3.
fn exec_it(e: &Engine, name: &str) {
    let mut pty = Pty::new(30, 90, Duration::from_secs(60));
    let mut child = pty.spawn(vm_cmd(e, &["exec", "-it", name, "sh"]));
    pty.expect("# ");
    let out = pty.run_line("echo $((6*7)) pid=$$; tty");
    assert!(out.contains("42 pid="), "{out:?}");
    assert!(out.contains("/dev/pts/"), "{out:?}");
    let shell = out
        .rsplit("pid=")
        .next()
        .and_then(|s| s.lines().next())
        .map(str::trim);
    assert!(
        pty.wait_size("30 90"),
        "the exec's pty did not get the terminal's size"
    );
    holm_sys::tty::set_winsize(pty.peer.as_fd(), 35, 110).unwrap();
    holm_sys::process::kill(child.id() as i32, libc::SIGWINCH).unwrap();
    assert!(pty.wait_size("35 110"), "the exec's pty was not resized");
    // Ctrl-C once `sleep` runs (a moment after the shell printed the line before it)
    let t = Instant::now();
    pty.send("echo sleep-$((2+3)); sleep 100\r");
    pty.expect("sleep-5");
    std::thread::sleep(Duration::from_millis(1500));
    pty.send("\x03");
    let out = pty.run_line("echo after-$((1+1)) pid=$$");
    assert!(out.contains("after-2"), "{out:?}");
    assert!(
        t.elapsed() < Duration::from_secs(90),
        "Ctrl-C did not interrupt sleep: {out:?}"
    );
    if let Some(pid) = shell {
        assert!(
            out.contains(&format!("pid={pid}")),
            "not the same shell ({pid}): {out:?}"
        );
    }
    pty.send("exit 3\r");
    let end = Instant::now() + Duration::from_secs(60);
    let code = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st.code();
        }
        if Instant::now() > end {
            let _ = child.kill();
            panic!("holm exec -it did not exit");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(code, Some(3));
}
