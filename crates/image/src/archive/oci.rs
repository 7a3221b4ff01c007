//! OCI image layout (image-spec `image-layout.md`): `oci-layout`, `index.json` and `blobs/<alg>/<hex>`.
//!
//! Each top-level `index.json` entry is an image; an entry that is itself an index (multi-platform image, OCI or
//! docker manifest list) is resolved to the manifest for the requested platform. Entries for other platforms and
//! non-image manifests (attestations, artifacts) are skipped. Names come from the `io.containerd.image.name`
//! annotation (a full reference) or from `org.opencontainers.image.ref.name` when that is a full reference; a bare
//! tag names nothing (there is no repository to put it in).

use super::source::Source;
use super::{parse_json, ArchiveError, BlobKind, BlobSource, Candidate};
use crate::content::Staging;
use crate::digest::{self, Digest};
use crate::platform::{self, Platform};
use crate::reference::Reference;
use crate::unpack::Compression;
use oci_spec::image::{Descriptor, ImageConfiguration, ImageIndex, ImageManifest, MediaType};
use std::collections::HashMap;

/// Annotation with the full image name (containerd, holm).
pub const ANNOTATION_IMAGE_NAME: &str = "io.containerd.image.name";
/// Annotation with the reference name (OCI image-spec; a tag or a full name).
pub const ANNOTATION_REF_NAME: &str = "org.opencontainers.image.ref.name";
const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";

enum Kind {
    Index,
    Manifest,
    Other,
}

fn kind(m: &MediaType) -> Kind {
    match m {
        MediaType::ImageIndex => Kind::Index,
        MediaType::ImageManifest => Kind::Manifest,
        MediaType::Other(s) if s == DOCKER_LIST => Kind::Index,
        MediaType::Other(s) if s == DOCKER_MANIFEST => Kind::Manifest,
        _ => Kind::Other,
    }
}

/// Validates a descriptor's digest (sha256, well formed).
fn checked_digest(d: &Descriptor) -> Result<Digest, ArchiveError> {
    Ok(digest::parse(d.digest().as_ref()).map_err(crate::content::ContentError::from)?)
}

/// Names an index entry gives its image.
pub(crate) fn names_of(d: &Descriptor) -> Vec<Reference> {
    let Some(a) = d.annotations() else {
        return Vec::new();
    };
    let candidates = [a.get(ANNOTATION_IMAGE_NAME), a.get(ANNOTATION_REF_NAME)];
    for c in candidates.into_iter().flatten() {
        if c.contains('/') || c.contains(':') || c.contains('@') {
            if let Ok(r) = Reference::parse(c) {
                return vec![r];
            }
        }
    }
    Vec::new()
}

/// The images of an OCI layout, for `platform`.
pub(crate) fn candidates(
    src: &Source,
    staging: &mut Staging,
    platform: &Platform,
) -> Result<Vec<Candidate>, ArchiveError> {
    let layout = src
        .meta_file("oci-layout")?
        .ok_or(ArchiveError::Unrecognised)?;
    let layout: serde_json::Value = parse_json(&layout, "oci-layout")?;
    if layout
        .get("imageLayoutVersion")
        .and_then(|v| v.as_str())
        .is_none()
    {
        return Err(ArchiveError::Invalid(
            "oci-layout has no imageLayoutVersion".into(),
        ));
    }
    let index = src
        .meta_file("index.json")?
        .ok_or(ArchiveError::Missing("index.json".into()))?;
    let index: ImageIndex = parse_json(&index, "index.json")?;
    let mut out: Vec<Candidate> = Vec::new();
    let mut seen_platforms = Vec::new();
    let mut blobs = src;
    for top in index.manifests() {
        let Some(m) = resolve(&mut blobs, staging, top, platform, 0, &mut seen_platforms)? else {
            continue;
        };
        let names = names_of(top);
        let md = checked_digest(&m)?;
        if let Some(c) = out.iter_mut().find(|c| c.manifest_digest == md) {
            for n in names {
                if !c.names.contains(&n) {
                    c.names.push(n);
                }
            }
            continue;
        }
        out.push(candidate(&mut blobs, staging, &m, names)?);
    }
    if out.is_empty() {
        if seen_platforms.is_empty() {
            return Err(ArchiveError::Invalid(
                "index.json lists no image manifest".into(),
            ));
        }
        return Err(ArchiveError::NoPlatform {
            platform: platform.to_string(),
            available: seen_platforms.join(", "),
        });
    }
    Ok(out)
}

