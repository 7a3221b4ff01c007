//! Issue 11, `tmpfs` mounts as podman's `--read-only` / `--tmpfs` send them: `tmpcopyup` copies the covered
//! directory into the new tmpfs (owners, modes, times, symlinks as symlinks, nothing outside the rootfs), and a
//! tmpfs without `mode=` takes the covered directory's mode (runc 1.2, crun). Compared with Debian's runc where
//! both implement the same thing.

mod lifecycle_util;

use holm_testkit::{unique_id, Bundle, Runtime};
use lifecycle_util::*;
use serde_json::json;
use std::fs;
use std::os::unix::fs::{chown, symlink, PermissionsExt};
use std::path::Path;
use std::process::Command;

fn set_mode(p: &Path, mode: u32) {
    fs::set_permissions(p, fs::Permissions::from_mode(mode)).unwrap();
}

/// `touch -h -d @SECS`: a fixed modification time on `p` itself.
fn set_time(p: &Path, secs: u64) {
    let st = Command::new("touch")
        .arg("-h")
        .arg("-d")
        .arg(format!("@{secs}"))
        .arg(p)
        .status()
        .unwrap();
    assert!(st.success(), "touch {}", p.display());
}

/// A busybox bundle running `sh -c script` with `mounts` appended to the default ones.
fn bundle(script: &str, mounts: serde_json::Value) -> Bundle {
    let mut b = Bundle::busybox();
    b.config_mut()["process"]["args"] = json!(["sh", "-c", script]);
    let list = b.config_mut()["mounts"].as_array_mut().unwrap();
    list.extend(mounts.as_array().unwrap().iter().cloned());
    b.write_config();
    b
}

fn tmpfs(dest: &str, options: &[&str]) -> serde_json::Value {
    json!({"destination": dest, "type": "tmpfs", "source": "tmpfs", "options": options})
}

/// Runs the bundle in the foreground; returns its stdout (asserting exit 0).
fn run(rt: &Runtime, b: &Bundle, tag: &str) -> String {
    let id = unique_id(tag);
    let _g = rt.guard(&id);
    let out = rt.run(&["run", "--bundle", path_str(b.path()), &id]);
    assert!(
        out.status.success(),
        "{:?}: {}\n{}",
        rt.bin(),
        stderr(&out),
        stdout(&out)
    );
    stdout(&out)
}

/// rootfs/data: mode 0750, owned 1000:100, holding a file, a subdirectory, a FIFO and symlinks (one to a host
/// path that does not exist in the rootfs), each with its own owner, mode and time.
fn fill_data(rootfs: &Path) {
    let d = rootfs.join("data");
    fs::create_dir_all(d.join("sub")).unwrap();
    fs::write(d.join("a"), "hello\n").unwrap();
    // chown clears setuid: owner first.
    chown(d.join("a"), Some(1000), Some(1000)).unwrap();
    set_mode(&d.join("a"), 0o4644);
    fs::write(d.join("sub/b"), "deep\n").unwrap();
    chown(d.join("sub"), Some(65534), Some(65534)).unwrap();
    set_mode(&d.join("sub"), 0o1711);
    symlink("/etc/passwd", d.join("link")).unwrap();
    symlink("../../../../../../etc/hostname", d.join("up")).unwrap();
    let st = Command::new("mkfifo").arg(d.join("fifo")).status().unwrap();
    assert!(st.success());
    for (p, t) in [
        ("a", 1_000_000_000),
        ("sub/b", 1_100_000_000),
        ("link", 1_200_000_000),
    ] {
        set_time(&d.join(p), t);
    }
    set_time(&d.join("sub"), 1_300_000_000);
    chown(&d, Some(1000), Some(100)).unwrap();
    set_mode(&d, 0o750);
}

const SHOW: &str = "cd /data && for f in . a sub sub/b link up fifo; do stat -c '%n %a %u:%g %Y %F' $f; done; \
                    cat a sub/b; readlink link; readlink up; grep -c ' /data ' /proc/self/mountinfo; \
                    echo written > /data/new && cat /data/new";

