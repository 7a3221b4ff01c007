//! Regression tests from a hostile-input review: ids that mean "unchanged" to the kernel, planted symlinks,
//! overflowing flags, a rootfs that plants FIFOs and symlinks into `/proc`, annotations larger than one
//! sync-channel message, and cgroups that are not the container's own (used with a warning, their processes
//! left alone; a frozen one refused).

mod lifecycle_util;

use holm_testkit::{unique_id, Bundle, Runtime};
use lifecycle_util::*;
use serde_json::json;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};

/// `create` and `run` of `b` both fail with exit code 1, naming every needle, and leave nothing behind.
fn assert_refused(rt: &Runtime, b: &Bundle, needles: &[&str]) {
    for verb in ["create", "run"] {
        let id = unique_id(&format!("hostile-{verb}"));
        let _g = rt.guard(&id);
        let out = rt.fails(&[verb, "--bundle", path_str(b.path()), &id]);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{verb}: {err}");
        for n in needles {
            assert!(err.contains(n), "{verb}: error should name `{n}`:\n{err}");
        }
        assert_no_trace(rt, &id, b.path());
    }
}

#[test]
fn uid_or_gid_4294967295_is_refused_instead_of_leaving_root() {
    // setresuid(-1, -1, -1) changes nothing: the process would have run as root.
    let rt = runtime();
    for (field, user) in [
        ("process.user.uid", json!({"uid": 4294967295u32, "gid": 0})),
        ("process.user.gid", json!({"uid": 0, "gid": 4294967295u32})),
        (
            "process.user.additionalGids",
            json!({"uid": 0, "gid": 0, "additionalGids": [4294967295u32]}),
        ),
    ] {
        let mut b = Bundle::busybox();
        b.config_mut()["process"]["user"] = user;
        b.write_config();
        assert_refused(&rt, &b, &[field, "4294967295"]);
    }

    let mut b = Bundle::busybox();
    b.set_args(&["sleep", "30"]);
    let id = unique_id("hostile-exec-uid");
    let _g = rt.guard(&id);
    rt.ok(&["run", "--detach", "--bundle", path_str(b.path()), &id]);
    for user in ["4294967295", "0:4294967295"] {
        let out = rt.fails(&["exec", "--user", user, &id, "id"]);
        assert_eq!(out.status.code(), Some(255), "{}", stderr(&out));
        assert!(stderr(&out).contains("4294967295"), "{}", stderr(&out));
        assert!(stdout(&out).is_empty(), "the process ran: {}", stdout(&out));
    }
}

#[test]
fn pid_file_temp_name_does_not_follow_a_planted_symlink() {
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    let victim = dir.path().join("victim");
    fs::write(&victim, "precious").unwrap();
    let pid_file = dir.path().join("c.pid");
    std::os::unix::fs::symlink(&victim, dir.path().join(".c.pid.tmp")).unwrap();
    let mut b = Bundle::busybox();
    b.set_args(&["sleep", "30"]);
    let id = unique_id("hostile-pidfile");
    let _g = rt.guard(&id);
    rt.ok(&[
        "run",
        "--detach",
        "--pid-file",
        path_str(&pid_file),
        "--bundle",
        path_str(b.path()),
        &id,
    ]);
    assert_eq!(fs::read_to_string(&victim).unwrap(), "precious");
    let md = fs::symlink_metadata(&pid_file).unwrap();
    assert!(md.is_file(), "the pid file is not a regular file: {md:?}");
    let pid = rt.state(&id)["pid"].as_i64().unwrap();
    assert_eq!(fs::read_to_string(&pid_file).unwrap(), pid.to_string());
}

