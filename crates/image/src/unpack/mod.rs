//! Safe layer unpacking: one compressed tar (image-spec `layer.md`) into one empty directory, in overlayfs form
//! (whiteouts as 0/0 character devices, opaque directories as `trusted.overlay.opaque=y`), so that a stack of
//! unpacked layers can be mounted as overlayfs lower dirs.
//!
//! The `tar` crate only parses; all file-system changes are made by [`extract`] through directory fds (see there
//! for the safety rules). While unpacking, the uncompressed stream is hashed: the result is the layer's `diff_id`,
//! which the caller compares with the image config's `rootfs.diff_ids`.

mod compress;
mod extract;
pub mod names;
pub mod split;

pub use compress::{decoder, sniffing_decoder, Compression, Limited};

use crate::digest::{Digest, HashingReader};
use std::cell::Cell;
use std::io::{self, BufReader, Read};
use std::path::Path;
use std::rc::Rc;

/// Default cap on a layer's uncompressed size: 64 GiB.
pub const DEFAULT_MAX_LAYER_BYTES: u64 = 64 << 30;
const BOMB_MSG: &str = "layer exceeds the uncompressed size limit";

/// Errors of unpacking one layer.
#[derive(Debug, thiserror::Error)]
pub enum UnpackError {
    /// Reading or decompressing the blob, or parsing the tar stream, failed.
    #[error("read layer: {0}")]
    Read(#[source] io::Error),
    /// Applying the entry `path` failed.
    #[error("layer entry `{path}`: {source}")]
    Entry {
        /// The entry name as it is in the tar.
        path: String,
        /// What failed.
        #[source]
        source: io::Error,
    },
    /// A whiteout that names nothing (`.wh.`, `.wh..`, `.wh...`) or a whiteout used as a directory.
    #[error("invalid whiteout entry `{0}`")]
    InvalidWhiteout(String),
    /// The uncompressed layer (or the logical size of its sparse files) is larger than the cap.
    #[error("layer is larger than the limit of {limit} bytes uncompressed (decompression bomb?)")]
    TooLarge {
        /// The cap, in bytes.
        limit: u64,
    },
}

/// Options of [`unpack_layer`].
#[derive(Debug, Clone)]
pub struct UnpackOptions {
    /// Cap on the uncompressed tar stream, and separately on the logical size of sparse files, in bytes.
    pub max_bytes: u64,
}

impl Default for UnpackOptions {
    fn default() -> Self {
        UnpackOptions {
            max_bytes: DEFAULT_MAX_LAYER_BYTES,
        }
    }
}

/// What unpacking a layer found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerDiff {
    /// sha256 of the uncompressed tar stream (image-spec `config.md`: `rootfs.diff_ids`).
    pub diff_id: Digest,
    /// Length of the uncompressed tar stream, in bytes.
    pub tar_size: u64,
    /// Bytes of regular file data written.
    pub file_bytes: u64,
    /// Tar entries applied.
    pub entries: u64,
}

/// Decompresses the layer `blob` and returns the sha256 and length of its uncompressed stream (its diff_id and
/// tar size) without unpacking it; the stream is capped at `opts.max_bytes` ([`UnpackError::TooLarge`]).
pub fn hash_layer(
    blob: impl Read,
    compression: Compression,
    opts: &UnpackOptions,
) -> Result<(Digest, u64), UnpackError> {
    let tripped = Rc::new(Cell::new(false));
    let raw = BufReader::with_capacity(1 << 20, blob);
    let dec = decoder(raw, compression).map_err(UnpackError::Read)?;
    let hashing = HashingReader::new(Limited::new(dec, opts.max_bytes, tripped.clone()));
    hashing.drain().map_err(|e| {
        if tripped.get() {
            UnpackError::TooLarge {
                limit: opts.max_bytes,
            }
        } else {
            UnpackError::Read(e)
        }
    })
}

/// Unpacks the layer `blob`, compressed as `compression`, into the existing empty directory `dest`.
///
/// On error `dest` may hold a partial tree: the caller unpacks into a temporary directory and removes it.
pub fn unpack_layer(
    blob: impl Read,
    compression: Compression,
    dest: &Path,
    opts: &UnpackOptions,
) -> Result<LayerDiff, UnpackError> {
    unpack_layer_split(blob, compression, dest, opts, None).map(|(d, _)| d)
}

