//! Writing archives: `docker-archive` (classic `docker save` layout: `<config hex>.json`, uncompressed
//! `<diff_id hex>/layer.tar`, and `manifest.json` with fully qualified `RepoTags`, as podman writes them and docker
//! accepts) and `oci-archive` (an OCI image layout in a tar: `oci-layout`, `index.json`,
//! `blobs/sha256/*` exactly as stored). Entries are written with fixed owner (0:0), mode 0644 and mtime 0, so
//! saving the same images twice gives the same bytes.

use super::docker::ManifestEntry;
use super::oci::{ANNOTATION_IMAGE_NAME, ANNOTATION_REF_NAME};
use super::ArchiveError;
use crate::content::ContentStore;
use crate::digest::{self, Digest};
use crate::layers::{LayerInfo, LayerStore};
use crate::reference::Reference;
use crate::unpack::{decoder, Compression};
use oci_spec::image::{Descriptor, ImageIndexBuilder, ImageManifest, MediaType};
use std::collections::{HashMap, HashSet};
use std::io::{self, BufReader, Read, Write};

/// One image to export.
#[derive(Debug, Clone)]
pub(crate) struct ExportImage {
    /// Manifest digest, size and media type as stored.
    pub manifest_digest: Digest,
    pub manifest_size: u64,
    pub manifest_media_type: String,
    /// The stored manifest.
    pub manifest: ImageManifest,
    /// The config digest (image id).
    pub config_digest: Digest,
    /// The unpacked layers, bottom first (for uncompressed sizes).
    pub layers: Vec<LayerInfo>,
    /// Names to record in the archive.
    pub names: Vec<Reference>,
}

fn io_err(what: &str) -> impl FnOnce(io::Error) -> ArchiveError + '_ {
    move |e| ArchiveError::io(what.to_string(), e)
}

fn header(size: u64) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Regular);
    h.set_mode(0o644);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(0);
    h.set_size(size);
    h
}

fn dir_header() -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Directory);
    h.set_mode(0o755);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(0);
    h.set_size(0);
    h
}

fn add_bytes<W: Write>(
    b: &mut tar::Builder<W>,
    path: &str,
    bytes: &[u8],
) -> Result<(), ArchiveError> {
    b.append_data(&mut header(bytes.len() as u64), path, bytes)
        .map_err(io_err(path))
}

/// Appends exactly `size` bytes from `r`, failing if `r` has a different length.
fn add_stream<W: Write>(
    b: &mut tar::Builder<W>,
    path: &str,
    size: u64,
    r: impl Read,
) -> Result<(), ArchiveError> {
    let mut counted = Counted { inner: r, n: 0 };
    b.append_data(&mut header(size), path, (&mut counted).take(size))
        .map_err(io_err(path))?;
    let mut extra = [0u8; 1];
    let more = counted.read(&mut extra).map_err(io_err(path))?;
    if counted.n != size || more != 0 {
        return Err(ArchiveError::Invalid(format!(
            "{path}: stored data is not {size} bytes long"
        )));
    }
    Ok(())
}

struct Counted<R> {
    inner: R,
    n: u64,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.n += n as u64;
        Ok(n)
    }
}

fn add_blob<W: Write>(
    b: &mut tar::Builder<W>,
    content: &ContentStore,
    d: &Digest,
    done: &mut HashSet<Digest>,
) -> Result<(), ArchiveError> {
    if !done.insert(d.clone()) {
        return Ok(());
    }
    let f = content.open_blob(d)?;
    let size = f.metadata().map_err(io_err("stat blob"))?.len();
    let path = format!(
        "blobs/sha256/{}",
        digest::hex(d).map_err(crate::content::ContentError::from)?
    );
    add_stream(b, &path, size, BufReader::with_capacity(1 << 20, f))
}

/// The stored blob of layer `desc` (see [`ExportImage`]), or, for a plain tar the store did not keep, the tar
/// regenerated from the layer, checked against its digest (the diff_id) as it is read.
fn layer_blob(
    content: &ContentStore,
    layers: &LayerStore,
    desc: &Descriptor,
    info: &LayerInfo,
) -> Result<Box<dyn Read>, ArchiveError> {
    match content.open_blob(desc.digest()) {
        Ok(f) => Ok(Box::new(BufReader::with_capacity(1 << 20, f))),
        Err(crate::content::ContentError::NotFound(_)) if *desc.digest() == info.diff_id => {
            let r = layers
                .regenerated_tar(&info.chain_id)
                .map_err(|e| ArchiveError::Invalid(e.to_string()))?
                .ok_or_else(|| crate::content::ContentError::NotFound(desc.digest().clone()))?;
            Ok(Box::new(Checked {
                inner: Some(crate::digest::HashingReader::new(BufReader::with_capacity(
                    1 << 20,
                    r,
                ))),
                want: info.diff_id.clone(),
            }))
        }
        Err(e) => Err(e.into()),
    }
}

/// Fails at the end of the stream if it did not hash to `want`.
struct Checked<R> {
    inner: Option<crate::digest::HashingReader<R>>,
    want: Digest,
}

