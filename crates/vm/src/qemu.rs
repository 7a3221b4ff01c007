//! A typed builder for the `qemu-system-x86_64 -machine microvm` command line of one container's VM.
//!
//! Everything the VM talks to is a file descriptor its parent passes (virtio-serial ports on
//! `-chardev socket,fd=N`, the NIC on `-netdev tap,fd=N`), so the jail ([`crate::jail`]) needs no socket path or
//! `/dev/net/tun`. Shared directories (`-fsdev local` + `virtio-9p-device`) name paths *inside the jail*.
//! Options and device names: qemu 7.2's `docs/system/i386/microvm.rst`, `qemu-system-x86_64 -device help`.
//!
//! [`QemuBuilder::build`] returns the argv and the fds the launcher must place at the numbers the argv names
//! (3, 4, … in the order they were added).

use std::fmt::Write as _;
use std::os::fd::{OwnedFd, RawFd};
use std::path::{Path, PathBuf};

/// Where Debian's `qemu-system-x86` package installs the VMM.
pub const DEFAULT_QEMU: &str = "/usr/bin/qemu-system-x86_64";

/// Smallest guest memory holm gives a VM, in MiB: the guest kernel, the agent and a small container fit in it.
pub const MIN_MEMORY_MIB: u64 = 128;

/// The guest kernel's command line for a container's VM (qemu adds the `virtio_mmio.device=` entries).
///
/// - `console=hvc0`: the virtio console (the shim keeps it in `console.log`); `quiet`: only warnings and worse.
/// - `panic=-1 reboot=t`: a guest that panics reboots at once by triple fault (a microvm has no ACPI or keyboard
///   controller to reboot with), and qemu's `-no-reboot` turns that into its exit.
/// - `no_timer_check`: skip the boot-time check that the timer interrupt ticks (`timer_irq_works()` in
///   arch/x86/kernel/apic/io_apic.c). It busy-waits a fixed number of TSC cycles (~60 ms here) and panics with
///   "IO-APIC + timer doesn't work!" unless 4 PIT ticks arrived meanwhile. Under TCG the TSC follows the host
///   clock, but a PIT tick reaches the vCPU only when qemu's threads get the host CPU: on a loaded host the ticks
///   come late and a working guest panics before `/init`, before its console is up (so the failure looked like
///   the agent dying at boot). Measured with four boots at a time beside a CI run: 4 of 32 boots panicked
///   without the flag, 0 of 32 with it. Kata Containers passes the same flag to its guests.
pub const GUEST_CMDLINE: &str = "console=hvc0 quiet panic=-1 reboot=t no_timer_check";

/// What [`guest_cmdline`] adds to [`GUEST_CMDLINE`] under TCG: `nolapic_timer`. The kernel calibrates the local
/// APIC timer against the PIT by spinning for ~100 ms of guest time, then verifies it and, under TCG, rejects it
/// ("APIC timer disabled due to verification failure") and uses the PIT anyway; the flag skips straight to that
/// end. Measured 2026-12-07 (4+4 boots alternating, busybox `/init`): 0.84–1.23 s of qemu CPU with it, 1.16–1.43 s
/// without; each pair ~0.2 s less. Not under KVM: there the local APIC timer works and is the one to use.
pub const TCG_CMDLINE_EXTRA: &str = "nolapic_timer";

/// The guest kernel's command line for `accel`: [`GUEST_CMDLINE`], plus [`TCG_CMDLINE_EXTRA`] under TCG.
pub fn guest_cmdline(accel: Accel) -> String {
    match accel {
        Accel::Kvm => GUEST_CMDLINE.to_string(),
        Accel::Tcg => format!("{GUEST_CMDLINE} {TCG_CMDLINE_EXTRA}"),
    }
}

/// Guest memory when the container has no memory limit, in MiB. A VM needs a fixed size; qemu touches guest
/// pages only as the guest uses them, so an idle VM costs far less than this on the host.
pub const DEFAULT_MEMORY_MIB: u64 = 512;

/// Largest guest memory, in MiB (1 TiB): larger container limits are refused rather than silently cut.
pub const MAX_MEMORY_MIB: u64 = 1 << 20;

