//! The Docker Engine API (`holm system service`) driven by the real docker CLI: version negotiation, info,
//! images, `run --rm` with exit codes and separate stdout/stderr, detached runs with logs/stop/rm, `ps -a`,
//! `inspect` (compared with `holm inspect`), `update` (the cgroup and `inspect`), `exec` (exit codes, stdin), `cp`
//! both ways, `kill` + `wait`,
//! `save`/`rmi`/`load`, `pull` from a local registry, and the socket itself (mode, idle exit).

mod api_common;
#[path = "../../image/tests/common/mod.rs"]
mod common;
mod engine_common;

use api_common::Api;
use engine_common::{cgroup_file, wait_until, IMAGE};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::time::Duration;

#[test]
fn version_info_and_images() {
    let api = Api::new();
    let v = api.docker_ok(&[
        "version",
        "--format",
        "{{.Server.APIVersion}} {{.Server.Os}}",
    ]);
    assert_eq!(v.trim(), format!("{} linux", holm_api::API_VERSION));
    // the 28 client negotiated down through /_ping
    let client = api.docker_ok(&["version", "--format", "{{.Client.APIVersion}}"]);
    assert_eq!(client.trim(), holm_api::API_VERSION);
    let info = api.docker_ok(&[
        "info",
        "--format",
        "{{.Images}} {{.Containers}} {{.OSType}} {{.DockerRootDir}}",
    ]);
    assert_eq!(
        info.trim(),
        format!("1 0 linux {}", api.engine.root.display())
    );
    let images = api.docker_ok(&["images", "--format", "{{.Repository}}:{{.Tag}}"]);
    assert_eq!(images.trim(), IMAGE);
    let (status, headers, _) = api.raw("HEAD", "/_ping", &[], b"");
    assert_eq!(status, 200);
    assert!(headers
        .iter()
        .any(|(k, v)| k == "api-version" && v == holm_api::API_VERSION));
}

