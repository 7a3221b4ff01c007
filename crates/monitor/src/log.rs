//! Writing container log files, in docker's `json-file` format (one JSON object per line:
//! `{"log":"hello\n","stream":"stdout","time":"2026-11-29T10:16:34.123456789Z"}`) or podman's `k8s-file`
//! (`TIME STREAM F|P TEXT`). Output is cut at newlines; a partial line is written when it reaches 16 KiB or at
//! EOF, as docker does. The records of one read are written together (one `write(2)` per 64 KiB), and the file
//! can be rotated as docker's json-file ([`Rotate`]). Reading them back is holm-engine's `logfile` (with serde): this writer encodes JSON by
//! hand so that the monitor needs no JSON library.

use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// Which output a line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
}

impl Stream {
    /// Its name in a log record: `stdout` or `stderr`.
    pub fn name(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }
}

/// A partial line is flushed when it reaches this size (bytes).
pub const MAX_PARTIAL: usize = 16 * 1024;

/// The on-disk format of a log file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// docker's `json-file`.
    Json,
    /// podman's / CRI's `k8s-file`: `TIME STREAM F|P TEXT` per line (`P`: the line continues in the next record).
    K8s,
}

impl Format {
    /// The format of a `--log-driver` (`None` for `none`; anything else is json-file).
    pub fn of_driver(driver: &str) -> Option<Format> {
        match driver {
            "k8s-file" => Some(Format::K8s),
            "none" => None,
            _ => Some(Format::Json),
        }
    }

    /// The driver name that [`Format::of_driver`] maps back to this format.
    pub fn driver(self) -> &'static str {
        match self {
            Format::Json => "json-file",
            Format::K8s => "k8s-file",
        }
    }
}

/// docker's json-file rotation (`--log-opt max-size=N --log-opt max-file=M`): before a record is written, a file
/// that has reached `max_size` bytes is renamed `PATH.1` (`PATH.1` → `PATH.2` …, the oldest beyond `max_file - 1`
/// removed) and a new `PATH` is started; with `max_file` 1 the file is truncated instead (docker's `rotate`). A
/// file can thus exceed `max_size` by one record, as docker's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rotate {
    /// Size in bytes at which the file is rotated (> 0).
    pub max_size: u64,
    /// How many files exist at most, the live one included (>= 1).
    pub max_file: u32,
}

impl Rotate {
    /// Its form on the monitor's command line: `SIZE:FILES`.
    pub fn to_arg(self) -> String {
        format!("{}:{}", self.max_size, self.max_file)
    }

    /// Parses [`Rotate::to_arg`]'s form.
    pub fn parse(s: &str) -> Option<Rotate> {
        let (size, files) = s.split_once(':')?;
        let r = Rotate {
            max_size: size.parse().ok()?,
            max_file: files.parse().ok()?,
        };
        (r.max_size > 0 && r.max_file > 0).then_some(r)
    }
}

/// The name of rotated file `n` of the log `path` (`PATH.N`; `n` 0 is `path` itself).
pub fn rotated(path: &Path, n: u32) -> PathBuf {
    if n == 0 {
        return path.to_path_buf();
    }
    let mut s = path.as_os_str().to_os_string();
    s.push(format!(".{n}"));
    PathBuf::from(s)
}

/// The records of one read are written together once they reach this many bytes (and at the end of each
/// [`LogWriter::write`]); the batch buffer's capacity is kept below [`KEEP_CAPACITY`] between reads.
const BATCH: usize = 64 * 1024;
/// Capacity above which the batch buffer is shrunk after a write (one record can be ~6x [`MAX_PARTIAL`]).
const KEEP_CAPACITY: usize = 128 * 1024;

/// Appends records to a container's log file. What one [`LogWriter::write`] brings in is encoded into one buffer
/// (each line with its own time) and written with one `write(2)` per 64 KiB, not one per line.
pub struct LogWriter {
    file: File,
    path: PathBuf,
    format: Format,
    partial: [Vec<u8>; 2],
    /// Encoded records not yet written.
    out: Vec<u8>,
    /// Bytes in the live file (for rotation).
    size: u64,
    rotate: Option<Rotate>,
    clock: Clock,
}

