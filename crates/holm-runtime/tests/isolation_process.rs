//! Issue 2, `process`: args, env, cwd, user (uid, gid, additionalGids), umask, rlimits,
//! oomScoreAdj, noNewPrivileges and capabilities, as the process inside sees them.

mod isolation_support;

use std::collections::BTreeSet;
use std::fs;

use holm_testkit::{unique_id, Bundle};
use isolation_support::*;
use serde_json::json;

fn run_args(rt: &holm_testkit::Runtime, b: &mut Bundle, prefix: &str, args: &[&str]) -> String {
    b.set_args(args);
    let id = unique_id(prefix);
    let _guard = rt.guard(&id);
    let out = rt.run(&["run", "--bundle", b.path().to_str().unwrap(), &id]);
    assert_success(&out, &args.join(" "));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn args_are_passed_verbatim_and_looked_up_in_path() {
    let rt = runtime();
    let mut b = Bundle::busybox();
    let out = run_args(
        &rt,
        &mut b,
        "args",
        &["echo", "a  b", "$HOME", "*", "", "--", "-n"],
    );
    assert_eq!(out, "a  b $HOME *  -- -n\n");
    let out = run_args(
        &rt,
        &mut b,
        "args-abs",
        &["/bin/sh", "-c", "echo \"$0|$1|$#\"", "zero", "one two"],
    );
    assert_eq!(out, "zero|one two|1\n");
    // PATH from process.env decides where a bare name is found.
    fs::create_dir(b.rootfs().join("opt")).unwrap();
    fs::write(b.rootfs().join("opt/hello"), "#!/bin/sh\necho from-opt\n").unwrap();
    fs::set_permissions(
        b.rootfs().join("opt/hello"),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    b.config_mut()["process"]["env"] = json!(["PATH=/nowhere:/opt:/bin"]);
    let out = run_args(&rt, &mut b, "args-path", &["hello"]);
    assert_eq!(out, "from-opt\n");
}

fn env_set(out: &str) -> BTreeSet<String> {
    out.lines().map(String::from).collect()
}

#[test]
fn env_is_exactly_the_given_env_plus_home() {
    let rt = runtime();
    let mut b = Bundle::busybox();
    b.config_mut()["process"]["env"] = json!([
        "PATH=/bin:/usr/bin",
        "FOO=bar baz",
        "EMPTY=",
        "EQ=a=b",
        "TERM=dumb"
    ]);
    let out = run_args(&rt, &mut b, "env", &["env"]);
    let want: BTreeSet<String> = [
        "PATH=/bin:/usr/bin",
        "FOO=bar baz",
        "EMPTY=",
        "EQ=a=b",
        "TERM=dumb",
        "HOME=/root",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    assert_eq!(env_set(&out), want, "{out}");
    // Nothing of the runtime's own environment leaks in.
    assert!(!out.contains("CARGO"), "{out}");
    // HOME follows the user's passwd entry, and an explicit HOME wins.
    b.config_mut()["process"]["user"] = json!({ "uid": 1000, "gid": 1000 });
    let out = run_args(&rt, &mut b, "env-user", &["env"]);
    assert!(env_set(&out).contains("HOME=/home/holm"), "{out}");
    b.config_mut()["process"]["user"] = json!({ "uid": 4242, "gid": 4242 });
    let out = run_args(&rt, &mut b, "env-nouser", &["env"]);
    assert!(env_set(&out).contains("HOME=/"), "{out}");
    b.config_mut()["process"]["env"] = json!(["HOME=/custom", "PATH=/bin"]);
    let out = run_args(&rt, &mut b, "env-home", &["env"]);
    assert_eq!(
        env_set(&out),
        ["HOME=/custom", "PATH=/bin"]
            .iter()
            .map(|s| s.to_string())
            .collect(),
        "{out}"
    );
}

#[test]
fn cwd_is_used_and_created_inside_the_rootfs() {
    let rt = runtime();
    let mut b = Bundle::busybox();
    b.config_mut()["process"]["cwd"] = json!("/home/holm");
    assert_eq!(run_args(&rt, &mut b, "cwd", &["pwd"]), "/home/holm\n");
    // A missing cwd is created.
    b.config_mut()["process"]["cwd"] = json!("/work/deep/dir");
    assert_eq!(
        run_args(&rt, &mut b, "cwd-new", &["pwd"]),
        "/work/deep/dir\n"
    );
    assert!(b.rootfs().join("work/deep/dir").is_dir());
    // Also with a read-only root (runc creates it before the root goes read-only).
    b.config_mut()["root"]["readonly"] = json!(true);
    b.config_mut()["process"]["cwd"] = json!("/ro/new");
    assert_eq!(run_args(&rt, &mut b, "cwd-ro", &["pwd"]), "/ro/new\n");
    b.config_mut()["root"]["readonly"] = json!(false);
    // Through a symlink pointing outside: it ends up inside the rootfs.
    let tag = unique_id("cwd-escape");
    std::os::unix::fs::symlink(format!("../../../../tmp/{tag}"), b.rootfs().join("cwdlink"))
        .unwrap();
    b.config_mut()["process"]["cwd"] = json!("/cwdlink/sub");
    let out = run_args(&rt, &mut b, "cwd-link", &["pwd"]);
    assert_eq!(out, format!("/tmp/{tag}/sub\n"));
    assert!(
        !std::path::Path::new(&format!("/tmp/{tag}")).exists(),
        "cwd escaped the rootfs"
    );
    assert!(b.rootfs().join(format!("tmp/{tag}/sub")).is_dir());
    // A relative cwd is a config error naming the field.
    b.config_mut()["process"]["cwd"] = json!("relative");
    let out = run_script_output(&rt, &mut b, "cwd-rel", "pwd");
    assert!(!out.status.success(), "{}", describe(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("process.cwd"),
        "{}",
        describe(&out)
    );
}

fn ids(status: &str, field: &str) -> Vec<u32> {
    status_field(status, field)
        .split_whitespace()
        .map(|n| n.parse().unwrap())
        .collect()
}

#[test]
fn user_uid_gid_and_additional_gids() {
    let rt = runtime();
    let mut b = Bundle::busybox();
    b.config_mut()["process"]["user"] =
        json!({ "uid": 1000, "gid": 1000, "additionalGids": [100, 2000, 3000] });
    let out = run_script(
        &rt,
        &mut b,
        "user",
        "echo \"id=$(id)\"; cat /proc/self/status; touch /tmp/mine; stat -c 'owner=%u:%g' /tmp/mine",
    );
    assert_eq!(ids(&out, "Uid"), [1000; 4], "{out}");
    assert_eq!(ids(&out, "Gid"), [1000; 4], "{out}");
    let groups: BTreeSet<u32> = ids(&out, "Groups").into_iter().collect();
    assert_eq!(groups, [100, 2000, 3000].into_iter().collect(), "{out}");
    let id = value_of(&out, "id");
    assert!(
        id.starts_with("uid=1000(holm) gid=1000(holm) groups="),
        "{id}"
    );
    for g in ["100(users)", "2000", "3000"] {
        assert!(id.contains(g), "{g} missing from {id}");
    }
    assert_eq!(value_of(&out, "owner"), "1000:1000", "{out}");

    // uid 0 with no additionalGids: no supplementary groups at all.
    let mut b = Bundle::busybox();
    b.config_mut()["process"]["user"] = json!({ "uid": 0, "gid": 0 });
    let out = run_script(&rt, &mut b, "user-root", "cat /proc/self/status");
    assert_eq!(ids(&out, "Uid"), [0; 4], "{out}");
    assert!(ids(&out, "Groups").is_empty(), "{out}");
    // A uid and gid without passwd entries.
    b.config_mut()["process"]["user"] = json!({ "uid": 4242, "gid": 4343 });
    let out = run_script(&rt, &mut b, "user-anon", "echo \"id=$(id -u):$(id -g)\"");
    assert_eq!(value_of(&out, "id"), "4242:4343", "{out}");
}

#[test]
fn umask() {
    let rt = runtime();
    let mut b = Bundle::busybox();
    b.config_mut()["process"]["user"] = json!({ "uid": 0, "gid": 0, "umask": 0o027 });
    let out = run_script(
        &rt,
        &mut b,
        "umask",
        "echo \"umask=$(umask)\"; grep Umask /proc/self/status; touch /tmp/f; mkdir /tmp/d; \
         echo \"file=$(stat -c %a /tmp/f)\"; echo \"dir=$(stat -c %a /tmp/d)\"",
    );
    assert_eq!(value_of(&out, "umask"), "0027", "{out}");
    assert_eq!(status_field(&out, "Umask"), "0027", "{out}");
    assert_eq!(value_of(&out, "file"), "640", "{out}");
    assert_eq!(value_of(&out, "dir"), "750", "{out}");
    // Without umask: 0022.
    b.config_mut()["process"]["user"] = json!({ "uid": 0, "gid": 0 });
    let out = run_script(&rt, &mut b, "umask-default", "echo \"umask=$(umask)\"");
    assert_eq!(value_of(&out, "umask"), "0022", "{out}");
}

#[test]
fn rlimits_are_exact_every_time() {
    let rt = runtime();
    let mut b = Bundle::busybox();
    b.config_mut()["process"]["rlimits"] = json!([
        { "type": "RLIMIT_NOFILE", "soft": 1024, "hard": 4096 },
        { "type": "RLIMIT_CORE", "soft": 1024, "hard": 2048 },
        { "type": "RLIMIT_NPROC", "soft": 500, "hard": 600 },
        { "type": "RLIMIT_MSGQUEUE", "soft": 4096, "hard": 8192 }
    ]);
    for i in 0..5 {
        let out = run_script(
            &rt,
            &mut b,
            "rlimits",
            "echo \"soft=$(ulimit -n)\"; echo \"hard=$(ulimit -Hn)\"; cat /proc/self/limits",
        );
        assert_eq!(value_of(&out, "soft"), "1024", "run {i}\n{out}");
        assert_eq!(value_of(&out, "hard"), "4096", "run {i}\n{out}");
        let limit = |name: &str| -> Vec<String> {
            let l = out
                .lines()
                .find(|l| l.starts_with(name))
                .unwrap_or_else(|| panic!("{name}\n{out}"));
            l[name.len()..]
                .split_whitespace()
                .take(2)
                .map(String::from)
                .collect()
        };
        assert_eq!(limit("Max open files"), ["1024", "4096"], "run {i}\n{out}");
        assert_eq!(
            limit("Max core file size"),
            ["1024", "2048"],
            "run {i}\n{out}"
        );
        assert_eq!(limit("Max processes"), ["500", "600"], "run {i}\n{out}");
        assert_eq!(
            limit("Max msgqueue size"),
            ["4096", "8192"],
            "run {i}\n{out}"
        );
    }
    // soft above hard is a config error naming the field.
    b.config_mut()["process"]["rlimits"] =
        json!([{ "type": "RLIMIT_NOFILE", "soft": 10, "hard": 5 }]);
    let out = run_script_output(&rt, &mut b, "rlimits-bad", "true");
    assert!(!out.status.success(), "{}", describe(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("process.rlimits[0]"),
        "{}",
        describe(&out)
    );
}

#[test]
fn oom_score_adj() {
    let rt = runtime();
    let mut b = Bundle::busybox();
    // Only raising works here: the machine lacks CAP_SYS_RESOURCE.
    b.config_mut()["process"]["oomScoreAdj"] = json!(500);
    let out = run_script(
        &rt,
        &mut b,
        "oom",
        "echo \"adj=$(cat /proc/self/oom_score_adj)\"",
    );
    assert_eq!(value_of(&out, "adj"), "500", "{out}");
    b.config_mut()["process"]["oomScoreAdj"] = json!(1000);
    let out = run_script(
        &rt,
        &mut b,
        "oom-max",
        "echo \"adj=$(cat /proc/self/oom_score_adj)\"",
    );
    assert_eq!(value_of(&out, "adj"), "1000", "{out}");
}

#[test]
fn no_new_privileges() {
    let rt = runtime();
    for (nnp, want) in [(true, "1"), (false, "0")] {
        let mut b = Bundle::busybox();
        b.config_mut()["process"]["noNewPrivileges"] = json!(nnp);
        let out = run_script(&rt, &mut b, "nnp", "cat /proc/self/status");
        assert_eq!(
            status_field(&out, "NoNewPrivs"),
            want,
            "noNewPrivileges {nnp}\n{out}"
        );
    }
    let mut b = Bundle::busybox();
    b.config_mut()["process"]
        .as_object_mut()
        .unwrap()
        .remove("noNewPrivileges");
    let out = run_script(&rt, &mut b, "nnp-unset", "cat /proc/self/status");
    assert_eq!(status_field(&out, "NoNewPrivs"), "0", "{out}");
}

fn cap_mask(caps: &[u32]) -> String {
    format!("{:016x}", caps.iter().fold(0u64, |m, c| m | 1 << c))
}

fn cap_fields(out: &str) -> [String; 5] {
    ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"].map(|f| status_field(out, f))
}

const CHOWN: u32 = 0;
const KILL: u32 = 5;
const NET_BIND_SERVICE: u32 = 10;
const NET_ADMIN: u32 = 12;
const AUDIT_WRITE: u32 = 29;

#[test]
fn capabilities_of_root() {
    let rt = runtime();
    // The default config (runc's): bounding = effective = permitted.
    let mut b = Bundle::busybox();
    let out = run_script(&rt, &mut b, "caps-default", "cat /proc/self/status");
    let runc = cap_mask(&[AUDIT_WRITE, KILL, NET_BIND_SERVICE]);
    assert_eq!(
        cap_fields(&out),
        ["0000000000000000", &runc, &runc, &runc, "0000000000000000"],
        "{out}"
    );

    let mut b = Bundle::busybox();
    b.config_mut()["process"]["capabilities"] = json!({
        "bounding": ["CAP_CHOWN", "CAP_KILL", "CAP_NET_ADMIN"],
        "effective": ["CAP_CHOWN", "CAP_KILL", "CAP_NET_ADMIN"],
        "permitted": ["CAP_CHOWN", "CAP_KILL", "CAP_NET_ADMIN"]
    });
    let out = run_script(
        &rt,
        &mut b,
        "caps-root",
        "cat /proc/self/status; ip link set lo up && echo netadmin=yes",
    );
    let set = cap_mask(&[CHOWN, KILL, NET_ADMIN]);
    assert_eq!(
        cap_fields(&out),
        ["0000000000000000", &set, &set, &set, "0000000000000000"],
        "{out}"
    );
    assert_eq!(
        value_of(&out, "netadmin"),
        "yes",
        "CAP_NET_ADMIN is usable\n{out}"
    );

    // No capabilities at all.
    let mut b = Bundle::busybox();
    b.config_mut()["process"]
        .as_object_mut()
        .unwrap()
        .remove("capabilities");
    let out = run_script(
        &rt,
        &mut b,
        "caps-none",
        "cat /proc/self/status; chown 1000 /tmp 2>/dev/null && echo chown=yes; true",
    );
    assert_eq!(
        cap_fields(&out),
        ["0000000000000000"; 5].map(String::from),
        "{out}"
    );
    assert!(!out.contains("chown=yes"), "{out}");
}

#[test]
fn capabilities_of_a_user_with_ambient_and_inheritable() {
    let rt = runtime();
    let mut b = Bundle::busybox();
    b.config_mut()["process"]["user"] = json!({ "uid": 1000, "gid": 1000 });
    b.config_mut()["process"]["capabilities"] = json!({
        "bounding": ["CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
        "effective": ["CAP_CHOWN", "CAP_KILL"],
        "permitted": ["CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
        "inheritable": ["CAP_KILL", "CAP_NET_BIND_SERVICE"],
        "ambient": ["CAP_KILL", "CAP_NET_BIND_SERVICE"]
    });
    let out = run_script(&rt, &mut b, "caps-user", "cat /proc/self/status");
    let amb = cap_mask(&[KILL, NET_BIND_SERVICE]);
    // A non-root exec keeps exactly the ambient set in permitted and effective.
    assert_eq!(
        cap_fields(&out),
        [
            amb.clone(),
            amb.clone(),
            amb.clone(),
            cap_mask(&[CHOWN, KILL, NET_BIND_SERVICE]),
            amb
        ],
        "{out}"
    );
}

#[test]
fn unknown_capability_fails_create_naming_the_field() {
    let rt = runtime();
    for set in [
        "bounding",
        "effective",
        "permitted",
        "inheritable",
        "ambient",
    ] {
        let mut b = Bundle::busybox();
        b.config_mut()["process"]["capabilities"][set] = json!(["CAP_KILL", "CAP_TEST"]);
        b.set_args(&["true"]);
        let id = unique_id("caps-bad");
        let _guard = rt.guard(&id);
        let out = rt.fails(&["create", "--bundle", b.path().to_str().unwrap(), &id]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains(&format!("process.capabilities.{set}")),
            "{set}: {err}"
        );
        assert!(err.contains("CAP_TEST"), "{set}: {err}");
        assert!(
            rt.ok(&["list", "-q"]).trim().is_empty(),
            "nothing left behind"
        );
    }
}
