//! Issue 2, the root filesystem: `root.path` (relative, absolute), `root.readonly`,
//! `linux.rootfsPropagation`, `--no-pivot`, default devices and `linux.devices`,
//! `linux.maskedPaths` and `linux.readonlyPaths`, as seen from inside a busybox container.

mod isolation_support;

use std::fs;
use std::os::unix::fs::MetadataExt;

use holm_testkit::{mounts_mentioning, unique_id, Bundle};
use isolation_support::*;
use serde_json::json;

/// Moves the bundle's rootfs to `<bundle>/<name>` and leaves a marker file in it.
fn move_rootfs(b: &Bundle, name: &str, marker: &str) -> std::path::PathBuf {
    let to = b.path().join(name);
    fs::rename(b.rootfs(), &to).unwrap();
    fs::write(to.join("marker"), marker).unwrap();
    to
}

#[test]
fn root_path_relative_to_the_bundle() {
    let rt = runtime();
    let mut b = Bundle::busybox();
    let marker = unique_id("relative-root");
    move_rootfs(&b, "my-root", &marker);
    b.config_mut()["root"]["path"] = json!("my-root");
    let out = run_script(&rt, &mut b, "root-rel", "cat /marker; echo; ls /");
    assert!(out.starts_with(&format!("{marker}\n")), "{out}");
    assert!(!out.contains("my-root"), "{out}");
    // Also relative with a sub-directory and `./`.
    fs::create_dir(b.path().join("nested")).unwrap();
    fs::rename(b.path().join("my-root"), b.path().join("nested/r")).unwrap();
    b.config_mut()["root"]["path"] = json!("./nested/r");
    let out = run_script(&rt, &mut b, "root-rel2", "cat /marker");
    assert_eq!(out, marker);
}

#[test]
fn root_path_absolute_outside_the_bundle() {
    let rt = runtime();
    let other = Bundle::busybox();
    let marker = unique_id("absolute-root");
    fs::write(other.rootfs().join("marker"), &marker).unwrap();
    let mut b = Bundle::busybox();
    fs::remove_dir_all(b.rootfs()).unwrap();
    b.config_mut()["root"]["path"] = json!(other.rootfs().to_str().unwrap());
    let out = run_script(&rt, &mut b, "root-abs", "cat /marker");
    assert_eq!(out, marker);
    assert!(mounts_mentioning(other.path().to_str().unwrap()).is_empty());
}

#[test]
fn readonly_root() {
    let rt = runtime();
    let mut b = Bundle::busybox();
    b.config_mut()["root"]["readonly"] = json!(true);
    let out = run_script_output(
        &rt,
        &mut b,
        "root-ro",
        "awk '$5 == \"/\"' /proc/self/mountinfo; \
         if touch /new-file 2>/tmp/err || touch /new-file; then echo wrote=yes; else echo wrote=no; fi; \
         if echo x > /tmp/x; then echo tmp=yes; else echo tmp=no; fi; \
         if echo x > /dev/shm/x; then echo shm=yes; else echo shm=no; fi",
    );
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_success(&out, "readonly root");
    assert_eq!(value_of(&text, "wrote"), "no", "{text}");
    assert_eq!(value_of(&text, "tmp"), "no", "{text}");
    assert_eq!(
        value_of(&text, "shm"),
        "yes",
        "other mounts stay writable\n{text}"
    );
    assert!(stderr.contains("Read-only file system"), "{stderr}");
    let root = text.lines().next().unwrap();
    assert!(mount_opts(root).contains(&"ro".to_string()), "{root}");
    assert!(!b.rootfs().join("new-file").exists());
}

