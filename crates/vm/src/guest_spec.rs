//! The host's `config.json` turned into what the guest and the jail need: the [`CreateRequest`] the agent runs
//! (guest paths), the 9p shares qemu exports and the binds that put their host directories into the jail.
//!
//! - the rootfs is shared as tag `rootfs`, mounted by the agent at [`GUEST_ROOTFS`]. The share is writable
//!   even with `root.readonly`: the guest's holm-container creates the mount points first and then makes the
//!   root read-only, as runc does on the host (the rootfs is the container's own: a guest that ignored
//!   `readonly` could only change its own files);
//! - each bind mount of a host directory is shared as tag `volN` (read-only when its options say `ro`) and its
//!   `source` rewritten to `/mnt/volN`;
//! - a bind mount of a regular file (`-v ./app.conf:/etc/app.conf`; engines bind `/etc/resolv.conf`, `/etc/hosts`,
//!   `/etc/hostname`) cannot be a 9p share of its own: the jail binds the host file itself (read-only when the
//!   mount is) on `/vm/files/fN`, in the container's state directory shared as tag `files`, and the guest mounts
//!   it from there: writes in the guest reach the host file and the host's changes are seen, as with a bind mount
//!   (the guest cannot replace the file: it is a mount point in the VMM's jail);
//! - bind mounts of anything else (device nodes) keep their source: the guest's own device is used;
//! - hooks run on the host (`prestart`, `createRuntime`, `poststart`, `poststop`) and are removed from the guest's
//!   config; `createContainer`/`startContainer` would run host binaries inside the guest and are refused;
//! - the network namespace entry loses its path (the guest's eth0 is the container's network); joining any other
//!   existing namespace (a host path) is refused: host namespaces do not exist inside the VM.

use crate::jail::Bind;
use crate::qemu::Share;
use holm_vm_proto::{CreateRequest, Share as GuestShare, ShareType};
use oci_spec::runtime::{LinuxNamespaceType, Spec};
use std::path::{Path, PathBuf};

/// Where the agent mounts the container's rootfs in the guest (the guest config's `root.path`).
pub const GUEST_ROOTFS: &str = "/mnt/rootfs";

/// Errors turning a config into a guest plan; each names the field.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A config field the VM path cannot honour.
    #[error("{field}: {msg}")]
    Unsupported {
        /// JSON path of the field.
        field: String,
        /// What is wrong and what would work.
        msg: String,
    },
    /// Reading a bind source or creating `files_dir` failed. The cause is part of the message and not a
    /// `source()`, so that a chain printer (`{:#}`) does not say it twice.
    #[error("{field}: {path}: {err}")]
    Io {
        /// JSON path of the mount.
        field: String,
        /// The host file.
        path: PathBuf,
        /// The cause.
        err: std::io::Error,
    },
}

/// What [`plan`] produces.
#[derive(Debug)]
pub struct GuestPlan {
    /// The request for the agent.
    pub request: CreateRequest,
    /// The qemu shares (jail paths).
    pub shares: Vec<Share>,
    /// Host → jail binds for the shares.
    pub binds: Vec<Bind>,
}

fn is_bind(m: &oci_spec::runtime::Mount) -> bool {
    m.typ().as_deref() == Some("bind")
        || m.options()
            .as_ref()
            .is_some_and(|o| o.iter().any(|x| x == "bind" || x == "rbind"))
}

/// How many 9p shares the VM of OCI `spec` (bundle directory `bundle`, against which relative sources resolve)
/// gets, as [`plan`] makes them: the rootfs, one per bind-mounted directory and one for all bind-mounted files
/// together (a source that does not exist counts as nothing; `plan` refuses it).
pub fn share_count(spec: &oci_spec::runtime::Spec, bundle: &Path) -> usize {
    let (mut dirs, mut files) = (0, false);
    for m in spec.mounts().iter().flatten().filter(|m| is_bind(m)) {
        let Some(src) = m.source() else {
            continue;
        };
        let src = if src.is_absolute() {
            src.clone()
        } else {
            bundle.join(src)
        };
        match std::fs::metadata(&src) {
            Ok(md) if md.is_dir() => dirs += 1,
            Ok(md) if md.is_file() => files = true,
            _ => {}
        }
    }
    1 + dirs + usize::from(files)
}

