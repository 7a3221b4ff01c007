//! `holm cp SRC C:DST` / `holm cp C:SRC DST`: the container side is resolved inside the container's root (see
//! `holm_engine::copy`).

use anyhow::{bail, Result};
use clap::Args;
use holm_engine::Engine;
use std::path::Path;

/// `holm cp`.
#[derive(Debug, Args)]
pub struct CpArgs {
    /// Follow a symlink at the source path (copy what it names, under the link's name).
    #[arg(short = 'L', long)]
    pub follow_link: bool,
    /// Source: a host path or `CONTAINER:PATH`.
    pub src: String,
    /// Destination: `CONTAINER:PATH` or a host path.
    pub dst: String,
}

/// `CONTAINER:PATH` → (container, path); a host path (absolute, relative with `./`, or without a colon) → None.
fn split(s: &str) -> Option<(&str, &str)> {
    if s.starts_with('/') || s.starts_with('.') {
        return None;
    }
    let (c, p) = s.split_once(':')?;
    (!c.is_empty()).then_some((c, p))
}

/// `holm cp`. `-` as the source reads a tar stream from stdin (extracted into the container's directory), as the
/// destination writes one to stdout, as docker's.
pub fn cp(engine: &Engine, a: &CpArgs) -> Result<i32> {
    let opts = holm_engine::copy::CopyOptions {
        follow_link: a.follow_link,
    };
    match (split(&a.src), split(&a.dst)) {
        (None, Some((c, p))) if a.src == "-" => {
            let p = if p.is_empty() { "/" } else { p };
            engine.copy_to_from_tar(c, std::io::stdin().lock(), p)?;
        }
        (Some((c, p)), None) if a.dst == "-" => {
            let p = if p.is_empty() { "/" } else { p };
            let out = std::io::stdout().lock();
            if std::io::IsTerminal::is_terminal(&out) {
                bail!("cannot write a tar archive to a terminal: redirect standard output");
            }
            engine.copy_from_to_tar(c, p, opts, out)?;
        }
        (None, Some((c, p))) => {
            let p = if p.is_empty() { "/" } else { p };
            engine.copy_to(c, Path::new(&a.src), p, opts)?;
        }
        (Some((c, p)), None) => {
            let p = if p.is_empty() { "/" } else { p };
            engine.copy_from(c, p, Path::new(&a.dst), opts)?;
        }
        (Some(_), Some(_)) => bail!("copying between containers is not supported"),
        (None, None) => bail!("must specify at least one container source (CONTAINER:PATH)"),
    }
    Ok(0)
}
