//! The protocol between holm's host side (`holm-vm`) and the guest agent (`holm-agent`), carried over
//! virtio-serial ports. Every message the guest sends is untrusted input: decoding is strict and bounded.
#![forbid(unsafe_code)]
