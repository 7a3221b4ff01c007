//! Which accelerator qemu uses: KVM when `/dev/kvm` works *and* boots holm's guest kernel, else TCG.
//!
//! Some KVMs open fine but boot no guest: this machine's `/dev/kvm` is PVM (a nested, pagetable-based KVM) that
//! hangs or fails on stock kernels. So opening `/dev/kvm` is not enough: [`probe_kvm`] boots the guest kernel under
//! `-accel kvm` with a one-file initramfs whose `/init` ([`probe_init_elf`]) prints [`PROBE_MARKER`] on the serial
//! console, bounded by [`PROBE_TIMEOUT`]. [`decide`] turns the outcome into the choice and, for TCG, the one-line
//! notice the caller prints on stderr. The outcome is cached under [`CACHE_DIR`] (a tmpfs: forgotten at reboot),
//! keyed by the kernel image's sha256, qemu's version and the host kernel release ([`cache_key`]): any of those
//! changing probes again. The sha256 and the version are themselves remembered there by the files' identities
//! ([`crate::memo`]), so a VM start with a cached outcome neither hashes the kernel nor starts qemu to ask.
//!
//! `HOLM_VM_ACCEL=kvm|tcg` ([`ACCEL_ENV`]) skips the probe and forces the choice.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use crate::initramfs;
pub use crate::qemu::Accel;

/// The line the probe's `/init` writes to the serial console once the guest reached user space.
pub const PROBE_MARKER: &str = "HOLM-ACCEL-PROBE-OK";

/// How long a probe boot may take before KVM is declared unable to boot the guest (a KVM guest of this kernel
/// reaches init in well under a second; TCG in about one).
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(15);

/// Where probe outcomes are cached, one file per [`cache_key`]: `accel-<key>`.
pub const CACHE_DIR: &str = "/run/holm/vm";

/// The environment variable that forces the accelerator (`kvm` or `tcg`) without probing.
pub const ACCEL_ENV: &str = "HOLM_VM_ACCEL";

/// What a probe found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProbeOutcome {
    /// The guest booted under KVM and printed [`PROBE_MARKER`].
    KvmBoots,
    /// `/dev/kvm` is missing or cannot be opened read-write (the reason says which, e.g. `/dev/kvm: No such file or
    /// directory`).
    KvmUnavailable(String),
    /// `/dev/kvm` opens but the probe boot failed: qemu exited without the marker, or the timeout passed (the
    /// reason says which, with qemu's last line of output).
    KvmCannotBoot(String),
}

/// The accelerator to use and, when it is TCG, why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccelChoice {
    /// The accelerator.
    pub accel: Accel,
    /// Why KVM is not used (`None` with KVM, or when TCG was forced by [`ACCEL_ENV`]).
    pub reason: Option<String>,
}

impl AccelChoice {
    /// The one-line notice for stderr when KVM could not be used:
    /// `holm: KVM cannot boot the guest kernel here (REASON); using TCG (software emulation), expect slower VMs`.
    pub fn notice(&self) -> Option<String> {
        self.reason.as_ref().map(|r| {
            format!("holm: KVM cannot boot the guest kernel here ({r}); using TCG (software emulation), expect slower VMs")
        })
    }
}

/// Errors of the probe machinery itself (a probe that fails to boot is an outcome, not an error).
#[derive(Debug, thiserror::Error)]
pub enum AccelError {
    /// The guest kernel could not be read (to hash it).
    #[error("guest kernel {path}: {error}")]
    Kernel {
        /// The kernel image.
        path: PathBuf,
        /// The read error.
        #[source]
        error: std::io::Error,
    },
    /// qemu could not be run, or its `--version` not read.
    #[error("{qemu} --version: {detail}")]
    QemuVersion {
        /// The qemu binary.
        qemu: PathBuf,
        /// What went wrong.
        detail: String,
    },
    /// The probe's temporary initramfs could not be written.
    #[error("accel probe: writing the probe initramfs in {dir}: {error}")]
    ProbeFiles {
        /// The temporary directory.
        dir: PathBuf,
        /// The write error.
        #[source]
        error: std::io::Error,
    },
    /// `HOLM_VM_ACCEL` has a value other than `kvm` or `tcg`.
    #[error("{ACCEL_ENV}={0:?}: expected kvm or tcg")]
    BadEnv(String),
}

