//! `--mount type=bind|volume|tmpfs,...` and `--tmpfs DST[:OPTIONS]`, parsed and checked the way docker does (bad
//! values are [`Error::InvalidFlag`]s naming the flag).

use crate::config::parse_size;
use crate::{Error, Result};

/// One `--mount` or `--tmpfs`, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountOpt {
    /// `bind` or `tmpfs`.
    pub typ: String,
    /// Host path (binds).
    pub source: String,
    /// Container path.
    pub destination: String,
    /// Read-only.
    pub read_only: bool,
    /// Mount options for the spec (besides `ro`).
    pub options: Vec<String>,
    /// A volume without a source: a new anonymous one (`source` is its random name).
    pub anonymous: bool,
}

fn tmpfs_size(flag: &str, whole: &str, v: &str) -> Result<String> {
    let n =
        parse_size(flag, v).map_err(|_| Error::flag(flag, whole, format!("invalid size `{v}`")))?;
    Ok(format!("size={n}"))
}

fn tmpfs_mode(flag: &str, whole: &str, v: &str) -> Result<String> {
    u32::from_str_radix(v, 8)
        .ok()
        .filter(|m| *m <= 0o7777)
        .map(|m| format!("mode={m:o}"))
        .ok_or_else(|| Error::flag(flag, whole, format!("invalid mode `{v}` (octal)")))
}

fn check_destination(flag: &str, whole: &str, dst: &str) -> Result<()> {
    if !dst.starts_with('/') || dst.trim_end_matches('/').is_empty() {
        return Err(Error::flag(
            flag,
            whole,
            "the destination must be an absolute path other than `/`",
        ));
    }
    Ok(())
}

impl MountOpt {
    /// A `type=volume` mount as the `-v NAME:DST[:ro,nocopy]` the engine handles volumes as; `None` for others.
    pub fn as_volume(&self) -> Option<String> {
        if self.typ != "volume" {
            return None;
        }
        let mut opts = Vec::new();
        if self.read_only {
            opts.push("ro");
        }
        if self.options.iter().any(|o| o == "nocopy") {
            opts.push("nocopy");
        }
        let mut v = format!("{}:{}", self.source, self.destination);
        if !opts.is_empty() {
            v.push(':');
            v.push_str(&opts.join(","));
        }
        Some(v)
    }
}

/// Parses docker's `--mount type=bind|volume|tmpfs,source=…,target=…[,readonly][,bind-propagation=…]
/// [,volume-nocopy][,tmpfs-size=…][,tmpfs-mode=…]` (`src`, `dst`/`destination`, `ro`/`readonly[=true|false]`
/// accepted).
pub fn parse_mount(s: &str) -> Result<MountOpt> {
    let bad = |why: String| Error::flag("--mount", s, why);
    let mut typ = None;
    let (mut src, mut dst) = (None, None);
    let mut read_only = false;
    let mut propagation = "rprivate".to_string();
    let mut tmpfs = Vec::new();
    let mut nocopy = false;
    for kv in s.split(',').filter(|p| !p.is_empty()) {
        let (k, v) = match kv.split_once('=') {
            Some((k, v)) => (k.trim().to_ascii_lowercase(), Some(v.trim())),
            None => (kv.trim().to_ascii_lowercase(), None),
        };
        match (k.as_str(), v) {
            ("type", Some(v)) => typ = Some(v.to_string()),
            ("source" | "src", Some(v)) => src = Some(v.to_string()),
            ("target" | "dst" | "destination", Some(v)) => dst = Some(v.to_string()),
            ("readonly" | "ro", None) => read_only = true,
            ("readonly" | "ro", Some(v)) => {
                read_only = match v {
                    "1" | "true" => true,
                    "0" | "false" => false,
                    _ => return Err(bad(format!("invalid value for {k}: {v}"))),
                }
            }
            ("bind-propagation", Some(v)) => {
                if !matches!(
                    v,
                    "private" | "rprivate" | "shared" | "rshared" | "slave" | "rslave"
                ) {
                    return Err(bad(format!("invalid bind-propagation `{v}`")));
                }
                propagation = v.to_string();
            }
            ("tmpfs-size", Some(v)) => tmpfs.push(tmpfs_size("--mount", s, v)?),
            ("tmpfs-mode", Some(v)) => tmpfs.push(tmpfs_mode("--mount", s, v)?),
            ("volume-nocopy", None | Some("true" | "1")) => nocopy = true,
            ("volume-nocopy", Some("false" | "0")) => nocopy = false,
            ("consistency" | "bind-nonrecursive", _) => {}
            _ => return Err(bad(format!("unexpected key '{k}' in '{kv}'"))),
        }
    }
    let typ = typ.ok_or_else(|| bad("type is required".into()))?;
    let dst = dst.ok_or_else(|| bad("target is required".into()))?;
    check_destination("--mount", s, &dst)?;
    match typ.as_str() {
        "bind" => {
            if !tmpfs.is_empty() {
                return Err(bad("tmpfs options are only for type=tmpfs".into()));
            }
            let src = src.ok_or_else(|| bad("source is required for a bind mount".into()))?;
            if !src.starts_with('/') {
                return Err(bad(
                    "the source of a bind mount must be an absolute path".into()
                ));
            }
            if std::fs::symlink_metadata(&src).is_err() {
                return Err(bad(format!("bind source path does not exist: {src}")));
            }
            Ok(MountOpt {
                typ,
                source: src,
                destination: dst,
                read_only,
                options: vec!["rbind".into(), propagation],
                anonymous: false,
            })
        }
        "tmpfs" => {
            if src.is_some() {
                return Err(bad("a tmpfs mount takes no source".into()));
            }
            let mut options = vec!["nosuid".to_string(), "nodev".into(), "noexec".into()];
            options.extend(tmpfs);
            Ok(MountOpt {
                typ,
                source: "tmpfs".into(),
                destination: dst,
                read_only,
                options,
                anonymous: false,
            })
        }
        "volume" => {
            // A named volume (a new anonymous one, with a random name, without a source); the engine handles it
            // as `-v NAME:DST` (see [`MountOpt::as_volume`]).
            let anonymous = src.is_none();
            let name = match src {
                Some(n) => {
                    crate::volumes::validate_name(&n)
                        .map_err(|_| bad(format!("invalid volume name `{n}`")))?;
                    n
                }
                None => crate::ids::new_id()?,
            };
            let mut options = Vec::new();
            if nocopy {
                options.push("nocopy".to_string());
            }
            Ok(MountOpt {
                typ,
                source: name,
                destination: dst,
                read_only,
                options,
                anonymous,
            })
        }
        t => Err(bad(format!(
            "invalid mount type `{t}`: expected bind, volume or tmpfs"
        ))),
    }
}

