//! The protocol between holm's host side (`holm-vm`) and the guest agent (`holm-agent`), carried over
//! virtio-serial ports. Every message the guest sends is untrusted input: decoding is strict and bounded.
//!
//! Two ports (names under `/sys/class/virtio-ports/*/name` in the guest):
//! - [`CONTROL_PORT`]: [`Request`]s and [`Event`]s (JSON control frames), strictly request → one reply, plus the
//!   unsolicited [`Event::Ready`] and [`Event::Exited`].
//! - [`STDIO_PORT`]: data frames: stdin from the host; stdout, stderr and the end of a stream's output from the
//!   guest. Kept apart so a slow output consumer never blocks control.
//!
//! Ordering promise: the agent writes a stream's [`GuestFrame::OutputEnd`] on the stdio port *before* it sends that
//! stream's [`Event::Exited`] on the control port, so a host that saw `Exited` and reads stdio until `OutputEnd`
//! has all the output.
//!
//! The wire format is in [`frame`]; the messages in [`messages`].
#![forbid(unsafe_code)]

pub mod frame;
pub mod messages;
pub mod network;

pub use frame::{
    DecodeError, EncodeError, Frame, GuestFrame, HostFrame, Kind, Reader, Writer, MAX_CONTROL,
    MAX_DATA,
};
pub use messages::*;
pub use network::*;

/// virtio-serial port name of the control channel.
pub const CONTROL_PORT: &str = "org.holm.control";
/// virtio-serial port name of the stdio channel.
pub const STDIO_PORT: &str = "org.holm.stdio";

#[cfg(test)]
mod tests;
