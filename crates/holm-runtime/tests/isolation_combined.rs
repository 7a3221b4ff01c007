//! Issue 2, combinations and failure paths: features that each work alone, together (user
//! namespace with read-only mounts, `--no-pivot` with read-only root and masked paths, a time
//! namespace joined by path, a bind-mounted `/dev`), and settings the kernel refuses, which must
//! fail `create` with an error naming the field and leave nothing behind.

mod isolation_support;

use std::fs;
use std::path::Path;

use holm_testkit::{unique_id, Bundle};
use isolation_support::*;
use serde_json::json;

fn userns(b: &mut Bundle, host_id: u32) {
    set_ns(b, "user", None);
    let map = json!([{ "containerID": 0, "hostID": host_id, "size": 65536 }]);
    b.config_mut()["linux"]["uidMappings"] = map.clone();
    b.config_mut()["linux"]["gidMappings"] = map;
    b.chown_rootfs(host_id, host_id);
}

#[test]
fn user_namespace_with_readonly_root_ro_binds_masked_and_readonly_paths() {
    let rt = runtime();
    let src = tempfile::Builder::new()
        .prefix("holm-mnt-userns-")
        .tempdir_in("/tmp")
        .unwrap();
    fs::write(src.path().join("f"), "host data").unwrap();
    let mut b = Bundle::busybox();
    userns(&mut b, 120000);
    fs::create_dir(b.rootfs().join("secret")).unwrap();
    fs::write(b.rootfs().join("secret/key"), "k").unwrap();
    b.config_mut()["root"]["readonly"] = json!(true);
    b.config_mut()["linux"]["maskedPaths"] = json!(["/proc/timer_list", "/secret"]);
    b.config_mut()["linux"]["readonlyPaths"] = json!(["/proc/sys", "/home"]);
    b.config_mut()["mounts"]
        .as_array_mut()
        .unwrap()
        .extend([
            json!({ "destination": "/mnt/ro", "type": "bind", "source": src.path(), "options": ["rbind", "ro", "nosuid", "nodev"] }),
            json!({ "destination": "/mnt/tmp", "type": "tmpfs", "source": "tmpfs", "options": ["size=1m", "mode=1777"] }),
        ]);
    let out = run_script(
        &rt,
        &mut b,
        "userns-ro",
        "echo \"id=$(id -u)\"; echo \"ro=$(cat /mnt/ro/f)\"; \
         touch /mnt/ro/x 2>/dev/null || echo ro_write=no; \
         touch /x 2>/dev/null || echo root_write=no; \
         touch /home/x 2>/dev/null || echo home_write=no; \
         echo y > /mnt/tmp/y && echo tmp_write=yes; \
         echo \"timer=$(wc -c < /proc/timer_list)\"; echo \"secret=$(ls -A /secret | wc -l)\"",
    );
    assert_eq!(value_of(&out, "id"), "0", "{out}");
    assert_eq!(value_of(&out, "ro"), "host data", "{out}");
    for k in ["ro_write", "root_write", "home_write"] {
        assert_eq!(value_of(&out, k), "no", "{k}\n{out}");
    }
    assert_eq!(value_of(&out, "tmp_write"), "yes", "{out}");
    assert_eq!(value_of(&out, "timer"), "0", "{out}");
    assert_eq!(value_of(&out, "secret"), "0", "{out}");
}

#[test]
fn no_pivot_with_readonly_root_masked_and_readonly_paths() {
    let rt = runtime();
    let mut b = Bundle::busybox();
    b.config_mut()["root"]["readonly"] = json!(true);
    b.config_mut()["linux"]["maskedPaths"] = json!(["/proc/timer_list", "/proc/acpi"]);
    b.config_mut()["linux"]["readonlyPaths"] = json!(["/proc/sys"]);
    set_script(
        &mut b,
        "touch /x 2>/dev/null || echo root_write=no; echo \"timer=$(wc -c < /proc/timer_list)\"; \
         echo 1 > /proc/sys/kernel/ns_last_pid 2>/dev/null || echo procsys_write=no; \
         echo \"hostname=$(hostname)\"",
    );
    b.write_config();
    let id = unique_id("no-pivot-ro");
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
    assert_eq!(value_of(&text, "root_write"), "no", "{text}");
    assert_eq!(value_of(&text, "timer"), "0", "{text}");
    assert_eq!(value_of(&text, "procsys_write"), "no", "{text}");
    assert_eq!(value_of(&text, "hostname"), "holm", "{text}");
}

#[test]
fn joining_a_time_namespace_by_path() {
    let rt = runtime();
    let mut a = Bundle::busybox();
    set_ns(&mut a, "time", None);
    a.config_mut()["linux"]["timeOffsets"] =
        json!({ "boottime": { "secs": 5000000, "nanosecs": 0 } });
    a.set_args(&["sleep", "1000"]);
    let a_id = unique_id("time-owner");
    let _a_guard = rt.guard(&a_id);
    rt.ok(&[
        "run",
        "--detach",
        "--bundle",
        a.path().to_str().unwrap(),
        &a_id,
    ]);
    let pid = rt.state(&a_id)["pid"].as_i64().unwrap().to_string();

    let mut b = Bundle::busybox();
    set_ns(&mut b, "time", Some(&format!("/proc/{pid}/ns/time")));
    let out = run_script(
        &rt,
        &mut b,
        "time-joiner",
        "echo \"time=$(readlink /proc/self/ns/time)\"; echo \"uptime=$(cut -d. -f1 /proc/uptime)\"",
    );
    assert_eq!(value_of(&out, "time"), ns_of(&pid, "time"), "{out}");
    let host_uptime: f64 = fs::read_to_string("/proc/uptime")
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let inside: f64 = value_of(&out, "uptime").parse().unwrap();
    assert!(
        (inside - host_uptime - 5000000.0).abs() < 60.0,
        "inside {inside}, host {host_uptime}\n{out}"
    );
    rt.ok(&["delete", "--force", &a_id]);
}

