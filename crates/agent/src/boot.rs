//! Guest boot: the filesystems pid 1 mounts, the virtio-serial ports, the network and the shares.

use holm_sys::mount::mount;
use holm_vm_proto::{NetworkConfig, Share, ShareType};
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
    Ok(())
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

/// Opens both ports, waiting up to 10 s for the devices to be probed.
pub fn open_ports() -> Result<Ports, Error> {
    let open = |name: &'static str| -> Result<File, Error> {
        for _ in 0..1000 {
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
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        let found: Vec<String> = std::fs::read_dir("/sys/class/virtio-ports")
            .map(|d| {
                d.flatten()
                    .map(|e| {
                        let n = std::fs::read_to_string(e.path().join("name")).unwrap_or_default();
                        format!("{}={}", e.file_name().to_string_lossy(), n.trim_end())
                    })
                    .collect()
            })
            .unwrap_or_default();
        Err(Error::NoPort(name, found.join(" ")))
    };
    Ok(Ports {
        control: open(holm_vm_proto::CONTROL_PORT)?,
        stdio: open(holm_vm_proto::STDIO_PORT)?,
    })
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

fn parse_v4(field: &'static str, s: &str) -> Result<std::net::Ipv4Addr, Error> {
    s.parse().map_err(|_| Error::Invalid {
        field,
        msg: format!("`{s}` is not an IPv4 address"),
    })
}

/// Brings `lo` up and, if given, configures eth0: MTU, address, up, default route.
pub fn configure_network(net: Option<&NetworkConfig>) -> Result<(), Error> {
    let nl = holm_sys::netlink::Netlink::open()?;
    let lo = holm_sys::netlink::link_index("lo")?;
    nl.set_up(lo)?;
    let Some(n) = net else { return Ok(()) };
    let (addr, prefix) = n.address.split_once('/').ok_or_else(|| Error::Invalid {
        field: "network.address",
        msg: format!("`{}` is not ADDRESS/PREFIX", n.address),
    })?;
    let addr = parse_v4("network.address", addr)?;
    let prefix: u8 = prefix
        .parse()
        .ok()
        .filter(|p| *p <= 32)
        .ok_or_else(|| Error::Invalid {
            field: "network.address",
            msg: format!("prefix `{prefix}` is not 0..=32"),
        })?;
    let idx = holm_sys::netlink::link_index(&n.interface)?;
    if let Some(mtu) = n.mtu {
        nl.set_mtu(idx, mtu)?;
    }
    nl.add_addr(
        idx,
        &holm_sys::netlink::Addr {
            family: libc::AF_INET as u8,
            prefix_len: prefix,
            local: Some(addr.octets().to_vec()),
            address: Some(addr.octets().to_vec()),
        },
    )?;
    nl.set_up(idx)?;
    if let Some(gw) = &n.gateway {
        nl.add_default_route_v4(idx, parse_v4("network.gateway", gw)?.octets())?;
    }
    Ok(())
}
