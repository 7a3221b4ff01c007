//! Issue 11, `holm-runtime features`: the runtime-spec features document, each claim checked by using it — every
//! listed mount option is accepted by a container, every namespace is created, every capability granted, every
//! seccomp action, operator, architecture and supported flag loads, every memory-policy mode and flag applies,
//! every hook kind runs; what is claimed absent (SELinux here, Intel RDT) is refused.

mod isolation_support;

use std::fs;
use std::os::unix::net::UnixListener;

use holm_testkit::Bundle;
use isolation_support::*;
use serde_json::{json, Value};

fn features(rt: &holm_testkit::Runtime) -> Value {
    let out = rt.ok(&["features"]);
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("features is not JSON: {e}\n{out}"))
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap_or_else(|| panic!("not an array: {v}"))
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect()
}

fn run_true(rt: &holm_testkit::Runtime, b: &mut Bundle, prefix: &str) -> std::process::Output {
    run_script_output(rt, b, prefix, "true")
}

#[test]
fn the_document_has_the_specs_shape() {
    let rt = runtime();
    let f = features(&rt);
    assert_eq!(f["ociVersionMin"], "1.0.0", "{f}");
    assert_eq!(f["ociVersionMax"], "1.3.0", "{f}");
    let l = &f["linux"];
    for key in [
        "namespaces",
        "capabilities",
        "cgroup",
        "seccomp",
        "apparmor",
        "selinux",
        "intelRdt",
        "memoryPolicy",
        "mountExtensions",
        "netDevices",
    ] {
        assert!(!l[key].is_null(), "linux.{key} missing: {f}");
    }
    assert_eq!(l["seccomp"]["enabled"], true);
    assert_eq!(l["mountExtensions"]["idmap"]["enabled"], true);
    assert_eq!(l["netDevices"]["enabled"], true);
    assert_eq!(l["intelRdt"]["enabled"], false);
    // What the host has decides these: this one has no AppArmor or SELinux (DESIGN.md), and they say so.
    let apparmor = fs::read_to_string("/sys/module/apparmor/parameters/enabled")
        .is_ok_and(|s| s.trim() == "Y");
    assert_eq!(l["apparmor"]["enabled"], apparmor);
    assert_eq!(
        l["selinux"]["enabled"],
        std::path::Path::new("/sys/fs/selinux/enforce").exists()
    );
    let supported = strings(&l["seccomp"]["supportedFlags"]);
    let known = strings(&l["seccomp"]["knownFlags"]);
    assert!(
        supported.iter().all(|s| known.contains(s)),
        "{supported:?} ⊄ {known:?}"
    );
    assert!(!f["annotations"]["io.github.seccomp.libseccomp.version"]
        .as_str()
        .unwrap()
        .is_empty());
}

#[test]
fn every_listed_mount_option_is_accepted() {
    let rt = runtime();
    let f = features(&rt);
    let words = strings(&f["mountOptions"]);
    for w in [
        "rro",
        "rnosymfollow",
        "ratime",
        "idmap",
        "ridmap",
        "nosymfollow",
        "rbind",
        "rprivate",
    ] {
        assert!(words.iter().any(|x| x == w), "{w} not listed: {words:?}");
    }
    let src = tempfile::Builder::new()
        .prefix("holm-feat-src-")
        .tempdir_in("/tmp")
        .unwrap();
    let mut b = Bundle::busybox();
    let mut mounts = Vec::new();
    for (i, w) in words.iter().enumerate() {
        let dest = format!("/mnt/opt{i}");
        let m = match w.as_str() {
            "bind" | "rbind" => {
                json!({ "destination": dest, "type": "bind", "source": src.path(), "options": [w] })
            }
            "idmap" | "ridmap" => {
                json!({ "destination": dest, "type": "bind", "source": src.path(),
                "options": ["rbind", w],
                "uidMappings": [{ "containerID": 0, "hostID": 1000, "size": 1 }],
                "gidMappings": [{ "containerID": 0, "hostID": 1000, "size": 1 }] })
            }
            _ => {
                json!({ "destination": dest, "type": "tmpfs", "source": "tmpfs", "options": [w, "size=64k"] })
            }
        };
        mounts.push(m);
    }
    b.config_mut()["mounts"]
        .as_array_mut()
        .unwrap()
        .extend(mounts);
    let out = run_script(&rt, &mut b, "feat-mntopt", "cat /proc/self/mountinfo");
    for (i, w) in words.iter().enumerate() {
        let mp = format!("/mnt/opt{i}");
        assert!(
            mount_line(&out, &mp).is_some(),
            "{w}: nothing mounted at {mp}\n{out}"
        );
    }
}

#[test]
fn every_listed_namespace_is_created_and_every_capability_granted() {
    let rt = runtime();
    let f = features(&rt);
    let nss = strings(&f["linux"]["namespaces"]);
    let caps = strings(&f["linux"]["capabilities"]);
    let mut b = Bundle::busybox();
    namespaces(&mut b).clear();
    for n in &nss {
        set_ns(&mut b, n, None);
    }
    if nss.iter().any(|n| n == "user") {
        let map = json!([{ "containerID": 0, "hostID": 150000, "size": 65536 }]);
        b.config_mut()["linux"]["uidMappings"] = map.clone();
        b.config_mut()["linux"]["gidMappings"] = map;
        b.chown_rootfs(150000, 150000);
    }
    for set in ["bounding", "effective", "permitted"] {
        b.config_mut()["process"]["capabilities"][set] = json!(caps);
    }
    let files: Vec<&str> = nss
        .iter()
        .map(|n| match n.as_str() {
            "mount" => "mnt",
            "network" => "net",
            other => other,
        })
        .collect();
    let script = format!(
        "for n in {}; do echo \"$n=$(readlink /proc/self/ns/$n)\"; done; grep CapBnd /proc/self/status | tr -d '\\t' | tr : =",
        files.join(" ")
    );
    let out = run_script(&rt, &mut b, "feat-ns", &script);
    for n in &files {
        assert_ne!(
            value_of(&out, n),
            host_ns(n),
            "{n} namespace is the host's\n{out}"
        );
    }
    let want = format!("{:016x}", (1u128 << caps.len()) - 1);
    assert_eq!(value_of(&out, "CapBnd"), want, "{caps:?}\n{out}");
}

