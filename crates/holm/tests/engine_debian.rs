//! A real Debian image: Debian 12 made by `debootstrap --variant=minbase` (Debian's debootstrap, from
//! deb.debian.org), cached under /var/tmp between tests and runs, loaded as a docker-archive; real programs run
//! from it (apt, bash, id with the image's users), isolated, limited, logged, exec'd into, and cleaned up.
//! The same image also runs in a VM (`--isolation vm`).

#[path = "../../image/tests/common/mod.rs"]
mod common;
mod engine_common;

use common::images::{build, docker_archive, Comp};
use engine_common::{cgroup_file, wait_until, Engine};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

const CACHE: &str = "/var/tmp/holm-test-debian-bookworm";

/// The cached docker-archive of the Debian image (`debian:test`), made once (under a lock: tests and test
/// binaries may ask at the same time).
fn debian_archive() -> PathBuf {
    let dir = Path::new(CACHE);
    std::fs::create_dir_all(dir).unwrap();
    let lock = std::fs::File::create(dir.join("lock")).unwrap();
    lock.lock().unwrap();
    let archive = dir.join("image.tar");
    if archive.exists() {
        return archive;
    }
    let rootfs = dir.join("rootfs");
    if rootfs.exists() {
        // a broken earlier attempt
        std::fs::remove_dir_all(&rootfs).unwrap();
    }
    let st = Command::new("debootstrap")
        .args(["--variant=minbase", "bookworm"])
        .arg(&rootfs)
        .arg("http://deb.debian.org/debian")
        .stdout(std::process::Stdio::null())
        .status()
        .expect("debootstrap (scripts/install-test-deps.sh installs it)");
    assert!(st.success(), "debootstrap failed: {st}");
    let out = Command::new("tar")
        .args(["--numeric-owner", "--one-file-system", "-C"])
        .arg(&rootfs)
        .args(["-cf", "-", "."])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "tar: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let img = build(
        &[(out.stdout, Comp::None)],
        json!({
            "Cmd": ["bash"],
            "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
        }),
        "amd64",
    );
    let tmp = dir.join("image.tar.tmp");
    std::fs::write(&tmp, docker_archive(&[(&img, &["debian:test"])])).unwrap();
    std::fs::rename(&tmp, &archive).unwrap();
    std::fs::remove_dir_all(&rootfs).unwrap();
    archive
}

#[test]
fn a_real_debian_image() {
    let archive = debian_archive();
    let e = Engine::new();
    e.ok(&["load", "-i", archive.to_str().unwrap()]);
    let out = e.ok(&["run", "--rm", "debian:test", "apt", "--version"]);
    assert!(out.starts_with("apt 2."), "{out}");
    let out = e.ok(&[
        "run",
        "--rm",
        "--hostname",
        "deb",
        "--pids-limit",
        "30",
        "debian:test",
        "bash",
        "-c",
        "echo $$; hostname; cat /etc/debian_version; ls /proc | grep -c '^[0-9]'; readlink /proc/self/ns/mnt",
    ]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[..2], ["1", "deb"], "{out}");
    assert!(lines[2].starts_with("12"), "{out}");
    // bash, ls and grep (and maybe the subshell): a private pid namespace
    assert!(lines[3].parse::<u32>().unwrap() <= 4, "{out}");
    // its own mount namespace
    let host_mnt = std::fs::read_link("/proc/self/ns/mnt").unwrap();
    assert_ne!(lines[4], host_mnt.to_str().unwrap(), "{out}");
    // the image's users
    assert_eq!(
        e.ok(&["run", "--rm", "-u", "nobody", "debian:test", "id", "-un"]),
        "nobody\n"
    );
    assert_eq!(
        e.code(42, &["run", "--rm", "debian:test", "bash", "-c", "exit 42"])
            .0,
        ""
    );

    // detached: limits, logs, exec, stop, cleanup
    let id = e.detached(&[
        "--name",
        "deb",
        "--memory",
        "64m",
        "debian:test",
        "bash",
        "-c",
        "echo up; exec sleep 60",
    ]);
    let mem = cgroup_file(&id, "memory.limit_in_bytes").or_else(|| cgroup_file(&id, "memory.max"));
    assert_eq!(mem.as_deref(), Some("67108864"));
    wait_until(Duration::from_secs(10), "log", || {
        e.ok(&["logs", "deb"]) == "up\n"
    });
    let out = e.ok(&["exec", "deb", "cat", "/etc/os-release"]);
    assert!(out.contains("Debian GNU/Linux 12"), "{out}");
    assert_eq!(
        e.ok(&[
            "exec",
            "-u",
            "nobody",
            "-w",
            "/tmp",
            "deb",
            "bash",
            "-c",
            "id -u; pwd"
        ]),
        "65534\n/tmp\n"
    );
    e.ok(&["stop", "-t", "1", "deb"]);
    e.ok(&["rm", "deb"]);
    e.assert_gone(&id);
}

/// The same image in a VM (`--isolation vm`, TCG unless `HOLM_VM_ACCEL` says otherwise): the real rootfs shared
/// over 9p, its programs and users, the guest's kernel, and a private pid namespace inside the guest.
#[test]
fn a_real_debian_image_in_a_vm() {
    assert!(
        std::env::var_os("HOLM_VM_AGENT").is_some(),
        "export HOLM_VM_AGENT=\"$(scripts/build-agent.sh)\" (the static guest agent)"
    );
    let archive = debian_archive();
    let e = Engine::new();
    e.ok(&["load", "-i", archive.to_str().unwrap()]);
    let mut c = e.cmd(&[
        "run",
        "--rm",
        "--isolation",
        "vm",
        "-u",
        "nobody",
        "debian:test",
        "bash",
        "-c",
        "uname -r; cat /etc/debian_version; apt --version; id -un; echo $$; ls /proc | grep -c '^[0-9]'",
    ]);
    if std::env::var_os("HOLM_VM_ACCEL").is_none() {
        c.env("HOLM_VM_ACCEL", "tcg");
    }
    let o = c.output().unwrap();
    let (out, err) = (
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr),
    );
    assert!(o.status.success(), "stdout: {out}\nstderr: {err}");
    let lines: Vec<&str> = out.lines().collect();
    let host = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap();
    assert_eq!(lines.len(), 6, "{out}");
    assert_ne!(lines[0], host.trim(), "the guest runs the host's kernel");
    assert!(lines[1].starts_with("12"), "{out}");
    assert!(lines[2].starts_with("apt 2."), "{out}");
    assert_eq!(lines[3..5], ["nobody", "1"], "{out}");
    // bash, ls and grep (and maybe a subshell): the container's own pid namespace in the guest
    let n: u32 = lines[5].parse().unwrap();
    assert!(n <= 4, "{out}");
    assert_eq!(e.ok(&["ps", "-aq"]), "");
    assert!(e.mounts().is_empty(), "mounts left: {:?}", e.mounts());
}
