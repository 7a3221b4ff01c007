//! Pulling images (`holm pull`, `POST /images/create?fromImage=`) and `run`/`create`'s `--pull` policy. Progress
//! is reported as docker's JSON messages (`{"status": "Pulling fs layer", "id": "a1b2c3d4e5f6"}`): the API server
//! streams them as they are, the CLI prints `ID: STATUS` (or `STATUS`) lines on stderr, as docker's CLI without a
//! terminal.

use crate::{Engine, Error, Result};
use holm_image::platform::Platform;
use holm_image::{PullEvent, PullOptions, Reference, StoreError};
use serde::Serialize;

/// One progress message of a pull, docker's `JSONMessage` (the fields holm fills).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PullProgress {
    /// What happened: `Pulling from library/busybox`, `Pull complete`, `Digest: sha256:…`, `Status: …`.
    pub status: String,
    /// What it happened to: a tag (`latest`) or a layer's short digest (12 hex digits); absent for messages
    /// about the whole pull.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// True for the messages docker's *client* prints itself (`Using default tag: latest`, `Unable to find image
    /// 'X' locally`): the API server does not send them.
    #[serde(skip)]
    pub client_side: bool,
}

impl PullProgress {
    fn new(status: impl Into<String>, id: Option<String>) -> PullProgress {
        PullProgress {
            status: status.into(),
            id,
            client_side: false,
        }
    }

    fn client(status: String) -> PullProgress {
        PullProgress {
            status,
            id: None,
            client_side: true,
        }
    }

    /// The line docker's CLI prints for it: `ID: STATUS`, or `STATUS`.
    pub fn line(&self) -> String {
        match &self.id {
            Some(id) => format!("{id}: {}", self.status),
            None => self.status.clone(),
        }
    }
}

/// When `run` / `create` pull their image (docker's `--pull`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PullPolicy {
    /// Pull even if the image is in the store.
    Always,
    /// Pull only if the image is not in the store.
    #[default]
    Missing,
    /// Never pull: a missing image is an error.
    Never,
}

/// How to pull: the platform to pick (`os/arch[/variant]`) and whether TLS certificates are verified (`None`:
/// yes, except for registries on the loopback address, which may be plain HTTP as docker allows).
#[derive(Debug, Clone)]
pub struct PullRequest<'a> {
    /// The image: `NAME[:TAG|@DIGEST]` (default tag `latest`, default registry docker.io).
    pub image: &'a str,
    /// `os/arch[/variant]`.
    pub platform: &'a str,
    /// `--tls-verify`.
    pub tls_verify: Option<bool>,
}

/// Short layer id as docker prints it (12 hex digits).
fn short(d: &holm_image::digest::Digest) -> String {
    let hex = holm_image::digest::hex(d).unwrap_or(d.as_ref());
    hex[..hex.len().min(12)].to_string()
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

fn options(platform: &str, tls_verify: Option<bool>) -> Result<PullOptions> {
    Ok(PullOptions {
        platform: Platform::parse(platform)?,
        tls_verify,
        ..Default::default()
    })
}

fn pull_with(
    engine: &Engine,
    name: &str,
    opts: &PullOptions,
    progress: &mut dyn FnMut(PullProgress),
) -> Result<String> {
    let given = Reference::parse_normalized(name).map_err(StoreError::from)?;
    let reference = given.clone().or_latest();
    if given.tag().is_none() && given.digest().is_none() {
        progress(PullProgress::client("Using default tag: latest".into()));
    }
    let what = match (reference.digest(), reference.tag()) {
        (Some(d), _) => d.to_string(),
        (None, t) => t.unwrap_or("latest").to_string(),
    };
    progress(PullProgress::new(
        format!("Pulling from {}", reference.path()),
        Some(what),
    ));
    let mut events = |e: PullEvent| {
        let (status, d) = match e {
            PullEvent::Resolved(_) => return,
            PullEvent::LayerExists(d) => ("Already exists", d),
            PullEvent::LayerPulling(d) => ("Pulling fs layer", d),
            PullEvent::LayerDownloaded(d) => ("Download complete", d),
            PullEvent::LayerComplete(d) => ("Pull complete", d),
        };
        progress(PullProgress::new(status, Some(short(&d))));
    };
    let pulled = engine.images().pull(&reference, opts, &mut events)?;
    // docker's event: the reference, named by its repository
    crate::events::image_event(
        engine.root(),
        "pull",
        &pulled.reference.familiar(),
        &pulled.reference.familiar_repository(),
    );
    progress(PullProgress::new(
        format!("Digest: {}", pulled.digest),
        None,
    ));
    let status = if pulled.updated {
        "Downloaded newer image for"
    } else {
        "Image is up to date for"
    };
    progress(PullProgress::new(
        format!("Status: {status} {}", pulled.reference.familiar()),
        None,
    ));
    Ok(pulled.reference.to_string())
}

impl Engine {
    /// Pulls `req.image`, reporting progress to `progress`; returns the full reference pulled
    /// (`docker.io/library/busybox:latest`, the line `docker pull` ends with). Errors: [`Error::Pull`] (the
    /// registry's answer), [`Error::Platform`], a reference that does not parse.
    pub fn image_pull(
        &self,
        req: &PullRequest<'_>,
        progress: &mut dyn FnMut(PullProgress),
    ) -> Result<String> {
        let opts = options(req.platform, req.tls_verify)?;
        pull_with(self, req.image, &opts, progress)
    }

    /// Applies `run` / `create`'s pull policy to `req.image` before the container is created: `missing` pulls an
    /// image that is not in the store (after docker's `Unable to find image 'X' locally`), `always` pulls
    /// anyway, `never` fails with docker's `No such image: X`. With `explicit_platform`, a local image of another
    /// platform is pulled again for that platform (`never`: docker's "does not match the specified platform").
    pub fn ensure_image(
        &self,
        req: &PullRequest<'_>,
        policy: PullPolicy,
        explicit_platform: bool,
        progress: &mut dyn FnMut(PullProgress),
    ) -> Result<()> {
        let name = req.image;
        let opts = options(req.platform, req.tls_verify)?;
        let shown = || {
            Reference::parse(name)
                .map(|r| r.familiar())
                .unwrap_or_else(|_| name.to_string())
        };
        let present = match self.images().resolve(name) {
            // With an explicit --platform, a local image of another platform counts as missing (docker).
            Ok(img) if explicit_platform && !same_platform(&img.platform, &opts.platform) => {
                if policy == PullPolicy::Never {
                    return Err(Error::PlatformMismatch {
                        reference: shown(),
                        wanted: opts.platform.to_string(),
                        actual: img.platform,
                    });
                }
                false
            }
            Ok(_) => true,
            Err(StoreError::NotFound(_)) => false,
            Err(e) => return Err(e.into()),
        };
        match policy {
            PullPolicy::Never if !present => Err(Error::ImageNotFound(shown())),
            PullPolicy::Never => Ok(()),
            PullPolicy::Missing if present => Ok(()),
            PullPolicy::Missing => {
                progress(PullProgress::client(format!(
                    "Unable to find image '{}' locally",
                    shown()
                )));
                pull_with(self, name, &opts, progress).map(drop)
            }
            PullPolicy::Always => pull_with(self, name, &opts, progress).map(drop),
        }
    }
}
