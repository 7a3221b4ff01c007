//! Healthchecks: docker's `HEALTHCHECK` (the image config's `Healthcheck`) and `run --health-*` flags, run by the
//! container's monitor with no daemon, with docker's rules (moby `daemon/health.go`):
//!
//! - The monitor ([`holm_monitor::supervise::Probe`]) starts `holm __health ID` ([`crate::health_probe`]) every
//!   `Interval` after the previous check ended (the first `Interval` after the start). That process runs the
//!   test in the container as `holm exec` does (a new process in the container's namespaces and cgroup), kills
//!   it after `Timeout` (result: exit code -1, "Health check exceeded timeout (30s)"), keeps up to 4096 bytes
//!   of its output, and records the result.
//! - Status: `starting` after each start; exit code 0 → `healthy` (failing streak 0); any other → the failing
//!   streak grows (not while still `starting` within `StartPeriod` of the start), and reaches `unhealthy` at
//!   `Retries`. The last 5 results are kept. A `health_status: STATUS` event is appended when the status changes.
//! - When the container stops, the status becomes `unhealthy` (docker's "for compatibility reasons"). A paused
//!   container is not checked; its status stays as it was.
//!
//! The state lives in `<bundle>/health.json` (written whole: temp file + rename, under `health.lock`), where
//! `holm ps` (`Up 5 seconds (healthy)`) and `holm inspect` (`State.Health`) read it.
//!
//! Defaults as docker's: Interval 30 s, Timeout 30 s, StartPeriod 0, Retries 3. `Test`: `["NONE"]` disables an
//! image's check; `["CMD", ARGS…]` runs ARGS; `["CMD-SHELL", CMD]` runs `/bin/sh -c CMD`. holm does not use
//! `StartInterval` (docker 25+): during the start period checks run every `Interval`.

use crate::{Engine, Error, Result, RunConfig};
use serde::{Deserialize, Serialize};
use std::fs::File;
use std::time::Duration;

/// docker's defaults.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(30);
/// Default timeout of one check.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// Default number of consecutive failures that make a container unhealthy.
pub const DEFAULT_RETRIES: u32 = 3;
/// Results kept in `State.Health.Log`.
pub const MAX_LOG_ENTRIES: usize = 5;
/// Bytes of a check's output kept.
pub const MAX_OUTPUT: usize = 4096;

/// docker's `HealthConfig` (`Config.Healthcheck`; durations in nanoseconds, 0 = the default / inherit).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthConfig {
    /// `[]` inherit, `["NONE"]`, `["CMD", args…]`, `["CMD-SHELL", command]`.
    #[serde(rename = "Test", default, skip_serializing_if = "Vec::is_empty")]
    pub test: Vec<String>,
    /// Between checks (ns).
    #[serde(rename = "Interval", default, skip_serializing_if = "is_zero")]
    pub interval: i64,
    /// Of one check (ns).
    #[serde(rename = "Timeout", default, skip_serializing_if = "is_zero")]
    pub timeout: i64,
    /// Failures in it do not count while the container is still `starting` (ns).
    #[serde(rename = "StartPeriod", default, skip_serializing_if = "is_zero")]
    pub start_period: i64,
    /// docker 25+'s interval during the start period (ns); kept, not used by holm.
    #[serde(rename = "StartInterval", default, skip_serializing_if = "is_zero")]
    pub start_interval: i64,
    /// Consecutive failures to become unhealthy.
    #[serde(rename = "Retries", default, skip_serializing_if = "is_zero")]
    pub retries: i64,
}

fn is_zero(v: &i64) -> bool {
    *v == 0
}

/// What a check runs and when, with the defaults applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    /// The command in the container.
    pub args: Vec<String>,
    /// Between checks.
    pub interval: Duration,
    /// Of one check.
    pub timeout: Duration,
    /// Start period.
    pub start_period: Duration,
    /// Failures to become unhealthy.
    pub retries: u32,
}

fn or_default(ns: i64, d: Duration) -> Duration {
    if ns > 0 {
        Duration::from_nanos(ns as u64)
    } else {
        d
    }
}

