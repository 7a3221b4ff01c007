//! `holm-runtime`: an OCI runtime with runc's command line. Each verb parses its flags and calls
//! `holm-container`; errors are reported once, here (stderr and `--log`), with exit code 1 as runc does.

#![forbid(unsafe_code)]

mod cgroup_cmds;
mod compat;
mod exec_cmd;
mod log;
mod vm_adjust;
mod vm_cmds;
mod vm_exec;
mod vm_netns;
mod vm_update;

use anyhow::{bail, Context};
use clap::{Args, Parser, Subcommand, ValueEnum};
use holm_container::{state::OciState, CreateOptions, RunOptions, Store};
use std::io::Write;
use std::path::PathBuf;

/// A runc-compatible OCI runtime.
#[derive(Parser)]
#[command(
    name = "holm-runtime",
    version,
    about = "Run OCI containers (runc-compatible command line)"
)]
struct Cli {
    /// Directory for container state (tmpfs recommended).
    #[arg(long, global = true, default_value = "/run/holm", value_name = "DIR")]
    root: PathBuf,
    /// Also write log messages to FILE.
    #[arg(long, global = true, value_name = "FILE")]
    log: Option<PathBuf>,
    /// Log format.
    #[arg(long = "log-format", global = true, value_enum, default_value_t = log::Format::Text)]
    log_format: log::Format,
    /// Enable debug logging.
    #[arg(long, global = true)]
    debug: bool,
    /// Use systemd's cgroup manager: an error without systemd (as runc); with it holm still uses cgroupfs.
    #[arg(long = "systemd-cgroup", global = true)]
    systemd_cgroup: bool,
    /// Path to the criu binary (for checkpoint/restore, which are not implemented).
    #[arg(long, global = true, value_name = "PATH")]
    criu: Option<PathBuf>,
    /// Run containers created here in a process (default) or in their own qemu microVM (`vm`). Without the flag:
    /// `vm` when invoked as `holm-runtime-vm`, else the `org.holm.isolation` annotation. Later verbs find the
    /// choice in the container's state.
    #[arg(long, global = true, value_enum, value_name = "process|vm")]
    isolation: Option<vm_cmds::Isolation>,
    /// The guest kernel for `--isolation vm` (default: $HOLM_VM_KERNEL, else /var/lib/holm/vm/vmlinuz).
    #[arg(long = "vm-kernel", global = true, value_name = "PATH")]
    vm_kernel: Option<PathBuf>,
    /// Rootless mode as runc: auto (default) or false; true is not implemented. Before the verb, as runc's.
    #[arg(long, value_enum, default_value_t = compat::Rootless::Auto, value_name = "true|false|auto")]
    rootless: compat::Rootless,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Args, Clone)]
struct CreateArgs {
    /// Path to the bundle (the directory holding config.json).
    #[arg(short, long, default_value = ".", value_name = "DIR")]
    bundle: PathBuf,
    /// Unix socket that receives the pty master when process.terminal is true.
    #[arg(long = "console-socket", value_name = "PATH")]
    console_socket: Option<PathBuf>,
    /// File to write the container init's pid to.
    #[arg(long = "pid-file", value_name = "FILE")]
    pid_file: Option<PathBuf>,
    /// Do not use pivot_root (for a rootfs on a ramdisk): move it over / and chroot.
    #[arg(long = "no-pivot")]
    no_pivot: bool,
    /// Accepted for runc compatibility; holm does not create session keyrings.
    #[arg(long = "no-new-keyring", hide = true)]
    no_new_keyring: bool,
    /// Pass N extra file descriptors (3 .. 3+N-1) to the container.
    #[arg(long = "preserve-fds", default_value_t = 0, value_name = "N")]
    preserve_fds: i32,
    /// Container id.
    id: String,
}

