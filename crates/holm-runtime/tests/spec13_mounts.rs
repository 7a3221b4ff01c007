//! Issue 11, runtime-spec 1.3 mounts: recursive mount attributes (`rro`, `rnosuid`, `ratime`, … with
//! `mount_setattr(AT_RECURSIVE)`) seen on a submount in the container's mountinfo, and id-mapped bind mounts
//! (`uidMappings`/`gidMappings`, `idmap`/`ridmap`) seen as file owners with `stat` inside the container.

mod isolation_support;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use holm_testkit::Bundle;
use isolation_support::*;
use serde_json::{json, Value};
use tempfile::TempDir;

/// A tmpfs mounted on the host for the test, detached on drop (also when an assertion fails).
struct HostMount(PathBuf);

impl HostMount {
    fn tmpfs(at: &Path, options: &str) -> HostMount {
        fs::create_dir_all(at).unwrap();
        let st = Command::new("mount")
            .args(["-t", "tmpfs", "-o", options, "tmpfs"])
            .arg(at)
            .status()
            .unwrap();
        assert!(st.success(), "mount tmpfs on {}", at.display());
        HostMount(at.to_path_buf())
    }
}

impl Drop for HostMount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

fn host_dir(prefix: &str) -> TempDir {
    tempfile::Builder::new()
        .prefix(prefix)
        .tempdir_in("/tmp")
        .unwrap()
}

fn push_mounts(b: &mut Bundle, mounts: Vec<Value>) {
    b.config_mut()["mounts"]
        .as_array_mut()
        .unwrap()
        .extend(mounts);
}

fn mountinfo_of(out: &str) -> &str {
    out.split("--- mountinfo\n")
        .nth(1)
        .unwrap_or_else(|| panic!("no mountinfo in output:\n{out}"))
}

fn opts_at(minfo: &str, mp: &str) -> Vec<String> {
    mount_opts(
        mount_line(minfo, mp)
            .unwrap_or_else(|| panic!("no mount at {mp} in container mountinfo:\n{minfo}")),
    )
}

const ATIME_WORDS: &[&str] = &["noatime", "relatime"];

#[test]
fn recursive_attributes_reach_submounts() {
    let rt = runtime();
    let src = host_dir("holm-rattr-");
    fs::write(src.path().join("top"), "t").unwrap();
    // A submount that has every attribute the "clear" words remove (its superblock stays read-only: the mount
    // becomes rw, not the file system), and one that has none of them.
    let _locked = HostMount::tmpfs(
        &src.path().join("locked"),
        "ro,nosuid,nodev,noexec,noatime,nodiratime,nosymfollow,size=1m",
    );
    let _open = HostMount::tmpfs(&src.path().join("open"), "rw,size=1m");
    let s = src.path().to_str().unwrap();
    let mut b = Bundle::busybox();
    push_mounts(
        &mut b,
        vec![
            json!({ "destination": "/mnt/set", "type": "bind", "source": s,
                    "options": ["rbind", "rro", "rnosuid", "rnodev", "rnoexec", "rnodiratime", "rnosymfollow", "rnoatime"] }),
            json!({ "destination": "/mnt/clear", "type": "bind", "source": s,
                    "options": ["rbind", "rrw", "rsuid", "rdev", "rexec", "rdiratime", "rsymfollow", "rstrictatime"] }),
            json!({ "destination": "/mnt/relatime", "type": "bind", "source": s, "options": ["rbind", "rrelatime"] }),
            json!({ "destination": "/mnt/atime", "type": "bind", "source": s, "options": ["rbind", "ratime"] }),
            json!({ "destination": "/mnt/norelatime", "type": "bind", "source": s, "options": ["rbind", "rnorelatime"] }),
            // The plain words change the top mount only: the submount keeps its own flags.
            json!({ "destination": "/mnt/plain", "type": "bind", "source": s, "options": ["rbind", "ro", "nosuid"] }),
            json!({ "destination": "/mnt/tmp", "type": "tmpfs", "source": "tmpfs", "options": ["rro", "size=1m"] }),
        ],
    );
    let out = run_script(
        &rt,
        &mut b,
        "rattr",
        "touch /mnt/set/open/x 2>/dev/null || echo set_write=no; \
         touch /mnt/plain/open/y && echo plain_sub_write=yes; \
         echo '--- mountinfo'; cat /proc/self/mountinfo",
    );
    assert_eq!(value_of(&out, "set_write"), "no", "{out}");
    assert_eq!(value_of(&out, "plain_sub_write"), "yes", "{out}");
    let m = mountinfo_of(&out);
    let set_words = [
        "ro",
        "nosuid",
        "nodev",
        "noexec",
        "nodiratime",
        "nosymfollow",
        "noatime",
    ];
    for mp in ["/mnt/set", "/mnt/set/open", "/mnt/set/locked"] {
        let o = opts_at(m, mp);
        for w in set_words {
            assert!(o.iter().any(|x| x == w), "{mp} lacks {w}: {o:?}");
        }
    }
    for mp in ["/mnt/clear", "/mnt/clear/locked", "/mnt/clear/open"] {
        let o = opts_at(m, mp);
        assert!(o.iter().any(|x| x == "rw"), "{mp}: {o:?}");
        for w in set_words.iter().skip(1).chain(ATIME_WORDS) {
            assert!(!o.iter().any(|x| x == w), "{mp} still has {w}: {o:?}");
        }
    }
    for (mp, want) in [
        ("/mnt/relatime/locked", Some("relatime")),
        ("/mnt/atime/locked", Some("relatime")),
        ("/mnt/norelatime/open", None),
    ] {
        let o = opts_at(m, mp);
        let got = ATIME_WORDS.iter().find(|w| o.iter().any(|x| x == *w));
        assert_eq!(got.copied(), want, "{mp}: {o:?}");
    }
    let plain_top = opts_at(m, "/mnt/plain");
    assert!(plain_top.iter().any(|x| x == "ro"), "{plain_top:?}");
    let plain_sub = opts_at(m, "/mnt/plain/open");
    assert!(
        plain_sub.iter().any(|x| x == "rw") && !plain_sub.iter().any(|x| x == "nosuid"),
        "{plain_sub:?}"
    );
    assert!(opts_at(m, "/mnt/tmp").iter().any(|x| x == "ro"));
}

