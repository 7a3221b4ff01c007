//! Resource usage for `events --stats`, in runc's JSON shape (`types.Stats` of runc's `events`): cpu, memory,
//! pids, blkio and hugetlb, each read where its controller lives (v1 hierarchy, else cgroup2), and the OOM-kill
//! counter behind the `oom` event.
//!
//! | stats | v1 | v2 |
//! |---|---|---|
//! | cpu usage | `cpuacct.usage`, `.usage_percpu[_sys,_user]`, `cpuacct.stat` (ticks) | `cpu.stat` `usage_usec`, `user_usec`, `system_usec` |
//! | cpu throttling | `cpu.stat` `nr_periods`, `nr_throttled`, `throttled_time` (ns) | `cpu.stat` `nr_periods`, `nr_throttled`, `throttled_usec` |
//! | memory | `memory.{usage,max_usage,limit}_in_bytes`, `.failcnt`, `memsw.*`, `kmem.*`, `kmem.tcp.*`, `memory.stat` | `memory.current`, `.peak`, `.max`, `memory.events` `max`, `memory.swap.*`, `memory.stat` |
//! | pids | `pids.current`, `pids.max` | same |
//! | blkio | `blkio.throttle.io_service{_bytes,d}_recursive` | `io.stat` (`rbytes`, `wbytes`, `rios`, `wios`) |
//! | hugetlb | `hugetlb.<size>.{usage_in_bytes,max_usage_in_bytes,failcnt}` | `hugetlb.<size>.current`, `.events` `max` |
//! | OOM kills | `memory.oom_control` `oom_kill` | `memory.events` `oom_kill` |

use std::collections::BTreeMap;

use serde::Serialize;

use crate::blkio::BLKIO;
use crate::cgroup::Cgroup;
use crate::cpu::CPU;
use crate::hugetlb::HUGETLB;
use crate::memory::MEMORY;
use crate::pids::PIDS;
use crate::resources::{Controller, Target, CORE};

/// CPU usage accounting: `cpuacct` on v1; on v2 `cpu.stat` exists in every cgroup.
const CPUACCT: Controller = Controller {
    v1: "cpuacct",
    v2: CORE,
};

/// Clock ticks per second of `cpuacct.stat` (`USER_HZ`, 100 on Linux).
const USER_HZ: u64 = 100;

fn is_zero(v: &u64) -> bool {
    *v == 0
}

/// runc's `Stats`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Stats {
    /// CPU usage and throttling.
    pub cpu: Cpu,
    /// Memory usage.
    pub memory: Memory,
    /// Process count.
    pub pids: Pids,
    /// Block IO.
    pub blkio: Blkio,
    /// Huge page usage per page size (`2MB`).
    pub hugetlb: BTreeMap<String, Hugetlb>,
}

/// runc's `Cpu`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Cpu {
    /// Usage in nanoseconds.
    pub usage: CpuUsage,
    /// CFS throttling.
    pub throttling: Throttling,
}

/// runc's `CpuUsage` (nanoseconds).
#[derive(Debug, Clone, Default, Serialize)]
pub struct CpuUsage {
    /// Total CPU time.
    #[serde(skip_serializing_if = "is_zero")]
    pub total: u64,
    /// Per CPU.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub percpu: Vec<u64>,
    /// Per CPU, in kernel mode.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub percpu_kernel: Vec<u64>,
    /// Per CPU, in user mode.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub percpu_user: Vec<u64>,
    /// In kernel mode.
    pub kernel: u64,
    /// In user mode.
    pub user: u64,
}

/// runc's `Throttling`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Throttling {
    /// Enforcement periods elapsed.
    #[serde(skip_serializing_if = "is_zero")]
    pub periods: u64,
    /// Periods in which the cgroup was throttled.
    #[serde(rename = "throttledPeriods", skip_serializing_if = "is_zero")]
    pub throttled_periods: u64,
    /// Total throttled time, nanoseconds.
    #[serde(rename = "throttledTime", skip_serializing_if = "is_zero")]
    pub throttled_time: u64,
}

/// runc's `MemoryEntry`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct MemoryEntry {
    /// Limit in bytes (`u64::MAX` when unlimited on v2; v1 shows its own huge value).
    pub limit: u64,
    /// Current usage.
    #[serde(skip_serializing_if = "is_zero")]
    pub usage: u64,
    /// Peak usage.
    #[serde(skip_serializing_if = "is_zero")]
    pub max: u64,
    /// Times the limit was hit.
    pub failcnt: u64,
}

