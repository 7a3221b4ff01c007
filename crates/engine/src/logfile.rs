//! Container log files in docker's `json-file` format: one JSON object per line,
//! `{"log":"hello\n","stream":"stdout","time":"2026-11-29T10:16:34.123456789Z"}` (or podman's `k8s-file`). The
//! monitor writes them ([`LogWriter`], from holm-monitor: output is cut at newlines, a partial line is written when
//! it reaches 16 KiB or at EOF, as docker does; rotated as docker's with `--log-opt max-size/max-file`);
//! `holm logs` reads them ([`LogReader`]) as a stream: memory stays bounded (a 64 KiB buffer plus the longest
//! record, at most [`MAX_LINE`]: a longer line, which the monitor never writes, is skipped as malformed) whatever
//! the size of the files, `--tail N` finds its start by reading blocks backwards from the end
//! (as podman does), and rotated files (`PATH.2`, `PATH.1`, then `PATH`) are read in order, also while
//! following.

use serde::Deserialize;
use std::borrow::Cow;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

pub use holm_monitor::log::{rotated, Format, LogWriter, Rotate, Stream};

/// serde's view of [`Stream`] (defined in holm-monitor, which has no serde).
#[derive(Deserialize)]
#[serde(remote = "Stream", rename_all = "lowercase")]
enum StreamDef {
    Stdout,
    Stderr,
}

/// One log record, borrowed from the reader's buffer where it can be.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Record<'a> {
    /// The text, with its newline if it had one.
    #[serde(borrow)]
    pub log: Cow<'a, str>,
    /// Where it came from.
    #[serde(with = "StreamDef")]
    pub stream: Stream,
    /// When the monitor read it (RFC 3339 in UTC with nine fractional digits and `Z`; compares as text).
    #[serde(borrow)]
    pub time: Cow<'a, str>,
}

/// How much a reader reads at once (bytes).
const CHUNK: usize = 64 * 1024;

/// The longest line a reader keeps (bytes); a longer one (a corrupt or foreign file: the monitor's records are at
/// most ~6x its 16 KiB partial-line cut once escaped) is skipped up to its newline, so memory stays bounded and the
/// search for its end does not rescan it.
pub const MAX_LINE: usize = 8 * 1024 * 1024;

/// The files of a log, oldest first: `PATH.(max_file-1)` … `PATH.1` (those that exist), then `PATH`.
pub fn log_files(path: &Path, max_file: u32) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = (1..max_file.max(1))
        .rev()
        .map(|n| rotated(path, n))
        .filter(|p| p.exists())
        .collect();
    v.push(path.to_path_buf());
    v
}

/// Where the last `n` records of `files` (oldest first) begin: (index into `files`, byte offset). Reads blocks
/// backwards from the end of the newest file, counting newlines, and on into older files if they are needed.
fn tail_start(files: &[PathBuf], n: usize) -> io::Result<(usize, u64)> {
    let mut need = n;
    let mut block = vec![0u8; CHUNK];
    for (i, p) in files.iter().enumerate().rev() {
        let mut f = match File::open(p) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        let size = f.metadata()?.len();
        if need == 0 {
            return Ok((i, size));
        }
        if size == 0 {
            continue;
        }
        // The newline that ends the last record does not start one.
        let mut end = size;
        let mut first = true;
        while end > 0 {
            let start = end.saturating_sub(CHUNK as u64);
            let len = (end - start) as usize;
            f.seek(SeekFrom::Start(start))?;
            f.read_exact(&mut block[..len])?;
            let mut slice = &block[..len];
            if first {
                first = false;
                if slice.last() == Some(&b'\n') {
                    slice = &slice[..len - 1];
                } else if i == files.len() - 1 {
                    // The live file's unfinished last line (a monitor killed or out of space mid-write) is not
                    // passed on by the reader: it is not one of the last `n` records.
                    need += 1;
                }
            }
            for (j, _) in slice.iter().enumerate().rev().filter(|(_, &b)| b == b'\n') {
                need -= 1;
                if need == 0 {
                    return Ok((i, start + j as u64 + 1));
                }
            }
            end = start;
        }
        // The file's first record.
        need -= 1;
        if need == 0 {
            return Ok((i, 0));
        }
    }
    Ok((0, 0))
}

