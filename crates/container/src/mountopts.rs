//! Mount option words of `mounts[].options` (runtime-spec `config.md#mounts`, mount(8)) turned into `mount(2)`
//! flags, propagation changes and the file-system data string.

use holm_sys::mount::*;
use holm_sys::mount_attr::{self as ma, MountAttr};

/// The meaning of a mount's option list.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct MountOptions {
    /// `MS_*` flags to set.
    pub flags: libc::c_ulong,
    /// `MS_*` flags the options explicitly clear (`rw`, `suid`, `dev`, …), for remounts.
    pub clear: libc::c_ulong,
    /// Propagation changes (`MS_PRIVATE`, `MS_SLAVE|MS_REC`, …) applied after the mount, in order.
    pub propagation: Vec<libc::c_ulong>,
    /// `bind` or `rbind` was given.
    pub bind: bool,
    /// `rbind` (recursive bind).
    pub recursive: bool,
    /// Remaining words passed to the file system as comma-separated data (`mode=755`, `size=65536k`, …).
    pub data: Vec<String>,
    /// Recursive attributes (`rro`, `rnosuid`, `ratime`, …: runtime-spec 1.1+) applied with
    /// `mount_setattr(AT_RECURSIVE)` to the mount and every mount below it, after it is mounted.
    pub rec: MountAttr,
    /// `idmap` (`Some(false)`) or `ridmap` (`Some(true)`, recursive): an id-mapped bind mount.
    pub idmap: Option<bool>,
    /// `tmpcopyup` (runc's extension; the last of `tmpcopyup` / `notmpcopyup` wins): a `tmpfs` gets a copy of
    /// the directory it covers ([`crate::tmpcopy`]). Ignored on other mount types, as runc does.
    pub copyup: bool,
}

impl MountOptions {
    /// The data string for `mount(2)`.
    pub fn data_string(&self) -> String {
        self.data.join(",")
    }
}

/// Propagation flags for `shared`, `rshared`, `slave`, `rslave`, `private`, `rprivate`, `unbindable`,
/// `runbindable`; `None` for any other word.
pub fn propagation(word: &str) -> Option<libc::c_ulong> {
    Some(match word {
        "shared" => MS_SHARED,
        "rshared" => MS_SHARED | MS_REC,
        "slave" => MS_SLAVE,
        "rslave" => MS_SLAVE | MS_REC,
        "private" => MS_PRIVATE,
        "rprivate" => MS_PRIVATE | MS_REC,
        "unbindable" => MS_UNBINDABLE,
        "runbindable" => MS_UNBINDABLE | MS_REC,
        _ => return None,
    })
}

/// The recursive attribute words (runtime-spec `config.md#linux-mount-options`) and what each sets or clears
/// with `mount_setattr(2)`. The atime words select one atime mode for the whole tree (the kernel takes the modes as
/// an enum: [`ma::MOUNT_ATTR__ATIME`] is cleared with each): `ratime`, `rrelatime` and `rnostrictatime` give the
/// kernel's default `relatime` (what `mount(2)` gives without an atime flag), `rnoatime` gives `noatime`,
/// `rstrictatime` and `rnorelatime` ("do not use relatime", mount(8)) give `strictatime`.
pub const RECURSIVE_WORDS: &[(&str, u64, u64)] = &[
    ("rro", ma::MOUNT_ATTR_RDONLY, 0),
    ("rrw", 0, ma::MOUNT_ATTR_RDONLY),
    ("rnosuid", ma::MOUNT_ATTR_NOSUID, 0),
    ("rsuid", 0, ma::MOUNT_ATTR_NOSUID),
    ("rnodev", ma::MOUNT_ATTR_NODEV, 0),
    ("rdev", 0, ma::MOUNT_ATTR_NODEV),
    ("rnoexec", ma::MOUNT_ATTR_NOEXEC, 0),
    ("rexec", 0, ma::MOUNT_ATTR_NOEXEC),
    ("rnodiratime", ma::MOUNT_ATTR_NODIRATIME, 0),
    ("rdiratime", 0, ma::MOUNT_ATTR_NODIRATIME),
    ("rnosymfollow", ma::MOUNT_ATTR_NOSYMFOLLOW, 0),
    ("rsymfollow", 0, ma::MOUNT_ATTR_NOSYMFOLLOW),
    ("ratime", ma::MOUNT_ATTR_RELATIME, ma::MOUNT_ATTR__ATIME),
    ("rrelatime", ma::MOUNT_ATTR_RELATIME, ma::MOUNT_ATTR__ATIME),
    (
        "rnostrictatime",
        ma::MOUNT_ATTR_RELATIME,
        ma::MOUNT_ATTR__ATIME,
    ),
    ("rnoatime", ma::MOUNT_ATTR_NOATIME, ma::MOUNT_ATTR__ATIME),
    (
        "rstrictatime",
        ma::MOUNT_ATTR_STRICTATIME,
        ma::MOUNT_ATTR__ATIME,
    ),
    (
        "rnorelatime",
        ma::MOUNT_ATTR_STRICTATIME,
        ma::MOUNT_ATTR__ATIME,
    ),
];

