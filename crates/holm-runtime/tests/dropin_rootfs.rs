//! Issue 11, rootfs and hook details runc users rely on: a read-only `/dev` tmpfs with devpts (and the other
//! default mounts) below it, and the working directory of each kind of hook. Compared with Debian's runc.

mod lifecycle_util;

use holm_testkit::{unique_id, Bundle, Runtime};
use lifecycle_util::*;
use serde_json::json;
use std::fs;

#[test]
fn a_read_only_dev_gets_its_devices_and_the_mounts_below_it_as_runc() {
    let holm = runtime();
    let runc = Runtime::runc();
    let mut b = Bundle::busybox();
    for m in b.config_mut()["mounts"].as_array_mut().unwrap() {
        if m["destination"] == "/dev" {
            m["options"].as_array_mut().unwrap().push(json!("ro"));
        }
    }
    b.config_mut()["process"]["args"] = json!([
        "sh",
        "-c",
        "awk '$5 ~ /^\\/dev/ {print $5, substr($6, 1, 2)}' /proc/self/mountinfo; \
         echo x > /dev/null && echo null-ok; test -c /dev/zero && echo zero-ok; \
         touch /dev/new 2>/dev/null || echo dev-ro; touch /dev/shm/new && echo shm-rw"
    ]);
    b.write_config();
    let mut outs = Vec::new();
    for rt in [&holm, &runc] {
        let id = unique_id("ro-dev");
        let _g = rt.guard(&id);
        let out = rt.run(&["run", "--bundle", path_str(b.path()), &id]);
        assert!(out.status.success(), "{:?}: {}", rt.bin(), stderr(&out));
        outs.push(stdout(&out));
    }
    assert_eq!(
        outs[0],
        "/dev ro\n/dev/pts rw\n/dev/shm rw\n/dev/mqueue rw\nnull-ok\nzero-ok\ndev-ro\nshm-rw\n"
    );
    assert_eq!(outs[0], outs[1], "holm and runc differ");
}

#[test]
fn hooks_run_in_the_bundle_the_rootfs_or_the_process_cwd_as_runc() {
    let holm = runtime();
    let runc = Runtime::runc();
    let out_dir = tempfile::tempdir().unwrap();
    let mut b = Bundle::busybox();
    b.set_args(&["true"]);
    b.config_mut()["process"]["cwd"] = json!("/home");
    let hook = |name: &str, file: String| json!([{"path": "/bin/sh", "args": ["sh", "-c", format!("pwd > {file}.{name}")]}]);
    // Host-side hooks write to the host directory; startContainer runs inside the container (its rootfs's /tmp).
    let host = |name: &str| hook(name, out_dir.path().join("cwd").display().to_string());
    b.config_mut()["hooks"] = json!({
        "prestart": host("prestart"),
        "createRuntime": host("createRuntime"),
        "createContainer": host("createContainer"),
        "startContainer": hook("startContainer", "/tmp/cwd".to_string()),
        "poststart": host("poststart"),
        "poststop": host("poststop"),
    });
    b.write_config();
    let bundle = fs::canonicalize(b.path()).unwrap();
    let rootfs = bundle.join("rootfs");
    for rt in [&holm, &runc] {
        let id = unique_id("hook-cwd");
        let _g = rt.guard(&id);
        // Started from `/`, so a hook that merely inherits the caller's directory would print `/`.
        let out = rt
            .cmd(&["run", "--bundle", path_str(&bundle), &id])
            .current_dir("/")
            .output()
            .unwrap();
        assert!(out.status.success(), "{:?}: {}", rt.bin(), stderr(&out));
        let read = |name: &str| {
            let p = out_dir.path().join(format!("cwd.{name}"));
            let text =
                fs::read_to_string(&p).unwrap_or_else(|e| panic!("{:?}: {name}: {e}", rt.bin()));
            fs::remove_file(&p).unwrap();
            text.trim().to_string()
        };
        for name in ["prestart", "createRuntime", "poststart", "poststop"] {
            assert_eq!(
                read(name),
                bundle.display().to_string(),
                "{:?} {name}",
                rt.bin()
            );
        }
        assert_eq!(
            read("createContainer"),
            rootfs.display().to_string(),
            "{:?}",
            rt.bin()
        );
        let inside = rootfs.join("tmp/cwd.startContainer");
        assert_eq!(
            fs::read_to_string(&inside).unwrap().trim(),
            "/home",
            "{:?}",
            rt.bin()
        );
        fs::remove_file(inside).unwrap();
    }
}

