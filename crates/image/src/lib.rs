//! `holm-image`: holm's image store.
//!
//! References and digests, a verified content store, import and export of OCI layouts and docker-archives, safe
//! layer unpacking, overlay snapshots and the conversion of an image config into a runtime spec. The crate knows
//! nothing about processes: the engine glues it to the runtime.
#![forbid(unsafe_code)]

pub mod digest;
pub mod platform;
pub mod reference;
pub mod unpack;
