//! `holm run`, `holm create`, `holm start`.

use anyhow::{bail, Result};
use clap::Args;
use holm_engine::{Engine, RunConfig};
use std::os::fd::AsFd;

/// `holm run` / `holm create`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Run in the background and print the container id.
    #[arg(short, long, num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value_t = false, action = clap::ArgAction::Set)]
    pub detach: bool,
    /// Keep the container's stdin open and feed it holm's.
    #[arg(short, long, num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value_t = false, action = clap::ArgAction::Set)]
    pub interactive: bool,
    /// Give the container a pseudo-terminal.
    #[arg(short, long, num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value_t = false, action = clap::ArgAction::Set)]
    pub tty: bool,
    /// Remove the container when it exits.
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value_t = false, action = clap::ArgAction::Set)]
    pub rm: bool,
    /// Name of the container.
    #[arg(long)]
    pub name: Option<String>,
    /// Set an environment variable (`K=V`, or `K` to pass holm's own value).
    #[arg(short, long = "env", value_name = "K=V")]
    pub env: Vec<String>,
    /// Working directory inside the container (a relative one is taken from `/`, as docker 23+ does).
    #[arg(short, long)]
    pub workdir: Option<String>,
    /// User (name or uid) and optionally group: `USER[:GROUP]`.
    #[arg(short, long)]
    pub user: Option<String>,
    /// Override the image's entrypoint (an empty string clears it).
    #[arg(long)]
    pub entrypoint: Option<String>,
    /// Container host name (default: the short id).
    #[arg(long)]
    pub hostname: Option<String>,
    /// Bind mount a host path: `SRC:DST[:ro]`.
    #[arg(short, long = "volume", value_name = "SRC:DST[:ro]")]
    pub volumes: Vec<String>,
    /// Mount the container's root filesystem read-only.
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value_t = false, action = clap::ArgAction::Set)]
    pub read_only: bool,
    /// Memory limit (`512m`, `1g`, …).
    #[arg(short, long, allow_hyphen_values = true)]
    pub memory: Option<String>,
    /// Maximum number of processes (0 or -1: unlimited).
    #[arg(long, allow_hyphen_values = true)]
    pub pids_limit: Option<i64>,
    /// Number of CPUs (`0.5`, `1.5`, …).
    #[arg(long)]
    pub cpus: Option<String>,
    /// Read environment variables from a file (`K=V` lines).
    #[arg(long = "env-file", value_name = "FILE")]
    pub env_file: Vec<String>,
    /// Attach a filesystem mount: `type=bind|tmpfs,source=…,target=…[,readonly]`.
    #[arg(long = "mount", value_name = "SPEC")]
    pub mounts: Vec<String>,
    /// Mount a tmpfs: `DST[:OPTIONS]`.
    #[arg(long, value_name = "DST[:OPTIONS]")]
    pub tmpfs: Vec<String>,
    /// Resource limit: `TYPE=SOFT[:HARD]` (e.g. `nofile=1024:2048`).
    #[arg(long = "ulimit", value_name = "T=S[:H]")]
    pub ulimits: Vec<String>,
    /// Add a Linux capability (`ALL` for every one).
    #[arg(long = "cap-add", value_name = "CAP")]
    pub cap_add: Vec<String>,
    /// Drop a Linux capability (`ALL` for every one).
    #[arg(long = "cap-drop", value_name = "CAP")]
    pub cap_drop: Vec<String>,
    /// Give the container every capability and device, without seccomp or masked paths.
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value_t = false, action = clap::ArgAction::Set)]
    pub privileged: bool,
    /// Security options: `no-new-privileges`, `seccomp=unconfined`, `seccomp=FILE`.
    #[arg(long = "security-opt", value_name = "OPT")]
    pub security_opt: Vec<String>,
    /// Signal `stop` sends (default: the image's, or SIGTERM).
    #[arg(long)]
    pub stop_signal: Option<String>,
    /// Seconds `stop` waits before SIGKILL (default 10; a negative value, `-1`, waits for ever, as docker's).
    #[arg(long, allow_negative_numbers = true)]
    pub stop_timeout: Option<i64>,
    /// Set a label: `K=V`.
    #[arg(short = 'l', long = "label", value_name = "K=V")]
    pub labels: Vec<String>,
    /// Add an OCI annotation for the runtime: `K=V` (e.g. `org.holm.vm.tcg-tb-size=16` for a VM container).
    #[arg(long = "annotation", value_name = "K=V")]
    pub annotations: Vec<String>,
    /// Memory plus swap limit (`-1`: unlimited swap); needs --memory.
    #[arg(long, allow_hyphen_values = true)]
    pub memory_swap: Option<String>,
    /// CPU shares (relative weight).
    #[arg(short = 'c', long)]
    pub cpu_shares: Option<String>,
    /// CPUs the container may use (`0-1`, `0,2`).
    #[arg(long)]
    pub cpuset_cpus: Option<String>,
    /// Run an init as pid 1 that forwards signals and reaps zombies.
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value_t = false, action = clap::ArgAction::Set)]
    pub init: bool,
    /// Restart policy: no, on-failure[:N], always, unless-stopped.
    #[arg(long, default_value = "no")]
    pub restart: String,
    /// Run through this OCI runtime binary (a path or a name in PATH, e.g. `runc`) instead of the built-in one.
    #[arg(long)]
    pub runtime: Option<String>,
    /// Isolation: default or process (a container on the host's kernel), vm (the container inside its own
    /// qemu microVM, with its own kernel).
    #[arg(long, value_name = "default|process|vm")]
    pub isolation: Option<String>,
    /// The guest kernel of an --isolation vm container (default: $HOLM_VM_KERNEL, else /var/lib/holm/vm/vmlinuz).
    #[arg(long = "vm-kernel", value_name = "PATH")]
    pub vm_kernel: Option<String>,
    /// Network: bridge (default: the holm0 bridge, NAT), none (only lo), host (the host's network),
    /// container:NAME (another running container's) or a user network's name (`network create`).
    #[arg(
        long,
        visible_alias = "net",
        default_value = "bridge",
        value_name = "NETWORK"
    )]
    pub network: String,
    /// A further name of the container on its user network (`--network NAME`), resolved by the network's DNS.
    #[arg(
        long = "network-alias",
        visible_alias = "net-alias",
        value_name = "ALIAS"
    )]
    pub network_aliases: Vec<String>,
    /// Publish a container's port on the host: `[IP:][HOSTPORT:]CONTAINERPORT[/tcp|/udp]` (ranges `A-B`).
    #[arg(
        short = 'p',
        long = "publish",
        value_name = "[IP:][HOSTPORT:]PORT[/PROTO]"
    )]
    pub publish: Vec<String>,
    /// Publish every port the image exposes on a free host port.
    #[arg(short = 'P', long = "publish-all", num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value_t = false, action = clap::ArgAction::Set)]
    pub publish_all: bool,
    /// A DNS server for the container's resolv.conf (replaces the host's).
    #[arg(long, value_name = "IP")]
    pub dns: Vec<String>,
    /// Add a line to the container's /etc/hosts: `HOST:IP` (`host-gateway`: the bridge's gateway).
    #[arg(long = "add-host", value_name = "HOST:IP")]
    pub add_hosts: Vec<String>,
    /// Logging driver: json-file (default), k8s-file or none.
    #[arg(long, default_value = "json-file")]
    pub log_driver: String,
    /// Log driver option `KEY=VALUE` (json-file, k8s-file): `max-size=10m` rotates the file at that size (docker's
    /// decimal units), `max-file=3` keeps that many files (default 1).
    #[arg(long = "log-opt", value_name = "KEY=VALUE")]
    pub log_opt: Vec<String>,
    /// When to pull the image: `missing` (default: only if it is not in the store), `always`, `never`.
    #[arg(long, value_enum, default_value = "missing")]
    pub pull: crate::pull::PullPolicy,
    /// Platform to pull from a multi-platform image (os/arch[/variant]; default linux/amd64).
    #[arg(long)]
    pub platform: Option<String>,
    /// Require HTTPS with verified certificates when pulling (see `holm pull --help`).
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub tls_verify: Option<bool>,
    /// Do not print the pull's progress.
    #[arg(short, long)]
    pub quiet: bool,
    /// Healthcheck flags.
    #[command(flatten)]
    pub health: crate::health::HealthArgs,
    /// The image, then the command and its arguments (replacing the image's Cmd).
    #[arg(
        required = true,
        trailing_var_arg = true,
        value_name = "IMAGE [COMMAND [ARG...]]"
    )]
    pub image_and_cmd: Vec<String>,
}

