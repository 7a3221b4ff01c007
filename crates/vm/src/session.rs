//! The host end of the guest protocol ([`holm_vm_proto`]). The guest is untrusted: every frame is decoded strictly
//! and bounded by the proto crate, and anything that is not the expected reply — a wrong event, data on the
//! control port, a control message on the stdio port, output for a stream the host never opened, a second `Ready`,
//! an end of stream — is a [`Error`] for which [`Error::is_violation`] is true: the caller must kill the VM.
//!
//! Two halves, usable from two threads: [`Control`] (requests and replies, exit events) and [`Stdio`] (stdin out,
//! stdout/stderr in). Both are blocking; bound the waits with the transport's read timeout (e.g.
//! `UnixStream::set_read_timeout`), which surfaces as [`Error::Decode`] with an I/O error.

use holm_vm_proto::{
    CreateRequest, DecodeError, EncodeError, Event, ExecRequest, ExitStatus, GuestFrame, HostFrame,
    Reader, Ready, Request, ResizeRequest, SignalRequest, Stats, Writer, INIT_STREAM, MAX_DATA,
    PROTOCOL_VERSION,
};
use oci_spec::runtime::{LinuxResources, Process};
use std::collections::{BTreeSet, VecDeque};
use std::io::{Read, Write};
use std::sync::{Arc, Mutex};

