//! The scenarios, written once against [`Engine`] and run for each engine with runc and with holm-runtime.
//!
//! Each one asserts what is observable from outside: the engine CLI's output and exit code, what the container
//! printed, files it wrote through a bind mount, its cgroup files read from the host, an HTTP answer on
//! 127.0.0.1.

use super::host::{free_port, frozen, http_get, memory_limit, poll};
use super::{describe, ok, stdout, Report, Rt};
use holm_testkit::unique_id;
use std::fs;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::process::Output;

/// The scenarios in table order (issue 11's list).
pub const NAMES: &[&str] = &[
    "run --rm",
    "exit code",
    "-it",
    "-d + logs",
    "exec",
    "stop",
    "pause/unpause",
    "--memory",
    "-p (curl 127.0.0.1)",
    "-v",
    "--read-only",
    "--tmpfs",
    "--user",
];

/// Options of one `run`, in the engine-neutral form each [`Engine`] translates to its flags.
#[derive(Clone, Debug, Default)]
pub struct Opts {
    /// `--memory BYTES` (ctr: `--memory-limit`).
    pub memory: Option<u64>,
    /// `-p 127.0.0.1:PORT:80` (ctr has no port publishing: host network, see [`Engine::http_listen`]).
    pub publish: Option<u16>,
    /// `-v HOST:CONTAINER` (ctr: `--mount type=bind`).
    pub volume: Option<(PathBuf, String)>,
    /// `--read-only`.
    pub read_only: bool,
    /// `--tmpfs PATH` (ctr: `--mount type=tmpfs`).
    pub tmpfs: Option<String>,
}

/// One engine, as the scenarios drive it. Every method runs the engine's CLI; `name` is the container's name
/// (ctr: its id). Methods returning `Output` give the raw result for the scenario to judge.
pub trait Engine {
    /// Engine name for messages and the table.
    fn name(&self) -> &str;
    /// `run --rm` in the foreground with the given runtime; stdout/stderr captured.
    fn run_rm(&self, rt: Rt, name: &str, opts: &Opts, cmd: &[&str]) -> Output;
    /// `run --rm -it` in the foreground, under a pseudo-terminal (`script -qec`).
    fn run_tty(&self, rt: Rt, name: &str, cmd: &[&str]) -> Output;
    /// `run -d`; returns once the engine says the container started.
    fn run_detached(&self, rt: Rt, name: &str, opts: &Opts, cmd: &[&str]) -> Result<(), String>;
    /// What the container wrote to stdout so far (`logs`; ctr: the `--log-uri` file).
    fn logs(&self, name: &str) -> Result<String, String>;
    /// `exec` (as `user` when given, `UID[:GID]`).
    fn exec(&self, name: &str, user: Option<&str>, cmd: &[&str]) -> Output;
    /// `exec -it` (ctr: `task exec -t`) under a pseudo-terminal (`script -qec`): what the terminal showed, and the
    /// exit status.
    fn exec_tty(&self, name: &str, cmd: &[&str]) -> Output;
    /// The container's init pid on the host.
    fn pid(&self, name: &str) -> Result<i32, String>;
    /// Stops the container with SIGTERM (`stop`; ctr: `task kill` and wait) and returns its exit code.
    fn stop(&self, name: &str) -> Result<i32, String>;
    /// `pause`.
    fn pause(&self, name: &str) -> Result<(), String>;
    /// `unpause` (ctr: `task resume`).
    fn unpause(&self, name: &str) -> Result<(), String>;
    /// The engine's word for the container's state, lowercase (`running`, `paused`, `exited`, ...).
    fn status(&self, name: &str) -> Result<String, String>;
    /// Whether the engine still lists a container of this name.
    fn listed(&self, name: &str) -> Result<bool, String>;
    /// Force-removes the container, ignoring errors (cleanup).
    fn remove(&self, name: &str);
    /// The address a server in the container listens on for the `-p` scenario: `80` behind `-p PORT:80`, or
    /// `127.0.0.1:PORT` on the host network for ctr.
    fn http_listen(&self, port: u16) -> String;
    /// Runs `id -u; id -g` as user 1, group 1 (`run --user 1:1`; ctr 1.6's `run` has no `--user`: `exec
    /// --user 1` in a running container) and returns what it printed.
    fn user_ids(&self, rt: Rt, name: &str) -> Result<String, String>;
    /// A directory for the scenarios' files (bind-mount sources).
    fn scratch(&self) -> &Path;
}

type Scenario = fn(&dyn Engine, Rt, &str) -> Result<(), String>;

const BODIES: &[Scenario] = &[
    run_rm,
    exit_code,
    tty,
    detached_logs,
    exec,
    stop,
    pause_unpause,
    memory,
    publish,
    volume,
    read_only,
    tmpfs,
    user,
];

