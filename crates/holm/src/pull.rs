//! `holm pull`, and the `--pull` policy of `holm run` / `holm create`: thin calls into `holm-engine`'s pull
//! (`holm_engine::pull`) that print docker's progress lines.
//!
//! Output (docker's, without a terminal): progress on stderr (`latest: Pulling from library/busybox`, one line per
//! layer state, `Digest: …`, `Status: …`), then the full reference on stdout, the line `docker pull` ends with;
//! `-q` prints only that line. Errors exit 1 for `holm pull` (docker's code) and 125 for `run` / `create`.

use anyhow::Result;
use clap::{Args, ValueEnum};
use holm_engine::pull::{PullProgress, PullRequest};
use holm_engine::Engine;

/// `holm pull`.
#[derive(Debug, Args)]
pub struct PullArgs {
    /// Print only the image reference.
    #[arg(short, long)]
    pub quiet: bool,
    /// Platform to pick from a multi-platform image (os/arch[/variant]).
    #[arg(long, default_value = "linux/amd64")]
    pub platform: String,
    /// Require HTTPS with verified certificates (default: true, except for registries on the loopback address,
    /// which may be plain HTTP as docker allows). `--tls-verify=false`: allow self-signed certificates and plain
    /// HTTP for any registry.
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub tls_verify: Option<bool>,
    /// The image: `NAME[:TAG|@DIGEST]` (default tag `latest`, default registry docker.io).
    pub image: String,
}

/// When `run` / `create` pull their image (docker's `--pull`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum PullPolicy {
    /// Pull even if the image is in the store.
    Always,
    /// Pull only if the image is not in the store.
    #[default]
    Missing,
    /// Never pull: a missing image is an error.
    Never,
}

impl From<PullPolicy> for holm_engine::pull::PullPolicy {
    fn from(p: PullPolicy) -> Self {
        match p {
            PullPolicy::Always => Self::Always,
            PullPolicy::Missing => Self::Missing,
            PullPolicy::Never => Self::Never,
        }
    }
}

/// The progress printer: docker's lines on stderr, nothing if `quiet`.
fn printer(quiet: bool) -> impl FnMut(PullProgress) {
    move |p: PullProgress| {
        if !quiet {
            eprintln!("{}", p.line());
        }
    }
}

/// `holm pull`: prints the full reference on stdout at the end (only that with `-q`).
pub fn pull(engine: &Engine, a: &PullArgs) -> Result<()> {
    let req = PullRequest {
        image: &a.image,
        platform: &a.platform,
        tls_verify: a.tls_verify,
    };
    let r = engine.image_pull(&req, &mut printer(a.quiet))?;
    println!("{r}");
    Ok(())
}

/// Applies `run` / `create`'s pull policy to `name` before the container is created (see
/// [`holm_engine::Engine::ensure_image`]); progress on stderr unless `quiet`.
pub fn ensure_image(
    engine: &Engine,
    name: &str,
    policy: PullPolicy,
    platform: Option<&str>,
    tls_verify: Option<bool>,
    quiet: bool,
) -> Result<()> {
    let req = PullRequest {
        image: name,
        platform: platform.unwrap_or("linux/amd64"),
        tls_verify,
    };
    engine.ensure_image(&req, policy.into(), platform.is_some(), &mut printer(quiet))?;
    Ok(())
}
