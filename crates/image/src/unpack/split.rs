//! Tar-split (podman's approach): what a layer's tar stream holds besides the contents of its regular files —
//! headers, extension records, padding, the end blocks — recorded while the layer is unpacked, so that the exact
//! tar (same bytes, same sha256 = diff_id) can be regenerated later from this record and the unpacked files,
//! without keeping the tar itself.
//!
//! Format (zstd-compressed): a sequence of records, `0 LEN BYTES` (raw stream bytes) or `1 SIZE PATHLEN PATH`
//! (`SIZE` bytes read from the regular file `PATH` of the unpacked tree), lengths little-endian u64. An entry's
//! data is referenced by path only when it is a plain regular file whose path no other entry of the layer names
//! again; any other entry's data stays in the raw records. The caller checks a regenerated stream against the
//! diff_id before relying on it (at import, and again when saving).

use crate::digest::HashingReader;
use holm_sys::fs as sysfs;
use std::cell::RefCell;
use std::collections::HashSet;
use std::fs::File;
use std::io::{self, BufReader, Read, Write};
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::rc::Rc;

type Encoder = zstd::stream::write::Encoder<'static, io::BufWriter<File>>;

/// Raw bytes held in memory before they are written out.
const FLUSH_BYTES: usize = 4 << 20;

/// Recording state shared by the [`Recorder`] (below the tar parser's buffer) and the unpack loop.
pub(crate) struct SplitState {
    out: Option<Encoder>,
    /// Absolute offset of the next byte the recorder reads.
    pos: u64,
    /// Bytes from `buf_start` up to `pos` not yet written out or dropped.
    buf: Vec<u8>,
    buf_start: u64,
    /// Where the next raw record starts.
    last_end: u64,
    /// Bytes before this offset are file data referenced by path: dropped as they arrive.
    skip_until: u64,
    /// Paths of this layer already named by an entry (a second naming makes the layer unsplittable).
    seen: HashSet<Vec<u8>>,
    /// Set when the layer cannot be regenerated (a path named twice, a write error).
    pub(crate) broken: bool,
}

/// A shared handle on the recording state.
pub(crate) type Shared = Rc<RefCell<SplitState>>;

impl SplitState {
    /// Starts recording into the new file `path`.
    pub(crate) fn create(path: &Path) -> io::Result<Shared> {
        let f = File::create(path)?;
        let out = zstd::stream::write::Encoder::new(io::BufWriter::new(f), 3)?;
        Ok(Rc::new(RefCell::new(SplitState {
            out: Some(out),
            pos: 0,
            buf: Vec::new(),
            buf_start: 0,
            last_end: 0,
            skip_until: 0,
            seen: HashSet::new(),
            broken: false,
        })))
    }

    /// A state that records nothing (no split was asked for).
    pub(crate) fn idle() -> SplitState {
        SplitState {
            out: None,
            pos: 0,
            buf: Vec::new(),
            buf_start: 0,
            last_end: 0,
            skip_until: u64::MAX,
            seen: HashSet::new(),
            broken: true,
        }
    }

    fn raw(&mut self, upto: u64) {
        let (from, to) = (
            (self.last_end - self.buf_start) as usize,
            (upto - self.buf_start) as usize,
        );
        if to > from {
            let bytes = self.buf[from..to].to_vec();
            self.emit(0, &bytes, None);
        }
    }

    fn emit(&mut self, tag: u8, bytes: &[u8], size: Option<u64>) {
        let Some(out) = self.out.as_mut() else {
            return;
        };
        let mut rec = vec![tag];
        if let Some(s) = size {
            rec.extend_from_slice(&s.to_le_bytes());
        }
        rec.extend_from_slice(&(bytes.len() as u64).to_le_bytes());
        rec.extend_from_slice(bytes);
        if out.write_all(&rec).is_err() {
            self.broken = true;
        }
    }

    /// An entry named `comps` (cleaned path components) whose data starts at `data_pos`: `file` = `Some(size)` if
    /// its data is the content of the regular file written at that path, `None` if the data stays raw.
    pub(crate) fn entry(&mut self, comps: &[&[u8]], data_pos: u64, file: Option<u64>) {
        let path = comps.join(&b'/');
        if !path.is_empty() && !self.seen.insert(path.clone()) {
            self.broken = true;
        }
        // Data already written out raw (see `Recorder::read`) stays raw.
        let Some(size) = file.filter(|_| data_pos >= self.last_end) else {
            return;
        };
        self.raw(data_pos);
        self.emit(1, &path, Some(size));
        self.last_end = data_pos + size;
        let drop_to = self.last_end.min(self.pos);
        let n = (drop_to.saturating_sub(self.buf_start) as usize).min(self.buf.len());
        self.buf.drain(..n);
        self.buf_start += n as u64;
        self.skip_until = self.last_end;
    }

