//! Image config → OCI runtime spec (image-spec `conversion.md`, with docker's override rules).
//!
//! - `process.args` = Entrypoint + Cmd. An Entrypoint override drops the image's Cmd; a Cmd override replaces only
//!   Cmd.
//! - `process.env` = image Env, then overrides (same variable: the override wins); `PATH` gets the usual default if
//!   neither sets it; `TERM=xterm` with a terminal.
//! - `process.cwd` = WorkingDir (override first), resolved inside the rootfs (`..` and symlinks cannot leave it) and
//!   created if missing, as docker does.
//! - `process.user` = User (override first) resolved with the image's `/etc/passwd` and `/etc/group`
//!   ([`crate::passwd`]).
//! - annotations: `org.opencontainers.image.{os,architecture,variant,os.version,author,created,stopSignal,
//!   exposedPorts}` and the config's Labels (which never replace those).
//! - Volumes are returned by [`volumes`] (resolved like WorkingDir) for the engine to mount.
//!
//! The rest of the spec is `oci_spec`'s default (namespaces, mounts, capabilities), with no hostname.

use crate::passwd::{self, UserError};
use crate::platform;
use crate::rootfs;
use oci_spec::image::ImageConfiguration;
use oci_spec::runtime::{RootBuilder, Spec, UserBuilder};
use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};

/// The `PATH` a process gets when neither the image nor the overrides set one.
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Errors converting an image config.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    /// Neither the image nor the overrides give a command.
    #[error("no command specified: the image has no Entrypoint or Cmd and none was given")]
    NoCommand,
    /// The user could not be resolved.
    #[error(transparent)]
    User(#[from] UserError),
    /// A path of the config could not be resolved inside the rootfs.
    #[error("{what} `{path}`: {source}")]
    Path {
        /// `WorkingDir` or `Volumes`.
        what: &'static str,
        /// The path as configured.
        path: String,
        /// The error.
        #[source]
        source: io::Error,
    },
    /// oci-spec refused a value.
    #[error("build runtime spec: {0}")]
    Build(String),
}

/// What `holm run` (or its caller) overrides in the image's config.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Overrides {
    /// `--entrypoint` (replaces Entrypoint and drops the image's Cmd).
    pub entrypoint: Option<Vec<String>>,
    /// Command arguments (replace Cmd).
    pub cmd: Option<Vec<String>>,
    /// `--env NAME=VALUE`, applied after the image's Env.
    pub env: Vec<String>,
    /// `--workdir`.
    pub working_dir: Option<String>,
    /// `--user`.
    pub user: Option<String>,
    /// `--tty`.
    pub terminal: bool,
}

fn merge_env(base: &[String], over: &[String], terminal: bool) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for e in base.iter().chain(over) {
        let key = e.split_once('=').map_or(e.as_str(), |(k, _)| k);
        out.retain(|x| x.split_once('=').map_or(x.as_str(), |(k, _)| k) != key);
        out.push(e.clone());
    }
    if !out.iter().any(|e| e.starts_with("PATH=")) {
        out.insert(0, format!("PATH={DEFAULT_PATH}"));
    }
    if terminal && !out.iter().any(|e| e.starts_with("TERM=")) {
        out.push("TERM=xterm".into());
    }
    out
}

