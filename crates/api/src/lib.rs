//! `holm-api`: the Docker Engine API on a Unix socket (`holm system service [--time N] [unix://PATH]`), a second
//! front over `holm-engine` beside the CLI. It owns nothing: containers keep their monitors and outlive it, and
//! the CLI and the API see the same store.
//!
//! Shape: an HTTP/1.1 server (hyper) on a current-thread tokio runtime. Every engine call is blocking and runs on
//! tokio's blocking pool ([`tokio::task::spawn_blocking`]). Streams (logs, attach, exec, archives, image save)
//! are produced by a blocking thread and sent to the connection through a channel.
//!
//! Processes: this process is multi-threaded, so it never runs the runtime's fork/clone paths in itself.
//! Container starts go through [`holm_engine::Engine::start`], which spawns the per-container monitor with
//! [`std::process::Command`] (a fresh `holm __monitor` process: fork or vfork immediately followed by exec, as
//! for the CLI); the monitor creates the container. `exec` runs `holm exec` as a child process the same way
//! (see [`exec`]); `holm exec` re-executes itself from a sealed copy before it forks into the container.
//!
//! API versions: `/_ping` and `/version` advertise [`API_VERSION`]; requests may carry any `/vX.Y` prefix from
//! [`MIN_API_VERSION`] up to [`API_VERSION`], or none. Unknown endpoints answer docker's `{"message": …}` with
//! 404; known ones holm cannot serve answer 501.
#![forbid(unsafe_code)]
#![recursion_limit = "256"]

mod attach;
mod body;
mod containers;
mod create;
pub mod error;
pub mod exec;
mod images;
mod networks;
mod query;
mod router;
pub mod server;
mod streams;
mod system;
mod update;
mod volumes;

pub use error::{ApiError, ServeError};
pub use server::{serve, ServiceOptions};

/// The Engine API version holm speaks (docker 27's; the docker CLI 28 negotiates down to it via `/_ping`).
pub const API_VERSION: &str = "1.47";

/// The oldest API version holm accepts in a request path (docker's minimum).
pub const MIN_API_VERSION: &str = "1.24";

/// The default socket (`holm system service` without an address).
pub const DEFAULT_SOCKET: &str = "/run/holm/docker.sock";