/// What went wrong talking to the guest.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A frame from the guest could not be decoded (or the transport failed).
    #[error("guest protocol: {0}")]
    Decode(#[from] DecodeError),
    /// A frame to the guest could not be written.
    #[error("guest protocol: {0}")]
    Encode(#[from] EncodeError),
    /// The guest closed the channel.
    #[error("guest protocol: the guest closed the {0} channel")]
    Closed(&'static str),
    /// The guest sent something valid but not what the protocol allows here.
    #[error("guest protocol: expected {expected}, got {got}")]
    Unexpected {
        /// What the host waited for.
        expected: &'static str,
        /// What came (a short description, never the guest's raw bytes).
        got: String,
    },
    /// The agent speaks another protocol version.
    #[error("guest protocol: the agent speaks version {0}, holm speaks {PROTOCOL_VERSION}")]
    Version(u32),
    /// The agent refused or failed the request (not a protocol violation).
    #[error("guest: {0}")]
    Guest(String),
}

impl Error {
    /// True for everything except [`Error::Guest`]: the guest broke the protocol (or the channel broke), so the
    /// VM must be killed.
    pub fn is_violation(&self) -> bool {
        !matches!(self, Error::Guest(_))
    }
}

/// Short, bounded description of an event for error messages.
fn describe(e: &Event) -> String {
    match e {
        Event::Ready(_) => "ready".into(),
        Event::Created { .. } => "created".into(),
        Event::Started { stream, .. } => format!("started (stream {stream})"),
        Event::Done => "done".into(),
        Event::Exited { stream, .. } => format!("exited (stream {stream})"),
        Event::Stats(_) => "stats".into(),
        Event::Ps { .. } => "ps".into(),
        Event::Error { .. } => "error".into(),
    }
}

fn describe_data(f: &GuestFrame) -> String {
    match f {
        GuestFrame::Event(e) => format!("control message `{}`", describe(e)),
        GuestFrame::Stdout { stream, .. } => format!("stdout data (stream {stream})"),
        GuestFrame::Stderr { stream, .. } => format!("stderr data (stream {stream})"),
        GuestFrame::OutputEnd { stream } => format!("output end (stream {stream})"),
    }
}

/// The stream ids the host opened (init after `create`, each exec), shared by [`Control`] and [`Stdio`].
#[derive(Debug, Clone, Default)]
pub struct Streams(Arc<Mutex<BTreeSet<u32>>>);

impl Streams {
    fn insert(&self, s: u32) {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).insert(s);
    }
    fn contains(&self, s: u32) -> bool {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(&s)
    }
}

/// The control channel.
pub struct Control<R, W> {
    reader: Reader<R>,
    writer: Writer<W>,
    exits: VecDeque<(u32, ExitStatus)>,
    exited: BTreeSet<u32>,
    streams: Streams,
    ready: bool,
    oom_kills: u64,
}

impl<R: Read, W: Write> Control<R, W> {
    /// Wraps the control port's read and write halves.
    pub fn new(reader: R, writer: W) -> Self {
        Control {
            reader: Reader::new(reader),
            writer: Writer::new(writer),
            exits: VecDeque::new(),
            exited: BTreeSet::new(),
            streams: Streams::default(),
            ready: false,
            oom_kills: 0,
        }
    }

    /// The stream set to give [`Stdio::new`].
    pub fn streams(&self) -> Streams {
        self.streams.clone()
    }

    fn next_event(&mut self) -> Result<Event, Error> {
        match self.reader.read::<GuestFrame>()? {
            None => Err(Error::Closed("control")),
            Some(GuestFrame::Event(e)) => Ok(e),
            Some(other) => Err(Error::Unexpected {
                expected: "a control message on the control port",
                got: describe_data(&other),
            }),
        }
    }

    /// Takes an `Exited` event: the stream must be open and not have exited before. The OOM-kill count it
    /// carries is kept if higher than the last (the count only grows; a lower one from the untrusted guest is
    /// ignored).
    fn record_exit(
        &mut self,
        stream: u32,
        status: ExitStatus,
        oom_kills: u64,
    ) -> Result<(), Error> {
        if !self.streams.contains(stream) || !self.exited.insert(stream) {
            return Err(Error::Unexpected {
                expected: "an exit of a running stream",
                got: format!("exited (stream {stream})"),
            });
        }
        self.oom_kills = self.oom_kills.max(oom_kills);
        self.exits.push_back((stream, status));
        Ok(())
    }

    /// How many processes the guest's OOM killer killed in the container's cgroup, as of the last `Exited`
    /// event read (0: none, or no exit yet).
    pub fn oom_kills(&self) -> u64 {
        self.oom_kills
    }

    /// Takes the agent as ready without reading `Ready`: a guest restored from a snapshot ([`crate::snapshot`])
    /// sent it to the VM that was saved (same initramfs, so the same protocol version) and now waits for requests.
    pub fn assume_ready(&mut self) {
        self.ready = true;
    }

    /// Waits for the agent's `Ready` (the first message) and checks its protocol version.
    pub fn wait_ready(&mut self) -> Result<Ready, Error> {
        match self.next_event()? {
            Event::Ready(r) if r.protocol == PROTOCOL_VERSION => {
                self.ready = true;
                Ok(r)
            }
            Event::Ready(r) => Err(Error::Version(r.protocol)),
            e => Err(Error::Unexpected {
                expected: "ready",
                got: describe(&e),
            }),
        }
    }

    /// Sends a request and returns its reply (`Exited` events that arrive meanwhile are queued for
    /// [`Control::next_exit`]). An `Error` reply is [`Error::Guest`].
    fn call(&mut self, req: Request, expected: &'static str) -> Result<Event, Error> {
        if !self.ready {
            self.wait_ready()?;
        }
        self.writer.write(&HostFrame::Request(req))?;
        loop {
            match self.next_event()? {
                Event::Exited {
                    stream,
                    status,
                    oom_kills,
                } => self.record_exit(stream, status, oom_kills)?,
                Event::Error { message } => return Err(Error::Guest(message)),
                Event::Ready(_) => {
                    return Err(Error::Unexpected {
                        expected,
                        got: "a second ready".into(),
                    })
                }
                e => return Ok(e),
            }
        }
    }

    fn unexpected<T>(expected: &'static str, e: &Event) -> Result<T, Error> {
        Err(Error::Unexpected {
            expected,
            got: describe(e),
        })
    }

    fn done(&mut self, req: Request) -> Result<(), Error> {
        match self.call(req, "done")? {
            Event::Done => Ok(()),
            e => Self::unexpected("done", &e),
        }
    }

    /// Creates the container; returns the init's guest pid. Stream [`INIT_STREAM`] is open from here on.
    pub fn create(&mut self, req: CreateRequest) -> Result<i32, Error> {
        match self.call(Request::Create(Box::new(req)), "created")? {
            Event::Created { pid } => {
                self.streams.insert(INIT_STREAM);
                Ok(pid)
            }
            e => Self::unexpected("created", &e),
        }
    }

    /// Starts the init; returns its guest pid.
    pub fn start(&mut self) -> Result<i32, Error> {
        match self.call(Request::Start, "started")? {
            Event::Started { stream, pid } if stream == INIT_STREAM => Ok(pid),
            e => Self::unexpected("started (stream 0)", &e),
        }
    }

    /// Starts `process` in the container on `stream` (≥ 1, unused so far); returns its guest pid.
    pub fn exec(&mut self, stream: u32, process: Process) -> Result<i32, Error> {
        if stream == INIT_STREAM || self.streams.contains(stream) {
            return Err(Error::Guest(format!(
                "exec: stream {stream} is already used"
            )));
        }
        // Open before the request: output may arrive on the stdio port before the reply here.
        self.streams.insert(stream);
        let req = Request::Exec(Box::new(ExecRequest {
            stream,
            process: Box::new(process),
        }));
        match self.call(req, "started")? {
            Event::Started { stream: s, pid } if s == stream => Ok(pid),
            e => Self::unexpected("started (the exec's stream)", &e),
        }
    }

    /// Sends a signal to the init (or every process with `all`, or an exec's process with `stream`).
    pub fn signal(&mut self, signal: i32, all: bool, stream: Option<u32>) -> Result<(), Error> {
        self.done(Request::Signal(SignalRequest {
            signal,
            all,
            stream,
        }))
    }

    /// Sets `stream`'s terminal size.
    pub fn resize(&mut self, stream: u32, rows: u16, cols: u16) -> Result<(), Error> {
        self.done(Request::Resize(ResizeRequest { stream, rows, cols }))
    }

    /// Freezes the container.
    pub fn pause(&mut self) -> Result<(), Error> {
        self.done(Request::Pause)
    }

    /// Thaws the container.
    pub fn resume(&mut self) -> Result<(), Error> {
        self.done(Request::Resume)
    }

    /// Changes the container's cgroup limits in the guest.
    pub fn update(&mut self, resources: LinuxResources) -> Result<(), Error> {
        self.done(Request::Update(Box::new(resources)))
    }

    /// The container's resource usage in the guest.
    pub fn stats(&mut self) -> Result<Stats, Error> {
        match self.call(Request::Stats, "stats")? {
            Event::Stats(s) => Ok(s),
            e => Self::unexpected("stats", &e),
        }
    }

    /// The container's processes (guest pids).
    pub fn ps(&mut self) -> Result<Vec<i32>, Error> {
        self.ps_rows().map(|(pids, _)| pids)
    }

    /// The container's processes: guest pids, and what `ps -ef` shows of them (at most
    /// [`holm_vm_proto::MAX_PS_ROWS`]).
    pub fn ps_rows(&mut self) -> Result<(Vec<i32>, Vec<holm_vm_proto::PsRow>), Error> {
        match self.call(Request::Ps, "ps")? {
            Event::Ps { pids, rows } => Ok((pids, rows)),
            e => Self::unexpected("ps", &e),
        }
    }

    /// Asks the agent to kill everything and power off.
    pub fn shutdown(&mut self) -> Result<(), Error> {
        self.done(Request::Shutdown)
    }

    /// An exit that arrived while a request waited for its reply, if any (never blocks). Callers that poll the
    /// control channel's fd for readability must drain these first: they are no longer in the socket.
    pub fn take_queued_exit(&mut self) -> Option<(u32, ExitStatus)> {
        self.exits.pop_front()
    }

    /// The next process exit: a queued one, else waits for one (no request may be outstanding).
    pub fn next_exit(&mut self) -> Result<(u32, ExitStatus), Error> {
        if let Some(x) = self.exits.pop_front() {
            return Ok(x);
        }
        if !self.ready {
            self.wait_ready()?;
        }
        match self.next_event()? {
            Event::Exited {
                stream,
                status,
                oom_kills,
            } => {
                self.record_exit(stream, status, oom_kills)?;
                Ok(self.exits.pop_front().unwrap_or((stream, status)))
            }
            e => Self::unexpected("exited", &e),
        }
    }
}

/// Output of a stream, as read by [`Stdio::next_output`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Stdout (or terminal) bytes.
    Stdout(u32, Vec<u8>),
    /// Stderr bytes.
    Stderr(u32, Vec<u8>),
    /// The stream's output is complete.
    End(u32),
}