#[test]
fn writable_root() {
    let rt = runtime();
    let mut b = Bundle::busybox();
    b.config_mut()["root"]["readonly"] = json!(false);
    let out = run_script(
        &rt,
        &mut b,
        "root-rw",
        "awk '$5 == \"/\"' /proc/self/mountinfo; echo hello > /new-file && echo wrote=yes",
    );
    assert_eq!(value_of(&out, "wrote"), "yes", "{out}");
    let root = out.lines().next().unwrap();
    assert!(mount_opts(root).contains(&"rw".to_string()), "{root}");
    assert_eq!(
        fs::read_to_string(b.rootfs().join("new-file")).unwrap(),
        "hello\n"
    );
}

#[test]
fn rootfs_propagation() {
    let rt = runtime();
    for (prop, want) in [
        ("shared", Some("shared:")),
        ("rshared", Some("shared:")),
        ("private", None),
        ("rprivate", None),
        ("unbindable", Some("unbindable")),
        ("runbindable", Some("unbindable")),
        // The host's mounts here are private, so a slave has no master to show.
        ("rslave", None),
        ("slave", None),
    ] {
        let mut b = Bundle::busybox();
        b.config_mut()["linux"]["rootfsPropagation"] = json!(prop);
        let out = run_script(
            &rt,
            &mut b,
            "root-prop",
            "awk '$5 == \"/\"' /proc/self/mountinfo",
        );
        let line = out.lines().next().unwrap_or_default();
        let fields = mount_propagation(line);
        match want {
            Some(w) => assert!(
                fields.iter().any(|f| f.starts_with(w)),
                "rootfsPropagation {prop}: want {w} in {line}"
            ),
            None => assert!(fields.is_empty(), "rootfsPropagation {prop}: {line}"),
        }
    }
    // An unknown word is a config error naming the field.
    let mut b = Bundle::busybox();
    b.config_mut()["linux"]["rootfsPropagation"] = json!("sideways");
    let out = run_script_output(&rt, &mut b, "root-prop-bad", "true");
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("rootfsPropagation"),
        "{}",
        describe(&out)
    );
}

#[test]
fn no_pivot_moves_the_rootfs_and_chroots() {
    let rt = runtime();
    let mut b = Bundle::busybox();
    let marker = unique_id("no-pivot");
    fs::write(b.rootfs().join("marker"), &marker).unwrap();
    set_script(
        &mut b,
        "cat /marker; echo; echo \"self=$$\"; ls /work /sys/fs/cgroup/unified/../../../tmp 2>&1 | head -n 3; \
         echo \"dots=$(cd /../../.. && cat marker)\"",
    );
    b.write_config();
    let id = unique_id("no-pivot");
    let _guard = rt.guard(&id);
    let out = rt.run(&[
        "run",
        "--no-pivot",
        "--bundle",
        b.path().to_str().unwrap(),
        &id,
    ]);
    assert_success(&out, "run --no-pivot");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with(&format!("{marker}\n")), "{text}");
    assert_eq!(value_of(&text, "self"), "1", "{text}");
    assert_eq!(
        value_of(&text, "dots"),
        marker,
        "`..` stops at the root\n{text}"
    );
    assert!(text.contains("/work: No such file or directory"), "{text}");
}

/// Lines `<path>|<type>|<major hex>:<minor hex>|<mode octal>|<uid>:<gid>` printed by `stat -c`.
fn stat_lines(out: &str) -> Vec<Vec<String>> {
    out.lines()
        .filter(|l| l.contains('|'))
        .map(|l| l.split('|').map(String::from).collect())
        .collect()
}

fn find<'a>(stats: &'a [Vec<String>], path: &str) -> &'a [String] {
    stats
        .iter()
        .find(|s| s[0] == path)
        .unwrap_or_else(|| panic!("no stat line for {path}: {stats:?}"))
}

