//! `holm-format`: the text forms of time and size that holm's fronts (the `holm` CLI, the Docker Engine API
//! server) and its runtime share, in one place that neither owns:
//!
//! - [`time`]: RFC 3339 timestamps as docker writes them (`2026-11-29T10:16:34.123456789Z`), their parsing, Go's
//!   `time.Time.String()` (`2026-11-29 10:16:34 +0000 UTC`), docker's human durations (`2 hours`, `2 hours ago`,
//!   `Up 3 minutes` is `"Up " + human_duration`);
//! - [`timestamp`]: docker's `--since/--until` values (moby `api/types/time.GetTimestamp`);
//! - [`duration`]: Go's `time.ParseDuration` (`1m30s`);
//! - [`size`]: docker's human sizes (`4.26MB` in SI units, `64MiB` in binary units).
//!
//! Pure functions over `std`, no system calls: the runtime (`holm-container`, `holm-monitor`) uses [`time::rfc3339`]
//! and [`duration`] from here rather than keeping copies.
#![forbid(unsafe_code)]

pub mod duration;
pub mod size;
pub mod time;
pub mod timestamp;
