//! Reading an import source: an OCI image layout directory, or a tarball (docker-archive, OCI archive; plain,
//! gzip or zstd). A tarball is read once, front to back: every regular file is streamed into the import's
//! staging area as a blob (files named `blobs/sha256/<hex>` must hash to that name), small metadata files are kept
//! in memory too, and links are remembered so that docker-archive paths can be followed.

use super::ArchiveError;
use crate::content::{Staging, MAX_JSON_BYTES};
use crate::digest::{self, Digest};
use crate::unpack::{names, sniffing_decoder};
use std::collections::HashMap;
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

/// An opened import source.
pub(crate) enum Source {
    /// An OCI image layout (or docker-archive) unpacked in a directory; blobs are staged on demand.
    Dir(PathBuf),
    /// A tarball already read into staging.
    Tar(TarIndex),
}

/// What a tarball held.
pub(crate) struct TarIndex {
    files: HashMap<String, (Digest, u64)>,
    links: HashMap<String, String>,
    small: HashMap<String, Vec<u8>>,
}

/// `a/./b//c` → `a/b/c` (with `..` clamped at the top, as for layer entries).
fn norm(name: &[u8]) -> String {
    let parts: Vec<String> = names::clean(name)
        .into_iter()
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect();
    parts.join("/")
}

/// The digest a path like `blobs/sha256/<hex>` names, if it is one.
fn blob_name(path: &str) -> Option<Digest> {
    let hex = path.strip_prefix("blobs/sha256/")?;
    digest::parse(&format!("sha256:{hex}")).ok()
}

fn is_metadata(path: &str) -> bool {
    matches!(
        path,
        "index.json" | "manifest.json" | "oci-layout" | "repositories"
    )
}

impl Source {
    /// Opens `input`: a directory is used in place; a file is read whole into `staging`.
    pub(crate) fn open(input: &Path, staging: &mut Staging) -> Result<Source, ArchiveError> {
        let meta = std::fs::metadata(input)
            .map_err(|e| ArchiveError::io(format!("open {}", input.display()), e))?;
        if meta.is_dir() {
            return Ok(Source::Dir(input.to_path_buf()));
        }
        let f = File::open(input)
            .map_err(|e| ArchiveError::io(format!("open {}", input.display()), e))?;
        let (_, dec) = sniffing_decoder(BufReader::with_capacity(1 << 20, f))
            .map_err(|e| ArchiveError::io(format!("read {}", input.display()), e))?;
        let mut ar = tar::Archive::new(dec);
        let mut idx = TarIndex {
            files: HashMap::new(),
            links: HashMap::new(),
            small: HashMap::new(),
        };
        let bad =
            |e: std::io::Error| ArchiveError::io(format!("read archive {}", input.display()), e);
        for entry in ar.entries().map_err(bad)? {
            let mut entry = entry.map_err(bad)?;
            let path = norm(&entry.path_bytes());
            if path.is_empty() {
                continue;
            }
            use tar::EntryType as T;
            match entry.header().entry_type() {
                T::Regular | T::Continuous => {
                    let expect = blob_name(&path);
                    let what = format!("{path} in {}", input.display());
                    let staged = if is_metadata(&path)
                        || (entry.size() <= 64 << 10 && path.ends_with(".json"))
                    {
                        let mut buf = Vec::new();
                        (&mut entry)
                            .take(MAX_JSON_BYTES + 1)
                            .read_to_end(&mut buf)
                            .map_err(bad)?;
                        let r = staging.ingest(&buf[..], &what, None, expect.as_ref())?;
                        if buf.len() as u64 <= MAX_JSON_BYTES {
                            idx.small.insert(path.clone(), buf);
                        }
                        r
                    } else {
                        staging.ingest(&mut entry, &what, None, expect.as_ref())?
                    };
                    idx.files.insert(path, staged);
                }
                T::Symlink => {
                    let target = entry.link_name_bytes().unwrap_or_default().into_owned();
                    let dir = Path::new(&path)
                        .parent()
                        .map(|p| p.to_string_lossy().into_owned());
                    let joined = match (target.first(), dir) {
                        (Some(b'/'), _) | (_, None) => target,
                        (_, Some(d)) => [d.as_bytes(), b"/", &target].concat(),
                    };
                    idx.links.insert(path, norm(&joined));
                }
                T::Link => {
                    let target = entry.link_name_bytes().unwrap_or_default().into_owned();
                    idx.links.insert(path, norm(&target));
                }
                _ => {}
            }
        }
        Ok(Source::Tar(idx))
    }

    /// A metadata file of the source (`index.json`, `manifest.json`, `oci-layout`), if present.
    pub(crate) fn meta_file(&self, name: &str) -> Result<Option<Vec<u8>>, ArchiveError> {
        match self {
            Source::Dir(dir) => {
                let p = dir.join(name);
                match File::open(&p) {
                    Ok(f) => {
                        let mut buf = Vec::new();
                        f.take(MAX_JSON_BYTES + 1)
                            .read_to_end(&mut buf)
                            .map_err(|e| ArchiveError::io(format!("read {}", p.display()), e))?;
                        if buf.len() as u64 > MAX_JSON_BYTES {
                            return Err(ArchiveError::Invalid(format!(
                                "{} is too large",
                                p.display()
                            )));
                        }
                        Ok(Some(buf))
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                    Err(e) => Err(ArchiveError::io(format!("open {}", p.display()), e)),
                }
            }
            Source::Tar(idx) => Ok(idx.small.get(name).cloned()),
        }
    }

    /// Stages the file at `path` of the source (a docker-archive config or layer) and returns its digest and
    /// size. Links inside a tarball are followed (at most 16).
    pub(crate) fn stage_path(
        &self,
        staging: &mut Staging,
        path: &str,
    ) -> Result<(Digest, u64), ArchiveError> {
        let mut p = norm(path.as_bytes());
        match self {
            Source::Dir(dir) => {
                let full = dir.join(&p);
                let f = File::open(&full)
                    .map_err(|e| ArchiveError::io(format!("open {}", full.display()), e))?;
                Ok(staging.ingest(f, &full.display().to_string(), None, blob_name(&p).as_ref())?)
            }
            Source::Tar(idx) => {
                for _ in 0..16 {
                    if let Some(s) = idx.files.get(&p) {
                        return Ok(s.clone());
                    }
                    match idx.links.get(&p) {
                        Some(t) => p = t.clone(),
                        None => break,
                    }
                }
                Err(ArchiveError::Missing(path.to_string()))
            }
        }
    }

    /// Makes sure the blob `d` of exactly `size` bytes is staged (verifying digest and size).
    pub(crate) fn stage_blob(
        &self,
        staging: &mut Staging,
        d: &Digest,
        size: u64,
    ) -> Result<(), ArchiveError> {
        let hex = digest::hex(d).map_err(crate::content::ContentError::from)?;
        match self {
            Source::Dir(dir) => {
                if staging.staged_size(d).is_some() {
                    return Ok(staging.verify(d, size)?);
                }
                let p = dir.join("blobs/sha256").join(hex);
                let f = File::open(&p)
                    .map_err(|e| ArchiveError::io(format!("open blob {}", p.display()), e))?;
                staging.ingest(f, &p.display().to_string(), Some((d, size)), None)?;
                Ok(())
            }
            Source::Tar(_) => match staging.staged_size(d) {
                None => Err(ArchiveError::Missing(format!("blobs/sha256/{hex}"))),
                Some(_) => Ok(staging.verify(d, size)?),
            },
        }
    }
}