impl RunArgs {
    fn config(&self) -> Result<RunConfig> {
        use holm_engine::options as o;
        let mut env = Vec::new();
        for f in &self.env_file {
            env.extend(o::read_env_file(f)?);
        }
        let env_flags = o::env_flags(&self.env)?;
        env.extend(env_flags);
        let memory = self
            .memory
            .as_deref()
            .map(holm_engine::config::parse_memory)
            .transpose()?;
        // `--mount type=volume` becomes a `-v NAME:DST`; the others stay mounts.
        let mut volumes = Vec::new();
        let mut mounts = Vec::new();
        let mut anonymous_volumes = Vec::new();
        for v in &self.volumes {
            let (v, anonymous) = holm_engine::volumes::expand_volume_flag(v)?;
            anonymous_volumes.extend(anonymous);
            volumes.push(v);
        }
        for m in &self.mounts {
            let parsed = o::parse_mount(m)?;
            match parsed.as_volume() {
                Some(v) => {
                    if parsed.anonymous {
                        anonymous_volumes.push(parsed.source.clone());
                    }
                    volumes.push(v)
                }
                None => mounts.push(m.clone()),
            }
        }
        for t in &self.tmpfs {
            o::parse_tmpfs(t)?;
        }
        for u in &self.ulimits {
            o::parse_ulimit(u)?;
        }
        let cfg = RunConfig {
            entrypoint: self.entrypoint.as_ref().map(|e| {
                if e.is_empty() {
                    Vec::new()
                } else {
                    vec![e.clone()]
                }
            }),
            cmd: self.image_and_cmd[1..].to_vec(),
            env,
            workdir: self.workdir.clone(),
            user: self.user.clone(),
            hostname: self.hostname.clone(),
            volumes,
            read_only: self.read_only,
            memory,
            pids_limit: self.pids_limit,
            cpus: self
                .cpus
                .as_deref()
                .map(holm_engine::config::parse_cpus)
                .transpose()?,
            auto_remove: self.rm,
            stop_signal: self
                .stop_signal
                .as_deref()
                .map(o::parse_stop_signal)
                .transpose()?
                .unwrap_or_default(),
            stop_timeout: self.stop_timeout.map(holm_engine::config::stop_timeout),
            mounts,
            tmpfs: self.tmpfs.clone(),
            ulimits: self.ulimits.clone(),
            cap_add: self.cap_add.clone(),
            cap_drop: self.cap_drop.clone(),
            privileged: self.privileged,
            security_opt: self.security_opt.clone(),
            labels: o::parse_labels(&self.labels)?,
            annotations: o::parse_annotations(&self.annotations)?,
            memory_swap: self
                .memory_swap
                .as_deref()
                .map(|s| o::parse_memory_swap(s, memory))
                .transpose()?,
            cpu_shares: self
                .cpu_shares
                .as_deref()
                .map(o::parse_cpu_shares)
                .transpose()?,
            cpuset_cpus: self
                .cpuset_cpus
                .as_deref()
                .map(o::parse_cpuset)
                .transpose()?,
            init: self.init,
            tty: self.tty,
            restart: self.restart.clone(),
            anonymous_volumes,
            runtime: self
                .runtime
                .as_deref()
                .map(holm_engine::runtime::find_binary)
                .transpose()?
                .map(|p| p.display().to_string()),
            interactive: self.interactive,
            isolation: holm_engine::vm::parse_isolation(self.isolation.as_deref().unwrap_or(""))?,
            vm_kernel: self.vm_kernel.clone(),
            log_driver: o::parse_log_driver(&self.log_driver)?,
            log_opts: holm_engine::logopts::parse(&self.log_driver, &self.log_opt)?,
            network: holm_engine::network_api::normalize_mode(&self.network)?,
            network_aliases: self.network_aliases.clone(),
            publish: self.publish.clone(),
            publish_all: self.publish_all,
            dns: self.dns.clone(),
            add_hosts: self.add_hosts.clone(),
            healthcheck: self.health.config()?,
            ..Default::default()
        };
        cfg.validate()?;
        Ok(cfg)
    }
}

