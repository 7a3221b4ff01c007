//! docker-compatibility details found by testing against docker: `wait` on a container `--rm` removes, `ps`
//! filters, a failed `start`, and flag forms docker accepts.

#[path = "../../image/tests/common/mod.rs"]
mod common;
mod engine_common;

use engine_common::{wait_until, Engine, IMAGE};
use std::time::Duration;

/// `wait` that was waiting when `--rm` removed the container prints its exit code (docker), from the exit-code
/// table kept for a few minutes; a `wait` started after the removal says No such container (exit 1). Several
/// containers, as the removal races with `wait` noticing the exit.
#[test]
fn wait_prints_the_exit_code_of_a_container_removed_by_rm() {
    let e = Engine::new();
    // The containers exit only when the test opens the gate, after every `wait` is under way (a fixed `sleep` in
    // the container raced with slow starts on a loaded machine: the first was gone before its `wait` began).
    let gate = e.tmp.path().join("gate");
    std::fs::create_dir(&gate).unwrap();
    let vol = format!("{}:/gate", gate.display());
    let names: Vec<String> = (0..4).map(|i| format!("w{i}")).collect();
    for (i, n) in names.iter().enumerate() {
        let script = format!("until [ -e /gate/go ]; do sleep 0.1; done; exit {}", 9 + i);
        e.detached(&["--rm", "--name", n, "-v", &vol, IMAGE, "sh", "-c", &script]);
    }
    let waits: Vec<_> = names.iter().map(|n| e.spawn(&["wait", n])).collect();
    // `wait` resolves the name to an id first; give the four a moment to get that far, then let the containers go.
    std::thread::sleep(Duration::from_secs(3));
    std::fs::write(gate.join("go"), "").unwrap();
    for (i, w) in waits.into_iter().enumerate() {
        let o = w.wait_with_output().unwrap();
        assert!(o.status.success(), "wait {i}: {o:?}");
        assert_eq!(String::from_utf8_lossy(&o.stdout), format!("{}\n", 9 + i));
    }
    wait_until(Duration::from_secs(10), "containers removed", || {
        e.ok(&["ps", "-aq"]).trim().is_empty()
    });
    let (_, err) = e.code(1, &["wait", "w0"]);
    assert!(err.contains("No such container: w0"), "{err}");
}

/// `ps --filter name=` is a regex, as docker's, matched with and without docker's leading `/`; several values of
/// one key are alternatives; a bad regex is a bad flag value (125); `id=` is a prefix.
#[test]
fn ps_name_filter_is_a_regex() {
    let e = Engine::new();
    let web = e.ok(&["create", "--name", "web", IMAGE, "true"]);
    e.ok(&["create", "--name", "web2", IMAGE, "true"]);
    e.ok(&["create", "--name", "myweb", IMAGE, "true"]);
    let names = |filters: &[&str]| {
        let mut a = vec!["ps", "-a", "--format", "{{.Names}}"];
        for f in filters {
            a.extend(["-f", f]);
        }
        let mut v: Vec<String> = e.ok(&a).lines().map(str::to_string).collect();
        v.sort();
        v.join(" ")
    };
    assert_eq!(names(&["name=^/web$"]), "web");
    assert_eq!(names(&["name=^web$"]), "web");
    assert_eq!(names(&["name=^web"]), "web web2");
    assert_eq!(names(&["name=web"]), "myweb web web2");
    assert_eq!(names(&["name=^web$", "name=^myweb$"]), "myweb web");
    assert_eq!(names(&["name=web", "status=exited"]), "");
    assert_eq!(names(&[&format!("id={}", &web.trim()[..10])]), "web");
    let (_, err) = e.code(125, &["ps", "-a", "-f", "name=web["]);
    assert!(err.contains("invalid regular expression"), "{err}");
}

