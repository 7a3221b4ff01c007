//! `holm run --isolation vm` (issue 13): the container runs inside its own qemu microVM, through the same path
//! `holm-runtime --isolation vm` takes (its VM shim, `holm_vm`'s jail and network hand-over): the engine drives the
//! `holm-runtime` binary as the container's OCI runtime (as dockerd and podman do), with the annotation
//! `org.holm.isolation: vm` in `config.json` (so every verb of the runtime knows the container is a VM).
//!
//! What differs from a process container in the engine:
//!
//! - The network namespace exists before the runtime's `create` (the shim hands its interface to the guest at
//!   boot): the monitor makes it ([`NetnsHolder`]: a child that unshares a network namespace, bind-mounted on
//!   `<runroot>/netns/<id>`, the path `config.json` names), networks it as for a process container (veth, address,
//!   `-p` DNAT), and only then calls `create`. The bind mount is removed when the container's resources are
//!   released ([`release_netns`]).
//! - The monitor supervises the runtime's VM shim (the runtime's `--pid-file`; it exits with the container's exit
//!   code); the recorded pid (`State.Pid`) is the VMM's, as the runtime's `state.pid`.
//! - `-t`: the runtime sends the master of a host pty, whose peer its VM shim relays to the guest's pty (window size
//!   changes included), so the monitor's terminal handling is the same as for a process container.
//! - More than one network (the API's create with several `EndpointsConfig`, or `network connect` of a created or
//!   stopped VM container): the monitor networks the namespace as for a process container (`eth0`, `eth1`…) and
//!   the runtime hands every interface to the guest, one NIC each. A running or paused VM cannot take a NIC
//!   (microvm has no hotplug): `network connect`/`disconnect` of one is refused ([`refuse_running_nic_change`]).
//! - Refused with a one-line error naming the flag: `--runtime`, `--network host`, `--network container:X`; also
//!   joining a VM container's network namespace ([`crate::network`]).
//! - `exec` goes through the runtime's exec as for any `--runtime` ([`crate::exec`]): `-t` makes it relay holm's
//!   terminal to a guest pty (holm passes SIGWINCH on), `-d` returns once the process runs in the guest.
//! - A healthcheck runs through the runtime's exec in the foreground.
//! - `--vm-kernel PATH` (holm's own flag) picks the guest kernel: checked at create (exit 125 naming the path),
//!   passed to the runtime as `HOLM_VM_KERNEL` by the monitor. holm has no configuration file; without the flag,
//!   `$HOLM_VM_KERNEL` (in holm's environment, which the monitor and runtime inherit) or the default kernel.

use crate::config::RunConfig;
use crate::{Engine, Error, Result};
use oci_spec::runtime::Spec;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// The annotation holm-runtime reads to run a bundle in a VM (`vm` or `process`).
pub const ANNOTATION: &str = "org.holm.isolation";
/// The runtime binary's name, looked up next to `holm` and then in `PATH`.
pub const RUNTIME_NAME: &str = "holm-runtime";
/// `--isolation`'s accepted values.
pub const VALUES: &str = "default, process, vm";

/// docker's `--isolation` value (`HostConfig.Isolation`), checked: `""` (not given), `default`, `process` or
/// `vm`. Errors: any other value, naming `--isolation` and the accepted values.
pub fn parse_isolation(v: &str) -> Result<String> {
    match v {
        "" | "default" | "process" | "vm" => Ok(v.to_string()),
        _ => Err(Error::flag(
            "--isolation",
            v,
            format!("accepted values: {VALUES}"),
        )),
    }
}

