//! podman and dockerd: one CLI shape (`run --rm --name N [flags] IMAGE CMD`, `logs`, `exec`, `inspect`, ...), two
//! setups.
//!
//! - podman 4.3 (no daemon): private `--root`, `--runroot`, `--tmpdir`, `--volumepath`, a CNI config dir with one
//!   network, `podman`, on a bridge and /24 of its own (IPAM data in the work dir too), a `containers.conf`
//!   (`CONTAINERS_CONF`) whose `[engine.runtimes]` names the two wrappers, `--cgroup-manager cgroupfs` (no
//!   systemd) and `--ulimit nofile=20000:20000 --ulimit nproc=32768:32768` on every run (podman's defaults exceed
//!   this host's hard NOFILE of 20000, which root cannot raise without CAP_SYS_RESOURCE).
//! - dockerd 20.10 (Debian's docker.io), started by the test: `--data-root`, `--exec-root`, `-H unix://`,
//!   `--pidfile` in the work dir, its managed containerd below the exec root, `--config-file` with the two
//!   wrappers as `runtimes` (and `holmvm`: the holm wrapper with `runtimeArgs: ["--isolation", "vm"]`), the default bridge network on a bridge the test creates (`--bridge`, a /24 of its
//!   own), cgroupfs under a cgroup parent of its own. `--iptables=false --ip-forward=false --ip-masq=false`: with
//!   its default iptables mode dockerd adds global DOCKER chains to the host's filter and nat tables and never
//!   removes them; `-p 127.0.0.1:PORT:80` is served by docker-proxy (the userland proxy, dockerd's default for
//!   connections from the host) instead, so the scenario still goes through dockerd's port publishing.

use super::host::{
    free_subnet, network_leaks, poll, remove_cgroup_parent, run_in_pty, sweep_leaks, unique_ifname,
    Bridge, Daemon,
};
use super::scenarios::{Engine, Opts};
use super::{describe, ok, require_tool, run, stdout, workdir, Rt, Wrapper, PATH};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use tempfile::TempDir;

/// Which engine speaks this CLI.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flavor {
    /// podman.
    Podman,
    /// dockerd + the docker CLI.
    Docker,
}

/// A podman or dockerd set up for the suite. Drop tears it down; call [`DockerLike::finish`] first to learn what
/// the teardown found left behind.
pub struct DockerLike {
    flavor: Flavor,
    bin: &'static str,
    global: Vec<String>,
    env: Vec<(String, String)>,
    image: String,
    /// Both wrappers, by runtime.
    pub runc: Wrapper,
    /// The holm-runtime wrapper.
    pub holm: Wrapper,
    daemon: Option<Daemon>,
    bridge: Option<Bridge>,
    cni_bridge: Option<String>,
    /// The first three octets of the bridge's /24.
    net: String,
    cgroup_parent: Option<String>,
    scratch: PathBuf,
    work: Option<TempDir>,
}

/// The busybox image archive (docker-archive, `scripts/make-busybox-image.sh`) at `DIR/busybox.tar`.
pub fn busybox_image(dir: &Path, name: &str) -> PathBuf {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/make-busybox-image.sh");
    let tar = dir.join("busybox.tar");
    let out = run(Command::new(&script).arg(&tar).arg(name));
    assert!(
        out.status.success(),
        "{}: {}",
        script.display(),
        describe(&out)
    );
    tar
}

fn runtime_name(rt: Rt) -> &'static str {
    match rt {
        Rt::Runc => "runcw",
        Rt::Holm => "holmw",
        // dockerd: the `holmvm` entry of daemon.json (runtimeArgs `--isolation vm`); podman: `holmw` with
        // `--runtime-flag isolation=vm`.
        Rt::HolmVm => "holmvm",
    }
}

/// Single-quotes `s` for a POSIX shell.
pub fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

impl DockerLike {
    /// podman with private storage, network and runtimes table; the busybox image loaded.
    pub fn podman() -> DockerLike {
        require_tool("/usr/bin/podman", "podman");
        require_tool("/usr/sbin/runc", "runc");
        require_tool("/usr/bin/curl", "curl");
        require_tool("/usr/bin/script", "bsdutils");
        let work = workdir();
        let w = work.path().to_path_buf();
        let runc = Wrapper::new(&w, Rt::Runc);
        let holm = Wrapper::new(&w, Rt::Holm);
        let bridge = unique_ifname("hep");
        let net = free_subnet(213);
        fs::create_dir_all(w.join("net")).unwrap();
        let conflist = format!(
            r#"{{"cniVersion": "0.4.0", "name": "podman", "plugins": [
  {{"type": "bridge", "bridge": "{bridge}", "isGateway": true, "ipMasq": true, "hairpinMode": true,
   "ipam": {{"type": "host-local", "dataDir": "{data}", "routes": [{{"dst": "0.0.0.0/0"}}],
            "ranges": [[{{"subnet": "{net}.0/24", "gateway": "{net}.1"}}]]}}}},
  {{"type": "portmap", "capabilities": {{"portMappings": true}}}},
  {{"type": "firewall"}},
  {{"type": "tuning"}}]}}