fn is_ro(m: &oci_spec::runtime::Mount) -> bool {
    m.options()
        .as_ref()
        .is_some_and(|o| o.iter().any(|x| x == "ro"))
}

/// Builds the guest plan for container `id` from its `spec`, `rootfs` (absolute host path) and `bundle` (for
/// relative bind sources). File binds are bound into the jail under `files_dir` (created if needed).
pub fn plan(
    id: &str,
    spec: &Spec,
    bundle: &Path,
    rootfs: &Path,
    files_dir: &Path,
) -> Result<GuestPlan, Error> {
    let mut guest = spec.clone();
    let unsupported = |field: &str, msg: &str| Error::Unsupported {
        field: field.to_string(),
        msg: msg.to_string(),
    };
    if let Some(h) = spec.hooks() {
        if h.create_container().as_ref().is_some_and(|v| !v.is_empty()) {
            return Err(unsupported(
                "hooks.createContainer",
                "not supported with --isolation vm (it would run a host binary inside the guest)",
            ));
        }
        if h.start_container().as_ref().is_some_and(|v| !v.is_empty()) {
            return Err(unsupported(
                "hooks.startContainer",
                "not supported with --isolation vm (it would run a host binary inside the guest)",
            ));
        }
    }
    guest.set_hooks(None);
    if let Some(root) = guest.root_mut() {
        root.set_path(GUEST_ROOTFS.into());
    }
    if let Some(linux) = guest.linux_mut() {
        if let Some(nss) = linux.namespaces_mut() {
            for (i, ns) in nss.iter_mut().enumerate() {
                if ns.path().is_none() {
                    continue;
                }
                if ns.typ() == LinuxNamespaceType::Network {
                    ns.set_path(None);
                } else {
                    return Err(unsupported(
                        &format!("linux.namespaces[{i}].path"),
                        "joining an existing namespace is not possible with --isolation vm (host namespaces do \
                         not exist in the guest)",
                    ));
                }
            }
        }
    }
    let mut shares = vec![Share {
        tag: "rootfs".into(),
        path: "/vm/rootfs".into(),
        readonly: false,
    }];
    let mut binds = vec![Bind {
        host: rootfs.to_path_buf(),
        jail: "/vm/rootfs".into(),
        readonly: false,
    }];
    let mut volumes = Vec::new();
    let mut files = 0usize;
    // Bound after the `files` directory itself (onto mount points inside it).
    let mut file_binds = Vec::new();
    if let Some(mounts) = guest.mounts_mut() {
        for (i, m) in mounts.iter_mut().enumerate() {
            if !is_bind(m) {
                continue;
            }
            let field = format!("mounts[{i}].source");
            let Some(src) = m.source().clone() else {
                continue;
            };
            let src = if src.is_absolute() {
                src
            } else {
                bundle.join(src)
            };
            let meta = std::fs::metadata(&src).map_err(|e| Error::Io {
                field: field.clone(),
                path: src.clone(),
                err: e,
            })?;
            if meta.is_dir() {
                let n = volumes.len();
                let (tag, jail, at) = (
                    format!("vol{n}"),
                    format!("/vm/vol{n}"),
                    format!("/mnt/vol{n}"),
                );
                let ro = is_ro(m);
                shares.push(Share {
                    tag: tag.clone(),
                    path: jail.clone().into(),
                    readonly: ro,
                });
                binds.push(Bind {
                    host: src,
                    jail: jail.into(),
                    readonly: ro,
                });
                volumes.push(GuestShare {
                    fstype: ShareType::NineP,
                    tag,
                    guest_path: at.clone(),
                    readonly: ro,
                });
                m.set_source(Some(at.into()));
            } else if meta.is_file() {
                std::fs::create_dir_all(files_dir).map_err(|e| Error::Io {
                    field: field.clone(),
                    path: files_dir.to_path_buf(),
                    err: e,
                })?;
                let name = format!("f{files}");
                files += 1;
                file_binds.push(Bind {
                    host: src,
                    jail: format!("/vm/files/{name}").into(),
                    readonly: is_ro(m),
                });
                m.set_source(Some(format!("/mnt/files/{name}").into()));
            }
        }
    }
    if files > 0 {
        shares.push(Share {
            tag: "files".into(),
            path: "/vm/files".into(),
            readonly: false,
        });
        binds.push(Bind {
            host: files_dir.to_path_buf(),
            jail: "/vm/files".into(),
            readonly: false,
        });
        binds.append(&mut file_binds);
        volumes.push(GuestShare {
            fstype: ShareType::NineP,
            tag: "files".into(),
            guest_path: "/mnt/files".into(),
            readonly: false,
        });
    }
    let request = CreateRequest {
        id: id.to_string(),
        hostname: spec.hostname().clone(),
        config: Box::new(guest),
        rootfs: GuestShare {
            fstype: ShareType::NineP,
            tag: "rootfs".into(),
            guest_path: GUEST_ROOTFS.into(),
            readonly: false,
        },
        volumes,
        networks: Vec::new(),
        entropy: Vec::new(),
        realtime_ns: None,
    };
    check_request_size(&request)?;
    Ok(GuestPlan {
        request,
        shares,
        binds,
    })
}