#[test]
fn preserve_fds_that_overflow_are_an_error_not_a_panic() {
    let rt = runtime();
    let mut b = Bundle::busybox();
    b.set_args(&["sleep", "30"]);
    let id = unique_id("hostile-pfds");
    let _g = rt.guard(&id);
    let out = rt.fails(&[
        "create",
        "--preserve-fds",
        "2147483647",
        "--bundle",
        path_str(b.path()),
        &id,
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("--preserve-fds"), "{}", stderr(&out));
    assert_no_trace(&rt, &id, b.path());

    rt.ok(&["run", "--detach", "--bundle", path_str(b.path()), &id]);
    let out = rt.fails(&["exec", "--preserve-fds", "2147483647", &id, "true"]);
    assert_eq!(out.status.code(), Some(255), "{}", stderr(&out));
    assert!(stderr(&out).contains("--preserve-fds"), "{}", stderr(&out));
}

#[test]
fn a_fifo_at_a_file_bind_destination_does_not_hang_create() {
    // The rootfs (an image) decides what is at a mount destination; opening a FIFO there would block forever.
    let rt = runtime();
    let mut b = Bundle::busybox();
    let src = b.path().join("hosts-src");
    fs::write(&src, "127.0.0.1 hostile\n").unwrap();
    let fifo = b.rootfs().join("etc/hosts");
    let _ = fs::remove_file(&fifo);
    assert!(std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    b.config_mut()["mounts"]
        .as_array_mut()
        .unwrap()
        .push(json!({"destination": "/etc/hosts", "type": "bind", "source": src, "options": ["bind", "ro"]}));
    b.set_args(&["cat", "/etc/hosts"]);
    let id = unique_id("hostile-fifo");
    let _g = rt.guard(&id);
    let out = rt.ok(&["run", "--bundle", path_str(b.path()), &id]);
    assert_eq!(out, "127.0.0.1 hostile\n");
    assert_no_trace(&rt, &id, b.path());
}

#[test]
fn proc_rules_hold_through_a_rootfs_symlink() {
    // rootfs `/foo` -> `proc`: a mount at `/foo` would land on /proc (the runc CVE-2019-16884 shape).
    let rt = runtime();
    let elsewhere = tempfile::tempdir().unwrap();
    for (mount, needles) in [
        (
            json!({"destination": "/foo", "type": "bind", "source": elsewhere.path(), "options": ["rbind"]}),
            &["mounts[", "/proc"][..],
        ),
        (
            json!({"destination": "/foo", "type": "tmpfs", "source": "tmpfs"}),
            &["mounts[", "/proc"][..],
        ),
        (
            json!({"destination": "/foo/sys", "type": "tmpfs", "source": "tmpfs"}),
            &["mounts[", "/proc/sys"][..],
        ),
        (
            json!({"destination": "/proc", "type": "cgroup", "source": "cgroup"}),
            &["mounts[", "/proc"][..],
        ),
    ] {
        let mut b = Bundle::busybox();
        std::os::unix::fs::symlink("proc", b.rootfs().join("foo")).unwrap();
        b.config_mut()["mounts"].as_array_mut().unwrap().push(mount);
        b.write_config();
        assert_refused(&rt, &b, needles);
    }
}

#[test]
fn annotations_larger_than_a_channel_message_reach_every_hook() {
    let rt = runtime();
    let mut b = Bundle::busybox();
    let big = "v".repeat(100 * 1024);
    let out_rt = b.path().join("createRuntime.json");
    let out_cc = b.path().join("createContainer.json");
    let hook = |out: &Path| json!({"path": "/bin/sh", "args": ["sh", "-c", format!("cat > {}", out.display())]});
    b.config_mut()["annotations"] = json!({"big": big, "small": "x"});
    b.config_mut()["hooks"] = json!({
        "createRuntime": [hook(&out_rt)],
        "createContainer": [hook(&out_cc)],
    });
    b.set_args(&["true"]);
    let id = unique_id("hostile-annotations");
    let _g = rt.guard(&id);
    rt.ok(&["run", "--bundle", path_str(b.path()), &id]);
    for out in [&out_rt, &out_cc] {
        let st = read_json(out);
        assert_eq!(
            st["annotations"]["big"].as_str(),
            Some(big.as_str()),
            "{}",
            out.display()
        );
        assert_eq!(st["annotations"]["small"], "x");
        assert_eq!(st["id"], id.as_str());
    }
}

/// A cgroup made by the test under `holm-test/<name>` in every hierarchy; removed (after killing `sleeper`)
/// when dropped.
struct ForeignCgroup {
    dirs: Vec<PathBuf>,
    sleeper: Option<Child>,
}

impl ForeignCgroup {
    fn new(name: &str) -> ForeignCgroup {
        let root = Path::new(CGROUP_ROOT);
        let hierarchies: Vec<PathBuf> = if root.join("cgroup.controllers").exists() {
            vec![root.to_path_buf()]
        } else {
            fs::read_dir(root)
                .unwrap()
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.join("cgroup.procs").exists())
                .collect()
        };
        let dirs = hierarchies
            .iter()
            .map(|h| h.join("holm-test").join(name))
            .collect::<Vec<_>>();
        for d in &dirs {
            fs::create_dir_all(d).unwrap();
        }
        ForeignCgroup {
            dirs,
            sleeper: None,
        }
    }

    /// Starts a process that is not the container's and puts it in the cgroup (where the kernel lets it).
    fn add_sleeper(&mut self) -> i32 {
        let child = Command::new("sleep").arg("60").spawn().unwrap();
        let pid = child.id() as i32;
        for d in &self.dirs {
            let _ = fs::write(d.join("cgroup.procs"), pid.to_string());
        }
        self.sleeper = Some(child);
        pid
    }

    /// Freezes the cgroup (v1 freezer, else v2 cgroup.freeze).
    fn freeze(&self) {
        let v1 = self.dirs.iter().find(|d| d.join("freezer.state").exists());
        match v1 {
            Some(d) => fs::write(d.join("freezer.state"), "FROZEN").unwrap(),
            None => fs::write(self.dirs[0].join("cgroup.freeze"), "1").unwrap(),
        }
    }

    fn path(&self, name: &str) -> String {
        format!("/holm-test/{name}")
    }
}

impl Drop for ForeignCgroup {
    fn drop(&mut self) {
        for d in &self.dirs {
            let _ = fs::write(d.join("freezer.state"), "THAWED");
            let _ = fs::write(d.join("cgroup.freeze"), "0");
        }
        if let Some(mut c) = self.sleeper.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        for d in &self.dirs {
            for _ in 0..100 {
                if fs::remove_dir(d).is_ok() || !d.exists() {
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
        }
    }
}

#[test]
fn a_cgroup_holding_other_processes_is_used_with_a_warning_and_they_survive() {
    // runc 1.1 warns ("container's cgroup is not empty") and goes on; issue 11 asks for the same. The processes
    // found there are not the container's: `kill --all` and `delete --force` leave them (and so their cgroup)
    // alone, while the container's own processes in it are killed.
    let rt = runtime();
    let name = unique_id("hostile-shared-cg");
    let mut cg = ForeignCgroup::new(&name);
    let pid = cg.add_sleeper();
    let mut b = Bundle::busybox();
    b.config_mut()["linux"]["cgroupsPath"] = json!(cg.path(&name));
    b.set_args(&["sleep", "1000"]);
    b.write_config();
    let id = unique_id("hostile-shared");
    let _g = rt.guard(&id);
    let out = rt.run(&["run", "-d", "--bundle", path_str(b.path()), &id]);
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(
        err.contains("warning") && err.contains("not empty") && err.contains(&pid.to_string()),
        "{err}"
    );
    let init = rt.state(&id)["pid"].as_i64().unwrap() as i32;
    // Both are in the cgroup: `ps` lists them, as runc's.
    let listed: Vec<i32> = serde_json::from_str(&rt.ok(&["ps", "-f", "json", &id])).unwrap();
    assert!(
        listed.contains(&pid) && listed.contains(&init),
        "{listed:?}"
    );
    rt.ok(&["kill", "--all", &id, "KILL"]);
    holm_testkit::wait_until(
        std::time::Duration::from_secs(10),
        "the init to die",
        || !alive(init),
    );
    rt.ok(&["delete", "--force", &id]);
    assert!(alive(pid), "the process in the shared cgroup was killed");
    assert!(
        cg.dirs.iter().all(|d| d.exists()),
        "the cgroup was removed under the process that was there first"
    );
    assert!(!rt.root().join(&id).exists());
}

#[test]
fn a_frozen_cgroup_is_refused_at_once() {
    // Stage 1 would hang in it, unkillable, and `delete --force` could not remove it.
    let rt = runtime();
    let name = unique_id("hostile-frozen-cg");
    let cg = ForeignCgroup::new(&name);
    cg.freeze();
    let mut b = Bundle::busybox();
    b.config_mut()["linux"]["cgroupsPath"] = json!(cg.path(&name));
    b.set_args(&["true"]);
    b.write_config();
    assert_refused(&rt, &b, &["linux.cgroupsPath", "frozen"]);
    // Below a frozen parent, too.
    let mut b = Bundle::busybox();
    b.config_mut()["linux"]["cgroupsPath"] = json!(format!("{}/child", cg.path(&name)));
    b.set_args(&["true"]);
    b.write_config();
    assert_refused(&rt, &b, &["linux.cgroupsPath", "frozen"]);
}

#[test]
fn non_utf8_arguments_survive_the_protective_re_exec() {
    // The runtime re-executes itself (read-only exe bind mount); a lossy UTF-8 conversion of argv on the way wrote
    // the pid file to `p\u{FFFD}.pid` instead of the path given.
    use std::os::unix::ffi::OsStrExt;
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join(std::ffi::OsStr::from_bytes(b"p\xe9.pid"));
    let mut b = Bundle::busybox();
    b.set_args(&["true"]);
    let id = unique_id("hostile-non-utf8");
    let _g = rt.guard(&id);
    let out = rt
        .cmd(&["run", "--bundle", path_str(b.path())])
        .arg("--pid-file")
        .arg(&pid_file)
        .arg(&id)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let names: Vec<_> = fs::read_dir(dir.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert!(
        pid_file.exists(),
        "pid file not at the given path; found {names:?}"
    );
}

#[test]
fn a_forged_re_exec_marker_does_not_turn_off_exe_protection() {
    // `_HOLM_ORIG_MNTNS` tells the runtime it was re-executed through a read-only bind of its binary; set by the
    // caller with any mount namespace fd, it skipped the protection (CVE-2019-5736 class) altogether.
    let rt = runtime();
    let mut b = Bundle::busybox();
    b.set_args(&["true"]);
    let id = unique_id("hostile-exe-marker");
    let _g = rt.guard(&id);
    let script = format!(
        "exec 7</proc/self/ns/mnt; _HOLM_ORIG_MNTNS=7 exec '{}' --root '{}' create --bundle '{}' '{id}'",
        rt.bin().display(),
        rt.root().display(),
        b.path().display()
    );
    // Not piped: the container's init inherits the runtime's stdout and stderr and keeps them open.
    let err = tempfile::tempfile().unwrap();
    let st = Command::new("sh")
        .arg("-c")
        .arg(&script)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(err.try_clone().unwrap())
        .status()
        .unwrap();
    assert!(st.success(), "{}", read_or_empty_file(err));
    let pid = rt.state(&id)["pid"].as_i64().unwrap();
    // The init still runs the runtime's image until `start`: it must be a sealed copy or on a read-only mount.
    let exe = format!("/proc/{pid}/exe");
    let link = fs::read_link(&exe).unwrap();
    // holm-sys keeps the unsafe code: fstatvfs through an fd of the exe.
    let f = fs::File::open(&exe).unwrap();
    let ro =
        holm_sys::fs::mount_flags(std::os::fd::AsFd::as_fd(&f)).unwrap() & libc::ST_RDONLY != 0;
    assert!(
        ro || link.to_string_lossy().starts_with("/memfd:"),
        "{exe} -> {} is writable",
        link.display()
    );
}

fn read_or_empty_file(mut f: fs::File) -> String {
    use std::io::{Read, Seek};
    let mut s = String::new();
    let _ = f.rewind();
    let _ = f.read_to_string(&mut s);
    s
}

/// A config.json or `exec --process` file that never ends (a symlink to `/dev/zero`) is refused once it passes
/// 16 MiB, in one line naming the file, instead of being read until memory runs out; a process file from a pipe
/// (`<(...)`) still works.
#[test]
fn an_endless_config_or_process_file_is_refused_not_read_forever() {
    let rt = runtime();
    let mut b = Bundle::busybox();
    b.set_args(&["sleep", "1000"]);
    b.write_config();
    let config = b.path().join("config.json");
    let saved = fs::read(&config).unwrap();
    fs::remove_file(&config).unwrap();
    std::os::unix::fs::symlink("/dev/zero", &config).unwrap();
    assert_refused(&rt, &b, &[path_str(&config), "larger than 16 MiB"]);
    fs::remove_file(&config).unwrap();
    fs::write(&config, saved).unwrap();
    let id = unique_id("hostile-procfile");
    let _g = rt.guard(&id);
    rt.ok(&["run", "--detach", "--bundle", path_str(b.path()), &id]);
    let out = rt.fails(&["exec", "--process", "/dev/zero", &id]);
    let err = stderr(&out);
    assert!(
        err.contains("process file `/dev/zero`: larger than 16 MiB"),
        "{err}"
    );
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    // A pipe is read to its end.
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "{} --root {} exec --process /dev/stdin {id} <<'EOF'\n{{\"args\":[\"sh\",\"-c\",\"echo from-pipe\"],\"cwd\":\"/\",\"env\":[\"PATH=/bin\"]}}\nEOF",
            rt.bin().display(),
            rt.root().display()
        ))
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("from-pipe"),
        "{}",
        stderr(&out)
    );
}