/// TCG's translation-block cache, in MiB (`-accel tcg,tb-size=`), unless the container asks for another size
/// ([`TCG_TB_SIZE_ANNOTATION`]). qemu 7.2's default for system emulation is 1 GiB, which a cgroup limit on the VMM
/// would have to allow for. qemu touches the cache as it fills it and never gives it back, even after a flush: the
/// guest kernel's boot alone translates ~23 MiB of host code (44 000 blocks, `info jit`), the agent and the
/// container more, so an idle VM holds the whole cache. 32 MiB (qemu's default before 5.2) caps that; a smaller
/// cache costs a busy guest retranslation (16 MiB: +40 % VMM CPU on a code-heavy Debian workload). Measured in
/// BENCHMARKS.md, "VM isolation".
pub const TCG_TB_SIZE_MIB: u64 = 32;

/// The annotation (`config.json` `annotations`) that sets a container's TCG cache size in MiB, e.g. `"16"` for
/// many idle containers (about 16 MiB less host memory each) or `"64"` for a code-heavy one. Ignored under KVM.
pub const TCG_TB_SIZE_ANNOTATION: &str = "org.holm.vm.tcg-tb-size";

/// Smallest and largest TCG cache [`TCG_TB_SIZE_ANNOTATION`] accepts, in MiB. qemu itself takes 1 MiB, but the
/// guest kernel's boot would then retranslate all the time; 1 GiB is qemu's own default.
pub const TCG_TB_SIZE_RANGE_MIB: std::ops::RangeInclusive<u64> = 8..=1024;

/// The TCG cache size a container's annotations ask for ([`TCG_TB_SIZE_ANNOTATION`]), or [`TCG_TB_SIZE_MIB`].
/// Errors: [`Error::BadTbSize`] for a value that is not a whole number of MiB in [`TCG_TB_SIZE_RANGE_MIB`].
pub fn tcg_tb_size_mib<'a>(
    annotations: impl IntoIterator<Item = (&'a String, &'a String)>,
) -> Result<u64, Error> {
    let Some((_, v)) = annotations
        .into_iter()
        .find(|(k, _)| k.as_str() == TCG_TB_SIZE_ANNOTATION)
    else {
        return Ok(TCG_TB_SIZE_MIB);
    };
    // Digits only: " 16" or "+16" is not a whole number of MiB, as for every other numeric value holm takes.
    match v.parse::<u64>() {
        Ok(n) if v.bytes().all(|b| b.is_ascii_digit()) && TCG_TB_SIZE_RANGE_MIB.contains(&n) => {
            Ok(n)
        }
        _ => Err(Error::BadTbSize(v.clone())),
    }
}

/// What the VMM itself needs beside guest memory, in MiB (qemu's heap, device state, the TCG cache of
/// `tcg_tb_mib` under TCG). The VMM's cgroup memory limit is guest memory + this ([`VmSize::cgroup_memory_bytes`]).
pub fn overhead_mib(accel: Accel, tcg_tb_mib: u64) -> u64 {
    match accel {
        Accel::Kvm => 64,
        Accel::Tcg => 64 + tcg_tb_mib,
    }
}

/// How qemu runs guest code (`-accel`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Accel {
    /// Hardware virtualization through `/dev/kvm` (`-accel kvm -cpu host`).
    Kvm,
    /// qemu's binary translator: slower, needs nothing from the host.
    Tcg,
}

impl Accel {
    /// The name qemu's `-accel` takes.
    pub fn as_str(self) -> &'static str {
        match self {
            Accel::Kvm => "kvm",
            Accel::Tcg => "tcg",
        }
    }
}

/// The host's memory (`MemTotal` of /proc/meminfo), in MiB; `None` when it cannot be read.
pub fn host_memory_mib() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let kib: u64 = text
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kib / 1024)
}

/// Errors building a qemu command line.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// `linux.resources.memory.limit` cannot size a VM.
    #[error(
        "linux.resources.memory.limit: expected at most {max} MiB for a VM (the host's memory), got {got} bytes"
    )]
    MemoryTooLarge {
        /// The limit, in bytes.
        got: i64,
        /// The largest guest: [`MAX_MEMORY_MIB`] or the host's memory, whichever is less.
        max: u64,
    },
    /// A string that would be spliced into a qemu option holds a character qemu cannot take there.
    #[error("{what}: {value:?} must be non-empty and hold only [A-Za-z0-9._-]")]
    BadName {
        /// Which field (`virtserialport name`, `9p mount tag`).
        what: &'static str,
        /// The value refused.
        value: String,
    },
    /// A TCG cache size ([`TCG_TB_SIZE_ANNOTATION`]) that is not a number of MiB in range.
    #[error(
        "annotations.org.holm.vm.tcg-tb-size: expected a whole number of MiB from {lo} to {hi}, got {0:?}",
        lo = TCG_TB_SIZE_RANGE_MIB.start(),
        hi = TCG_TB_SIZE_RANGE_MIB.end()
    )]
    BadTbSize(String),
    /// A MAC address that is not six colon-separated hex bytes.
    #[error("MAC address: expected six hex bytes like 02:42:ac:11:00:02, got {0:?}")]
    BadMac(String),
    /// More virtio devices than the microvm has virtio-mmio transports ([`VIRTIO_MMIO_SLOTS`]).
    #[error(
        "VM devices: {nics} network interface(s) and {shares} shared directories need {need} virtio-mmio devices \
         with the console and the balloon; the microvm has {VIRTIO_MMIO_SLOTS}"
    )]
    TooManyDevices {
        /// NICs asked for.
        nics: usize,
        /// Shares asked for (the rootfs, each bind-mounted directory, one for all bind-mounted files).
        shares: usize,
        /// The devices they and the fixed ones need.
        need: usize,
    },
}

