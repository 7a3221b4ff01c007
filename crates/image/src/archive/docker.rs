//! docker-archive (the `docker save` format): `manifest.json` lists, per image, a config file, its `RepoTags` and
//! its layer tar files (`<id>/layer.tar` in the classic layout, `blobs/sha256/<hex>` since docker 25). There is
//! no image manifest, so import synthesises an OCI manifest (config + layers, media types from the bytes).
//!
//! Layers come uncompressed in this format (`docker save`): the synthesised manifest names a zstd-compressed copy
//! instead, made at import ([`LAYER_ZSTD_LEVEL`]), so that the store does not keep a second full copy of every
//! layer beside its unpacked files. Decompressing it gives back the exact tar (its sha256 is the diff_id), which
//! `holm save` writes as `layer.tar`; an OCI archive saved from the store carries the zstd blobs.

use super::source::Source;
use super::{parse_json, ArchiveError, Candidate};
use crate::content::Staging;
use crate::reference::Reference;
use crate::unpack::Compression;
use oci_spec::image::{
    Descriptor, ImageConfiguration, ImageManifest, ImageManifestBuilder, MediaType,
};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::io::Read;

/// zstd level of the copy of a plain layer tar kept in the store (3, zstd's default: about the ratio of `gzip -6`
/// on binaries at several times its speed).
pub(crate) const LAYER_ZSTD_LEVEL: i32 = 3;

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
    // Plain layer tar → its zstd copy, once per tar (images of one archive share layers).
    let mut zstd_of: HashMap<crate::digest::Digest, (crate::digest::Digest, u64)> = HashMap::new();
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
            let comp = Compression::sniff(&head[..n]);
            if comp != Compression::None {
                layers.push(Descriptor::new(comp.oci_media_type(), size, d));
                continue;
            }
            let (zd, zsize) = match zstd_of.get(&d) {
                Some(z) => z.clone(),
                None => {
                    let z = compress_staged(staging, &d, l)?;
                    zstd_of.insert(d.clone(), z.clone());
                    z
                }
            };
            layers.push(Descriptor::new(MediaType::ImageLayerZstd, zsize, zd));
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

/// Stages a zstd-compressed copy of the staged plain tar `d` (archive path `what`); returns its digest and size.
fn compress_staged(
    staging: &mut Staging,
    d: &crate::digest::Digest,
    what: &str,
) -> Result<(crate::digest::Digest, u64), ArchiveError> {
    let io = |e| ArchiveError::io(format!("compress layer {what}"), e);
    let mut src = std::fs::File::open(staging.path(d)?).map_err(io)?;
    let mut enc =
        zstd::stream::write::Encoder::new(staging.writer()?, LAYER_ZSTD_LEVEL).map_err(io)?;
    std::io::copy(&mut src, &mut enc).map_err(io)?;
    let w = enc.finish().map_err(io)?;
    let b = w.finish(&format!("zstd copy of layer {what}"), None, None)?;
    Ok(staging.record(b))
}
