//! Issue 4: the runc CVE classes, each reproduced as an attack that must fail.

mod security_support;

use holm_testkit::{unique_id, wait_until, Bundle, Runtime};
use security_support::*;
use serde_json::json;
use std::fs;
use std::io::Write;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// CVE-2019-5736 shape: the container's entry point is `#!/proc/self/exe`, so the runtime binary itself ends up
/// executing inside the container. An attacker keeps an `O_PATH` handle on `/proc/<pid>/exe`, waits for the
/// process to exit, and reopens the handle for writing. The host binary must stay byte-for-byte the same.
#[test]
fn runtime_binary_cannot_be_overwritten_through_proc_pid_exe() {
    holm_testkit::require_root();
    let dir = tempfile::tempdir().unwrap();
    // A private copy of the runtime is the victim, so a failure cannot break the other tests.
    let victim = dir.path().join("holm-runtime-victim");
    fs::copy(env!("CARGO_BIN_EXE_holm-runtime"), &victim).unwrap();
    fs::set_permissions(&victim, fs::Permissions::from_mode(0o755)).unwrap();
    let before = fs::read(&victim).unwrap();
    let rt = Runtime::new(&victim);

    let mut b = Bundle::busybox();
    copy_shared_libraries(&victim, &b.rootfs());
    let evil = b.rootfs().join("bin/evil");
    fs::write(&evil, "#!/proc/self/exe --root\n").unwrap();
    fs::set_permissions(&evil, fs::Permissions::from_mode(0o755)).unwrap();
    let fifo = b.rootfs().join("tmp/fifo");
    assert!(Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    // argv becomes [/proc/self/exe, --root, /bin/evil, --log, /tmp/fifo, list]: the runtime blocks opening its
    // log, a FIFO, until we open the other end.
    b.set_args(&["/bin/evil", "--log", "/tmp/fifo", "list"]);
    let id = unique_id("exe-attack");
    let _g = rt.guard(&id);
    rt.ok(&[
        "run",
        "--detach",
        "--bundle",
        b.path().to_str().unwrap(),
        &id,
    ]);
    let pid = rt.state(&id)["pid"].as_i64().unwrap();
    wait_until(
        Duration::from_secs(10),
        "the runtime binary to run inside the container",
        || {
            fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|c| String::from_utf8_lossy(&c).contains("/tmp/fifo"))
        },
    );
    let link = fs::read_link(format!("/proc/{pid}/exe")).unwrap();
    let handle = fs::File::options()
        .read(true)
        .custom_flags(libc::O_PATH)
        .open(format!("/proc/{pid}/exe"))
        .unwrap();
    // While it runs, a direct write must fail too.
    let direct = fs::File::options()
        .write(true)
        .open(format!("/proc/{pid}/exe"));
    assert!(
        direct.is_err(),
        "opened /proc/{pid}/exe for writing while running"
    );
    // Let it finish, then reopen the handle for writing, as the exploit does.
    let reader = fs::File::open(&fifo).unwrap();
    wait_until(
        Duration::from_secs(10),
        "the container process to exit",
        || !holm_testkit::process_exists(pid as i32),
    );
    drop(reader);
    let reopened = fs::File::options()
        .write(true)
        .open(format!("/proc/self/fd/{}", handle.as_raw_fd()));
    let refused = match reopened {
        Ok(mut f) => {
            let _ = f.write_all(b"#!/bin/sh\necho pwned\n");
            None
        }
        Err(e) => e.raw_os_error(),
    };
    // Compared as sha256 (coreutils), not printed byte by byte.
    let sha = |p: &Path| {
        String::from_utf8_lossy(&Command::new("sha256sum").arg(p).output().unwrap().stdout)
            .split_whitespace()
            .next()
            .unwrap_or("")
            .to_string()
    };
    let original = dir.path().join("original");
    fs::write(&original, &before).unwrap();
    assert_eq!(
        sha(&victim),
        sha(&original),
        "the host runtime binary was modified through /proc/{pid}/exe"
    );
    // A read-only bind mount (EROFS) or a sealed in-memory copy (EPERM): either way the write is refused.
    assert!(
        matches!(refused, Some(libc::EROFS) | Some(libc::EPERM)),
        "reopen for writing: {refused:?} (exe {})",
        link.display()
    );
}

/// Copies the ELF interpreter and shared libraries `bin` needs (per `ldd`) into `rootfs` at the same paths, so
/// the runtime binary can really start inside the container (otherwise the attack would fail for a reason that
/// proves nothing).
fn copy_shared_libraries(bin: &Path, rootfs: &Path) {
    let out = Command::new("ldd")
        .arg(bin)
        .output()
        .expect("ldd (libc-bin) is installed");
    assert!(
        out.status.success(),
        "ldd {}: {}",
        bin.display(),
        describe(&out)
    );
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let path = line
            .split("=>")
            .last()
            .unwrap()
            .split_whitespace()
            .next()
            .unwrap_or("");
        if !path.starts_with('/') {
            continue;
        }
        let dst = rootfs.join(path.trim_start_matches('/'));
        fs::create_dir_all(dst.parent().unwrap()).unwrap();
        fs::copy(path, &dst).unwrap();
    }
}