#[derive(Subcommand)]
enum Cmd {
    /// Create a container; it waits for `start`.
    Create(CreateArgs),
    /// Start a created container's process.
    Start {
        /// Container id.
        id: String,
    },
    /// Create and start a container; in the foreground, wait and exit with its code.
    Run {
        #[command(flatten)]
        create: CreateArgs,
        /// Return once the container runs.
        #[arg(short, long)]
        detach: bool,
        /// Do not delete the container after it exits (runc 1.2): it stays `stopped` until `delete`.
        #[arg(long)]
        keep: bool,
    },
    /// Print the container's OCI state as JSON.
    State {
        /// Container id.
        id: String,
    },
    /// Send a signal (default SIGTERM) to the container's init.
    Kill {
        /// Signal every process in the container's cgroup.
        #[arg(short, long)]
        all: bool,
        /// Container id.
        id: String,
        /// Signal name (KILL, SIGTERM, RTMIN+1) or number.
        #[arg(default_value = "SIGTERM")]
        signal: String,
    },
    /// Delete a container and everything it holds.
    Delete {
        /// Kill the container first if it still runs.
        #[arg(short, long)]
        force: bool,
        /// Container id.
        id: String,
    },
    /// Print the runtime-spec features JSON: what this build implements on this host.
    Features,
    /// Checkpoint a running container with CRIU (not implemented: says so and exits 1).
    Checkpoint(compat::CriuArgs),
    /// Restore a container from a CRIU checkpoint (not implemented: says so and exits 1).
    Restore(compat::CriuArgs),
    /// List containers.
    List {
        /// Output format.
        #[arg(short, long, value_enum, default_value_t = ListFormat::Table)]
        format: ListFormat,
        /// Print only ids.
        #[arg(short, long)]
        quiet: bool,
    },
    /// Run a new process inside a created or running container.
    Exec(exec_cmd::ExecArgs),
    /// Suspend every process of the container (cgroup freezer).
    Pause {
        /// Container id.
        id: String,
    },
    /// Resume a paused container.
    Resume {
        /// Container id.
        id: String,
    },
    /// Change a container's resource limits (runc's flags, or --resources FILE|-).
    Update(cgroup_cmds::UpdateArgs),
    /// List the processes running in a container (host `ps` filtered to the container, or JSON pids).
    Ps(cgroup_cmds::PsArgs),
    /// Print the container's resource usage and OOM events as JSON (runc's events).
    Events(cgroup_cmds::EventsArgs),
    /// The VM shim of one container (started by `create --isolation vm`; not for direct use).
    #[command(name = "vm-shim", hide = true)]
    VmShim {
        /// The container's state directory.
        dir: PathBuf,
    },
    /// Write a default config.json into the bundle.
    Spec {
        /// Bundle directory.
        #[arg(short, long, default_value = ".", value_name = "DIR")]
        bundle: PathBuf,
        /// Make a spec for a rootless container (user namespace mapping the caller).
        #[arg(long)]
        rootless: bool,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum ListFormat {
    Table,
    Json,
}

fn main() {
    let cli = Cli::parse();
    log::init(cli.log.as_deref(), cli.log_format, cli.debug);
    match dispatch(cli) {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            log::error(&format!("{e:#}"));
            std::process::exit(1);
        }
    }
}

/// `--preserve-fds N`: N must be non-negative and fds 3..3+N must be open in this process (otherwise the
/// runtime's own fds could end up in the container).
pub(crate) fn check_preserve_fds(n: i32) -> anyhow::Result<()> {
    if n < 0 {
        bail!("--preserve-fds: expected a non-negative number, got {n}");
    }
    let Some(end) = n.checked_add(3) else {
        bail!("--preserve-fds {n}: too many file descriptors");
    };
    if let Some(fd) = (3..end).find(|fd| !holm_sys::fs::fd_is_open(*fd)) {
        bail!("--preserve-fds {n}: file descriptor {fd} is not open");
    }
    Ok(())
}

fn create_options(a: &CreateArgs) -> anyhow::Result<CreateOptions> {
    crate::check_preserve_fds(a.preserve_fds)?;
    Ok(CreateOptions {
        id: a.id.clone(),
        bundle: a.bundle.clone(),
        pid_file: a.pid_file.clone(),
        console_socket: a.console_socket.clone(),
        no_pivot: a.no_pivot,
        preserve_fds: a.preserve_fds,
    })
}

fn dispatch(cli: Cli) -> anyhow::Result<i32> {
    if let Cmd::VmShim { dir } = &cli.cmd {
        // The ready pipe is fd 3 (see vm_cmds::create): owned here from a duplicate, the inherited number closed
        // so that the pipe ends when the shim's report is written.
        let ready = holm_sys::fs::dup_raw(3).context("vm-shim: fd 3 (the ready pipe)")?;
        holm_sys::process::close_inherited(3);
        return Ok(holm_vm::shim::run(dir, std::fs::File::from(ready)));
    }
    if matches!(cli.cmd, Cmd::Create(_) | Cmd::Run { .. }) {
        compat::check_create_flags(cli.systemd_cgroup, cli.rootless)?;
    }
    let store = Store::new(&cli.root);
    // The VM path: create/run decide from the flag, the binary's name or the annotation; the verbs below that
    // differ for a VM container find it in the state directory.
    let vm_kernel = cli.vm_kernel.as_deref();
    match &cli.cmd {
        Cmd::Create(a) if vm_cmds::wants_vm(cli.isolation, &a.bundle)? => {
            vm_cmds::create(&store, &create_options(a)?, vm_kernel)?;
            return Ok(0);
        }
        Cmd::Run {
            create,
            detach,
            keep,
        } if vm_cmds::wants_vm(cli.isolation, &create.bundle)? => {
            let mut warn = |e: &holm_container::Error| log::warn(&e.to_string());
            return vm_cmds::run(
                &store,
                &create_options(create)?,
                *detach,
                *keep,
                vm_kernel,
                &mut warn,
            );
        }
        Cmd::Start { id } if vm_cmds::is_vm(&store, id) => {
            vm_cmds::start(&store, id)?;
            return Ok(0);
        }
        Cmd::Kill { all, id, signal } if vm_cmds::is_vm(&store, id) => {
            vm_cmds::kill(&store, id, holm_sys_signal(signal)?, *all)?;
            return Ok(0);
        }
        Cmd::Delete { force, id } if vm_cmds::is_vm(&store, id) => {
            let mut warn = |e: &holm_container::Error| log::warn(&e.to_string());
            vm_cmds::delete(&store, id, *force, &mut warn)?;
            return Ok(0);
        }
        Cmd::Exec(a) if vm_cmds::is_vm(&store, a.id()) => {
            return Ok(exec_cmd::run_vm(&store, a));
        }
        Cmd::Ps(a) if vm_cmds::is_vm(&store, a.id()) => {
            vm_cmds::ps(&store, a.id(), a.json())?;
            return Ok(0);
        }
        Cmd::Update(a) if vm_cmds::is_vm(&store, a.id()) => {
            vm_update::update(&store, a.id(), &cgroup_cmds::resources(a)?)?;
            return Ok(0);
        }
        _ => {}
    }
    // Verbs that put a runtime process inside a container run from a sealed in-memory copy of this binary, so
    // nothing inside can reach (and overwrite) the binary on the host through /proc/<pid>/exe (CVE-2019-5736).
    if matches!(cli.cmd, Cmd::Create(_) | Cmd::Run { .. } | Cmd::Exec(_)) {
        holm_sys::process::protect_exe()
            .context("protecting the runtime binary (read-only re-exec)")?;
    }
    // Verbs that only print: a reader that goes away (`events ID | head -1`) ends them silently by SIGPIPE, as
    // it ends runc (a Go program), instead of a "Broken pipe" error.
    if matches!(
        cli.cmd,
        Cmd::Events(_) | Cmd::List { .. } | Cmd::State { .. } | Cmd::Ps(_) | Cmd::Features
    ) {
        holm_sys::signal::default_sigpipe()?;
    }
    let mut warn = |e: &holm_container::Error| log::warn(&e.to_string());
    match cli.cmd {
        Cmd::Create(a) => {
            holm_container::create(&store, &create_options(&a)?)?;
        }
        Cmd::Start { id } => holm_container::start(&store, &id, &mut warn)?,
        Cmd::Run {
            create,
            detach,
            keep,
        } => {
            let opts = RunOptions {
                create: create_options(&create)?,
                detach,
                keep,
            };
            return Ok(holm_container::run(&store, &opts, &mut warn)?);
        }
        Cmd::State { id } => {
            let s = holm_container::state(&store, &id)?;
            println!("{}", serde_json::to_string_pretty(&s)?);
        }
        Cmd::Kill { all, id, signal } => {
            let sig = holm_sys_signal(&signal)?;
            holm_container::kill(&store, &id, sig, all)?;
        }
        Cmd::Delete { force, id } => holm_container::delete(&store, &id, force, &mut warn)?,
        Cmd::Features => println!(
            "{}",
            serde_json::to_string_pretty(&holm_container::features::features())?
        ),
        Cmd::List { format, quiet } => print_list(&holm_container::list(&store)?, format, quiet)?,
        Cmd::Exec(a) => return Ok(exec_cmd::run(&store, a)),
        Cmd::Pause { id } => cgroup_cmds::pause(&store, &id)?,
        Cmd::Resume { id } => cgroup_cmds::resume(&store, &id)?,
        Cmd::Update(a) => cgroup_cmds::update(&store, &a)?,
        Cmd::Ps(a) => cgroup_cmds::ps(&store, &a)?,
        Cmd::Events(a) => cgroup_cmds::events(&store, &a)?,
        Cmd::Spec { bundle, rootless } => write_spec(&bundle, rootless)?,
        Cmd::VmShim { .. } => unreachable!("handled above"),
        Cmd::Checkpoint(a) => compat::criu_verb("checkpoint", &a, cli.criu.as_deref())?,
        Cmd::Restore(a) => compat::criu_verb("restore", &a, cli.criu.as_deref())?,
    }
    Ok(0)
}

/// `kill`'s SIGNAL: a name or a number 1-64, or 0, which runc accepts too (kill(2)'s existence check: nothing is
/// sent, the exit code says whether the init is there).
fn holm_sys_signal(s: &str) -> anyhow::Result<i32> {
    if s == "0" {
        return Ok(0);
    }
    holm_sys::signal::parse_signal(s).with_context(|| {
        format!("invalid signal {s:?}: expected a name like KILL or SIGTERM, or a number 0-64")
    })
}

fn print_list(list: &[OciState], format: ListFormat, quiet: bool) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    if quiet {
        for s in list {
            writeln!(out, "{}", s.id)?;
        }
        return Ok(());
    }
    match format {
        ListFormat::Json => {
            serde_json::to_writer(&mut out, list)?;
            writeln!(out)?;
        }
        ListFormat::Table => {
            let header = ["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"];
            let rows: Vec<[String; 6]> = list
                .iter()
                .map(|s| {
                    [
                        s.id.clone(),
                        s.pid.to_string(),
                        s.status.to_string(),
                        s.bundle.display().to_string(),
                        s.created.clone(),
                        s.owner.clone(),
                    ]
                })
                .collect();
            let mut w = [0usize; 6];
            for (i, h) in header.iter().enumerate() {
                w[i] = rows
                    .iter()
                    .map(|r| r[i].len())
                    .chain([h.len()])
                    .max()
                    .unwrap_or(0)
                    .max(9)
                    + 3;
            }
            let line = |cells: [&str; 6]| {
                cells
                    .iter()
                    .enumerate()
                    .map(|(i, c)| {
                        if i == 5 {
                            c.to_string()
                        } else {
                            format!("{c:<w$}", w = w[i])
                        }
                    })
                    .collect::<String>()
            };
            writeln!(out, "{}", line(header))?;
            for r in &rows {
                writeln!(out, "{}", line([&r[0], &r[1], &r[2], &r[3], &r[4], &r[5]]))?;
            }
        }
    }
    Ok(())
}

fn write_spec(bundle: &std::path::Path, rootless: bool) -> anyhow::Result<()> {
    let path = bundle.join("config.json");
    let text = holm_container::defaults::spec_json(rootless)?;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
        .with_context(|| format!("write {}", path.display()))?;
    f.write_all(text.as_bytes())
        .with_context(|| format!("write {}", path.display()))?;
    Ok(())
}