/// What a VM container's runtime would refuse only once it starts, checked at create with its own parsers (one
/// line, exit 125): an unknown key in holm's `org.holm.vm.` annotation namespace, the TCG cache annotation (`org.holm.vm.tcg-tb-size`, a whole number of MiB in range) and a
/// `--cpuset-cpus` naming a CPU the VM will not have (its vCPUs are `0..N`, N from `--cpus`, else the number of
/// CPUs in the list, at most the host's). Errors: [`Error::InvalidFlag`] naming `--annotation` or
/// `--cpuset-cpus`.
pub fn validate(cfg: &RunConfig) -> Result<()> {
    if let Err(e) = holm_vm::annotations::check(cfg.annotations.keys()) {
        let kv = format!("{}={}", e.key, cfg.annotations[&e.key]);
        return Err(Error::flag("--annotation", &kv, e.to_string()));
    }
    if let Some(v) = cfg.annotations.get(holm_vm::qemu::TCG_TB_SIZE_ANNOTATION) {
        if let Err(e) = holm_vm::qemu::tcg_tb_size_mib(&cfg.annotations) {
            let kv = format!("{}={v}", holm_vm::qemu::TCG_TB_SIZE_ANNOTATION);
            return Err(Error::flag("--annotation", &kv, e.to_string()));
        }
    }
    if let Some(list) = &cfg.cpuset_cpus {
        let host_cpus = std::thread::available_parallelism().map_or(1, |n| n.get() as u32);
        let quota = cfg.cpus.map(|c| (c * 100_000.0).round() as i64);
        // The runtime's own sizing (no memory limit given: it cannot fail).
        let vcpus = holm_vm::qemu::VmSize::from_resources(
            None,
            quota,
            Some(100_000),
            Some(list),
            host_cpus,
        )
        .map_or(1, |s| s.cpus);
        check_cpuset(list, vcpus)?;
    }
    Ok(())
}

/// Refuses the `--cpuset-cpus` list `list` when it names a CPU outside a VM's `vcpus` vCPUs `0..vcpus`.
/// Errors: [`Error::InvalidFlag`] naming `--cpuset-cpus`.
fn check_cpuset(list: &str, vcpus: u32) -> Result<()> {
    match holm_vm::cpuset::check_vcpus(list, vcpus) {
        Ok(()) => Ok(()),
        Err(e) => {
            let why = format!(
                "CPU {} is not among the VM's vCPUs 0-{} (the VM has {} vCPU{}: --cpus N gives N; in a VM \
                 --cpuset-cpus names vCPUs, not host CPUs)",
                e.cpu,
                e.vcpus - 1,
                e.vcpus,
                if e.vcpus == 1 { "" } else { "s" }
            );
            Err(Error::flag("--cpuset-cpus", list, why))
        }
    }
}

/// `holm update` of VM container `id` to the config `new` (the update applied), before anything changes: its
/// `--cpuset-cpus` must name only vCPUs of the VM that runs now (`live`: their number was fixed when it booted,
/// read from the runtime's launch file in its state directory `state_dir`) and of the VM its next start boots
/// (sized from `new`, as [`validate`] checks at create). Errors: [`Error::InvalidFlag`] naming `--cpuset-cpus`,
/// the same line as create's.
pub fn check_update(new: &RunConfig, live: bool, state_dir: &Path) -> Result<()> {
    let Some(list) = &new.cpuset_cpus else {
        return Ok(());
    };
    if live {
        // A VM whose launch file cannot be read is left to the runtime's own check (the same rule).
        let launch = std::fs::read(state_dir.join(holm_vm::shim_api::LAUNCH))
            .ok()
            .and_then(|t| serde_json::from_slice::<holm_vm::shim::Launch>(&t).ok());
        if let Some(l) = launch {
            check_cpuset(list, l.size.cpus)?;
        }
    }
    validate(new)
}

