//! `--isolation vm`: the OCI verbs for a container that runs inside its own qemu microVM (DESIGN.md "VM
//! isolation"). `create` boots the VM through a shim process (`holm-runtime vm-shim`, see `holm_vm::shim`) and
//! records the container like any other; `state`, `list`, `pause`, `resume`, `events` and `delete` then work on
//! it with the process path's code (its init is the VMM: `state.pid` is qemu's host pid, in the container's
//! network namespace; its cgroup is the VMM's, so `pause` freezes the whole VM). `start`, `kill`, `exec`, `ps`
//! and `update` (crate::vm_update, which also changes the VMM's cgroup) are requests to the shim.
//!
//! How a container is chosen for a VM (create and run; later verbs read the choice from the state directory):
//! 1. the global flag `--isolation vm|process` when given;
//! 2. otherwise the binary's name: invoked as `holm-runtime-vm` (a symlink; for containerd's runc shim, which passes
//!    no extra argument), every container gets a VM — an annotation cannot opt out of it;
//! 3. otherwise the annotation [`ANNOTATION`] (`vm` or `process`) in config.json.
//!
//! Differences from a process container, on purpose: `--pid-file` names the shim, which exits with the container's
//! exit code when the init ends (engines that wait for that pid get the code; qemu's own exit status says nothing
//! about it); `ps` lists guest pids (its table: `ps -ef`'s columns from the guest's /proc); `pause` freezes the VMM.

use anyhow::{bail, Context};
use holm_container::state::{self, Saved, Status};
use holm_container::{CreateOptions, Store};
use holm_vm::shim_api::{self, Client, ShimReply, ShimRequest};
use std::io::Read;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

/// The annotation that selects the isolation of one container: `vm` or `process`.
pub const ANNOTATION: &str = "org.holm.isolation";
/// The binary name under which every container gets a VM.
pub const VM_ARGV0: &str = "holm-runtime-vm";
/// Where the initramfs holding the agent is cached.
pub const VM_CACHE: &str = "/var/lib/holm/vm";

/// `--isolation`'s values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Isolation {
    /// A container on the host's kernel (namespaces, cgroups).
    Process,
    /// The same container inside its own qemu microVM.
    Vm,
}

/// True if this process was invoked as [`VM_ARGV0`].
pub fn invoked_as_vm() -> bool {
    std::env::args_os()
        .next()
        .map(PathBuf::from)
        .and_then(|p| p.file_name().map(|n| n == VM_ARGV0))
        .unwrap_or(false)
}

/// Whether `create`/`run` of `bundle` runs in a VM (see the module doc for the order).
pub fn wants_vm(flag: Option<Isolation>, bundle: &Path) -> anyhow::Result<bool> {
    if let Some(f) = flag {
        return Ok(f == Isolation::Vm);
    }
    if invoked_as_vm() {
        return Ok(true);
    }
    // Only the annotation is needed here; spec::load reads and validates the whole config later.
    let path = bundle.join("config.json");
    let Ok(text) = holm_container::spec::read_capped(&path, "read") else {
        return Ok(false);
    };
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(&text) else {
        return Ok(false);
    };
    match v.get("annotations").and_then(|a| a.get(ANNOTATION)) {
        None => Ok(false),
        Some(serde_json::Value::String(s)) if s == "vm" => Ok(true),
        Some(serde_json::Value::String(s)) if s == "process" => Ok(false),
        Some(other) => {
            bail!("annotations.{ANNOTATION}: expected \"vm\" or \"process\", got {other}")
        }
    }
}

/// True if container `id` runs in a VM (its state directory says so).
pub fn is_vm(store: &Store, id: &str) -> bool {
    state::validate_id(id).is_ok() && store.root().join(id).join(shim_api::ISOLATION).is_file()
}

/// The network namespace path of a config (`linux.namespaces[type=network].path`).
/// Removes what a failed `create` made: the VMM and shim (if they run), the cgroup, the state directory.
struct CreateGuard {
    dir: PathBuf,
    netns: Option<PathBuf>,
    cgroup: Option<holm_cgroups::Cgroup>,
    pids: Vec<i32>,
    armed: bool,
}

