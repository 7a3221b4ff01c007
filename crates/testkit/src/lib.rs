//! Test helpers for holm's integration tests (dev-only).
//!
//! Tests drive the real `holm-runtime` binary from outside, the way youki's contest and crun's
//! python tests do: build a [`Bundle`], call the runtime through a [`Runtime`] with a private
//! state root, and look at what the container saw (its stdout, exit code, `state` JSON) and what
//! it left behind on the host ([`mounts_mentioning`], [`process_exists`]).
//!
//! Rules the helpers enforce so tests stay honest and parallel-safe:
//!
//! - **Fail, never skip.** Missing privileges ([`require_root`]) or missing tools ([`busybox`])
//!   panic with a message naming what to install; nothing silently returns early.
//! - **Nothing shared.** Every [`Bundle`] and every [`Runtime`] state root is its own temporary
//!   directory; container ids come from [`unique_id`].
//! - **Cleanup survives a failed assertion.** [`ContainerGuard`] force-deletes its container on
//!   drop, during unwinding too; [`Runtime`] force-deletes whatever is still listed in its root.
//! - **No hangs.** Every runtime invocation made by [`Runtime::run`] and friends is killed after a
//!   timeout (`HOLM_TEST_TIMEOUT` seconds, default 60) and the test fails with what it printed.
#![forbid(unsafe_code)]

mod bundle;
mod busybox;
mod console;
mod host;
mod ids;
mod registry;
mod root;
mod runtime;

pub use bundle::{default_config, Bundle};
pub use busybox::{busybox, busybox_applets};
pub use console::{read_pty_until_closed, ConsoleSocket};
pub use host::{mountinfo, mounts_mentioning, process_exists, wait_until};
pub use ids::unique_id;
pub use registry::Registry;
pub use root::require_root;
pub use runtime::{run_command, ContainerGuard, Runtime};