impl<R: Read> Read for Checked<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let Some(inner) = self.inner.as_mut() else {
            return Ok(0);
        };
        let n = inner.read(buf)?;
        if n == 0 && !buf.is_empty() {
            let (got, _, _) = self.inner.take().expect("checked above").finish();
            if got != self.want {
                return Err(io::Error::other(format!(
                    "regenerated layer {}: its unpacked files changed (sha256 {got})",
                    self.want
                )));
            }
        }
        Ok(n)
    }
}

/// Writes `images` as an OCI archive to `out`.
pub(crate) fn oci_archive<W: Write>(
    out: W,
    images: &[ExportImage],
    content: &ContentStore,
    layers: &LayerStore,
) -> Result<W, ArchiveError> {
    let mut b = tar::Builder::new(out);
    add_bytes(&mut b, "oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#)?;
    b.append_data(&mut dir_header(), "blobs/", io::empty())
        .map_err(io_err("blobs/"))?;
    b.append_data(&mut dir_header(), "blobs/sha256/", io::empty())
        .map_err(io_err("blobs/sha256/"))?;
    let mut done = HashSet::new();
    let mut descs = Vec::new();
    for img in images {
        add_blob(&mut b, content, &img.config_digest, &mut done)?;
        for (l, info) in img.manifest.layers().iter().zip(&img.layers) {
            if done.insert(l.digest().clone()) {
                let path = format!(
                    "blobs/sha256/{}",
                    digest::hex(l.digest()).map_err(crate::content::ContentError::from)?
                );
                add_stream(
                    &mut b,
                    &path,
                    l.size(),
                    layer_blob(content, layers, l, info)?,
                )?;
            }
        }
        add_blob(&mut b, content, &img.manifest_digest, &mut done)?;
        let base = Descriptor::new(
            MediaType::from(img.manifest_media_type.as_str()),
            img.manifest_size,
            img.manifest_digest.clone(),
        );
        if img.names.is_empty() {
            descs.push(base.clone());
        }
        for n in &img.names {
            let mut d = base.clone();
            let mut a = HashMap::new();
            a.insert(ANNOTATION_IMAGE_NAME.to_string(), n.to_string());
            a.insert(
                ANNOTATION_REF_NAME.to_string(),
                n.tag().unwrap_or("latest").to_string(),
            );
            d.set_annotations(Some(a));
            descs.push(d);
        }
    }
    let index = ImageIndexBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::ImageIndex)
        .manifests(descs)
        .build()
        .map_err(|e| ArchiveError::Invalid(format!("index.json: {e}")))?;
    // Through a `serde_json::Value` (sorted maps), so that annotations come out in the same order every time.
    let index = serde_json::to_value(&index).expect("index serialises");
    add_bytes(
        &mut b,
        "index.json",
        &serde_json::to_vec(&index).expect("index serialises"),
    )?;
    b.into_inner().map_err(io_err("finish archive"))
}

/// Writes `images` as a docker-archive to `out`. Layers are written uncompressed (`layer.tar`, whose sha256 is
/// the diff_id), decompressing stored gzip/zstd blobs on the fly.
pub(crate) fn docker_archive<W: Write>(
    out: W,
    images: &[ExportImage],
    content: &ContentStore,
    layers: &LayerStore,
) -> Result<W, ArchiveError> {
    let mut b = tar::Builder::new(out);
    let mut done: HashSet<String> = HashSet::new();
    let mut entries = Vec::new();
    for img in images {
        let chex = digest::hex(&img.config_digest).map_err(crate::content::ContentError::from)?;
        let config_path = format!("{chex}.json");
        if done.insert(config_path.clone()) {
            let bytes = content.read_json(&img.config_digest)?;
            add_bytes(&mut b, &config_path, &bytes)?;
        }
        let mut layer_paths = Vec::new();
        for (desc, info) in img.manifest.layers().iter().zip(&img.layers) {
            let dhex = digest::hex(&info.diff_id).map_err(crate::content::ContentError::from)?;
            let path = format!("{dhex}/layer.tar");
            if done.insert(path.clone()) {
                b.append_data(&mut dir_header(), format!("{dhex}/"), io::empty())
                    .map_err(io_err(&path))?;
                let c =
                    Compression::from_media_type(desc.media_type()).unwrap_or(Compression::None);
                let blob = BufReader::new(layer_blob(content, layers, desc, info)?);
                let r = decoder(blob, c).map_err(io_err(&path))?;
                add_stream(&mut b, &path, info.tar_size, r)?;
            }
            layer_paths.push(path);
        }
        entries.push(ManifestEntry {
            config: config_path,
            repo_tags: Some(img.names.iter().map(|n| n.to_string()).collect()),
            layers: layer_paths,
        });
    }
    let manifest = serde_json::to_vec(&entries).expect("manifest.json serialises");
    add_bytes(&mut b, "manifest.json", &manifest)?;
    b.into_inner().map_err(io_err("finish archive"))
}