/// The virtio-mmio transports of qemu's microvm as holm starts it: 8 (24 only with `ioapic2`, which qemu turns on
/// only with KVM's in-kernel irqchip; holm counts for the TCG case everywhere, measured: a 9th device is "No
/// 'virtio-bus' bus found"). Each virtio device takes one: the virtio-serial device (console and ports), each
/// share, each NIC and the balloon.
pub const VIRTIO_MMIO_SLOTS: usize = 8;

/// [`Error::TooManyDevices`] (counting all of them) if `nics` NICs and `shares` shares do not fit in
/// [`VIRTIO_MMIO_SLOTS`] with the virtio-serial device and the balloon.
pub fn check_devices(nics: usize, shares: usize) -> Result<(), Error> {
    let need = 2 + nics + shares;
    if need > VIRTIO_MMIO_SLOTS {
        return Err(Error::TooManyDevices { nics, shares, need });
    }
    Ok(())
}

/// The VM's size: guest memory and vCPUs, derived from the container's limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct VmSize {
    /// Guest memory (`-m`), in MiB.
    pub memory_mib: u64,
    /// vCPUs (`-smp`).
    pub cpus: u32,
    /// TCG's translation-block cache (`-accel tcg,tb-size=`), in MiB; unused under KVM. [`TCG_TB_SIZE_MIB`] unless
    /// the container's [`TCG_TB_SIZE_ANNOTATION`] says otherwise (and in states written before it existed).
    #[serde(default = "default_tb_size")]
    pub tcg_tb_mib: u64,
}

fn default_tb_size() -> u64 {
    TCG_TB_SIZE_MIB
}

impl VmSize {
    /// Sizes a VM from `linux.resources`:
    /// - memory: `memory.limit` rounded up to a MiB, at least [`MIN_MEMORY_MIB`]; [`DEFAULT_MEMORY_MIB`] without a
    ///   limit (absent or negative, the spec's "unlimited"). Errors: [`Error::MemoryTooLarge`] above
    ///   [`MAX_MEMORY_MIB`] or the host's memory (`MemTotal` of /proc/meminfo): qemu could not allocate it.
    /// - vCPUs: `cpu.quota / cpu.period` rounded up (docker's `--cpus`), else the number of CPUs in `cpu.cpus`
    ///   (a cpuset list such as `0-2,4`), else 1; never more than `host_cpus`, never less than 1.
    pub fn from_resources(
        memory_limit: Option<i64>,
        cpu_quota: Option<i64>,
        cpu_period: Option<u64>,
        cpuset: Option<&str>,
        host_cpus: u32,
    ) -> Result<VmSize, Error> {
        let memory_mib = match memory_limit {
            Some(b) if b > 0 => {
                let mib = (b as u64).div_ceil(1 << 20);
                let max = host_memory_mib().map_or(MAX_MEMORY_MIB, |h| h.min(MAX_MEMORY_MIB));
                if mib > max {
                    return Err(Error::MemoryTooLarge { got: b, max });
                }
                mib.max(MIN_MEMORY_MIB)
            }
            _ => DEFAULT_MEMORY_MIB,
        };
        let from_quota = match (cpu_quota, cpu_period) {
            (Some(q), p) if q > 0 => {
                let p = p.filter(|p| *p > 0).unwrap_or(100_000);
                Some((q as u64).div_ceil(p))
            }
            _ => None,
        };
        let cpus = from_quota
            .or_else(|| cpuset.and_then(crate::cpuset::count))
            .unwrap_or(1)
            .clamp(1, u64::from(host_cpus.max(1))) as u32;
        Ok(VmSize {
            memory_mib,
            cpus,
            tcg_tb_mib: TCG_TB_SIZE_MIB,
        })
    }