/// Turns a probe outcome into the choice: KVM only when it boots the guest.
pub fn decide(outcome: &ProbeOutcome) -> AccelChoice {
    match outcome {
        ProbeOutcome::KvmBoots => AccelChoice {
            accel: Accel::Kvm,
            reason: None,
        },
        ProbeOutcome::KvmUnavailable(r) | ProbeOutcome::KvmCannotBoot(r) => AccelChoice {
            accel: Accel::Tcg,
            reason: Some(r.clone()),
        },
    }
}

/// The cache key of a probe: hex sha256 of (the kernel image's sha256, qemu's `--version` first line, the host's
/// kernel release), first 32 hex digits.
pub fn cache_key(kernel_sha256: &str, qemu_version: &str, host_release: &str) -> String {
    let mut h = Sha256::new();
    for part in [kernel_sha256, qemu_version, host_release] {
        h.update(part.as_bytes());
        h.update(b"\n");
    }
    hex(&h.finalize())[..32].to_string()
}

/// Serializes an outcome for the cache file: `kvm-boots`, or `kvm-unavailable`/`kvm-cannot-boot` and the reason
/// on the next line.
pub fn encode_outcome(outcome: &ProbeOutcome) -> String {
    match outcome {
        ProbeOutcome::KvmBoots => "kvm-boots\n".into(),
        ProbeOutcome::KvmUnavailable(r) => format!("kvm-unavailable\n{}\n", one_line(r)),
        ProbeOutcome::KvmCannotBoot(r) => format!("kvm-cannot-boot\n{}\n", one_line(r)),
    }
}

/// Parses a cache file written by [`encode_outcome`]; `None` for anything else (the cache is then ignored and the
/// probe runs again).
pub fn decode_outcome(text: &str) -> Option<ProbeOutcome> {
    let mut lines = text.lines();
    let kind = lines.next()?;
    let reason = lines.next().map(str::to_string);
    match (kind, reason) {
        ("kvm-boots", None) => Some(ProbeOutcome::KvmBoots),
        ("kvm-unavailable", Some(r)) => Some(ProbeOutcome::KvmUnavailable(r)),
        ("kvm-cannot-boot", Some(r)) => Some(ProbeOutcome::KvmCannotBoot(r)),
        _ => None,
    }
}

/// Options of [`select_accel`].
#[derive(Debug, Clone)]
pub struct ProbeOptions {
    /// The qemu binary (default `qemu-system-x86_64`, looked up in `PATH`).
    pub qemu: PathBuf,
    /// The KVM device (default `/dev/kvm`).
    pub kvm_device: PathBuf,
    /// The cache directory (default [`CACHE_DIR`]); `None` disables the cache.
    pub cache_dir: Option<PathBuf>,
    /// The probe boot's time limit (default [`PROBE_TIMEOUT`]).
    pub timeout: Duration,
}

impl Default for ProbeOptions {
    fn default() -> Self {
        ProbeOptions {
            qemu: PathBuf::from("qemu-system-x86_64"),
            kvm_device: PathBuf::from("/dev/kvm"),
            cache_dir: Some(PathBuf::from(CACHE_DIR)),
            timeout: PROBE_TIMEOUT,
        }
    }
}

/// The accelerator for `kernel`: forced by `HOLM_VM_ACCEL`, else the cached probe outcome, else a probe boot
/// ([`probe_kvm`], then cached). The caller prints [`AccelChoice::notice`] on stderr when there is one.
///
/// # Errors
/// [`AccelError`] when the kernel cannot be hashed, qemu's version cannot be read, the probe's files cannot be
/// written, or `HOLM_VM_ACCEL` is invalid. A cache that cannot be read or written is ignored.
pub fn select_accel(kernel: &Path, opts: &ProbeOptions) -> Result<AccelChoice, AccelError> {
    if let Some(v) = std::env::var_os(ACCEL_ENV).filter(|v| !v.is_empty()) {
        return match v.to_str() {
            Some("kvm") => Ok(AccelChoice {
                accel: Accel::Kvm,
                reason: None,
            }),
            Some("tcg") => Ok(AccelChoice {
                accel: Accel::Tcg,
                reason: None,
            }),
            _ => Err(AccelError::BadEnv(v.to_string_lossy().into_owned())),
        };
    }
    let outcome = cached_probe(kernel, opts)?;
    Ok(decide(&outcome))
}

