//! Issue 2, `mounts`: every mount type and the usual option words, applied in config order, as
//! the container sees them in `/proc/self/mountinfo`; and the security rule that a destination is
//! resolved inside the rootfs, so symlinks in the rootfs can never place a mount on the host.

mod isolation_support;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use holm_testkit::{mountinfo, mounts_mentioning, unique_id, Bundle};
use isolation_support::*;
use serde_json::{json, Value};
use tempfile::TempDir;

/// A host directory for bind sources, in /tmp, removed on drop.
fn host_dir(prefix: &str) -> TempDir {
    tempfile::Builder::new()
        .prefix(prefix)
        .tempdir_in("/tmp")
        .unwrap()
}

fn push_mounts(b: &mut Bundle, mounts: Vec<Value>) {
    let list = b.config_mut()["mounts"].as_array_mut().unwrap();
    list.extend(mounts);
}

/// The container's mountinfo, printed after `--- mountinfo` by a script.
fn container_mountinfo(out: &str) -> &str {
    out.split("--- mountinfo\n")
        .nth(1)
        .unwrap_or_else(|| panic!("no mountinfo in output:\n{out}"))
}

fn line<'a>(minfo: &'a str, mp: &str) -> &'a str {
    mount_line(minfo, mp)
        .unwrap_or_else(|| panic!("no mount at {mp} in container mountinfo:\n{minfo}"))
}

fn has(list: &[String], word: &str) -> bool {
    list.iter().any(|w| w == word)
}

fn field(line: &str, n: usize) -> &str {
    line.split(' ').nth(n).unwrap()
}