#[test]
fn no_pivot_does_not_leave_a_full_host_proc_to_mount_from_as_runc() {
    // With --no-pivot the host's mounts stay in the namespace under the moved rootfs; a full host /proc there
    // would let a user namespace made inside mount an unmasked procfs (runc's `msMoveRoot` hides it; so does
    // holm). The container's own /proc still works.
    let holm = runtime();
    let runc = Runtime::runc();
    let mut b = Bundle::busybox();
    for set in ["bounding", "permitted", "effective"] {
        b.config_mut()["process"]["capabilities"][set]
            .as_array_mut()
            .unwrap()
            .push(json!("CAP_SETFCAP"));
    }
    b.config_mut()["process"]["args"] = json!([
        "sh",
        "-c",
        "test -r /proc/self/status && echo own-proc; \
         unshare -mrpf sh -c 'mount -t proc none /proc && echo mounted-proc'; echo rc=$?"
    ]);
    b.write_config();
    for rt in [&holm, &runc] {
        let id = unique_id("no-pivot-proc");
        let _g = rt.guard(&id);
        let out = rt.run(&["run", "--no-pivot", "--bundle", path_str(b.path()), &id]);
        assert!(out.status.success(), "{:?}: {}", rt.bin(), stderr(&out));
        assert_eq!(
            stdout(&out),
            "own-proc\nrc=1\n",
            "{:?}: {}",
            rt.bin(),
            stderr(&out)
        );
        assert!(
            stderr(&out).contains("permission denied"),
            "{:?}: {}",
            rt.bin(),
            stderr(&out)
        );
    }
    // Without --no-pivot the same holds (pivot_root detaches the old root).
    let id = unique_id("pivot-proc");
    let _g = holm.guard(&id);
    let out = holm.run(&["run", "--bundle", path_str(b.path()), &id]);
    assert_eq!(stdout(&out), "own-proc\nrc=1\n", "{}", stderr(&out));
}

#[test]
fn a_bind_source_inside_the_rootfs_resolves_its_symlinks_inside_it() {
    // rootfs/data -> /srv/data (absolute, as images have them) and rootfs/etclink -> /etc: looked up inside the
    // rootfs, the first reaches rootfs/srv/data (the host has no /srv/data), the second the image's /etc, never
    // the host's. A relative link (rootfs/rel -> srv/data) works as before.
    let rt = runtime();
    let mut b = Bundle::busybox();
    let r = b.rootfs();
    fs::create_dir_all(r.join("srv/data")).unwrap();
    fs::write(r.join("srv/data/f"), "inside\n").unwrap();
    std::os::unix::fs::symlink("/srv/data", r.join("data")).unwrap();
    std::os::unix::fs::symlink("srv/data", r.join("rel")).unwrap();
    std::os::unix::fs::symlink("/etc", r.join("etclink")).unwrap();
    let rootfs = fs::canonicalize(&r).unwrap();
    let bind = |src: &str, dest: &str| json!({"destination": dest, "type": "bind", "source": rootfs.join(src), "options": ["rbind", "ro"]});
    b.config_mut()["mounts"].as_array_mut().unwrap().extend([
        bind("data", "/m1"),
        bind("rel", "/m2"),
        bind("etclink", "/m3"),
    ]);
    b.config_mut()["process"]["args"] = json!([
        "sh",
        "-c",
        "cat /m1/f /m2/f; grep -c '^holm:x:1000:' /m3/passwd"
    ]);
    b.write_config();
    assert!(
        !std::path::Path::new("/srv/data/f").exists(),
        "the host has /srv/data/f"
    );
    let id = unique_id("bind-src-link");
    let _g = rt.guard(&id);
    let out = rt.run(&[
        "run",
        "--bundle",
        path_str(&fs::canonicalize(b.path()).unwrap()),
        &id,
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "inside\ninside\n1\n");
}