    /// The memory limit for the VMM's cgroup, in bytes: guest memory + [`overhead_mib`].
    pub fn cgroup_memory_bytes(&self, accel: Accel) -> u64 {
        (self.memory_mib + overhead_mib(accel, self.tcg_tb_mib)) << 20
    }
}

/// A directory shared with the guest over 9p.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Share {
    /// The guest mounts it by this tag (`mount -t 9p TAG`).
    pub tag: String,
    /// The directory, as the VMM sees it (inside the jail).
    pub path: PathBuf,
    /// Refuse writes from the guest (`readonly=on`).
    pub readonly: bool,
}

/// The VM's command line and the descriptors it refers to.
#[derive(Debug)]
pub struct QemuCommand {
    /// The VMM binary (`argv[0]` is its path too).
    pub binary: PathBuf,
    /// Full argv, `argv[0]` included.
    pub argv: Vec<String>,
    /// `(number, fd)`: the launcher must `dup2` each fd onto its number before exec; nothing else stays open.
    pub fds: Vec<(RawFd, OwnedFd)>,
}

/// Builds a [`QemuCommand`]. Every method that takes an fd assigns it the next free number from 3.
#[derive(Debug)]
pub struct QemuBuilder {
    binary: PathBuf,
    accel: Accel,
    size: VmSize,
    kernel: PathBuf,
    initrd: Option<PathBuf>,
    append: String,
    ports: Vec<(String, RawFd)>,
    console: Option<RawFd>,
    shares: Vec<Share>,
    nics: Vec<(RawFd, String)>,
    sandbox: bool,
    paused: bool,
    monitor: Option<RawFd>,
    incoming: Option<RawFd>,
    fds: Vec<(RawFd, OwnedFd)>,
}

impl QemuBuilder {
    /// A VM of `size` booting `kernel` directly (no firmware) with `accel`, running [`DEFAULT_QEMU`].
    pub fn new(accel: Accel, size: VmSize, kernel: impl Into<PathBuf>) -> Self {
        QemuBuilder {
            binary: PathBuf::from(DEFAULT_QEMU),
            accel,
            size,
            kernel: kernel.into(),
            initrd: None,
            append: String::new(),
            ports: Vec::new(),
            console: None,
            shares: Vec::new(),
            nics: Vec::new(),
            sandbox: true,
            paused: false,
            monitor: None,
            incoming: None,
            fds: Vec::new(),
        }
    }

    /// Run another qemu binary.
    pub fn binary(mut self, path: impl Into<PathBuf>) -> Self {
        self.binary = path.into();
        self
    }

    /// The initramfs (`-initrd`).
    pub fn initrd(mut self, path: impl Into<PathBuf>) -> Self {
        self.initrd = Some(path.into());
        self
    }

    /// The kernel command line (`-append`).
    pub fn append(mut self, cmdline: impl Into<String>) -> Self {
        self.append = cmdline.into();
        self
    }

    /// Without qemu's seccomp sandbox (tests of the jail only; a VM for a container always has it).
    pub fn without_sandbox(mut self) -> Self {
        self.sandbox = false;
        self
    }

    /// Start with the vCPUs stopped (`-S`): qemu sets the VM up and waits. For tests of the launch and jail.
    pub fn paused(mut self) -> Self {
        self.paused = true;
        self
    }

    /// A QMP monitor on the connected stream socket `sock` (`-chardev socket,fd=N -mon mode=control`): the parent
    /// saves the VM through it ([`crate::snapshot`]). The guest cannot reach it.
    pub fn monitor(mut self, sock: OwnedFd) -> Self {
        let n = self.take_fd(sock);
        self.monitor = Some(n);
        self
    }

    /// Restore the VM from the migration stream `state` (a saved snapshot opened read-only; `-incoming fd:N`)
    /// instead of booting it: the command line must describe the same machine as the one saved. qemu starts the
    /// guest once the stream is loaded (it was saved running) and exits with an error if it cannot load it.
    pub fn incoming(mut self, state: OwnedFd) -> Self {
        let n = self.take_fd(state);
        self.incoming = Some(n);
        self
    }

    fn take_fd(&mut self, fd: OwnedFd) -> RawFd {
        let n = 3 + self.fds.len() as RawFd;
        self.fds.push((n, fd));
        n
    }

