//! The memory controller: `linux.resources.memory`.
//!
//! | field | v1 (`memory.` prefix) | v2 |
//! |---|---|---|
//! | limit | `limit_in_bytes` | `memory.max` |
//! | reservation | `soft_limit_in_bytes` | `memory.low` |
//! | swap (memory + swap) | `memsw.limit_in_bytes` | `memory.swap.max` = swap − limit (swap alone) |
//! | kernel, kernelTCP | `kmem.limit_in_bytes`, `kmem.tcp.limit_in_bytes` | — |
//! | swappiness | `swappiness` | — |
//! | disableOOMKiller | `oom_control` = 1 | — |
//! | useHierarchy | `use_hierarchy` | — (always hierarchical) |
//!
//! `-1` means unlimited: written as `-1` on v1 and `max` on v2.

use oci_spec::runtime::LinuxMemory;

use crate::resources::{w, Controller, Current, Knobs, Setting};
use crate::Error;

pub(crate) const MEMORY: Controller = Controller {
    v1: "memory",
    v2: "memory",
};

/// The v2 text of a byte limit: `max` for -1 (or any negative value), else the number.
pub(crate) fn v2_limit(v: i64) -> String {
    if v < 0 {
        "max".into()
    } else {
        v.to_string()
    }
}

/// OCI `memory.swap` (memory + swap, as v1's memsw) to v2 `memory.swap.max` (swap alone), given the memory limit
/// that goes with it (runc's `ConvertMemorySwapToCgroupV2Value`):
///
/// - `swap` -1 → `max`; swap unset (`None`) with limit -1 → `max` (both unlimited);
/// - otherwise a memory limit is needed, `swap ≥ limit`, and the result is `swap − limit`
///   (limit 512 MiB with swap 1 GiB gives 536870912; swap equal to the limit gives 0).
///
/// `Ok(None)`: nothing to write.
pub(crate) fn swap_v2(swap: Option<i64>, limit: Option<i64>) -> Result<Option<String>, String> {
    match (swap, limit) {
        (None, Some(-1)) => Ok(Some("max".into())),
        (None, _) => Ok(None),
        (Some(-1), _) => Ok(Some("max".into())),
        (Some(s), _) if s < -1 => Err(format!("invalid value {s}: expected -1 or a byte count")),
        (Some(_), None | Some(-1)) => Err(
            "a swap limit needs a memory limit (memory.limit), and the memory limit is unlimited".into(),
        ),
        (Some(_), Some(l)) if l < 0 => Err(format!("invalid memory limit {l}")),
        (Some(s), Some(l)) if s < l => Err(format!(
            "memory+swap limit {s} is below the memory limit {l}; memory.swap counts memory plus swap and must \
             be at least memory.limit"
        )),
        (Some(s), Some(l)) => Ok(Some((s - l).to_string())),
    }
}

/// Parses a v1 or v2 memory limit file (`max` and v1's huge "unlimited" value mean -1).
pub(crate) fn parse_limit(text: &str) -> Option<i64> {
    let t = text.trim();
    if t == "max" {
        return Some(-1);
    }
    let v: u64 = t.parse().ok()?;
    // v1 shows "unlimited" as PAGE_COUNTER_MAX * PAGE_SIZE, around 2^63.
    if v >= 1 << 62 {
        Some(-1)
    } else {
        i64::try_from(v).ok()
    }
}