"#,
            data = w.join("cni").display()
        );
        fs::write(w.join("net/podman.conflist"), conflist).unwrap();
        let conf = format!(
            "[engine]\ncgroup_manager = \"cgroupfs\"\nevents_logger = \"file\"\n\n[engine.runtimes]\n\
             runcw = [\"{}\"]\nholmw = [\"{}\"]\n",
            runc.path.display(),
            holm.path.display()
        );
        fs::write(w.join("containers.conf"), conf).unwrap();
        let p = |s: &str| w.join(s).to_string_lossy().into_owned();
        let global = vec![
            "--root".into(),
            p("root"),
            "--runroot".into(),
            p("run"),
            "--tmpdir".into(),
            p("tmp"),
            "--volumepath".into(),
            p("volumes"),
            "--network-config-dir".into(),
            p("net"),
            "--cgroup-manager".into(),
            "cgroupfs".into(),
            "--events-backend".into(),
            "file".into(),
        ];
        let mut e = DockerLike {
            flavor: Flavor::Podman,
            bin: "/usr/bin/podman",
            global,
            env: vec![("CONTAINERS_CONF".into(), p("containers.conf"))],
            image: "localhost/busybox:engines".into(),
            runc,
            holm,
            daemon: None,
            bridge: None,
            cni_bridge: Some(bridge),
            net,
            cgroup_parent: None,
            scratch: w.join("scratch"),
            work: Some(work),
        };
        e.load_image();
        e
    }

    /// dockerd started with private roots, socket, bridge and runtimes; the busybox image loaded.
    pub fn docker() -> DockerLike {
        require_tool("/usr/sbin/dockerd", "docker.io");
        require_tool("/usr/bin/docker", "docker.io");
        require_tool("/usr/sbin/docker-proxy", "docker.io");
        require_tool("/usr/bin/containerd", "containerd");
        require_tool("/usr/sbin/runc", "runc");
        require_tool("/usr/bin/curl", "curl");
        require_tool("/usr/bin/script", "bsdutils");
        let work = workdir();
        let w = work.path().to_path_buf();
        let runc = Wrapper::new(&w, Rt::Runc);
        let holm = Wrapper::new(&w, Rt::Holm);
        let net = free_subnet(214);
        let bridge = Bridge::new(&unique_ifname("hed"), &format!("{net}.1"));
        let cgroup_parent = format!("holm-engines-{}", super::workdir_suffix(&w));
        let config = serde_json::json!({
            "runtimes": {
                "runcw": {"path": runc.path},
                "holmw": {"path": holm.path},
                "holmvm": {"path": holm.path, "runtimeArgs": ["--isolation", "vm"]},
            }
        });
        fs::write(w.join("daemon.json"), config.to_string()).unwrap();
        let sock = w.join("docker.sock");
        let p = |s: &str| w.join(s).to_string_lossy().into_owned();
        let mut cmd = Command::new("/usr/sbin/dockerd");
        cmd.args(["--config-file", &p("daemon.json")])
            .args(["--data-root", &p("data")])
            .args(["--exec-root", &p("exec")])
            .args(["--pidfile", &p("docker.pid")])
            .args(["-H", &format!("unix://{}", sock.display())])
            .args(["--bridge", &bridge.name])
            .args(["--iptables=false", "--ip-forward=false", "--ip-masq=false"])
            .args(["--cgroup-parent", &cgroup_parent])
            .args(["--exec-opt", "native.cgroupdriver=cgroupfs"]);
        let daemon = Daemon::spawn("dockerd", cmd, &w.join("dockerd.log"));
        let mut e = DockerLike {
            flavor: Flavor::Docker,
            bin: "/usr/bin/docker",
            global: vec!["-H".into(), format!("unix://{}", sock.display())],
            env: vec![],
            image: "busybox:engines".into(),
            runc,
            holm,
            daemon: Some(daemon),
            bridge: Some(bridge),
            cni_bridge: None,
            net,
            cgroup_parent: Some(cgroup_parent),
            scratch: w.join("scratch"),
            work: Some(work),
        };
        let ready = poll("dockerd to answer on its socket", || {
            if e.daemon.as_mut().is_some_and(|d| d.exited()) {
                return Some(false);
            }
            e.cli(&["version"]).status.success().then_some(true)
        });
        if ready != Ok(true) {
            let log = e.daemon.as_ref().map(|d| d.log_text()).unwrap_or_default();
            panic!("dockerd did not start ({ready:?}); its log:\n{log}");
        }
        e.load_image();
        e
    }

    fn load_image(&mut self) {
        let w = self.work.as_ref().unwrap().path().to_path_buf();
        let tar = busybox_image(&w, "busybox:engines");
        let out = self.cli(&["load", "-i", tar.to_str().unwrap()]);
        assert!(out.status.success(), "load: {}", describe(&out));
        fs::create_dir_all(&self.scratch).unwrap();
    }

    fn command(&self) -> Command {
        let mut c = Command::new(self.bin);
        c.env("PATH", PATH).args(&self.global);
        for (k, v) in &self.env {
            c.env(k, v);
        }
        c
    }

    /// Runs the engine CLI with its global flags.
    pub fn cli(&self, args: &[&str]) -> Output {
        run(self.command().args(args))
    }

    /// Arguments from the verb on: `run` with the runtime selected, then the flags for `opts`.
    fn run_args(&self, rt: Rt, opts: &Opts, user: Option<&str>) -> Vec<String> {
        let mut a: Vec<String> = Vec::new();
        match self.flavor {
            Flavor::Podman => {
                // podman's --runtime is a global flag; conmon and later verbs find it by the name recorded. The
                // VM is asked for with a runtime flag (`--isolation=vm` on every runtime call of this `run`);
                // later verbs find it in the runtime's state directory.
                if rt == Rt::HolmVm {
                    a.extend(["--runtime".into(), runtime_name(Rt::Holm).into()]);
                    a.extend(["--runtime-flag".into(), "isolation=vm".into()]);
                } else {
                    a.extend(["--runtime".into(), runtime_name(rt).into()]);
                }
                a.push("run".into());
                a.extend(
                    [
                        "--ulimit",
                        "nofile=20000:20000",
                        "--ulimit",
                        "nproc=32768:32768",
                    ]
                    .map(String::from),
                );
            }
            Flavor::Docker => {
                a.extend(["run".into(), "--runtime".into(), runtime_name(rt).into()]);
            }
        }
        if let Some(m) = opts.memory {
            a.extend(["--memory".into(), m.to_string()]);
        }
        if let Some(port) = opts.publish {
            a.extend(["-p".into(), format!("127.0.0.1:{port}:80")]);
        }
        if let Some((src, dst)) = &opts.volume {
            a.extend(["-v".into(), format!("{}:{dst}", src.display())]);
        }
        if opts.read_only {
            a.push("--read-only".into());
        }
        if let Some(t) = &opts.tmpfs {
            a.extend(["--tmpfs".into(), t.clone()]);
        }
        if let Some(u) = user {
            a.extend(["--user".into(), u.into()]);
        }
        a
    }

    fn run_with(&self, mut args: Vec<String>, name: &str, extra: &[&str], cmd: &[&str]) -> Output {
        args.extend(extra.iter().map(|s| s.to_string()));
        args.extend(["--name".into(), name.into(), self.image.clone()]);
        args.extend(cmd.iter().map(|s| s.to_string()));
        run(self.command().args(&args))
    }

    fn inspect(&self, name: &str, format: &str) -> Result<String, String> {
        let out = self.cli(&["inspect", "-f", format, name]);
        ok(&out, &format!("inspect -f {format}")).map(|s| s.trim().to_string())
    }

    /// Removes every container and image, stops the daemon, deletes the bridges and the cgroup parent, then
    /// returns whatever was still running or mounted below the work dir (and cleans that up too).
    pub fn finish(&mut self) -> Vec<String> {
        let Some(work) = self.work.take() else {
            return Vec::new();
        };
        let mut leaks = Vec::new();
        match self.flavor {
            Flavor::Podman => {
                let _ = holm_testkit::run_command(self.command().args(["rm", "-fa", "-t", "0"]));
                let _ = holm_testkit::run_command(self.command().args(["rmi", "-af"]));
            }
            Flavor::Docker => {
                let ids = self.cli(&["ps", "-aq"]);
                for id in stdout(&ids).split_whitespace() {
                    let _ = holm_testkit::run_command(self.command().args(["rm", "-f", id]));
                }
            }
        }
        if let Some(mut d) = self.daemon.take() {
            if let Err(e) = d.stop() {
                leaks.push(e);
            }
        }
        leaks.extend(sweep_leaks(work.path()));
        let bridge_name = self.bridge.as_ref().map(|b| b.name.clone());
        if let Some(name) = bridge_name.or_else(|| self.cni_bridge.clone()) {
            leaks.extend(network_leaks(&name, &self.net));
        }
        self.bridge.take();
        if let Some(b) = self.cni_bridge.take() {
            super::host::delete_link(&b);
        }
        if let Some(cg) = self.cgroup_parent.take() {
            leaks.extend(remove_cgroup_parent(&cg));
        }
        if sweep_leaks(work.path()).is_empty() {
            drop(work);
        } else {
            let _ = work.keep();
        }
        leaks
    }
}