impl HealthConfig {
    /// The check this config runs; `None` without a test or with `NONE`.
    pub fn check(&self) -> Option<Check> {
        let args = match self.test.first().map(String::as_str) {
            Some("CMD") if self.test.len() > 1 => self.test[1..].to_vec(),
            Some("CMD-SHELL") if self.test.len() > 1 => {
                vec!["/bin/sh".into(), "-c".into(), self.test[1..].join(" ")]
            }
            _ => return None,
        };
        Some(Check {
            args,
            interval: or_default(self.interval, DEFAULT_INTERVAL),
            timeout: or_default(self.timeout, DEFAULT_TIMEOUT),
            start_period: or_default(self.start_period, Duration::ZERO),
            retries: if self.retries > 0 {
                self.retries.min(u32::MAX as i64) as u32
            } else {
                DEFAULT_RETRIES
            },
        })
    }

    /// docker's checks of a healthcheck (its daemon's, for `POST /containers/create` as for `--health-*`): each
    /// duration is 0 (the default) or at least 1ms, retries are not negative. Errors: [`Error::InvalidFlag`]
    /// naming the `--health-*` flag, the value in nanoseconds and docker's words (`Interval in Healthcheck
    /// cannot be less than 1ms`).
    pub fn validate(&self) -> Result<()> {
        for (flag, field, ns) in [
            ("--health-interval", "Interval", self.interval),
            ("--health-timeout", "Timeout", self.timeout),
            ("--health-start-period", "StartPeriod", self.start_period),
            (
                "--health-start-interval",
                "StartInterval",
                self.start_interval,
            ),
        ] {
            if ns != 0 && ns < 1_000_000 {
                return Err(Error::flag(
                    flag,
                    &format!("{ns}ns"),
                    format!("{field} in Healthcheck cannot be less than 1ms"),
                ));
            }
        }
        if self.retries < 0 {
            return Err(Error::flag(
                "--health-retries",
                &self.retries.to_string(),
                "Retries in Healthcheck cannot be negative",
            ));
        }
        Ok(())
    }

    /// docker's merge of a container's healthcheck over its image's: each field the container leaves unset
    /// (empty test, 0) is the image's.
    pub fn merged_over(&self, image: &HealthConfig) -> HealthConfig {
        let pick = |a: i64, b: i64| if a != 0 { a } else { b };
        HealthConfig {
            test: if self.test.is_empty() {
                image.test.clone()
            } else {
                self.test.clone()
            },
            interval: pick(self.interval, image.interval),
            timeout: pick(self.timeout, image.timeout),
            start_period: pick(self.start_period, image.start_period),
            start_interval: pick(self.start_interval, image.start_interval),
            retries: pick(self.retries, image.retries),
        }
    }
}

/// The image's `config.Healthcheck` from its raw config JSON (`None` if it has none or it does not parse).
pub fn of_image_config(raw: &[u8]) -> Option<HealthConfig> {
    let v: serde_json::Value = serde_json::from_slice(raw).ok()?;
    let h = v.get("config")?.get("Healthcheck")?;
    serde_json::from_value(h.clone()).ok()
}

/// Applies the image's healthcheck (`image_raw`: its config JSON) to `cfg` at create, as docker merges them.
pub fn merge_image(cfg: &mut RunConfig, image_raw: Option<&[u8]>) {
    let image = image_raw.and_then(of_image_config);
    cfg.healthcheck = match (cfg.healthcheck.take(), image) {
        (Some(c), Some(i)) => Some(c.merged_over(&i)),
        (c, i) => c.or(i),
    };
}

/// The monitor's timing for `cfg`'s check (`None`: no healthcheck).
pub fn timing(cfg: &RunConfig) -> Option<holm_monitor::handoff::HealthTiming> {
    let c = cfg.healthcheck.as_ref()?.check()?;
    Some(holm_monitor::handoff::HealthTiming {
        interval_ms: c.interval.as_millis().max(1) as u64,
        timeout_ms: c.timeout.as_millis() as u64,
    })
}

