//! The wire format: frames over a byte stream (a virtio-serial port).
//!
//! ```text
//! frame   = length:u32be kind:u8 body        length = 1 + len(body), so the kind byte is counted
//! Control = JSON of a Request (host→guest) or an Event (guest→host)          body ≤ MAX_CONTROL
//! Stdin   = stream:u32be bytes        (host→guest)                           bytes ≤ MAX_DATA
//! StdinClose = stream:u32be           (host→guest) the process's stdin gets EOF
//! Stdout / Stderr = stream:u32be bytes (guest→host)                          bytes ≤ MAX_DATA
//! OutputEnd = stream:u32be            (guest→host) no more output of this stream follows
//! ```
//!
//! A reader checks the kind against the direction and the length against the kind's bound *before* it allocates,
//! so a peer can make it allocate at most [`MAX_CONTROL`] + 5 bytes per frame and nothing can make it panic.

use crate::messages::{Event, InvalidEvent, Request};
use std::io::{self, Read, Write};

/// Largest control body (JSON), bytes.
pub const MAX_CONTROL: usize = 1 << 20;
/// Largest data payload (after the stream id), bytes.
pub const MAX_DATA: usize = 64 << 10;

/// The kind byte of a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Kind {
    /// JSON control message.
    Control = 1,
    /// Host → guest: bytes for a process's stdin.
    Stdin = 2,
    /// Host → guest: close a process's stdin.
    StdinClose = 3,
    /// Guest → host: bytes a process wrote to stdout (or its terminal).
    Stdout = 4,
    /// Guest → host: bytes a process wrote to stderr.
    Stderr = 5,
    /// Guest → host: the stream's output is complete.
    OutputEnd = 6,
}

impl Kind {
    fn from_byte(b: u8) -> Option<Kind> {
        Some(match b {
            1 => Kind::Control,
            2 => Kind::Stdin,
            3 => Kind::StdinClose,
            4 => Kind::Stdout,
            5 => Kind::Stderr,
            6 => Kind::OutputEnd,
            _ => return None,
        })
    }

    /// The largest body (after the kind byte) a frame of this kind may have.
    fn max_body(self) -> usize {
        match self {
            Kind::Control => MAX_CONTROL,
            Kind::Stdin | Kind::Stdout | Kind::Stderr => 4 + MAX_DATA,
            Kind::StdinClose | Kind::OutputEnd => 4,
        }
    }

    fn min_body(self) -> usize {
        match self {
            Kind::Control => 2,
            _ => 4,
        }
    }
}

/// A frame the host sends.
#[derive(Debug, Clone, PartialEq)]
pub enum HostFrame {
    /// A control request.
    Request(Request),
    /// Stdin bytes for `stream` (at most [`MAX_DATA`]).
    Stdin {
        /// Stream id.
        stream: u32,
        /// The bytes.
        data: Vec<u8>,
    },
    /// EOF on `stream`'s stdin.
    StdinClose {
        /// Stream id.
        stream: u32,
    },
}

/// A frame the guest sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GuestFrame {
    /// A control event (already [`Event::validate`]d when read by [`Reader`]).
    Event(Event),
    /// Stdout (or terminal) bytes of `stream`.
    Stdout {
        /// Stream id.
        stream: u32,
        /// The bytes.
        data: Vec<u8>,
    },
    /// Stderr bytes of `stream`.
    Stderr {
        /// Stream id.
        stream: u32,
        /// The bytes.
        data: Vec<u8>,
    },
    /// No more output of `stream` follows.
    OutputEnd {
        /// Stream id.
        stream: u32,
    },
}