/// The `holm-runtime` binary that runs VM containers: `$HOLM_VM_RUNTIME` if set, else `holm-runtime` next to the
/// running `holm`, else in `PATH`. Errors name where it was looked for.
pub fn runtime_binary() -> Result<PathBuf> {
    if let Some(p) = std::env::var_os("HOLM_VM_RUNTIME").filter(|p| !p.is_empty()) {
        return crate::runtime::find_binary(&p.to_string_lossy()).map_err(|_| {
            Error::flag(
                "--isolation",
                "vm",
                format!(
                    "$HOLM_VM_RUNTIME {}: not an executable file",
                    PathBuf::from(&p).display()
                ),
            )
        });
    }
    let next = crate::monitor::holm_executable()
        .ok()
        .and_then(|e| e.parent().map(|d| d.join(RUNTIME_NAME)))
        .filter(|p| p.is_file());
    if let Some(p) = next {
        return Ok(p);
    }
    crate::runtime::find_binary(RUNTIME_NAME).map_err(|_| {
        Error::flag(
            "--isolation",
            "vm",
            format!("{RUNTIME_NAME} (which runs VM containers) was found neither next to holm nor in PATH"),
        )
    })
}

/// At create, for `--isolation vm`: refuses what a VM container cannot do yet and points `cfg.runtime` at
/// [`runtime_binary`]. Other isolations: nothing.
pub fn check_create(cfg: &mut RunConfig) -> Result<()> {
    if !cfg.is_vm() {
        if let Some(k) = &cfg.vm_kernel {
            return Err(Error::flag("--vm-kernel", k, "only with --isolation vm"));
        }
        return Ok(());
    }
    if let Some(k) = cfg.vm_kernel.take() {
        cfg.vm_kernel = Some(check_kernel(&k)?);
    }
    let refuse = |flag: &str, value: &str, why: &str| {
        Err(Error::flag(
            flag,
            value,
            format!("not supported with --isolation vm {why}"),
        ))
    };
    if let Some(r) = &cfg.runtime {
        return refuse("--runtime", r, "(the VM runs on holm-runtime)");
    }
    match crate::network::mode(cfg)? {
        holm_network::Mode::Host => {
            return refuse("--network", &cfg.network, "(the VM has its own kernel)")
        }
        holm_network::Mode::Container => return refuse("--network", &cfg.network, "yet"),
        _ => {}
    }
    cfg.runtime = Some(runtime_binary()?.display().to_string());
    Ok(())
}

/// `network connect`/`disconnect` (verb `what`) of network `net` for VM container `name` while it runs (or is
/// paused): refused, nothing changed, as the guest's NICs are fixed at boot (qemu's microvm has no hotplug).
/// One line, exit 1: what was refused, why and what to do.
pub fn refuse_running_nic_change(what: &str, net: &str, name: &str) -> Error {
    Error::NetworkRefused(format!(
        "cannot {what} network {net} while container {name} runs: it is a VM container (--isolation vm) and a running VM cannot add or remove a NIC; stop it first (holm stop {name}), {what}, then start it"
    ))
}

/// The NICs VM container config `cfg` boots with: one per network (the default bridge's and its user networks').
fn nic_count(cfg: &RunConfig) -> usize {
    match crate::network::mode(cfg) {
        Ok(holm_network::Mode::Bridge) => 1 + cfg.connected.len(),
        _ => crate::networks::attachments(cfg).len(),
    }
}

/// At create and at `network connect` of a VM container with config `cfg` and OCI `spec` (in bundle `bundle`):
/// refuses more NICs and shared directories than the microvm has virtio-mmio devices for
/// ([`holm_vm::qemu::VIRTIO_MMIO_SLOTS`], with the console and the balloon), one line counting them and naming
/// the limit. Other isolations: nothing.
pub fn check_devices(cfg: &RunConfig, spec: &Spec, bundle: &Path) -> Result<()> {
    if !cfg.is_vm() {
        return Ok(());
    }
    let shares = holm_vm::guest_spec::share_count(spec, bundle);
    holm_vm::qemu::check_devices(nic_count(cfg), shares)
        .map_err(|e| Error::NetworkRefused(e.to_string()))
}

