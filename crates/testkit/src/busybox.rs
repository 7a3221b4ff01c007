//! The static busybox binary every test rootfs is built from.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// Where Debian's `busybox-static` package installs the binary.
const BUSYBOX: &str = "/bin/busybox";
const HINT: &str = "install Debian's `busybox-static` package (scripts/install-test-deps.sh)";

/// Returns `/bin/busybox`, checked to be a statically linked ELF executable.
///
/// A test rootfs contains nothing but this binary and its applet links, so it must not need a
/// dynamic loader. Panics, naming the `busybox-static` package, if the file is missing or is
/// dynamically linked (Debian's plain `busybox` package). The check runs once per process.
pub fn busybox() -> PathBuf {
    static CHECKED: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    match CHECKED.get_or_init(|| check_static(Path::new(BUSYBOX))) {
        Ok(path) => path.clone(),
        Err(msg) => panic!("{msg}"),
    }
}

/// The applet names `busybox --list` prints (e.g. `sh`, `ls`, `[`), minus `busybox` itself.
///
/// Panics like [`busybox`] if the binary is unusable. Computed once per process.
pub fn busybox_applets() -> &'static [String] {
    static APPLETS: OnceLock<Result<Vec<String>, String>> = OnceLock::new();
    let list = APPLETS.get_or_init(|| {
        let bin = busybox();
        let out = Command::new(&bin)
            .arg("--list")
            .output()
            .map_err(|e| format!("run `{} --list`: {e}", bin.display()))?;
        if !out.status.success() {
            return Err(format!(
                "`{} --list` failed ({}): {}",
                bin.display(),
                out.status,
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        let applets: Vec<String> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::trim)
            .filter(|a| !a.is_empty() && *a != "busybox" && !a.contains('/'))
            .map(String::from)
            .collect();
        if applets.iter().any(|a| a == "sh") {
            Ok(applets)
        } else {
            Err(format!("`{} --list` names no `sh` applet", bin.display()))
        }
    });
    match list {
        Ok(applets) => applets,
        Err(msg) => panic!("{msg}; {HINT}"),
    }
}

fn check_static(path: &Path) -> Result<PathBuf, String> {
    let file = File::open(path).map_err(|e| format!("open `{}`: {e}; {HINT}", path.display()))?;
    match has_interpreter(&file) {
        Ok(false) => Ok(path.to_path_buf()),
        Ok(true) => Err(format!(
            "`{}` is dynamically linked (has a PT_INTERP header) and cannot run alone in a \
             test rootfs; {HINT}",
            path.display()
        )),
        Err(why) => Err(format!("`{}`: {why}; {HINT}", path.display())),
    }
}

/// Whether an ELF file asks for a program interpreter (`PT_INTERP`), i.e. is dynamically linked.
fn has_interpreter(file: &impl FileExt) -> Result<bool, String> {
    const PT_INTERP: u32 = 3;
    let mut ident = [0u8; 64];
    file.read_exact_at(&mut ident, 0)
        .map_err(|e| format!("read ELF header: {e}"))?;
    if &ident[..4] != b"\x7fELF" {
        return Err("not an ELF file".into());
    }
    let big = match ident[5] {
        1 => false,
        2 => true,
        d => return Err(format!("unknown ELF data encoding {d}")),
    };
    let u16_at = |b: &[u8], o: usize| {
        let v = [b[o], b[o + 1]];
        u64::from(if big {
            u16::from_be_bytes(v)
        } else {
            u16::from_le_bytes(v)
        })
    };
    let u32_at = |b: &[u8], o: usize| {
        let v = [b[o], b[o + 1], b[o + 2], b[o + 3]];
        if big {
            u32::from_be_bytes(v)
        } else {
            u32::from_le_bytes(v)
        }
    };
    let u64_at = |b: &[u8], o: usize| {
        let v: [u8; 8] = b[o..o + 8].try_into().expect("8 bytes");
        if big {
            u64::from_be_bytes(v)
        } else {
            u64::from_le_bytes(v)
        }
    };
    let (phoff, phentsize, phnum) = match ident[4] {
        1 => (
            u64::from(u32_at(&ident, 0x1c)),
            u16_at(&ident, 0x2a),
            u16_at(&ident, 0x2c),
        ),
        2 => (
            u64_at(&ident, 0x20),
            u16_at(&ident, 0x36),
            u16_at(&ident, 0x38),
        ),
        c => return Err(format!("unknown ELF class {c}")),
    };
    if phentsize < 4 {
        return Err(format!("program header entries of {phentsize} bytes"));
    }
    let mut p_type = [0u8; 4];
    for i in 0..phnum {
        file.read_exact_at(&mut p_type, phoff + i * phentsize)
            .map_err(|e| format!("read program header {i}: {e}"))?;
        if u32_at(&p_type, 0) == PT_INTERP {
            return Ok(true);
        }
    }
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_busybox_is_static_and_lists_sh() {
        assert_eq!(busybox(), PathBuf::from("/bin/busybox"));
        let applets = busybox_applets();
        assert!(applets.iter().any(|a| a == "sh"));
        assert!(applets.iter().any(|a| a == "hostname"));
        assert!(!applets.iter().any(|a| a == "busybox"));
    }

    #[test]
    fn dynamic_executable_is_detected() {
        // The test binary itself is a normal dynamically linked Rust executable.
        let exe = std::env::current_exe().unwrap();
        let file = File::open(&exe).unwrap();
        assert_eq!(has_interpreter(&file), Ok(true), "{}", exe.display());
        let err = check_static(&exe).unwrap_err();
        assert!(err.contains("busybox-static"), "{err}");
    }

    #[test]
    fn missing_and_non_elf_files_name_the_package() {
        let err = check_static(Path::new("/nonexistent/busybox")).unwrap_err();
        assert!(err.contains("busybox-static"), "{err}");
        let err = check_static(Path::new("/proc/self/status")).unwrap_err();
        assert!(err.contains("busybox-static"), "{err}");
    }
}
