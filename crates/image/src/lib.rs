//! `holm-image`: holm's image store.
//!
//! References and digests, a registry client, a verified content store, import and export of OCI layouts and
//! docker-archives, safe layer unpacking, overlay snapshots and the conversion of an image config into a runtime
//! spec. The crate knows nothing about processes: the engine glues it to the runtime.
//!
//! Entry point: [`ImageStore::open`] on the engine root, then [`ImageStore::pull`], [`ImageStore::load`],
//! [`ImageStore::save`], [`ImageStore::list`], [`ImageStore::remove`], [`ImageStore::tag`], [`ImageStore::prune`] and the snapshot
//! methods; [`spec::runtime_spec`] turns an image config into an OCI runtime spec.
#![forbid(unsafe_code)]

pub mod archive;
pub mod content;
pub mod digest;
mod fsutil;
pub mod layers;
pub mod load;
pub mod meta;
pub mod passwd;
pub mod platform;
pub mod reference;
pub mod registry;
pub mod remove;
pub mod rootfs;
pub mod save;
pub mod snapshot;
pub mod spec;
pub mod store;
pub mod unpack;

pub use load::{LoadOptions, Loaded};
pub use meta::ImageRecord;
pub use reference::Reference;
pub use registry::{PullError, PullEvent, PullOptions, Pulled};
pub use save::ArchiveFormat;
pub use store::{ImageStore, StoreError, DEFAULT_ROOT};