/// runc's `Memory`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Memory {
    /// Page cache.
    #[serde(skip_serializing_if = "is_zero")]
    pub cache: u64,
    /// Memory.
    pub usage: MemoryEntry,
    /// Swap (v1: memory+swap).
    pub swap: MemoryEntry,
    /// Kernel memory (v1).
    pub kernel: MemoryEntry,
    /// Kernel TCP buffers (v1).
    #[serde(rename = "kernelTCP")]
    pub kernel_tcp: MemoryEntry,
    /// `memory.stat`.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub raw: BTreeMap<String, u64>,
}

/// runc's `Pids`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Pids {
    /// Processes now.
    #[serde(skip_serializing_if = "is_zero")]
    pub current: u64,
    /// Limit (0: unlimited).
    #[serde(skip_serializing_if = "is_zero")]
    pub limit: u64,
}

/// runc's `BlkioEntry`.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct BlkioEntry {
    /// Device major.
    #[serde(skip_serializing_if = "is_zero")]
    pub major: u64,
    /// Device minor.
    #[serde(skip_serializing_if = "is_zero")]
    pub minor: u64,
    /// `Read`, `Write`, `Sync`, `Async`, `Discard`, `Total`.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub op: String,
    /// Bytes or operations.
    #[serde(skip_serializing_if = "is_zero")]
    pub value: u64,
}

/// runc's `Blkio`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Blkio {
    /// Bytes per device and operation.
    #[serde(
        rename = "ioServiceBytesRecursive",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub io_service_bytes_recursive: Vec<BlkioEntry>,
    /// Operations per device and operation.
    #[serde(rename = "ioServicedRecursive", skip_serializing_if = "Vec::is_empty")]
    pub io_serviced_recursive: Vec<BlkioEntry>,
}

/// runc's `Hugetlb`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Hugetlb {
    /// Bytes in use.
    #[serde(skip_serializing_if = "is_zero")]
    pub usage: u64,
    /// Peak (v1).
    #[serde(skip_serializing_if = "is_zero")]
    pub max: u64,
    /// Allocations that failed at the limit.
    pub failcnt: u64,
}

/// `key value` lines (`memory.stat`, `cpu.stat`, `memory.events`) as a map.
pub(crate) fn flat_keyed(text: &str) -> BTreeMap<String, u64> {
    text.lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            Some((f.next()?.to_string(), f.next()?.parse().ok()?))
        })
        .collect()
}

/// A single number; `max` is `u64::MAX`.
fn number(text: &str) -> Option<u64> {
    match text.trim() {
        "max" => Some(u64::MAX),
        t => t.parse().ok(),
    }
}

/// v1 `blkio.throttle.io_service*_recursive`: `M:m Op value` lines (and a final `Total value`).
pub(crate) fn parse_blkio_v1(text: &str) -> Vec<BlkioEntry> {
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let [dev, op, value] = f[..] else { return None };
            let (ma, mi) = dev.split_once(':')?;
            Some(BlkioEntry {
                major: ma.parse().ok()?,
                minor: mi.parse().ok()?,
                op: op.to_string(),
                value: value.parse().ok()?,
            })
        })
        .collect()
}

/// v2 `io.stat`: `M:m rbytes=.. wbytes=.. rios=.. wios=.. dbytes=.. dios=..` lines, as runc maps them: bytes and
/// operations for `Read` and `Write`.
pub(crate) fn parse_io_stat(text: &str) -> (Vec<BlkioEntry>, Vec<BlkioEntry>) {
    let (mut bytes, mut ios) = (Vec::new(), Vec::new());
    for l in text.lines() {
        let mut f = l.split_whitespace();
        let Some((ma, mi)) = f.next().and_then(|d| d.split_once(':')) else {
            continue;
        };
        let (Ok(major), Ok(minor)) = (ma.parse(), mi.parse()) else {
            continue;
        };
        for kv in f {
            let Some((k, v)) = kv.split_once('=') else {
                continue;
            };
            let Ok(value) = v.parse() else { continue };
            let (list, op) = match k {
                "rbytes" => (&mut bytes, "Read"),
                "wbytes" => (&mut bytes, "Write"),
                "rios" => (&mut ios, "Read"),
                "wios" => (&mut ios, "Write"),
                _ => continue,
            };
            list.push(BlkioEntry {
                major,
                minor,
                op: op.into(),
                value,
            });
        }
    }
    (bytes, ios)
}

/// Huge page sizes of this kernel as cgroup file names use them (`hugepages-2048kB` → `2MB`).
fn page_sizes() -> Vec<String> {
    let Ok(rd) = std::fs::read_dir("/sys/kernel/mm/hugepages") else {
        return Vec::new();
    };
    let mut sizes: Vec<(u64, String)> = rd
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let n = e.file_name().into_string().ok()?;
            let kb: u64 = n
                .strip_prefix("hugepages-")?
                .strip_suffix("kB")?
                .parse()
                .ok()?;
            let name = if kb >= 1 << 20 && kb.is_multiple_of(1 << 20) {
                format!("{}GB", kb >> 20)
            } else if kb >= 1 << 10 && kb.is_multiple_of(1 << 10) {
                format!("{}MB", kb >> 10)
            } else {
                format!("{kb}KB")
            };
            Some((kb, name))
        })
        .collect();
    sizes.sort();
    sizes.into_iter().map(|(_, n)| n).collect()
}

