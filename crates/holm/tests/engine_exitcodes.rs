//! One table for holm's exit-status rule (README "Exit codes"): every verb on a missing object exits 1 naming it
//! (`run`/`create`: 125), every bad command line or flag value exits 125, `--help` exits 0.

#[path = "../../image/tests/common/mod.rs"]
mod common;
mod engine_common;

use engine_common::{Engine, IMAGE};

/// (arguments, exit status, words stderr must contain, exact stdout or None).
type Case<'a> = (Vec<&'a str>, i32, Vec<&'a str>, Option<&'a str>);

#[test]
fn exit_codes_for_missing_objects_and_bad_flags() {
    let e = Engine::new();
    // a real, never started container for the bad-flag cases (so no case fails for the wrong reason)
    e.ok(&["create", "--name", "c1", IMAGE, "true"]);
    e.ok(&["create", "--name", "gone", IMAGE, "true"]);
    let out = e.tmp.path().join("out");
    let out = out.to_str().unwrap();
    let missing = "No such container: nosuch";
    let cases: Vec<Case> = vec![
        // a missing container: 1 with docker's message, for every verb but run/create
        (vec!["stop", "nosuch"], 1, vec![missing], Some("")),
        (vec!["kill", "nosuch"], 1, vec![missing], Some("")),
        (vec!["rm", "nosuch"], 1, vec![missing], Some("")),
        // -f: reported, but no failure (docker >= 20.10, as rm -f of a missing file)
        (vec!["rm", "-f", "nosuch"], 0, vec![missing], Some("")),
        (
            vec!["rm", "-f", "nosuch", "gone"],
            0,
            vec![missing],
            Some("gone\n"),
        ),
        (vec!["start", "nosuch"], 1, vec![missing], Some("")),
        (vec!["start", "-a", "nosuch"], 1, vec![missing], Some("")),
        (vec!["restart", "nosuch"], 1, vec![missing], Some("")),
        (vec!["pause", "nosuch"], 1, vec![missing], Some("")),
        (vec!["unpause", "nosuch"], 1, vec![missing], Some("")),
        (vec!["wait", "nosuch"], 1, vec![missing], Some("")),
        (vec!["logs", "nosuch"], 1, vec![missing], Some("")),
        (vec!["exec", "nosuch", "true"], 1, vec![missing], Some("")),
        (vec!["top", "nosuch"], 1, vec![missing], Some("")),
        (vec!["port", "nosuch"], 1, vec![missing], Some("")),
        (vec!["rename", "nosuch", "x"], 1, vec![missing], Some("")),
        (
            vec!["stats", "--no-stream", "nosuch"],
            1,
            vec![missing],
            None,
        ),
        (vec!["cp", "nosuch:/x", out], 1, vec![missing], Some("")),
        // docker inspect: `[]`, then the error; "object" as it also looks for images and volumes
        (
            vec!["inspect", "nosuch"],
            1,
            vec!["No such object: nosuch"],
            Some("[]\n"),
        ),
        (
            vec!["inspect", "--type", "container", "nosuch"],
            1,
            vec![missing],
            Some("[]\n"),
        ),
        (
            vec!["inspect", "--type", "image", "nosuch"],
            1,
            vec!["No such image: nosuch"],
            Some("[]\n"),
        ),
        (
            vec!["inspect", "--type", "volume", "nosuch"],
            1,
            vec!["No such volume: nosuch"],
            Some("[]\n"),
        ),
        (
            vec!["inspect", "-f", "{{.Id}}", "nosuch"],
            1,
            vec!["No such object: nosuch"],
            Some(""),
        ),
        // other missing objects
        (vec!["rmi", "nosuch:1"], 1, vec!["nosuch:1"], Some("")),
        (vec!["rmi", "-f", "nosuch:1"], 0, vec!["nosuch:1"], Some("")),
        (
            vec!["image", "inspect", "nosuch:1"],
            1,
            vec!["No such image: nosuch:1"],
            Some("[]\n"),
        ),
        (
            vec!["tag", "nosuch:1", "x:1"],
            1,
            vec!["nosuch:1"],
            Some(""),
        ),
        (
            vec!["save", "-o", out, "nosuch:1"],
            1,
            vec!["nosuch:1"],
            Some(""),
        ),
        (
            vec!["volume", "inspect", "nosuch"],
            1,
            vec!["No such volume: nosuch"],
            Some("[]\n"),
        ),
        (
            vec!["volume", "rm", "nosuch"],
            1,
            vec!["no such volume: nosuch"],
            Some(""),
        ),
        // run / create: the engine could not create the container: 125
        (
            vec!["run", "--rm", "nosuch:1", "true"],
            125,
            vec!["Unable to find image 'nosuch:1'"],
            Some(""),
        ),
        (
            vec!["create", "nosuch:1"],
            125,
            vec!["Unable to find image 'nosuch:1'"],
            Some(""),
        ),
        (
            vec!["create", "--name", "c1", IMAGE],
            125,
            vec!["\"/c1\" is already in use"],
            Some(""),
        ),
        // a bad flag value: 125 in every verb, naming the flag and the value
        (
            vec!["run", "--rm", "--memory", "12q", IMAGE, "true"],
            125,
            vec!["\"12q\"", "\"--memory\""],
            Some(""),
        ),
        (
            vec!["create", "--memory", "12q", IMAGE],
            125,
            vec!["\"12q\"", "\"--memory\""],
            Some(""),
        ),
        (
            vec!["stop", "-t", "abc", "c1"],
            125,
            vec!["invalid argument \"abc\" for \"--time\" flag"],
            Some(""),
        ),
        (
            vec!["kill", "-s", "NOSUCH", "c1"],
            125,
            vec!["\"NOSUCH\"", "\"--signal\""],
            Some(""),
        ),
        (
            vec!["stop", "-s", "NOSUCH", "c1"],
            125,
            vec!["\"NOSUCH\"", "\"--signal\""],
            Some(""),
        ),
        (
            vec!["logs", "--tail", "x", "c1"],
            125,
            vec!["\"x\"", "\"--tail\""],
            Some(""),
        ),
        (
            vec!["logs", "--since", "yesterday", "c1"],
            125,
            vec!["\"yesterday\"", "\"--since\""],
            Some(""),
        ),
        (
            vec!["ps", "--filter", "bogus=1"],
            125,
            vec!["\"bogus=1\"", "\"--filter\""],
            Some(""),
        ),
        (
            vec!["ps", "--format", "{{.ID"],
            125,
            vec!["\"--format\""],
            Some(""),
        ),
        (
            vec!["images", "--format", "{{nosuchfunc .ID}}"],
            125,
            vec!["\"--format\"", "nosuchfunc"],
            Some(""),
        ),
        (
            vec!["volume", "ls", "--format", "{{if}}"],
            125,
            vec!["\"--format\""],
            Some(""),
        ),
        (
            vec!["inspect", "--format", "{{end}}", "c1"],
            125,
            vec!["\"--format\""],
            Some(""),
        ),
        (
            vec!["inspect", "--type", "service", "c1"],
            125,
            vec!["\"service\"", "\"--type\" flag"],
            Some(""),
        ),
        (
            vec!["load", "-i", out, "--platform", "linux"],
            125,
            vec!["\"--platform\""],
            Some(""),
        ),
        // clap's parse errors: 125 (docker's and podman's), not clap's 2
        (vec!["ps", "--nosuch"], 125, vec!["--nosuch"], Some("")),
        (
            vec!["rm"],
            125,
            vec!["requires at least 1 argument"],
            Some(""),
        ),
        (vec!["nosuchverb"], 125, vec!["nosuchverb"], Some("")),
        (vec![], 125, vec!["Usage"], Some("")),
        (vec!["--help"], 0, vec![], None),
        (vec!["ps", "--help"], 0, vec![], None),
    ];
    let mut failures = Vec::new();
    for (args, code, words, stdout) in &cases {
        let o = e.run(args);
        let (out, err) = (
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr),
        );
        let mut why = Vec::new();
        if o.status.code() != Some(*code) {
            why.push(format!("status {:?}, want {code}", o.status.code()));
        }
        for w in words {
            if !err.contains(w) {
                why.push(format!("stderr lacks {w:?}"));
            }
        }
        if let Some(s) = stdout {
            if out != *s {
                why.push(format!("stdout {out:?}, want {s:?}"));
            }
        }
        if err.lines().filter(|l| l.starts_with("Error")).count() > 1 {
            why.push("more than one error line".into());
        }
        if !why.is_empty() {
            failures.push(format!(
                "holm {args:?}: {}\n  stderr: {err}",
                why.join("; ")
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // nothing was created by the failed run/create
    assert_eq!(e.ok(&["ps", "-aq"]).lines().count(), 1);
}

/// A start that fails for another reason than the container's command is not the command's 127/126, even when the
/// reason says "not found" or "No such file": `start` exits 1 for it (docker's `start`; `run` would exit 125).
#[test]
fn start_failures_other_than_the_command_are_not_127() {
    let e = Engine::new();
    let net = format!("sfnet{}", std::process::id());
    e.ok(&["network", "create", &net]);
    e.ok(&[
        "create",
        "--name",
        "on-net",
        "--network",
        &net,
        IMAGE,
        "true",
    ]);
    e.ok(&["network", "rm", &net]);
    let (_, err) = e.code(1, &["start", "-a", "on-net"]);
    assert!(err.contains("not found"), "{err}");

    let src = e.tmp.path().join("bind-src");
    std::fs::create_dir(&src).unwrap();
    let m = format!("type=bind,source={},target=/data", src.display());
    e.ok(&["create", "--name", "on-bind", "--mount", &m, IMAGE, "true"]);
    std::fs::remove_dir(&src).unwrap();
    let (_, err) = e.code(1, &["start", "-a", "on-bind"]);
    assert!(err.contains("No such file"), "{err}");

    // the command itself: 127 (missing), 126 (not executable)
    let (_, err) = e.code(127, &["run", "--rm", IMAGE, "no-such-command"]);
    assert!(err.contains("no-such-command"), "{err}");
    e.code(126, &["run", "--rm", IMAGE, "/etc/passwd"]);
}

/// What a VM container's runtime would only refuse at start is refused at create, in one line naming the flag
/// (no VM boots: these fail before anything is made).
#[test]
fn vm_values_are_checked_at_create() {
    let e = Engine::new();
    for (args, words) in [
        (
            vec!["--annotation", "org.holm.vm.tcg-tb-size=0"],
            "\"org.holm.vm.tcg-tb-size=0\" for \"--annotation\" flag: annotations.org.holm.vm.tcg-tb-size: expected a whole number of MiB from 8 to 1024",
        ),
        (
            vec!["--annotation", "org.holm.vm.tcg-tb-size= 16"],
            "expected a whole number of MiB",
        ),
        (
            vec!["--cpuset-cpus", "1"],
            "invalid argument \"1\" for \"--cpuset-cpus\" flag: CPU 1 is not among the VM's vCPUs 0-0 (the VM has 1 vCPU",
        ),
        (
            vec!["--cpus", "1", "--cpuset-cpus", "0,1"],
            "CPU 1 is not among the VM's vCPUs 0-0",
        ),
    ] {
        for verb in ["create", "run"] {
            let mut a = vec![verb, "--isolation", "vm"];
            a.extend_from_slice(&args);
            a.extend([IMAGE, "true"]);
            let (_, err) = e.code(125, &a);
            assert!(err.contains(words), "{a:?}: {err}");
            assert_eq!(err.trim().lines().count(), 1, "{err}");
        }
    }
    assert_eq!(
        e.ok(&["ps", "-aq"]),
        "",
        "a refused create left a container"
    );
    // in range, and a cpuset within the vCPUs: accepted (created, not started)
    e.ok(&[
        "create",
        "--isolation",
        "vm",
        "--annotation",
        "org.holm.vm.tcg-tb-size=16",
        "--cpus",
        "1",
        "--cpuset-cpus",
        "0",
        IMAGE,
        "true",
    ]);
}
