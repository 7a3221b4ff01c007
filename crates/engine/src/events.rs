//! The engine's event log: docker's `events.Message` records (container create/start/die/…, image pull/tag/…,
//! volume and network events), appended by every command and monitor that changes something, so that
//! `holm events` and the API's `/events` see them with no daemon running.
//!
//! ```text
//! <root>/events/events.log     JSON lines, one Message each (the live file)
//! <root>/events/events.log.1   the previous file (rotated at [`MAX_LOG_BYTES`])
//! <root>/events/lock           flock: exclusive for an append (and a rotation), shared to open both files
//! ```
//!
//! An append is one `write(2)` of a whole line on an `O_APPEND` file under the exclusive lock, so concurrent
//! writers never interleave and a reader never sees half a record except at the end of the file (it waits for
//! the newline). Appending is best effort: a verb never fails because its event could not be written (a full
//! disk); such an event is lost.
//!
//! Reading ([`Engine::events`]): the past records of both files in `[since, until]`, then, unless `until` has
//! passed, the new ones as they come (a poll every [`FOLLOW_POLL`]), across rotations.

use crate::events_filter::Filters;
use crate::{Engine, Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The live file is rotated once an append would make it larger than this (the log holds at most twice it).
pub const MAX_LOG_BYTES: u64 = 4 << 20;

/// How often a following reader looks for new records.
pub const FOLLOW_POLL: Duration = Duration::from_millis(100);

/// Records longer than this are not written (an attribute made huge by a label): docker has no such limit, but
/// a reader must be able to hold a line.
const MAX_RECORD_BYTES: usize = 64 << 10;

/// The object an event is about (docker's `events.Actor`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    /// Container id, image id or reference, volume name, network id.
    #[serde(rename = "ID")]
    pub id: String,
    /// `name`, `image`, `exitCode`, `signal`, labels, … (docker's attributes for the event).
    #[serde(rename = "Attributes", default)]
    pub attributes: BTreeMap<String, String>,
}

/// One event, docker's `events.Message` with its JSON names (also what `/events` sends, one per line).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// Deprecated docker field (container events only): the action.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub status: String,
    /// Deprecated docker field (container events only): the container id.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub id: String,
    /// Deprecated docker field (container events only): the image.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub from: String,
    /// `container`, `image`, `volume` or `network`.
    #[serde(rename = "Type")]
    pub typ: String,
    /// `create`, `start`, `die`, `health_status: healthy`, `exec_start: sh -c true`, `pull`, `tag`, …
    #[serde(rename = "Action")]
    pub action: String,
    /// What it is about.
    #[serde(rename = "Actor")]
    pub actor: Actor,
    /// Always `local`.
    #[serde(default)]
    pub scope: String,
    /// Seconds since the Unix epoch.
    #[serde(default)]
    pub time: i64,
    /// Nanoseconds since the Unix epoch.
    #[serde(rename = "timeNano", default)]
    pub time_nano: i64,
}

/// Nanoseconds since the Unix epoch, now.
pub fn now_nanos() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i64)
}

impl Event {
    /// An event of `typ` (`container`, `image`, `volume`, `network`) happening now.
    pub fn new(typ: &str, action: &str, id: &str, attributes: BTreeMap<String, String>) -> Event {
        let nanos = now_nanos();
        let mut e = Event {
            typ: typ.to_string(),
            action: action.to_string(),
            actor: Actor {
                id: id.to_string(),
                attributes,
            },
            scope: "local".into(),
            time: nanos.div_euclid(1_000_000_000),
            time_nano: nanos,
            ..Event::default()
        };
        if typ == "container" {
            e.status = action.to_string();
            e.id = id.to_string();
            e.from = e.actor.attributes.get("image").cloned().unwrap_or_default();
        }
        e
    }

