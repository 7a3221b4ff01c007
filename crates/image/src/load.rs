//! `holm load`: importing a docker-archive or an OCI layout (directory or tar, optionally gzip/zstd-compressed).
//!
//! Steps, all under a shared `gc.lock` so that garbage collection cannot delete what the import is about to use:
//! 1. read the source into a private staging area, verifying every blob (digest, size);
//! 2. pick the images (docker `manifest.json`, else OCI `index.json` for the platform);
//! 3. check each config's `rootfs.diff_ids` against the manifest's layers and compute chain ids; check every
//!    shipped layer blob whose layer is stored already against its diff_id;
//! 4. unpack the layers not yet in the store, in parallel, verifying each diff_id, each committed (`syncfs`,
//!    rename) under its per-layer lock as soon as it is verified, so that a concurrent import waits for it
//!    instead of unpacking it again (see `layers`);
//! 5. `syncfs`, then rename the blobs into the store (each rename makes a complete object visible);
//! 6. record the images and their names in the metadata (names move from images that had them).
//!
//! A failure leaves no image, name or blob: the staging area is removed on drop, and layers committed in step 4
//! by an import that then failed are removed by garbage collection once no import runs (it runs at once).

use crate::archive::source::Source;
use crate::archive::{docker, oci, ArchiveError, Candidate};
use crate::content::Staging;
use crate::digest::{self, Digest};
use crate::layers::{LayerInfo, LayerJob};
use crate::meta::{ImageRecord, ManifestRef};
use crate::platform::{self, Platform};
use crate::store::{io_err, set_tag, ImageStore, StoreError};
use crate::unpack::{Compression, UnpackOptions};
use std::collections::HashMap;
use std::os::fd::AsFd;
use std::path::Path;

/// Options of [`ImageStore::load`].
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// Platform to pick from multi-platform indexes (default `linux/amd64`).
    pub platform: Platform,
    /// Limits for unpacking layers.
    pub unpack: UnpackOptions,
}

/// One image imported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Loaded {
    /// The image id (config digest).
    pub id: Digest,
    /// The names it got from the archive (normalised).
    pub names: Vec<String>,
}

impl ImageStore {
    /// Imports the images of `input` (a docker-archive or OCI archive file, or an OCI layout directory).
    pub fn load(&self, input: &Path, opts: &LoadOptions) -> Result<Vec<Loaded>, StoreError> {
        let gc = self.gc_shared()?;
        // What a killed import left behind goes first (only directories whose lock nobody holds).
        self.content.remove_stale_staging()?;
        let mut staging = self.content.staging()?;
        let src = Source::open(input, &mut staging)?;
        let candidates = match src.meta_file("manifest.json")? {
            Some(m) => docker::candidates(&src, &mut staging, &m)?,
            None => {
                if src.meta_file("index.json")?.is_none() {
                    return Err(ArchiveError::Unrecognised.into());
                }
                oci::candidates(&src, &mut staging, &opts.platform)?
            }
        };
        self.import(gc, staging, &candidates, &opts.unpack)
    }

    /// Steps 3–6 of an import (see the module doc) for `candidates` whose blobs are staged in `staging` (a layer
    /// blob may instead already be in the content store). `gc` is the caller's shared hold of `gc.lock`, let go
    /// when the import ends. Layers are committed as they are unpacked (so that concurrent imports can share
    /// them); if the import then fails, garbage collection removes those no image uses, once no import runs.
    pub(crate) fn import(
        &self,
        gc: crate::fsutil::Lock,
        staging: Staging,
        candidates: &[Candidate],
        unpack: &UnpackOptions,
    ) -> Result<Vec<Loaded>, StoreError> {
        let mut unpacked_any = false;
        let r = self.import_held(&staging, candidates, unpack, &mut unpacked_any);
        drop(staging);
        drop(gc);
        if r.is_err() && unpacked_any {
            // Best effort: a later gc (rmi, prune) collects them too.
            let _ = self.gc();
        }
        r
    }