/// `holm create`: prints the new container's id.
pub fn create(engine: &Engine, a: &RunArgs) -> Result<i32> {
    let cfg = a.config()?;
    pull_if_needed(engine, a)?;
    let rec = engine.create(&a.image_and_cmd[0], a.name.as_deref(), cfg)?;
    println!("{}", rec.id);
    Ok(0)
}

/// `holm run`: in the foreground, streams the container's output and exits with its code; with `-d`, prints its
/// id once it runs.
pub fn run(engine: &Engine, a: &RunArgs) -> Result<i32> {
    let cfg = a.config()?;
    // Before anything is created: the container could not be started without it.
    holm_engine::monitor::installed()?;
    pull_if_needed(engine, a)?;
    // In the foreground, every signal is blocked from before the container exists (as runc's `run`): a Ctrl-C
    // while it is created or started waits and is forwarded to it once it runs (`wait_attached`), instead of
    // killing holm and leaving the container behind ("Created", or running with no one attached to remove it).
    // The monitor and the runtime are spawned through `Command`, which empties the mask.
    let _held = if a.detach {
        None
    } else {
        Some(holm_sys::signal::hold_all()?)
    };
    let rec = engine.create(&a.image_and_cmd[0], a.name.as_deref(), cfg)?;
    // `--rm`: a start that fails in any way (the monitor's own --rm may not have run: it failed before it could, or
    // its clean-up failed) still removes what `create` made.
    let cleanup = |e: holm_engine::Error| {
        if a.rm {
            let _ = engine.remove_with(&rec.id, true, true);
        }
        e
    };
    if a.detach {
        if let Some(s) = engine.start(&rec.id, None).map_err(cleanup)? {
            engine.detach(s);
        }
        println!("{}", rec.id);
        return Ok(0);
    }
    attach(engine, &rec.id, a.interactive, a.tty, cleanup)
}