/// Parses `--tmpfs DST[:OPTIONS]` (docker's defaults `rw,noexec,nosuid,nodev`; OPTIONS are mount(8) words, with
/// `size=` and `mode=` checked).
pub fn parse_tmpfs(s: &str) -> Result<MountOpt> {
    let (dst, opts) = s.split_once(':').unwrap_or((s, ""));
    check_destination("--tmpfs", s, dst)?;
    let mut options = vec!["nosuid".to_string(), "nodev".into(), "noexec".into()];
    let mut read_only = false;
    for o in opts.split(',').filter(|o| !o.is_empty()) {
        let (k, v) = o.split_once('=').unwrap_or((o, ""));
        match k {
            "ro" => read_only = true,
            "rw" => read_only = false,
            "size" => options.push(tmpfs_size("--tmpfs", s, v)?),
            "mode" => options.push(tmpfs_mode("--tmpfs", s, v)?),
            "exec" | "noexec" | "suid" | "nosuid" | "dev" | "nodev" => {
                let opposite = match k.strip_prefix("no") {
                    Some(base) => base.to_string(),
                    None => format!("no{k}"),
                };
                options.retain(|x| *x != opposite);
                options.push(k.to_string());
            }
            "uid" | "gid" | "nr_inodes" | "nr_blocks" => options.push(o.to_string()),
            _ => {
                return Err(Error::flag(
                    "--tmpfs",
                    s,
                    format!("unknown tmpfs option `{o}`"),
                ))
            }
        }
    }
    Ok(MountOpt {
        typ: "tmpfs".into(),
        source: "tmpfs".into(),
        destination: dst.to_string(),
        read_only,
        options,
        anonymous: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(r: Result<impl std::fmt::Debug>) -> String {
        r.unwrap_err().to_string()
    }

    #[test]
    fn mounts() {
        let m = parse_mount("type=bind,source=/tmp,target=/data,readonly").unwrap();
        assert_eq!(
            (m.source.as_str(), m.destination.as_str(), m.read_only),
            ("/tmp", "/data", true)
        );
        let m = parse_mount("type=tmpfs,dst=/scratch,tmpfs-size=1m,tmpfs-mode=1770").unwrap();
        assert!(m.options.contains(&"size=1048576".to_string()), "{m:?}");
        assert!(m.options.contains(&"mode=1770".to_string()), "{m:?}");
        assert!(err(parse_mount("type=bind,src=/no/such/x,dst=/d")).contains("does not exist"));
        assert!(err(parse_mount("type=nfs,dst=/d")).contains("invalid mount type"));
        let v = parse_mount("type=volume,src=vol,dst=/d,ro,volume-nocopy").unwrap();
        assert_eq!(v.as_volume().unwrap(), "vol:/d:ro,nocopy");
        assert_eq!(parse_mount("type=volume,dst=/d").unwrap().source.len(), 64);
        assert!(err(parse_mount("type=bind,src=/tmp")).contains("target is required"));
        assert!(err(parse_mount("type=tmpfs,dst=/d,bogus=1")).contains("unexpected key"));
        let t = parse_tmpfs("/run:size=64k,exec").unwrap();
        assert!(
            t.options.contains(&"exec".to_string()) && !t.options.contains(&"noexec".to_string())
        );
        assert!(err(parse_tmpfs("rel")).contains("\"--tmpfs\""));
        assert!(err(parse_tmpfs("/x:size=12q")).contains("invalid size"));
    }
}