/// The probe outcome for `kernel`, from the cache when present, else probed now and stored.
///
/// # Errors
/// As [`select_accel`].
pub fn cached_probe(kernel: &Path, opts: &ProbeOptions) -> Result<ProbeOutcome, AccelError> {
    let Some(dir) = &opts.cache_dir else {
        return probe_kvm(kernel, opts);
    };
    // Both are remembered by the files' identities (crate::memo): hashing the kernel and starting qemu cost ~50 ms
    // of every VM start otherwise.
    let kernel_sha = crate::memo::remembered(Some(dir), "sha256", kernel, || file_sha256(kernel))?;
    let version = match crate::memo::find_program(&opts.qemu) {
        Some(q) => crate::memo::remembered(Some(dir), "qemu-version", &q, || qemu_version(&q))?,
        None => qemu_version(&opts.qemu)?,
    };
    let key = cache_key(&kernel_sha, &version, &host_release());
    let file = dir.join(format!("accel-{key}"));
    if let Some(outcome) = std::fs::read_to_string(&file)
        .ok()
        .as_deref()
        .and_then(decode_outcome)
    {
        return Ok(outcome);
    }
    let outcome = probe_kvm(kernel, opts)?;
    // A cache that cannot be written only costs the next caller a probe.
    let _ = crate::memo::write_atomic(dir, &file, encode_outcome(&outcome).as_bytes());
    Ok(outcome)
}

/// Boots `kernel` under `-accel kvm` with the probe initramfs and waits up to `opts.timeout` for [`PROBE_MARKER`]
/// on the serial console. qemu is killed when the time is up.
///
/// # Errors
/// [`AccelError::ProbeFiles`] when the initramfs cannot be written. qemu failing to start or boot is an outcome.
pub fn probe_kvm(kernel: &Path, opts: &ProbeOptions) -> Result<ProbeOutcome, AccelError> {
    if let Err(e) = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&opts.kvm_device)
    {
        return Ok(ProbeOutcome::KvmUnavailable(format!(
            "{}: {e}",
            opts.kvm_device.display()
        )));
    }
    Ok(match probe_boot(kernel, Accel::Kvm, opts)? {
        BootOutcome::Booted => ProbeOutcome::KvmBoots,
        BootOutcome::Failed(reason) => ProbeOutcome::KvmCannotBoot(reason),
    })
}

/// What one probe boot did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BootOutcome {
    /// The probe's `/init` printed [`PROBE_MARKER`].
    Booted,
    /// qemu exited without the marker, or the timeout passed; the reason says which, with qemu's last line.
    Failed(String),
}

/// Boots `kernel` under `accel` with the probe initramfs (`/init` = [`probe_init_elf`]) and the console on the
/// 8250 serial port (`console=ttyS0`), and waits up to `opts.timeout` for [`PROBE_MARKER`]. qemu is killed at the
/// end in every case. [`probe_kvm`] uses it with KVM; with TCG it is the positive control of the probe.
///
/// # Errors
/// [`AccelError::ProbeFiles`] when the initramfs cannot be written.
pub fn probe_boot(
    kernel: &Path,
    accel: Accel,
    opts: &ProbeOptions,
) -> Result<BootOutcome, AccelError> {
    let dir = tempfile::Builder::new()
        .prefix("holm-accel-probe.")
        .tempdir()
        .map_err(|error| AccelError::ProbeFiles {
            dir: std::env::temp_dir(),
            error,
        })?;
    let initrd = dir.path().join("probe-initrd.cpio");
    let image = initramfs::archive(&probe_init_elf());
    std::fs::write(&initrd, image).map_err(|error| AccelError::ProbeFiles {
        dir: dir.path().to_path_buf(),
        error,
    })?;
    Ok(boot_for_marker(kernel, &initrd, accel, opts))
}