/// The stdio channel.
pub struct Stdio<R, W> {
    reader: Reader<R>,
    writer: Writer<W>,
    streams: Streams,
    ended: BTreeSet<u32>,
}

impl<R: Read, W: Write> Stdio<R, W> {
    /// Wraps the stdio port's halves; `streams` from [`Control::streams`].
    pub fn new(reader: R, writer: W, streams: Streams) -> Self {
        Stdio {
            reader: Reader::new(reader),
            writer: Writer::new(writer),
            streams,
            ended: BTreeSet::new(),
        }
    }

    /// Sends stdin bytes to `stream` (split into frames of at most [`MAX_DATA`]).
    pub fn send_stdin(&mut self, stream: u32, data: &[u8]) -> Result<(), Error> {
        for chunk in data.chunks(MAX_DATA) {
            self.writer.write(&HostFrame::Stdin {
                stream,
                data: chunk.to_vec(),
            })?;
        }
        Ok(())
    }

    /// Closes `stream`'s stdin.
    pub fn close_stdin(&mut self, stream: u32) -> Result<(), Error> {
        self.writer.write(&HostFrame::StdinClose { stream })?;
        Ok(())
    }

    /// The next output frame; `Ok(None)` when the guest closed the port (the VM ended).
    pub fn next_output(&mut self) -> Result<Option<Output>, Error> {
        let f = match self.reader.read::<GuestFrame>()? {
            None => return Ok(None),
            Some(f) => f,
        };
        let stream = match &f {
            GuestFrame::Stdout { stream, .. }
            | GuestFrame::Stderr { stream, .. }
            | GuestFrame::OutputEnd { stream } => *stream,
            GuestFrame::Event(_) => {
                return Err(Error::Unexpected {
                    expected: "data on the stdio port",
                    got: describe_data(&f),
                })
            }
        };
        if !self.streams.contains(stream) || self.ended.contains(&stream) {
            return Err(Error::Unexpected {
                expected: "output of an open stream",
                got: describe_data(&f),
            });
        }
        Ok(Some(match f {
            GuestFrame::Stdout { data, .. } => Output::Stdout(stream, data),
            GuestFrame::Stderr { data, .. } => Output::Stderr(stream, data),
            _ => {
                self.ended.insert(stream);
                Output::End(stream)
            }
        }))
    }
}

#[cfg(test)]
mod tests;