fn check_default_devices(out: &str) {
    let stats = stat_lines(out);
    for (path, dev) in [
        ("/dev/null", "1:3"),
        ("/dev/zero", "1:5"),
        ("/dev/full", "1:7"),
        ("/dev/random", "1:8"),
        ("/dev/urandom", "1:9"),
        ("/dev/tty", "5:0"),
    ] {
        let s = find(&stats, path);
        assert_eq!(s[1], "character special file", "{path}: {s:?}\n{out}");
        assert_eq!(s[2], dev, "{path}: {s:?}\n{out}");
        assert_eq!(s[3], "666", "{path}: {s:?}\n{out}");
    }
    for (link, target) in [
        ("/dev/fd", "/proc/self/fd"),
        ("/dev/stdin", "/proc/self/fd/0"),
        ("/dev/stdout", "/proc/self/fd/1"),
        ("/dev/stderr", "/proc/self/fd/2"),
        ("/dev/ptmx", "pts/ptmx"),
    ] {
        assert_eq!(value_of(out, &format!("link{link}")), target, "{out}");
    }
    assert_eq!(value_of(out, "shm"), "dir", "{out}");
    assert_eq!(value_of(out, "ptmx"), "character special file 5:2", "{out}");
    assert_eq!(value_of(out, "zero-read"), "00000000", "{out}");
    assert_eq!(value_of(out, "null-write"), "ok", "{out}");
    assert_eq!(value_of(out, "full-write"), "ENOSPC", "{out}");
}

const DEVICE_SCRIPT: &str = "\
    for d in null zero full random urandom tty mydev myblock myfifo; do \
      [ -e /dev/$d ] && stat -c '%n|%F|%t:%T|%a|%u:%g' /dev/$d; done; \
    for l in fd stdin stdout stderr ptmx; do echo \"link/dev/$l=$(readlink /dev/$l)\"; done; \
    [ -d /dev/shm ] && echo shm=dir; \
    echo \"ptmx=$(stat -L -c '%F %t:%T' /dev/ptmx)\"; \
    echo \"zero-read=$(head -c 4 /dev/zero | od -An -tx1 | tr -d ' \\n')\"; \
    echo x > /dev/null && echo null-write=ok; \
    echo x 2>/dev/null > /dev/full || echo full-write=ENOSPC";

#[test]
fn default_devices() {
    let rt = runtime();
    let mut b = Bundle::busybox();
    let out = run_script(&rt, &mut b, "devices", DEVICE_SCRIPT);
    check_default_devices(&out);
    // Nothing but the default nodes, links and mount points in /dev.
    let mut b = Bundle::busybox();
    let out = run_script(&rt, &mut b, "devices-ls", "ls -A /dev");
    let mut names: Vec<&str> = out.split_whitespace().collect();
    names.sort();
    assert_eq!(
        names,
        [
            "fd", "full", "mqueue", "null", "ptmx", "pts", "random", "shm", "stderr", "stdin",
            "stdout", "tty", "urandom", "zero"
        ],
        "{out}"
    );
}

#[test]
fn default_devices_in_a_user_namespace() {
    let rt = runtime();
    let mut b = Bundle::busybox();
    set_ns(&mut b, "user", None);
    let map = json!([{ "containerID": 0, "hostID": 110000, "size": 65536 }]);
    b.config_mut()["linux"]["uidMappings"] = map.clone();
    b.config_mut()["linux"]["gidMappings"] = map;
    b.chown_rootfs(110000, 110000);
    let out = run_script(&rt, &mut b, "devices-userns", DEVICE_SCRIPT);
    check_default_devices(&out);
}

