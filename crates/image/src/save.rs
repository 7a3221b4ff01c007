//! `holm save`: exporting images as a docker-archive or an OCI archive.

use crate::archive::write::{self, ExportImage};
use crate::reference::Reference;
use crate::store::{ImageStore, StoreError};
use std::io::Write;

/// Archive formats of [`ImageStore::save`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArchiveFormat {
    /// `docker save`'s format (`manifest.json`, uncompressed `layer.tar`s).
    DockerArchive,
    /// An OCI image layout in a tar (`oci-layout`, `index.json`, `blobs/`).
    OciArchive,
}

impl ImageStore {
    /// Writes the images named by `names` to `out` in `format`. A name that is a reference is recorded in the
    /// archive; an image named by id is saved without names. The same image named twice is written once, with
    /// both names.
    pub fn save<W: Write>(
        &self,
        names: &[String],
        format: ArchiveFormat,
        out: W,
    ) -> Result<W, StoreError> {
        let mut images: Vec<ExportImage> = Vec::new();
        for name in names {
            let rec = self.resolve(name)?;
            let as_name = Reference::parse(name)
                .ok()
                .filter(|r| r.digest().is_none() && rec.repo_tags.contains(&r.to_string()));
            if let Some(e) = images.iter_mut().find(|e| e.config_digest == rec.id) {
                if let Some(n) = as_name {
                    if !e.names.contains(&n) {
                        e.names.push(n);
                    }
                }
                continue;
            }
            let manifest = self.manifest(&rec)?;
            let layers = rec
                .layers
                .iter()
                .map(|c| self.layers.info(c))
                .collect::<Result<Vec<_>, _>>()?;
            images.push(ExportImage {
                manifest_digest: rec.manifest.digest.clone(),
                manifest_size: rec.manifest.size,
                manifest_media_type: rec.manifest.media_type.clone(),
                manifest,
                config_digest: rec.id.clone(),
                layers,
                names: as_name.into_iter().collect(),
            });
        }
        let out = match format {
            ArchiveFormat::DockerArchive => {
                write::docker_archive(out, &images, &self.content, &self.layers)?
            }
            ArchiveFormat::OciArchive => {
                write::oci_archive(out, &images, &self.content, &self.layers)?
            }
        };
        Ok(out)
    }
}