pub(crate) fn settings(m: &LinuxMemory, cur: &dyn Current) -> Result<Vec<Setting>, Error> {
    let bad = |field: &str, reason: String| Error::Resource {
        field: format!("memory.{field}"),
        reason,
    };
    let mut out = Vec::new();
    let limit = m.limit();
    // A limit of -1 with no swap given means "both unlimited" (as runc); the swap part is then a default.
    let swap = m.swap().or(if limit == Some(-1) { Some(-1) } else { None });

    if let Some(l) = limit {
        if l < -1 {
            return Err(bad(
                "limit",
                format!("invalid value {l}: expected -1 or a byte count"),
            ));
        }
        let mut s = Setting::new(
            "memory.limit",
            MEMORY,
            w("memory.limit_in_bytes", l),
            w("memory.max", v2_limit(l)),
        )
        .default_if(l == -1);
        if swap.is_some() {
            // v1: memory.limit_in_bytes must stay ≤ memsw.limit_in_bytes at every moment.
            s = s.retry_after_next();
        }
        out.push(s);
    }
    if let Some(sw) = swap {
        let v2 = if cur.is_v2(MEMORY) {
            // Swap without a limit in this request: use the cgroup's current limit (`update --memory-swap`).
            let l = limit.or_else(|| {
                cur.read(MEMORY, "memory.limit_in_bytes", "memory.max")
                    .and_then(|t| parse_limit(&t))
            });
            match swap_v2(Some(sw), l) {
                Ok(Some(v)) => w("memory.swap.max", v),
                Ok(None) => Knobs::Nothing,
                Err(reason) => return Err(bad("swap", reason)),
            }
        } else {
            if sw < -1 {
                return Err(bad(
                    "swap",
                    format!("invalid value {sw}: expected -1 or a byte count"),
                ));
            }
            // Swap without a limit in this request is checked against the cgroup's current limit.
            let l = limit.or_else(|| {
                cur.read(MEMORY, "memory.limit_in_bytes", "memory.max")
                    .and_then(|t| parse_limit(&t))
            });
            if let (Some(l), true) = (l, sw >= 0) {
                if l >= 0 && sw < l {
                    return Err(bad("swap", format!(
                        "memory+swap limit {sw} is below the memory limit {l}; memory.swap counts memory plus swap"
                    )));
                }
            }
            Knobs::Nothing
        };
        out.push(
            Setting::new(
                "memory.swap",
                MEMORY,
                w("memory.memsw.limit_in_bytes", sw),
                v2,
            )
            .default_if(sw == -1),
        );
    }
    if let Some(r) = m.reservation() {
        out.push(
            Setting::new(
                "memory.reservation",
                MEMORY,
                w("memory.soft_limit_in_bytes", r),
                w("memory.low", v2_limit(r)),
            )
            .default_if(r == -1),
        );
    }
    #[allow(deprecated)]
    if let Some(k) = m.kernel() {
        out.push(
            Setting::new(
                "memory.kernel",
                MEMORY,
                w("memory.kmem.limit_in_bytes", k),
                Knobs::Unsupported,
            )
            .default_if(k == -1),
        );
    }
    if let Some(k) = m.kernel_tcp() {
        out.push(
            Setting::new(
                "memory.kernelTCP",
                MEMORY,
                w("memory.kmem.tcp.limit_in_bytes", k),
                Knobs::Unsupported,
            )
            .default_if(k == -1),
        );
    }
    if let Some(sw) = m.swappiness() {
        if sw > 100 {
            return Err(bad(
                "swappiness",
                format!("invalid value {sw}: expected 0 to 100"),
            ));
        }
        out.push(Setting::new(
            "memory.swappiness",
            MEMORY,
            w("memory.swappiness", sw),
            Knobs::Unsupported,
        ));
    }
    if let Some(d) = m.disable_oom_killer() {
        out.push(
            Setting::new(
                "memory.disableOOMKiller",
                MEMORY,
                w("memory.oom_control", u8::from(d)),
                Knobs::Unsupported,
            )
            .default_if(!d),
        );
    }
    if let Some(h) = m.use_hierarchy() {
        out.push(
            Setting::new(
                "memory.useHierarchy",
                MEMORY,
                w("memory.use_hierarchy", u8::from(h)),
                Knobs::Nothing,
            )
            .default_if(h),
        );
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn swap_conversion_follows_runc() {
        const MI: i64 = 1 << 20;
        assert_eq!(
            swap_v2(Some(1024 * MI), Some(512 * MI)).unwrap().unwrap(),
            "536870912"
        );
        assert_eq!(
            swap_v2(Some(512 * MI), Some(512 * MI)).unwrap().unwrap(),
            "0"
        );
        assert_eq!(swap_v2(Some(-1), Some(512 * MI)).unwrap().unwrap(), "max");
        assert_eq!(swap_v2(Some(-1), None).unwrap().unwrap(), "max");
        assert_eq!(swap_v2(None, Some(-1)).unwrap().unwrap(), "max");
        assert_eq!(swap_v2(None, Some(512)).unwrap(), None);
        assert!(swap_v2(Some(100), None)
            .unwrap_err()
            .contains("needs a memory limit"));
        assert!(swap_v2(Some(100), Some(-1)).is_err());
        assert!(swap_v2(Some(100), Some(200))
            .unwrap_err()
            .contains("below the memory limit"));
        assert!(swap_v2(Some(-5), Some(200)).is_err());
    }

    #[test]
    fn limits_parse_max_and_v1_unlimited() {
        assert_eq!(parse_limit("max\n"), Some(-1));
        assert_eq!(parse_limit("9223372036854771712\n"), Some(-1));
        assert_eq!(parse_limit("33554432\n"), Some(33554432));
        assert_eq!(parse_limit("x"), None);
        assert_eq!(v2_limit(-1), "max");
        assert_eq!(v2_limit(4096), "4096");
    }
}