/// Reads the records of a (possibly rotated) log file as a stream, from a starting point on, and then what is
/// appended, following the monitor's rotations.
pub struct LogReader {
    path: PathBuf,
    max_file: u32,
    /// Older files still to read before the live one (next first).
    queue: std::collections::VecDeque<PathBuf>,
    /// The file being read, its inode, whether it is `path` as opened, and how far it was read.
    file: Option<(File, u64, bool)>,
    offset: u64,
    /// Bytes read and not yet parsed (`buf[pos..]`).
    buf: Vec<u8>,
    pos: usize,
    /// Unescaped text of the record being passed on (reused).
    scratch: String,
    /// Dropping a line longer than [`MAX_LINE`] up to its newline.
    skipping: bool,
}

impl LogReader {
    /// Opens the log `path` and its rotated files (up to `max_file` in all, see [`log_files`]), positioned at the
    /// last `tail` records (`None`: all of them). Missing files read as empty (a container that never ran).
    pub fn open(path: &Path, max_file: u32, tail: Option<usize>) -> io::Result<LogReader> {
        let files = log_files(path, max_file);
        let (first, offset) = match tail {
            Some(n) => tail_start(&files, n)?,
            None => (0, 0),
        };
        let mut r = LogReader {
            path: path.to_path_buf(),
            max_file,
            queue: files[first..].iter().cloned().collect(),
            file: None,
            offset: 0,
            buf: Vec::with_capacity(CHUNK),
            pos: 0,
            scratch: String::new(),
            skipping: false,
        };
        r.next_file()?;
        if r.file.is_some() {
            r.offset = offset;
            if let Some((f, ..)) = &mut r.file {
                f.seek(SeekFrom::Start(offset))?;
            }
        }
        Ok(r)
    }