struct Reader<'a> {
    t: Target<'a>,
}

impl Reader<'_> {
    fn text(&self, c: Controller, file: &str) -> Option<String> {
        self.t.read_file(c, file)
    }
    fn num(&self, c: Controller, file: &str) -> u64 {
        self.text(c, file).and_then(|t| number(&t)).unwrap_or(0)
    }
    fn list(&self, c: Controller, file: &str) -> Vec<u64> {
        self.text(c, file)
            .map(|t| {
                t.split_whitespace()
                    .filter_map(|v| v.parse().ok())
                    .collect()
            })
            .unwrap_or_default()
    }
    fn keyed(&self, c: Controller, file: &str) -> BTreeMap<String, u64> {
        self.text(c, file)
            .map(|t| flat_keyed(&t))
            .unwrap_or_default()
    }

    fn cpu(&self) -> Cpu {
        let mut cpu = Cpu::default();
        match self.t.version_of(CPUACCT) {
            Some(false) => {
                let u = &mut cpu.usage;
                u.total = self.num(CPUACCT, "cpuacct.usage");
                u.percpu = self.list(CPUACCT, "cpuacct.usage_percpu");
                u.percpu_kernel = self.list(CPUACCT, "cpuacct.usage_percpu_sys");
                u.percpu_user = self.list(CPUACCT, "cpuacct.usage_percpu_user");
                let st = self.keyed(CPUACCT, "cpuacct.stat");
                let ns = |ticks: u64| ticks.saturating_mul(1_000_000_000 / USER_HZ);
                u.user = ns(st.get("user").copied().unwrap_or(0));
                u.kernel = ns(st.get("system").copied().unwrap_or(0));
            }
            Some(true) => {
                let st = self.keyed(CPUACCT, "cpu.stat");
                let ns = |k: &str| st.get(k).copied().unwrap_or(0).saturating_mul(1000);
                cpu.usage.total = ns("usage_usec");
                cpu.usage.user = ns("user_usec");
                cpu.usage.kernel = ns("system_usec");
            }
            None => {}
        }
        if let Some(v2) = self.t.version_of(CPU) {
            let st = self.keyed(CPU, "cpu.stat");
            let get = |k: &str| st.get(k).copied().unwrap_or(0);
            cpu.throttling.periods = get("nr_periods");
            cpu.throttling.throttled_periods = get("nr_throttled");
            cpu.throttling.throttled_time = if v2 {
                get("throttled_usec").saturating_mul(1000)
            } else {
                get("throttled_time")
            };
        }
        cpu
    }

    fn memory(&self) -> Memory {
        let mut m = Memory::default();
        match self.t.version_of(MEMORY) {
            Some(false) => {
                let entry = |prefix: &str| MemoryEntry {
                    limit: self.num(MEMORY, &format!("{prefix}.limit_in_bytes")),
                    usage: self.num(MEMORY, &format!("{prefix}.usage_in_bytes")),
                    max: self.num(MEMORY, &format!("{prefix}.max_usage_in_bytes")),
                    failcnt: self.num(MEMORY, &format!("{prefix}.failcnt")),
                };
                m.usage = entry("memory");
                m.swap = entry("memory.memsw");
                m.kernel = entry("memory.kmem");
                m.kernel_tcp = entry("memory.kmem.tcp");
                m.raw = self.keyed(MEMORY, "memory.stat");
                m.cache = m
                    .raw
                    .get("total_cache")
                    .or(m.raw.get("cache"))
                    .copied()
                    .unwrap_or(0);
            }
            Some(true) => {
                let events = self.keyed(MEMORY, "memory.events");
                m.usage = MemoryEntry {
                    limit: self.num(MEMORY, "memory.max"),
                    usage: self.num(MEMORY, "memory.current"),
                    max: self.num(MEMORY, "memory.peak"),
                    failcnt: events.get("max").copied().unwrap_or(0),
                };
                let swap_events = self.keyed(MEMORY, "memory.swap.events");
                m.swap = MemoryEntry {
                    limit: self.num(MEMORY, "memory.swap.max"),
                    usage: self.num(MEMORY, "memory.swap.current"),
                    max: self.num(MEMORY, "memory.swap.peak"),
                    failcnt: swap_events.get("max").copied().unwrap_or(0),
                };
                m.raw = self.keyed(MEMORY, "memory.stat");
                m.cache = m.raw.get("file").copied().unwrap_or(0);
            }
            None => {}
        }
        m
    }

    fn pids(&self) -> Pids {
        let limit = self.num(PIDS, "pids.max");
        Pids {
            current: self.num(PIDS, "pids.current"),
            limit: if limit == u64::MAX { 0 } else { limit },
        }
    }

    fn blkio(&self) -> Blkio {
        match self.t.version_of(BLKIO) {
            Some(false) => Blkio {
                io_service_bytes_recursive: parse_blkio_v1(
                    &self
                        .text(BLKIO, "blkio.throttle.io_service_bytes_recursive")
                        .unwrap_or_default(),
                ),
                io_serviced_recursive: parse_blkio_v1(
                    &self
                        .text(BLKIO, "blkio.throttle.io_serviced_recursive")
                        .unwrap_or_default(),
                ),
            },
            Some(true) => {
                let (bytes, ios) = parse_io_stat(&self.text(BLKIO, "io.stat").unwrap_or_default());
                Blkio {
                    io_service_bytes_recursive: bytes,
                    io_serviced_recursive: ios,
                }
            }
            None => Blkio::default(),
        }
    }

    fn hugetlb(&self) -> BTreeMap<String, Hugetlb> {
        let Some(v2) = self.t.version_of(HUGETLB) else {
            return BTreeMap::new();
        };
        page_sizes()
            .into_iter()
            .map(|size| {
                let h = if v2 {
                    let ev = self.keyed(HUGETLB, &format!("hugetlb.{size}.events"));
                    Hugetlb {
                        usage: self.num(HUGETLB, &format!("hugetlb.{size}.current")),
                        max: 0,
                        failcnt: ev.get("max").copied().unwrap_or(0),
                    }
                } else {
                    Hugetlb {
                        usage: self.num(HUGETLB, &format!("hugetlb.{size}.usage_in_bytes")),
                        max: self.num(HUGETLB, &format!("hugetlb.{size}.max_usage_in_bytes")),
                        failcnt: self.num(HUGETLB, &format!("hugetlb.{size}.failcnt")),
                    }
                };
                (size, h)
            })
            .collect()
    }
}