#[test]
fn no_runtime_fd_leaks_into_the_container() {
    let rt = runtime();
    let mut b = Bundle::busybox();
    let out = run_ok(
        &rt,
        &mut b,
        "ls /proc/1/fd; for f in /proc/1/fd/*; do readlink $f; done; true",
    );
    let fds: Vec<&str> = out
        .lines()
        .take_while(|l| l.parse::<u32>().is_ok())
        .collect();
    assert_eq!(fds, ["0", "1", "2"], "{out}");
    // With --preserve-fds 2, exactly fds 3 and 4 are added.
    // `; true` keeps sh as pid 1 (a lone command would be exec'd and list its own directory fd).
    b.set_args(&["sh", "-c", "ls /proc/1/fd; true"]);
    let id = unique_id("preserve");
    let _g = rt.guard(&id);
    let script = format!(
        "exec 3</dev/null 4</dev/null 5</dev/null; exec {} --root {} run --preserve-fds 2 --bundle {} {}",
        rt.bin().display(),
        rt.root().display(),
        b.path().display(),
        id
    );
    let out = Command::new("sh").arg("-c").arg(&script).output().unwrap();
    assert!(out.status.success(), "{}", describe(&out));
    let fds: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .map(String::from)
        .collect();
    assert_eq!(fds, ["0", "1", "2", "3", "4"]);
}

#[test]
fn cwd_through_proc_self_fd_cannot_reach_the_host() {
    let rt = runtime();
    for n in 0..10 {
        let mut b = Bundle::busybox();
        cfg(&mut b)["process"]["cwd"] = json!(format!("/proc/self/fd/{n}"));
        b.write_config();
        assert_create_fails(&rt, &b, &["/proc/self/fd"]);
    }
}

/// Files of the default `maskedPaths` that this kernel has (it may lack `/proc/kcore`); at least one must exist
/// for the masking tests to mean anything.
fn masked_files_present() -> Vec<&'static str> {
    let v: Vec<&str> = [
        "/proc/kcore",
        "/proc/keys",
        "/proc/timer_list",
        "/proc/latency_stats",
        "/proc/sched_debug",
    ]
    .into_iter()
    .filter(|p| Path::new(p).exists())
    .collect();
    assert!(
        !v.is_empty(),
        "none of the usual masked /proc files exists on this host"
    );
    v
}

#[test]
fn proc_files_are_masked_with_the_real_null_device() {
    let rt = runtime();
    let mut b = Bundle::busybox();
    let files = masked_files_present();
    let script = format!("stat -c %t:%T {0}; cat {0} | wc -c", files.join(" "));
    let out = run_ok(&rt, &mut b, &script);
    let mut want = vec!["1:3"; files.len()];
    want.push("0");
    assert_eq!(out.split_whitespace().collect::<Vec<_>>(), want, "{out}");
    if Path::new("/proc/kcore").exists() {
        assert!(out.contains("1:3"));
    }
}

#[test]
fn masking_survives_a_dev_null_symlink_in_the_rootfs() {
    let rt = runtime();
    let before = fs::read("/proc/sys/kernel/core_pattern").unwrap();
    // The rootfs's own /dev is used (no tmpfs on /dev) and its null points at core_pattern.
    let mut b = Bundle::busybox();
    fs::create_dir_all(b.rootfs().join("dev")).unwrap();
    std::os::unix::fs::symlink("/proc/sys/kernel/core_pattern", b.rootfs().join("dev/null"))
        .unwrap();
    let mounts = cfg(&mut b)["mounts"].as_array_mut().unwrap();
    mounts.retain(|m| m["destination"] != "/dev");
    let file = masked_files_present()[0];
    let out = run_ok(
        &rt,
        &mut b,
        &format!("stat -c %t:%T {file} /dev/null; wc -c < {file}"),
    );
    assert_eq!(
        out.split_whitespace().collect::<Vec<_>>(),
        ["1:3", "1:3", "0"],
        "{out}"
    );
    assert_eq!(
        fs::read("/proc/sys/kernel/core_pattern").unwrap(),
        before,
        "core_pattern changed"
    );

    // A /dev bind-mounted from elsewhere with a symlinked or missing null: masking cannot be done safely, so
    // create fails (it never skips the masks).
    for make_null in [true, false] {
        let devdir = tempfile::tempdir().unwrap();
        if make_null {
            std::os::unix::fs::symlink("/proc/sys/kernel/core_pattern", devdir.path().join("null"))
                .unwrap();
        }
        let mut b = Bundle::busybox();
        let mounts = cfg(&mut b)["mounts"].as_array_mut().unwrap();
        mounts.retain(|m| !m["destination"].as_str().unwrap().starts_with("/dev"));
        mounts.push(json!({"destination": "/dev", "type": "bind", "source": devdir.path(), "options": ["rbind"]}));
        b.write_config();
        assert_create_fails(&rt, &b, &["/dev/null"]);
        assert_eq!(
            fs::read("/proc/sys/kernel/core_pattern").unwrap(),
            before,
            "core_pattern changed"
        );
    }
}