    /// A container event with docker's attributes: the container's labels, `image` and `name`, plus `extra`.
    pub fn container(
        rec: &crate::ContainerRecord,
        action: &str,
        extra: &[(&str, String)],
    ) -> Event {
        let mut attrs = rec.config.labels.clone();
        attrs.insert("image".into(), rec.image.clone());
        attrs.insert("name".into(), rec.name.clone());
        for (k, v) in extra {
            attrs.insert(k.to_string(), v.clone());
        }
        Event::new("container", action, &rec.id, attrs)
    }

    /// An event of another type with `attributes` given as pairs.
    pub fn of(typ: &str, action: &str, id: &str, attributes: &[(&str, String)]) -> Event {
        let attrs = attributes
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect();
        Event::new(typ, action, id, attrs)
    }
}

/// Appends an image event (best effort, as [`Engine::emit`]) to the log of engine root `root`: docker's shape,
/// `Actor.ID` the image id (or, for `pull`, the reference) and the `name` attribute.
pub fn image_event(root: &Path, action: &str, id: &str, name: &str) {
    let _ = append(
        root,
        &Event::of("image", action, id, &[("name", name.to_string())]),
    );
}

/// The directory of the event log under `root`.
pub fn dir(root: &Path) -> PathBuf {
    root.join("events")
}

fn live(root: &Path) -> PathBuf {
    dir(root).join("events.log")
}

fn rotated(root: &Path) -> PathBuf {
    dir(root).join("events.log.1")
}

/// Opens (creating) the lock file of the log.
fn lock_file(root: &Path) -> std::io::Result<File> {
    let d = dir(root);
    if !d.is_dir() {
        let mut b = std::fs::DirBuilder::new();
        b.recursive(true);
        std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
        b.create(&d)?;
    }
    std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .open(d.join("lock"))
}

/// Appends `ev` to the log under `root`: one `write(2)` of the line under the exclusive lock, rotating first if
/// the live file would grow past [`MAX_LOG_BYTES`].
///
/// Errors: the directory, lock or file cannot be made or written (a full disk).
pub fn append(root: &Path, ev: &Event) -> Result<()> {
    append_rotating_at(root, ev, MAX_LOG_BYTES)
}

fn append_rotating_at(root: &Path, ev: &Event, max: u64) -> Result<()> {
    let mut line = serde_json::to_vec(ev).expect("an event serialises");
    line.push(b'\n');
    if line.len() > MAX_RECORD_BYTES {
        return Err(Error::Io {
            what: format!("event {} {}", ev.typ, ev.action),
            source: std::io::Error::other("record larger than 64 KiB"),
        });
    }
    let io = |what: &str| Error::io(format!("{what} {}", dir(root).display()));
    let lock = lock_file(root).map_err(io("open the event log lock in"))?;
    lock.lock().map_err(io("lock the event log in"))?;
    let open = || {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(live(root))
    };
    let mut f = open().map_err(io("open the event log in"))?;
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    if len > 0 && len + line.len() as u64 > max {
        std::fs::rename(live(root), rotated(root)).map_err(io("rotate the event log in"))?;
        f = open().map_err(io("open the event log in"))?;
    }
    // One write: O_APPEND places it at the end atomically; the lock keeps other writers (and a rotation) out.
    match f.write(&line) {
        Ok(n) if n == line.len() => Ok(()),
        Ok(n) => {
            // A short write (the disk filled): cut the file back so no half record stays.
            let _ = f.set_len(len.min(f.metadata().map(|m| m.len()).unwrap_or(0)));
            Err(Error::Io {
                what: format!("append to the event log in {}", dir(root).display()),
                source: std::io::Error::other(format!("short write ({n} of {} bytes)", line.len())),
            })
        }
        Err(e) => Err(io("append to the event log in")(e)),
    }
}

/// docker's `--since`/`--until` of `events` (`since=`/`until=` of `GET /events`): Unix seconds with a fraction,
/// a date and time, a Go duration before now (see [`holm_format::timestamp`]), as nanoseconds since the epoch.
/// Errors: [`crate::Error::InvalidFlag`] naming `flag`.
pub fn parse_time(flag: &str, s: &str) -> crate::Result<i64> {
    holm_format::timestamp::parse(
        s,
        std::time::SystemTime::now(),
        holm_sys::process::local_utc_offset,
    )
    .map(|(secs, nanos)| {
        secs.saturating_mul(1_000_000_000)
            .saturating_add(i64::from(nanos))
    })
    .map_err(|why| crate::Error::flag(flag, s, why))
}

