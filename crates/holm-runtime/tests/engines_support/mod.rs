//! The engine suite (issue 11, "Tests"): holm-runtime driven by real engines — podman, dockerd (Debian's docker.io)
//! and containerd (`ctr`) — through the same scenarios, each also run with Debian's runc in the same run as the
//! reference.
//!
//! Each engine test starts what it needs itself (no systemd here): a daemon with its own root, state dir and
//! socket under a temporary directory, stopped after the scenarios whatever happened; podman gets private
//! `--root`/`--runroot`/`--tmpdir`, a CNI config dir with a bridge name and /24 of its own. Both runtimes are
//! reached through a wrapper script ([`Wrapper`]) that logs the argv and exit code of every call the engine
//! makes: the suite asserts that holm-runtime was really called (create/start/exec/pause/resume/kill/delete) and
//! that no call the engine made to it failed unless the same call (verb and exit code) failed with runc too.
//!
//! The suite fails, never skips: a missing engine or tool panics naming the Debian package
//! (`scripts/install-test-deps.sh` installs them). The table of results (scenario × runtime) is printed; it is
//! recorded in CONFORMANCE.md. After the daemon is stopped nothing may be left: no process mentioning the
//! temporary directory, no mount below it (the suite fails and cleans them up if there are).
#![allow(dead_code)]

pub mod cri;
pub mod ctr;
pub mod dockerish;
pub mod host;
pub mod scenarios;
pub mod vm;

use holm_testkit::run_command;
use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The runtime a scenario runs with: the reference or the one under test.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Rt {
    /// Debian's `/usr/sbin/runc`, the reference.
    Runc,
    /// This workspace's `holm-runtime`.
    Holm,
    /// This workspace's `holm-runtime` asked for a VM (`--isolation vm`, or invoked as `holm-runtime-vm`): only
    /// the VM suite (engines_vm.rs) uses it.
    HolmVm,
}

impl Rt {
    /// Both, reference first.
    pub const ALL: [Rt; 2] = [Rt::Runc, Rt::Holm];

    /// Short name, used for wrapper file names and the table's columns.
    pub fn name(self) -> &'static str {
        match self {
            Rt::Runc => "runc",
            Rt::Holm => "holm",
            Rt::HolmVm => "holm-vm",
        }
    }

    /// The real binary the wrapper calls.
    pub fn binary(self) -> PathBuf {
        match self {
            Rt::Runc => PathBuf::from("/usr/sbin/runc"),
            Rt::Holm | Rt::HolmVm => PathBuf::from(env!("CARGO_BIN_EXE_holm-runtime")),
        }
    }
}

/// Panics naming the package if `path` is not an executable file.
pub fn require_tool(path: &str, package: &str) {
    let ok = fs::metadata(path)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false);
    if !ok {
        panic!(
            "`{path}` is missing: install Debian's `{package}` package (scripts/install-test-deps.sh)"
        );
    }
}

/// A private working directory for one engine test: `/tmp/holm-eng-XXXXXX` (short, because dockerd and
/// containerd put Unix sockets below it and `sun_path` holds 108 bytes).
pub fn workdir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("holm-eng-")
        .tempdir_in("/tmp")
        .unwrap_or_else(|e| panic!("create a temporary directory in /tmp: {e}"))
}

/// The lower-case tail of a work directory's random name (`…-AbC12` -> `abc12`), for per-run names.
pub fn workdir_suffix(w: &Path) -> String {
    w.file_name()
        .unwrap()
        .to_string_lossy()
        .rsplit('-')
        .next()
        .unwrap_or("x")
        .to_lowercase()
}

/// The PATH given to daemons and engine CLIs: CI's environment may lack the sbin directories where Debian puts
/// runc, docker-proxy and the CNI plugins' helpers.
pub const PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// One runtime call an engine made, as the wrapper logged it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Call {
    /// The runtime's exit code.
    pub code: i32,
    /// The runc verb (`create`, `start`, `delete`, ...), or the first argument when none is recognised.
    pub verb: String,
    /// The whole argv (after the program name), shell-quoted as bash's `printf %q` writes it.
    pub argv: String,
}

/// runc's verbs, to find the verb among the global flags (`--root R --log F --log-format json delete ...`).
const VERBS: &[&str] = &[
    "checkpoint",
    "create",
    "delete",
    "events",
    "exec",
    "features",
    "kill",
    "list",
    "pause",
    "ps",
    "restore",
    "resume",
    "run",
    "spec",
    "start",
    "state",
    "update",
    "--version",
    "-v",
    "--help",
];