fn boot_for_marker(kernel: &Path, initrd: &Path, accel: Accel, opts: &ProbeOptions) -> BootOutcome {
    let cpu = if accel == Accel::Kvm { "host" } else { "max" };
    let mut cmd = Command::new(&opts.qemu);
    cmd.args([
        "-M",
        "microvm,x-option-roms=off,rtc=off",
        "-accel",
        accel.as_str(),
        "-cpu",
        cpu,
    ])
    .args(["-m", "128", "-smp", "1"])
    .args([
        "-nodefaults",
        "-no-user-config",
        "-display",
        "none",
        "-no-reboot",
        "-serial",
        "stdio",
    ])
    .arg("-kernel")
    .arg(kernel)
    .arg("-initrd")
    .arg(initrd)
    .args(["-append", "console=ttyS0 panic=-1 quiet no_timer_check"])
    .stdin(Stdio::null())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    // A caller killed during the probe (a test binary, a runtime under a timeout) must not leave this qemu
    // running: one kept a core busy for 20 minutes here.
    holm_sys::process::kill_with_parent(&mut cmd);
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => return BootOutcome::Failed(format!("{}: {e}", opts.qemu.display())),
    };
    let (tx, rx) = mpsc::channel::<Option<String>>();
    let stdout = child.stdout.take();
    let tx_out = tx.clone();
    let out_thread = std::thread::spawn(move || {
        if let Some(out) = stdout {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                let found = line.contains(PROBE_MARKER);
                if tx_out.send(Some(line)).is_err() || found {
                    break;
                }
            }
        }
        let _ = tx_out.send(None);
    });
    let mut stderr = child.stderr.take();
    let err_thread = std::thread::spawn(move || {
        let mut s = String::new();
        if let Some(e) = stderr.as_mut() {
            let _ = e.take(64 * 1024).read_to_string(&mut s);
        }
        s
    });
    drop(tx);
    let deadline = Instant::now() + opts.timeout;
    let mut last_line = String::new();
    let timed_out = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(Some(line)) if line.contains(PROBE_MARKER) => {
                let _ = child.kill();
                let _ = child.wait();
                let _ = out_thread.join();
                let _ = err_thread.join();
                return BootOutcome::Booted;
            }
            Ok(Some(line)) => {
                if !line.trim().is_empty() {
                    last_line = line;
                }
            }
            Ok(None) | Err(mpsc::RecvTimeoutError::Disconnected) => break false,
            Err(mpsc::RecvTimeoutError::Timeout) => break true,
        }
    };
    let _ = child.kill();
    let status = child.wait();
    let _ = out_thread.join();
    let stderr_text = err_thread.join().unwrap_or_default();
    let what = format!("qemu -accel {}", accel.as_str());
    let reason = if timed_out {
        format!(
            "no boot marker within {} s under {what}",
            opts.timeout.as_secs()
        )
    } else {
        let status = status
            .map(|s| s.to_string())
            .unwrap_or_else(|e| e.to_string());
        format!("{what} {status} without booting")
    };
    let detail = stderr_text
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .map(str::to_string);
    let reason = match (detail, last_line.is_empty()) {
        (Some(d), _) => format!("{reason}: {d}"),
        (None, false) => format!("{reason}; last console line: {last_line}"),
        (None, true) => reason,
    };
    BootOutcome::Failed(one_line(&reason))
}

