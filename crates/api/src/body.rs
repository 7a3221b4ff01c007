//! Response bodies: a whole buffer, or a stream fed by a channel (logs, waits, archives), and the JSON helpers.

use bytes::Bytes;
use hyper::body::{Frame, SizeHint};
use hyper::{Response, StatusCode};
use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::sync::mpsc;

/// A response body.
pub enum Body {
    /// All of it at once (`None` once sent).
    Full(Option<Bytes>),
    /// Chunks as they come; the body ends when every sender is dropped.
    Chan(mpsc::Receiver<Bytes>),
}

impl hyper::body::Body for Body {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        match self.get_mut() {
            Body::Full(b) => Poll::Ready(b.take().map(|b| Ok(Frame::data(b)))),
            Body::Chan(rx) => rx.poll_recv(cx).map(|o| o.map(|b| Ok(Frame::data(b)))),
        }
    }

    fn is_end_stream(&self) -> bool {
        matches!(self, Body::Full(None))
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Body::Full(Some(b)) => SizeHint::with_exact(b.len() as u64),
            Body::Full(None) => SizeHint::with_exact(0),
            Body::Chan(_) => SizeHint::default(),
        }
    }
}

/// The response type of every handler.
pub type Resp = Response<Body>;

/// A response with `bytes` as its body.
pub fn bytes(status: StatusCode, content_type: &str, b: impl Into<Bytes>) -> Resp {
    Response::builder()
        .status(status)
        .header("Content-Type", content_type)
        .body(Body::Full(Some(b.into())))
        .expect("valid response")
}

/// A JSON response.
pub fn json<T: serde::Serialize + ?Sized>(status: StatusCode, v: &T) -> Resp {
    let mut b = serde_json::to_vec(v).expect("JSON serialises");
    b.push(b'\n');
    bytes(status, "application/json", b)
}

/// An empty response (204, 304, …).
pub fn empty(status: StatusCode) -> Resp {
    Response::builder()
        .status(status)
        .body(Body::Full(None))
        .expect("valid response")
}

/// A streamed response and the sender that feeds it.
pub fn stream(status: StatusCode, content_type: &str) -> (Resp, mpsc::Sender<Bytes>) {
    let (tx, rx) = mpsc::channel(16);
    let r = Response::builder()
        .status(status)
        .header("Content-Type", content_type)
        .body(Body::Chan(rx))
        .expect("valid response");
    (r, tx)
}

/// docker's stream types in multiplexed framing (`stdcopy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StdStream {
    /// 1.
    Stdout = 1,
    /// 2.
    Stderr = 2,
}

/// One frame of docker's multiplexed stream: `[stream, 0, 0, 0, len (u32 BE)]` then the bytes.
pub fn frame(stream: StdStream, data: &[u8]) -> Bytes {
    let mut v = Vec::with_capacity(8 + data.len());
    v.push(stream as u8);
    v.extend_from_slice(&[0, 0, 0]);
    v.extend_from_slice(&(data.len() as u32).to_be_bytes());
    v.extend_from_slice(data);
    Bytes::from(v)
}

/// Copies `r` into `tx` on a thread of its own until `r` ends (or fails) or the receiver is gone: raw with a
/// TTY, else each read framed as stream `s` of docker's multiplexed stream.
pub fn relay(
    mut r: Box<dyn std::io::Read + Send>,
    s: StdStream,
    tty: bool,
    tx: tokio::sync::mpsc::Sender<Bytes>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut buf = vec![0u8; 32 * 1024];
        loop {
            match r.read(&mut buf) {
                Ok(0) | Err(_) => return,
                Ok(n) => {
                    let b = if tty {
                        Bytes::copy_from_slice(&buf[..n])
                    } else {
                        frame(s, &buf[..n])
                    };
                    if tx.blocking_send(b).is_err() {
                        return;
                    }
                }
            }
        }
    })
}