/// The VM settings of the test's environment that a runtime started by an engine must see too: podman's conmon
/// passes the runtime only `PATH`, so the wrappers export them (the static guest agent, a kernel, a forced
/// accelerator).
pub const VM_ENV: &[&str] = &["HOLM_VM_AGENT", "HOLM_VM_KERNEL", "HOLM_VM_ACCEL"];

/// A runtime wrapper: a bash script that runs the real binary with the same argv, stdio and environment (plus
/// [`VM_ENV`] as set for the test), then appends `<exit code>\t<argv>` to its log and exits with the same code.
pub struct Wrapper {
    /// The script; engines are given this path as the runtime.
    pub path: PathBuf,
    /// Its log, one line per call.
    pub log: PathBuf,
    /// Which runtime it wraps.
    pub rt: Rt,
}

impl Wrapper {
    /// Writes `DIR/<rt>-runtime` and its log path `DIR/<rt>-calls.log`.
    pub fn new(dir: &Path, rt: Rt) -> Wrapper {
        let path = dir.join(format!("{}-runtime", rt.name()));
        let log = dir.join(format!("{}-calls.log", rt.name()));
        let exports: String = VM_ENV
            .iter()
            .filter_map(|k| std::env::var(k).ok().map(|v| (k, v)))
            .map(|(k, v)| format!("export {k}={}\n", dockerish::shell_quote(&v)))
            .collect();
        let script = format!(
            "#!/bin/bash\n# Engine suite wrapper: runs {real} and logs argv and exit code.\n{exports}\"{real}\" \"$@\"\nrc=$?\n\
             printf '%s\\t%s\\n' \"$rc\" \"$(printf '%q ' \"$@\")\" >> \"{log}\"\nexit $rc\n",
            real = rt.binary().display(),
            log = log.display()
        );
        fs::write(&path, script).unwrap_or_else(|e| panic!("write `{}`: {e}", path.display()));
        fs::set_permissions(&path, fs::Permissions::from_mode(0o755))
            .unwrap_or_else(|e| panic!("chmod `{}`: {e}", path.display()));
        Wrapper { path, log, rt }
    }

    /// Every call logged so far (none when the log does not exist yet).
    pub fn calls(&self) -> Vec<Call> {
        let text = fs::read_to_string(&self.log).unwrap_or_default();
        text.lines().filter_map(parse_call).collect()
    }
}

fn parse_call(line: &str) -> Option<Call> {
    let (code, argv) = line.split_once('\t')?;
    let code = code.trim().parse().ok()?;
    let argv = argv.trim_end().to_string();
    let verb = argv
        .split_whitespace()
        .find(|w| VERBS.contains(w))
        .or_else(|| argv.split_whitespace().next())
        .unwrap_or("")
        .to_string();
    Some(Call { code, verb, argv })
}

/// Runs an engine CLI command (60 s timeout, null stdin, captured output); panics if it cannot start or hangs.
pub fn run(cmd: &mut Command) -> Output {
    let line = format!("{cmd:?}");
    run_command(cmd).unwrap_or_else(|e| panic!("`{line}`: {e}"))
}

/// `out`'s exit code, stdout and stderr in one line-oriented text for failure messages.
pub fn describe(out: &Output) -> String {
    format!(
        "exit {:?}; stdout: {:?}; stderr: {:?}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).trim_end(),
        String::from_utf8_lossy(&out.stderr).trim_end()
    )
}

/// Stdout as text.
pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Ok if `out` exited 0, else an error naming `what` and the output.
pub fn ok(out: &Output, what: &str) -> Result<String, String> {
    if out.status.success() {
        Ok(stdout(out))
    } else {
        Err(format!("{what}: {}", describe(out)))
    }
}

/// Result of every scenario for every runtime, plus what the wrappers logged.
pub struct Report {
    /// Engine name, for the table's title.
    pub engine: String,
    /// (scenario, runtime) → Ok or the failure.
    pub results: BTreeMap<(usize, Rt), Result<(), String>>,
}

