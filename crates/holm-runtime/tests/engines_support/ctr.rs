//! containerd 1.6 (Debian's), started by the test with its own config (root, state, gRPC and ttrpc sockets under
//! the work dir, the CRI plugin disabled), driven with `ctr` in a namespace of its own:
//! `ctr run --runtime io.containerd.runc.v2 --runc-binary WRAPPER --runc-root DIR`, so the runc v2 shim calls the
//! wrapper with a state root in the work dir. For VM isolation (engines_vm.rs) `--runc-binary` is a symlink named
//! `holm-runtime-vm` to holm-runtime: the argument-free way the runc shim can ask for a VM.
//!
//! ctr is not docker: `-d + logs` reads the `--log-uri file://` the shim writes; `stop` is `task kill -s SIGTERM`,
//! a wait for STOPPED and `task delete` (which reports the exit code); `unpause` is `task resume`; ctr has no port
//! publishing, so the `-p` scenario runs the server on the host network (`--net-host`) on 127.0.0.1:PORT; ctr
//! 1.6's `run` has no `--user`, so `--user` is `task exec --user 1` in a running container.

use super::dockerish::{busybox_image, shell_quote};
use super::host::{poll, remove_cgroup_parent, run_in_pty, sweep_leaks, Daemon};
use super::scenarios::{Engine, Opts};
use super::{describe, ok, require_tool, run, workdir, workdir_suffix, Rt, Wrapper, PATH};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};
use tempfile::TempDir;

const IMAGE: &str = "docker.io/library/busybox:engines";

/// containerd and ctr set up for the suite. Drop tears it down; [`Containerd::finish`] says what was left.
pub struct Containerd {
    sock: PathBuf,
    namespace: String,
    /// The runc wrapper.
    pub runc: Wrapper,
    /// The holm-runtime wrapper.
    pub holm: Wrapper,
    /// `holm-runtime-vm`: a symlink to holm-runtime (no wrapper: the name is what selects the VM).
    pub vm_binary: PathBuf,
    daemon: Option<Daemon>,
    scratch: PathBuf,
    logs: PathBuf,
    w: PathBuf,
    work: Option<TempDir>,
    exec_ids: AtomicU32,
}

impl Containerd {
    /// Starts containerd with a private config and imports the busybox image.
    pub fn start() -> Containerd {
        require_tool("/usr/bin/containerd", "containerd");
        require_tool("/usr/bin/ctr", "containerd");
        require_tool("/usr/bin/containerd-shim-runc-v2", "containerd");
        require_tool("/usr/sbin/runc", "runc");
        require_tool("/usr/bin/curl", "curl");
        require_tool("/usr/bin/script", "bsdutils");
        let work = workdir();
        let w = work.path().to_path_buf();
        let runc = Wrapper::new(&w, Rt::Runc);
        let holm = Wrapper::new(&w, Rt::Holm);
        fs::create_dir_all(w.join("vm")).unwrap();
        let vm_binary = w.join("vm/holm-runtime-vm");
        std::os::unix::fs::symlink(Rt::HolmVm.binary(), &vm_binary)
            .unwrap_or_else(|e| panic!("symlink {}: {e}", vm_binary.display()));
        let suffix = workdir_suffix(&w);
        let namespace = format!("holm-engines-{suffix}");
        let (daemon, sock) = start_containerd(
            "containerd",
            &w,
            "disabled_plugins = [\"io.containerd.grpc.v1.cri\"]\n",
            "",
            &namespace,
        );
        let c = Containerd {
            sock,
            namespace,
            runc,
            holm,
            vm_binary,
            daemon: Some(daemon),
            scratch: w.join("scratch"),
            logs: w.join("logs"),
            w: w.clone(),
            work: Some(work),
            exec_ids: AtomicU32::new(0),
        };
        fs::create_dir_all(&c.scratch).unwrap();
        fs::create_dir_all(&c.logs).unwrap();
        c
    }

    fn command(&self) -> Command {
        ctr_command(&self.sock, &self.namespace)
    }

    /// Runs `ctr --address SOCK --namespace NS ARGS`.
    pub fn ctr(&self, args: &[&str]) -> Output {
        run(self.command().args(args))
    }

    /// `run` up to the image: the runtime, the wrapper, its state root, then `extra` and the flags for `opts`.
    fn run_args(&self, rt: Rt, extra: &[&str], opts: &Opts) -> Vec<String> {
        let binary = match rt {
            Rt::Runc => self.runc.path.clone(),
            Rt::Holm => self.holm.path.clone(),
            Rt::HolmVm => self.vm_binary.clone(),
        };
        let mut a: Vec<String> = vec![
            "run".into(),
            "--runtime".into(),
            "io.containerd.runc.v2".into(),
            "--runc-binary".into(),
            binary.to_string_lossy().into_owned(),
            "--runc-root".into(),
            self.w
                .join(format!("{}-state", rt.name()))
                .to_string_lossy()
                .into_owned(),
        ];
        a.extend(extra.iter().map(|s| s.to_string()));
        if let Some(m) = opts.memory {
            a.extend(["--memory-limit".into(), m.to_string()]);
        }
        if opts.publish.is_some() {
            a.push("--net-host".into());
        }
        if let Some((src, dst)) = &opts.volume {
            a.extend([
                "--mount".into(),
                format!("type=bind,src={},dst={dst},options=rbind:rw", src.display()),
            ]);
        }
        if opts.read_only {
            a.push("--read-only".into());
        }
        if let Some(t) = &opts.tmpfs {
            a.extend([
                "--mount".into(),
                format!("type=tmpfs,src=tmpfs,dst={t},options=nosuid:nodev"),
            ]);
        }
        a
    }

