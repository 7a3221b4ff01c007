//! `holm system service [--time SECONDS] [unix://PATH]`: the Docker Engine API on a Unix socket (holm-api).

use anyhow::Result;
use clap::Args;
use holm_engine::Engine;

/// `holm system service`.
#[derive(Debug, Args)]
pub struct ServiceArgs {
    /// Seconds without a connection before the service exits (0: serve until stopped), as podman's.
    #[arg(short, long, default_value_t = 5, value_name = "SECONDS")]
    pub time: u64,
    /// Where to listen: `unix://PATH` (default unix:///run/holm/docker.sock; mode 0660, owner root:root).
    #[arg(value_name = "URI")]
    pub uri: Option<String>,
}

/// Serves until idle for `--time` seconds, or SIGINT/SIGTERM/SIGHUP.
pub fn service(engine: &Engine, a: &ServiceArgs) -> Result<i32> {
    let uri = a
        .uri
        .clone()
        .unwrap_or_else(|| format!("unix://{}", holm_api::DEFAULT_SOCKET));
    let opts = holm_api::ServiceOptions {
        socket: holm_api::server::parse_address(&uri)?,
        idle: (a.time > 0).then(|| std::time::Duration::from_secs(a.time)),
    };
    holm_api::serve(engine.clone(), &opts)?;
    Ok(0)
}