/// The probe's `/init`: a 120-byte static x86-64 ELF executable that writes `HOLM-ACCEL-PROBE-OK\n` to fd 1 (the
/// kernel opens `/dev/console` as init's stdio) and calls `exit_group(0)`. The guest then panics (init exited) and
/// with `panic=-1` reboots at once, which `-no-reboot` turns into qemu's exit. Safe to run on the host too: it
/// only writes and exits.
pub fn probe_init_elf() -> Vec<u8> {
    const BASE: u64 = 0x40_0000;
    const HEADERS: u64 = 64 + 56;
    let msg = format!("{PROBE_MARKER}\n");
    // Code: write(1, msg, len); exit_group(0); msg follows the code.
    let mut code: Vec<u8> = Vec::new();
    code.extend([0xb8, 1, 0, 0, 0]); // mov eax, 1 (write)
    code.extend([0xbf, 1, 0, 0, 0]); // mov edi, 1
    let lea_at = code.len();
    code.extend([0x48, 0x8d, 0x35, 0, 0, 0, 0]); // lea rsi, [rip + disp32]
    code.extend([0xba]); // mov edx, len
    code.extend((msg.len() as u32).to_le_bytes());
    code.extend([0x0f, 0x05]); // syscall
    code.extend([0xb8, 231, 0, 0, 0]); // mov eax, 231 (exit_group)
    code.extend([0x31, 0xff]); // xor edi, edi
    code.extend([0x0f, 0x05]); // syscall
    code.extend([0xeb, 0xfe]); // jmp . (never reached)
    let disp = (code.len() - (lea_at + 7)) as u32;
    code[lea_at + 3..lea_at + 7].copy_from_slice(&disp.to_le_bytes());
    code.extend(msg.as_bytes());
    let total = HEADERS + code.len() as u64;

    let mut elf = Vec::with_capacity(total as usize);
    elf.extend(b"\x7fELF");
    elf.extend([2, 1, 1, 0]); // 64-bit, little-endian, version 1, System V ABI
    elf.extend([0; 8]);
    elf.extend(2u16.to_le_bytes()); // ET_EXEC
    elf.extend(0x3eu16.to_le_bytes()); // EM_X86_64
    elf.extend(1u32.to_le_bytes()); // EV_CURRENT
    elf.extend((BASE + HEADERS).to_le_bytes()); // e_entry
    elf.extend(64u64.to_le_bytes()); // e_phoff
    elf.extend(0u64.to_le_bytes()); // e_shoff
    elf.extend(0u32.to_le_bytes()); // e_flags
    elf.extend(64u16.to_le_bytes()); // e_ehsize
    elf.extend(56u16.to_le_bytes()); // e_phentsize
    elf.extend(1u16.to_le_bytes()); // e_phnum
    elf.extend([0; 6]); // e_shentsize, e_shnum, e_shstrndx
    elf.extend(1u32.to_le_bytes()); // PT_LOAD
    elf.extend(5u32.to_le_bytes()); // PF_R | PF_X
    elf.extend(0u64.to_le_bytes()); // p_offset
    elf.extend(BASE.to_le_bytes()); // p_vaddr
    elf.extend(BASE.to_le_bytes()); // p_paddr
    elf.extend(total.to_le_bytes()); // p_filesz
    elf.extend(total.to_le_bytes()); // p_memsz
    elf.extend(0x1000u64.to_le_bytes()); // p_align
    elf.extend(code);
    elf
}

/// The first line of `qemu --version`, e.g. `QEMU emulator version 7.2.22 (Debian 1:7.2+dfsg-7+deb12u18+b3)`.
///
/// # Errors
/// [`AccelError::QemuVersion`] when qemu cannot run or prints nothing.
pub fn qemu_version(qemu: &Path) -> Result<String, AccelError> {
    let err = |detail: String| AccelError::QemuVersion {
        qemu: qemu.to_path_buf(),
        detail,
    };
    let out = Command::new(qemu)
        .arg("--version")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| err(e.to_string()))?;
    let text = String::from_utf8_lossy(&out.stdout);
    match text.lines().next() {
        Some(l) if out.status.success() && !l.trim().is_empty() => Ok(l.trim().to_string()),
        _ => Err(err(format!("{}, no version line", out.status))),
    }
}

/// The host's kernel release (`/proc/sys/kernel/osrelease`, as `uname -r`); empty when unreadable.
pub fn host_release() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