/// Formats record times: the date and time of day are formatted once per second, the nanoseconds per record.
struct Clock {
    sec: u64,
    /// `YYYY-MM-DDTHH:MM:SS.` of `sec`.
    prefix: String,
}

impl Clock {
    /// Appends the RFC 3339 time of now (UTC, nine fractional digits, no zone letter) to `out`.
    fn now(&mut self, out: &mut Vec<u8>) {
        let now = std::time::SystemTime::now();
        let d = now
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        if d.as_secs() != self.sec || self.prefix.is_empty() {
            self.sec = d.as_secs();
            let full = holm_format::time::rfc3339(now);
            self.prefix = full[..20].to_string();
        }
        out.extend_from_slice(self.prefix.as_bytes());
        let mut n = d.subsec_nanos();
        let mut digits = [b'0'; 9];
        for slot in digits.iter_mut().rev() {
            *slot = b'0' + (n % 10) as u8;
            n /= 10;
        }
        out.extend_from_slice(&digits);
    }
}

impl LogWriter {
    /// Opens (creating, mode 0640) `path` for appending, in docker's json-file format.
    pub fn open(path: &Path) -> io::Result<LogWriter> {
        LogWriter::open_as(path, Format::Json)
    }

    /// Opens (creating, mode 0640) `path` for appending in `format`, without rotation.
    pub fn open_as(path: &Path, format: Format) -> io::Result<LogWriter> {
        LogWriter::open_rotating(path, format, None)
    }

    /// Opens (creating, mode 0640) `path` for appending in `format`, rotated per `rotate`.
    pub fn open_rotating(
        path: &Path,
        format: Format,
        rotate: Option<Rotate>,
    ) -> io::Result<LogWriter> {
        let file = open_log(path, false)?;
        let size = file.metadata()?.len();
        Ok(LogWriter {
            file,
            path: path.to_path_buf(),
            format,
            partial: [Vec::new(), Vec::new()],
            out: Vec::new(),
            size,
            rotate,
            clock: Clock {
                sec: 0,
                prefix: String::new(),
            },
        })
    }

    /// Writes the batch.
    fn write_out(&mut self) -> io::Result<()> {
        if self.out.is_empty() {
            return Ok(());
        }
        let r = self.file.write_all(&self.out);
        self.size += self.out.len() as u64;
        self.out.clear();
        if self.out.capacity() > KEEP_CAPACITY {
            self.out.shrink_to(BATCH);
        }
        r
    }

    /// docker's rotation (see [`Rotate`]): renames the files one up and starts a new one.
    fn rotate_now(&mut self, r: Rotate) -> io::Result<()> {
        if r.max_file >= 2 {
            let last = rotated(&self.path, r.max_file - 1);
            match std::fs::remove_file(&last) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
            for n in (1..r.max_file - 1).rev() {
                match std::fs::rename(rotated(&self.path, n), rotated(&self.path, n + 1)) {
                    Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                    _ => {}
                }
            }
            std::fs::rename(&self.path, rotated(&self.path, 1))?;
        }
        self.file = open_log(&self.path, true)?;
        self.size = 0;
        Ok(())
    }

    fn record(&mut self, stream: Stream, bytes: &[u8]) -> io::Result<()> {
        if let Some(r) = self.rotate {
            if self.size + self.out.len() as u64 >= r.max_size {
                self.write_out()?;
                self.rotate_now(r)?;
            }
        }
        let line = &mut self.out;
        match self.format {
            Format::Json => {
                line.extend_from_slice(b"{\"log\":\"");
                json_escape(&String::from_utf8_lossy(bytes), line);
                line.extend_from_slice(b"\",\"stream\":\"");
                line.extend_from_slice(stream.name().as_bytes());
                line.extend_from_slice(b"\",\"time\":\"");
                self.clock.now(line);
                line.extend_from_slice(b"Z\"}\n");
            }
            Format::K8s => {
                let (text, tag) = match bytes.strip_suffix(b"\n") {
                    Some(t) => (t, "F"),
                    None => (bytes, "P"),
                };
                self.clock.now(line);
                line.extend_from_slice(b"+00:00 ");
                line.extend_from_slice(stream.name().as_bytes());
                line.push(b' ');
                line.extend_from_slice(tag.as_bytes());
                line.push(b' ');
                line.extend_from_slice(text);
                line.push(b'\n');
            }
        }
        if self.out.len() >= BATCH {
            self.write_out()?;
        }
        Ok(())
    }