fn idmap_mount(dest: &str, src: &Path, options: &[&str], uid: u32, gid: u32) -> Value {
    json!({ "destination": dest, "type": "bind", "source": src, "options": options,
            "uidMappings": [{ "containerID": 0, "hostID": uid, "size": 1 }],
            "gidMappings": [{ "containerID": 0, "hostID": gid, "size": 1 }] })
}

#[test]
fn idmapped_mounts_show_mapped_owners() {
    let rt = runtime();
    let src = host_dir("holm-idmap-");
    fs::write(src.path().join("root-owned"), "r").unwrap();
    fs::write(src.path().join("user-owned"), "u").unwrap();
    std::os::unix::fs::chown(src.path().join("user-owned"), Some(1000), Some(1000)).unwrap();
    let sub = HostMount::tmpfs(&src.path().join("sub"), "size=1m");
    fs::write(sub.0.join("in-sub"), "s").unwrap();
    let mut b = Bundle::busybox();
    push_mounts(
        &mut b,
        vec![
            idmap_mount("/mnt/idmap", src.path(), &["rbind", "idmap"], 1234, 4321),
            idmap_mount("/mnt/ridmap", src.path(), &["rbind", "ridmap"], 1234, 4321),
            // Mappings without an option word are an `idmap` mount.
            idmap_mount("/mnt/bare", src.path(), &["bind"], 2000, 3000),
            json!({ "destination": "/mnt/plain", "type": "bind", "source": src.path(), "options": ["rbind"] }),
        ],
    );
    let out = run_script(
        &rt,
        &mut b,
        "idmap",
        "for d in idmap ridmap bare plain; do \
           echo \"$d.root=$(stat -c %u:%g /mnt/$d/root-owned)\"; \
           echo \"$d.user=$(stat -c %u:%g /mnt/$d/user-owned)\"; done; \
         echo \"idmap.sub=$(stat -c %u:%g /mnt/idmap/sub/in-sub)\"; \
         echo \"ridmap.sub=$(stat -c %u:%g /mnt/ridmap/sub/in-sub)\"; \
         echo '--- mountinfo'; cat /proc/self/mountinfo",
    );
    for (k, want) in [
        ("idmap.root", "1234:4321"),
        ("idmap.user", "65534:65534"),
        ("ridmap.root", "1234:4321"),
        ("bare.root", "2000:3000"),
        ("bare.user", "65534:65534"),
        ("plain.root", "0:0"),
        ("plain.user", "1000:1000"),
        // `idmap` maps the top mount only; `ridmap` every mount of the tree.
        ("idmap.sub", "0:0"),
        ("ridmap.sub", "1234:4321"),
    ] {
        assert_eq!(value_of(&out, k), want, "{k}\n{out}");
    }
    let m = mountinfo_of(&out);
    assert!(
        opts_at(m, "/mnt/idmap").iter().any(|x| x == "idmapped"),
        "{m}"
    );
    assert!(
        !opts_at(m, "/mnt/plain").iter().any(|x| x == "idmapped"),
        "{m}"
    );
}

