//! Guest boot: the filesystems pid 1 mounts, the virtio-serial ports and the shares (the network: crate::netcfg).

use holm_sys::mount::mount;
use holm_vm_proto::{Share, ShareType};
use std::fs::File;
use std::path::{Path, PathBuf};

/// A boot step that failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A system call failed.
    #[error("{0}")]
    Sys(#[from] holm_sys::Error),
    /// A file operation failed.
    #[error("{what} `{path}`: {source}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// The path.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The virtio-serial port was not found.
    #[error("virtio-serial port `{0}` not found under /sys/class/virtio-ports (there: [{1}])")]
    NoPort(&'static str, String),
    /// A request's value is unusable.
    #[error("{field}: {msg}")]
    Invalid {
        /// The field.
        field: &'static str,
        /// What is wrong.
        msg: String,
    },
}

fn mkdir(p: &Path) -> Result<(), Error> {
    std::fs::create_dir_all(p).map_err(|source| Error::Io {
        what: "create directory",
        path: p.into(),
        source,
    })
}

fn mnt(
    src: &str,
    target: &str,
    fstype: &str,
    flags: libc::c_ulong,
    data: Option<&str>,
) -> Result<(), Error> {
    mkdir(Path::new(target))?;
    mount(
        Some(Path::new(src)),
        Path::new(target),
        Some(fstype),
        flags,
        data,
        &format!("{fstype} on {target}"),
    )?;
    Ok(())
}

/// Leaves the initramfs for a tmpfs root, as `switch_root` does: `pivot_root(2)` refuses to run when the current
/// root is the initial rootfs (`EINVAL`), and holm-container pivots into the container's root. `/init` is removed
/// first (the running agent stays in memory), so the initramfs holds no copy. Then `/` is a tmpfs mount that every
/// later mount namespace inherits.
pub fn leave_initramfs() -> Result<(), Error> {
    let _ = std::fs::remove_file("/init");
    mnt(
        "newroot",
        "/newroot",
        "tmpfs",
        libc::MS_NOSUID | libc::MS_NODEV,
        Some("mode=0755"),
    )?;
    let cd = |p: &str| {
        std::env::set_current_dir(p).map_err(|source| Error::Io {
            what: "chdir",
            path: p.into(),
            source,
        })
    };
    cd("/newroot")?;
    mount(
        Some(Path::new(".")),
        Path::new("/"),
        None,
        libc::MS_MOVE,
        None,
        "move /newroot to /",
    )?;
    holm_sys::fs::chroot(Path::new("."))?;
    cd("/")
}

/// Mounts the API filesystems pid 1 needs. The container gets cgroup v2 because the guest has only cgroup2.
pub fn mount_basics() -> Result<(), Error> {
    leave_initramfs()?;
    let nosuid_nodev_noexec = libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC;
    mnt("proc", "/proc", "proc", nosuid_nodev_noexec, None)?;
    mnt("sysfs", "/sys", "sysfs", nosuid_nodev_noexec, None)?;
    mnt(
        "devtmpfs",
        "/dev",
        "devtmpfs",
        libc::MS_NOSUID,
        Some("mode=0755"),
    )?;
    mnt(
        "devpts",
        "/dev/pts",
        "devpts",
        libc::MS_NOSUID | libc::MS_NOEXEC,
        Some("gid=5,mode=620,ptmxmode=666"),
    )?;
    mnt(
        "shm",
        "/dev/shm",
        "tmpfs",
        libc::MS_NOSUID | libc::MS_NODEV,
        Some("mode=1777"),
    )?;
    mnt(
        "cgroup2",
        "/sys/fs/cgroup",
        "cgroup2",
        nosuid_nodev_noexec,
        None,
    )?;
    mnt(
        "tmpfs",
        "/run",
        "tmpfs",
        libc::MS_NOSUID | libc::MS_NODEV,
        Some("mode=0755"),
    )?;
    mnt(
        "tmpfs",
        "/tmp",
        "tmpfs",
        libc::MS_NOSUID | libc::MS_NODEV,
        Some("mode=1777"),
    )?;
    attach_console();
    set_page_reporting_order();
    Ok(())
}

/// Free page reporting order the agent sets: the guest reports free blocks of 2^7 pages (512 KiB) and larger.
const PAGE_REPORTING_ORDER: u32 = 7;

/// Where Linux takes the free page reporting order (mm/page_reporting.c's module parameter, writable at run time).
const PAGE_REPORTING_ORDER_PARAM: &str =
    "/sys/module/page_reporting/parameters/page_reporting_order";

/// Lowers the free page reporting order to [`PAGE_REPORTING_ORDER`], so that the virtio-balloon device
/// (`free-page-reporting=on`) actually gets the guest's free memory reported and qemu discards it.
///
/// Linux 6.1 sets the order when the balloon driver registers, to `pageblock_order` (10 = 4 MiB in holm's kernel,
/// which has no hugetlbfs), overwriting the `page_reporting.page_reporting_order=` boot parameter. It reports only
/// while the zone has more than its low watermark plus 32 blocks of that order free (mm/page_reporting.c,
/// `PAGE_REPORTING_CAPACITY << order`): 128 MiB for order 10, i.e. never in a 128 MiB guest and only above 128 MiB
/// free in larger ones. Order 7 needs 16 MiB free. Measured 2026-12-07 (128 MiB guest, TCG): 50 MiB written to
/// and removed from a tmpfs stayed resident in qemu (77 MiB of guest RAM) with order 10 and went back to 28 MiB
/// within 2 s with order 7 (and 5). Best effort: a kernel without the parameter (no balloon driver, or a
/// user's `--vm-kernel`) just keeps its memory.
fn set_page_reporting_order() {
    let _ = std::fs::write(PAGE_REPORTING_ORDER_PARAM, PAGE_REPORTING_ORDER.to_string());
}

/// Puts the console on fds 0-2 if it can be opened now: the kernel may have started `/init` before the console
/// (hvc0) was registered, with the initramfs' `/dev/null` there instead. Best effort: without a console the agent
/// only loses its log lines.
fn attach_console() {
    use std::os::fd::AsFd;
    use std::os::unix::fs::OpenOptionsExt;
    for _ in 0..100 {
        if let Ok(c) = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NOCTTY)
            .open("/dev/console")
        {
            for fd in 0..3 {
                let _ = holm_sys::fs::dup_onto(c.as_fd(), fd);
            }
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

/// The agent's two channels.
pub struct Ports {
    /// `org.holm.control`.
    pub control: File,
    /// `org.holm.stdio`.
    pub stdio: File,
}

/// `/dev/vportNpM` of the port named `name` (`/sys/class/virtio-ports/vportNpM/name`).
fn find_port(name: &'static str) -> Result<Option<PathBuf>, Error> {
    let dir = Path::new("/sys/class/virtio-ports");
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(None);
    };
    for e in entries.flatten() {
        let n = std::fs::read_to_string(e.path().join("name")).unwrap_or_default();
        if n.trim_end() == name {
            return Ok(Some(Path::new("/dev").join(e.file_name())));
        }
    }
    Ok(None)
}

/// How long the agent waits for its ports in all.
const PORTS_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// After this long without any virtio-serial port, the console driver is re-bound to the device
/// ([`rebind_console_driver`]), once.
const PORTS_REBIND_AFTER: std::time::Duration = std::time::Duration::from_secs(3);

/// Opens both ports, waiting up to [`PORTS_TIMEOUT`] for the devices to be probed. If no port at all has shown up
/// after [`PORTS_REBIND_AFTER`], the virtio console driver is re-bound to its device once, which restarts the
/// port discovery (see [`rebind_console_driver`]). The error names the ports there are, and the virtio devices'
/// state goes to the kernel log ([`virtio_report`]).
///
/// `holm.rebind_ports` on the kernel command line re-binds the driver before the first look (a test hook: the
/// stall itself is rare, ~1 in 400 loaded boots).
pub fn open_ports() -> Result<Ports, Error> {
    let start = std::time::Instant::now();
    let mut rebound = false;
    let forced = std::fs::read_to_string("/proc/cmdline")
        .is_ok_and(|c| c.split_whitespace().any(|w| w == "holm.rebind_ports"));
    if forced {
        rebound = true;
        let r = rebind_console_driver();
        crate::kmsg(&format!(
            "holm-agent: re-bound the virtio console driver (holm.rebind_ports): {r}"
        ));
    }
    let mut open = |name: &'static str| -> Result<File, Error> {
        loop {
            if let Some(p) = find_port(name)? {
                if p.exists() {
                    return std::fs::OpenOptions::new()
                        .read(true)
                        .write(true)
                        .open(&p)
                        .map_err(|source| Error::Io {
                            what: "open port",
                            path: p,
                            source,
                        });
                }
            }
            let waited = start.elapsed();
            if waited >= PORTS_TIMEOUT {
                break;
            }
            if !rebound && waited >= PORTS_REBIND_AFTER && port_names().is_empty() {
                rebound = true;
                crate::kmsg(&format!(
                    "holm-agent: no virtio-serial port after {waited:?}: {}",
                    virtio_report()
                ));
                let r = rebind_console_driver();
                crate::kmsg(&format!(
                    "holm-agent: re-bound the virtio console driver: {r}"
                ));
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        crate::kmsg(&format!("holm-agent: {}", virtio_report()));
        Err(Error::NoPort(name, port_names().join(" ")))
    };
    Ok(Ports {
        control: open(holm_vm_proto::CONTROL_PORT)?,
        stdio: open(holm_vm_proto::STDIO_PORT)?,
    })
}

/// `vportNpM=NAME` for each virtio-serial port the guest has.
fn port_names() -> Vec<String> {
    std::fs::read_dir("/sys/class/virtio-ports")
        .map(|d| {
            d.flatten()
                .map(|e| {
                    let n = std::fs::read_to_string(e.path().join("name")).unwrap_or_default();
                    format!("{}={}", e.file_name().to_string_lossy(), n.trim_end())
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The virtio devices' state, one line: `virtioN device=0x0003 status=0x0000000f driver=virtio_console`, then
/// the virtio interrupt lines of `/proc/interrupts`, for a port that never showed up.
fn virtio_report() -> String {
    let mut out = Vec::new();
    let read = |p: &Path| {
        std::fs::read_to_string(p)
            .unwrap_or_default()
            .trim()
            .to_string()
    };
    if let Ok(d) = std::fs::read_dir("/sys/bus/virtio/devices") {
        for e in d.flatten() {
            let p = e.path();
            let driver = std::fs::read_link(p.join("driver"))
                .ok()
                .and_then(|l| l.file_name().map(|n| n.to_string_lossy().into_owned()))
                .unwrap_or_else(|| "none".into());
            out.push(format!(
                "{} device={} status={} driver={driver}",
                e.file_name().to_string_lossy(),
                read(&p.join("device")),
                read(&p.join("status")),
            ));
        }
    }
    for l in read(Path::new("/proc/interrupts")).lines() {
        if l.contains("virtio") {
            out.push(l.split_whitespace().collect::<Vec<_>>().join(" "));
        }
    }
    out.join("; ")
}

/// Unbinds and binds again the virtio console driver of each virtio-serial device (virtio device id 3), which
/// resets the device and makes the guest announce itself again (`VIRTIO_CONSOLE_DEVICE_READY`), to which qemu
/// answers with every port (`VIRTIO_CONSOLE_PORT_ADD`). For a port discovery that stalled: an announcement or
/// an answer that was never seen. Returns what was done, for the log.
fn rebind_console_driver() -> String {
    let drv = Path::new("/sys/bus/virtio/drivers/virtio_console");
    let mut done = Vec::new();
    let Ok(d) = std::fs::read_dir("/sys/bus/virtio/devices") else {
        return "no /sys/bus/virtio/devices".into();
    };
    for e in d.flatten() {
        let id = std::fs::read_to_string(e.path().join("device")).unwrap_or_default();
        if id.trim() != "0x0003" {
            continue;
        }
        let name = e.file_name().to_string_lossy().into_owned();
        let unbind = if e.path().join("driver").exists() {
            match std::fs::write(drv.join("unbind"), &name) {
                Ok(()) => "unbound".to_string(),
                Err(err) => format!("unbind: {err}"),
            }
        } else {
            "not bound".to_string()
        };
        let bind = match std::fs::write(drv.join("bind"), &name) {
            Ok(()) => "bound".to_string(),
            Err(err) => format!("bind: {err}"),
        };
        done.push(format!("{name}: {unbind}, {bind}"));
    }
    if done.is_empty() {
        "no virtio-serial device".into()
    } else {
        done.join("; ")
    }
}

/// Mounts a share (`9p` over virtio, or virtiofs) on its guest path.
pub fn mount_share(s: &Share) -> Result<(), Error> {
    if !s.guest_path.starts_with('/') {
        return Err(Error::Invalid {
            field: "share.guest_path",
            msg: format!("`{}` is not absolute", s.guest_path),
        });
    }
    let flags = if s.readonly { libc::MS_RDONLY } else { 0 };
    match s.fstype {
        // msize 500 KiB (virtio's largest): 9p's throughput grows with it (the default 8 KiB is slow); cache=mmap lets programs
        // mmap files (ld.so) without caching metadata the host may change.
        ShareType::NineP => mnt(
            &s.tag,
            &s.guest_path,
            "9p",
            flags,
            Some("trans=virtio,version=9p2000.L,msize=512000,cache=mmap,access=client"),
        ),
        ShareType::Virtiofs => mnt(&s.tag, &s.guest_path, "virtiofs", flags, None),
    }
}

/// What the host sends with `Create` ([`holm_vm_proto::CreateRequest::entropy`]): mixes `entropy` into the
/// kernel's pool and forces a CRNG reseed (`RNDADDENTROPY`, `RNDRESEEDCRNG` on `/dev/urandom`), then sets
/// `CLOCK_REALTIME` to the host's `realtime_ns`. Errors: [`Error::Invalid`] for more than
/// [`holm_vm_proto::MAX_ENTROPY`] bytes, [`Error::Sys`] for a failed call.
pub fn reseed_and_set_clock(entropy: &[u8], realtime_ns: Option<u64>) -> Result<(), Error> {
    if entropy.len() > holm_vm_proto::MAX_ENTROPY {
        return Err(Error::Invalid {
            field: "entropy",
            msg: format!(
                "{} bytes, at most {} expected",
                entropy.len(),
                holm_vm_proto::MAX_ENTROPY
            ),
        });
    }
    if !entropy.is_empty() {
        let dev = File::options()
            .write(true)
            .open("/dev/urandom")
            .map_err(|source| Error::Io {
                what: "open",
                path: "/dev/urandom".into(),
                source,
            })?;
        holm_sys::random::add_entropy_and_reseed(std::os::fd::AsFd::as_fd(&dev), entropy)?;
    }
    if let Some(ns) = realtime_ns {
        holm_sys::random::set_realtime_ns(ns)?;
    }
    Ok(())
}