#[test]
fn every_listed_seccomp_action_operator_arch_and_flag_loads() {
    let rt = runtime();
    let f = features(&rt);
    let sc = &f["linux"]["seccomp"];
    // `acct` is never called by `true`: a rule on it loads without changing what the process does.
    for action in strings(&sc["actions"]) {
        let mut b = Bundle::busybox();
        let dir = tempfile::tempdir().unwrap();
        let default = match action.as_str() {
            "SCMP_ACT_ALLOW" => "SCMP_ACT_LOG",
            _ => "SCMP_ACT_ALLOW",
        };
        let mut seccomp = json!({ "defaultAction": default,
            "syscalls": [{ "names": ["acct"], "action": action }] });
        let agent = if action == "SCMP_ACT_NOTIFY" {
            let path = dir.path().join("agent.sock");
            seccomp["listenerPath"] = json!(path);
            let l = UnixListener::bind(&path).unwrap();
            // Accepts the runtime's one connection and keeps it until the container is gone.
            Some(std::thread::spawn(move || {
                let (mut s, _) = l.accept().unwrap();
                let mut buf = Vec::new();
                let _ = std::io::Read::read_to_end(&mut s, &mut buf);
            }))
        } else {
            None
        };
        b.config_mut()["linux"]["seccomp"] = seccomp;
        let out = run_true(&rt, &mut b, "feat-scmp");
        assert!(out.status.success(), "{action}: {}", describe(&out));
        if let Some(t) = agent {
            t.join().unwrap();
        }
    }
    let ops: Vec<Value> = strings(&sc["operators"])
        .into_iter()
        .map(|op| {
            json!({ "names": ["acct"], "action": "SCMP_ACT_ERRNO",
                          "args": [{ "index": 0, "value": 1, "valueTwo": 1, "op": op }] })
        })
        .collect();
    let mut b = Bundle::busybox();
    b.config_mut()["linux"]["seccomp"] = json!({ "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": strings(&sc["archs"]),
        "flags": strings(&sc["supportedFlags"]),
        "syscalls": ops });
    let out = run_true(&rt, &mut b, "feat-scmp-ops");
    assert!(out.status.success(), "{}", describe(&out));
}

#[test]
fn every_listed_memory_policy_mode_and_flag_applies() {
    let rt = runtime();
    let f = features(&rt);
    let mp = &f["linux"]["memoryPolicy"];
    let mut cases: Vec<Value> = strings(&mp["modes"])
        .into_iter()
        .map(|m| match m.as_str() {
            "MPOL_DEFAULT" | "MPOL_LOCAL" => json!({ "mode": m }),
            _ => json!({ "mode": m, "nodes": "0" }),
        })
        .collect();
    cases.extend(
        strings(&mp["flags"])
            .into_iter()
            .map(|fl| json!({ "mode": "MPOL_BIND", "nodes": "0", "flags": [fl] })),
    );
    for c in cases {
        let mut b = Bundle::busybox();
        b.config_mut()["linux"]["memoryPolicy"] = c.clone();
        let out = run_true(&rt, &mut b, "feat-mpol");
        assert!(out.status.success(), "{c}: {}", describe(&out));
    }
}

#[test]
fn every_listed_hook_kind_runs() {
    let rt = runtime();
    let f = features(&rt);
    let dir = tempfile::Builder::new()
        .prefix("holm-feat-hooks-")
        .tempdir_in("/tmp")
        .unwrap();
    let mut hooks = serde_json::Map::new();
    let kinds = strings(&f["hooks"]);
    for k in &kinds {
        // createContainer and startContainer run in the container's mount namespace: write where both see it.
        let file = dir.path().join(k);
        hooks.insert(
            k.clone(),
            json!([{ "path": "/bin/sh", "args": ["sh", "-c", format!("echo ran > {}", file.display())] }]),
        );
    }
    let mut b = Bundle::busybox();
    b.config_mut()["hooks"] = Value::Object(hooks);
    b.config_mut()["mounts"].as_array_mut().unwrap().push(
        json!({ "destination": dir.path(), "type": "bind", "source": dir.path(), "options": ["bind"] }),
    );
    let out = run_true(&rt, &mut b, "feat-hooks");
    assert!(out.status.success(), "{}", describe(&out));
    for k in &kinds {
        assert!(
            dir.path().join(k).exists(),
            "hook {k} did not run: {}",
            describe(&out)
        );
    }
}

#[test]
fn what_is_claimed_absent_is_refused() {
    let rt = runtime();
    let f = features(&rt);
    let mut b = Bundle::busybox();
    b.config_mut()["linux"]["intelRdt"] = json!({ "closID": "x" });
    let out = run_true(&rt, &mut b, "feat-rdt");
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("linux.intelRdt"),
        "{}",
        describe(&out)
    );
    if f["linux"]["selinux"]["enabled"] == false {
        let mut b = Bundle::busybox();
        b.config_mut()["process"]["selinuxLabel"] = json!("system_u:system_r:container_t:s0");
        let out = run_true(&rt, &mut b, "feat-selinux");
        assert!(!out.status.success());
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("process.selinuxLabel"),
            "{}",
            describe(&out)
        );
    }
}