/// `--vm-kernel PATH`: a readable kernel image (bzImage or ELF); returns its absolute path (the monitor may run
/// from another directory). Errors name the flag and the path: missing, unreadable, not a kernel image.
fn check_kernel(path: &str) -> Result<String> {
    use holm_vm::kernel::KernelError;
    let why = match holm_vm::kernel::find_kernel(Some(Path::new(path))) {
        Ok(k) => {
            return std::path::absolute(&k.path)
                .map(|p| p.display().to_string())
                .map_err(|e| Error::flag("--vm-kernel", path, e.to_string()))
        }
        Err(KernelError::Open { error, .. }) => error.to_string(),
        Err(KernelError::NotAKernel { .. }) => {
            "not a kernel image (expected an x86 bzImage or an ELF vmlinux)".to_string()
        }
        Err(e) => e.to_string(),
    };
    Err(Error::flag("--vm-kernel", path, why))
}

/// Chooses the VM's accelerator once for the runtime that boots it (`holm_vm::accel`: KVM when it boots the guest
/// kernel here, else TCG; cached per host) and passes it on in `HOLM_VM_ACCEL`, so the runtime's one-line notice
/// about a TCG fallback goes to the bundle's `runtime.log` instead of the container's stderr (its log). Must be
/// called from the single-threaded monitor (it sets environment variables: also `HOLM_VM_KERNEL` for the
/// container's `--vm-kernel`). Errors ([`is_setup_error`]): no guest kernel, no guest agent, or the probe could not
/// run.
pub fn choose_accel(engine: &Engine, id: &str, cfg: &RunConfig) -> Result<()> {
    let explicit = cfg.vm_kernel.as_deref().map(Path::new);
    let kernel = holm_vm::kernel::find_kernel(explicit).map_err(|e| setup_error(e.to_string()))?;
    // The runtime boots the same kernel: `--vm-kernel` reaches it as $HOLM_VM_KERNEL.
    if let Some(k) = explicit {
        std::env::set_var(holm_vm::kernel::KERNEL_ENV, k);
    }
    let agent = holm_vm::initramfs::agent_path();
    if !agent.is_file() {
        return Err(setup_error(format!(
            "guest agent {}: not found (build the static agent with scripts/build-agent.sh and set HOLM_VM_AGENT to the path it prints)",
            agent.display()
        )));
    }
    let choice =
        holm_vm::accel::select_accel(&kernel.path, &holm_vm::accel::ProbeOptions::default())
            .map_err(|e| setup_error(format!("choosing the accelerator: {e}")))?;
    if let Some(n) = choice.notice() {
        let log = engine.bundle(id).join("runtime.log");
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
        {
            let _ = writeln!(f, "{n}");
        }
    }
    std::env::set_var(holm_vm::accel::ACCEL_ENV, choice.accel.as_str());
    Ok(())
}

const SETUP: &str = "VM setup";

/// An error preparing a VM on the host (no guest kernel, the accelerator probe): exit code 125 whatever the
/// message says (see [`is_setup_error`]).
fn setup_error(msg: String) -> Error {
    Error::Io {
        what: SETUP.into(),
        source: std::io::Error::other(msg),
    }
}

/// True for an error of [`choose_accel`] (docker's 125 for a start that failed before the container's process:
/// not the 126/127 a message such as "No such file" would otherwise give).
pub fn is_setup_error(e: &Error) -> bool {
    matches!(e, Error::Io { what, .. } if what == SETUP)
}

/// Where a VM container's network namespace is bind-mounted while it runs.
pub fn netns_path(engine: &Engine, id: &str) -> PathBuf {
    engine.runroot().join("netns").join(id)
}

/// At create, for a VM container: the annotation that makes holm-runtime boot a VM, and the network namespace
/// at [`netns_path`] (made by the monitor before each start).
pub fn prepare_spec(engine: &Engine, id: &str, cfg: &RunConfig, spec: &mut Spec) {
    if !cfg.is_vm() {
        return;
    }
    let mut ann = spec.annotations().clone().unwrap_or_default();
    ann.insert(ANNOTATION.into(), "vm".into());
    spec.set_annotations(Some(ann));
    crate::network::join_netns(spec, netns_path(engine, id));
}