impl Drop for DockerLike {
    fn drop(&mut self) {
        let _ = self.finish();
    }
}

impl Engine for DockerLike {
    fn name(&self) -> &str {
        match self.flavor {
            Flavor::Podman => "podman",
            Flavor::Docker => "dockerd",
        }
    }

    fn run_rm(&self, rt: Rt, name: &str, opts: &Opts, cmd: &[&str]) -> Output {
        self.run_with(self.run_args(rt, opts, None), name, &["--rm"], cmd)
    }

    fn run_tty(&self, rt: Rt, name: &str, cmd: &[&str]) -> Output {
        let mut line: Vec<String> = vec![self.bin.into()];
        line.extend(self.global.iter().cloned());
        line.extend(self.run_args(rt, &Opts::default(), None));
        line.extend(["--rm", "-it", "--name", name, &self.image].map(String::from));
        line.extend(cmd.iter().map(|s| s.to_string()));
        let line = line
            .iter()
            .map(|s| shell_quote(s))
            .collect::<Vec<_>>()
            .join(" ");
        run_in_pty(&line, &self.env)
    }

    fn exec_tty(&self, name: &str, cmd: &[&str]) -> Output {
        let mut line: Vec<String> = vec![self.bin.into()];
        line.extend(self.global.iter().cloned());
        line.extend(["exec", "-it", name].map(String::from));
        line.extend(cmd.iter().map(|s| s.to_string()));
        let line = line
            .iter()
            .map(|s| shell_quote(s))
            .collect::<Vec<_>>()
            .join(" ");
        run_in_pty(&line, &self.env)
    }