#[test]
fn dev_bind_mounted_from_the_host() {
    let rt = runtime();
    let mut b = Bundle::busybox();
    let mounts = b.config_mut()["mounts"].as_array_mut().unwrap();
    mounts.retain(|m| !m["destination"].as_str().unwrap().starts_with("/dev"));
    mounts.push(json!({ "destination": "/dev", "type": "bind", "source": "/dev", "options": ["rbind", "nosuid"] }));
    let out = run_script(
        &rt,
        &mut b,
        "dev-bind",
        "echo \"null=$(stat -c %t:%T /dev/null)\"; echo \"vda=$(ls /dev | grep -c '^vda')\"; \
         echo x > /dev/null && echo null_write=ok",
    );
    assert_eq!(value_of(&out, "null"), "1:3", "{out}");
    assert_ne!(
        value_of(&out, "vda"),
        "0",
        "the host's /dev is visible\n{out}"
    );
    assert_eq!(value_of(&out, "null_write"), "ok", "{out}");
    // The runtime made no device nodes or links in the host's /dev (its ptmx is still the node).
    use std::os::unix::fs::FileTypeExt;
    assert!(fs::symlink_metadata("/dev/ptmx")
        .unwrap()
        .file_type()
        .is_char_device());
}

/// `create` must fail naming `field` and leave no state, cgroup or process behind.
fn create_fails_cleanly(rt: &holm_testkit::Runtime, b: &mut Bundle, prefix: &str, field: &str) {
    let id = unique_id(prefix);
    let cg = format!("holm-test/{id}");
    b.config_mut()["linux"]["cgroupsPath"] = json!(format!("/{cg}"));
    b.set_args(&["true"]);
    let _guard = rt.guard(&id);
    let out = rt.fails(&["create", "--bundle", b.path().to_str().unwrap(), &id]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(field), "error must name {field}: {err}");
    assert!(
        rt.ok(&["list", "-q"]).trim().is_empty(),
        "state left behind"
    );
    assert!(!rt.root().join(&id).exists(), "state directory left behind");
    for h in ["pids", "memory", "unified", "systemd"] {
        let dir = Path::new("/sys/fs/cgroup").join(h).join(&cg);
        assert!(!dir.exists(), "{} left behind", dir.display());
    }
}

#[test]
fn rlimit_above_the_hosts_hard_limit_fails_cleanly() {
    let rt = runtime();
    let mut b = Bundle::busybox();
    // The hard NOFILE limit here is 20000 and raising it needs CAP_SYS_RESOURCE, which we lack.
    b.config_mut()["process"]["rlimits"] =
        json!([{ "type": "RLIMIT_NOFILE", "soft": 1024, "hard": 1048576 }]);
    create_fails_cleanly(&rt, &mut b, "rlimit-eperm", "RLIMIT_NOFILE");
}

#[test]
fn lowering_oom_score_adj_without_cap_sys_resource_fails_cleanly() {
    let rt = runtime();
    let mut b = Bundle::busybox();
    b.config_mut()["process"]["oomScoreAdj"] = json!(-1000);
    create_fails_cleanly(&rt, &mut b, "oom-eperm", "process.oomScoreAdj");
}

#[test]
fn unmapped_user_in_a_user_namespace_fails_cleanly() {
    let rt = runtime();
    let mut b = Bundle::busybox();
    set_ns(&mut b, "user", None);
    let map = json!([{ "containerID": 0, "hostID": 130000, "size": 1000 }]);
    b.config_mut()["linux"]["uidMappings"] = map.clone();
    b.config_mut()["linux"]["gidMappings"] = map;
    b.chown_rootfs(130000, 130000);
    b.config_mut()["process"]["user"] = json!({ "uid": 5000, "gid": 5000 });
    let id = unique_id("userns-unmapped");
    let _guard = rt.guard(&id);
    b.set_args(&["true"]);
    let out = rt.run(&["run", "--bundle", b.path().to_str().unwrap(), &id]);
    assert!(
        !out.status.success(),
        "uid 5000 is not mapped: {}",
        describe(&out)
    );
    assert!(
        rt.ok(&["list", "-q"]).trim().is_empty(),
        "state left behind"
    );
}

#[test]
fn bind_of_a_directory_onto_an_existing_file_fails() {
    let rt = runtime();
    let mut b = Bundle::busybox();
    fs::write(b.rootfs().join("etc/plainfile"), "x").unwrap();
    b.config_mut()["mounts"]
        .as_array_mut()
        .unwrap()
        .push(json!({ "destination": "/etc/plainfile", "type": "bind", "source": "/tmp", "options": ["rbind"] }));
    create_fails_cleanly(&rt, &mut b, "bind-dir-on-file", "/etc/plainfile");
}