/// Room left in a control frame for what the host adds to the request after [`plan`] (eth0's configuration).
const REQUEST_MARGIN: usize = 16 << 10;

/// Refuses, before any VM boots, a config whose create request would not fit in one control frame
/// ([`holm_vm_proto::MAX_CONTROL`]), naming the field that makes it big (a huge `-e` list, typically), instead
/// of failing after the boot with a protocol error.
fn check_request_size(request: &CreateRequest) -> Result<(), Error> {
    let req = holm_vm_proto::Request::Create(Box::new(request.clone()));
    let size = serde_json::to_vec(&req).map_or(usize::MAX, |v| v.len());
    let limit = holm_vm_proto::MAX_CONTROL - REQUEST_MARGIN;
    oversized(
        size,
        limit,
        request.config.process().as_ref(),
        "the VM's create request",
        "the guest's control channel takes",
    )
}

/// Refuses, before it is sent, an exec whose process (runtime-spec `process`: args, env, ...) would not fit in one
/// request line to the VM shim ([`crate::shim_api::MAX_LINE`]) or one control frame to the guest
/// ([`holm_vm_proto::MAX_CONTROL`]); the error names `process.env` when the environment makes it big. Sending it
/// would fail with a protocol error instead.
///
/// # Errors
/// [`Error::Unsupported`] naming `process.env` or `process`.
pub fn check_exec_size(process: &oci_spec::runtime::Process) -> Result<(), Error> {
    let size = serde_json::to_vec(process).map_or(usize::MAX, |v| v.len());
    let limit = crate::shim_api::MAX_LINE.min(holm_vm_proto::MAX_CONTROL) - REQUEST_MARGIN;
    oversized(
        size,
        limit,
        Some(process),
        "the exec request",
        "the VM shim and the guest's control channel take",
    )
    .map_err(|e| match e {
        Error::Unsupported { field, msg } if field == "config.json" => Error::Unsupported {
            field: "process".into(),
            msg,
        },
        e => e,
    })
}