impl Drop for CreateGuard {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        for &p in &self.pids {
            let _ = holm_sys::process::kill(p, libc::SIGKILL);
            let _ = holm_sys::process::waitpid(p, 0);
        }
        crate::vm_netns::unwire(&self.dir, self.netns.as_deref());
        if let Some(cg) = &self.cgroup {
            for _ in 0..200 {
                if cg.remove().is_ok() || !cg.exists() {
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The VM's cgroup limits: memory = guest + the VMM's overhead, CPU as the container's.
fn vmm_resources(
    spec: &oci_spec::runtime::Spec,
    size: holm_vm::qemu::VmSize,
    accel: holm_vm::qemu::Accel,
) -> anyhow::Result<oci_spec::runtime::LinuxResources> {
    use oci_spec::runtime::{LinuxCpuBuilder, LinuxMemoryBuilder, LinuxResourcesBuilder};
    let r = spec.linux().as_ref().and_then(|l| l.resources().as_ref());
    let mut b = LinuxResourcesBuilder::default();
    if r.and_then(|r| r.memory().as_ref())
        .and_then(|m| m.limit())
        .is_some_and(|l| l > 0)
    {
        b = b.memory(
            LinuxMemoryBuilder::default()
                .limit(size.cgroup_memory_bytes(accel) as i64)
                .build()?,
        );
    }
    if let Some(cpu) = r.and_then(|r| r.cpu().as_ref()) {
        let mut c = LinuxCpuBuilder::default();
        if let Some(q) = cpu.quota() {
            c = c.quota(q);
        }
        if let Some(p) = cpu.period() {
            c = c.period(p);
        }
        if let Some(s) = cpu.shares() {
            c = c.shares(s);
        }
        b = b.cpu(c.build()?);
    }
    Ok(b.build()?)
}

/// `create` of a VM container: boots the VM, creates the container inside (paused before its process runs), and
/// records it. Returns the VMM's pid.
pub fn create(
    store: &Store,
    opts: &CreateOptions,
    vm_kernel: Option<&Path>,
) -> anyhow::Result<i32> {
    let mut bundle = holm_container::spec::load(&opts.bundle)?;
    crate::vm_adjust::private_for_vm_peers(&mut bundle.spec);
    crate::vm_adjust::vm_peer_netns(&mut bundle.spec);
    let spec = &bundle.spec;
    let process = spec.process().as_ref();
    // A terminal: the console socket is connected first (a bad one fails before the VM boots).
    let console = match (
        process.and_then(|p| p.terminal()).unwrap_or(false),
        &opts.console_socket,
    ) {
        (false, _) => None,
        (true, None) => bail!(
            "process.terminal: a terminal with --isolation vm needs --console-socket (no terminal relay of its own yet)"
        ),
        (true, Some(p)) => Some(
            std::os::unix::net::UnixStream::connect(p)
                .with_context(|| format!("connect to console socket {}", p.display()))?,
        ),
    };
    if opts.preserve_fds > 0 {
        bail!("--preserve-fds: not supported with --isolation vm");
    }
    holm_vm::annotations::check(spec.annotations().iter().flatten().map(|(k, _)| k))?;
    let tcg_tb_mib = holm_vm::qemu::tcg_tb_size_mib(spec.annotations().iter().flatten())?;
    // Snapshot boot (holm_vm::snapshot): on unless the container's annotation or HOLM_VM_SNAPSHOT says off.
    let snapshot = holm_vm::snapshot::enabled(
        spec.annotations().iter().flatten(),
        std::env::var(holm_vm::snapshot::ENV).ok().as_deref(),
    )?;
    // A cpuset naming a CPU the VM will not have fails deep in the guest: refused here, before anything is made.
    let cpu = spec
        .linux()
        .as_ref()
        .and_then(|l| l.resources().as_ref())
        .and_then(|r| r.cpu().as_ref());
    if let Some(list) = cpu.and_then(|c| c.cpus().as_deref()) {
        let host_cpus = std::thread::available_parallelism().map_or(1, |n| n.get() as u32);
        let (quota, period) = (cpu.and_then(|c| c.quota()), cpu.and_then(|c| c.period()));
        let vcpus =
            holm_vm::qemu::VmSize::from_resources(None, quota, period, Some(list), host_cpus)?.cpus;
        holm_vm::cpuset::check_vcpus(list, vcpus)?;
    }
    let kernel = holm_vm::kernel::find_kernel(vm_kernel)?.path;
    let agent = holm_vm::initramfs::agent_path();
    if !agent.is_file() {
        bail!(
            "guest agent {}: not found (build the static agent with scripts/build-agent.sh and set HOLM_VM_AGENT to the path it prints)",
            agent.display()
        );
    }
    // Held until the VM booted (its qemu loaded the archive): the cache's pruning leaves it alone meanwhile.
    let initramfs = holm_vm::initramfs::ensure(&agent, Path::new(VM_CACHE))?;
    // KVM when it boots this kernel here (a bounded probe boot, cached per kernel, qemu and host kernel), else
    // TCG with a one-line notice; HOLM_VM_ACCEL=kvm|tcg forces.
    let choice = holm_vm::accel::select_accel(&kernel, &holm_vm::accel::ProbeOptions::default())?;
    if let Some(n) = choice.notice() {
        crate::log::warn(n.trim_start_matches("holm: "));
    }
    let accel = choice.accel;
    let resources = spec.linux().as_ref().and_then(|l| l.resources().as_ref());
    let host_cpus = std::thread::available_parallelism().map_or(1, |n| n.get() as u32);
    let mut size = holm_vm::qemu::VmSize::from_resources(
        resources
            .and_then(|r| r.memory().as_ref())
            .and_then(|m| m.limit()),
        resources
            .and_then(|r| r.cpu().as_ref())
            .and_then(|c| c.quota()),
        resources
            .and_then(|r| r.cpu().as_ref())
            .and_then(|c| c.period()),
        resources
            .and_then(|r| r.cpu().as_ref())
            .and_then(|c| c.cpus().as_deref()),
        host_cpus,
    )?;
    size.tcg_tb_mib = tcg_tb_mib;
    let cgroup_res = vmm_resources(spec, size, accel)?;
    let (netns_path, new_netns) = {
        let net = spec
            .linux()
            .as_ref()
            .and_then(|l| l.namespaces().as_ref())
            .and_then(|ns| {
                ns.iter()
                    .find(|n| n.typ() == oci_spec::runtime::LinuxNamespaceType::Network)
            });
        match net {
            None => (None, false),
            Some(n) => (n.path().clone(), n.path().is_none()),
        }
    };
    // A new network namespace that hooks fill (dockerd): made now, the hooks run before the boot (vm_netns.rs).
    #[allow(deprecated)]
    let early_hooks = new_netns
        && spec
            .hooks()
            .as_ref()
            .is_some_and(|h| h.create_runtime().is_some() || h.prestart().is_some());
    let holder = if early_hooks {
        Some(crate::vm_netns::Holder::spawn()?)
    } else {
        None
    };
    let (netns_path, new_netns) = match &holder {
        Some(h) => (Some(h.path()), false),
        None => (netns_path, new_netns),
    };

    let locked = store.create(&opts.id)?;
    let dir = locked.dir.clone();
    let mut guard = CreateGuard {
        dir: dir.clone(),
        netns: netns_path.clone(),
        cgroup: None,
        pids: Vec::new(),
        armed: true,
    };
    std::fs::write(dir.join(shim_api::ISOLATION), "vm\n")
        .with_context(|| format!("write {}", dir.join(shim_api::ISOLATION).display()))?;
    let plan = holm_vm::guest_spec::plan(
        &opts.id,
        spec,
        &bundle.dir,
        &bundle.rootfs,
        &dir.join("files"),
    )?;
    let h = holm_cgroups::Hierarchies::detect()?;
    let cgroups_path = spec
        .linux()
        .as_ref()
        .and_then(|l| l.cgroups_path().as_ref());
    let cg = holm_cgroups::Cgroup::resolve(
        &h,
        cgroups_path.map(|p| p.to_string_lossy()).as_deref(),
        &opts.id,
    )?;
    cg.create()?;
    guard.cgroup = Some(cg.clone());
    cg.apply(&cgroup_res)?;
    if let (Some(h), Some(hooks)) = (&holder, spec.hooks()) {
        let st = serde_json::json!({
            "ociVersion": holm_container::features::OCI_VERSION_MAX,
            "id": opts.id,
            "status": Status::Created,
            "pid": h.pid,
            "bundle": bundle.dir,
            "annotations": spec.annotations().clone().unwrap_or_default(),
        })
        .to_string();
        if let Some(hs) = hooks.create_runtime() {
            holm_container::hooks::run_all("createRuntime", hs, &st)?;
        }
        #[allow(deprecated)]
        if let Some(hs) = hooks.prestart() {
            holm_container::hooks::run_all("prestart", hs, &st)?;
        }
    }
    let launch = holm_vm::shim::Launch {
        id: opts.id.clone(),
        accel,
        size,
        kernel,
        initrd: initramfs.path.clone(),
        append: holm_vm::qemu::guest_cmdline(accel),
        shares: plan.shares,
        binds: plan.binds,
        request: plan.request,
        cgroup: Some(cg.clone()),
        netns_path,
        new_netns,
        keep_interfaces: crate::vm_adjust::is_pod_sandbox(spec),
        snapshot_dir: snapshot.then(holm_vm::snapshot::dir),
    };
    std::fs::write(dir.join(shim_api::LAUNCH), serde_json::to_vec(&launch)?).with_context(
        || {
            format!(
                "write the VM launch file {}",
                dir.join(shim_api::LAUNCH).display()
            )
        },
    )?;

    // With a terminal: a host pty whose master goes to the console socket and whose peer (raw: the guest's pty
    // does the line discipline) is the shim's stdio, relayed to the guest's pty (holm_vm::shim).
    let pty = console
        .as_ref()
        .map(|_| open_host_pty(process))
        .transpose()?;
    // The shim: fork + exec of this binary (this process is single-threaded), with the container's stdio (ours, or
    // the pty's peer) and the write end of a pipe at fd 3 on which it reports the boot.
    let (mut ready_r, ready_w) = std::io::pipe().context("pipe")?;
    let exe = std::env::current_exe().context("the runtime's own path")?;
    let argv: Vec<String> = vec![VM_ARGV0.into(), "vm-shim".into(), dir.display().to_string()];
    let exec = holm_sys::process::Exec::new(
        &exe,
        &argv,
        &std::env::vars()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>(),
    )?;
    let shim = match holm_sys::process::fork()? {
        holm_sys::process::Fork::Child => {
            let r = (|| -> holm_sys::Result<()> {
                // A foreground `run` blocks every signal while it creates (see `run`); the shim and qemu start
                // with none blocked.
                holm_sys::signal::set_mask(&holm_sys::signal::SigSet::empty())?;
                if let Some((_, peer, _)) = &pty {
                    for fd in 0..3 {
                        holm_sys::fs::dup_onto(peer.as_fd(), fd)?;
                    }
                }
                holm_sys::fs::dup_onto(ready_w.as_fd(), 3)?;
                holm_sys::fs::cloexec_from(4)?;
                holm_sys::process::setsid()?;
                Ok(())
            })();
            if r.is_ok() {
                let _ = exec.run();
            }
            holm_sys::process::exit_now(127)
        }
        holm_sys::process::Fork::Parent(p) => p,
    };
    guard.pids.push(shim);
    let shim_start = state::proc_start_time(shim).unwrap_or(0);
    // A state as the process path's `create` keeps it while it works (`created_done` false, the shim as its
    // pid): a `create` killed while the VM boots leaves a container that `list` shows (`creating` while the shim
    // runs, then `stopped`) and `delete` removes, as runc's, instead of an invisible VM.
    let mut saved = Saved {
        oci_version: holm_container::features::OCI_VERSION_MAX.into(),
        id: opts.id.clone(),
        pid: shim,
        pid_start: shim_start,
        bundle: bundle.dir.clone(),
        rootfs: bundle.rootfs.clone(),
        created: state::rfc3339(std::time::SystemTime::now()),
        owner: if holm_sys::process::geteuid() == 0 {
            "root".into()
        } else {
            holm_sys::process::geteuid().to_string()
        },
        annotations: spec
            .annotations()
            .clone()
            .unwrap_or_default()
            .into_iter()
            .collect(),
        created_done: false,
        cgroup: Some(cg.clone()),
        cgroup_foreign: Vec::new(),
        config: spec.clone(),
    };
    locked.save(&saved)?;
    // Recorded at once, after the state (so a container whose shim.pid exists is always listed): if this process
    // is killed while the VM boots, `delete --force` still finds the shim.
    std::fs::write(
        dir.join(shim_api::SHIM_PID),
        format!("{shim} {shim_start}\n"),
    )?;
    drop(ready_w);
    let mut report = String::new();
    ready_r
        .read_to_string(&mut report)
        .context("read the VM shim's report")?;
    drop(initramfs);
    let vmm = match serde_json::from_str::<holm_vm::shim::ReadyReport>(report.trim()) {
        Ok(holm_vm::shim::ReadyReport::Ready { vmm_pid }) => vmm_pid,
        Ok(holm_vm::shim::ReadyReport::Failed(e)) => bail!("{e}"),
        Err(_) => bail!(
            "the VM shim ended without reporting (see {})",
            dir.join("shim.log").display()
        ),
    };
    // runc's console protocol: the master with the pty's name as data.
    if let (Some(sock), Some((master, peer, num))) = (&console, pty) {
        drop(peer);
        holm_sys::socket::send_with_fds(
            sock.as_fd(),
            format!("/dev/pts/{num}").as_bytes(),
            &[master.as_fd()],
        )
        .context("send the terminal to the console socket")?;
    }
    saved.pid = vmm;
    saved.pid_start = state::proc_start_time(vmm).unwrap_or(0);
    saved.created_done = true;
    // `created` until start: the process path's marker (a plain file here; nothing blocks on it).
    std::fs::write(dir.join(state::EXEC_FIFO), "")?;
    locked.save(&saved)?;
    if let (Some(hooks), None) = (spec.hooks(), &holder) {
        let st = saved.hook_state(Status::Created).to_string();
        if let Some(h) = hooks.create_runtime() {
            holm_container::hooks::run_all("createRuntime", h, &st)?;
        }
        #[allow(deprecated)]
        if let Some(h) = hooks.prestart() {
            holm_container::hooks::run_all("prestart", h, &st)?;
        }
    }
    if let Some(p) = &opts.pid_file {
        let tmp = p.with_extension("holm-tmp");
        std::fs::write(&tmp, shim.to_string())
            .and_then(|_| std::fs::rename(&tmp, p))
            .with_context(|| format!("--pid-file {}", p.display()))?;
    }
    guard.pids.push(vmm);
    guard.armed = false;
    Ok(vmm)
}

/// A new pty on the host's devpts: (master, peer in raw mode, pty number); the window size is
/// `process.consoleSize` when set.
pub(crate) fn open_host_pty(
    process: Option<&oci_spec::runtime::Process>,
) -> anyhow::Result<(std::os::fd::OwnedFd, std::os::fd::OwnedFd, u32)> {
    use std::os::unix::fs::OpenOptionsExt;
    let master: std::os::fd::OwnedFd = std::fs::File::options()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NOCTTY | libc::O_CLOEXEC)
        .open("/dev/ptmx")
        .context("open /dev/ptmx")?
        .into();
    let (peer, num) = holm_sys::tty::open_peer(master.as_fd())?;
    holm_sys::tty::make_raw(peer.as_fd())?;
    if let Some(size) = process.and_then(|p| p.console_size()) {
        holm_sys::tty::set_winsize(peer.as_fd(), size.height() as u16, size.width() as u16)?;
    }
    Ok((master, peer, num))
}

fn client(store: &Store, id: &str) -> anyhow::Result<Client> {
    Ok(Client::connect(&store.root().join(id))?)
}

fn expect_ok(r: ShimReply) -> anyhow::Result<()> {
    match r {
        ShimReply::Ok => Ok(()),
        ShimReply::Error(e) => bail!("{e}"),
        other => bail!("unexpected reply from the VM shim: {other:?}"),
    }
}

/// `start` of a VM container.
pub fn start(store: &Store, id: &str) -> anyhow::Result<()> {
    let l = store.lock(id)?;
    let s = l.load()?;
    let status = l.status(&s);
    if status != Status::Created {
        return Err(holm_container::Error::BadState {
            id: id.into(),
            status: status.to_string(),
            msg: "cannot start a container that is not created".into(),
        }
        .into());
    }
    expect_ok(client(store, id)?.call(&ShimRequest::Start)?)?;
    let _ = std::fs::remove_file(l.dir.join(state::EXEC_FIFO));
    if let Some(h) = s
        .config
        .hooks()
        .as_ref()
        .and_then(|h| h.poststart().as_ref())
    {
        if let Err(e) = holm_container::hooks::run_all(
            "poststart",
            h,
            &s.hook_state(Status::Running).to_string(),
        ) {
            let _ = client(store, id).and_then(|mut c| {
                Ok(c.call(&ShimRequest::Kill {
                    signal: libc::SIGKILL,
                    all: true,
                })?)
            });
            bail!("container `{id}`: {e}; the container was stopped");
        }
    }
    Ok(())
}

/// How long `kill` waits for the shim's answer (the guest's) before it gives up on a guest that does not answer
/// (a stuck VMM, a wedged agent).
const KILL_REPLY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);
/// The same for SIGKILL, whose fallback (killing the VMM) ends the container as well.
const SIGKILL_REPLY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

/// `kill` of a VM container: the signal goes to the init in the guest (or every process with `all`) through the
/// shim. A paused (frozen) VM cannot act on it: SIGKILL then goes to the VMM itself, which is thawed so it dies
/// (the shim records 137), and another signal is handed to the shim without waiting, so the guest gets it when
/// resumed (pending until `resume`, as runc's). A running VM that does not answer within [`KILL_REPLY_TIMEOUT`]
/// (stuck; [`SIGKILL_REPLY_TIMEOUT`] for SIGKILL): SIGKILL falls back to killing the VMM; another signal is an error naming the wait. Without a shim
/// (killed), SIGKILL still ends the VM.
pub fn kill(store: &Store, id: &str, sig: i32, all: bool) -> anyhow::Result<()> {
    let l = store.lock(id)?;
    let s = l.load()?;
    let status = l.status(&s);
    if status == Status::Stopped {
        if all {
            return Ok(());
        }
        return Err(holm_container::Error::BadState {
            id: id.into(),
            status: status.to_string(),
            msg: "container not running".into(),
        }
        .into());
    }
    let kill_vmm = || -> anyhow::Result<()> {
        if s.init_alive() {
            holm_sys::process::kill(s.pid, libc::SIGKILL)?;
        }
        holm_container::cgroup_verbs::thaw_after_kill(&s, status, libc::SIGKILL);
        Ok(())
    };
    if status == Status::Paused && sig == libc::SIGKILL {
        log::debug!("kill {id}: paused: killing the VMM");
        return kill_vmm();
    }
    let mut c = match Client::connect(&l.dir) {
        Ok(c) => c,
        Err(e) if sig == libc::SIGKILL => {
            log::debug!("kill {id}: {e}; killing the VMM");
            return kill_vmm();
        }
        Err(e) => return Err(e.into()),
    };
    let req = ShimRequest::Kill { signal: sig, all };
    if status == Status::Paused {
        // The shim queues it for the guest, which takes it once thawed.
        c.send(&req, &[])?;
        return Ok(());
    }
    c.set_read_timeout(Some(if sig == libc::SIGKILL {
        SIGKILL_REPLY_TIMEOUT
    } else {
        KILL_REPLY_TIMEOUT
    }))?;
    match c.call(&req) {
        Ok(r) => expect_ok(r),
        Err(e) if sig == libc::SIGKILL => {
            log::debug!("kill {id}: {e}; killing the VMM");
            kill_vmm()
        }
        Err(holm_vm::shim_api::Error::Io(e))
            if matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ) =>
        {
            bail!(
                "kill {id}: the VM did not answer within {} s (its VMM or guest agent is stuck; SIGKILL ends it)",
                KILL_REPLY_TIMEOUT.as_secs()
            )
        }
        Err(e) => Err(e.into()),
    }
}

/// The shim's pid, if it still runs (same start time).
fn shim_pid(dir: &Path) -> Option<i32> {
    let t = std::fs::read_to_string(dir.join(shim_api::SHIM_PID)).ok()?;
    let mut it = t.split_whitespace();
    let pid: i32 = it.next()?.parse().ok()?;
    let start: u64 = it.next()?.parse().ok()?;
    (state::proc_start_time(pid) == Some(start)).then_some(pid)
}

/// `delete` of a VM container: the shim is killed first (force, or a created container), then the process path
/// removes the VMM (the container's init), its cgroup, the hooks' poststop and the state directory.
pub fn delete(
    store: &Store,
    id: &str,
    force: bool,
    warn: &mut dyn FnMut(&holm_container::Error),
) -> anyhow::Result<()> {
    let dir = store.root().join(id);
    let st = holm_container::state(store, id)
        .map(|s| s.status)
        .unwrap_or(Status::Stopped);
    if force || matches!(st, Status::Created | Status::Creating | Status::Stopped) {
        if let Some(p) = shim_pid(&dir) {
            let _ = holm_sys::process::kill(p, libc::SIGKILL);
            for _ in 0..500 {
                if !holm_sys::process::pid_exists(p) || state::proc_start_time(p).is_none() {
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
        }
    }
    // A `create` killed while the VM booted left no state.json: what it made is in the launch file (cgroup,
    // network namespace). qemu dies with its shim (parent-death signal); its cgroup is then removed here.
    if force && !dir.join(state::STATE_FILE).exists() {
        if let Ok(text) = std::fs::read(dir.join(shim_api::LAUNCH)) {
            if let Ok(l) = serde_json::from_slice::<holm_vm::shim::Launch>(&text) {
                if let Some(cg) = &l.cgroup {
                    for _ in 0..1000 {
                        let pids = cg.all_pids().unwrap_or_default();
                        if pids.is_empty() && (cg.remove().is_ok() || !cg.exists()) {
                            break;
                        }
                        for p in pids {
                            let _ = holm_sys::process::kill(p, libc::SIGKILL);
                        }
                        std::thread::sleep(std::time::Duration::from_millis(10));
                    }
                }
                crate::vm_netns::unwire(&dir, l.netns_path.as_deref());
            }
        }
    }
    // The wiring is read before the state directory goes, and undone once qemu (which holds the tap) is gone.
    let netns = holm_container::state::validate_id(id)
        .ok()
        .and_then(|_| store.lock(id).ok())
        .and_then(|l| l.load().ok())
        .and_then(|s| crate::vm_netns::netns_path(&s.config));
    let wiring = std::fs::read(dir.join(holm_vm::shim::NET_WIRING)).ok();
    holm_container::delete(store, id, force, warn)?;
    if let Some(w) = wiring {
        crate::vm_netns::unwire_saved(&w, netns.as_deref());
    }
    Ok(())
}

/// `ps` of a VM container: the guest pids (JSON), or runc's table (`ps -ef`'s columns, from the guest's `/proc`
/// through the agent; a uid is named from the host's `/etc/passwd`, as runc's host `ps` does).
pub fn ps(store: &Store, id: &str, json: bool) -> anyhow::Result<()> {
    let req = if json {
        ShimRequest::Ps
    } else {
        ShimRequest::PsTable
    };
    match client(store, id)?.call(&req)? {
        ShimReply::Pids(pids) => println!("{}", serde_json::to_string(&pids)?),
        ShimReply::Table { pids, rows } => {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
            let user = |uid: u32| {
                passwd
                    .lines()
                    .find_map(|l| {
                        let f: Vec<&str> = l.split(':').collect();
                        (f.len() > 2 && f[2] == uid.to_string()).then(|| f[0].to_string())
                    })
                    .unwrap_or_else(|| uid.to_string())
            };
            print!("{}", holm_vm::ps::table(&pids, &rows, now, &user));
        }
        ShimReply::Error(e) => bail!("{e}"),
        other => bail!("unexpected reply from the VM shim: {other:?}"),
    }
    Ok(())
}

/// Waits for the init's exit code, forwarding the signals this process receives to it (as runc's foreground
/// `run` does).
pub fn wait(store: &Store, id: &str) -> anyhow::Result<i32> {
    let dir = store.root().join(id);
    let mut c = match Client::connect(&dir) {
        Ok(c) => c,
        Err(_) => {
            return shim_api::read_exit_status(&dir).context("the VM ended without an exit status")
        }
    };
    c.send(&ShimRequest::Wait, &[])?;
    let mask = holm_sys::signal::SigSet::all();
    let old = holm_sys::signal::set_mask(&mask)?;
    let sfd = holm_sys::signal::signalfd(&mask)?;
    let res = (|| -> anyhow::Result<i32> {
        loop {
            let ready = holm_sys::process::poll_any(&[c.as_fd(), sfd.as_fd()], -1)?;
            if ready[1] {
                let sig = holm_sys::signal::read_signal(sfd.as_fd())?;
                if !matches!(
                    sig,
                    libc::SIGCHLD | libc::SIGWINCH | libc::SIGPIPE | libc::SIGURG
                ) {
                    if let Ok(mut k) = Client::connect(&dir) {
                        let _ = k.call(&ShimRequest::Kill {
                            signal: sig,
                            all: false,
                        });
                    }
                }
            }
            if ready[0] {
                return match c.recv() {
                    Ok(ShimReply::Exited(code)) => Ok(code),
                    Ok(ShimReply::Error(e)) => bail!("{e}"),
                    Ok(other) => bail!("unexpected reply from the VM shim: {other:?}"),
                    Err(_) => shim_api::read_exit_status(&dir)
                        .context("the VM ended without an exit status"),
                };
            }
        }
    })();
    let _ = holm_sys::signal::set_mask(&old);
    res
}

/// `run` of a VM container: create, start, and in the foreground wait, delete (unless `keep`) and return the exit
/// code. In the foreground every signal is blocked from the start, as runc's `run` handles them before it creates:
/// one that comes while the VM boots (a second under TCG) waits and reaches the init once it started, instead of
/// killing this process and leaving the VM running with no one to delete it.
pub fn run(
    store: &Store,
    opts: &CreateOptions,
    detach: bool,
    keep: bool,
    vm_kernel: Option<&Path>,
    warn: &mut dyn FnMut(&holm_container::Error),
) -> anyhow::Result<i32> {
    let old = if detach {
        None
    } else {
        Some(holm_sys::signal::set_mask(&holm_sys::signal::SigSet::all())?)
    };
    let r = (|| {
        create(store, opts, vm_kernel)?;
        if let Err(e) = start(store, &opts.id) {
            let _ = delete(store, &opts.id, true, &mut |_| {});
            return Err(e);
        }
        if detach {
            return Ok(0);
        }
        let code = wait(store, &opts.id)?;
        if !keep {
            delete(store, &opts.id, true, warn)?;
        }
        Ok(code)
    })();
    if let Some(old) = old {
        let _ = holm_sys::signal::set_mask(&old);
    }
    r
}
