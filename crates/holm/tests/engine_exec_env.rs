//! `holm exec` with an environment larger than the host's `ARG_MAX` (2 MiB with the default 8 MiB stack): the
//! engine hands the process to an OCI runtime as a `--process` file (podman's way), not as `--env` arguments, so
//! it reaches the container's own execve, whose limit the container's stack rlimit sets (`--ulimit stack`). Too big
//! for that execve: one line saying so. Process containers on the built-in runtime and on runc; VM containers
//! (holm-runtime's exec request to the guest takes up to 1 MiB), which need `$HOLM_VM_AGENT` and holm-runtime
//! built (as engine_vm).

#[path = "../../image/tests/common/mod.rs"]
mod common;
mod engine_common;

use engine_common::{Engine, IMAGE};

/// `n` variables `BIG0`… of `kib` KiB each in a `--env-file` named `name`; its path.
fn env_file(e: &Engine, name: &str, n: usize, kib: usize) -> String {
    let mut text = String::new();
    for i in 0..n {
        text.push_str(&format!("BIG{i}={}\n", "x".repeat(kib << 10)));
    }
    let p = e.tmp.path().join(name);
    std::fs::write(&p, text).unwrap();
    p.display().to_string()
}

/// 3 MiB of environment: 300 variables of 10 KiB.
fn big_env_file(e: &Engine) -> String {
    env_file(e, "big.env", 300, 10)
}

/// Runs the checks on containers started with `runtime` flags; `too_big` is the exit code of an exec whose
/// environment the container's execve refuses (docker's 126; runc's own 1, its init reports the failed execve).
fn big_env_exec(runtime: &[&str], too_big: i32) {
    let e = Engine::new();
    let env = big_env_file(&e);
    // 64 MiB stack: the kernel takes up to 6 MiB of arguments and environment (min(stack/4, 3/4 of 8 MiB)).
    let mut run = vec!["--name", "big", "--ulimit", "stack=67108864:67108864"];
    run.extend_from_slice(runtime);
    run.extend_from_slice(&[IMAGE, "sleep", "60"]);
    e.detached(&run);
    let out = e.ok(&[
        "exec",
        "--env-file",
        &env,
        "-e",
        "SMALL=1",
        "big",
        "sh",
        "-c",
        "echo $SMALL ${#BIG0} ${#BIG299}; env | grep -c ^BIG",
    ]);
    assert_eq!(out, "1 10240 10240\n300\n");
    // The container's own environment is kept (PATH from the image), -e wins over it.
    // -u and -w are in the process too.
    let out = e.ok(&[
        "exec",
        "--env-file",
        &env,
        "-u",
        "1000:1001",
        "-w",
        "/tmp",
        "big",
        "sh",
        "-c",
        "echo $PATH; pwd; grep -E '^(Uid|Gid):' /proc/self/status",
    ]);
    assert!(out.starts_with("/usr/local/sbin:"), "{out}");
    assert!(out.contains("\n/tmp\nUid:\t1000\t"), "{out}");
    assert!(out.contains("\nGid:\t1001\t"), "{out}");
    // -t: the process file asks for the terminal (runc relays it through its controlling terminal: `script`
    // gives holm one).
    let holm = e.cmd(&[
        "exec",
        "-t",
        "--env-file",
        &env,
        "big",
        "sh",
        "-c",
        "tty; echo ${#BIG7}",
    ]);
    let line: Vec<String> = std::iter::once(holm.get_program())
        .chain(holm.get_args())
        .map(|a| format!("'{}'", a.to_str().unwrap()))
        .collect();
    let o = std::process::Command::new("script")
        .args(["-qec", &line.join(" "), "/dev/null"])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{out:?}");
    assert!(
        out.contains("/dev/pts/") && out.contains("10240\r"),
        "{out:?}"
    );
    // Default stack (8 MiB: 2 MiB for arguments and environment): one line, exit 126 as docker's exec failures.
    let mut run = vec!["--name", "small-stack"];
    run.extend_from_slice(runtime);
    run.extend_from_slice(&[IMAGE, "sleep", "60"]);
    e.detached(&run);
    let (_, err) = e.code(
        too_big,
        &["exec", "--env-file", &env, "small-stack", "true"],
    );
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(
        err.to_lowercase().contains("argument list too long"),
        "{err}"
    );
    e.ok(&["rm", "-f", "big", "small-stack"]);
}

#[test]
fn exec_with_a_big_environment_builtin() {
    big_env_exec(&[], 126);
}

#[test]
fn exec_with_a_big_environment_runc() {
    big_env_exec(&["--runtime", "runc"], 1);
}

#[test]
fn exec_with_a_big_environment_in_a_vm() {
    let holm = std::path::Path::new(env!("CARGO_BIN_EXE_holm"));
    let rt = holm.parent().unwrap().join("holm-runtime");
    assert!(
        rt.is_file(),
        "{} missing: cargo build -p holm-runtime",
        rt.display()
    );
    assert!(
        std::env::var_os("HOLM_VM_AGENT").is_some(),
        "export HOLM_VM_AGENT=\"$(scripts/build-agent.sh)\" (the static guest agent)"
    );
    let e = Engine::new();
    let vm = |args: &[&str]| {
        let mut c = e.cmd(args);
        if std::env::var_os("HOLM_VM_ACCEL").is_none() {
            c.env("HOLM_VM_ACCEL", "tcg");
        }
        c.output().unwrap()
    };
    let o = vm(&[
        "run",
        "-d",
        "--name",
        "vm",
        "--isolation",
        "vm",
        IMAGE,
        "sleep",
        "300",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // 600 KiB (a single --env argument of 10 KiB is far from the 128 KiB a string may have, the whole far from
    // ARG_MAX: this worked before), with -u and -w.
    let env = env_file(&e, "600k.env", 60, 10);
    let out = e.ok(&[
        "exec",
        "--env-file",
        &env,
        "-e",
        "SMALL=1",
        "-u",
        "1000:1001",
        "-w",
        "/tmp",
        "vm",
        "sh",
        "-c",
        "echo $SMALL ${#BIG59}; env | grep -c ^BIG; pwd; grep -E '^Uid:' /proc/self/status",
    ]);
    assert!(out.starts_with("1 10240\n60\n/tmp\nUid:\t1000\t"), "{out}");
    // 3 MiB: more than the exec request to the guest may carry, one line naming process.env (it was the host's
    // "Argument list too long" starting holm-runtime).
    let (_, err) = e.code(
        126,
        &["exec", "--env-file", &big_env_file(&e), "vm", "true"],
    );
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("process.env"), "{err}");
    // One variable of 200 KiB: more than the guest kernel takes for one string (MAX_ARG_STRLEN, 128 KiB).
    let (_, err) = e.code(
        126,
        &[
            "exec",
            "--env-file",
            &env_file(&e, "one.env", 1, 200),
            "vm",
            "true",
        ],
    );
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(
        err.to_lowercase().contains("argument list too long"),
        "{err}"
    );
    e.ok(&["rm", "-f", "vm"]);
}