    fn import_held(
        &self,
        staging: &Staging,
        candidates: &[Candidate],
        unpack: &UnpackOptions,
        unpacked_any: &mut bool,
    ) -> Result<Vec<Loaded>, StoreError> {
        // Layers to unpack, once per chain id, and each image's chain. Every shipped layer blob is checked against
        // its config's diff_id: by unpacking it, or (its layer being stored already, or unpacked from another blob
        // in this import) by `verify_blob`; a mismatch there refuses the import before anything is unpacked.
        let mut jobs: Vec<LayerJob> = Vec::new();
        let mut checks: Vec<LayerJob> = Vec::new();
        let mut chains: Vec<Vec<Digest>> = Vec::new();
        for c in candidates {
            let diff_ids = diff_ids(c)?;
            let chain = digest::chain_ids(&diff_ids);
            for (i, layer) in c.manifest.layers().iter().enumerate() {
                let compression =
                    Compression::from_media_type(layer.media_type()).ok_or_else(|| {
                        ArchiveError::Invalid(format!(
                            "layer {}: unsupported media type {}",
                            layer.digest(),
                            layer.media_type()
                        ))
                    })?;
                let job = LayerJob {
                    blob: layer.digest().clone(),
                    blob_path: match staging.staged_size(layer.digest()) {
                        Some(_) => staging.path(layer.digest())?,
                        None => self.content.path(layer.digest())?,
                    },
                    compression,
                    diff_id: diff_ids[i].clone(),
                    chain_id: chain[i].clone(),
                    parent: i.checked_sub(1).map(|p| chain[p].clone()),
                };
                let same = |j: &LayerJob| j.chain_id == job.chain_id && j.blob == job.blob;
                if jobs.iter().any(same) || checks.iter().any(same) {
                    continue;
                }
                if self.layers.contains(&job.chain_id)
                    || jobs.iter().any(|j| j.chain_id == job.chain_id)
                {
                    checks.push(job);
                } else {
                    jobs.push(job);
                }
            }
            chains.push(chain);
        }
        let mut hashed = Vec::new();
        for job in &checks {
            if self.layers.verify_blob(job, unpack)? {
                hashed.push(job);
            }
        }
        *unpacked_any = !jobs.is_empty();
        for (job, (_, was_hashed)) in jobs
            .iter()
            .zip(self.layers.unpack_all(staging, &jobs, unpack)?)
        {
            if was_hashed {
                hashed.push(job);
            }
        }

        // Make the blobs durable before they become visible (the layers were, as each was committed).
        let dir = std::fs::File::open(staging.dir()).map_err(io_err("open staging"))?;
        holm_sys::fs::syncfs(dir.as_fd()).map_err(|e| io_err("syncfs")(e.into()))?;
        for (c, chain) in candidates.iter().zip(&chains) {
            staging.commit(&self.content, &c.config_digest)?;
            staging.commit(&self.content, &c.manifest_digest)?;
            for (l, chain_id) in c.manifest.layers().iter().zip(chain) {
                // A plain tar whose layer can regenerate it exactly is not kept (the store's footprint).
                let plain = Compression::from_media_type(l.media_type()) == Some(Compression::None);
                let regenerable = plain
                    && self
                        .layers
                        .info(chain_id)
                        .is_ok_and(|i| i.diff_id == *l.digest())
                    && self.layers.has_split(chain_id);
                if !regenerable {
                    staging.commit(&self.content, l.digest())?;
                }
            }
        }
        crate::fsutil::sync_dir(self.content.dir()).map_err(io_err("sync blobs"))?;
        for job in hashed {
            // A cache of what was checked: a failure only means the blob is hashed again next time.
            let _ = self.layers.record_blob(&job.chain_id, &job.blob);
        }

        let mut infos: HashMap<Digest, LayerInfo> = HashMap::new();
        for chain in &chains {
            for c in chain {
                if !infos.contains_key(c) {
                    infos.insert(c.clone(), self.layers.info(c)?);
                }
            }
        }
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        self.meta.update(|db| {
            let mut out = Vec::new();
            for (c, chain) in candidates.iter().zip(&chains) {
                let names: Vec<String> = c.names.iter().map(|n| n.to_string()).collect();
                let size = chain.iter().map(|l| infos[l].file_bytes).sum();
                if !db.images.iter().any(|i| i.id == c.config_digest) {
                    db.images.push(record(c, chain.clone(), size, now));
                }
                for n in &c.names {
                    if n.tag().is_some() {
                        set_tag(
                            db,
                            &c.config_digest,
                            &n.with_tag(n.tag().unwrap_or("latest"))?.to_string(),
                        );
                    }
                    if c.real_manifest {
                        let rec = db
                            .images
                            .iter_mut()
                            .find(|i| i.id == c.config_digest)
                            .expect("pushed above");
                        for d in c.index_digests.iter().chain([&c.manifest_digest]) {
                            let rd = n.with_digest(d.clone()).to_string();
                            if !rec.repo_digests.contains(&rd) {
                                rec.repo_digests.push(rd);
                            }
                        }
                    }
                }
                out.push(Loaded {
                    id: c.config_digest.clone(),
                    names,
                });
            }
            Ok::<_, StoreError>(out)
        })
    }
}

fn diff_ids(c: &Candidate) -> Result<Vec<Digest>, StoreError> {
    let ids = c.config.rootfs().diff_ids();
    if ids.len() != c.manifest.layers().len() {
        return Err(ArchiveError::Invalid(format!(
            "image {}: config lists {} diff_ids but the manifest has {} layers",
            c.config_digest,
            ids.len(),
            c.manifest.layers().len()
        ))
        .into());
    }
    ids.iter()
        .map(|s| {
            digest::parse(s).map_err(|e| {
                ArchiveError::Invalid(format!("image {}: diff_id: {e}", c.config_digest)).into()
            })
        })
        .collect()
}

fn record(c: &Candidate, layers: Vec<Digest>, size: u64, now: u64) -> ImageRecord {
    let cfg = &c.config;
    let mut plat = format!(
        "{}/{}",
        platform::os_name(cfg.os()),
        platform::arch_name(cfg.architecture())
    );
    if let Some(v) = cfg.variant() {
        plat.push('/');
        plat.push_str(v);
    }
    ImageRecord {
        id: c.config_digest.clone(),
        manifest: ManifestRef {
            digest: c.manifest_digest.clone(),
            size: c.manifest_size,
            media_type: c.manifest_media_type.clone(),
        },
        repo_tags: Vec::new(),
        repo_digests: Vec::new(),
        created: cfg.created().clone(),
        platform: plat,
        size,
        layers,
        loaded_at: now,
    }
}
