//! Image archives: reading docker-archives (`docker save` format) and OCI image layouts (directory or tar) into
//! the store's staging area, and writing both formats.
//!
//! Import turns every format into the same [`Candidate`]: an image manifest (OCI shape), its parsed config and
//! the names it carries, with every blob it references staged and verified.

pub(crate) mod docker;
pub(crate) mod oci;
pub(crate) mod source;
pub(crate) mod write;

use crate::content::{ContentError, Staging};
use crate::digest::Digest;
use crate::reference::Reference;
use oci_spec::image::{ImageConfiguration, ImageManifest};
use std::io;

/// Errors reading or writing archives.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    /// A file-system or stream error, with what was being done.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The error.
        #[source]
        source: io::Error,
    },
    /// The input is neither a docker-archive nor an OCI layout.
    #[error("unrecognised image archive: no manifest.json (docker-archive) and no oci-layout/index.json (OCI layout)")]
    Unrecognised,
    /// A file the archive's manifest names is not in it.
    #[error("archive does not contain `{0}`")]
    Missing(String),
    /// Structurally invalid content (bad JSON, bad descriptor, unsupported media type…).
    #[error("invalid image archive: {0}")]
    Invalid(String),
    /// No manifest in the index matches the requested platform.
    #[error("no image for platform {platform} in the index (available: {available})")]
    NoPlatform {
        /// The requested platform.
        platform: String,
        /// What the index offers.
        available: String,
    },
    /// Fetching a blob or manifest from a registry failed.
    #[error("{what}: {detail}")]
    Fetch {
        /// What was being fetched.
        what: String,
        /// The registry's error or the cause.
        detail: String,
    },
    /// A blob failed verification or could not be staged.
    #[error(transparent)]
    Content(#[from] ContentError),
}

impl ArchiveError {
    pub(crate) fn io(what: impl Into<String>, source: io::Error) -> Self {
        ArchiveError::Io {
            what: what.into(),
            source,
        }
    }
}

/// What a blob is to the image that references it. A registry serves manifests and indexes from another endpoint
/// than configs and layers, and a layer already in the store need not be fetched again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BlobKind {
    /// An image manifest or an index.
    Manifest,
    /// An image config.
    Config,
    /// A layer.
    Layer,
}

/// Where the blobs of an OCI image come from: an archive or layout ([`source::Source`]) or a registry.
pub(crate) trait BlobSource {
    /// Makes sure the blob `d` of exactly `size` bytes is available, verified (digest and size): staged in
    /// `staging`, or, for a [`BlobKind::Layer`] only, already in the content store.
    fn stage_blob(
        &mut self,
        staging: &mut Staging,
        d: &Digest,
        size: u64,
        kind: BlobKind,
    ) -> Result<(), ArchiveError>;
}

impl BlobSource for &source::Source {
    fn stage_blob(
        &mut self,
        staging: &mut Staging,
        d: &Digest,
        size: u64,
        _kind: BlobKind,
    ) -> Result<(), ArchiveError> {
        source::Source::stage_blob(self, staging, d, size)
    }
}

/// One image found in an import source, with its blobs staged and verified.
#[derive(Debug, Clone)]
pub(crate) struct Candidate {
    /// Digest of the manifest blob (staged).
    pub manifest_digest: Digest,
    /// Size of the manifest blob.
    pub manifest_size: u64,
    /// Media type of the manifest.
    pub manifest_media_type: String,
    /// The manifest.
    pub manifest: ImageManifest,
    /// Digest of the config blob: the image id.
    pub config_digest: Digest,
    /// The config.
    pub config: ImageConfiguration,
    /// Names the archive gives the image.
    pub names: Vec<Reference>,
    /// True if the manifest digest is the image's distribution digest (OCI layouts); false when holm synthesised
    /// the manifest (docker-archive).
    pub real_manifest: bool,
    /// Index digests the image is also known under (the multi-platform index a registry tag pointed to).
    pub index_digests: Vec<Digest>,
}

/// Parses JSON from a blob, naming the blob in errors.
pub(crate) fn parse_json<T: serde::de::DeserializeOwned>(
    bytes: &[u8],
    what: &str,
) -> Result<T, ArchiveError> {
    serde_json::from_slice(bytes).map_err(|e| ArchiveError::Invalid(format!("{what}: {e}")))
}