#[test]
fn mounts_of_every_type_with_option_words() {
    let rt = runtime();
    let src = host_dir("holm-mnt-src-");
    fs::write(src.path().join("hello"), "from host").unwrap();
    let src_file = src.path().join("file.txt");
    fs::write(&src_file, "a host file").unwrap();
    let s = src.path().to_str().unwrap();
    let mut b = Bundle::busybox();
    fs::create_dir(b.path().join("rel-src")).unwrap();
    fs::write(b.path().join("rel-src/rel"), "relative to the bundle").unwrap();
    push_mounts(
        &mut b,
        vec![
            json!({ "destination": "/mnt/bind-dir", "type": "bind", "source": s, "options": ["bind"] }),
            json!({ "destination": "/mnt/none-type", "type": "none", "source": s, "options": ["rbind", "rw"] }),
            json!({ "destination": "/mnt/no-type", "source": s, "options": ["bind"] }),
            json!({ "destination": "/mnt/rel", "type": "bind", "source": "rel-src", "options": ["rbind"] }),
            json!({ "destination": "/etc/bind-file", "type": "bind", "source": src_file, "options": ["bind", "ro"] }),
            json!({ "destination": "/mnt/ro-dir", "type": "bind", "source": s,
                    "options": ["rbind", "ro", "nosuid", "nodev", "noexec"] }),
            json!({ "destination": "/mnt/tmp", "type": "tmpfs", "source": "tmpfs",
                    "options": ["mode=700", "size=1m", "nosuid", "nodev", "noexec", "noatime"] }),
            json!({ "destination": "/mnt/tmp/nested", "type": "tmpfs", "source": "tmpfs",
                    "options": ["size=2m", "strictatime"] }),
            json!({ "destination": "/mnt/relatime", "type": "tmpfs", "source": "tmpfs", "options": ["relatime", "ro"] }),
            json!({ "destination": "/mnt/stack", "type": "tmpfs", "source": "tmpfs", "options": ["size=1m"] }),
            json!({ "destination": "/mnt/stack", "type": "tmpfs", "source": "tmpfs", "options": ["size=3m"] }),
            json!({ "destination": "/mnt/proc2", "type": "proc", "source": "proc" }),
            json!({ "destination": "/mnt/sys2", "type": "sysfs", "source": "sysfs", "options": ["ro", "nosuid", "nodev", "noexec"] }),
            json!({ "destination": "/mnt/mq2", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "nodev", "noexec"] }),
            json!({ "destination": "/mnt/pts2", "type": "devpts", "source": "devpts",
                    "options": ["newinstance", "ptmxmode=0600", "mode=0600"] }),
        ],
    );
    let out = run_script(
        &rt,
        &mut b,
        "mounts",
        "echo \"bind_dir=$(cat /mnt/bind-dir/hello)\"; echo \"none_type=$(cat /mnt/none-type/hello)\"; \
         echo \"no_type=$(cat /mnt/no-type/hello)\"; echo \"rel=$(cat /mnt/rel/rel)\"; \
         echo \"bind_file=$(cat /etc/bind-file)\"; \
         echo made > /mnt/bind-dir/from-container && echo bind_write=yes; \
         { echo x > /etc/bind-file; } 2>/dev/null || echo bind_file_write=no; \
         touch /mnt/ro-dir/x 2>/dev/null || echo ro_dir_write=no; \
         echo \"tmp_mode=$(stat -c %a /mnt/tmp)\"; \
         echo \"proc2=$(cat /mnt/proc2/1/comm)\"; \
         echo \"sys2=$(ls /mnt/sys2 | grep -c kernel)\"; \
         echo \"cgroup_dirs=$(ls /sys/fs/cgroup | tr '\\n' ' ')\"; \
         echo '--- mountinfo'; cat /proc/self/mountinfo",
    );
    assert_eq!(value_of(&out, "bind_dir"), "from host", "{out}");
    assert_eq!(value_of(&out, "none_type"), "from host", "{out}");
    assert_eq!(value_of(&out, "no_type"), "from host", "{out}");
    assert_eq!(value_of(&out, "rel"), "relative to the bundle", "{out}");
    assert_eq!(value_of(&out, "bind_file"), "a host file", "{out}");
    assert_eq!(value_of(&out, "bind_write"), "yes", "{out}");
    assert_eq!(value_of(&out, "bind_file_write"), "no", "{out}");
    assert_eq!(value_of(&out, "ro_dir_write"), "no", "{out}");
    assert_eq!(value_of(&out, "tmp_mode"), "700", "{out}");
    assert_eq!(value_of(&out, "proc2"), "sh", "{out}");
    assert_eq!(value_of(&out, "sys2"), "1", "{out}");
    let cg = value_of(&out, "cgroup_dirs");
    for h in ["pids", "memory", "unified"] {
        assert!(
            cg.split(' ').any(|d| d == h),
            "/sys/fs/cgroup lacks {h}: {cg}"
        );
    }
    assert_eq!(
        fs::read_to_string(src.path().join("from-container")).unwrap(),
        "made\n"
    );
    assert_eq!(fs::read_to_string(&src_file).unwrap(), "a host file");

    let m = container_mountinfo(&out);
    for mp in [
        "/mnt/bind-dir",
        "/mnt/none-type",
        "/mnt/no-type",
        "/mnt/rel",
    ] {
        assert!(has(&mount_opts(line(m, mp)), "rw"), "{mp}: {}", line(m, mp));
    }
    let bf = line(m, "/etc/bind-file");
    assert!(has(&mount_opts(bf), "ro"), "{bf}");
    assert!(
        field(bf, 3).ends_with("/file.txt"),
        "the file itself is bound: {bf}"
    );
    let ro = mount_opts(line(m, "/mnt/ro-dir"));
    for w in ["ro", "nosuid", "nodev", "noexec"] {
        assert!(has(&ro, w), "/mnt/ro-dir lacks {w}: {ro:?}");
    }
    let tmp = line(m, "/mnt/tmp");
    assert_eq!(mount_fstype(tmp), "tmpfs", "{tmp}");
    for w in ["rw", "nosuid", "nodev", "noexec", "noatime"] {
        assert!(has(&mount_opts(tmp), w), "/mnt/tmp lacks {w}: {tmp}");
    }
    for w in ["size=1024k", "mode=700"] {
        assert!(has(&super_opts(tmp), w), "/mnt/tmp lacks {w}: {tmp}");
    }
    // In order: the nested tmpfs sits on the first one.
    let nested = line(m, "/mnt/tmp/nested");
    assert_eq!(
        field(nested, 1),
        field(tmp, 0),
        "parent of nested is /mnt/tmp: {nested}"
    );
    assert!(has(&super_opts(nested), "size=2048k"), "{nested}");
    let nested_opts = mount_opts(nested);
    assert!(
        !has(&nested_opts, "relatime") && !has(&nested_opts, "noatime"),
        "strictatime: {nested}"
    );
    let rel = mount_opts(line(m, "/mnt/relatime"));
    assert!(has(&rel, "relatime") && has(&rel, "ro"), "{rel:?}");
    // Two mounts on one destination: the later one is on top.
    let stack: Vec<&str> = m.lines().filter(|l| field(l, 4) == "/mnt/stack").collect();
    assert_eq!(stack.len(), 2, "{m}");
    assert!(has(&super_opts(stack[0]), "size=1024k"), "{stack:?}");
    assert!(has(&super_opts(stack[1]), "size=3072k"), "{stack:?}");
    assert_eq!(field(stack[1], 1), field(stack[0], 0), "{stack:?}");
    assert_eq!(mount_fstype(line(m, "/mnt/proc2")), "proc");
    let sys2 = line(m, "/mnt/sys2");
    assert_eq!(mount_fstype(sys2), "sysfs");
    assert!(has(&mount_opts(sys2), "ro"), "{sys2}");
    let mq = line(m, "/mnt/mq2");
    assert_eq!(mount_fstype(mq), "mqueue");
    for w in ["nosuid", "nodev", "noexec"] {
        assert!(has(&mount_opts(mq), w), "{mq}");
    }
    let pts2 = line(m, "/mnt/pts2");
    assert_eq!(mount_fstype(pts2), "devpts");
    for w in ["mode=600", "ptmxmode=600"] {
        assert!(has(&super_opts(pts2), w), "{pts2}");
    }
    // The default mounts.
    let pts = line(m, "/dev/pts");
    for w in ["gid=5", "mode=620", "ptmxmode=666"] {
        assert!(has(&super_opts(pts), w), "{pts}");
    }
    assert_ne!(
        field(pts, 2),
        field(pts2, 2),
        "newinstance: separate devpts instances"
    );
    assert_eq!(mount_fstype(line(m, "/dev/mqueue")), "mqueue");
    assert!(has(&mount_opts(line(m, "/sys")), "ro"));
    let cgroot = line(m, "/sys/fs/cgroup");
    assert!(has(&mount_opts(cgroot), "ro"), "{cgroot}");
    assert_eq!(mount_fstype(line(m, "/sys/fs/cgroup/pids")), "cgroup");
    assert_eq!(mount_fstype(line(m, "/sys/fs/cgroup/unified")), "cgroup2");
    let shm = line(m, "/dev/shm");
    assert!(has(&super_opts(shm), "size=65536k"), "{shm}");
    // Nothing stays mounted on the host.
    assert!(mounts_mentioning(s).is_empty());
    assert!(mounts_mentioning(b.path().to_str().unwrap()).is_empty());
}