impl Report {
    /// The table as Markdown: one row per scenario, a column per runtime (`pass` or `FAIL`).
    pub fn table(&self) -> String {
        let mut t = format!(
            "| {} scenario | runc | holm-runtime |\n|---|---|---|\n",
            self.engine
        );
        for (i, name) in scenarios::NAMES.iter().enumerate() {
            let cell = |rt| match self.results.get(&(i, rt)) {
                Some(Ok(())) => "pass",
                Some(Err(_)) => "FAIL",
                None => "not run",
            };
            t.push_str(&format!(
                "| {name} | {} | {} |\n",
                cell(Rt::Runc),
                cell(Rt::Holm)
            ));
        }
        t
    }

    /// Every failure, one per line.
    pub fn failures(&self) -> Vec<String> {
        self.results
            .iter()
            .filter_map(|((i, rt), r)| {
                r.as_ref()
                    .err()
                    .map(|e| format!("{} with {}: {e}", scenarios::NAMES[*i], rt.name()))
            })
            .collect()
    }
}

/// The failing calls of `holm` that no call of `reference` explains (same verb, same exit code).
pub fn unexplained_failures(holm: &[Call], reference: &[Call]) -> Vec<Call> {
    holm.iter()
        .filter(|c| c.code != 0)
        .filter(|c| {
            !reference
                .iter()
                .any(|r| r.code == c.code && r.verb == c.verb)
        })
        .cloned()
        .collect()
}

/// Counts of calls per verb, e.g. `create 13, start 13, delete 26 (2 failed)`.
pub fn summarize(calls: &[Call]) -> String {
    let mut by_verb: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    for c in calls {
        let e = by_verb.entry(&c.verb).or_default();
        e.0 += 1;
        if c.code != 0 {
            e.1 += 1;
        }
    }
    by_verb
        .iter()
        .map(|(v, (n, f))| {
            if *f > 0 {
                format!("{v} {n} ({f} failed)")
            } else {
                format!("{v} {n}")
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The verbs every engine must have sent to holm-runtime in a full run of the scenarios.
pub const EXPECTED_VERBS: &[&str] = &[
    "create", "start", "exec", "pause", "resume", "kill", "delete",
];

/// Checks the whole run: every scenario passes with both runtimes, holm-runtime got every verb it should, and no
/// call to it failed that did not fail with runc as well. Panics with the table, the failures and the call logs.
///
/// `holm_calls` and `runc_calls` are what the wrappers logged (read them before the work dir goes), `leaks` what
/// the teardown found left behind.
pub fn assert_report(report: &Report, holm_calls: &[Call], runc_calls: &[Call], leaks: &[String]) {
    let table = report.table();
    eprintln!("{table}");
    eprintln!("holm-runtime calls: {}", summarize(holm_calls));
    eprintln!("runc calls: {}", summarize(runc_calls));
    let mut problems = report.failures();
    for verb in EXPECTED_VERBS {
        if !holm_calls.iter().any(|c| c.verb == *verb) {
            problems.push(format!(
                "{} never called holm-runtime's `{verb}`",
                report.engine
            ));
        }
    }
    if !runc_calls.iter().any(|c| c.verb == "create") {
        problems.push(format!(
            "{} never called runc's `create`: the reference was not used",
            report.engine
        ));
    }
    for c in unexplained_failures(holm_calls, runc_calls) {
        problems.push(format!(
            "{} called holm-runtime `{}` and it exited {} (runc never failed that verb with that code)",
            report.engine, c.argv, c.code
        ));
    }
    problems.extend(leaks.iter().cloned());
    if !problems.is_empty() {
        panic!(
            "{} engine suite: {} problem(s):\n{}\n\n{table}",
            report.engine,
            problems.len(),
            problems.join("\n")
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_are_parsed_with_their_verb() {
        let c = parse_call("1\t--root /r --log /l/log.json --log-format json delete --force abc ")
            .unwrap();
        assert_eq!((c.code, c.verb.as_str()), (1, "delete"));
        let c = parse_call("0\tcreate --bundle /b --pid-file /p id ").unwrap();
        assert_eq!((c.code, c.verb.as_str()), (0, "create"));
        assert!(parse_call("garbage").is_none());
    }

    #[test]
    fn failures_are_explained_only_by_the_same_verb_and_code() {
        let h = vec![
            parse_call("1\tdelete --force a").unwrap(),
            parse_call("0\tstart a").unwrap(),
        ];
        let r1 = vec![parse_call("1\tdelete --force b").unwrap()];
        let r2 = vec![parse_call("2\tdelete --force b").unwrap()];
        assert!(unexplained_failures(&h, &r1).is_empty());
        assert_eq!(unexplained_failures(&h, &r2).len(), 1);
    }
}