/// A new network namespace for a VM container, held by a child process (whose pid the engine's network setup
/// uses, as it uses a process container's init) and bind-mounted on [`netns_path`] (what the runtime joins). The
/// child ends when this is dropped; the bind mount stays until [`release_netns`]. On an error while making it,
/// what was made is undone.
pub struct NetnsHolder {
    pid: i32,
    hold: Option<std::io::PipeWriter>,
}

impl NetnsHolder {
    /// Makes the namespace and its bind mount. The caller must be single-threaded (it forks).
    pub fn new(engine: &Engine, id: &str) -> Result<NetnsHolder> {
        let path = netns_path(engine, id);
        // Whatever a crashed earlier run left.
        release_netns(engine, id)?;
        let (mut ready_r, ready_w) = std::io::pipe().map_err(Error::io("pipe"))?;
        let (hold_r, hold_w) = std::io::pipe().map_err(Error::io("pipe"))?;
        let pid = match holm_sys::process::fork()? {
            holm_sys::process::Fork::Child => {
                drop((ready_r, hold_w));
                let ok = holm_sys::ns::unshare(libc::CLONE_NEWNET).is_ok();
                let _ = (&ready_w).write_all(if ok { b"1" } else { b"0" });
                drop(ready_w);
                // Until the parent drops its end (or dies).
                let mut b = [0u8; 1];
                let _ = (&hold_r).read(&mut b);
                holm_sys::process::exit_now(0)
            }
            holm_sys::process::Fork::Parent(p) => p,
        };
        drop((ready_w, hold_r));
        let holder = NetnsHolder {
            pid,
            hold: Some(hold_w),
        };
        let mut b = [0u8; 1];
        if ready_r.read(&mut b).ok() != Some(1) || b[0] != b'1' {
            return Err(Error::Io {
                what: format!("network namespace of VM container {id}"),
                source: std::io::Error::other("unshare(CLONE_NEWNET) failed"),
            });
        }
        let dir = path.parent().expect("netns path has a parent");
        std::fs::create_dir_all(dir).map_err(Error::io(format!("create {}", dir.display())))?;
        std::fs::write(&path, b"").map_err(Error::io(format!("create {}", path.display())))?;
        let src = PathBuf::from(format!("/proc/{pid}/ns/net"));
        if let Err(e) = holm_sys::mount::mount(
            Some(&src),
            &path,
            None,
            libc::MS_BIND,
            None,
            &path.display().to_string(),
        ) {
            let _ = std::fs::remove_file(&path);
            return Err(e.into());
        }
        Ok(holder)
    }

    /// The holding child's pid (in the new namespace).
    pub fn pid(&self) -> i32 {
        self.pid
    }
}

impl Drop for NetnsHolder {
    fn drop(&mut self) {
        drop(self.hold.take());
        let _ = holm_sys::process::waitpid(self.pid, 0);
    }
}

/// Removes a VM container's network namespace bind mount (none is fine).
pub fn release_netns(engine: &Engine, id: &str) -> Result<()> {
    remove_ns_file(&netns_path(engine, id))
}

fn remove_ns_file(path: &Path) -> Result<()> {
    // Nothing there (also: a runroot that is not a directory).
    if std::fs::symlink_metadata(path).is_err() {
        return Ok(());
    }
    for _ in 0..8 {
        match holm_sys::mount::umount2(path, libc::MNT_DETACH) {
            Ok(()) => {}
            Err(e) if e.errno() == libc::EINVAL || e.errno() == libc::ENOENT => break,
            Err(e) => return Err(e.into()),
        }
    }
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io(format!("remove {}", path.display()))(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn isolation_values() {
        for v in ["", "default", "process", "vm"] {
            assert_eq!(parse_isolation(v).unwrap(), v);
        }
        let e = parse_isolation("hyperv").unwrap_err().to_string();
        assert!(e.contains("--isolation") && e.contains(VALUES), "{e}");
        assert!(!e.contains('\n'), "{e}");
    }
}