/// One result (docker's `HealthcheckResult`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogEntry {
    /// When the check started (RFC 3339, UTC, nanoseconds).
    #[serde(rename = "Start")]
    pub start: String,
    /// When it ended.
    #[serde(rename = "End")]
    pub end: String,
    /// 0 healthy, other: failed; -1: it did not end within the timeout.
    #[serde(rename = "ExitCode")]
    pub exit_code: i32,
    /// Its stdout and stderr (at most [`MAX_OUTPUT`] bytes).
    #[serde(rename = "Output")]
    pub output: String,
}

/// `State.Health` (docker's shape), plus when the current run started (for the start period).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Health {
    /// `starting`, `healthy` or `unhealthy`.
    #[serde(rename = "Status")]
    pub status: String,
    /// Consecutive failures.
    #[serde(rename = "FailingStreak")]
    pub failing_streak: u32,
    /// The last results, oldest first.
    #[serde(rename = "Log")]
    pub log: Vec<LogEntry>,
    /// Nanoseconds since the epoch of the container's start (holm's own field; not shown by inspect).
    #[serde(rename = "holmStartedNanos", default)]
    pub started_nanos: i64,
}

impl Health {
    /// docker's `State.Health` object.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "Status": self.status,
            "FailingStreak": self.failing_streak,
            "Log": self.log,
        })
    }

    /// Adds a result with docker's rules (see the [module](self) docs); returns the new status if it changed.
    pub fn record(&mut self, check: &Check, entry: LogEntry, start_nanos: i64) -> Option<String> {
        let old = self.status.clone();
        if entry.exit_code == 0 {
            self.failing_streak = 0;
            self.status = "healthy".into();
        } else {
            let in_start_period = self.status == "starting"
                && start_nanos.saturating_sub(self.started_nanos)
                    < check.start_period.as_nanos() as i64;
            if !in_start_period {
                self.failing_streak += 1;
                if self.failing_streak >= check.retries {
                    self.status = "unhealthy".into();
                }
            }
        }
        self.log.push(entry);
        if self.log.len() > MAX_LOG_ENTRIES {
            let cut = self.log.len() - MAX_LOG_ENTRIES;
            self.log.drain(..cut);
        }
        (self.status != old).then(|| self.status.clone())
    }
}

const FILE: &str = "health.json";

/// Runs `f` on the container's health state under its lock, writing back what it returns (`Some`).
pub(crate) fn update<T>(
    engine: &Engine,
    id: &str,
    f: impl FnOnce(Option<Health>) -> (Option<Health>, T),
) -> Result<T> {
    let bundle = engine.bundle(id);
    let lock_path = bundle.join("health.lock");
    let io = |what: String| Error::io(what);
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(io(format!("open {}", lock_path.display())))?;
    lock.lock()
        .map_err(io(format!("lock {}", lock_path.display())))?;
    let (new, out) = f(read(engine, id));
    if let Some(h) = new {
        let tmp = bundle.join(".health.json.tmp");
        let bytes = serde_json::to_vec(&h).expect("health serialises");
        std::fs::write(&tmp, bytes)
            .and_then(|_| std::fs::rename(&tmp, bundle.join(FILE)))
            .map_err(io(format!("write {}/{FILE}", bundle.display())))?;
    }
    drop::<File>(lock);
    Ok(out)
}

