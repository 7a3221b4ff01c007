//! `holm pull`, and the `--pull` policy of `holm run` / `holm create`: thin calls into `holm-image`'s registry
//! client that print docker's progress lines.
//!
//! Output (docker's, without a terminal): progress on stderr (`latest: Pulling from library/busybox`, one line per
//! layer state, `Digest: …`, `Status: …`), then the full reference on stdout, the line `docker pull` ends with;
//! `-q` prints only that line. Errors exit 1 for `holm pull` (docker's code) and 125 for `run` / `create`.

use anyhow::{bail, Result};
use clap::{Args, ValueEnum};
use holm_image::platform::Platform;
use holm_image::{ImageStore, PullEvent, PullOptions, Reference, StoreError};

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

/// Short layer id as docker prints it (12 hex digits).
fn short(d: &holm_image::digest::Digest) -> &str {
    let hex = holm_image::digest::hex(d).unwrap_or(d.as_ref());
    &hex[..hex.len().min(12)]
}

/// True if an image record's `os/arch[/variant]` is `wanted` (a variant only counts when both name one).
fn same_platform(record: &str, wanted: &Platform) -> bool {
    Platform::parse(record).is_ok_and(|p| {
        p.os == wanted.os
            && p.architecture == wanted.architecture
            && match (&p.variant, &wanted.variant) {
                (Some(a), Some(b)) => a == b,
                _ => true,
            }
    })
}

/// Pulls `name` and prints docker's progress on stderr unless `quiet`. Returns the normalised reference pulled.
fn pull_image(
    store: &ImageStore,
    name: &str,
    opts: &PullOptions,
    quiet: bool,
) -> Result<Reference> {
    let given = Reference::parse_normalized(name)?;
    let reference = given.clone().or_latest();
    if !quiet {
        if given.tag().is_none() && given.digest().is_none() {
            eprintln!("Using default tag: latest");
        }
        let what = match (reference.digest(), reference.tag()) {
            (Some(d), _) => d.to_string(),
            (None, t) => t.unwrap_or("latest").to_string(),
        };
        eprintln!("{what}: Pulling from {}", reference.path());
    }
    let mut progress = |e: PullEvent| {
        if quiet {
            return;
        }
        match e {
            PullEvent::Resolved(_) => {}
            PullEvent::LayerExists(d) => eprintln!("{}: Already exists", short(&d)),
            PullEvent::LayerPulling(d) => eprintln!("{}: Pulling fs layer", short(&d)),
            PullEvent::LayerDownloaded(d) => eprintln!("{}: Download complete", short(&d)),
            PullEvent::LayerComplete(d) => eprintln!("{}: Pull complete", short(&d)),
        }
    };
    let pulled = store.pull(&reference, opts, &mut progress)?;
    if !quiet {
        eprintln!("Digest: {}", pulled.digest);
        let status = if pulled.updated {
            "Downloaded newer image for"
        } else {
            "Image is up to date for"
        };
        eprintln!("Status: {status} {}", pulled.reference.familiar());
    }
    Ok(pulled.reference)
}

fn tls_verify_opts(platform: &str, tls_verify: Option<bool>) -> Result<PullOptions> {
    Ok(PullOptions {
        platform: Platform::parse(platform)?,
        tls_verify,
        ..Default::default()
    })
}

/// `holm pull`: prints the full reference on stdout at the end (only that with `-q`).
pub fn pull(store: &ImageStore, a: &PullArgs) -> Result<()> {
    let opts = tls_verify_opts(&a.platform, a.tls_verify)?;
    let r = pull_image(store, &a.image, &opts, a.quiet)?;
    println!("{r}");
    Ok(())
}

/// Applies `run` / `create`'s pull policy to `name` before the container is created: `missing` pulls an image
/// that is not in the store (after docker's `Unable to find image 'X' locally`), `always` pulls anyway, `never`
/// fails with docker's `No such image: X`. With an explicit `platform`, a local image of another platform is
/// pulled again for that platform (`never`: docker's "does not match the specified platform" error).
pub fn ensure_image(
    store: &ImageStore,
    name: &str,
    policy: PullPolicy,
    platform: Option<&str>,
    tls_verify: Option<bool>,
    quiet: bool,
) -> Result<()> {
    let opts = tls_verify_opts(platform.unwrap_or("linux/amd64"), tls_verify)?;
    let shown = || {
        Reference::parse(name)
            .map(|r| r.familiar())
            .unwrap_or_else(|_| name.to_string())
    };
    let present = match store.resolve(name) {
        // With an explicit --platform, a local image of another platform counts as missing (docker).
        Ok(img) if platform.is_some() && !same_platform(&img.platform, &opts.platform) => {
            if policy == PullPolicy::Never {
                bail!(
                    "image with reference {} was found but does not match the specified platform: wanted {}, actual: {}",
                    shown(),
                    opts.platform,
                    img.platform
                );
            }
            false
        }
        Ok(_) => true,
        Err(StoreError::NotFound(_)) => false,
        Err(e) => return Err(e.into()),
    };
    match policy {
        PullPolicy::Never if !present => bail!("No such image: {}", shown()),
        PullPolicy::Never => Ok(()),
        PullPolicy::Missing if present => Ok(()),
        PullPolicy::Missing => {
            if !quiet {
                eprintln!("Unable to find image '{}' locally", shown());
            }
            pull_image(store, name, &opts, quiet).map(drop)
        }
        PullPolicy::Always => pull_image(store, name, &opts, quiet).map(drop),
    }
}