#[test]
fn tmpcopyup_copies_the_covered_directory_as_runc() {
    let rt = runtime();
    let runc = Runtime::runc();
    let b = bundle(
        SHOW,
        json!([tmpfs("/data", &["nosuid", "nodev", "tmpcopyup"])]),
    );
    fill_data(&b.rootfs());
    let got = run(&rt, &b, "copyup");
    let lines: Vec<&str> = got.lines().collect();
    // Each line starts with this (the time of `.` changes as entries are written; the FIFO's and the dangling
    // link's times are whatever the host gave them).
    let want = [
        ". 750 0:0 ",
        "a 4644 1000:1000 1000000000 regular file",
        "sub 1711 65534:65534 1300000000 directory",
        "sub/b 644 0:0 1100000000 regular file",
        "link 777 0:0 1200000000 symbolic link",
        "up 777 0:0 ",
        "fifo 644 0:0 ",
        "hello",
        "deep",
        "/etc/passwd",
        "../../../../../../etc/hostname",
        "1",
        "written",
    ];
    assert_eq!(lines.len(), want.len(), "{got}");
    for (w, g) in want.iter().zip(&lines) {
        assert!(g.starts_with(w), "{g:?} should start with {w:?}:\n{got}");
    }
    assert!(
        lines[5].ends_with("symbolic link") && lines[6].ends_with("fifo"),
        "{got}"
    );
    // The writes went to the tmpfs: the rootfs still holds only what it held.
    assert!(!b.rootfs().join("data/new").exists());
    assert_eq!(
        fs::read_to_string(b.rootfs().join("data/a")).unwrap(),
        "hello\n"
    );

    // runc copies the same tree the same way (modes, owners, contents, links; times are left out of the
    // comparison). runc 1.1.5 fails on the FIFO (`lchown .../fifo: no such file or directory`): without it.
    fs::remove_file(b.rootfs().join("data/fifo")).unwrap();
    let got: String = got
        .lines()
        .filter(|l| !l.starts_with("fifo "))
        .map(|l| format!("{l}\n"))
        .collect();
    let reference = run(&runc, &b, "copyup-runc");
    let strip = |s: &str| -> Vec<String> {
        s.lines()
            .map(|l| {
                let w: Vec<&str> = l.split(' ').collect();
                if w.len() >= 5 && w[3].chars().all(|c| c.is_ascii_digit()) {
                    format!("{} {} {} {}", w[0], w[1], w[2], w[4..].join(" "))
                } else {
                    l.to_string()
                }
            })
            .collect()
    };
    assert_eq!(
        strip(&got),
        strip(&reference),
        "holm:\n{got}\nrunc:\n{reference}"
    );
}

#[test]
fn copyup_through_a_symlink_stays_inside_the_rootfs() {
    let rt = runtime();
    // A host directory with a secret, and a rootfs symlink naming it by its absolute host path: inside the rootfs
    // that path does not exist, so the tmpfs covers a new empty directory and nothing of the host is copied.
    let host = tempfile_dir();
    fs::write(host.join("secret"), "host secret\n").unwrap();
    let b = bundle(
        "ls -A /evil; echo end; ls -A /var/run; echo end",
        json!([
            tmpfs("/evil", &["tmpcopyup"]),
            tmpfs("/var/run", &["tmpcopyup"]),
        ]),
    );
    let r = b.rootfs();
    symlink(&host, r.join("evil")).unwrap();
    // /var/run -> ../run (the usual layout): the copy comes from /run of the rootfs.
    fs::create_dir_all(r.join("run/lock")).unwrap();
    fs::create_dir_all(r.join("var")).unwrap();
    symlink("../run", r.join("var/run")).unwrap();
    let out = run(&rt, &b, "copyup-link");
    assert_eq!(out, "end\nlock\nend\n");
    assert!(
        fs::read_dir(&host).unwrap().count() == 1,
        "the host directory was changed"
    );
    fs::remove_dir_all(&host).unwrap();
}

fn tempfile_dir() -> std::path::PathBuf {
    let p = std::env::temp_dir().join(unique_id("holm-host-secret"));
    fs::create_dir(&p).unwrap();
    p
}

#[test]
fn a_tmpfs_without_mode_takes_the_covered_directorys_mode() {
    let rt = runtime();
    let b = bundle(
        "stat -c '%n %a' /data /given /fresh; ls -A /data; echo end",
        json!([
            tmpfs("/data", &["nosuid"]),
            tmpfs("/given", &["mode=700"]),
            tmpfs("/fresh", &[]),
        ]),
    );
    fill_data(&b.rootfs());
    let given = b.rootfs().join("given");
    fs::create_dir(&given).unwrap();
    set_mode(&given, 0o751);
    let out = run(&rt, &b, "tmpfs-mode");
    // The covered mode without `mode=`; the given one wins; a new directory gets tmpfs's default (1777).
    // Without tmpcopyup the tmpfs starts empty.
    assert_eq!(out, "/data 750\n/given 700\n/fresh 1777\nend\n");
}

#[test]
fn notmpcopyup_and_bad_copy_words() {
    let rt = runtime();
    let b = bundle(
        "ls -A /data; echo end",
        json!([tmpfs("/data", &["tmpcopyup", "notmpcopyup"])]),
    );
    fill_data(&b.rootfs());
    assert_eq!(run(&rt, &b, "notmpcopyup"), "end\n");
    // Words of crun that holm does not implement are refused by name.
    let b = bundle("true", json!([tmpfs("/data", &["copy-symlink"])]));
    let id = unique_id("copy-symlink");
    let _g = rt.guard(&id);
    let out = rt.fails(&["run", "--bundle", path_str(b.path()), &id]);
    let err = stderr(&out);
    assert!(
        err.contains("copy-symlink") && err.contains("mounts[7]"),
        "{err}"
    );
}