/// The container's health state (`None`: it has no healthcheck or never started).
pub fn read(engine: &Engine, id: &str) -> Option<Health> {
    let bytes = std::fs::read(engine.bundle(id).join(FILE)).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// At each start (by the monitor): `starting`, no streak, the old log kept (as docker's); removes the state of a
/// container without a healthcheck.
pub fn reset(engine: &Engine, id: &str, cfg: &RunConfig) {
    if cfg.healthcheck.as_ref().and_then(|h| h.check()).is_none() {
        let _ = std::fs::remove_file(engine.bundle(id).join(FILE));
        return;
    }
    let _ = update(engine, id, |old| {
        let mut h = old.unwrap_or_default();
        h.status = "starting".into();
        h.failing_streak = 0;
        h.started_nanos = crate::events::now_nanos();
        (Some(h), ())
    });
}

/// When the container stopped (by the monitor): `unhealthy`, as docker's.
pub fn stopped(engine: &Engine, id: &str) {
    if read(engine, id).is_none() {
        return;
    }
    let _ = update(engine, id, |old| match old {
        Some(mut h) => {
            h.status = "unhealthy".into();
            (Some(h), ())
        }
        None => (None, ()),
    });
}

/// The text `holm ps` adds to `Up …` of a running container: `(healthy)`, `(unhealthy)`, `(health: starting)`.
pub fn ps_suffix(engine: &Engine, id: &str) -> Option<String> {
    let h = read(engine, id)?;
    Some(match h.status.as_str() {
        "starting" => " (health: starting)".to_string(),
        s => format!(" ({s})"),
    })
}

/// The status word of a running container's healthcheck for `ps --filter health=` (`none` without one).
pub fn status_word(engine: &Engine, id: &str) -> String {
    read(engine, id).map_or_else(|| "none".to_string(), |h| h.status)
}

/// Parses a `--health-*` duration flag (Go durations: `30s`, `1m30s`, `500ms`): nanoseconds. Errors name the
/// flag (docker's wording for a negative one).
pub fn parse_duration_flag(flag: &str, v: &str) -> Result<i64> {
    match holm_container::duration::parse(v) {
        Ok(d) => Ok(d.as_nanos().min(i64::MAX as u128) as i64),
        Err(holm_container::duration::DurationError::Negative(_)) => {
            Err(Error::flag(flag, v, format!("{flag} cannot be negative")))
        }
        Err(e) => Err(Error::flag(flag, v, e.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(retries: u32, start_period: Duration) -> Check {
        Check {
            args: vec!["true".into()],
            interval: Duration::from_secs(1),
            timeout: Duration::from_secs(1),
            start_period,
            retries,
        }
    }

    fn entry(code: i32) -> LogEntry {
        LogEntry {
            exit_code: code,
            ..LogEntry::default()
        }
    }

    #[test]
    fn tests_and_defaults() {
        let h = |t: &[&str]| HealthConfig {
            test: t.iter().map(|s| s.to_string()).collect(),
            ..HealthConfig::default()
        };
        assert_eq!(h(&["NONE"]).check(), None);
        assert_eq!(h(&[]).check(), None);
        let c = h(&["CMD-SHELL", "exit 0"]).check().unwrap();
        assert_eq!(c.args, ["/bin/sh", "-c", "exit 0"]);
        assert_eq!((c.interval, c.retries), (DEFAULT_INTERVAL, 3));
        assert_eq!(h(&["CMD", "a", "b"]).check().unwrap().args, ["a", "b"]);
        let user = HealthConfig {
            interval: 5,
            ..HealthConfig::default()
        };
        let image = HealthConfig {
            interval: 7,
            retries: 9,
            ..h(&["CMD", "x"])
        };
        let m = user.merged_over(&image);
        assert_eq!((m.interval, m.retries, m.test[1].as_str()), (5, 9, "x"));
    }

    #[test]
    fn docker_rules() {
        let mut h = Health {
            status: "starting".into(),
            started_nanos: 0,
            ..Health::default()
        };
        let c = check(2, Duration::from_secs(10));
        // inside the start period, failures do not count
        assert_eq!(h.record(&c, entry(1), 1_000_000_000), None);
        assert_eq!((h.status.as_str(), h.failing_streak), ("starting", 0));
        // after it, they do
        assert_eq!(h.record(&c, entry(1), 11_000_000_000), None);
        assert_eq!(h.failing_streak, 1);
        assert_eq!(
            h.record(&c, entry(1), 12_000_000_000).as_deref(),
            Some("unhealthy")
        );
        assert_eq!(
            h.record(&c, entry(0), 13_000_000_000).as_deref(),
            Some("healthy")
        );
        assert_eq!(h.failing_streak, 0);
        // once healthy, the start period no longer shields failures
        let mut g = Health {
            status: "healthy".into(),
            ..Health::default()
        };
        g.record(&c, entry(1), 1);
        assert_eq!(g.failing_streak, 1);
        for _ in 0..10 {
            g.record(&c, entry(2), 1);
        }
        assert_eq!(g.log.len(), MAX_LOG_ENTRIES);
    }
}