/// Runs every scenario with runc then holm-runtime; a scenario that panics counts as failed. Each container is
/// force-removed after its scenario whatever happened.
pub fn run_all(engine: &dyn Engine) -> Report {
    assert_eq!(NAMES.len(), BODIES.len());
    let mut report = Report {
        engine: engine.name().to_string(),
        results: Default::default(),
    };
    for (i, body) in BODIES.iter().enumerate() {
        for rt in Rt::ALL {
            let name = unique_id(&format!("eng-{}-{i}", rt.name()));
            let r =
                catch_unwind(AssertUnwindSafe(|| body(engine, rt, &name))).unwrap_or_else(|p| {
                    Err(p
                        .downcast_ref::<String>()
                        .cloned()
                        .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                        .unwrap_or_else(|| "panicked".into()))
                });
            engine.remove(&name);
            eprintln!(
                "{} | {} | {}: {}",
                engine.name(),
                NAMES[i],
                rt.name(),
                match &r {
                    Ok(()) => "pass".to_string(),
                    Err(e) => format!("FAIL: {e}"),
                }
            );
            report.results.insert((i, rt), r);
        }
    }
    report
}

fn expect(cond: bool, msg: impl FnOnce() -> String) -> Result<(), String> {
    if cond {
        Ok(())
    } else {
        Err(msg())
    }
}

/// A container that stays up for the scenario (busybox `sleep` as pid 1; removed with force).
const SLEEPER: &[&str] = &["sleep", "1000"];

fn run_rm(e: &dyn Engine, rt: Rt, name: &str) -> Result<(), String> {
    let word = format!("hello-{name}");
    let out = e.run_rm(rt, name, &Opts::default(), &["echo", &word]);
    let text = ok(&out, "run --rm")?;
    expect(text.contains(&word), || {
        format!("run --rm printed {text:?}, want {word:?}")
    })?;
    expect(!e.listed(name)?, || {
        "the container is still listed after run --rm".into()
    })
}

fn exit_code(e: &dyn Engine, rt: Rt, name: &str) -> Result<(), String> {
    let out = e.run_rm(rt, name, &Opts::default(), &["sh", "-c", "exit 7"]);
    expect(out.status.code() == Some(7), || {
        format!("want exit 7: {}", describe(&out))
    })
}

fn tty(e: &dyn Engine, rt: Rt, name: &str) -> Result<(), String> {
    let out = e.run_tty(
        rt,
        name,
        &[
            "sh",
            "-c",
            "test -t 0 && test -t 1 && echo stdio-is-a-tty; tty",
        ],
    );
    let text = ok(&out, "run -it under a pty")?;
    expect(
        text.contains("stdio-is-a-tty") && text.contains("/dev/pts/"),
        || format!("the container saw no terminal: {text:?}"),
    )
}

fn detached_logs(e: &dyn Engine, rt: Rt, name: &str) -> Result<(), String> {
    e.run_detached(
        rt,
        name,
        &Opts::default(),
        &[
            "sh",
            "-c",
            "echo logged-line-one; echo logged-line-two; exec sleep 1000",
        ],
    )?;
    let mut last = String::new();
    poll("both lines in the logs", || {
        last = e.logs(name).unwrap_or_default();
        (last.contains("logged-line-one") && last.contains("logged-line-two")).then_some(())
    })
    .map_err(|err| format!("{err}; logs: {last:?}"))?;
    let status = e.status(name)?;
    expect(status.contains("running") || status.contains("up"), || {
        format!("detached container is {status:?}, want running")
    })
}

fn exec(e: &dyn Engine, rt: Rt, name: &str) -> Result<(), String> {
    e.run_detached(rt, name, &Opts::default(), SLEEPER)?;
    let out = e.exec(
        name,
        None,
        &["sh", "-c", "echo exec-out; cat /proc/1/cmdline; exit 3"],
    );
    let text = stdout(&out);
    expect(out.status.code() == Some(3), || {
        format!("exec should pass exit 3 through: {}", describe(&out))
    })?;
    expect(text.contains("exec-out") && text.contains("sleep"), || {
        format!("exec did not run next to the container's sleep: {text:?}")
    })
}

fn stop(e: &dyn Engine, rt: Rt, name: &str) -> Result<(), String> {
    e.run_detached(
        rt,
        name,
        &Opts::default(),
        &[
            "sh",
            "-c",
            "trap 'exit 42' TERM; echo trap-set; while :; do sleep 0.1; done",
        ],
    )?;
    // The signal must arrive after the trap is set, or the shell (pid 1) would ignore it.
    poll("trap-set in the logs", || {
        e.logs(name).ok()?.contains("trap-set").then_some(())
    })?;
    let code = e.stop(name)?;
    expect(code == 42, || {
        format!("stopped container exited {code}, want 42 (its SIGTERM trap)")
    })
}