    /// Logs `data` read from `stream`: every completed line becomes a record; the records are written before
    /// this returns.
    pub fn write(&mut self, stream: Stream, data: &[u8]) -> io::Result<()> {
        let r = self.encode(stream, data);
        let w = self.write_out();
        r.and(w)
    }

    fn encode(&mut self, stream: Stream, data: &[u8]) -> io::Result<()> {
        let i = stream as usize;
        let mut rest = data;
        while let Some(nl) = rest.iter().position(|&b| b == b'\n') {
            let (line, tail) = rest.split_at(nl + 1);
            if self.partial[i].is_empty() {
                self.record(stream, line)?;
            } else {
                let mut buf = std::mem::take(&mut self.partial[i]);
                buf.extend_from_slice(line);
                self.record(stream, &buf)?;
            }
            rest = tail;
        }
        self.partial[i].extend_from_slice(rest);
        if self.partial[i].len() >= MAX_PARTIAL {
            let buf = std::mem::take(&mut self.partial[i]);
            self.record(stream, &buf)?;
        }
        Ok(())
    }

    /// Writes what is left of unfinished lines (at EOF).
    pub fn flush(&mut self) -> io::Result<()> {
        for stream in [Stream::Stdout, Stream::Stderr] {
            let buf = std::mem::take(&mut self.partial[stream as usize]);
            if !buf.is_empty() {
                self.record(stream, &buf)?;
            }
        }
        self.write_out()
    }
}

/// Opens a log file for appending (mode 0640 when created), emptied when `truncate`.
fn open_log(path: &Path, truncate: bool) -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    let f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o640)
        .open(path)?;
    if truncate {
        // O_APPEND and O_TRUNC do not go together in std; appends land at the new end.
        f.set_len(0)?;
    }
    Ok(f)
}