/// The runtime spec for running `image` on the root filesystem `rootfs` (a mounted snapshot) with `ov`.
pub fn runtime_spec(
    image: &ImageConfiguration,
    rootfs: &Path,
    ov: &Overrides,
) -> Result<Spec, SpecError> {
    let cfg = image.config().clone().unwrap_or_default();
    let (entrypoint, cmd) = match &ov.entrypoint {
        Some(ep) => (ep.clone(), ov.cmd.clone().unwrap_or_default()),
        None => (
            cfg.entrypoint().clone().unwrap_or_default(),
            ov.cmd
                .clone()
                .or_else(|| cfg.cmd().clone())
                .unwrap_or_default(),
        ),
    };
    let args: Vec<String> = entrypoint.into_iter().chain(cmd).collect();
    if args.is_empty() {
        return Err(SpecError::NoCommand);
    }
    let env = merge_env(
        cfg.env().as_deref().unwrap_or_default(),
        &ov.env,
        ov.terminal,
    );
    let wd = ov
        .working_dir
        .clone()
        .or_else(|| cfg.working_dir().clone())
        .filter(|w| !w.is_empty())
        .unwrap_or_else(|| "/".into());
    let cwd = rootfs::resolve_dir(rootfs, &wd, true).map_err(|source| SpecError::Path {
        what: "WorkingDir",
        path: wd.clone(),
        source,
    })?;
    let user_spec = ov
        .user
        .clone()
        .or_else(|| cfg.user().clone())
        .unwrap_or_default();
    let u = passwd::resolve_user(rootfs, &user_spec)?;
    let mut user = UserBuilder::default().uid(u.uid).gid(u.gid);
    if !u.additional_gids.is_empty() {
        user = user.additional_gids(u.additional_gids.clone());
    }
    let user = user.build().map_err(|e| SpecError::Build(e.to_string()))?;

    let mut spec = Spec::default();
    spec.set_hostname(None);
    let mut process = spec.process().clone().unwrap_or_default();
    process.set_args(Some(args));
    process.set_env(Some(env));
    process.set_cwd(cwd);
    process.set_user(user);
    process.set_terminal(Some(ov.terminal));
    spec.set_process(Some(process));
    let root = RootBuilder::default()
        .path(rootfs.to_path_buf())
        .readonly(false)
        .build()
        .map_err(|e| SpecError::Build(e.to_string()))?;
    spec.set_root(Some(root));
    spec.set_annotations(Some(annotations(image)));
    Ok(spec)
}

/// The annotations image-spec `conversion.md` derives from a config, plus its Labels.
pub fn annotations(image: &ImageConfiguration) -> HashMap<String, String> {
    const P: &str = "org.opencontainers.image";
    let mut a = HashMap::new();
    a.insert(format!("{P}.os"), platform::os_name(image.os()));
    a.insert(
        format!("{P}.architecture"),
        platform::arch_name(image.architecture()),
    );
    if let Some(v) = image.variant() {
        a.insert(format!("{P}.variant"), v.clone());
    }
    if let Some(v) = image.os_version() {
        a.insert(format!("{P}.os.version"), v.clone());
    }
    if let Some(v) = image.os_features() {
        a.insert(format!("{P}.os.features"), v.join(","));
    }
    if let Some(v) = image.author() {
        a.insert(format!("{P}.author"), v.clone());
    }
    if let Some(v) = image.created() {
        a.insert(format!("{P}.created"), v.clone());
    }
    if let Some(cfg) = image.config() {
        if let Some(s) = cfg.stop_signal() {
            a.insert(format!("{P}.stopSignal"), s.clone());
        }
        if let Some(ports) = cfg.exposed_ports() {
            let mut p = ports.clone();
            p.sort();
            a.insert(format!("{P}.exposedPorts"), p.join(","));
        }
        if let Some(labels) = cfg.labels() {
            for (k, v) in labels {
                a.entry(k.clone()).or_insert_with(|| v.clone());
            }
        }
    }
    a
}

/// The image's Volumes, resolved inside `rootfs` (created if missing), sorted.
pub fn volumes(image: &ImageConfiguration, rootfs: &Path) -> Result<Vec<PathBuf>, SpecError> {
    let mut out = Vec::new();
    let vols = image
        .config()
        .as_ref()
        .and_then(|c| c.volumes().clone())
        .unwrap_or_default();
    for v in vols {
        let p = rootfs::resolve_dir(rootfs, &v, true).map_err(|source| SpecError::Path {
            what: "Volumes",
            path: v.clone(),
            source,
        })?;
        if !out.contains(&p) {
            out.push(p);
        }
    }
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::merge_env;

    #[test]
    fn env_merging() {
        let base = vec!["PATH=/bin".to_string(), "A=1".into(), "B=2".into()];
        let over = vec!["A=3".to_string(), "C=4".into()];
        assert_eq!(
            merge_env(&base, &over, false),
            ["PATH=/bin", "B=2", "A=3", "C=4"]
        );
        let e = merge_env(&[], &[], true);
        assert_eq!(
            e,
            [format!("PATH={}", super::DEFAULT_PATH), "TERM=xterm".into()]
        );
    }
}
