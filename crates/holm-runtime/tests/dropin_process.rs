//! Issue 11, what runc does for a container's processes and programs rely on: `lo` is up in a new network
//! namespace; the pty belongs to the process's user (run and exec); `exec` finds HOME in a symlinked
//! /etc/passwd (resolved inside the rootfs) and its process leads its own process group; `exec --process` takes a
//! process without `user`. Checked from inside the container, and against Debian's runc where it agrees.

mod exec_support;

use exec_support::*;
use holm_testkit::{read_pty_until_closed, unique_id, Bundle, ConsoleSocket, Runtime};
use serde_json::json;
use std::time::Duration;

#[test]
fn loopback_is_up_in_a_new_network_namespace_as_runc() {
    let holm = runtime();
    let runc = Runtime::runc();
    let mut b = Bundle::busybox();
    // IFF_UP is bit 0 of the flags; the sysfs of the container's network namespace shows its own `lo`.
    b.set_args(&["sh", "-c", "cat /sys/class/net/lo/flags; ls /sys/class/net"]);
    for rt in [&holm, &runc] {
        let id = unique_id("lo-up");
        let _g = rt.guard(&id);
        let out = rt.run(&["run", "--bundle", path_str(b.path()), &id]);
        assert!(out.status.success(), "{:?}: {}", rt.bin(), describe(&out));
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        let mut lines = text.lines();
        let flags =
            u32::from_str_radix(lines.next().unwrap().trim_start_matches("0x"), 16).unwrap();
        assert_eq!(flags & 1, 1, "{:?}: lo is down: {text}", rt.bin());
        assert_eq!(lines.collect::<Vec<_>>(), ["lo"], "{:?}: {text}", rt.bin());
    }
}

/// `stat` of the process's own terminal, read from the pty master.
const OWNER: &str = "stat -c owner=%u:%g $(tty)";

#[test]
fn the_pty_belongs_to_the_process_user_in_run_and_exec() {
    let rt = runtime();
    let mut b = Bundle::busybox();
    b.config_mut()["process"]["terminal"] = json!(true);
    b.config_mut()["process"]["user"] = json!({"uid": 1000, "gid": 1000});
    b.config_mut()["process"]["args"] =
        json!(["sh", "-c", format!("{OWNER}; echo END; sleep 1000")]);
    b.write_config();
    let id = unique_id("pty-owner");
    let _g = rt.guard(&id);
    let sock = ConsoleSocket::new();
    rt.ok(&[
        "create",
        "--console-socket",
        path_str(sock.path()),
        "--bundle",
        path_str(b.path()),
        &id,
    ]);
    let (master, _) = sock.recv_master(Duration::from_secs(10));
    rt.ok(&["start", &id]);
    let mut pty = Pty::new(master);
    let out = pty.expect("END");
    let line = out
        .lines()
        .find(|l| l.contains("owner="))
        .unwrap()
        .trim()
        .to_string();
    // The group stays devpts's `gid=5` (tty), as with runc.
    assert_eq!(line, "owner=1000:5", "{out}");

    // exec -t as another user: its own pty is its.
    let sock = ConsoleSocket::new();
    rt.ok(&[
        "exec",
        "-t",
        "-d",
        "--console-socket",
        path_str(sock.path()),
        "-u",
        "1234:1234",
        &id,
        "sh",
        "-c",
        OWNER,
    ]);
    let (master, _) = sock.recv_master(Duration::from_secs(10));
    let out = read_pty_until_closed(master, Duration::from_secs(10));
    assert!(out.contains("owner=1234:5"), "{out}");
}

#[test]
fn exec_home_comes_from_a_symlinked_passwd_inside_the_rootfs_as_runc() {
    let holm = runtime();
    let runc = Runtime::runc();
    let b = sleeper();
    // /etc/passwd -> /usr/share/passwd.real, absolute: it must be resolved in the rootfs, not on the host.
    let etc = b.rootfs().join("etc");
    let real = b.rootfs().join("usr/share/passwd.real");
    std::fs::create_dir_all(real.parent().unwrap()).unwrap();
    std::fs::rename(etc.join("passwd"), &real).unwrap();
    std::os::unix::fs::symlink("/usr/share/passwd.real", etc.join("passwd")).unwrap();
    for rt in [&holm, &runc] {
        let (g, _) = running(rt, &b, "exec-home");
        for (user, home) in [("1000", "/home/holm"), ("0", "/root"), ("4242", "/")] {
            let out = rt.run(&["exec", "-u", user, g.id(), "sh", "-c", "echo $HOME"]);
            assert!(out.status.success(), "{}", describe(&out));
            assert_eq!(
                String::from_utf8_lossy(&out.stdout).trim(),
                home,
                "{:?} -u {user}",
                rt.bin()
            );
        }
    }
}

#[test]
fn the_execd_process_leads_its_own_process_group_as_runc() {
    let holm = runtime();
    let runc = Runtime::runc();
    let b = sleeper();
    // pid and pgrp (fields 1 and 5 of /proc/self/stat) of the exec'd shell itself, read with builtins only.
    let script = "read -r s < /proc/$$/stat; set -- $s; echo $1 $5";
    for rt in [&holm, &runc] {
        let (g, _) = running(rt, &b, "exec-pgid");
        let out = exec_ok(rt, g.id(), script);
        let f: Vec<&str> = out.split_whitespace().collect();
        assert_eq!(f.len(), 2, "{out}");
        assert_eq!(
            f[0],
            f[1],
            "{:?}: pid and process group differ: {out}",
            rt.bin()
        );
    }
}

#[test]
fn exec_process_file_without_user_runs_as_root_as_runc() {
    let holm = runtime();
    let runc = Runtime::runc();
    let b = sleeper();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("process.json");
    std::fs::write(
        &file,
        json!({"args": ["sh", "-c", "id -u; id -g"], "cwd": "/", "env": ["PATH=/bin"]}).to_string(),
    )
    .unwrap();
    for rt in [&holm, &runc] {
        let (g, _) = running(rt, &b, "exec-nouser");
        let out = rt.run(&["exec", "--process", path_str(&file), g.id()]);
        assert!(out.status.success(), "{:?}: {}", rt.bin(), describe(&out));
        assert_eq!(String::from_utf8_lossy(&out.stdout), "0\n0\n");
    }
}