    fn full(&self, mut args: Vec<String>, name: &str, cmd: &[&str]) -> Vec<String> {
        args.extend([IMAGE.to_string(), name.to_string()]);
        args.extend(cmd.iter().map(|s| s.to_string()));
        args
    }

    fn task_line(&self, name: &str) -> Result<Vec<String>, String> {
        let text = ok(&self.ctr(&["task", "ls"]), "task ls")?;
        text.lines()
            .map(|l| l.split_whitespace().map(String::from).collect::<Vec<_>>())
            .find(|f| f.first().map(String::as_str) == Some(name))
            .ok_or_else(|| format!("task ls does not list {name}:\n{text}"))
    }

    /// Deletes every task and container, stops containerd, then returns what was still running or mounted below
    /// the work dir and the namespace's cgroup dirs that could not be removed (cleaning them up as well).
    pub fn finish(&mut self) -> Vec<String> {
        let Some(work) = self.work.take() else {
            return Vec::new();
        };
        let mut leaks = Vec::new();
        if let Ok(out) = holm_testkit::run_command(self.command().args(["containers", "ls", "-q"]))
        {
            for id in String::from_utf8_lossy(&out.stdout).split_whitespace() {
                self.remove(id);
            }
        }
        let _ = holm_testkit::run_command(self.command().args(["images", "rm", IMAGE]));
        if let Some(mut d) = self.daemon.take() {
            if let Err(e) = d.stop() {
                leaks.push(e);
            }
        }
        leaks.extend(sweep_leaks(work.path()));
        leaks.extend(remove_cgroup_parent(&self.namespace));
        if sweep_leaks(work.path()).is_empty() {
            drop(work);
        } else {
            let _ = work.keep();
        }
        leaks
    }
}

impl Drop for Containerd {
    fn drop(&mut self) {
        let _ = self.finish();
    }
}

impl Engine for Containerd {
    fn name(&self) -> &str {
        "containerd (ctr)"
    }

    fn run_rm(&self, rt: Rt, name: &str, opts: &Opts, cmd: &[&str]) -> Output {
        let args = self.full(self.run_args(rt, &["--rm"], opts), name, cmd);
        run(self.command().args(&args))
    }

    fn run_tty(&self, rt: Rt, name: &str, cmd: &[&str]) -> Output {
        let args = self.full(
            self.run_args(rt, &["--rm", "-t"], &Opts::default()),
            name,
            cmd,
        );
        let base = self.command();
        let mut line: Vec<String> = vec!["/usr/bin/ctr".into()];
        line.extend(base.get_args().map(|a| a.to_string_lossy().into_owned()));
        line.extend(args);
        let line = line
            .iter()
            .map(|s| shell_quote(s))
            .collect::<Vec<_>>()
            .join(" ");
        run_in_pty(&line, &[])
    }

    fn run_detached(&self, rt: Rt, name: &str, opts: &Opts, cmd: &[&str]) -> Result<(), String> {
        let log = format!("file://{}", self.logs.join(format!("{name}.log")).display());
        let args = self.full(
            self.run_args(rt, &["-d", "--log-uri", &log], opts),
            name,
            cmd,
        );
        ok(&run(self.command().args(&args)), "ctr run -d").map(|_| ())
    }

    fn logs(&self, name: &str) -> Result<String, String> {
        let path = self.logs.join(format!("{name}.log"));
        fs::read_to_string(&path).map_err(|e| format!("read {}: {e}", path.display()))
    }

    fn exec(&self, name: &str, user: Option<&str>, cmd: &[&str]) -> Output {
        let id = format!("exec{}", self.exec_ids.fetch_add(1, Ordering::Relaxed));
        let mut args = vec!["task", "exec", "--exec-id", &id];
        if let Some(u) = user {
            args.extend(["--user", u]);
        }
        args.push(name);
        args.extend(cmd);
        self.ctr(&args)
    }

    fn exec_tty(&self, name: &str, cmd: &[&str]) -> Output {
        let id = format!("exec{}", self.exec_ids.fetch_add(1, Ordering::Relaxed));
        let base = self.command();
        let mut line: Vec<String> = vec!["/usr/bin/ctr".into()];
        line.extend(base.get_args().map(|a| a.to_string_lossy().into_owned()));
        line.extend(["task", "exec", "-t", "--exec-id", &id, name].map(String::from));
        line.extend(cmd.iter().map(|s| s.to_string()));
        let line = line
            .iter()
            .map(|s| shell_quote(s))
            .collect::<Vec<_>>()
            .join(" ");
        run_in_pty(&line, &[])
    }