#[test]
fn linux_devices_are_created() {
    let rt = runtime();
    let mut b = Bundle::busybox();
    b.config_mut()["linux"]["devices"] = json!([
        { "path": "/dev/mydev", "type": "c", "major": 1, "minor": 3, "fileMode": 0o600, "uid": 1000, "gid": 100 },
        { "path": "/dev/myblock", "type": "b", "major": 7, "minor": 200, "fileMode": 0o640, "uid": 0, "gid": 0 },
        { "path": "/dev/myfifo", "type": "p", "fileMode": 0o620 },
        { "path": "/dev/sub/dir/nested", "type": "c", "major": 1, "minor": 5 }
    ]);
    let script = format!(
        "{DEVICE_SCRIPT}; stat -c '%n|%F|%t:%T|%a|%u:%g' /dev/sub/dir/nested; \
         echo \"nested-read=$(head -c 2 /dev/sub/dir/nested | od -An -tx1 | tr -d ' \\n')\"; \
         echo hello 2>/dev/null > /dev/mydev || echo mydev-write=denied"
    );
    let out = run_script(&rt, &mut b, "linux-devices", &script);
    check_default_devices(&out);
    let stats = stat_lines(&out);
    assert_eq!(
        find(&stats, "/dev/mydev")[1..],
        ["character special file", "1:3", "600", "1000:100"],
        "{out}"
    );
    assert_eq!(
        find(&stats, "/dev/myblock")[1..],
        ["block special file", "7:c8", "640", "0:0"],
        "{out}"
    );
    assert_eq!(find(&stats, "/dev/myfifo")[1], "fifo", "{out}");
    assert_eq!(find(&stats, "/dev/myfifo")[3], "620", "{out}");
    assert_eq!(
        find(&stats, "/dev/sub/dir/nested")[1..3],
        ["character special file", "1:5"],
        "{out}"
    );
    assert_eq!(value_of(&out, "nested-read"), "0000", "{out}");
    // Mode 0600 owned by 1000: the container's root has no CAP_DAC_OVERRIDE in the default config.
    assert_eq!(value_of(&out, "mydev-write"), "denied", "{out}");
    // The nodes were made in the container's /dev (a tmpfs), never in the rootfs directory.
    assert!(!b.rootfs().join("dev/mydev").exists());
}

#[test]
fn linux_devices_bad_type_is_a_config_error() {
    let rt = runtime();
    let mut b = Bundle::busybox();
    b.config_mut()["linux"]["devices"] =
        json!([{ "path": "/dev/x", "type": "q", "major": 1, "minor": 3 }]);
    let out = run_script_output(&rt, &mut b, "bad-device", "true");
    assert!(!out.status.success(), "{}", describe(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("linux.devices[0]"),
        "{}",
        describe(&out)
    );
}

/// Device numbers beyond the kernel's 12-bit major / 20-bit minor are refused naming the entry, before anything
/// is created; a major of 2^32 + 1 used to be truncated to 1 (a /dev/null where the config asked for another
/// device). The largest valid numbers work.
#[test]
fn linux_devices_numbers_out_of_range_are_config_errors() {
    let rt = runtime();
    for (dev, field) in [
        (
            json!({ "path": "/dev/x", "type": "c", "major": (1u64 << 32) + 1, "minor": 3 }),
            "linux.devices[1].major",
        ),
        (
            json!({ "path": "/dev/x", "type": "b", "major": 7, "minor": 1u64 << 20 }),
            "linux.devices[1].minor",
        ),
        (
            json!({ "path": "/dev/x", "type": "c", "major": 4096, "minor": 0 }),
            "linux.devices[1].major",
        ),
    ] {
        let mut b = Bundle::busybox();
        b.config_mut()["linux"]["devices"] = json!([
            { "path": "/dev/ok", "type": "c", "major": 1, "minor": 3 },
            dev
        ]);
        let out = run_script_output(&rt, &mut b, "device-range", "true");
        assert!(!out.status.success(), "{field}: {}", describe(&out));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains(field) && err.contains("out of range"),
            "{field}: {}",
            describe(&out)
        );
    }
    let mut b = Bundle::busybox();
    b.config_mut()["linux"]["devices"] = json!([
        { "path": "/dev/big", "type": "c", "major": 4095, "minor": 1048575 }
    ]);
    let out = run_script(&rt, &mut b, "device-max", "stat -c '%t:%T' /dev/big");
    assert_eq!(out.trim(), "fff:fffff", "{out}");
}