/// What to read from the log: docker's `--since`, `--until` and `--filter`.
#[derive(Debug, Clone, Default)]
pub struct Query {
    /// Only events at or after this time (nanoseconds since the epoch). `None`: with `until` also `None`, only
    /// events from now on (docker's rule); with an `until`, every stored event up to it.
    pub since: Option<i64>,
    /// Only events at or before this time; the stream ends once it passed. `None`: follow forever.
    pub until: Option<i64>,
    /// `--filter`s.
    pub filters: Filters,
}

impl Engine {
    /// Appends an event to the log (best effort: a failure is ignored, see the [module](self) docs).
    pub fn emit(&self, ev: &Event) {
        let _ = append(self.root(), ev);
    }

    /// Appends a container event for `rec` (see [`Event::container`]).
    pub fn emit_container(
        &self,
        rec: &crate::ContainerRecord,
        action: &str,
        extra: &[(&str, String)],
    ) {
        self.emit(&Event::container(rec, action, extra));
    }

    /// Appends a container event for container `id` if it has a record (its name, image and labels as
    /// attributes).
    pub fn emit_for(&self, id: &str, action: &str, extra: &[(&str, String)]) {
        if let Ok(Some(rec)) = self.db().and_then(|db| db.get(id)) {
            self.emit_container(&rec, action, extra);
        }
    }

    /// The events `q` asks for, oldest first: a blocking iterator that follows the log until `q.until` (or, without
    /// one, until [`EventStream::stop_flag`] is set or the iterator is dropped).
    ///
    /// Errors: the log exists but cannot be opened.
    pub fn events(&self, q: &Query) -> Result<EventStream> {
        EventStream::open(self.root(), q.clone())
    }
}

/// A reader of the log: yields past events, then follows (see [`Engine::events`]).
#[derive(Debug)]
pub struct EventStream {
    root: PathBuf,
    q: Query,
    /// Files still to read, oldest first; the last is the live file being followed.
    files: Vec<File>,
    buf: Vec<u8>,
    stop: Arc<AtomicBool>,
}

impl EventStream {
    fn open(root: &Path, q: Query) -> Result<EventStream> {
        let io = |what: &str| Error::io(format!("{what} {}", dir(root).display()));
        let mut files = Vec::new();
        let from_now = q.since.is_none() && q.until.is_none();
        if dir(root).is_dir() {
            // Shared: no rotation between opening the two files.
            let lock = lock_file(root).map_err(io("open the event log lock in"))?;
            lock.lock_shared().map_err(io("lock the event log in"))?;
            if !from_now {
                match File::open(rotated(root)) {
                    Ok(f) => files.push(f),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(io("open the event log in")(e)),
                }
            }
            match File::open(live(root)) {
                Ok(mut f) => {
                    if from_now {
                        f.seek(SeekFrom::End(0))
                            .map_err(io("read the event log in"))?;
                    }
                    files.push(f)
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(io("open the event log in")(e)),
            }
        }
        Ok(EventStream {
            root: root.to_path_buf(),
            q,
            files,
            buf: Vec::new(),
            stop: Arc::new(AtomicBool::new(false)),
        })
    }

    /// A flag that ends the stream (at its next poll) when set: for a server that stops serving a client.
    pub fn stop_flag(&self) -> Arc<AtomicBool> {
        self.stop.clone()
    }

    /// True once `until` has passed (or the stop flag is set).
    fn over(&self) -> bool {
        self.stop.load(Ordering::Relaxed) || self.q.until.is_some_and(|u| now_nanos() > u)
    }

    /// The next complete line of the current files, if one is there now.
    fn next_line(&mut self) -> Option<Vec<u8>> {
        loop {
            if let Some(nl) = self.buf.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = self.buf.drain(..=nl).collect();
                return Some(line);
            }
            let f = self.files.first_mut()?;
            let mut chunk = [0u8; 16 << 10];
            match f.read(&mut chunk) {
                Ok(0) | Err(_) => {
                    if self.files.len() > 1 {
                        // An older file is done (a half line at its end, if any, is dropped).
                        self.files.remove(0);
                        self.buf.clear();
                        continue;
                    }
                    return None;
                }
                Ok(n) => {
                    self.buf.extend_from_slice(&chunk[..n]);
                    if self.buf.len() > 2 * MAX_RECORD_BYTES && !self.buf.contains(&b'\n') {
                        // Not a record (garbage): skip it.
                        self.buf.clear();
                    }
                }
            }
        }
    }

