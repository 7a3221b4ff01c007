//! `run`/`create`'s healthcheck flags (docker's) and the hidden `holm __health ID` (one check, started by the
//! container's monitor; see [`holm_engine::health`]).

use clap::Args;
use holm_engine::health::{parse_duration_flag, HealthConfig};
use holm_engine::Error;

/// `--health-*` and `--no-healthcheck`.
#[derive(Debug, Args, Default)]
pub struct HealthArgs {
    /// Command to run to check health (`CMD-SHELL`: run by `/bin/sh -c`).
    #[arg(long, value_name = "CMD")]
    pub health_cmd: Option<String>,
    /// Time between running the check (`30s`, `1m`; default 30s).
    #[arg(long, value_name = "DURATION")]
    pub health_interval: Option<String>,
    /// Maximum time to allow one check to run (default 30s).
    #[arg(long, value_name = "DURATION")]
    pub health_timeout: Option<String>,
    /// Consecutive failures needed to report unhealthy (default 3).
    #[arg(long, value_name = "N", allow_hyphen_values = true)]
    pub health_retries: Option<i64>,
    /// Start period for the container to initialise before failures count (default 0s).
    #[arg(long, value_name = "DURATION")]
    pub health_start_period: Option<String>,
    /// Time between checks during the start period (accepted and shown by inspect; holm uses the interval).
    #[arg(long, value_name = "DURATION")]
    pub health_start_interval: Option<String>,
    /// Disable any container-specified HEALTHCHECK.
    #[arg(long)]
    pub no_healthcheck: bool,
}

impl HealthArgs {
    /// The container's healthcheck as given (`None`: take the image's). Errors as docker's: negative values,
    /// durations under 1 ms, `--no-healthcheck` with another health flag.
    pub fn config(&self) -> holm_engine::Result<Option<HealthConfig>> {
        let any = self.health_cmd.is_some()
            || self.health_interval.is_some()
            || self.health_timeout.is_some()
            || self.health_retries.is_some()
            || self.health_start_period.is_some()
            || self.health_start_interval.is_some();
        if self.no_healthcheck {
            if any {
                return Err(Error::flag(
                    "--no-healthcheck",
                    "true",
                    "--no-healthcheck conflicts with --health-* options",
                ));
            }
            return Ok(Some(HealthConfig {
                test: vec!["NONE".into()],
                ..HealthConfig::default()
            }));
        }
        if !any {
            return Ok(None);
        }
        let dur = |flag: &str, v: &Option<String>| -> holm_engine::Result<i64> {
            let Some(v) = v else { return Ok(0) };
            let ns = parse_duration_flag(flag, v)?;
            if ns != 0 && ns < 1_000_000 {
                let what = flag.trim_start_matches("--health-").replace('-', " ");
                return Err(Error::flag(
                    flag,
                    v,
                    format!("{what} in Healthcheck cannot be less than 1ms"),
                ));
            }
            Ok(ns)
        };
        let retries = self.health_retries.unwrap_or(0);
        if retries < 0 {
            return Err(Error::flag(
                "--health-retries",
                &retries.to_string(),
                "--health-retries cannot be negative",
            ));
        }
        Ok(Some(HealthConfig {
            test: self
                .health_cmd
                .iter()
                .flat_map(|c| ["CMD-SHELL".to_string(), c.clone()])
                .collect(),
            interval: dur("--health-interval", &self.health_interval)?,
            timeout: dur("--health-timeout", &self.health_timeout)?,
            start_period: dur("--health-start-period", &self.health_start_period)?,
            start_interval: dur("--health-start-interval", &self.health_start_interval)?,
            retries,
        }))
    }
}