/// `start` of a stopped container whose published port is taken now fails as docker's: exit 1 (not 125), and
/// the container keeps its last state (`exited`, 137), not `created` with a made-up code.
#[test]
fn failed_start_exits_1_and_keeps_the_exited_state() {
    let e = Engine::new();
    let port = std::net::TcpListener::bind("0.0.0.0:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let p = format!("{port}:80");
    e.detached(&["--name", "sp", "-p", &p, IMAGE, "sleep", "300"]);
    e.ok(&["stop", "-t", "0", "sp"]);
    assert_eq!(e.inspect("sp")["State"]["ExitCode"], 137);
    let _taken = std::net::TcpListener::bind(("0.0.0.0", port)).unwrap();
    let (_, err) = e.code(1, &["start", "sp"]);
    assert!(err.contains("port is already allocated"), "{err}");
    let st = &e.inspect("sp")["State"];
    assert_eq!(st["Status"], "exited", "{st}");
    assert_eq!(st["ExitCode"], 137, "{st}");
    assert!(e.ok(&["ps", "-a"]).contains("Exited (137)"));
}

/// Flag forms docker accepts: `--flag=false`/`=true` on its bool flags, `-v ../dir:/x` (a relative bind made
/// absolute), `-p 0:80` (a random host port), `logs --tail -1` (every line); and `-e =bad` refused by `run` and
/// `exec` with docker's words and 125.
#[test]
fn docker_flag_forms() {
    let e = Engine::new();
    let id = e.ok(&[
        "create",
        "--rm=false",
        "-i=true",
        "-t=false",
        "--privileged=false",
        "--read-only=true",
        "--init=false",
        "-P=false",
        "--name",
        "bools",
        IMAGE,
        "true",
    ]);
    assert_eq!(id.trim().len(), 64);
    let c = e.inspect("bools");
    let h = &c["HostConfig"];
    assert_eq!(h["AutoRemove"], false, "{h}");
    assert_eq!(h["ReadonlyRootfs"], true, "{h}");
    assert_eq!(h["Privileged"], false, "{h}");
    assert_eq!(c["Config"]["OpenStdin"], true);
    assert_eq!(c["Config"]["Tty"], false);
    e.ok(&["create", "-it", "--rm", "--name", "cluster", IMAGE, "true"]);
    let c = e.inspect("cluster");
    assert_eq!(c["Config"]["Tty"], true);
    assert_eq!(c["HostConfig"]["AutoRemove"], true);
    // `-d=false` runs in the foreground
    let (out, _) = e.code(0, &["run", "-d=false", "--rm", IMAGE, "echo", "fg"]);
    assert_eq!(out, "fg\n");

    // -v ../dir:/x: relative to holm's working directory
    let base = e.tmp.path().join("base");
    std::fs::create_dir_all(base.join("sub")).unwrap();
    std::fs::write(base.join("data.txt"), "rel\n").unwrap();
    let o = e
        .cmd(&[
            "run",
            "--rm",
            "-v",
            "../:/x:ro",
            IMAGE,
            "cat",
            "/x/data.txt",
        ])
        .current_dir(base.join("sub"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{o:?}");
    assert_eq!(String::from_utf8_lossy(&o.stdout), "rel\n");

    // -p 0:80: a host port picked
    e.detached(&["--name", "p0", "-p", "0:80", IMAGE, "sleep", "300"]);
    let port = e.ok(&["port", "p0", "80"]);
    let port: u16 = port.trim().rsplit(':').next().unwrap().parse().unwrap();
    assert_ne!(port, 0);

    // logs --tail -1: every line
    e.ok(&["run", "--name", "lg", IMAGE, "sh", "-c", "echo a; echo b"]);
    assert_eq!(e.ok(&["logs", "--tail", "-1", "lg"]), "a\nb\n");
    assert_eq!(e.ok(&["logs", "--tail", "1", "lg"]), "b\n");

    // -e =bad
    let (_, err) = e.code(125, &["run", "--rm", "-e", "=bad", IMAGE, "true"]);
    assert!(err.contains("invalid environment variable: =bad"), "{err}");
    assert!(!err.contains("config.json"), "{err}");
    let (_, err) = e.code(125, &["exec", "-e", "=bad", "p0", "true"]);
    assert!(err.contains("invalid environment variable: =bad"), "{err}");
    // exec's bool flags too, and its usage line names the container once
    assert_eq!(
        e.ok(&["exec", "-i=false", "-t=false", "p0", "echo", "x"]),
        "x\n"
    );
    let help = e.ok(&["exec", "--help"]);
    assert!(
        help.contains("exec [OPTIONS] <CONTAINER> <COMMAND>..."),
        "{help}"
    );
}

/// An exited container without a restart policy whose monitor runs (a `start` under way, ~50 ms) is still
/// `Exited (N)`, not `Restarting (N)`: the test holds the monitor lock as a starting monitor does.
#[test]
fn starting_container_without_policy_is_not_restarting() {
    let e = Engine::new();
    e.code(3, &["run", "--name", "np", IMAGE, "sh", "-c", "exit 3"]);
    let id = e.inspect("np")["Id"].as_str().unwrap().to_string();
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(e.root.join("containers").join(&id).join("monitor.lock"))
        .unwrap();
    lock.lock().unwrap();
    let st = e.ok(&["ps", "-a", "-f", "name=^np$", "--format", "{{.Status}}"]);
    let state = e.status("np");
    drop(lock);
    assert!(st.starts_with("Exited (3)"), "{st}");
    assert_eq!(state, "exited");
}

/// `rmi` of a missing image or digest says docker's `No such image: X` (exit 1), as the README promises.
#[test]
fn rmi_of_a_missing_digest_says_no_such_image() {
    let e = Engine::new();
    let digest = format!("sha256:{}", "0123456789abcdef".repeat(4));
    let (_, err) = e.code(1, &["rmi", &digest]);
    assert!(err.contains(&format!("No such image: {digest}")), "{err}");
    let (_, err) = e.code(1, &["rmi", "nosuch:1"]);
    assert!(err.contains("Error: No such image: nosuch:1"), "{err}");
}

/// Issue 12's small things, each as docker does it: `-w relative/dir` is `/relative/dir`; `-v SRC:DST:ro,rw` is an
/// invalid mode; command-line errors are one line naming the flag (`--cpus -1` reaches --cpus's own check, as
/// pflag gives a flag the next argument whatever it starts with); `--name r` says a name needs two characters;
/// a named volume filled from the image keeps the files' times.
#[test]
fn small_docker_behaviours_of_issue_12() {
    let e = Engine::new();
    let one_line = |args: &[&str], words: &[&str]| {
        let (_, err) = e.code(125, args);
        assert_eq!(err.trim().lines().count(), 1, "{args:?}: one line: {err}");
        assert!(err.starts_with("Error: "), "{args:?}: {err}");
        for w in words {
            assert!(err.contains(w), "{args:?}: `{w}` missing from {err}");
        }
    };
    // docker: "the working directory 'relative/dir' is invalid, it needs to be an absolute path", 125.
    one_line(
        &["run", "--rm", "-w", "relative/dir", IMAGE, "pwd"],
        &["--workdir", "relative/dir", "absolute path"],
    );
    one_line(
        &["run", "--rm", "-v", "vol12:/d:ro,rw", IMAGE, "true"],
        &["\"--volume\" flag", "invalid mode: ro,rw"],
    );
    one_line(
        &["run", "--rm", "-v", "/tmp:/d:z,Z", IMAGE, "true"],
        &["\"--volume\" flag", "invalid mode: z,Z"],
    );
    one_line(
        &["run", "--rm", "--cpus", "-1", IMAGE, "true"],
        &["invalid argument \"-1\" for \"--cpus\" flag: range of CPUs"],
    );
    one_line(
        &["run", "--rm", "--bogus", IMAGE, "true"],
        &["unknown flag: --bogus", "holm run --help"],
    );
    one_line(
        &["run", "--rm", "--cpu-shares", "many", IMAGE, "true"],
        &["invalid argument \"many\" for \"--cpu-shares\" flag"],
    );
    one_line(&["stop", "-t"], &["flag needs an argument: --time"]);
    one_line(
        &["run", "--rm", "--name", "r", IMAGE, "true"],
        &["\"--name\" flag", "at least 2 characters"],
    );
    assert_eq!(
        e.ok(&["ps", "-aq"]).trim(),
        "",
        "a refused run left a container"
    );
    assert_eq!(
        e.ok(&["volume", "ls", "-q"]).trim(),
        "",
        "a refused run left a volume"
    );
    e.ok(&["run", "--rm", "--name", "r2", IMAGE, "true"]);

    // Times (file, symlink, the directory itself) in the image and in a volume filled from it.
    let stat = ["stat", "-c", "%Y %n", "/bin/busybox", "/bin/stat", "/bin"];
    let mut plain = vec!["run", "--rm", IMAGE];
    plain.extend(stat);
    let mut in_volume = vec!["run", "--rm", "-v", "times12:/bin", IMAGE];
    in_volume.extend(stat);
    let want = e.ok(&plain);
    assert_eq!(want.lines().count(), 3, "{want}");
    assert_eq!(e.ok(&in_volume), want);
    e.ok(&["volume", "rm", "times12"]);
}