/// A tmpfs mounted on the host under `dir`, unmounted on drop.
struct HostMount(PathBuf);

impl HostMount {
    fn tmpfs(dir: &Path) -> HostMount {
        fs::create_dir_all(dir).unwrap();
        let st = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                "size=1m",
                "holm-test",
                dir.to_str().unwrap(),
            ])
            .status()
            .unwrap();
        assert!(st.success(), "mount tmpfs on {}", dir.display());
        HostMount(dir.to_path_buf())
    }
}

impl Drop for HostMount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

#[test]
fn rbind_includes_submounts_and_bind_does_not() {
    let rt = runtime();
    let src = host_dir("holm-mnt-rbind-");
    let _sub = HostMount::tmpfs(&src.path().join("sub"));
    fs::write(src.path().join("sub/inner"), "in the submount").unwrap();
    let s = src.path().to_str().unwrap();
    let mut b = Bundle::busybox();
    push_mounts(
        &mut b,
        vec![
            json!({ "destination": "/mnt/r", "type": "bind", "source": s, "options": ["rbind"] }),
            json!({ "destination": "/mnt/b", "type": "bind", "source": s, "options": ["bind"] }),
            json!({ "destination": "/mnt/r-ro", "type": "bind", "source": s, "options": ["rbind", "ro"] }),
        ],
    );
    let out = run_script(
        &rt,
        &mut b,
        "rbind",
        "echo \"r=$(cat /mnt/r/sub/inner)\"; echo \"b=$(ls -A /mnt/b/sub | wc -l)\"; \
         echo \"rro=$(cat /mnt/r-ro/sub/inner)\"; echo '--- mountinfo'; cat /proc/self/mountinfo",
    );
    assert_eq!(value_of(&out, "r"), "in the submount", "{out}");
    assert_eq!(
        value_of(&out, "b"),
        "0",
        "a plain bind does not carry submounts\n{out}"
    );
    assert_eq!(value_of(&out, "rro"), "in the submount", "{out}");
    let m = container_mountinfo(&out);
    assert_eq!(mount_fstype(line(m, "/mnt/r/sub")), "tmpfs");
    assert!(mount_line(m, "/mnt/b/sub").is_none(), "{m}");
}