/// [`unpack_layer`], also recording the layer's tar-split into the new file `split` if given ([`split`]).
/// Returns whether the split was recorded whole (false: the file is incomplete and must not be used).
pub fn unpack_layer_split(
    blob: impl Read,
    compression: Compression,
    dest: &Path,
    opts: &UnpackOptions,
    split: Option<&Path>,
) -> Result<(LayerDiff, bool), UnpackError> {
    let rec = split
        .map(split::SplitState::create)
        .transpose()
        .map_err(UnpackError::Read)?;
    let tripped = Rc::new(Cell::new(false));
    let bomb = |e: io::Error, tripped: &Rc<Cell<bool>>| {
        if tripped.get() || e.to_string().contains(BOMB_MSG) {
            UnpackError::TooLarge {
                limit: opts.max_bytes,
            }
        } else {
            UnpackError::Read(e)
        }
    };
    let raw = BufReader::with_capacity(1 << 20, blob);
    let dec = decoder(raw, compression).map_err(UnpackError::Read)?;
    let limited = Limited::new(dec, opts.max_bytes, tripped.clone());
    let hashing = HashingReader::new(limited);
    let recorder = split::Recorder {
        inner: hashing,
        state: rec.clone().unwrap_or_else(|| {
            std::rc::Rc::new(std::cell::RefCell::new(split::SplitState::idle()))
        }),
    };
    let mut archive = tar::Archive::new(BufReader::with_capacity(256 << 10, recorder));
    let mut ex = extract::Extractor::new(dest, opts.max_bytes).map_err(UnpackError::Read)?;
    {
        let entries = archive.entries().map_err(|e| bomb(e, &tripped))?;
        for entry in entries {
            let mut entry = entry.map_err(|e| bomb(e, &tripped))?;
            if let Some(rec) = &rec {
                record_entry(&mut rec.borrow_mut(), &entry);
            }
            match ex.apply(&mut entry) {
                Ok(()) => {}
                Err(UnpackError::Entry { source, .. })
                    if tripped.get() || source.to_string().contains(BOMB_MSG) =>
                {
                    return Err(UnpackError::TooLarge {
                        limit: opts.max_bytes,
                    })
                }
                Err(e) => return Err(e),
            }
        }
    }
    let (file_bytes, entries) = (ex.file_bytes, ex.entries);
    ex.finish().map_err(|e| UnpackError::Entry {
        path: ".".into(),
        source: e,
    })?;
    // The tar end marker may be followed by padding: the diff_id covers the whole stream.
    let mut recorder = archive.into_inner().into_inner();
    io::copy(&mut recorder, &mut io::sink()).map_err(|e| bomb(e, &tripped))?;
    let (diff_id, tar_size) = recorder.inner.drain().map_err(|e| bomb(e, &tripped))?;
    let whole = rec.is_some_and(|r| r.borrow_mut().finish());
    Ok((
        LayerDiff {
            diff_id,
            tar_size,
            file_bytes,
            entries,
        },
        whole,
    ))
}

/// Tells the tar-split recorder about an entry before it is applied: a plain regular file's data is referenced by
/// its path (the extractor writes it there whole); anything else stays in the raw stream.
fn record_entry<R: Read>(rec: &mut split::SplitState, e: &tar::Entry<'_, R>) {
    use tar::EntryType as T;
    let raw = e.path_bytes();
    let comps = names::clean(&raw);
    let ty = e.header().entry_type();
    let plain = comps
        .iter()
        .all(|c| names::classify(c) == names::Kind::Plain);
    if let Some((last, dirs)) = comps.split_last() {
        if let names::Kind::Whiteout(target) = names::classify(last) {
            let mut t: Vec<&[u8]> = dirs.to_vec();
            t.push(target);
            rec.touch(&t);
            return;
        }
    }
    let file =
        (plain && !comps.is_empty() && matches!(ty, T::Regular | T::Continuous)).then(|| e.size());
    rec.entry(&comps, e.raw_file_position(), file);
}
