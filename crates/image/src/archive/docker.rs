//! docker-archive (the `docker save` format): `manifest.json` lists, per image, a config file, its `RepoTags` and
//! its layer tar files (`<id>/layer.tar` in the classic layout, `blobs/sha256/<hex>` since docker 25). There is
//! no image manifest, so import synthesises an OCI manifest (config + layers, media types from the bytes).
//!
//! Layers come uncompressed in this format (`docker save`): the store keeps no copy of such a tar when its layer
//! can regenerate it exactly (a tar-split, see `unpack::split`), so that it does not hold every layer twice.

use super::source::Source;
use super::{parse_json, ArchiveError, Candidate};
use crate::content::Staging;
use crate::reference::Reference;
use crate::unpack::Compression;
use oci_spec::image::{
    Descriptor, ImageConfiguration, ImageManifest, ImageManifestBuilder, MediaType,
};
use serde::{Deserialize, Serialize};
use std::io::Read;

/// One entry of a docker-archive's `manifest.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct ManifestEntry {
    /// Path of the config JSON inside the archive.
    #[serde(rename = "Config")]
    pub config: String,
    /// `name:tag` names (familiar or full).
    #[serde(rename = "RepoTags", default)]
    pub repo_tags: Option<Vec<String>>,
    /// Paths of the layer tars, bottom first.
    #[serde(rename = "Layers")]
    pub layers: Vec<String>,
}

/// The images of a docker-archive whose `manifest.json` is `manifest_json`.
pub(crate) fn candidates(
    src: &Source,
    staging: &mut Staging,
    manifest_json: &[u8],
) -> Result<Vec<Candidate>, ArchiveError> {
    let entries: Vec<ManifestEntry> = parse_json(manifest_json, "manifest.json")?;
    if entries.is_empty() {
        return Err(ArchiveError::Invalid("manifest.json lists no image".into()));
    }
    let mut out = Vec::new();
    for e in entries {
        let (config_digest, config_size) = src.stage_path(staging, &e.config)?;
        let config_bytes = staging.read_json(&config_digest)?;
        let config: ImageConfiguration =
            parse_json(&config_bytes, &format!("config {}", e.config))?;
        let mut layers = Vec::with_capacity(e.layers.len());
        for l in &e.layers {
            let (d, size) = src.stage_path(staging, l)?;
            let mut head = [0u8; 4];
            let n = std::fs::File::open(staging.path(&d)?)
                .and_then(|mut f| f.read(&mut head))
                .map_err(|err| ArchiveError::io(format!("read layer {l}"), err))?;
            let media = Compression::sniff(&head[..n]).oci_media_type();
            layers.push(Descriptor::new(media, size, d));
        }
        let manifest: ImageManifest = ImageManifestBuilder::default()
            .schema_version(2u32)
            .media_type(MediaType::ImageManifest)
            .config(Descriptor::new(
                MediaType::ImageConfig,
                config_size,
                config_digest.clone(),
            ))
            .layers(layers)
            .build()
            .map_err(|err| ArchiveError::Invalid(format!("synthesised manifest: {err}")))?;
        let bytes = serde_json::to_vec(&manifest).expect("manifest serialises");
        let (manifest_digest, manifest_size) =
            staging.ingest(&bytes[..], "synthesised manifest", None, None)?;
        let mut names = Vec::new();
        for t in e.repo_tags.unwrap_or_default() {
            let r = Reference::parse(&t)
                .map_err(|err| ArchiveError::Invalid(format!("manifest.json RepoTags: {err}")))?;
            names.push(r);
        }
        out.push(Candidate {
            manifest_digest,
            manifest_size,
            manifest_media_type: MediaType::ImageManifest.to_string(),
            manifest,
            config_digest,
            config,
            names,
            real_manifest: false,
            index_digests: Vec::new(),
        });
    }
    Ok(out)
}