    /// Opens the next file of the queue (the live one last); `file` is `None` when none exists yet.
    fn next_file(&mut self) -> io::Result<()> {
        self.file = None;
        self.offset = 0;
        self.skipping = false;
        while let Some(p) = self.queue.pop_front() {
            let live = p == self.path;
            match File::open(&p) {
                Ok(f) => {
                    let ino = std::os::unix::fs::MetadataExt::ino(&f.metadata()?);
                    self.file = Some((f, ino, live));
                    return Ok(());
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    if live {
                        // Created by the monitor once the container runs.
                        self.queue.push_front(p);
                        return Ok(());
                    }
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Passes every complete record available now to `f`, in order, then stops at the end of the live file (an
    /// unfinished last line is kept for the next call). Malformed lines are skipped. Errors of `f` end the read.
    pub fn read_available<E: From<io::Error>>(
        &mut self,
        mut f: impl FnMut(&Record<'_>) -> Result<(), E>,
    ) -> Result<(), E> {
        loop {
            if self.file.is_none() {
                self.next_file()?;
                if self.file.is_none() {
                    return Ok(());
                }
            }
            let Some((file, ino, live)) = &mut self.file else {
                return Ok(());
            };
            // Keep the unparsed tail at the front, then read a chunk behind it.
            if self.pos > 0 {
                self.buf.drain(..self.pos);
                self.pos = 0;
            }
            let had = self.buf.len();
            self.buf.resize(had + CHUNK, 0);
            let n = match file.read(&mut self.buf[had..]) {
                Ok(n) => n,
                Err(e) => {
                    self.buf.truncate(had);
                    return Err(e.into());
                }
            };
            self.buf.truncate(had + n);
            self.offset += n as u64;
            if n > 0 {
                if self.skipping {
                    // The rest of an overlong line ends at the first newline read.
                    match self.buf[had..].iter().position(|&b| b == b'\n') {
                        Some(i) => {
                            self.buf.drain(..had + i + 1);
                            self.skipping = false;
                        }
                        None => {
                            self.buf.clear();
                            continue;
                        }
                    }
                } else if !self.buf[had..].contains(&b'\n') {
                    // No line ends in what was read: nothing to parse (the unparsed part holds no newline).
                    if self.buf.len() > MAX_LINE {
                        self.buf.clear();
                        self.buf.shrink_to(CHUNK);
                        self.skipping = true;
                    }
                    continue;
                }
                self.parse_lines(&mut f)?;
                continue;
            }
            // End of this file.
            if !*live {
                // A rotated file is complete: an unterminated last line is a record.
                if self.pos < self.buf.len() {
                    self.buf.push(b'\n');
                    self.parse_lines(&mut f)?;
                }
                self.next_file()?;
                continue;
            }
            let (ino, offset) = (*ino, self.offset);
            match std::fs::metadata(&self.path) {
                Ok(m) if std::os::unix::fs::MetadataExt::ino(&m) != ino => {
                    // Rotated: what was written before the rename is read first (the monitor writes no more there),
                    // then the files that became newer, then the new live file.
                    if let Some((_, _, live)) = &mut self.file {
                        *live = false;
                    }
                    self.queue = self.newer_than(ino).into();
                    self.queue.push_back(self.path.clone());
                }
                Ok(m) if m.len() < offset => {
                    // Emptied (max-file 1): start again from its beginning, as docker.
                    if let Some((file, ..)) = &mut self.file {
                        file.seek(SeekFrom::Start(0))?;
                    }
                    self.offset = 0;
                    self.buf.clear();
                    self.pos = 0;
                    self.skipping = false;
                }
                _ => return Ok(()),
            }
        }
    }

    /// The rotated files newer than the one with inode `ino` (oldest first): `PATH.(k-1)` … `PATH.1` when it is
    /// `PATH.k` now; all of them when it is gone (rotated out).
    fn newer_than(&self, ino: u64) -> Vec<PathBuf> {
        let mut v = Vec::new();
        for n in 1..self.max_file.max(1) {
            let p = rotated(&self.path, n);
            match std::fs::metadata(&p) {
                Ok(m) if std::os::unix::fs::MetadataExt::ino(&m) == ino => break,
                Ok(_) => v.push(p),
                Err(_) => break,
            }
        }
        v.reverse();
        v
    }

    /// Parses the complete lines in `buf[pos..]` and passes them to `f`.
    fn parse_lines<E>(
        &mut self,
        f: &mut impl FnMut(&Record<'_>) -> Result<(), E>,
    ) -> Result<(), E> {
        let data = &self.buf[self.pos..];
        let Some(last) = data.iter().rposition(|&b| b == b'\n') else {
            return Ok(());
        };
        for line in data[..last].split(|&b| b == b'\n') {
            // A crash or full disk can leave a run of NUL bytes (a hole) in front of the next record written.
            let line = &line[line.iter().position(|&b| b != 0).unwrap_or(line.len())..];
            if let Some(r) = parse_own_json(line, &mut self.scratch) {
                f(&r)?;
            } else if let Ok(r) = serde_json::from_slice::<Record<'_>>(line) {
                f(&r)?;
            } else if let Some(r) = parse_k8s(line) {
                f(&r)?;
            }
        }
        self.pos += last + 1;
        Ok(())
    }
}

/// Parses a json-file record in the exact form holm's monitor (and docker) writes,
/// `{"log":"…","stream":"stdout|stderr","time":"…"}`, without serde: the text is unescaped into `scratch`. `None`
/// for anything else (other key orders, `\u` escapes, extra fields), which serde then parses.
fn parse_own_json<'a>(line: &'a [u8], scratch: &'a mut String) -> Option<Record<'a>> {
    let rest = line.strip_prefix(br#"{"log":""#)?;
    let mut end = 0;
    let mut escaped = false;
    while end < rest.len() {
        match rest[end] {
            b'\\' => {
                escaped = true;
                end += 2;
            }
            b'"' => break,
            _ => end += 1,
        }
    }
    let (text, rest) = (rest.get(..end)?, rest.get(end + 1..)?);
    let (stream, time) = if let Some(t) = rest.strip_prefix(br#","stream":"stdout","time":""#) {
        (Stream::Stdout, t)
    } else {
        (
            Stream::Stderr,
            rest.strip_prefix(br#","stream":"stderr","time":""#)?,
        )
    };
    let time = time.strip_suffix(br#""}"#)?;
    if time.iter().any(|&b| b == b'"' || b == b'\\') {
        return None;
    }
    let time = std::str::from_utf8(time).ok()?;
    let log = if escaped {
        scratch.clear();
        let mut bytes = std::mem::take(scratch).into_bytes();
        let mut i = 0;
        while i < text.len() {
            let b = text[i];
            if b != b'\\' {
                bytes.push(b);
                i += 1;
                continue;
            }
            bytes.push(match text.get(i + 1)? {
                b'n' => b'\n',
                b't' => b'\t',
                b'r' => b'\r',
                b'"' => b'"',
                b'\\' => b'\\',
                b'/' => b'/',
                b'b' => 0x08,
                b'f' => 0x0c,
                _ => return None,
            });
            i += 2;
        }
        *scratch = String::from_utf8(bytes).ok()?;
        Cow::Borrowed(scratch.as_str())
    } else {
        Cow::Borrowed(std::str::from_utf8(text).ok()?)
    };
    Some(Record {
        log,
        stream,
        time: Cow::Borrowed(time),
    })
}

/// Parses a `k8s-file` line (`2026-11-29T10:16:34.123456789+00:00 stdout F text`) into an entry (time in UTC
/// with `Z`, as json-file's).
fn parse_k8s(line: &[u8]) -> Option<Record<'static>> {
    let s = String::from_utf8_lossy(line);
    let mut parts = s.splitn(4, ' ');
    let (time, stream, tag) = (parts.next()?, parts.next()?, parts.next()?);
    let text = parts.next().unwrap_or("");
    let stream = match stream {
        "stdout" => Stream::Stdout,
        "stderr" => Stream::Stderr,
        _ => return None,
    };
    let log = match tag {
        "F" => format!("{text}\n"),
        "P" => text.to_string(),
        _ => return None,
    };
    let time = time
        .strip_suffix("+00:00")
        .map_or(time.to_string(), |t| format!("{t}Z"));
    Some(Record {
        log: log.into(),
        stream,
        time: time.into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// Everything `r` has now, as (stream, text, time).
    fn read(r: &mut LogReader) -> Vec<(Stream, String, String)> {
        let mut v = Vec::new();
        r.read_available(|e| -> io::Result<()> {
            v.push((e.stream, e.log.to_string(), e.time.to_string()));
            Ok(())
        })
        .unwrap();
        v
    }

    fn texts(r: &mut LogReader) -> Vec<String> {
        read(r).into_iter().map(|e| e.1).collect()
    }

    #[test]
    fn lines_split_and_joined() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("c-json.log");
        let mut w = LogWriter::open(&p).unwrap();
        w.write(Stream::Stdout, b"hel").unwrap();
        w.write(Stream::Stderr, b"oops\n").unwrap();
        w.write(Stream::Stdout, b"lo\nworld\npart").unwrap();
        let mut r = LogReader::open(&p, 1, None).unwrap();
        let got: Vec<(Stream, String)> = read(&mut r).into_iter().map(|e| (e.0, e.1)).collect();
        assert_eq!(
            got,
            [
                (Stream::Stderr, "oops\n".to_string()),
                (Stream::Stdout, "hello\n".into()),
                (Stream::Stdout, "world\n".into())
            ]
        );
        w.flush().unwrap();
        let e = read(&mut r);
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].1, "part");
        assert!(e[0].2.ends_with('Z'));
        let text = std::fs::read_to_string(&p).unwrap();
        assert!(
            text.starts_with(r#"{"log":"oops\n","stream":"stderr","time":""#),
            "{text}"
        );
    }

    #[test]
    fn k8s_file_round_trip() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("c.log");
        let mut w = LogWriter::open_as(&p, Format::K8s).unwrap();
        w.write(Stream::Stdout, b"a\nb").unwrap();
        w.write(Stream::Stderr, b"e\n").unwrap();
        w.flush().unwrap();
        let text = std::fs::read_to_string(&p).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].ends_with("+00:00 stdout F a"), "{text}");
        assert!(lines[1].ends_with(" stderr F e"), "{text}");
        assert!(lines[2].ends_with(" stdout P b"), "{text}");
        let e = read(&mut LogReader::open(&p, 1, None).unwrap());
        let got: Vec<&str> = e.iter().map(|e| e.1.as_str()).collect();
        assert_eq!(got, ["a\n", "e\n", "b"]);
        assert!(e[0].2.ends_with('Z'));
    }

    #[test]
    fn long_partial_lines_are_cut() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("l.log");
        let mut w = LogWriter::open(&p).unwrap();
        w.write(
            Stream::Stdout,
            &vec![b'x'; holm_monitor::log::MAX_PARTIAL + 10],
        )
        .unwrap();
        // Several records longer than the reader's chunk.
        for _ in 0..5 {
            w.write(
                Stream::Stdout,
                &vec![b'\x01'; holm_monitor::log::MAX_PARTIAL],
            )
            .unwrap();
        }
        let e = texts(&mut LogReader::open(&p, 1, None).unwrap());
        assert_eq!(e.len(), 6);
        assert_eq!(e[0].len(), holm_monitor::log::MAX_PARTIAL + 10);
        assert!(e[1..]
            .iter()
            .all(|t| t.len() == holm_monitor::log::MAX_PARTIAL));
        let e = texts(&mut LogReader::open(&p, 1, Some(2)).unwrap());
        assert_eq!(e.len(), 2);
    }

    #[test]
    fn overlong_lines_are_skipped_with_bounded_memory() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("l.log");
        let rec = |t: &str| {
            format!(r#"{{"log":"{t}\n","stream":"stdout","time":"2026-12-07T04:00:00Z"}}"#)
        };
        let mut text = rec("before") + "\n";
        text.push_str(r#"{"log":""#);
        text.push_str(&"Z".repeat(3 * MAX_LINE));
        text.push_str("\\n\",\"stream\":\"stdout\",\"time\":\"2026-12-07T04:00:00Z\"}\n");
        text.push_str(&(rec("after") + "\n"));
        // An overlong unterminated line at the end of a rotated file does not swallow the live file's first line.
        std::fs::write(
            rotated(&p, 1),
            format!("{}\n{}", rec("old"), "Y".repeat(2 * MAX_LINE)),
        )
        .unwrap();
        std::fs::write(&p, &text).unwrap();
        let mut r = LogReader::open(&p, 2, None).unwrap();
        assert_eq!(texts(&mut r), ["old\n", "before\n", "after\n"]);
        assert!(
            r.buf.capacity() <= MAX_LINE + 2 * CHUNK,
            "buffer grew to {}",
            r.buf.capacity()
        );
        // Following: the next line written is read.
        std::fs::OpenOptions::new()
            .append(true)
            .open(&p)
            .unwrap()
            .write_all((rec("next") + "\n").as_bytes())
            .unwrap();
        assert_eq!(texts(&mut r), ["next\n"]);
    }

    #[test]
    fn nul_bytes_before_a_record_are_ignored() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("l.log");
        let mut w = LogWriter::open(&p).unwrap();
        w.write(Stream::Stdout, b"a\n").unwrap();
        drop(w);
        std::fs::OpenOptions::new()
            .append(true)
            .open(&p)
            .unwrap()
            .write_all(&[0u8; 300])
            .unwrap();
        let mut w = LogWriter::open(&p).unwrap();
        w.write(Stream::Stdout, b"b\n").unwrap();
        drop(w);
        assert_eq!(
            texts(&mut LogReader::open(&p, 1, None).unwrap()),
            ["a\n", "b\n"]
        );
        assert_eq!(
            texts(&mut LogReader::open(&p, 1, Some(1)).unwrap()),
            ["b\n"]
        );
    }

    #[test]
    fn tail_skips_an_unfinished_last_line() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("l.log");
        let mut w = LogWriter::open(&p).unwrap();
        for t in ["a\n", "b\n", "c\n"] {
            w.write(Stream::Stdout, t.as_bytes()).unwrap();
        }
        drop(w);
        std::fs::OpenOptions::new()
            .append(true)
            .open(&p)
            .unwrap()
            .write_all(br#"{"log":"cut"#)
            .unwrap();
        assert_eq!(
            texts(&mut LogReader::open(&p, 1, Some(1)).unwrap()),
            ["c\n"]
        );
        assert_eq!(
            texts(&mut LogReader::open(&p, 1, Some(2)).unwrap()),
            ["b\n", "c\n"]
        );
        assert_eq!(
            texts(&mut LogReader::open(&p, 1, Some(9)).unwrap()),
            ["a\n", "b\n", "c\n"]
        );
    }

    /// A log of `n` lines `L0`..`L{n-1}` rotated at `size` bytes into at most `files` files.
    fn rotated_log(d: &Path, n: usize, size: u64, files: u32) -> PathBuf {
        let p = d.join("r.log");
        let rot = Rotate {
            max_size: size,
            max_file: files,
        };
        let mut w = LogWriter::open_rotating(&p, Format::Json, Some(rot)).unwrap();
        for i in 0..n {
            w.write(Stream::Stdout, format!("L{i}\n").as_bytes())
                .unwrap();
        }
        p
    }

    fn lines(from: usize, to: usize) -> Vec<String> {
        (from..to).map(|i| format!("L{i}\n")).collect()
    }

    #[test]
    fn tail_counts_back_across_files() {
        let d = tempfile::tempdir().unwrap();
        // ~73-byte records, 5 to a 300-byte file: L0-L4 rotated out, L5-L9 in .2, L10-L14 in .1, the rest live.
        let n = 20;
        let p = rotated_log(d.path(), n, 300, 3);
        assert!(rotated(&p, 2).exists() && !rotated(&p, 3).exists());
        let all = texts(&mut LogReader::open(&p, 3, None).unwrap());
        let kept = all.len();
        assert_eq!(kept, 15, "{all:?}");
        assert_eq!(all, lines(n - kept, n));
        for t in [0, 1, 3, 5, 6, 10, 11, kept - 1, kept, kept + 5] {
            let got = texts(&mut LogReader::open(&p, 3, Some(t)).unwrap());
            assert_eq!(got, lines(n - t.min(kept), n), "--tail {t}");
        }
        // max-file 1 reads the live file only.
        assert!(texts(&mut LogReader::open(&p, 1, None).unwrap()).len() < kept);
    }

    #[test]
    fn following_across_rotations() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("f.log");
        let rot = Rotate {
            max_size: 300,
            max_file: 4,
        };
        let mut w = LogWriter::open_rotating(&p, Format::Json, Some(rot)).unwrap();
        w.write(Stream::Stdout, b"L0\n").unwrap();
        let mut r = LogReader::open(&p, 4, None).unwrap();
        let mut got = texts(&mut r);
        // One rotation between reads, then two (the file read last is now PATH.2).
        for i in 1..6 {
            w.write(Stream::Stdout, format!("L{i}\n").as_bytes())
                .unwrap();
        }
        got.extend(texts(&mut r));
        for i in 6..14 {
            w.write(Stream::Stdout, format!("L{i}\n").as_bytes())
                .unwrap();
        }
        got.extend(texts(&mut r));
        assert_eq!(got, lines(0, 14));
        // Emptied files (max-file 1) are read again from their start.
        let one = d.path().join("one.log");
        let rot1 = Rotate {
            max_size: 200,
            max_file: 1,
        };
        let mut w = LogWriter::open_rotating(&one, Format::Json, Some(rot1)).unwrap();
        w.write(Stream::Stdout, b"a\nb\nc\n").unwrap();
        let mut r = LogReader::open(&one, 1, None).unwrap();
        assert_eq!(texts(&mut r), ["a\n", "b\n", "c\n"]);
        w.write(Stream::Stdout, b"d\n").unwrap();
        assert_eq!(texts(&mut r), ["d\n"]);
    }

    #[test]
    fn own_json_form_parses_as_serde_does() {
        let mut scratch = String::new();
        for line in [
            r#"{"log":"plain\n","stream":"stdout","time":"2026-01-01T00:00:00.000000001Z"}"#,
            r#"{"log":"q\"b\\s\/t\tr\r\b\f","stream":"stderr","time":"2026-01-01T00:00:00.5Z"}"#,
            r#"{"log":"no newline","stream":"stdout","time":"t"}"#,
            r#"{"log":"ünï\n","stream":"stderr","time":"t"}"#,
        ] {
            let fast = parse_own_json(line.as_bytes(), &mut scratch)
                .map(|r| (r.log.to_string(), r.stream, r.time.to_string()));
            let serde: Record<'_> = serde_json::from_str(line).unwrap();
            let serde = (serde.log.to_string(), serde.stream, serde.time.to_string());
            assert_eq!(fast, Some(serde), "{line}");
        }
        for other in [
            r#"{"log":"\u0001\n","stream":"stdout","time":"t"}"#,
            r#"{"stream":"stdout","log":"x","time":"t"}"#,
            r#"{"log":"x","stream":"stdin","time":"t"}"#,
            r#"{"log":"x","stream":"stdout","time":"t","attrs":{}}"#,
            r#"{"log":"x\"#,
        ] {
            assert!(
                parse_own_json(other.as_bytes(), &mut scratch).is_none(),
                "{other}"
            );
        }
        // Those are still read, through serde.
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("o.log");
        std::fs::write(
            &p,
            "{\"log\":\"\\u0001\\n\",\"stream\":\"stdout\",\"time\":\"t\"}\n\
             {\"stream\":\"stderr\",\"log\":\"x\\n\",\"time\":\"t\"}\n",
        )
        .unwrap();
        let got = read(&mut LogReader::open(&p, 1, None).unwrap());
        assert_eq!(
            got,
            [
                (Stream::Stdout, "\u{1}\n".to_string(), "t".to_string()),
                (Stream::Stderr, "x\n".to_string(), "t".to_string())
            ]
        );
    }
}