    fn pid(&self, name: &str) -> Result<i32, String> {
        let f = self.task_line(name)?;
        f.get(1)
            .and_then(|p| p.parse().ok())
            .ok_or_else(|| format!("task ls line {f:?} has no pid"))
    }

    fn stop(&self, name: &str) -> Result<i32, String> {
        ok(
            &self.ctr(&["task", "kill", "-s", "SIGTERM", name]),
            "task kill -s SIGTERM",
        )?;
        poll("the task to stop", || {
            (self.status(name).ok()? == "stopped").then_some(())
        })?;
        let out = self.ctr(&["task", "delete", name]);
        ok(&out, "task delete")?;
        // ctr reports a non-zero exit status as a warning: `task NAME exit with non-zero exit code N`.
        let text = String::from_utf8_lossy(&out.stderr).into_owned();
        match text.split("exit code ").nth(1) {
            None => Ok(0),
            Some(rest) => rest
                .trim_start()
                .split(|c: char| !c.is_ascii_digit())
                .next()
                .and_then(|n| n.parse().ok())
                .ok_or_else(|| format!("task delete printed {text:?}")),
        }
    }

    fn pause(&self, name: &str) -> Result<(), String> {
        ok(&self.ctr(&["task", "pause", name]), "task pause").map(|_| ())
    }

    fn unpause(&self, name: &str) -> Result<(), String> {
        ok(&self.ctr(&["task", "resume", name]), "task resume").map(|_| ())
    }

    fn status(&self, name: &str) -> Result<String, String> {
        let f = self.task_line(name)?;
        f.get(2)
            .map(|s| s.to_lowercase())
            .ok_or_else(|| format!("task ls line {f:?} has no status"))
    }

    fn listed(&self, name: &str) -> Result<bool, String> {
        let text = ok(&self.ctr(&["containers", "ls", "-q"]), "containers ls")?;
        Ok(text.lines().any(|l| l.trim() == name))
    }

    fn remove(&self, name: &str) {
        for args in [
            vec!["task", "delete", "-f", name],
            vec!["containers", "rm", name],
        ] {
            let _ = holm_testkit::run_command(self.command().args(&args));
        }
    }

    fn http_listen(&self, port: u16) -> String {
        format!("127.0.0.1:{port}")
    }

    fn user_ids(&self, rt: Rt, name: &str) -> Result<String, String> {
        self.run_detached(rt, name, &Opts::default(), &["sleep", "1000"])?;
        let out = self.exec(name, Some("1"), &["sh", "-c", "id -u; id -g"]);
        ok(&out, "task exec --user 1")
    }

    fn scratch(&self) -> &Path {
        &self.scratch
    }
}

/// `ctr --address SOCK --namespace NS` (PATH [`PATH`]), for the caller's arguments.
pub fn ctr_command(sock: &Path, namespace: &str) -> Command {
    let mut c = Command::new("/usr/bin/ctr");
    c.env("PATH", PATH)
        .arg("--address")
        .arg(sock)
        .args(["--namespace", namespace]);
    c
}

/// Starts a private containerd in `w` (`config.toml`, `root/`, `state/`, `opt/`, `containerd.sock`,
/// `containerd.log`; `top` is added to the config's top-level keys, `plugins` after the common tables), waits until
/// it answers on its socket (panics with its log if it does not) and imports the busybox image `busybox:engines`
/// into `namespace`. Returns the daemon and its socket.
pub fn start_containerd(
    name: &str,
    w: &Path,
    top: &str,
    plugins: &str,
    namespace: &str,
) -> (Daemon, PathBuf) {
    let sock = w.join("containerd.sock");
    let config = format!(
        "version = 2\nroot = \"{root}\"\nstate = \"{state}\"\n{top}\
         [grpc]\n  address = \"{sock}\"\n[ttrpc]\n  address = \"{sock}.ttrpc\"\n[debug]\n  address = \"\"\n\
         [plugins.\"io.containerd.internal.v1.opt\"]\n  path = \"{opt}\"\n{plugins}",
        root = w.join("root").display(),
        state = w.join("state").display(),
        sock = sock.display(),
        opt = w.join("opt").display(),
    );
    fs::write(w.join("config.toml"), config).unwrap();
    let mut cmd = Command::new("/usr/bin/containerd");
    cmd.arg("--config").arg(w.join("config.toml"));
    let mut daemon = Daemon::spawn(name, cmd, &w.join("containerd.log"));
    let ready = poll("containerd to answer on its socket", || {
        if daemon.exited() {
            return Some(false);
        }
        run(ctr_command(&sock, namespace).arg("version"))
            .status
            .success()
            .then_some(true)
    });
    if ready != Ok(true) {
        panic!(
            "{name} did not start ({ready:?}); its log:\n{}",
            daemon.log_text()
        );
    }
    let tar = busybox_image(w, "busybox:engines");
    let out = run(ctr_command(&sock, namespace).args(["images", "import", tar.to_str().unwrap()]));
    assert!(
        out.status.success(),
        "ctr images import: {}",
        describe(&out)
    );
    (daemon, sock)
}
