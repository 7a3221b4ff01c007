//! The cpu controller: `linux.resources.cpu` except `cpus`/`mems` (see [`crate::cpuset`]).
//!
//! | field | v1 (`cpu.` prefix) | v2 |
//! |---|---|---|
//! | shares | `shares` | `cpu.weight` = 1 + (shares − 2) · 9999 / 262142 |
//! | quota, period | `cfs_quota_us`, `cfs_period_us` | `cpu.max` = "`quota|max` `period`" |
//! | burst | `cfs_burst_us` | `cpu.max.burst` |
//! | idle | `idle` | `cpu.idle` |
//! | realtimeRuntime, realtimePeriod | `rt_runtime_us`, `rt_period_us` | — |

use oci_spec::runtime::LinuxCpu;

use crate::resources::{w, Controller, Current, Knobs, Setting};

pub(crate) const CPU: Controller = Controller {
    v1: "cpu",
    v2: "cpu",
};

/// v1 `cpu.shares` (2..262144) to v2 `cpu.weight` (1..10000), runc's `ConvertCPUSharesToCgroupV2Value`; 0 means
/// unset.
pub fn shares_to_weight(shares: u64) -> u64 {
    if shares == 0 {
        return 0;
    }
    let s = shares.clamp(2, 262_144);
    1 + ((s - 2) * 9999) / 262_142
}

/// The v2 `cpu.max` text for a quota (-1 or absent: `max`) and period (absent: keep the current one).
fn cpu_max(quota: Option<i64>, period: Option<u64>, cur: &dyn Current) -> String {
    let quota = match quota {
        Some(q) if q > 0 => q.to_string(),
        Some(_) => "max".into(),
        // Period alone: keep the current quota.
        None => cur
            .read(CPU, "cpu.cfs_quota_us", "cpu.max")
            .and_then(|t| t.split_whitespace().next().map(str::to_owned))
            .unwrap_or_else(|| "max".into()),
    };
    match period {
        Some(p) => format!("{quota} {p}"),
        None => quota,
    }
}

pub(crate) fn settings(c: &LinuxCpu, cur: &dyn Current) -> Vec<Setting> {
    let mut out = Vec::new();
    if let Some(s) = c.shares().filter(|s| *s != 0) {
        out.push(
            Setting::new(
                "cpu.shares",
                CPU,
                w("cpu.shares", s),
                w("cpu.weight", shares_to_weight(s)),
            )
            .default_if(s == 1024),
        );
    }
    let (quota, period) = (
        c.quota().filter(|q| *q != 0),
        c.period().filter(|p| *p != 0),
    );
    if quota.is_some() || period.is_some() {
        let v2 = w("cpu.max", cpu_max(quota, period, cur));
        // v1: the period first; if the kernel refuses it against the old quota, the quota first (as runc).
        if let Some(p) = period {
            let mut s = Setting::new("cpu.period", CPU, w("cpu.cfs_period_us", p), v2.clone());
            if quota.is_some() {
                s = s.retry_after_next();
            }
            out.push(s);
        }
        if let Some(q) = quota {
            let v2 = if period.is_some() { Knobs::Nothing } else { v2 };
            out.push(
                Setting::new(
                    "cpu.quota",
                    CPU,
                    w("cpu.cfs_quota_us", if q < 0 { -1 } else { q }),
                    v2,
                )
                .default_if(q < 0),
            );
        }
    }
    if let Some(b) = c.burst() {
        out.push(
            Setting::new(
                "cpu.burst",
                CPU,
                w("cpu.cfs_burst_us", b),
                w("cpu.max.burst", b),
            )
            .default_if(b == 0),
        );
    }
    if let Some(i) = c.idle() {
        out.push(Setting::same("cpu.idle", CPU, "cpu.idle", i).default_if(i == 0));
    }
    // As runc: the period before the runtime (the kernel checks runtime ≤ period).
    if let Some(p) = c.realtime_period().filter(|p| *p != 0) {
        out.push(Setting::new(
            "cpu.realtimePeriod",
            CPU,
            w("cpu.rt_period_us", p),
            Knobs::Unsupported,
        ));
    }
    if let Some(r) = c.realtime_runtime().filter(|r| *r != 0) {
        out.push(Setting::new(
            "cpu.realtimeRuntime",
            CPU,
            w("cpu.rt_runtime_us", r),
            Knobs::Unsupported,
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_to_weight_follows_runc() {
        assert_eq!(shares_to_weight(0), 0);
        assert_eq!(shares_to_weight(2), 1);
        assert_eq!(shares_to_weight(1024), 39);
        assert_eq!(shares_to_weight(512), 20);
        assert_eq!(shares_to_weight(262_144), 10_000);
        // Out of range values are clamped to the v1 range first.
        assert_eq!(shares_to_weight(1), 1);
        assert_eq!(shares_to_weight(1_000_000), 10_000);
    }

    struct NoCurrent(bool);
    impl Current for NoCurrent {
        fn read(&self, _: Controller, _: &str, _: &str) -> Option<String> {
            Some("50000 100000".into())
        }
        fn is_v2(&self, _: Controller) -> bool {
            self.0
        }
    }

    #[test]
    fn quota_and_period_as_v1_files_and_one_v2_cpu_max() {
        let c: LinuxCpu =
            serde_json::from_str(r#"{"quota": 20000, "period": 100000, "shares": 512}"#).unwrap();
        let s = settings(&c, &NoCurrent(true));
        let period = s.iter().find(|s| s.field == "cpu.period").unwrap();
        assert_eq!(period.v1, w("cpu.cfs_period_us", 100000));
        assert_eq!(period.v2, w("cpu.max", "20000 100000"));
        assert!(period.retry_after_next);
        let quota = s.iter().find(|s| s.field == "cpu.quota").unwrap();
        assert_eq!(quota.v1, w("cpu.cfs_quota_us", 20000));
        assert_eq!(quota.v2, Knobs::Nothing);
        let shares = s.iter().find(|s| s.field == "cpu.shares").unwrap();
        assert_eq!(shares.v2, w("cpu.weight", 20));

        let c: LinuxCpu = serde_json::from_str(r#"{"quota": -1}"#).unwrap();
        assert_eq!(settings(&c, &NoCurrent(true))[0].v2, w("cpu.max", "max"));
        // The period alone keeps the current quota.
        let c: LinuxCpu = serde_json::from_str(r#"{"period": 250000}"#).unwrap();
        assert_eq!(
            settings(&c, &NoCurrent(true))[0].v2,
            w("cpu.max", "50000 250000")
        );
    }
}