impl Cgroup {
    /// The cgroup's resource usage (see the module doc). Controllers that are not mounted, and files the kernel
    /// lacks, leave their part zero, as runc does.
    pub fn stats(&self) -> Stats {
        let r = Reader {
            t: Target::new(self),
        };
        Stats {
            cpu: r.cpu(),
            memory: r.memory(),
            pids: r.pids(),
            blkio: r.blkio(),
            hugetlb: r.hugetlb(),
        }
    }

    /// How many processes the OOM killer has killed in the cgroup (`oom_kill` of v1 `memory.oom_control`, or of
    /// v2 `memory.events`); `None` when the memory controller is not available or the cgroup is gone.
    pub fn oom_kills(&self) -> Option<u64> {
        let t = Target::new(self);
        let file = if t.version_of(MEMORY)? {
            "memory.events"
        } else {
            "memory.oom_control"
        };
        flat_keyed(&t.read_file(MEMORY, file)?)
            .get("oom_kill")
            .copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keyed_files() {
        let m = flat_keyed("oom_kill_disable 0\nunder_oom 0\noom_kill 3\n");
        assert_eq!(m["oom_kill"], 3);
        assert_eq!(number("max\n"), Some(u64::MAX));
        assert_eq!(number("12\n"), Some(12));
    }

    #[test]
    fn blkio_v1_and_io_stat() {
        let v1 =
            parse_blkio_v1("254:0 Read 4096\n254:0 Write 8192\n254:0 Total 12288\nTotal 12288\n");
        assert_eq!(v1.len(), 3);
        assert_eq!(
            v1[1],
            BlkioEntry {
                major: 254,
                minor: 0,
                op: "Write".into(),
                value: 8192
            }
        );
        let (bytes, ios) =
            parse_io_stat("8:0 rbytes=100 wbytes=200 rios=1 wios=2 dbytes=0 dios=0\n");
        assert_eq!(bytes.len(), 2);
        assert_eq!(bytes[0].op, "Read");
        assert_eq!(bytes[1].value, 200);
        assert_eq!(ios[1].value, 2);
    }

    #[test]
    fn json_shape_matches_runc() {
        let mut s = Stats::default();
        s.memory.usage.limit = 5;
        s.pids.current = 2;
        let v = serde_json::to_value(&s).unwrap();
        assert_eq!(v["memory"]["usage"]["limit"], 5);
        assert_eq!(v["memory"]["usage"]["failcnt"], 0);
        assert!(v["memory"]["usage"].get("usage").is_none());
        assert_eq!(v["pids"]["current"], 2);
        assert_eq!(v["cpu"]["usage"]["kernel"], 0);
        assert!(v["memory"].get("kernelTCP").is_some());
        assert!(v["cpu"]["throttling"].as_object().unwrap().is_empty());
    }
}