    /// After the live file ended: if it was rotated away, the new live file is opened (read from its start).
    fn check_rotation(&mut self) {
        let cur = self.files.last().and_then(|f| f.metadata().ok());
        let Ok(now) = std::fs::metadata(live(&self.root)) else {
            return;
        };
        if cur.is_some_and(|c| c.ino() == now.ino() && c.dev() == now.dev()) {
            return;
        }
        if let Ok(f) = File::open(live(&self.root)) {
            self.files.push(f);
        }
    }
}

impl Iterator for EventStream {
    type Item = Event;

    /// Blocks (following) until an event matches, or returns `None` once the stream is over. Lines that are not
    /// records (a crash's NUL bytes, garbage) are skipped.
    fn next(&mut self) -> Option<Event> {
        loop {
            while let Some(line) = self.next_line() {
                let text = line.strip_suffix(b"\n").unwrap_or(&line);
                let text = match text.iter().position(|&b| b != 0) {
                    Some(p) => &text[p..],
                    None => continue,
                };
                let Ok(ev) = serde_json::from_slice::<Event>(text) else {
                    continue;
                };
                if self.q.since.is_some_and(|s| ev.time_nano < s) {
                    continue;
                }
                if let Some(u) = self.q.until {
                    if ev.time_nano > u {
                        // Records are in time order (appended under a lock with the time taken before): later
                        // ones are out too, but the clock may have stepped back; keep reading.
                        continue;
                    }
                }
                if self.q.filters.matches(&ev) {
                    return Some(ev);
                }
            }
            if self.over() || self.q.until.is_some_and(|u| u <= now_nanos()) {
                return None;
            }
            self.check_rotation();
            if self.files.len() > 1 {
                continue;
            }
            if self.files.is_empty() {
                // No log yet: wait for the first writer.
                if let Ok(f) = File::open(live(&self.root)) {
                    self.files.push(f);
                    continue;
                }
            }
            std::thread::sleep(FOLLOW_POLL);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn concurrent_appends_across_rotations_stay_whole_and_readable() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().to_path_buf();
        // 8 threads x 200 records, the live file rotated at 8 KiB: many rotations while writers race
        std::thread::scope(|s| {
            for t in 0..8 {
                let root = &root;
                s.spawn(move || {
                    for i in 0..200 {
                        let ev = Event::of("volume", "create", &format!("t{t}-{i}"), &[]);
                        append_rotating_at(root, &ev, 8 << 10).unwrap();
                    }
                });
            }
        });
        let live = std::fs::read_to_string(super::live(&root)).unwrap();
        let old = std::fs::read_to_string(super::rotated(&root)).unwrap();
        assert!(live.len() <= 8 << 10 && old.len() <= 8 << 10);
        for l in old.lines().chain(live.lines()) {
            serde_json::from_str::<Event>(l).unwrap_or_else(|e| panic!("{l:?}: {e}"));
        }
        // a reader gets the records of both files, each once, the newest last
        let q = Query {
            since: Some(0),
            until: Some(now_nanos()),
            ..Query::default()
        };
        let got: Vec<Event> = EventStream::open(&root, q).unwrap().collect();
        assert_eq!(got.len(), old.lines().count() + live.lines().count());
        let mut ids: Vec<&str> = got.iter().map(|e| e.actor.id.as_str()).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), got.len());
    }
}