#[test]
fn run_rm_passes_output_and_exit_codes() {
    let api = Api::new();
    let o = api.docker(&["run", "--rm", IMAGE, "echo", "hello"]);
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(String::from_utf8_lossy(&o.stdout), "hello\n");
    let o = api.docker(&[
        "run",
        "--rm",
        IMAGE,
        "sh",
        "-c",
        "echo out; echo err >&2; exit 3",
    ]);
    assert_eq!(o.status.code(), Some(3));
    assert_eq!(String::from_utf8_lossy(&o.stdout), "out\n");
    assert!(String::from_utf8_lossy(&o.stderr).contains("err"));
    // a command that does not exist: docker's 127
    let o = api.docker(&["run", "--rm", IMAGE, "no-such-command"]);
    assert_eq!(
        o.status.code(),
        Some(127),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    // --rm removed them all (the engine's own view)
    wait_until(Duration::from_secs(20), "--rm containers gone", || {
        api.engine.ok(&["ps", "-aq"]).trim().is_empty()
            || api
                .engine
                .ok(&["ps", "-a", "--format", "{{.Status}}"])
                .lines()
                .all(|l| l.starts_with("Created"))
    });
    // -e and -w reach the process
    let o = api.docker_ok(&[
        "run",
        "--rm",
        "-e",
        "A=b c",
        "-w",
        "/tmp",
        IMAGE,
        "sh",
        "-c",
        "echo $A; pwd",
    ]);
    assert_eq!(o, "b c\n/tmp\n");
}

#[test]
fn detached_run_logs_stop_ps_inspect_rm() {
    let api = Api::new();
    let id = api.docker_ok(&[
        "run",
        "-d",
        "--name",
        "web",
        "--label",
        "k=v",
        IMAGE,
        "sh",
        "-c",
        "echo started; echo problem >&2; exec sleep 300",
    ]);
    let id = id.trim().to_string();
    assert_eq!(id.len(), 64);
    wait_until(Duration::from_secs(20), "logs", || {
        api.docker_ok(&["logs", "web"]) == "started\n"
    });
    let o = api.docker(&["logs", "web"]);
    assert!(String::from_utf8_lossy(&o.stderr).contains("problem"));
    let ps = api.docker_ok(&["ps", "--format", "{{.Names}} {{.Status}} {{.Labels}}"]);
    assert!(ps.starts_with("web Up "), "{ps}");
    assert!(ps.contains("k=v"), "{ps}");
    // the API's inspect is the engine's
    let via_api: serde_json::Value =
        serde_json::from_str(&api.docker_ok(&["inspect", "web"])).unwrap();
    let via_cli: serde_json::Value =
        serde_json::from_str(&api.engine.ok(&["inspect", "web"])).unwrap();
    for ptr in [
        "/0/Id",
        "/0/Name",
        "/0/State/Status",
        "/0/State/Pid",
        "/0/Config/Cmd",
        "/0/Config/Labels",
        "/0/Image",
        "/0/HostConfig/NetworkMode",
        "/0/Mounts",
    ] {
        assert_eq!(via_api.pointer(ptr), via_cli.pointer(ptr), "{ptr}");
        assert!(via_api.pointer(ptr).is_some(), "{ptr}");
    }
    assert_eq!(via_api[0]["State"]["Running"], true);
    // `ps` through the socket and holm's own `ps` agree on docker's fields
    let tmpl = "{{.ID}} {{.Names}} {{.Image}} {{.State}} {{.Command}} {{.Labels}}";
    assert_eq!(
        api.docker_ok(&["ps", "-a", "--no-trunc", "--format", tmpl]),
        api.engine.ok(&["ps", "-a", "--no-trunc", "--format", tmpl])
    );
    // update: the running container's cgroup and the record; a field holm does not update is refused by name
    assert_eq!(
        api.docker_ok(&[
            "update",
            "--memory",
            "96m",
            "--cpus",
            "0.5",
            "--restart",
            "on-failure:2",
            "web"
        ]),
        "web\n"
    );
    let mem = cgroup_file(&id, "memory.limit_in_bytes").or_else(|| cgroup_file(&id, "memory.max"));
    assert_eq!(mem.as_deref(), Some("100663296"));
    let quota = cgroup_file(&id, "cpu.cfs_quota_us").or_else(|| cgroup_file(&id, "cpu.max"));
    assert!(
        quota.as_deref().is_some_and(|q| q.starts_with("50000")),
        "{quota:?}"
    );
    let hc: serde_json::Value = serde_json::from_str(&api.engine.ok(&["inspect", "web"])).unwrap();
    assert_eq!(hc[0]["HostConfig"]["Memory"], 96 << 20);
    assert_eq!(hc[0]["HostConfig"]["NanoCpus"], 500_000_000);
    assert_eq!(hc[0]["HostConfig"]["RestartPolicy"]["Name"], "on-failure");
    let o = api.docker(&["update", "--cpu-quota", "50000", "web"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("CpuQuota"),
        "{o:?}"
    );
    api.docker_ok(&["update", "--restart", "no", "web"]);
    api.docker_ok(&["stop", "-t", "1", "web"]);
    let ps = api.docker_ok(&["ps", "-a", "--format", "{{.Names}} {{.Status}}"]);
    // sleep as pid 1 ignores SIGTERM: killed after the timeout
    assert!(ps.starts_with("web Exited (137)"), "{ps}");
    assert_eq!(api.docker_ok(&["ps", "-q"]).trim(), "");
    // stop of a stopped container succeeds (304), as docker's
    api.docker_ok(&["stop", "web"]);
    api.docker_ok(&["rm", "web"]);
    assert_eq!(api.engine.ok(&["ps", "-aq"]).trim(), "");
    let o = api.docker(&["inspect", "web"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("No such"));
}

#[test]
fn exec_cp_kill_wait() {
    let api = Api::new();
    api.docker_ok(&["run", "-d", "--name", "box", IMAGE, "sleep", "300"]);
    let o = api.docker(&["exec", "box", "sh", "-c", "echo in; echo e >&2; exit 5"]);
    assert_eq!(o.status.code(), Some(5));
    assert_eq!(String::from_utf8_lossy(&o.stdout), "in\n");
    assert_eq!(String::from_utf8_lossy(&o.stderr), "e\n");
    let o = api.docker(&[
        "exec",
        "-u",
        "1234",
        "-w",
        "/tmp",
        "-e",
        "X=y",
        "box",
        "sh",
        "-c",
        "id -u; pwd; echo $X",
    ]);
    assert_eq!(String::from_utf8_lossy(&o.stdout), "1234\n/tmp\ny\n");
    // stdin through the hijacked stream
    let mut c = api.docker_cmd(&["exec", "-i", "box", "sh", "-c", "cat; echo done"]);
    c.stdin(std::process::Stdio::piped());
    c.stdout(std::process::Stdio::piped());
    let mut child = c.spawn().unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"from stdin\n")
        .unwrap();
    let o = child.wait_with_output().unwrap();
    assert_eq!(String::from_utf8_lossy(&o.stdout), "from stdin\ndone\n");
    let o = api.docker(&["exec", "box", "no-such-command"]);
    assert_eq!(o.status.code(), Some(127));

    // cp host → container → host
    let src = api.engine.tmp.path().join("f.txt");
    std::fs::write(&src, "payload\n").unwrap();
    std::fs::set_permissions(&src, std::fs::Permissions::from_mode(0o640)).unwrap();
    api.docker_ok(&["cp", src.to_str().unwrap(), "box:/tmp/"]);
    assert_eq!(
        api.docker_ok(&["exec", "box", "cat", "/tmp/f.txt"]),
        "payload\n"
    );
    assert_eq!(
        api.docker_ok(&["exec", "box", "stat", "-c", "%a", "/tmp/f.txt"])
            .trim(),
        "640"
    );
    let out = api.engine.tmp.path().join("out");
    std::fs::create_dir(&out).unwrap();
    api.docker_ok(&[
        "exec",
        "box",
        "sh",
        "-c",
        "mkdir -p /d/sub && echo deep > /d/sub/g",
    ]);
    api.docker_ok(&["cp", "box:/d", out.to_str().unwrap()]);
    assert_eq!(
        std::fs::read_to_string(out.join("d/sub/g")).unwrap(),
        "deep\n"
    );
    // `C:DIR/.` copies the contents into a new directory (dockerd names the entries `./…`, which the CLI
    // rebases); before that fix they landed beside it, with `.` in names replaced
    let dotdst = out.join("contents");
    api.docker_ok(&["cp", "box:/d/.", dotdst.to_str().unwrap()]);
    assert_eq!(
        std::fs::read_to_string(dotdst.join("sub/g")).unwrap(),
        "deep\n"
    );
    assert!(!out.join("sub").exists(), "entries escaped the destination");
    // ... and through a symlink to it (followed inside the container)
    api.docker_ok(&["exec", "box", "busybox", "ln", "-s", "/d", "/dlink"]);
    let viadst = out.join("via-link");
    api.docker_ok(&["cp", "box:/dlink/.", viadst.to_str().unwrap()]);
    assert_eq!(
        std::fs::read_to_string(viadst.join("sub/g")).unwrap(),
        "deep\n"
    );
    let o = api.docker(&["cp", "box:/no/such", out.to_str().unwrap()]);
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("Could not find the file"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );

    // top and stats reach the container's processes and cgroup
    let top = api.docker_ok(&["top", "box"]);
    assert!(top.contains("sleep 300"), "{top}");
    let stats = api.docker_ok(&[
        "stats",
        "--no-stream",
        "--format",
        "{{.Name}} {{.PIDs}}",
        "box",
    ]);
    assert_eq!(stats.trim(), "box 1");

    // kill, then wait prints the code
    api.docker_ok(&["kill", "box"]);
    assert_eq!(api.docker_ok(&["wait", "box"]).trim(), "137");
    let o = api.docker(&["kill", "box"]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("is not running"));
    api.docker_ok(&["rm", "box"]);
}

#[test]
fn save_rmi_load_and_tag() {
    let api = Api::new();
    let archive = api.engine.tmp.path().join("saved.tar");
    api.docker_ok(&["tag", IMAGE, "other/name:v2"]);
    let images = api.docker_ok(&["images", "--format", "{{.Repository}}:{{.Tag}}"]);
    assert!(images.contains("other/name:v2"), "{images}");
    api.docker_ok(&["save", "-o", archive.to_str().unwrap(), "other/name:v2"]);
    let rmi = api.docker_ok(&["rmi", "other/name:v2"]);
    assert!(rmi.contains("Untagged: other/name:v2"), "{rmi}");
    api.docker_ok(&["rmi", IMAGE]);
    assert_eq!(api.engine.ok(&["images", "-q"]).trim(), "");
    let loaded = api.docker_ok(&["load", "-i", archive.to_str().unwrap()]);
    assert!(loaded.contains("Loaded image: other/name:v2"), "{loaded}");
    assert_eq!(
        api.docker_ok(&["run", "--rm", "other/name:v2", "echo", "ok"]),
        "ok\n"
    );
    // system prune (its build-cache step included) and system df
    api.docker_ok(&["run", "--name", "stopped", "other/name:v2", "true"]);
    let pruned = api.docker_ok(&["system", "prune", "-f"]);
    assert!(pruned.contains("Deleted Containers:"), "{pruned}");
    assert_eq!(api.engine.ok(&["ps", "-aq"]).trim(), "");
    let df = api.docker_ok(&["system", "df", "--format", "{{.Type}} {{.TotalCount}}"]);
    assert!(df.contains("Images 1"), "{df}");
    // an image a container uses is not reclaimable (the CLI skips images whose SharedSize is -1, so it said
    // 100% before /system/df computed it), as `holm system df` says
    api.docker_ok(&["create", "--name", "user", "other/name:v2", "true"]);
    let df = api.docker_ok(&[
        "system",
        "df",
        "--format",
        "{{.Type}} {{.Active}} {{.Reclaimable}}",
    ]);
    assert!(df.contains("Images 1 0B (0%)"), "{df}");
    api.docker_ok(&["rm", "user"]);
    let o = api.docker(&["rmi", "no-such-image"]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("No such image"));
}

#[test]
fn pull_from_a_local_registry() {
    let reg = holm_testkit::Registry::start();
    let api = Api::with_engine(engine_common::Engine::empty());
    let img = common::images::busybox_image(
        serde_json::json!({"Cmd": ["sh"]}),
        &[engine_common::extra_applets()],
    );
    let archive = api.engine.tmp.path().join("push.tar");
    std::fs::write(
        &archive,
        common::images::docker_archive(&[(&img, &["busybox:1"])]),
    )
    .unwrap();
    reg.push_archive(&archive, "busybox:1");
    let name = format!("{}/busybox:1", reg.addr());
    let out = api.docker_ok(&["pull", &name]);
    assert!(out.contains("Downloaded newer image"), "{out}");
    let images = api
        .engine
        .ok(&["images", "--format", "{{.Repository}}:{{.Tag}}"]);
    assert!(images.contains(&name), "{images}");
    // `run` of a missing image: the CLI pulls it through /images/create and creates again
    api.docker_ok(&["rmi", &name]);
    let o = api.docker(&["run", "--rm", &name, "echo", "pulled"]);
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        "pulled\n",
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let o = api.docker(&["pull", &format!("{}/no/such:1", reg.addr())]);
    assert!(!o.status.success());
}

#[test]
fn socket_is_root_only_and_idle_service_exits() {
    let api = Api::new();
    let m = std::fs::metadata(&api.socket).unwrap();
    assert_eq!(m.mode() & 0o777, 0o660);
    assert_eq!((m.uid(), m.gid()), (0, 0));
    // a second service on the same socket is refused, the first keeps serving
    let o = api.engine.run(&[
        "system",
        "service",
        "--time",
        "1",
        &format!("unix://{}", api.socket.display()),
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("another server"));
    assert_eq!(api.raw("GET", "/_ping", &[], b"").0, 200);
    // --time 1: exits on its own once nobody is connected, and removes its socket
    let sock = api.engine.tmp.path().join("idle.sock");
    let mut idle = api
        .engine
        .cmd(&[
            "system",
            "service",
            "--time",
            "1",
            &format!("unix://{}", sock.display()),
        ])
        .spawn()
        .unwrap();
    wait_until(Duration::from_secs(60), "the idle service to exit", || {
        idle.try_wait().unwrap().is_some()
    });
    assert!(idle.wait().unwrap().success());
    assert!(!sock.exists());
    // tcp:// is refused
    let o = api
        .engine
        .run(&["system", "service", "tcp://127.0.0.1:2375"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("unix://"));
}

#[test]
fn events_and_health_through_the_socket() {
    let api = Api::new();
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        .to_string();
    api.docker_ok(&[
        "run",
        "-d",
        "--name",
        "hc",
        "--health-cmd",
        "true",
        "--health-interval",
        "1s",
        IMAGE,
        "sleep",
        "300",
    ]);
    wait_until(Duration::from_secs(30), "healthy", || {
        api.docker_ok(&["inspect", "-f", "{{.State.Health.Status}}", "hc"])
            .trim()
            == "healthy"
    });
    let ps = api.docker_ok(&["ps", "--format", "{{.Status}}"]);
    assert!(ps.trim().ends_with("(healthy)"), "{ps}");
    api.docker_ok(&["rm", "-f", "hc"]);
    // until: a second from now (the stream follows until then)
    let until = (std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 1)
    .to_string();
    let ev = api.docker_ok(&[
        "events",
        "--since",
        &since,
        "--until",
        &until,
        "--filter",
        "container=hc",
        "--format",
        "{{.Action}}",
    ]);
    let actions: Vec<&str> = ev.lines().collect();
    for a in [
        "create",
        "start",
        "health_status: healthy",
        "die",
        "destroy",
    ] {
        assert!(actions.contains(&a), "{a} missing from {actions:?}");
    }
}

#[test]
fn run_interactive_with_and_without_a_tty() {
    let api = Api::new();
    // -i: the client's stdin reaches the container, its EOF closes it; the exit code comes back
    let mut c = api.docker_cmd(&[
        "run",
        "--rm",
        "-i",
        IMAGE,
        "sh",
        "-c",
        "cat; echo done; exit 6",
    ]);
    c.stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = c.spawn().unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"hello stdin\n")
        .unwrap();
    let o = child.wait_with_output().unwrap();
    assert_eq!(
        o.status.code(),
        Some(6),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&o.stdout), "hello stdin\ndone\n");
    // -it under a terminal (script(1)): the container's stdin is a pty with the client's size
    let cmdline = format!(
        "stty cols 101 rows 31; DOCKER_HOST=unix://{} DOCKER_CONFIG={} {} run --rm -it {IMAGE} sh",
        api.socket.display(),
        api.engine.tmp.path().join("docker-config").display(),
        api_common::docker_bin().display()
    );
    let mut c = std::process::Command::new("script");
    c.args(["-qec", &cmdline, "/dev/null"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = c.spawn().unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"tty; busybox stty size; exit 4\n")
        .unwrap();
    let o = child.wait_with_output().unwrap();
    let out = String::from_utf8_lossy(&o.stdout).replace('\r', "");
    assert_eq!(o.status.code(), Some(4), "{out}");
    assert!(out.contains("/dev/pts/0\n"), "{out}");
    assert!(out.contains("31 101\n"), "{out}");
}

#[test]
fn exec_interactive_with_a_tty() {
    let api = Api::new();
    api.docker_ok(&["run", "-d", "--name", "ex", IMAGE, "sleep", "300"]);
    let cmdline = format!(
        "stty cols 111 rows 33; DOCKER_HOST=unix://{} DOCKER_CONFIG={} {} exec -it ex sh",
        api.socket.display(),
        api.engine.tmp.path().join("docker-config").display(),
        api_common::docker_bin().display()
    );
    let mut c = std::process::Command::new("script");
    c.args(["-qec", &cmdline, "/dev/null"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = c.spawn().unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"tty; busybox stty size; exit 3\n")
        .unwrap();
    let o = child.wait_with_output().unwrap();
    let out = String::from_utf8_lossy(&o.stdout).replace('\r', "");
    assert_eq!(o.status.code(), Some(3), "{out}");
    assert!(out.contains("/dev/pts/"), "{out}");
    assert!(out.contains("33 111\n"), "{out}");
}

#[test]
fn containers_outlive_the_service() {
    let mut api = Api::new();
    api.docker_ok(&[
        "run",
        "-d",
        "--name",
        "long",
        IMAGE,
        "sh",
        "-c",
        "echo up; exec sleep 300",
    ]);
    let pid = api.docker_ok(&["inspect", "-f", "{{.State.Pid}}", "long"]);
    // killed outright (its stale socket is replaced by the next one)
    api.restart_service();
    assert_eq!(
        api.docker_ok(&["inspect", "-f", "{{.State.Pid}}", "long"]),
        pid
    );
    assert!(api
        .docker_ok(&["ps", "--format", "{{.Names}} {{.Status}}"])
        .starts_with("long Up"));
    wait_until(Duration::from_secs(10), "log", || {
        api.docker_ok(&["logs", "long"]) == "up\n"
    });
    // the CLI sees the same container, and the API sees what the CLI does
    api.engine.ok(&["stop", "-t", "1", "long"]);
    let ps = api.docker_ok(&["ps", "-a", "--format", "{{.Names}} {{.Status}}"]);
    assert!(ps.starts_with("long Exited (137)"), "{ps}");
}

/// The JSON pointers at which `a` and `b` differ (a member missing on one side counts), recursively.
fn json_diff(a: &serde_json::Value, b: &serde_json::Value, at: String, out: &mut Vec<String>) {
    use serde_json::Value;
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let keys: std::collections::BTreeSet<&String> = x.keys().chain(y.keys()).collect();
            for k in keys {
                match (x.get(k), y.get(k)) {
                    (Some(p), Some(q)) => json_diff(p, q, format!("{at}/{k}"), out),
                    _ => out.push(format!("{at}/{k}")),
                }
            }
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            for (i, (p, q)) in x.iter().zip(y).enumerate() {
                json_diff(p, q, format!("{at}/{i}"), out);
            }
        }
        _ if a == b => {}
        _ => out.push(at),
    }
}

/// The parity check: the whole `docker inspect` document through holm's socket equals `holm inspect`'s,
/// and every line of `docker ps -a --no-trunc --format json` equals `holm ps -a --no-trunc --format '{{json .}}'`
/// (docker's one object per line; holm's own `--format json` is its array, see the README) field by field, for a
/// running container with labels, env, a named volume, a read-only bind and a published port, an exited one
/// and a created one. The fields that legitimately differ are listed in `ONE_SIDED` with the reason; the
/// time-relative words (`RunningFor`, `Status`) are compared from samples taken within the same second.
#[test]
fn inspect_and_ps_json_equal_holms_own() {
    let api = Api::new();
    let bind = api.engine.tmp.path().join("bind");
    std::fs::create_dir_all(&bind).unwrap();
    let bind_arg = format!("{}:/bind:ro", bind.display());
    api.docker_ok(&[
        "run",
        "-d",
        "--name",
        "par-run",
        "--label",
        "a=1",
        "--label",
        "b=two",
        "-e",
        "X=1",
        "-v",
        "parvol:/data",
        "-v",
        &bind_arg,
        "-p",
        "127.0.0.1::80",
        IMAGE,
        "sleep",
        "300",
    ]);
    let o = api.docker(&["run", "--name", "par-exit", IMAGE, "sh", "-c", "exit 3"]);
    assert_eq!(o.status.code(), Some(3));
    api.engine
        .ok(&["create", "--name", "par-created", IMAGE, "echo", "hi there"]);
    for name in ["par-run", "par-exit", "par-created"] {
        let via_api: serde_json::Value =
            serde_json::from_str(&api.docker_ok(&["inspect", name])).unwrap();
        let via_cli: serde_json::Value =
            serde_json::from_str(&api.engine.ok(&["inspect", name])).unwrap();
        let mut diff = Vec::new();
        json_diff(&via_api, &via_cli, String::new(), &mut diff);
        assert!(
            diff.is_empty(),
            "inspect {name} differs at {diff:?}\nAPI: {via_api:#}\nCLI: {via_cli:#}"
        );
        assert_eq!(via_api[0]["Name"], format!("/{name}"));
    }
    // The fields that legitimately differ (present on one side only):
    // - `Label`: holm's map behind `{{.Label "k"}}` (in docker a method taking the key, never marshalled);
    // - `ImageID`: holm's template offers it (as podman's); docker's `ps` has no such field;
    // - `Platform`: the docker 28 CLI fills it from `ImageManifestDescriptor`, which only API 1.48+ sends; holm
    //   serves 1.47 (so docker prints `null`) and its own `ps` has no platform column;
    // - `Size`: docker's `--format json` never asks for sizes (even with `-s`) and prints `0B`; holm's `{{json .}}`
    //   has it only with `-s` (the sizes themselves are compared below, through a template).
    const ONE_SIDED: [&str; 4] = ["/Label", "/ImageID", "/Platform", "/Size"];
    let lines = |o: String| -> Vec<serde_json::Value> {
        o.lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };
    let mut last = Vec::new();
    for _ in 0..5 {
        let via_api = lines(api.docker_ok(&["ps", "-a", "--no-trunc", "--format", "json"]));
        let via_cli = lines(
            api.engine
                .ok(&["ps", "-a", "--no-trunc", "--format", "{{json .}}"]),
        );
        assert_eq!(via_api.len(), 3, "{via_api:?}");
        assert_eq!(via_api.len(), via_cli.len(), "{via_api:?}\n{via_cli:?}");
        last.clear();
        for (a, c) in via_api.iter().zip(&via_cli) {
            json_diff(a, c, format!("[{}]", a["Names"]), &mut last);
        }
        last.retain(|p| !ONE_SIDED.iter().any(|f| p.ends_with(f)));
        if last
            .iter()
            .all(|p| p.ends_with("/RunningFor") || p.ends_with("/Status"))
            && !last.is_empty()
        {
            continue; // a second passed between the two samples
        }
        assert!(
            last.is_empty(),
            "ps differs at {last:?}\nAPI: {via_api:#?}\nCLI: {via_cli:#?}"
        );
        break;
    }
    assert!(last.is_empty(), "ps differs at {last:?}");
    let sizes = ["ps", "-a", "-s", "--format", "{{.Names}} {{.Size}}"];
    let via_api = api.docker_ok(&sizes);
    assert!(via_api.contains("par-run 0B (virtual "), "{via_api}");
    assert_eq!(via_api, api.engine.ok(&sizes));
}

#[test]
fn service_still_starts_containers_after_its_binary_is_replaced() {
    // holm and holm-monitor copied where the test can replace them, as a package upgrade does (a new file renamed
    // over the old: the running service's /proc/self/exe then reads "PATH (deleted)").
    let engine = engine_common::Engine::new();
    let bin = engine.tmp.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    let built = std::path::Path::new(env!("CARGO_BIN_EXE_holm"));
    let holm = bin.join("holm");
    std::fs::copy(built, &holm).unwrap();
    std::fs::copy(
        built.with_file_name("holm-monitor"),
        bin.join("holm-monitor"),
    )
    .unwrap();
    let api = Api::with_executable(engine, &holm);
    assert_eq!(
        api.docker_ok(&["run", "--rm", IMAGE, "echo", "before"]),
        "before\n"
    );
    let new = bin.join("holm.new");
    std::fs::copy(built, &new).unwrap();
    std::fs::rename(&new, &holm).unwrap();
    assert_eq!(
        api.docker_ok(&["run", "--rm", IMAGE, "echo", "after"]),
        "after\n"
    );
    let id = api.docker_ok(&["run", "-d", IMAGE, "sleep", "30"]);
    assert_eq!(
        api.docker_ok(&["exec", id.trim(), "echo", "exec"]),
        "exec\n"
    );
    api.docker_ok(&["rm", "-f", id.trim()]);
}
