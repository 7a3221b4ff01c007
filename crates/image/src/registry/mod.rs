//! Pulling images from a registry (OCI distribution-spec `spec.md#pull`): `holm pull`, and `holm run` of an image
//! that is not in the store.
//!
//! Steps, under the store's shared `gc.lock` like `holm load` (so garbage collection cannot delete a blob the pull
//! found already present and skipped):
//! 1. read the credentials (see [`auth`]) and connect (see `remote`: HTTPS, insecure only for loopback
//!    registries or `tls_verify = Some(false)`, bearer-token or Basic auth);
//! 2. fetch the manifest the tag or digest names (docker schema 2 or OCI; manifest or multi-platform index) and
//!    stage it; an index is resolved to the manifest for the requested platform exactly as `holm load` resolves
//!    an OCI layout's index;
//! 3. fetch every layer not already in the content store (three at once, as docker) and the config, each streamed
//!    into the staging area and verified (digest and size) — never held whole in memory (`oci-client`'s
//!    `Client::pull()` would);
//! 4. drop the network runtime (its threads joined), then hand the staged image to the import path `holm load`
//!    uses: diff_ids checked, layers unpacked once per chain id, blobs and layers renamed into the store, the
//!    image recorded with its name and repo digests. A pulled image is therefore identical to a loaded one.
//!
//! A failed or interrupted pull leaves nothing visible: everything is staged in a private directory that is
//! removed on failure, or by the next import or `gc` if the process was killed.

pub mod auth;
mod remote;

use crate::archive::{oci, ArchiveError, BlobKind, BlobSource};
use crate::content::{ContentError, MAX_JSON_BYTES};
use crate::digest::{self, Digest};
use crate::platform::Platform;
use crate::reference::Reference;
use crate::store::{find, ImageStore, StoreError};
use crate::unpack::UnpackOptions;
use oci_spec::image::{Descriptor, ImageManifest, MediaType};

pub use remote::is_loopback;

/// Options of [`ImageStore::pull`].
#[derive(Debug, Clone, Default)]
pub struct PullOptions {
    /// Platform to pick from a multi-platform index (default `linux/amd64`).
    pub platform: Platform,
    /// `None`: docker's rule (certificates verified, except for loopback registries, which may also be plain
    /// HTTP); `Some(true)`: always HTTPS with verified certificates; `Some(false)`: unverified HTTPS, then plain
    /// HTTP (podman's `--tls-verify=false`).
    pub tls_verify: Option<bool>,
    /// Limits for unpacking layers.
    pub unpack: UnpackOptions,
}

/// Progress of a pull, for docker-like output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PullEvent {
    /// The reference resolved to this manifest or index digest (docker's `Digest:` line).
    Resolved(Digest),
    /// A layer blob is already in the store: not fetched (`Already exists`).
    LayerExists(Digest),
    /// A layer blob is being downloaded (`Pulling fs layer`).
    LayerPulling(Digest),
    /// A layer blob was downloaded and verified (`Download complete`).
    LayerDownloaded(Digest),
    /// A downloaded layer is unpacked and in the store (`Pull complete`).
    LayerComplete(Digest),
}

/// What a pull did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pulled {
    /// The image id (config digest).
    pub id: Digest,
    /// The reference pulled, normalised (`docker.io/library/busybox:latest`, or `…@sha256:…` without tag).
    pub reference: Reference,
    /// The digest the reference resolved to: the index's for a multi-platform image, else the manifest's.
    pub digest: Digest,
    /// The digest of the platform's image manifest.
    pub manifest_digest: Digest,
    /// True if the store changed (a new image, or the name now names another image); false if the name already
    /// named this image (docker's "Image is up to date").
    pub updated: bool,
}

/// Errors of a pull. The `Display` texts follow docker's where it has one.
#[derive(Debug, thiserror::Error)]
pub enum PullError {
    /// The registry has no manifest for the tag or digest.
    #[error("manifest for {reference} not found: manifest unknown")]
    ManifestUnknown {
        /// The reference (docker's short form).
        reference: String,
    },
    /// The registry does not know the repository.
    #[error(
        "repository {repository} not found: name unknown: repository name not known to registry"
    )]
    NameUnknown {
        /// The repository (docker's short form).
        repository: String,
    },
    /// Access was refused (no or wrong credentials, or a repository a registry hides behind authentication).
    #[error("pull access denied for {repository}, repository does not exist or may require authorization (credentials are read from REGISTRY_AUTH_FILE or ~/.docker/config.json): {detail}")]
    Denied {
        /// The repository (docker's short form).
        repository: String,
        /// What the registry said.
        detail: String,
    },
    /// The registry could not be reached (DNS, connection, TLS).
    #[error("cannot reach registry {registry}: {detail}")]
    Connect {
        /// `host[:port]`.
        registry: String,
        /// The cause.
        detail: String,
    },
    /// Another registry error.
    #[error("{what}: {detail}")]
    Registry {
        /// What was being done.
        what: String,
        /// The registry's error codes and messages, or the cause.
        detail: String,
    },
    /// The credentials file could not be used.
    #[error("credentials for {registry} from {file}: {detail}")]
    Credentials {
        /// The registry.
        registry: String,
        /// The file.
        file: String,
        /// Why.
        detail: String,
    },
    /// The runtime for the network I/O could not be created.
    #[error("create the I/O runtime for the pull: {0}")]
    Runtime(#[source] std::io::Error),
    /// The registry's content is not an image holm can use, failed verification, or the store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<ArchiveError> for PullError {
    fn from(e: ArchiveError) -> Self {
        PullError::Store(e.into())
    }
}