fn pause_unpause(e: &dyn Engine, rt: Rt, name: &str) -> Result<(), String> {
    e.run_detached(rt, name, &Opts::default(), SLEEPER)?;
    let pid = e.pid(name)?;
    expect(!frozen(pid)?, || "frozen before pause".into())?;
    e.pause(name)?;
    let status = e.status(name)?;
    expect(status.contains("paused"), || {
        format!("after pause the engine says {status:?}")
    })?;
    expect(frozen(pid)?, || {
        format!("after pause the cgroup of pid {pid} is not frozen on the host")
    })?;
    e.unpause(name)?;
    expect(!frozen(pid)?, || "still frozen after unpause".into())?;
    let out = e.exec(name, None, &["echo", "after-unpause"]);
    let text = ok(&out, "exec after unpause")?;
    expect(text.contains("after-unpause"), || {
        format!("exec after unpause printed {text:?}")
    })
}

fn memory(e: &dyn Engine, rt: Rt, name: &str) -> Result<(), String> {
    const LIMIT: u64 = 64 << 20;
    let opts = Opts {
        memory: Some(LIMIT),
        ..Opts::default()
    };
    e.run_detached(rt, name, &opts, SLEEPER)?;
    let got = memory_limit(e.pid(name)?)?;
    expect(got == LIMIT, || {
        format!("memory limit on the host is {got}, want {LIMIT}")
    })
}

fn publish(e: &dyn Engine, rt: Rt, name: &str) -> Result<(), String> {
    let port = free_port();
    let opts = Opts {
        publish: Some(port),
        ..Opts::default()
    };
    let body = format!("served-by-{name}");
    let script = format!(
        "mkdir -p /www && echo {body} > /www/index.html && exec httpd -f -p {} -h /www",
        e.http_listen(port)
    );
    e.run_detached(rt, name, &opts, &["sh", "-c", &script])?;
    let got = http_get(port, "/index.html")?;
    expect(got.contains(&body), || {
        format!("curl 127.0.0.1:{port} got {got:?}, want {body:?}")
    })
}

fn volume(e: &dyn Engine, rt: Rt, name: &str) -> Result<(), String> {
    let dir = e.scratch().join(name);
    fs::create_dir_all(&dir).map_err(|err| format!("mkdir {}: {err}", dir.display()))?;
    fs::write(dir.join("in"), "from-the-host\n").map_err(|err| err.to_string())?;
    let opts = Opts {
        volume: Some((dir.clone(), "/data".into())),
        ..Opts::default()
    };
    let out = e.run_rm(
        rt,
        name,
        &opts,
        &[
            "sh",
            "-c",
            "cat /data/in && echo from-the-container > /data/out",
        ],
    );
    let text = ok(&out, "run -v")?;
    expect(text.contains("from-the-host"), || {
        format!("the container read {text:?} from the volume")
    })?;
    let back = fs::read_to_string(dir.join("out")).unwrap_or_default();
    expect(back == "from-the-container\n", || {
        format!("the host read {back:?} from the volume")
    })
}

fn read_only(e: &dyn Engine, rt: Rt, name: &str) -> Result<(), String> {
    let opts = Opts {
        read_only: true,
        ..Opts::default()
    };
    let out = e.run_rm(
        rt,
        name,
        &opts,
        &["sh", "-c", "touch /probe 2>&1; echo touch-exit=$?"],
    );
    let text = ok(&out, "run --read-only")?;
    expect(
        text.contains("Read-only file system") && text.contains("touch-exit=1"),
        || format!("a write to / was not refused: {text:?}"),
    )
}

fn tmpfs(e: &dyn Engine, rt: Rt, name: &str) -> Result<(), String> {
    let opts = Opts {
        tmpfs: Some("/scratch".into()),
        ..Opts::default()
    };
    let out = e.run_rm(
        rt,
        name,
        &opts,
        &[
            "sh",
            "-c",
            "echo in-tmpfs > /scratch/f && cat /scratch/f && grep ' /scratch ' /proc/mounts",
        ],
    );
    let text = ok(&out, "run --tmpfs")?;
    expect(
        text.contains("in-tmpfs") && text.contains("/scratch tmpfs"),
        || format!("no writable tmpfs at /scratch: {text:?}"),
    )
}

fn user(e: &dyn Engine, rt: Rt, name: &str) -> Result<(), String> {
    let text = e.user_ids(rt, name)?;
    let ids: Vec<&str> = text.split_whitespace().collect();
    expect(ids == ["1", "1"], || {
        format!("id -u; id -g printed {text:?}, want 1 and 1")
    })
}