    /// A virtio-serial port named `name` (the guest finds it as `/dev/virtio-ports/NAME`) backed by the connected
    /// stream socket `sock`. Errors: [`Error::BadName`].
    pub fn serial_port(mut self, name: &str, sock: OwnedFd) -> Result<Self, Error> {
        check_name("virtserialport name", name)?;
        let n = self.take_fd(sock);
        self.ports.push((name.to_string(), n));
        Ok(self)
    }

    /// The guest's console (`hvc0`, a virtconsole on the same virtio-serial bus) backed by the stream socket
    /// `sock`: the kernel's messages, for diagnostics.
    pub fn console(mut self, sock: OwnedFd) -> Self {
        let n = self.take_fd(sock);
        self.console = Some(n);
        self
    }

    /// A directory shared over 9p (`security_model=passthrough`: the guest's owners and modes are the host
    /// files' own). Errors: [`Error::BadName`] for the tag.
    pub fn share(mut self, share: Share) -> Result<Self, Error> {
        check_name("9p mount tag", &share.tag)?;
        self.check_slots(0, 1)?;
        self.shares.push(share);
        Ok(self)
    }

    /// A NIC: the tap device `tap` (opened by the parent) with `mac`; each call adds one (`net0`, `net1`…, in
    /// call order). Errors: [`Error::BadMac`], [`Error::TooManyDevices`].
    pub fn nic(mut self, tap: OwnedFd, mac: &str) -> Result<Self, Error> {
        check_mac(mac)?;
        self.check_slots(1, 0)?;
        let n = self.take_fd(tap);
        self.nics.push((n, mac.to_ascii_lowercase()));
        Ok(self)
    }

    /// [`Error::TooManyDevices`] if `nics` more NICs and `shares` more shares would not fit in
    /// [`VIRTIO_MMIO_SLOTS`] with the virtio-serial device and the balloon.
    fn check_slots(&self, nics: usize, shares: usize) -> Result<(), Error> {
        check_devices(self.nics.len() + nics, self.shares.len() + shares)
    }

    /// The argv and fds.
    pub fn build(self) -> QemuCommand {
        let argv = self.args(true);
        QemuCommand {
            binary: self.binary,
            argv,
            fds: self.fds,
        }
    }

    /// What a VM restored from a snapshot must share with the VM that was saved, as one string: the command line
    /// without the monitor and `-incoming`, and without what the guest does not see in the saved state or what
    /// holm sets again after a restore (the NICs' MACs, the shares' `readonly`). The fd numbers stay: the
    /// devices are numbered in the same order. See [`crate::snapshot`].
    pub fn shape(&self) -> String {
        let argv = self.args(false);
        let norm: Vec<String> = argv
            .iter()
            .map(|a| {
                let a = a.replace(",readonly=on", "");
                match a.find(",mac=") {
                    Some(i) if a.starts_with("virtio-net-device,") => a[..i].to_string(),
                    _ => a,
                }
            })
            .collect();
        display_argv(&norm)
    }

