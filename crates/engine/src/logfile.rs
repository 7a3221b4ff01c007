//! Container log files in docker's `json-file` format: one JSON object per line,
//! `{"log":"hello\n","stream":"stdout","time":"2026-11-29T10:16:34.123456789Z"}` (or podman's `k8s-file`). The
//! monitor writes them ([`LogWriter`], from holm-monitor: output is cut at newlines, a partial line is written when
//! it reaches 16 KiB or at EOF, as docker does); `holm logs` reads them ([`LogReader`]).

use serde::{Deserialize, Serialize};
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::Path;

pub use holm_monitor::log::{Format, LogWriter, Stream};

/// serde's view of [`Stream`] (defined in holm-monitor, which has no serde).
#[derive(Serialize, Deserialize)]
#[serde(remote = "Stream", rename_all = "lowercase")]
enum StreamDef {
    Stdout,
    Stderr,
}

/// One log record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// The text, with its newline if it had one.
    pub log: String,
    /// Where it came from.
    #[serde(with = "StreamDef")]
    pub stream: Stream,
    /// When the monitor read it (RFC 3339, nanoseconds).
    pub time: String,
}

/// Reads records from a log file, from the start or as they are appended.
pub struct LogReader {
    path: std::path::PathBuf,
    file: Option<File>,
    pending: Vec<u8>,
}

impl LogReader {
    /// Opens `path`; a missing file reads as empty (a container that never ran).
    pub fn open(path: &Path) -> io::Result<LogReader> {
        let file = match File::open(path) {
            Ok(f) => Some(f),
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(e) => return Err(e),
        };
        Ok(LogReader {
            path: path.to_path_buf(),
            file,
            pending: Vec::new(),
        })
    }

    /// The complete records appended since the last call (malformed lines are skipped).
    pub fn read_new(&mut self) -> io::Result<Vec<Entry>> {
        if self.file.is_none() {
            // Created by the monitor once the container runs.
            self.file = File::open(&self.path).ok();
        }
        let Some(f) = &mut self.file else {
            return Ok(Vec::new());
        };
        f.read_to_end(&mut self.pending)?;
        let mut out = Vec::new();
        let end = match self.pending.iter().rposition(|&b| b == b'\n') {
            Some(p) => p + 1,
            None => return Ok(out),
        };
        for line in self.pending[..end].split(|&b| b == b'\n') {
            if let Ok(e) = serde_json::from_slice::<Entry>(line) {
                out.push(e);
            } else if let Some(e) = parse_k8s(line) {
                out.push(e);
            }
        }
        self.pending.drain(..end);
        Ok(out)
    }

    /// Skips to the end of the file (for `--tail 0 -f`).
    pub fn seek_end(&mut self) -> io::Result<()> {
        if let Some(f) = &mut self.file {
            f.seek(SeekFrom::End(0))?;
        }
        Ok(())
    }
}

/// Parses a `k8s-file` line (`2026-11-29T10:16:34.123456789+00:00 stdout F text`) into an entry (time in UTC
/// with `Z`, as json-file's).
fn parse_k8s(line: &[u8]) -> Option<Entry> {
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
    Some(Entry { log, stream, time })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_split_and_joined() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("c-json.log");
        let mut w = LogWriter::open(&p).unwrap();
        w.write(Stream::Stdout, b"hel").unwrap();
        w.write(Stream::Stderr, b"oops\n").unwrap();
        w.write(Stream::Stdout, b"lo\nworld\npart").unwrap();
        let mut r = LogReader::open(&p).unwrap();
        let got: Vec<(Stream, String)> = r
            .read_new()
            .unwrap()
            .into_iter()
            .map(|e| (e.stream, e.log))
            .collect();
        assert_eq!(
            got,
            [
                (Stream::Stderr, "oops\n".to_string()),
                (Stream::Stdout, "hello\n".into()),
                (Stream::Stdout, "world\n".into())
            ]
        );
        w.flush().unwrap();
        let e = r.read_new().unwrap();
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].log, "part");
        assert!(e[0].time.ends_with('Z'));
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
        let e = LogReader::open(&p).unwrap().read_new().unwrap();
        let got: Vec<&str> = e.iter().map(|e| e.log.as_str()).collect();
        assert_eq!(got, ["a\n", "e\n", "b"]);
        assert!(e[0].time.ends_with('Z'));
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
        let e = LogReader::open(&p).unwrap().read_new().unwrap();
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].log.len(), holm_monitor::log::MAX_PARTIAL + 10);
    }
}