#[test]
fn idmap_without_mappings_uses_the_containers_user_namespace() {
    let rt = runtime();
    let src = host_dir("holm-idmap-userns-");
    fs::write(src.path().join("f"), "host root's file").unwrap();
    // The container's root (host uid 140000) must reach the plain bind's source.
    fs::set_permissions(
        src.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let mut b = Bundle::busybox();
    set_ns(&mut b, "user", None);
    let map = json!([{ "containerID": 0, "hostID": 140000, "size": 65536 }]);
    b.config_mut()["linux"]["uidMappings"] = map.clone();
    b.config_mut()["linux"]["gidMappings"] = map;
    b.chown_rootfs(140000, 140000);
    push_mounts(
        &mut b,
        vec![
            json!({ "destination": "/mnt/idmap", "type": "bind", "source": src.path(), "options": ["bind", "idmap"] }),
            json!({ "destination": "/mnt/plain", "type": "bind", "source": src.path(), "options": ["bind"] }),
        ],
    );
    let out = run_script(
        &rt,
        &mut b,
        "idmap-userns",
        "echo \"idmap=$(stat -c %u /mnt/idmap/f)\"; echo \"plain=$(stat -c %u /mnt/plain/f)\"; \
         echo hi > /mnt/idmap/new && echo idmap_write=yes",
    );
    // Host root's file is the container root's through the id-mapped mount, nobody's through the plain bind.
    assert_eq!(value_of(&out, "idmap"), "0", "{out}");
    assert_eq!(value_of(&out, "plain"), "65534", "{out}");
    assert_eq!(value_of(&out, "idmap_write"), "yes", "{out}");
    // Written by the container's root through the mapping: owned by host root on disk.
    let md = fs::metadata(src.path().join("new")).unwrap();
    assert_eq!(std::os::unix::fs::MetadataExt::uid(&md), 0);
}

#[test]
fn bad_idmap_and_recursive_options_name_the_field() {
    let rt = runtime();
    let src = host_dir("holm-idmap-bad-");
    let cases: Vec<(Value, &str)> = vec![
        (
            json!({ "destination": "/mnt/x", "type": "tmpfs", "source": "tmpfs", "options": ["idmap"],
                    "uidMappings": [{ "containerID": 0, "hostID": 1, "size": 1 }],
                    "gidMappings": [{ "containerID": 0, "hostID": 1, "size": 1 }] }),
            "only bind mounts",
        ),
        (
            json!({ "destination": "/mnt/x", "type": "bind", "source": src.path(), "options": ["bind"],
                    "uidMappings": [{ "containerID": 0, "hostID": 1, "size": 1 }] }),
            "mounts[N].gidMappings",
        ),
        (
            json!({ "destination": "/mnt/x", "type": "bind", "source": src.path(), "options": ["bind", "idmap"] }),
            "mounts[N].uidMappings",
        ),
        (
            json!({ "destination": "/mnt/x", "type": "bind", "source": src.path(), "options": ["bind"],
                    "uidMappings": [{ "containerID": 0, "hostID": 1, "size": 0 }],
                    "gidMappings": [{ "containerID": 0, "hostID": 1, "size": 1 }] }),
            "mounts[N].uidMappings[0].size",
        ),
        // Maps the kernel's uid_map/gid_map write refuses: named with the rule, not a bare EINVAL.
        (
            json!({ "destination": "/mnt/x", "type": "bind", "source": src.path(), "options": ["bind"],
                    "uidMappings": [{ "containerID": 0, "hostID": 1000, "size": 10 },
                                    { "containerID": 5, "hostID": 5000, "size": 10 }],
                    "gidMappings": [{ "containerID": 0, "hostID": 1, "size": 1 }] }),
            "mounts[N].uidMappings[1]`: its containerID range overlaps",
        ),
        (
            json!({ "destination": "/mnt/x", "type": "bind", "source": src.path(), "options": ["bind"],
                    "uidMappings": [{ "containerID": 0, "hostID": 1, "size": 1 }],
                    "gidMappings": [{ "containerID": 4294967295u32, "hostID": 1, "size": 1 }] }),
            "mounts[N].gidMappings[0]`: containerID + size must be at most",
        ),
        (
            json!({ "destination": "/mnt/x", "type": "bind", "source": src.path(), "options": ["bind"],
                    "uidMappings": (0..341).map(|i| json!({ "containerID": i, "hostID": 1000 + i, "size": 1 }))
                        .collect::<Vec<_>>(),
                    "gidMappings": [{ "containerID": 0, "hostID": 1, "size": 1 }] }),
            "mounts[N].uidMappings`: 341 mappings",
        ),
        (
            json!({ "destination": "/mnt/x", "type": "bind", "source": src.path(), "options": ["bind", "copy-symlink"] }),
            "mounts[N].options",
        ),
    ];
    for (mount, field) in cases {
        let mut b = Bundle::busybox();
        let n = b.config()["mounts"].as_array().unwrap().len();
        push_mounts(&mut b, vec![mount.clone()]);
        let field = field.replace('N', &n.to_string());
        let out = run_script_output(&rt, &mut b, "idmap-bad", "true");
        assert!(!out.status.success(), "{mount}: {}", describe(&out));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(&field), "{mount}: wanted {field}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    }
    // Nothing was left in the state root.
    let list = rt.ok(&["list", "-q"]);
    assert!(list.trim().is_empty(), "{list}");
}