    fn args(&self, extras: bool) -> Vec<String> {
        let mut a: Vec<String> = vec![self.binary.display().to_string()];
        let mut push = |xs: &[&str]| a.extend(xs.iter().map(|s| s.to_string()));
        push(&["-nodefaults", "-no-user-config", "-nographic"]);
        // microvm: no option ROMs, no ISA serial (the console is hvc0). The RTC stays (`rtc=on`): without kvmclock
        // (TCG) the kernel reads the wall clock from the CMOS RTC at boot (`mach_get_cmos_time`), and without one
        // there it polls the absent chip's update-in-progress bit for up to 1 s of busy-waiting (in about half of
        // the boots measured: ~1 s more of qemu CPU) and then starts the guest's clock at 1970. With it, the guest
        // also starts with the host's time. ACPI off: holm's guest kernel has no ACPI, and only without it does qemu list the
        // virtio-mmio devices on the kernel command line (`virtio_mmio.device=`, auto-kernel-cmdline), which is
        // how the guest finds them. The PIC and PIT stay: under TCG the kernel's timer setup needs the PIT.
        push(&[
            "-machine",
            "microvm,x-option-roms=off,isa-serial=off,rtc=on,acpi=off",
        ]);
        let accel = match self.accel {
            Accel::Kvm => "kvm".to_string(),
            Accel::Tcg => format!("tcg,tb-size={}", self.size.tcg_tb_mib),
        };
        push(&["-accel", &accel]);
        // KVM: the host's CPU model. TCG keeps qemu's default model (qemu64): with `-cpu max` a static glibc picks
        // string routines whose emulation faulted in the guest (the agent died with a general protection fault).
        if self.accel == Accel::Kvm {
            push(&["-cpu", "host"]);
        }
        push(&["-m", &format!("{}M", self.size.memory_mib)]);
        push(&["-smp", &self.size.cpus.to_string()]);
        // The guest powers off by rebooting; qemu exits instead of restarting it.
        push(&["-no-reboot"]);
        push(&["-kernel", &opt_path(&self.kernel)]);
        if let Some(i) = &self.initrd {
            push(&["-initrd", &opt_path(i)]);
        }
        if !self.append.is_empty() {
            push(&["-append", &self.append]);
        }
        if !self.ports.is_empty() || self.console.is_some() {
            push(&["-device", "virtio-serial-device"]);
        }
        if let Some(n) = self.console {
            push(&["-chardev", &format!("socket,id=con,fd={n}")]);
            push(&["-device", "virtconsole,chardev=con"]);
        }
        for (i, (name, n)) in self.ports.iter().enumerate() {
            push(&["-chardev", &format!("socket,id=port{i},fd={n}")]);
            push(&[
                "-device",
                &format!("virtserialport,chardev=port{i},name={name}"),
            ]);
        }
        for (i, s) in self.shares.iter().enumerate() {
            let mut fsdev = format!(
                "local,id=fs{i},path={},security_model=passthrough,multidevs=remap",
                opt_escape(&s.path.display().to_string())
            );
            if s.readonly {
                fsdev.push_str(",readonly=on");
            }
            push(&["-fsdev", &fsdev]);
            push(&[
                "-device",
                &format!("virtio-9p-device,fsdev=fs{i},mount_tag={}", s.tag),
            ]);
        }
        for (i, (n, mac)) in self.nics.iter().enumerate() {
            push(&["-netdev", &format!("tap,id=net{i},fd={n}")]);
            push(&[
                "-device",
                &format!("virtio-net-device,netdev=net{i},mac={mac}"),
            ]);
        }
        // Free page reporting: the guest (CONFIG_VIRTIO_BALLOON, CONFIG_PAGE_REPORTING) reports the blocks of
        // memory it freed (512 KiB and larger: the agent lowers the kernel's order, see holm-agent's boot.rs),
        // qemu discards them, so the host gets back what the boot used only once (the initramfs's copy, the
        // kernel's init memory) and what a workload frees. The balloon is never inflated. A kernel without the
        // driver ignores the device.
        push(&["-device", "virtio-balloon-device,free-page-reporting=on"]);
        if self.paused {
            push(&["-S"]);
        }
        if self.sandbox {
            push(&[
                "-sandbox",
                "on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny",
            ]);
        }
        if extras {
            if let Some(n) = self.monitor {
                push(&["-chardev", &format!("socket,id=qmp,fd={n}")]);
                push(&["-mon", "chardev=qmp,mode=control"]);
            }
            if let Some(n) = self.incoming {
                push(&["-incoming", &format!("fd:{n}")]);
            }
        }
        a
    }
}

/// A path as a qemu option value: `,` doubled (qemu's escape inside `key=value,...` lists).
fn opt_path(p: &Path) -> String {
    opt_escape(&p.display().to_string())
}

fn opt_escape(s: &str) -> String {
    s.replace(',', ",,")
}

fn check_name(what: &'static str, v: &str) -> Result<(), Error> {
    let ok = !v.is_empty()
        && v.len() <= 64
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(Error::BadName {
            what,
            value: v.to_string(),
        })
    }
}

fn check_mac(mac: &str) -> Result<(), Error> {
    let parts: Vec<&str> = mac.split(':').collect();
    let ok = parts.len() == 6
        && parts
            .iter()
            .all(|p| p.len() == 2 && p.bytes().all(|b| b.is_ascii_hexdigit()));
    if ok {
        Ok(())
    } else {
        Err(Error::BadMac(mac.to_string()))
    }
}

/// The argv as one shell-like line, for logs and error messages.
pub fn display_argv(argv: &[String]) -> String {
    let mut s = String::new();
    for (i, a) in argv.iter().enumerate() {
        if i > 0 {
            s.push(' ');
        }
        if a.bytes().all(|b| b.is_ascii_graphic() && b != b'\'') {
            s.push_str(a);
        } else {
            let _ = write!(s, "'{}'", a.replace('\'', r"'\''"));
        }
    }
    s
}

#[cfg(test)]
mod tests;