#[test]
fn mount_propagation_option_words() {
    let rt = runtime();
    let src = host_dir("holm-mnt-prop-");
    let s = src.path().to_str().unwrap();
    let mut b = Bundle::busybox();
    push_mounts(
        &mut b,
        vec![
            json!({ "destination": "/mnt/shared", "type": "bind", "source": s, "options": ["rbind", "shared"] }),
            json!({ "destination": "/mnt/rshared", "type": "bind", "source": s, "options": ["rbind", "rshared"] }),
            json!({ "destination": "/mnt/private", "type": "bind", "source": s, "options": ["rbind", "rprivate"] }),
            json!({ "destination": "/mnt/unbindable", "type": "bind", "source": s, "options": ["rbind", "unbindable"] }),
            json!({ "destination": "/mnt/tmp-shared", "type": "tmpfs", "source": "tmpfs", "options": ["shared"] }),
        ],
    );
    let out = run_script(
        &rt,
        &mut b,
        "mount-prop",
        "echo '--- mountinfo'; cat /proc/self/mountinfo",
    );
    let m = container_mountinfo(&out);
    let prop = |mp: &str| mount_propagation(line(m, mp));
    assert!(
        prop("/mnt/shared").iter().any(|f| f.starts_with("shared:")),
        "{m}"
    );
    assert!(
        prop("/mnt/rshared")
            .iter()
            .any(|f| f.starts_with("shared:")),
        "{m}"
    );
    assert!(prop("/mnt/private").is_empty(), "{m}");
    assert_eq!(prop("/mnt/unbindable"), ["unbindable"], "{m}");
    assert!(
        prop("/mnt/tmp-shared")
            .iter()
            .any(|f| f.starts_with("shared:")),
        "{m}"
    );
}

