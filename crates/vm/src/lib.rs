//! VM isolation, host side (see DESIGN.md "VM isolation"): a container runs inside a qemu `microvm` guest whose
//! pid 1 is `holm-agent`. No tokio here: holm-runtime links this crate.
#![forbid(unsafe_code)]

pub mod accel;
pub mod annotations;
pub mod cpuset;
pub mod guest_spec;
pub mod initramfs;
pub mod jail;
pub mod kernel;
pub mod memo;
pub mod net;
pub mod ps;
pub mod qemu;
pub mod qmp;
pub mod session;
pub mod shim;
pub mod shim_api;
pub mod snapshot;
