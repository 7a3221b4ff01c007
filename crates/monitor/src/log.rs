//! Writing container log files, in docker's `json-file` format (one JSON object per line:
//! `{"log":"hello\n","stream":"stdout","time":"2026-11-29T10:16:34.123456789Z"}`) or podman's `k8s-file`
//! (`TIME STREAM F|P TEXT`). Output is cut at newlines; a partial line is written when it reaches 16 KiB or at
//! EOF, as docker does. Reading them back is holm-engine's `logfile` (with serde): this writer encodes JSON by
//! hand so that the monitor needs no JSON library.

use std::fs::File;
use std::io::{self, Write};
use std::path::Path;

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

/// Appends records to a container's log file.
pub struct LogWriter {
    file: File,
    format: Format,
    partial: [Vec<u8>; 2],
    line: Vec<u8>,
}

impl LogWriter {
    /// Opens (creating, mode 0640) `path` for appending, in docker's json-file format.
    pub fn open(path: &Path) -> io::Result<LogWriter> {
        LogWriter::open_as(path, Format::Json)
    }

    /// Opens (creating, mode 0640) `path` for appending in `format`.
    pub fn open_as(path: &Path, format: Format) -> io::Result<LogWriter> {
        use std::os::unix::fs::OpenOptionsExt;
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o640)
            .open(path)?;
        Ok(LogWriter {
            file,
            format,
            partial: [Vec::new(), Vec::new()],
            line: Vec::new(),
        })
    }

    fn record(&mut self, stream: Stream, bytes: &[u8]) -> io::Result<()> {
        let time = holm_sys::time::rfc3339(std::time::SystemTime::now());
        let line = &mut self.line;
        line.clear();
        match self.format {
            Format::Json => {
                line.extend_from_slice(b"{\"log\":\"");
                json_escape(&String::from_utf8_lossy(bytes), line);
                line.extend_from_slice(b"\",\"stream\":\"");
                line.extend_from_slice(stream.name().as_bytes());
                line.extend_from_slice(b"\",\"time\":\"");
                line.extend_from_slice(time.as_bytes());
                line.extend_from_slice(b"\"}\n");
            }
            Format::K8s => {
                let (text, tag) = match bytes.strip_suffix(b"\n") {
                    Some(t) => (t, "F"),
                    None => (bytes, "P"),
                };
                let time = time.strip_suffix('Z').unwrap_or(&time);
                line.extend_from_slice(time.as_bytes());
                line.extend_from_slice(b"+00:00 ");
                line.extend_from_slice(stream.name().as_bytes());
                line.push(b' ');
                line.extend_from_slice(tag.as_bytes());
                line.push(b' ');
                line.extend_from_slice(text);
                line.push(b'\n');
            }
        }
        let r = self.file.write_all(line);
        // A long line's buffer is not kept for the container's whole life.
        if line.capacity() > 4096 {
            *line = Vec::new();
        }
        r
    }

    /// Logs `data` read from `stream`: every completed line becomes a record.
    pub fn write(&mut self, stream: Stream, data: &[u8]) -> io::Result<()> {
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
        Ok(())
    }
}

/// Appends `s` as the inside of a JSON string, escaped exactly as serde_json does (`\"`, `\\`, `\b`, `\f`, `\n`,
/// `\r`, `\t`, other control characters as `\u00xx`; everything else as UTF-8), so that log files do not change
/// with the writer.
pub fn json_escape(s: &str, out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for &b in s.as_bytes() {
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x0c => out.extend_from_slice(b"\\f"),
            0..=0x1f => {
                out.extend_from_slice(b"\\u00");
                out.push(HEX[usize::from(b >> 4)]);
                out.push(HEX[usize::from(b & 0xf)]);
            }
            _ => out.push(b),
        }
    }
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
}