    fn run_detached(&self, rt: Rt, name: &str, opts: &Opts, cmd: &[&str]) -> Result<(), String> {
        let out = self.run_with(self.run_args(rt, opts, None), name, &["-d"], cmd);
        ok(&out, "run -d").map(|_| ())
    }

    fn logs(&self, name: &str) -> Result<String, String> {
        ok(&self.cli(&["logs", name]), "logs")
    }

    fn exec(&self, name: &str, user: Option<&str>, cmd: &[&str]) -> Output {
        let mut args = vec!["exec"];
        if let Some(u) = user {
            args.extend(["--user", u]);
        }
        args.push(name);
        args.extend(cmd);
        self.cli(&args)
    }

    fn pid(&self, name: &str) -> Result<i32, String> {
        let s = self.inspect(name, "{{.State.Pid}}")?;
        s.parse()
            .map_err(|e| format!("inspect printed pid {s:?}: {e}"))
    }

    fn stop(&self, name: &str) -> Result<i32, String> {
        ok(&self.cli(&["stop", "-t", "30", name]), "stop")?;
        let s = self.inspect(name, "{{.State.ExitCode}}")?;
        s.parse()
            .map_err(|e| format!("inspect printed exit code {s:?}: {e}"))
    }

    fn pause(&self, name: &str) -> Result<(), String> {
        ok(&self.cli(&["pause", name]), "pause").map(|_| ())
    }

    fn unpause(&self, name: &str) -> Result<(), String> {
        ok(&self.cli(&["unpause", name]), "unpause").map(|_| ())
    }

    fn status(&self, name: &str) -> Result<String, String> {
        self.inspect(name, "{{.State.Status}}")
            .map(|s| s.to_lowercase())
    }

    fn listed(&self, name: &str) -> Result<bool, String> {
        let out = self.cli(&["ps", "-a", "--format", "{{.Names}}"]);
        let names = ok(&out, "ps -a")?;
        Ok(names.lines().any(|l| l.trim() == name))
    }

    fn remove(&self, name: &str) {
        let mut args = vec!["rm", "-f"];
        if self.flavor == Flavor::Podman {
            args.extend(["-t", "0"]);
        }
        args.push(name);
        let _ = holm_testkit::run_command(self.command().args(&args));
    }

    fn http_listen(&self, _port: u16) -> String {
        "80".into()
    }

    fn user_ids(&self, rt: Rt, name: &str) -> Result<String, String> {
        let out = self.run_with(
            self.run_args(rt, &Opts::default(), Some("1:1")),
            name,
            &["--rm"],
            &["sh", "-c", "id -u; id -g"],
        );
        ok(&out, "run --user 1:1")
    }

    fn scratch(&self) -> &Path {
        &self.scratch
    }
}
