//! Issue 11, runc's command line where holm does not implement the feature: `checkpoint` / `restore` and the
//! global `--criu` / `--rootless` are parsed and refused in one line (exit 1, never a parser error), and
//! `--systemd-cgroup` without systemd is a clear error at create, as runc's, not a silent fallback.

mod lifecycle_util;

use holm_testkit::{unique_id, Bundle, Runtime};
use lifecycle_util::*;
use std::path::Path;

/// One line on stderr, naming `what` and saying "not implemented"; no usage text.
fn assert_one_line_not_implemented(out: &std::process::Output, what: &str) {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(
        err.contains(what) && err.contains("not implemented"),
        "{err}"
    );
    assert!(
        !err.contains("Usage") && !err.contains("unrecognized"),
        "{err}"
    );
}

#[test]
fn checkpoint_and_restore_with_runcs_flags_say_not_implemented() {
    let rt = runtime();
    let id = unique_id("criu");
    for args in [
        vec![
            "checkpoint",
            "--image-path",
            "/tmp/img",
            "--leave-running",
            "--tcp-established",
            &id,
        ],
        vec!["checkpoint", &id],
        vec![
            "--criu",
            "/usr/sbin/criu",
            "checkpoint",
            "--pre-dump",
            "--manage-cgroups-mode",
            "soft",
            &id,
        ],
        vec![
            "restore",
            "-d",
            "--bundle",
            "/tmp",
            "--image-path",
            "/tmp/img",
            "--pid-file",
            "/tmp/p",
            &id,
        ],
        vec!["--criu", "/usr/sbin/criu", "restore", &id],
    ] {
        let out = rt.run(&args);
        assert_one_line_not_implemented(
            &out,
            args.iter()
                .find(|a| !a.starts_with('-') && !a.starts_with('/'))
                .unwrap(),
        );
    }
    assert!(!rt.root().join(&id).exists());
}

#[test]
fn rootless_auto_and_false_are_accepted_true_is_refused_by_name() {
    let rt = runtime();
    for v in ["auto", "false"] {
        assert_eq!(rt.ok(&["--rootless", v, "list", "-q"]), "");
    }
    let b = Bundle::busybox();
    let id = unique_id("rootless-true");
    let _g = rt.guard(&id);
    let out = rt.run(&[
        "--rootless",
        "true",
        "run",
        "--bundle",
        path_str(b.path()),
        &id,
    ]);
    assert_one_line_not_implemented(&out, "--rootless true");
    assert!(!rt.root().join(&id).exists(), "a state dir was left");
    assert!(cgroup_dirs(&id).is_empty());
    // --criu alone changes nothing for other verbs.
    assert_eq!(rt.ok(&["--criu", "/usr/sbin/criu", "list", "-q"]), "");
}

#[test]
fn systemd_cgroup_without_systemd_is_an_error_at_create_as_runc() {
    let rt = runtime();
    let runc = Runtime::runc();
    let mut b = Bundle::busybox();
    b.set_args(&["true"]);
    let systemd = Path::new("/run/systemd/system").is_dir();
    for r in [&rt, &runc] {
        let id = unique_id("systemd-cg");
        let _g = r.guard(&id);
        // Verbs that set up no cgroup work with the flag either way.
        r.ok(&["--systemd-cgroup", "list"]);
        let out = r.run(&[
            "--systemd-cgroup",
            "run",
            "--bundle",
            path_str(b.path()),
            &id,
        ]);
        if systemd {
            assert!(out.status.success(), "{:?}: {}", r.bin(), stderr(&out));
            continue;
        }
        assert_eq!(
            out.status.code(),
            Some(1),
            "{:?}: {}",
            r.bin(),
            stderr(&out)
        );
        let err = stderr(&out);
        assert!(
            err.contains("systemd not running") || err.contains("systemd is not running"),
            "{err}"
        );
        assert!(
            !r.root().join(&id).exists(),
            "{:?} left a state dir",
            r.bin()
        );
        if r.bin() == rt.bin() {
            assert_eq!(err.trim_end().lines().count(), 1, "{err}");
            assert!(
                err.contains("--systemd-cgroup") && err.contains("/run/systemd/system"),
                "{err}"
            );
            assert!(cgroup_dirs(&id).is_empty());
        }
    }
}

/// A `--root` that exists but is a file: one line naming the path and "Not a directory" (runc: `mkdir ROOT: not a
/// directory`), exit 1, the file untouched.
#[test]
fn a_state_root_that_is_a_file_is_not_a_directory() {
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("root-file");
    std::fs::write(&file, "keep").unwrap();
    let mut b = Bundle::busybox();
    b.set_args(&["true"]);
    b.write_config();
    let out = std::process::Command::new(rt.bin())
        .args([
            "--root",
            path_str(&file),
            "run",
            "--bundle",
            path_str(b.path()),
        ])
        .arg(unique_id("root-file"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains(path_str(&file)) && err.contains("Not a directory"),
        "{err}"
    );
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "keep");
}