/// Appends `s` as the inside of a JSON string, escaped exactly as serde_json does (`\"`, `\\`, `\b`, `\f`, `\n`,
/// `\r`, `\t`, other control characters as `\u00xx`; everything else as UTF-8), so that log files do not change
/// with the writer.
pub fn json_escape(s: &str, out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let bytes = s.as_bytes();
    // Runs of bytes that need no escape are copied at once.
    let mut run = 0;
    for (i, &b) in bytes.iter().enumerate() {
        if b >= 0x20 && b != b'"' && b != b'\\' {
            continue;
        }
        out.extend_from_slice(&bytes[run..i]);
        run = i + 1;
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x0c => out.extend_from_slice(b"\\f"),
            _ => {
                out.extend_from_slice(b"\\u00");
                out.push(HEX[usize::from(b >> 4)]);
                out.push(HEX[usize::from(b & 0xf)]);
            }
        }
    }
    out.extend_from_slice(&bytes[run..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_lines() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("c-json.log");
        let mut w = LogWriter::open(&p).unwrap();
        w.write(Stream::Stdout, b"hel").unwrap();
        w.write(Stream::Stderr, b"o\"\\\x01\t\xffs\n").unwrap();
        w.write(Stream::Stdout, b"lo\npart").unwrap();
        w.flush().unwrap();
        let text = std::fs::read_to_string(&p).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert!(
            lines[0].starts_with(
                "{\"log\":\"o\\\"\\\\\\u0001\\t\u{fffd}s\\n\",\"stream\":\"stderr\",\"time\":\""
            ),
            "{text}"
        );
        assert!(lines[0].ends_with("Z\"}"), "{text}");
        assert!(
            lines[1].starts_with(r#"{"log":"hello\n","stream":"stdout""#),
            "{text}"
        );
        assert!(
            lines[2].starts_with(r#"{"log":"part","stream":"stdout""#),
            "{text}"
        );
    }

    #[test]
    fn k8s_lines() {
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
    }

    #[test]
    fn long_partial_lines_are_cut() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("l.log");
        let mut w = LogWriter::open(&p).unwrap();
        w.write(Stream::Stdout, &vec![b'x'; MAX_PARTIAL + 10])
            .unwrap();
        let text = std::fs::read_to_string(&p).unwrap();
        assert_eq!(text.lines().count(), 1);
        assert!(text.contains(&"x".repeat(MAX_PARTIAL + 10)));
    }

    #[test]
    fn one_read_is_one_batch_with_a_time_per_line() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("b.log");
        let mut w = LogWriter::open(&p).unwrap();
        let data = "line\n".repeat(3000);
        w.write(Stream::Stdout, data.as_bytes()).unwrap();
        // Everything is on disk when write returns, each line its own record with a full time.
        let text = std::fs::read_to_string(&p).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3000);
        for l in &lines {
            let t = l
                .strip_prefix(r#"{"log":"line\n","stream":"stdout","time":""#)
                .and_then(|t| t.strip_suffix("Z\"}"))
                .unwrap_or_else(|| panic!("{l}"));
            assert_eq!(t.len(), 29, "{t}");
            assert_eq!(&t[19..20], ".", "{t}");
        }
        assert!(w.out.capacity() <= KEEP_CAPACITY);
    }

    #[test]
    fn rotation_renames_as_docker() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("r.log");
        let r = Rotate {
            max_size: 100,
            max_file: 3,
        };
        let mut w = LogWriter::open_rotating(&p, Format::Json, Some(r)).unwrap();
        // Each record is ~80 bytes: two fit before the size is reached, the third starts a new file.
        for i in 0..7 {
            w.write(Stream::Stdout, format!("r{i}\n").as_bytes())
                .unwrap();
        }
        let read = |n| std::fs::read_to_string(rotated(&p, n)).unwrap_or_default();
        let has = |n, what: &str| read(n).lines().filter(|l| l.contains(what)).count();
        assert_eq!(has(0, "r6"), 1, "{}", read(0));
        assert_eq!((has(1, "r4"), has(1, "r5")), (1, 1), "{}", read(1));
        assert_eq!((has(2, "r2"), has(2, "r3")), (1, 1), "{}", read(2));
        assert!(!rotated(&p, 3).exists());
        // A reopened writer goes on from the live file's size.
        drop(w);
        let mut w = LogWriter::open_rotating(&p, Format::Json, Some(r)).unwrap();
        w.write(Stream::Stdout, b"r7\n").unwrap();
        w.write(Stream::Stdout, b"r8\n").unwrap();
        assert_eq!((has(0, "r8"), has(1, "r6"), has(1, "r7")), (1, 1, 1));
        assert_eq!(has(2, "r4"), 1);
        // max-file 1: the file is emptied.
        let one = d.path().join("one.log");
        let r1 = Rotate {
            max_size: 100,
            max_file: 1,
        };
        let mut w = LogWriter::open_rotating(&one, Format::Json, Some(r1)).unwrap();
        for i in 0..3 {
            w.write(Stream::Stdout, format!("o{i}\n").as_bytes())
                .unwrap();
        }
        let t = std::fs::read_to_string(&one).unwrap();
        assert_eq!(t.lines().count(), 1, "{t}");
        assert!(t.contains("o2"));
        assert!(!rotated(&one, 1).exists());
    }

    #[test]
    fn rotate_args() {
        let r = Rotate {
            max_size: 5,
            max_file: 2,
        };
        assert_eq!(Rotate::parse(&r.to_arg()), Some(r));
        assert_eq!(Rotate::parse("0:2"), None);
        assert_eq!(Rotate::parse("5:0"), None);
        assert_eq!(Rotate::parse("5"), None);
    }
}