/// The option words holm knows besides file-system data and the recursive words, for `features`, which lists those
/// [`parse`] accepts (a word it refuses, such as a not yet supported `tmpcopyup`, is left out).
pub const FLAG_WORDS: &[&str] = &[
    "defaults",
    "ro",
    "rw",
    "suid",
    "nosuid",
    "dev",
    "nodev",
    "exec",
    "noexec",
    "sync",
    "async",
    "dirsync",
    "remount",
    "mand",
    "nomand",
    "atime",
    "noatime",
    "diratime",
    "nodiratime",
    "relatime",
    "norelatime",
    "strictatime",
    "nostrictatime",
    "lazytime",
    "nolazytime",
    "silent",
    "loud",
    "nosymfollow",
    "symfollow",
    "bind",
    "rbind",
    "shared",
    "rshared",
    "slave",
    "rslave",
    "private",
    "rprivate",
    "unbindable",
    "runbindable",
    "idmap",
    "ridmap",
    "tmpcopyup",
    "notmpcopyup",
];

/// Parses an option list. Flag words (mount(8)): `ro rw suid nosuid dev nodev exec noexec sync async dirsync
/// remount mand nomand atime noatime diratime nodiratime relatime norelatime strictatime nostrictatime lazytime
/// nolazytime silent loud nosymfollow symfollow defaults bind rbind`, the propagation words above, the recursive
/// words of [`RECURSIVE_WORDS`], `idmap` and `ridmap`; anything else is file-system data.
///
/// Errors: a message naming the word for words holm does not implement.
pub fn parse(options: &[String]) -> Result<MountOptions, String> {
    let mut o = MountOptions::default();
    for word in options {
        let w = word.as_str();
        let (set, clr): (libc::c_ulong, libc::c_ulong) = match w {
            "defaults" => (0, 0),
            "ro" => (MS_RDONLY, 0),
            "rw" => (0, MS_RDONLY),
            "suid" => (0, MS_NOSUID),
            "nosuid" => (MS_NOSUID, 0),
            "dev" => (0, MS_NODEV),
            "nodev" => (MS_NODEV, 0),
            "exec" => (0, MS_NOEXEC),
            "noexec" => (MS_NOEXEC, 0),
            "sync" => (MS_SYNCHRONOUS, 0),
            "async" => (0, MS_SYNCHRONOUS),
            "dirsync" => (MS_DIRSYNC, 0),
            "remount" => (MS_REMOUNT, 0),
            "mand" => (MS_MANDLOCK, 0),
            "nomand" => (0, MS_MANDLOCK),
            "atime" => (0, MS_NOATIME),
            "noatime" => (MS_NOATIME, 0),
            "diratime" => (0, MS_NODIRATIME),
            "nodiratime" => (MS_NODIRATIME, 0),
            "relatime" => (MS_RELATIME, 0),
            "norelatime" => (0, MS_RELATIME),
            "strictatime" => (MS_STRICTATIME, 0),
            "nostrictatime" => (0, MS_STRICTATIME),
            "lazytime" => (MS_LAZYTIME, 0),
            "nolazytime" => (0, MS_LAZYTIME),
            "silent" => (MS_SILENT, 0),
            "loud" => (0, MS_SILENT),
            "bind" => {
                o.bind = true;
                (MS_BIND, 0)
            }
            "rbind" => {
                o.bind = true;
                o.recursive = true;
                (MS_BIND | MS_REC, 0)
            }
            "nosymfollow" => (libc::MS_NOSYMFOLLOW, 0),
            "symfollow" => (0, libc::MS_NOSYMFOLLOW),
            "idmap" | "ridmap" => {
                o.idmap = Some(w == "ridmap");
                continue;
            }
            "tmpcopyup" | "notmpcopyup" => {
                o.copyup = w == "tmpcopyup";
                continue;
            }
            "nocopyup" | "copy-symlink" => return Err(format!("`{w}`: not supported")),
            _ => {
                if let Some((_, set, clr)) = RECURSIVE_WORDS.iter().find(|(n, _, _)| *n == w) {
                    if *clr == ma::MOUNT_ATTR__ATIME {
                        o.rec.set = (o.rec.set & !ma::MOUNT_ATTR__ATIME) | set;
                        o.rec.clear |= clr;
                    } else {
                        o.rec.set = (o.rec.set | set) & !clr;
                        o.rec.clear = (o.rec.clear | clr) & !set;
                    }
                } else if let Some(p) = propagation(w) {
                    o.propagation.push(p);
                } else if w.is_empty() {
                    return Err("empty option word".into());
                } else {
                    o.data.push(w.to_string());
                }
                continue;
            }
        };
        o.flags = (o.flags | set) & !clr;
        o.clear = (o.clear | clr) & !set;
    }
    Ok(o)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(words: &[&str]) -> MountOptions {
        parse(&words.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap()
    }

    #[test]
    fn flags_data_and_propagation() {
        let o = p(&["nosuid", "strictatime", "mode=755", "size=65536k"]);
        assert_eq!(o.flags, MS_NOSUID | MS_STRICTATIME);
        assert_eq!(o.data_string(), "mode=755,size=65536k");
        let o = p(&["rbind", "ro", "rprivate"]);
        assert!(o.bind && o.recursive);
        assert_eq!(o.flags, MS_BIND | MS_REC | MS_RDONLY);
        assert_eq!(o.propagation, vec![MS_PRIVATE | MS_REC]);
        let o = p(&["ro", "rw"]);
        assert_eq!(o.flags, 0);
        assert_eq!(o.clear, MS_RDONLY);
    }

    #[test]
    fn recursive_words_and_idmap() {
        let o = p(&["rbind", "rro", "rnosuid", "rnoatime", "rrelatime", "ridmap"]);
        assert_eq!(o.rec.set, ma::MOUNT_ATTR_RDONLY | ma::MOUNT_ATTR_NOSUID);
        assert_eq!(o.rec.clear, ma::MOUNT_ATTR__ATIME);
        assert_eq!(o.idmap, Some(true));
        let o = p(&["rro", "rrw"]);
        assert_eq!((o.rec.set, o.rec.clear), (0, ma::MOUNT_ATTR_RDONLY));
        assert_eq!(p(&["rstrictatime"]).rec.set, ma::MOUNT_ATTR_STRICTATIME);
        assert_eq!(p(&["nosymfollow"]).flags, libc::MS_NOSYMFOLLOW);
        for w in FLAG_WORDS
            .iter()
            .chain(RECURSIVE_WORDS.iter().map(|(w, _, _)| w))
        {
            if let Ok(o) = parse(&[w.to_string()]) {
                assert!(o.data.is_empty(), "{w} taken as data");
            }
        }
    }

    #[test]
    fn unsupported_words_are_errors() {
        assert!(parse(&["copy-symlink".to_string()]).is_err());
        assert!(parse(&[String::new()]).is_err());
    }
}