/// Resolves an index entry to the image manifest for `platform`, or `None` if it is for another platform or not
/// an image.
pub(crate) fn resolve(
    src: &mut impl BlobSource,
    staging: &mut Staging,
    d: &Descriptor,
    platform: &Platform,
    depth: u32,
    seen: &mut Vec<String>,
) -> Result<Option<Descriptor>, ArchiveError> {
    match kind(d.media_type()) {
        Kind::Other => Ok(None),
        Kind::Manifest => {
            if let Some(p) = d.platform() {
                seen.push(format!(
                    "{}/{}",
                    platform::os_name(p.os()),
                    platform::arch_name(p.architecture())
                ));
                if !platform.matches(p) {
                    return Ok(None);
                }
            } else {
                seen.push("unspecified".into());
            }
            Ok(Some(d.clone()))
        }
        Kind::Index => {
            if depth >= 4 {
                return Err(ArchiveError::Invalid(
                    "image indexes nested too deep".into(),
                ));
            }
            let dg = checked_digest(d)?;
            src.stage_blob(staging, &dg, d.size(), BlobKind::Manifest)?;
            let idx: ImageIndex = parse_json(&staging.read_json(&dg)?, &format!("index {dg}"))?;
            for child in idx.manifests() {
                // Children of a multi-platform index without a platform are not images for us (e.g. attestations
                // carry `unknown/unknown`).
                if matches!(kind(child.media_type()), Kind::Manifest) && child.platform().is_none()
                {
                    continue;
                }
                if let Some(m) = resolve(src, staging, child, platform, depth + 1, seen)? {
                    return Ok(Some(m));
                }
            }
            Ok(None)
        }
    }
}

/// Stages and checks one image manifest, its config and its layers.
pub(crate) fn candidate(
    src: &mut impl BlobSource,
    staging: &mut Staging,
    m: &Descriptor,
    names: Vec<Reference>,
) -> Result<Candidate, ArchiveError> {
    let md = checked_digest(m)?;
    src.stage_blob(staging, &md, m.size(), BlobKind::Manifest)?;
    let manifest: ImageManifest = parse_json(&staging.read_json(&md)?, &format!("manifest {md}"))?;
    let cfg = manifest.config();
    match cfg.media_type() {
        MediaType::ImageConfig => {}
        MediaType::Other(s) if s == DOCKER_CONFIG => {}
        other => {
            return Err(ArchiveError::Invalid(format!(
                "manifest {md}: config media type {other} is not an image config"
            )))
        }
    }
    let cd = checked_digest(cfg)?;
    src.stage_blob(staging, &cd, cfg.size(), BlobKind::Config)?;
    let config: ImageConfiguration = parse_json(&staging.read_json(&cd)?, &format!("config {cd}"))?;
    let mut sizes: HashMap<Digest, u64> = HashMap::new();
    for l in manifest.layers() {
        if Compression::from_media_type(l.media_type()).is_none() {
            return Err(ArchiveError::Invalid(format!(
                "layer {}: unsupported media type {}",
                l.digest(),
                l.media_type()
            )));
        }
        let ld = checked_digest(l)?;
        if sizes.insert(ld.clone(), l.size()).is_none() {
            src.stage_blob(staging, &ld, l.size(), BlobKind::Layer)?;
        }
    }
    Ok(Candidate {
        manifest_digest: md,
        manifest_size: m.size(),
        manifest_media_type: m.media_type().to_string(),
        manifest,
        config_digest: cd,
        config,
        names,
        real_manifest: true,
        index_digests: Vec::new(),
    })
}