/// Applies `--pull` (see `pull::ensure_image`). The pull's network runtime is gone when this returns, so the
/// process is single-threaded again before the container's monitor is forked.
fn pull_if_needed(engine: &Engine, a: &RunArgs) -> Result<()> {
    crate::pull::ensure_image(
        engine,
        &a.image_and_cmd[0],
        a.pull,
        a.platform.as_deref(),
        a.tls_verify,
        a.quiet,
    )?;
    // The invariant the rest of `run` relies on (containers are only ever forked from single-threaded code):
    // checked here, where a leaked runtime thread would show.
    let threads = holm_sys::process::thread_count()?;
    if threads != 1 {
        bail!("internal error: {threads} threads still running after the image pull");
    }
    Ok(())
}

/// Starts container `id` attached to holm's stdout/stderr (and stdin with `interactive`; with `tty`, holm's
/// terminal is raw meanwhile) and waits for its exit code.
fn attach(
    engine: &Engine,
    id: &str,
    interactive: bool,
    tty: bool,
    on_start_error: impl FnOnce(holm_engine::Error) -> holm_engine::Error,
) -> Result<i32> {
    let (stdin, out, err) = (std::io::stdin(), std::io::stdout(), std::io::stderr());
    let is_tty = holm_sys::tty::is_terminal(stdin.as_fd());
    if tty && interactive && !is_tty {
        bail!("the input device is not a TTY (use -i without -t to pipe input)");
    }
    let _raw = if tty && interactive && is_tty {
        Some(holm_engine::tty::RawTerminal::new(stdin.as_fd())?)
    } else {
        None
    };
    let input = interactive.then(|| stdin.as_fd());
    // Signals wait until the container runs (see `run`; `start -a` has the same window).
    let _held = holm_sys::signal::hold_all()?;
    match engine
        .start_with_stdin(id, Some((out.as_fd(), err.as_fd())), input)
        .map_err(on_start_error)?
    {
        Some(s) => Ok(engine.wait_attached(s)?),
        None => bail!("container {id} was started by someone else"),
    }
}

/// `holm start`.
#[derive(Debug, Args)]
pub struct StartArgs {
    /// Attach to the container's output and exit with its code.
    #[arg(short, long, num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value_t = false, action = clap::ArgAction::Set)]
    pub attach: bool,
    /// Attach holm's stdin too (for a container created with -i).
    #[arg(short, long, num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value_t = false, action = clap::ArgAction::Set)]
    pub interactive: bool,
    /// Containers (names, ids or id prefixes).
    #[arg(required = true)]
    pub containers: Vec<String>,
}

/// `holm start [-a]`.
pub fn start(engine: &Engine, a: &StartArgs) -> Result<i32> {
    if a.attach {
        if a.containers.len() != 1 {
            bail!("you cannot start and attach multiple containers at once");
        }
        let rec = engine.find(&a.containers[0])?;
        if rec.state == holm_engine::State::Running {
            bail!("container {} is already running", a.containers[0]);
        }
        return attach(
            engine,
            &rec.id,
            a.interactive && rec.config.interactive,
            rec.config.tty,
            |e| e,
        );
    }
    crate::stop::each(&a.containers, |c| {
        if let Some(s) = engine.start(c, None)? {
            engine.detach(s);
        }
        Ok(c.to_string())
    })
}