#[test]
fn masked_paths() {
    let rt = runtime();
    let mut b = Bundle::busybox();
    let secret_dir = b.rootfs().join("secret");
    fs::create_dir(&secret_dir).unwrap();
    fs::write(secret_dir.join("key"), "top secret").unwrap();
    fs::write(b.rootfs().join("etc/secret.txt"), "hidden text").unwrap();
    b.config_mut()["linux"]["maskedPaths"] = json!([
        "/proc/timer_list",
        "/proc/acpi",
        "/secret",
        "/etc/secret.txt",
        "/does/not/exist",
        "/proc/kcore"
    ]);
    let out = run_script(
        &rt,
        &mut b,
        "masked",
        "echo \"timer_list=$(wc -c < /proc/timer_list)\"; echo \"acpi=$(ls -A /proc/acpi | wc -l)\"; \
         echo \"secret=$(ls -A /secret | wc -l)\"; echo \"secret_txt=$(wc -c < /etc/secret.txt)\"; \
         if touch /secret/x 2>/dev/null; then echo secret_write=yes; else echo secret_write=no; fi; \
         echo \"loadavg=$(wc -c < /proc/loadavg)\"; cat /etc/secret.txt",
    );
    assert_eq!(value_of(&out, "timer_list"), "0", "{out}");
    assert_eq!(value_of(&out, "acpi"), "0", "{out}");
    assert_eq!(value_of(&out, "secret"), "0", "{out}");
    assert_eq!(value_of(&out, "secret_txt"), "0", "{out}");
    assert_eq!(
        value_of(&out, "secret_write"),
        "no",
        "a masked directory is read-only\n{out}"
    );
    assert_ne!(
        value_of(&out, "loadavg"),
        "0",
        "other /proc files are readable\n{out}"
    );
    assert!(!out.contains("hidden text"), "{out}");
    // The host files are untouched.
    assert_eq!(
        fs::read_to_string(secret_dir.join("key")).unwrap(),
        "top secret"
    );
    assert!(!fs::read_to_string("/proc/timer_list").unwrap().is_empty());
}

#[test]
fn readonly_paths() {
    let rt = runtime();
    let mut b = Bundle::busybox();
    fs::create_dir(b.rootfs().join("rodir")).unwrap();
    fs::write(b.rootfs().join("rodir/file"), "data").unwrap();
    fs::create_dir(b.rootfs().join("rwdir")).unwrap();
    b.config_mut()["linux"]["readonlyPaths"] = json!([
        "/proc/sys",
        "/proc/sysrq-trigger",
        "/rodir",
        "/does/not/exist"
    ]);
    let out = run_script_output(
        &rt,
        &mut b,
        "readonly",
        "cat /rodir/file; echo; \
         touch /rodir/new && echo rodir_new=yes; \
         echo more >> /rodir/file && echo rodir_append=yes; \
         echo 1 > /proc/sys/kernel/ns_last_pid && echo procsys=yes; \
         touch /rwdir/new && echo rwdir_new=yes; \
         cat /proc/sys/kernel/ostype",
    );
    assert_success(&out, "readonly paths");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(text.starts_with("data\n"), "{text}");
    assert!(!text.contains("rodir_new=yes"), "{text}");
    assert!(!text.contains("rodir_append=yes"), "{text}");
    assert!(!text.contains("procsys=yes"), "{text}");
    assert!(text.contains("rwdir_new=yes"), "{text}");
    assert!(
        text.contains("Linux"),
        "read-only paths stay readable\n{text}"
    );
    assert!(
        err.matches("Read-only file system").count() >= 3,
        "EROFS expected:\n{err}"
    );
    assert_eq!(
        fs::read_to_string(b.rootfs().join("rodir/file")).unwrap(),
        "data"
    );
    assert_eq!(
        fs::metadata(b.rootfs().join("rwdir/new"))
            .map(|m| m.uid())
            .ok(),
        Some(0)
    );
}