/// `Ok` when `size <= limit`, else the one-line refusal naming `process.env` when the environment is most of it.
fn oversized(
    size: usize,
    limit: usize,
    process: Option<&oci_spec::runtime::Process>,
    what: &str,
    taker: &str,
) -> Result<(), Error> {
    if size <= limit {
        return Ok(());
    }
    let env: usize = process
        .and_then(|p| p.env().as_ref())
        .map_or(0, |e| e.iter().map(|v| v.len() + 3).sum());
    let field = if env > size / 2 {
        "process.env"
    } else {
        "config.json"
    };
    Err(Error::Unsupported {
        field: field.to_string(),
        msg: format!(
            "{what} would be {size} bytes ({env} of them environment), more than the {limit} bytes {taker}"
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(json: serde_json::Value) -> Spec {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn oversized_environment_is_refused_before_a_boot() {
        let dir = tempfile::tempdir().unwrap();
        let env: Vec<String> = (0..12000)
            .map(|i| format!("V{i}={}", "x".repeat(100)))
            .collect();
        let s = spec(serde_json::json!({
            "ociVersion": "1.0.2",
            "root": {"path": "rootfs"},
            "process": {"cwd": "/", "user": {"uid": 0, "gid": 0}, "args": ["true"], "env": env},
        }));
        let files = dir.path().join("files");
        let e = plan("c1", &s, dir.path(), Path::new("/b/rootfs"), &files).unwrap_err();
        let msg = e.to_string();
        assert!(msg.starts_with("process.env: "), "{msg}");
        assert!(msg.contains("control channel"), "{msg}");
        assert_eq!(msg.lines().count(), 1, "{msg}");
        // A normal environment still fits.
        let s = spec(serde_json::json!({
            "ociVersion": "1.0.2",
            "root": {"path": "rootfs"},
            "process": {"cwd": "/", "user": {"uid": 0, "gid": 0}, "args": ["true"], "env": ["A=1"]},
        }));
        plan("c1", &s, dir.path(), Path::new("/b/rootfs"), &files).unwrap();
    }

    #[test]
    fn oversized_exec_environment_is_refused_before_it_is_sent() {
        let env: Vec<String> = (0..12000)
            .map(|i| format!("V{i}={}", "x".repeat(100)))
            .collect();
        let p: oci_spec::runtime::Process = serde_json::from_value(serde_json::json!({
            "cwd": "/", "user": {"uid": 0, "gid": 0}, "args": ["true"], "env": env,
        }))
        .unwrap();
        let msg = check_exec_size(&p).unwrap_err().to_string();
        assert!(
            msg.starts_with("process.env: the exec request would be "),
            "{msg}"
        );
        assert_eq!(msg.lines().count(), 1, "{msg}");
        let p: oci_spec::runtime::Process = serde_json::from_value(serde_json::json!({
            "cwd": "/", "user": {"uid": 0, "gid": 0}, "args": ["true"], "env": ["A=1"],
        }))
        .unwrap();
        check_exec_size(&p).unwrap();
    }

    #[test]
    fn rootfs_volumes_files_and_devices() {
        let dir = tempfile::tempdir().unwrap();
        let vol = dir.path().join("data");
        std::fs::create_dir(&vol).unwrap();
        let hosts = dir.path().join("hosts");
        std::fs::write(&hosts, "127.0.0.1 localhost\n").unwrap();
        let s = spec(serde_json::json!({
            "ociVersion": "1.0.2",
            "root": {"path": "rootfs", "readonly": true},
            "hostname": "box",
            "mounts": [
                {"destination": "/proc", "type": "proc", "source": "proc"},
                {"destination": "/data", "type": "bind", "source": vol, "options": ["rbind", "ro"]},
                {"destination": "/etc/hosts", "source": hosts, "options": ["bind"]},
                {"destination": "/dev/null2", "source": "/dev/null", "options": ["bind"]}
            ],
            "hooks": {"prestart": [{"path": "/bin/true"}]},
            "linux": {"namespaces": [{"type": "network", "path": "/proc/1/ns/net"}, {"type": "mount"}]}
        }));
        let files = dir.path().join("files");
        let p = plan("c1", &s, dir.path(), Path::new("/b/rootfs"), &files).unwrap();
        let tags: Vec<_> = p
            .shares
            .iter()
            .map(|s| (s.tag.as_str(), s.readonly))
            .collect();
        assert_eq!(tags, [("rootfs", false), ("vol0", true), ("files", false)]);
        assert_eq!(
            p.request.config.root().as_ref().unwrap().readonly(),
            Some(true)
        );
        assert_eq!(p.binds[0].host, Path::new("/b/rootfs"));
        assert_eq!(p.binds[1].host, vol);
        assert_eq!(p.binds[2].host, files);
        // The host file itself is bound (a live bind mount, not a copy), after the directory it is mounted in.
        assert_eq!(p.binds[3].host, hosts);
        assert_eq!(p.binds[3].jail, Path::new("/vm/files/f0"));
        assert!(!p.binds[3].readonly);
        assert_eq!(p.binds.len(), 4);
        let g = &p.request.config;
        assert_eq!(g.root().as_ref().unwrap().path(), Path::new(GUEST_ROOTFS));
        let srcs: Vec<_> = g
            .mounts()
            .as_ref()
            .unwrap()
            .iter()
            .map(|m| m.source().clone().unwrap().display().to_string())
            .collect();
        assert_eq!(srcs, ["proc", "/mnt/vol0", "/mnt/files/f0", "/dev/null"]);
        assert!(g.hooks().is_none(), "host hooks stay on the host");
        let ns = g.linux().as_ref().unwrap().namespaces().as_ref().unwrap();
        assert!(ns[0].path().is_none());
        assert_eq!(p.request.hostname.as_deref(), Some("box"));
        let vols: Vec<_> = p
            .request
            .volumes
            .iter()
            .map(|v| v.guest_path.as_str())
            .collect();
        assert_eq!(vols, ["/mnt/vol0", "/mnt/files"]);
    }

    #[test]
    fn a_missing_bind_source_is_said_once() {
        let dir = tempfile::tempdir().unwrap();
        let gone = dir.path().join("gone");
        let s = spec(serde_json::json!({
            "ociVersion": "1.0.2",
            "root": {"path": "rootfs"},
            "process": {"cwd": "/", "user": {"uid": 0, "gid": 0}, "args": ["true"]},
            "mounts": [{"destination": "/data", "type": "bind", "source": gone, "options": ["rbind"]}],
        }));
        let e = plan(
            "c1",
            &s,
            dir.path(),
            Path::new("/b/rootfs"),
            &dir.path().join("files"),
        )
        .unwrap_err();
        // What a chain printer (`{:#}`, the runtime's log) shows: the message and its sources.
        let mut msg = e.to_string();
        let mut src = std::error::Error::source(&e);
        while let Some(s) = src {
            msg = format!("{msg}: {s}");
            src = s.source();
        }
        assert_eq!(
            msg,
            format!(
                "mounts[0].source: {}: No such file or directory (os error 2)",
                gone.display()
            )
        );
    }

    #[test]
    fn refusals_name_the_field() {
        let dir = tempfile::tempdir().unwrap();
        let bad = [
            (
                serde_json::json!({"ociVersion": "1.0.2", "linux": {"namespaces": [{"type": "ipc", "path": "/proc/1/ns/ipc"}]}}),
                "linux.namespaces[0].path:",
            ),
            (
                serde_json::json!({"ociVersion": "1.0.2", "hooks": {"createContainer": [{"path": "/bin/true"}]}}),
                "hooks.createContainer:",
            ),
            (
                serde_json::json!({"ociVersion": "1.0.2", "mounts": [{"destination": "/x", "type": "bind", "source": "/no/such/dir"}]}),
                "mounts[0].source: /no/such/dir:",
            ),
        ];
        for (j, want) in bad {
            let e = plan("c", &spec(j), dir.path(), dir.path(), &dir.path().join("f")).unwrap_err();
            assert!(e.to_string().starts_with(want), "{e}");
        }
    }
}