impl From<ContentError> for PullError {
    fn from(e: ContentError) -> Self {
        PullError::Store(e.into())
    }
}

/// The media type of a fetched manifest: its `mediaType` field, else guessed from its shape (an OCI manifest or
/// index may omit the field).
fn media_type_of(bytes: &[u8], what: &str) -> Result<MediaType, ArchiveError> {
    let v: serde_json::Value = crate::archive::parse_json(bytes, what)?;
    Ok(match v.get("mediaType").and_then(|m| m.as_str()) {
        Some(m) => MediaType::from(m),
        None if v.get("manifests").is_some() => MediaType::ImageIndex,
        None => MediaType::ImageManifest,
    })
}

impl ImageStore {
    /// Pulls `reference` (see the module doc) and returns what it did. A reference with both tag and digest is
    /// pulled by digest, and named by digest only (as docker does).
    ///
    /// Errors: [`PullError`]; nothing is left in the store on failure.
    pub fn pull(
        &self,
        reference: &Reference,
        opts: &PullOptions,
        progress: &mut dyn FnMut(PullEvent),
    ) -> Result<Pulled, PullError> {
        let reference = match reference.digest() {
            Some(d) => reference.with_digest(d.clone()),
            None => reference.clone().or_latest(),
        };
        let auth = auth::credentials(reference.domain())?;
        let gc = self.gc_shared()?;
        // What a killed import left behind goes first (only directories whose lock nobody holds).
        self.content.remove_stale_staging()?;
        let mut staging = self.content.staging()?;

        let mut remote = remote::Remote::connect(
            &reference,
            auth,
            opts.tls_verify,
            self.content.clone(),
            progress,
        )?;
        let tag_or_digest = match (reference.digest(), reference.tag()) {
            (Some(d), _) => d.to_string(),
            (None, Some(t)) => t.to_string(),
            (None, None) => crate::reference::DEFAULT_TAG.to_string(),
        };
        let (bytes, got) = remote
            .manifest(&tag_or_digest)
            .map_err(|e| remote::classify(e, &reference))?;
        let what = format!("manifest of {}", reference.familiar());
        if bytes.len() as u64 > MAX_JSON_BYTES {
            return Err(ArchiveError::Invalid(format!("{what} is larger than 4 MiB")).into());
        }
        let top_digest = digest::parse(&got).map_err(ContentError::from)?;
        // Verified again here: the bytes must hash to the digest asked for (or the one the registry announced).
        let expect = reference.digest().cloned().unwrap_or(top_digest.clone());
        staging.ingest(&bytes[..], &what, None, Some(&expect))?;
        let media = media_type_of(&bytes, &what)?;
        remote.emit(PullEvent::Resolved(top_digest.clone()));
        let top = Descriptor::new(media.clone(), bytes.len() as u64, top_digest.clone());
        let mut seen = Vec::new();
        let m = oci::resolve(&mut remote, &mut staging, &top, &opts.platform, 0, &mut seen)?
            .ok_or_else(|| {
                if seen.is_empty() {
                    ArchiveError::Invalid(format!(
                        "{what}: unsupported media type {media} (holm pulls OCI and docker schema 2 images)"
                    ))
                } else {
                    ArchiveError::NoPlatform {
                        platform: opts.platform.to_string(),
                        available: seen.join(", "),
                    }
                }
            })?;
        // The layers first, several at once; `candidate` then finds them staged (or in the store).
        let md = digest::parse(m.digest().as_ref()).map_err(ContentError::from)?;
        remote.stage_blob(&mut staging, &md, m.size(), BlobKind::Manifest)?;
        let manifest: ImageManifest =
            crate::archive::parse_json(&staging.read_json(&md)?, &format!("manifest {md}"))?;
        remote.prefetch(&mut staging, manifest.layers())?;
        let mut cand = oci::candidate(&mut remote, &mut staging, &m, vec![reference.clone()])?;
        if cand.manifest_digest != top_digest {
            cand.index_digests.push(top_digest.clone());
        }
        let downloaded = std::mem::take(&mut remote.downloaded);
        // The network runtime ends here (its threads joined): the rest is the same import `holm load` does.
        drop(remote);

        let before = find(
            &self.meta.read().map_err(StoreError::from)?,
            &reference.to_string(),
        )
        .ok()
        .map(|i| i.id.clone());
        let loaded = self.import(gc, staging, std::slice::from_ref(&cand), &opts.unpack)?;
        for d in downloaded {
            progress(PullEvent::LayerComplete(d));
        }
        let id = loaded
            .into_iter()
            .next()
            .map(|l| l.id)
            .unwrap_or_else(|| cand.config_digest.clone());
        Ok(Pulled {
            updated: before.as_ref() != Some(&id),
            id,
            reference,
            digest: top_digest,
            manifest_digest: cand.manifest_digest,
        })
    }
}
