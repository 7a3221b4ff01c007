//! holm-agent: pid 1 of the guest of a VM-isolated container (DESIGN.md "VM isolation").
//!
//! Boot ([`boot`]): mount `/proc`, `/sys`, `/dev` (devtmpfs), `/dev/pts`, `/dev/shm`, `/sys/fs/cgroup` (cgroup2),
//! `/run`, `/tmp`; find the virtio-serial ports `org.holm.control` and `org.holm.stdio` by name; announce
//! [`holm_vm_proto::Event::Ready`]. Then serve the host's requests ([`server`]) in ONE thread with `poll(2)`:
//! holm-container forks, and a single-threaded process is the only kind that may (DESIGN.md). The container is
//! built by holm-container exactly as `holm-runtime` builds it (namespaces, cgroup v2, capabilities, seccomp,
//! masked paths), except that it keeps the guest's network namespace, where eth0 is. When the control channel
//! closes, on `Shutdown`, or on a fatal error, the agent kills the container and ends the VM (a reboot, which
//! qemu's `-no-reboot` turns into its exit).
//!
//! Limits: a stream's `Exited` waits for its output to end, so a background process that keeps an exec's stdout
//! open delays that exec's exit report until it exits too (the container's own exit ends every process with its pid
//! namespace); `StdinClose` on a pty is ignored (the host sends ^D as data, as a terminal would).
//!
//! Built static (glibc static-pie) by `scripts/build-agent.sh`; holm finds it as `holm-agent` next to its own
//! executable or at `$HOLM_VM_AGENT` (`holm_vm::initramfs::agent_path`).
#![forbid(unsafe_code)]

mod boot;
mod netcfg;
mod procs;
mod psrow;
mod server;
mod sysctl;

use std::io::Write;

/// Writes one line to the guest console (`/dev/console`, the kernel gave it to pid 1 as fd 2).
pub(crate) fn log(msg: std::fmt::Arguments<'_>) {
    let _ = writeln!(std::io::stderr(), "holm-agent: {msg}");
}

/// Writes one line to the kernel log at `KERN_ERR` (`/dev/kmsg`): unlike the agent's stderr, it reaches the console
/// even when `/dev/console` could not be given to pid 1 (the kernel replays its log when hvc0 registers), and
/// `quiet` does not hide that level. Best effort.
pub(crate) fn kmsg(line: &str) {
    if let Ok(mut f) = std::fs::OpenOptions::new().write(true).open("/dev/kmsg") {
        let _ = f.write_all(format!("<3>{line}\n").as_bytes());
    }
}

macro_rules! info {
    ($($t:tt)*) => { $crate::log(format_args!($($t)*)) };
}
pub(crate) use info;

fn main() {
    let pid1 = holm_sys::process::getpid() == 1;
    if !pid1 {
        // Outside a guest the agent would mount over the host's /proc and /dev: refuse.
        eprintln!(
            "holm-agent: must run as pid 1 of a holm VM guest (it is started by the guest kernel)"
        );
        std::process::exit(2);
    }
    if let Err(e) = run() {
        info!("fatal: {e}");
        kmsg(&format!("holm-agent: fatal: {e}"));
    }
    // A microvm guest has no ACPI to power off with: it "reboots", and qemu (-no-reboot) exits. The x86 restart
    // methods that need firmware or a keyboard controller hang in a microvm: ask for a triple fault (as the
    // `reboot=t` kernel parameter does; Documentation/ABI/testing/sysfs-kernel-reboot).
    let _ = std::fs::write("/sys/kernel/reboot/type", "triple");
    let e = holm_sys::process::reboot_now();
    info!("reboot: {e}");
    // pid 1 must not exit (the kernel would panic); wait for the end.
    loop {
        std::thread::sleep(std::time::Duration::from_secs(3600));
    }
}

fn run() -> Result<(), server::Error> {
    boot::mount_basics()?;
    let ports = boot::open_ports()?;
    server::Server::new(ports)?.serve()
}