    /// Marks a whiteout of `comps` (it names that path too).
    pub(crate) fn touch(&mut self, comps: &[&[u8]]) {
        if !self.seen.insert(comps.join(&b'/')) {
            self.broken = true;
        }
    }

    /// Writes the rest of the stream and closes the record; false if the layer cannot be regenerated.
    pub(crate) fn finish(&mut self) -> bool {
        let end = self.pos;
        self.raw(end);
        match self
            .out
            .take()
            .map(|o| o.finish().and_then(|mut w| w.flush()))
        {
            Some(Ok(())) => !self.broken,
            _ => false,
        }
    }
}

/// A reader that records what passes through it into a [`SplitState`].
pub(crate) struct Recorder<R> {
    pub(crate) inner: R,
    pub(crate) state: Shared,
}

impl<R: Read> Read for Recorder<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        let mut s = self.state.borrow_mut();
        let start = s.pos;
        s.pos += n as u64;
        // Bytes below `skip_until` are referenced file data.
        let keep_from = s.skip_until.max(start);
        if keep_from < s.pos {
            if s.buf.is_empty() {
                s.buf_start = keep_from;
            }
            let off = (keep_from - start) as usize;
            s.buf.extend_from_slice(&buf[off..n]);
        }
        // Bounded memory: raw data (a sparse file's, say) is written out as it comes; an entry whose data was
        // among it keeps its data raw.
        if s.buf.len() > FLUSH_BYTES && s.skip_until <= s.buf_start {
            let pos = s.pos;
            s.raw(pos);
            s.last_end = pos;
            s.buf.clear();
            s.buf_start = pos;
        }
        Ok(n)
    }
}

/// Regenerates the tar stream of a layer from its tar-split file `split` and its unpacked tree `diff`; the caller
/// checks the result's sha256 against the diff_id. File paths are resolved inside `diff` without following
/// symlinks.
pub fn regenerate(split: &Path, diff: &Path) -> io::Result<impl Read> {
    let dec = zstd::stream::read::Decoder::new(File::open(split)?)?;
    let root = File::open(diff)?;
    Ok(Regen {
        rec: BufReader::new(dec),
        root,
        cur: None,
        diff: diff.to_path_buf(),
    })
}

struct Regen<R> {
    rec: BufReader<R>,
    root: File,
    cur: Option<Box<dyn Read>>,
    diff: PathBuf,
}

fn read_u64(r: &mut impl Read) -> io::Result<u64> {
    let mut b = [0u8; 8];
    r.read_exact(&mut b)?;
    Ok(u64::from_le_bytes(b))
}

impl<R: Read> Read for Regen<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            if let Some(cur) = self.cur.as_mut() {
                let n = cur.read(buf)?;
                if n > 0 || buf.is_empty() {
                    return Ok(n);
                }
                self.cur = None;
            }
            let mut tag = [0u8; 1];
            if self.rec.read(&mut tag)? == 0 {
                return Ok(0);
            }
            match tag[0] {
                0 => {
                    let len = read_u64(&mut self.rec)?;
                    let mut bytes = vec![0u8; len as usize];
                    self.rec.read_exact(&mut bytes)?;
                    self.cur = Some(Box::new(io::Cursor::new(bytes)));
                }
                1 => {
                    let size = read_u64(&mut self.rec)?;
                    let len = read_u64(&mut self.rec)?;
                    let mut path = vec![0u8; len as usize];
                    self.rec.read_exact(&mut path)?;
                    let p = Path::new(
                        <std::ffi::OsStr as std::os::unix::ffi::OsStrExt>::from_bytes(&path),
                    );
                    let fd = sysfs::openat2(
                        self.root.as_fd(),
                        p,
                        libc::O_RDONLY | libc::O_NOFOLLOW,
                        0,
                        sysfs::resolve::IN_ROOT | sysfs::resolve::NO_SYMLINKS,
                    )
                    .map_err(|e| {
                        io::Error::other(format!("{}/{}: {e}", self.diff.display(), p.display()))
                    })?;
                    let f = File::from(fd);
                    self.cur = Some(Box::new(ExactLen {
                        inner: f.take(size),
                        left: size,
                    }));
                }
                t => return Err(io::Error::other(format!("tar-split: bad record tag {t}"))),
            }
        }
    }
}

/// Fails if the file is shorter than its recorded size (changed since it was unpacked).
struct ExactLen<R> {
    inner: R,
    left: u64,
}

impl<R: Read> Read for ExactLen<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n == 0 && self.left > 0 && !buf.is_empty() {
            return Err(io::Error::other(
                "tar-split: unpacked file shorter than recorded",
            ));
        }
        self.left -= n as u64;
        Ok(n)
    }
}

/// The sha256 and length of a regenerated stream.
pub fn hash_regenerated(split: &Path, diff: &Path) -> io::Result<(crate::digest::Digest, u64)> {
    HashingReader::new(regenerate(split, diff)?).drain()
}