/// The hex sha256 of a file's contents.
///
/// # Errors
/// [`AccelError::Kernel`] when the file cannot be read.
pub fn file_sha256(path: &Path) -> Result<String, AccelError> {
    let err = |error| AccelError::Kernel {
        path: path.to_path_buf(),
        error,
    };
    let mut f = std::fs::File::open(path).map_err(err)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = f.read(&mut buf).map_err(err)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex(&h.finalize()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kvm_only_when_it_boots() {
        let c = decide(&ProbeOutcome::KvmBoots);
        assert_eq!(
            c,
            AccelChoice {
                accel: Accel::Kvm,
                reason: None
            }
        );
        assert_eq!(c.notice(), None);
        let c = decide(&ProbeOutcome::KvmUnavailable(
            "/dev/kvm: No such file or directory".into(),
        ));
        assert_eq!(c.accel, Accel::Tcg);
        assert_eq!(
            c.notice().unwrap(),
            "holm: KVM cannot boot the guest kernel here (/dev/kvm: No such file or directory); using TCG \
             (software emulation), expect slower VMs"
        );
        let c = decide(&ProbeOutcome::KvmCannotBoot(
            "no boot marker within 15 s under -accel kvm".into(),
        ));
        assert_eq!(c.accel, Accel::Tcg);
        assert!(c
            .notice()
            .unwrap()
            .contains("(no boot marker within 15 s under -accel kvm)"));
    }

    #[test]
    fn outcomes_round_trip_through_the_cache_format() {
        for o in [
            ProbeOutcome::KvmBoots,
            ProbeOutcome::KvmUnavailable("/dev/kvm: Permission denied".into()),
            ProbeOutcome::KvmCannotBoot("qemu exited: a\nb".into()),
        ] {
            let decoded = decode_outcome(&encode_outcome(&o)).unwrap();
            match (&o, &decoded) {
                (ProbeOutcome::KvmCannotBoot(_), ProbeOutcome::KvmCannotBoot(r)) => {
                    assert_eq!(r, "qemu exited: a b")
                }
                _ => assert_eq!(decoded, o),
            }
        }
        for bad in ["", "kvm", "kvm-boots\nextra", "kvm-cannot-boot", "tcg\nx"] {
            assert_eq!(decode_outcome(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn cache_key_changes_with_each_part() {
        let k = cache_key("aa", "QEMU 7.2", "6.1.0");
        assert_eq!(k.len(), 32);
        assert_eq!(k, cache_key("aa", "QEMU 7.2", "6.1.0"));
        assert_ne!(k, cache_key("ab", "QEMU 7.2", "6.1.0"));
        assert_ne!(k, cache_key("aa", "QEMU 8.0", "6.1.0"));
        assert_ne!(k, cache_key("aa", "QEMU 7.2", "6.2.0"));
    }

    #[test]
    fn missing_kvm_device_is_unavailable_without_booting() {
        let dir = tempfile::tempdir().unwrap();
        let opts = ProbeOptions {
            kvm_device: dir.path().join("no-kvm"),
            qemu: dir.path().join("no-qemu"),
            cache_dir: None,
            timeout: Duration::from_secs(1),
        };
        let out = probe_kvm(Path::new("/nonexistent-kernel"), &opts).unwrap();
        match out {
            ProbeOutcome::KvmUnavailable(r) => assert!(r.contains("no-kvm"), "{r}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn probe_init_prints_the_marker_and_exits_zero() {
        // The same bytes the guest runs as /init, run on the host: they only write(2) and exit_group(2).
        let dir = tempfile::tempdir().unwrap();
        let exe = dir.path().join("init");
        std::fs::write(&exe, probe_init_elf()).unwrap();
        std::fs::set_permissions(&exe, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
        // ETXTBSY while a concurrently forked child of another test still holds the write fd: retry.
        let mut tries = 0;
        let out = loop {
            match Command::new(&exe).output() {
                Err(e) if e.raw_os_error() == Some(libc::ETXTBSY) && tries < 50 => {
                    tries += 1;
                    std::thread::sleep(Duration::from_millis(20));
                }
                r => break r.unwrap(),
            }
        };
        assert!(out.status.success(), "{:?}", out.status);
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            format!("{PROBE_MARKER}\n")
        );
    }
}