#[test]
fn proc_must_really_be_procfs() {
    let rt = runtime();
    let elsewhere = tempfile::tempdir().unwrap();
    // A bind mount onto /proc.
    let mut b = Bundle::busybox();
    cfg(&mut b)["mounts"].as_array_mut().unwrap().push(json!({"destination": "/proc", "type": "bind", "source": elsewhere.path(), "options": ["bind"]}));
    b.write_config();
    assert_create_fails(&rt, &b, &["mounts[", "/proc"]);
    // A tmpfs over part of /proc.
    let mut b = Bundle::busybox();
    cfg(&mut b)["mounts"]
        .as_array_mut()
        .unwrap()
        .push(json!({"destination": "/proc/sys", "type": "tmpfs", "source": "tmpfs"}));
    b.write_config();
    assert_create_fails(&rt, &b, &["/proc/sys"]);
    // A rootfs whose proc is a symlink (here to the rootfs's /tmp).
    let b = Bundle::busybox();
    let _ = fs::remove_dir_all(b.rootfs().join("proc"));
    std::os::unix::fs::symlink("/tmp", b.rootfs().join("proc")).unwrap();
    assert_create_fails(&rt, &b, &["symlink"]);
    assert!(
        fs::read_dir(b.rootfs().join("tmp"))
            .unwrap()
            .next()
            .is_none(),
        "procfs landed in the rootfs's /tmp"
    );
}

#[test]
fn sysctl_writes_go_to_the_real_procfs_file() {
    let rt = runtime();
    let mut b = Bundle::busybox();
    // The config over-mounts the ip_forward file with the (procfs) hostname file: a naive runtime writing
    // /proc/sys/net/ipv4/ip_forward would rename the container to "1".
    cfg(&mut b)["mounts"].as_array_mut().unwrap().push(json!({
        "destination": "/proc/sys/net/ipv4/ip_forward", "type": "bind",
        "source": "/proc/sys/kernel/hostname", "options": ["bind"]}));
    cfg(&mut b)["linux"]["sysctl"] = json!({"net.ipv4.ip_forward": "1"});
    cfg(&mut b)["hostname"] = json!("holm-sysctl");
    let out = run_ok(&rt, &mut b, "hostname");
    assert_eq!(out.trim(), "holm-sysctl");
}

#[test]
fn sysctls_only_for_namespaces_the_container_owns() {
    let rt = runtime();
    let own_net = format!("/proc/{}/ns/net", std::process::id());
    let cases: Vec<(serde_json::Value, Option<serde_json::Value>, &str)> = vec![
        (
            json!({"vm.swappiness": "10"}),
            None,
            "linux.sysctl.vm.swappiness",
        ),
        (
            json!({"kernel.pid_max": "100000"}),
            None,
            "linux.sysctl.kernel.pid_max",
        ),
        // net.* while joining the host's network namespace by a path that does not look like it.
        (
            json!({"net.ipv4.ip_forward": "1"}),
            Some(json!({"type": "network", "path": own_net})),
            "network namespace",
        ),
    ];
    for (sysctl, netns, needle) in cases {
        let mut b = Bundle::busybox();
        cfg(&mut b)["linux"]["sysctl"] = sysctl;
        if let Some(ns) = netns {
            let list = cfg(&mut b)["linux"]["namespaces"].as_array_mut().unwrap();
            list.retain(|n| n["type"] != "network");
            list.push(ns);
        }
        b.write_config();
        assert_create_fails(&rt, &b, &[needle]);
    }
    // Without a network namespace of its own, net.* is refused too.
    let mut b = Bundle::busybox();
    cfg(&mut b)["linux"]["namespaces"]
        .as_array_mut()
        .unwrap()
        .retain(|n| n["type"] != "network");
    cfg(&mut b)["linux"]["sysctl"] = json!({"net.ipv4.ip_forward": "1"});
    b.write_config();
    assert_create_fails(&rt, &b, &["network namespace"]);
    // Keys of owned namespaces work.
    let mut b = Bundle::busybox();
    cfg(&mut b)["linux"]["sysctl"] = json!({"kernel.shmmax": "4096000", "kernel.domainname": "holm.test", "net.ipv4.ip_forward": "1"});
    let out = run_ok(
        &rt,
        &mut b,
        "cat /proc/sys/kernel/shmmax /proc/sys/kernel/domainname /proc/sys/net/ipv4/ip_forward",
    );
    assert_eq!(
        out.split_whitespace().collect::<Vec<_>>(),
        ["4096000", "holm.test", "1"],
        "{out}"
    );
    assert!(Path::new("/proc/sys/kernel/shmmax").exists());
}