/// Why a frame could not be read. Each variant names what was wrong; the host kills a guest that causes any.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// Reading the transport failed.
    #[error("read frame: {0}")]
    Io(#[from] io::Error),
    /// The stream ended inside a frame.
    #[error("stream ended inside a frame ({got} of {want} bytes)")]
    Truncated {
        /// Bytes read.
        got: usize,
        /// Bytes the frame needed.
        want: usize,
    },
    /// The kind byte is unknown.
    #[error("unknown frame kind {0:#04x}")]
    UnknownKind(u8),
    /// The kind is known but not valid in this direction.
    #[error("frame kind {0:?} is not valid in this direction")]
    WrongDirection(Kind),
    /// The length is out of the kind's bounds.
    #[error("frame kind {kind:?}: body of {len} bytes, expected {min}..={max}")]
    BadLength {
        /// The frame's kind.
        kind: Kind,
        /// Its body length.
        len: usize,
        /// Smallest allowed.
        min: usize,
        /// Largest allowed.
        max: usize,
    },
    /// The length field is 0 (no kind byte).
    #[error("frame length 0 (a frame holds at least its kind byte)")]
    Empty,
    /// The control body is not the expected JSON message.
    #[error("control message: {0}")]
    Json(#[from] serde_json::Error),
    /// The control message decoded but breaks a bound.
    #[error("control message: {0}")]
    Invalid(#[from] InvalidEvent),
}

/// Why a frame could not be written.
#[derive(Debug, thiserror::Error)]
pub enum EncodeError {
    /// Writing the transport failed.
    #[error("write frame: {0}")]
    Io(#[from] io::Error),
    /// The message would exceed its kind's bound.
    #[error("frame kind {kind:?}: body of {len} bytes exceeds {max}")]
    TooLarge {
        /// The kind.
        kind: Kind,
        /// Its body length.
        len: usize,
        /// The bound.
        max: usize,
    },
    /// Serializing the control message failed.
    #[error("encode control message: {0}")]
    Json(#[from] serde_json::Error),
}

/// A message type that travels in one direction: how to turn it into frames and back.
pub trait Frame: Sized {
    /// Kinds valid in this direction.
    const KINDS: &'static [Kind];
    /// `(kind, body)` of `self`.
    fn encode(&self) -> Result<(Kind, Vec<u8>), EncodeError>;
    /// Decodes a body whose kind and length [`Reader`] already checked.
    fn decode(kind: Kind, body: &[u8]) -> Result<Self, DecodeError>;
}

fn stream_body(stream: u32, data: &[u8]) -> Vec<u8> {
    let mut b = Vec::with_capacity(4 + data.len());
    b.extend_from_slice(&stream.to_be_bytes());
    b.extend_from_slice(data);
    b
}

fn split_stream(body: &[u8]) -> (u32, &[u8]) {
    // The reader guarantees body.len() >= 4 for every stream kind.
    let (id, rest) = body.split_at(4);
    (u32::from_be_bytes([id[0], id[1], id[2], id[3]]), rest)
}

impl Frame for HostFrame {
    const KINDS: &'static [Kind] = &[Kind::Control, Kind::Stdin, Kind::StdinClose];

    fn encode(&self) -> Result<(Kind, Vec<u8>), EncodeError> {
        Ok(match self {
            HostFrame::Request(r) => (Kind::Control, serde_json::to_vec(r)?),
            HostFrame::Stdin { stream, data } => (Kind::Stdin, stream_body(*stream, data)),
            HostFrame::StdinClose { stream } => (Kind::StdinClose, stream_body(*stream, &[])),
        })
    }

    fn decode(kind: Kind, body: &[u8]) -> Result<Self, DecodeError> {
        Ok(match kind {
            Kind::Control => HostFrame::Request(serde_json::from_slice(body)?),
            Kind::Stdin => {
                let (stream, data) = split_stream(body);
                HostFrame::Stdin {
                    stream,
                    data: data.to_vec(),
                }
            }
            Kind::StdinClose => HostFrame::StdinClose {
                stream: split_stream(body).0,
            },
            k => return Err(DecodeError::WrongDirection(k)),
        })
    }
}

impl Frame for GuestFrame {
    const KINDS: &'static [Kind] = &[Kind::Control, Kind::Stdout, Kind::Stderr, Kind::OutputEnd];

    fn encode(&self) -> Result<(Kind, Vec<u8>), EncodeError> {
        Ok(match self {
            GuestFrame::Event(e) => (Kind::Control, serde_json::to_vec(e)?),
            GuestFrame::Stdout { stream, data } => (Kind::Stdout, stream_body(*stream, data)),
            GuestFrame::Stderr { stream, data } => (Kind::Stderr, stream_body(*stream, data)),
            GuestFrame::OutputEnd { stream } => (Kind::OutputEnd, stream_body(*stream, &[])),
        })
    }

    fn decode(kind: Kind, body: &[u8]) -> Result<Self, DecodeError> {
        Ok(match kind {
            Kind::Control => {
                let e: Event = serde_json::from_slice(body)?;
                e.validate()?;
                GuestFrame::Event(e)
            }
            Kind::Stdout | Kind::Stderr => {
                let (stream, data) = split_stream(body);
                let data = data.to_vec();
                if kind == Kind::Stdout {
                    GuestFrame::Stdout { stream, data }
                } else {
                    GuestFrame::Stderr { stream, data }
                }
            }
            Kind::OutputEnd => GuestFrame::OutputEnd {
                stream: split_stream(body).0,
            },
            k => return Err(DecodeError::WrongDirection(k)),
        })
    }
}

/// Reads frames of type `F` from a blocking byte stream.
pub struct Reader<R> {
    inner: R,
}

/// Fills `buf` completely; `Ok(n < buf.len())` only at end of stream.
fn read_full<R: Read>(r: &mut R, buf: &mut [u8]) -> io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match r.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

impl<R: Read> Reader<R> {
    /// Wraps a transport (unbuffered reads are fine: the header and body are read with exact sizes).
    pub fn new(inner: R) -> Self {
        Reader { inner }
    }

    /// The transport.
    pub fn get_ref(&self) -> &R {
        &self.inner
    }

    /// Reads one frame. `Ok(None)` at a clean end of stream (between frames). Errors: [`DecodeError`]; after an
    /// error the stream's framing is lost and the reader must not be used again.
    pub fn read<F: Frame>(&mut self) -> Result<Option<F>, DecodeError> {
        let mut head = [0u8; 5];
        let got = read_full(&mut self.inner, &mut head[..4])?;
        if got == 0 {
            return Ok(None);
        }
        if got < 4 {
            return Err(DecodeError::Truncated { got, want: 4 });
        }
        let len = u32::from_be_bytes([head[0], head[1], head[2], head[3]]) as usize;
        if len == 0 {
            return Err(DecodeError::Empty);
        }
        if read_full(&mut self.inner, &mut head[4..5])? == 0 {
            return Err(DecodeError::Truncated { got: 4, want: 5 });
        }
        let kind = Kind::from_byte(head[4]).ok_or(DecodeError::UnknownKind(head[4]))?;
        if !F::KINDS.contains(&kind) {
            return Err(DecodeError::WrongDirection(kind));
        }
        let body_len = len - 1;
        if body_len < kind.min_body() || body_len > kind.max_body() {
            return Err(DecodeError::BadLength {
                kind,
                len: body_len,
                min: kind.min_body(),
                max: kind.max_body(),
            });
        }
        let mut body = vec![0u8; body_len];
        let got = read_full(&mut self.inner, &mut body)?;
        if got < body_len {
            return Err(DecodeError::Truncated {
                got: 5 + got,
                want: 5 + body_len,
            });
        }
        F::decode(kind, &body).map(Some)
    }
}

/// Writes frames to a blocking byte stream, one `write_all` per frame.
pub struct Writer<W> {
    inner: W,
}

impl<W: Write> Writer<W> {
    /// Wraps a transport.
    pub fn new(inner: W) -> Self {
        Writer { inner }
    }

    /// The transport.
    pub fn get_ref(&self) -> &W {
        &self.inner
    }

    /// Encodes and writes one frame, then flushes. Errors: [`EncodeError::TooLarge`] (nothing written) or I/O.
    pub fn write<F: Frame>(&mut self, frame: &F) -> Result<(), EncodeError> {
        let (kind, body) = frame.encode()?;
        if body.len() > kind.max_body() {
            return Err(EncodeError::TooLarge {
                kind,
                len: body.len(),
                max: kind.max_body(),
            });
        }
        let mut buf = Vec::with_capacity(5 + body.len());
        buf.extend_from_slice(&((body.len() + 1) as u32).to_be_bytes());
        buf.push(kind as u8);
        buf.extend_from_slice(&body);
        self.inner.write_all(&buf)?;
        self.inner.flush()?;
        Ok(())
    }
}