#[test]
fn mount_errors_name_the_mount() {
    let rt = runtime();
    // A bind source that does not exist.
    let mut b = Bundle::busybox();
    let missing = format!("/tmp/holm-no-such-{}", unique_id("src"));
    push_mounts(
        &mut b,
        vec![
            json!({ "destination": "/mnt/x", "type": "bind", "source": missing, "options": ["bind"] }),
        ],
    );
    let out = run_script_output(&rt, &mut b, "mount-err", "true");
    assert!(!out.status.success(), "{}", describe(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("mounts[7].source") && err.contains(&missing),
        "{err}"
    );
    // A file system refusing its options: the error names the entry, the destination and the data it was given.
    let mut b = Bundle::busybox();
    push_mounts(
        &mut b,
        vec![
            json!({ "destination": "/mnt/bad", "type": "tmpfs", "source": "tmpfs", "options": ["bogus=1"] }),
        ],
    );
    let out = run_script_output(&rt, &mut b, "mount-err2", "true");
    assert!(!out.status.success(), "{}", describe(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("`mounts[7]`: ")
            && err.contains("/mnt/bad")
            && err.contains("(data `bogus=1`)"),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    // A mount point that cannot be made below an earlier read-only (`rro`) mount names the later entry.
    let src = host_dir("holm-mount-err-");
    let mut b = Bundle::busybox();
    push_mounts(
        &mut b,
        vec![
            json!({ "destination": "/mnt/ro", "type": "bind", "source": src.path(), "options": ["rbind", "rro"] }),
            json!({ "destination": "/mnt/ro/new", "type": "tmpfs", "source": "tmpfs" }),
        ],
    );
    let out = run_script_output(&rt, &mut b, "mount-err4", "true");
    assert!(!out.status.success(), "{}", describe(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("`mounts[8]`: ")
            && err.contains("/mnt/ro/new")
            && err.contains("Read-only file system"),
        "{err}"
    );
    // An option holm does not support is a config error naming the field.
    let mut b = Bundle::busybox();
    push_mounts(
        &mut b,
        vec![
            json!({ "destination": "/mnt/r", "type": "bind", "source": "/tmp", "options": ["rbind", "copy-symlink"] }),
        ],
    );
    let out = run_script_output(&rt, &mut b, "mount-err3", "true");
    assert!(!out.status.success(), "{}", describe(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("mounts[7].options"),
        "{}",
        describe(&out)
    );
    assert!(rt.ok(&["list", "-q"]).trim().is_empty());
}

/// The host's mount table without the lines of test scaffolding (bundles, state roots and host
/// mounts made by tests under `/tmp/holm-*` or `/var/tmp/holm-*`).
fn host_mounts() -> Vec<String> {
    let mut v: Vec<String> = mountinfo()
        .lines()
        .filter(|l| !l.contains(" /tmp/holm-") && !l.contains(" /var/tmp/holm-"))
        .map(String::from)
        .collect();
    v.sort();
    v
}

#[test]
fn symlinks_in_the_rootfs_never_place_mounts_outside_it() {
    let rt = runtime();
    let tag = unique_id("escape");
    let escape = PathBuf::from(format!("/tmp/escape-{tag}"));
    let abs_name = format!("abs-{tag}");
    let escape_file = PathBuf::from(format!("/tmp/escape-file-{tag}"));
    let dotdot = PathBuf::from(format!("/tmp/escape-dotdot-{tag}"));
    let src = host_dir("holm-mnt-escape-src-");
    fs::write(src.path().join("payload"), "bound").unwrap();
    let src_file = src.path().join("payload");

    let mut b = Bundle::busybox();
    let root = b.rootfs();
    std::os::unix::fs::symlink(format!("../../../../tmp/escape-{tag}"), root.join("data")).unwrap();
    std::os::unix::fs::symlink("/tmp", root.join("data2")).unwrap();
    std::os::unix::fs::symlink(
        format!("../../../../../tmp/escape-file-{tag}"),
        root.join("etc/linkfile"),
    )
    .unwrap();
    push_mounts(
        &mut b,
        vec![
            json!({ "destination": "/data/sub", "type": "tmpfs", "source": "tmpfs", "options": ["size=1m"] }),
            json!({ "destination": "/data/bind", "type": "bind", "source": src.path(), "options": ["rbind"] }),
            json!({ "destination": format!("/data2/{abs_name}"), "type": "tmpfs", "source": "tmpfs" }),
            json!({ "destination": "/etc/linkfile", "type": "bind", "source": src_file, "options": ["bind"] }),
            json!({ "destination": format!("/../../../tmp/escape-dotdot-{tag}"), "type": "tmpfs", "source": "tmpfs" }),
        ],
    );
    let before = host_mounts();
    let out = run_script(
        &rt,
        &mut b,
        "escape",
        &format!(
            "echo hi > /data/sub/f && echo wrote=yes; echo \"sub_fs=$(stat -f -c %T /data/sub)\"; \
             echo \"bind=$(cat /data/bind/payload)\"; echo \"abs_fs=$(stat -f -c %T /tmp/{abs_name})\"; \
             echo \"linkfile=$(cat /etc/linkfile)\"; echo '--- mountinfo'; cat /proc/self/mountinfo"
        ),
    );
    let after = host_mounts();

    // Nothing reached the host.
    for p in [
        &escape,
        &escape_file,
        &dotdot,
        &PathBuf::from("/tmp").join(&abs_name),
    ] {
        assert!(!p.exists(), "{} was created on the host", p.display());
    }
    assert_eq!(before, after, "host mounts changed");
    assert!(
        mounts_mentioning(&tag).is_empty(),
        "{:?}",
        mounts_mentioning(&tag)
    );
    // Inside, the mounts are where the symlinks point within the rootfs.
    assert_eq!(value_of(&out, "wrote"), "yes", "{out}");
    assert_eq!(value_of(&out, "sub_fs"), "tmpfs", "{out}");
    assert_eq!(value_of(&out, "bind"), "bound", "{out}");
    assert_eq!(value_of(&out, "abs_fs"), "tmpfs", "{out}");
    assert_eq!(value_of(&out, "linkfile"), "bound", "{out}");
    let m = container_mountinfo(&out);
    assert_eq!(
        mount_fstype(line(m, &format!("/tmp/escape-{tag}/sub"))),
        "tmpfs"
    );
    line(m, &format!("/tmp/escape-{tag}/bind"));
    assert_eq!(mount_fstype(line(m, &format!("/tmp/{abs_name}"))), "tmpfs");
    line(m, &format!("/tmp/escape-file-{tag}"));
    assert_eq!(
        mount_fstype(line(m, &format!("/tmp/escape-dotdot-{tag}"))),
        "tmpfs"
    );
    // The directories were made inside the rootfs, and the tmpfs write did not land there.
    assert!(root.join(format!("tmp/escape-{tag}/sub")).is_dir());
    assert!(!root.join(format!("tmp/escape-{tag}/sub/f")).exists());
    assert!(root.join(format!("tmp/{abs_name}")).is_dir());
    assert!(root.join(format!("tmp/escape-file-{tag}")).is_file());
    assert!(root.join(format!("tmp/escape-dotdot-{tag}")).is_dir());
}

#[test]
fn proc_and_sysfs_are_never_mounted_through_a_symlink() {
    let rt = runtime();
    for (dest, typ) in [("/proc", "proc"), ("/sys", "sysfs")] {
        let tag = unique_id("escape-proc");
        let escape = PathBuf::from(format!("/tmp/{tag}"));
        let mut b = Bundle::busybox();
        let p = b.rootfs().join(&dest[1..]);
        fs::remove_dir(&p).unwrap();
        std::os::unix::fs::symlink(format!("../../../../tmp/{tag}"), &p).unwrap();
        let before = host_mounts();
        let out = run_script_output(&rt, &mut b, "proc-link", "true");
        assert!(
            !out.status.success(),
            "{typ} through a symlink must fail\n{}",
            describe(&out)
        );
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(dest) && err.contains("symlink"), "{err}");
        assert!(
            !escape.exists(),
            "{} was created on the host",
            escape.display()
        );
        assert_eq!(before, host_mounts(), "host mounts changed");
        assert!(rt.ok(&["list", "-q"]).trim().is_empty(), "no state left");
    }
}
