//! The cgroup verbs of the command line: `pause`, `resume`, `update`, `ps`, `events` (runc's flags and output).
//! Each parses its flags and calls `holm-container`.

use std::io::Read;
use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::Args;
use holm_container::Store;
use serde_json::{json, Value};

/// `pause ID`.
pub fn pause(store: &Store, id: &str) -> anyhow::Result<()> {
    Ok(holm_container::cgroup_verbs::pause(store, id)?)
}

/// `resume ID`.
pub fn resume(store: &Store, id: &str) -> anyhow::Result<()> {
    Ok(holm_container::cgroup_verbs::resume(store, id)?)
}

/// runc's `update` flags. Byte values accept runc's suffixes (`64m`, `1g`, `512k`) and -1 for unlimited.
#[derive(Args)]
pub struct UpdateArgs {
    /// Path to a JSON file with the resources to update (linux.resources format), or `-` for standard input.
    #[arg(short = 'r', long, value_name = "FILE")]
    resources: Option<PathBuf>,
    /// Per-cgroup block IO weight, 10 to 1000.
    #[arg(long = "blkio-weight", value_name = "N")]
    blkio_weight: Option<u16>,
    /// CPU CFS period (microseconds).
    #[arg(long = "cpu-period", value_name = "N")]
    cpu_period: Option<u64>,
    /// CPU CFS quota (microseconds per period; -1 for none).
    #[arg(long = "cpu-quota", value_name = "N", allow_hyphen_values = true)]
    cpu_quota: Option<i64>,
    /// CPU shares (relative weight).
    #[arg(long = "cpu-share", alias = "cpu-shares", value_name = "N")]
    cpu_share: Option<u64>,
    /// CPU realtime period (microseconds).
    #[arg(long = "cpu-rt-period", value_name = "N")]
    cpu_rt_period: Option<u64>,
    /// CPU realtime runtime (microseconds per period).
    #[arg(long = "cpu-rt-runtime", value_name = "N", allow_hyphen_values = true)]
    cpu_rt_runtime: Option<i64>,
    /// SCHED_IDLE for the cgroup: 1 on, 0 off.
    #[arg(long = "cpu-idle", value_name = "N")]
    cpu_idle: Option<i64>,
    /// CPUs to use (`0-2,4`).
    #[arg(long = "cpuset-cpus", value_name = "LIST")]
    cpuset_cpus: Option<String>,
    /// Memory nodes to use.
    #[arg(long = "cpuset-mems", value_name = "LIST")]
    cpuset_mems: Option<String>,
    /// Kernel memory limit (obsolete; cgroup v1 kernels that still have it).
    #[arg(
        long = "kernel-memory",
        value_name = "BYTES",
        allow_hyphen_values = true
    )]
    kernel_memory: Option<String>,
    /// Kernel TCP buffer limit (obsolete; cgroup v1 kernels that still have it).
    #[arg(
        long = "kernel-memory-tcp",
        value_name = "BYTES",
        allow_hyphen_values = true
    )]
    kernel_memory_tcp: Option<String>,
    /// Memory limit.
    #[arg(long, value_name = "BYTES", allow_hyphen_values = true)]
    memory: Option<String>,
    /// Memory reservation (soft limit).
    #[arg(
        long = "memory-reservation",
        value_name = "BYTES",
        allow_hyphen_values = true
    )]
    memory_reservation: Option<String>,
    /// Memory plus swap limit; -1 for unlimited swap. Given alone, it is checked against the current memory limit.
    #[arg(long = "memory-swap", value_name = "BYTES", allow_hyphen_values = true)]
    memory_swap: Option<String>,
    /// Maximum number of processes (-1: unlimited; 0 leaves the limit unchanged, as in runc).
    #[arg(long = "pids-limit", value_name = "N", allow_hyphen_values = true)]
    pids_limit: Option<i64>,
    /// Intel RDT L3 cache schema (not supported).
    #[arg(long = "l3-cache-schema", value_name = "SCHEMA", hide = true)]
    l3_cache_schema: Option<String>,
    /// Intel RDT memory bandwidth schema (not supported).
    #[arg(long = "mem-bw-schema", value_name = "SCHEMA", hide = true)]
    mem_bw_schema: Option<String>,
    /// Container id.
    id: String,
}

impl UpdateArgs {
    /// The container id.
    pub fn id(&self) -> &str {
        &self.id
    }
}

/// Parses a byte count as runc does (docker's `RAMInBytes`): a decimal number with an optional binary suffix
/// `k`, `m`, `g`, `t`, `p` (any case, optionally followed by `b` or `ib`), or -1.
pub fn parse_bytes(s: &str) -> anyhow::Result<i64> {
    let t = s.trim();
    if t == "-1" {
        return Ok(-1);
    }
    let bad =
        || anyhow::anyhow!("invalid size {s:?}: expected bytes like 1048576, 64m or 1g, or -1");
    let lower = t.to_ascii_lowercase();
    let lower = lower.strip_suffix('b').unwrap_or(&lower);
    let lower = lower.strip_suffix('i').unwrap_or(lower);
    let (num, mult) = match lower.chars().last() {
        Some(c @ ('k' | 'm' | 'g' | 't' | 'p')) => {
            let shift = 10 * (1 + "kmgtp".find(c).unwrap_or(0) as u32);
            (lower[..lower.len() - 1].trim_end(), 1u128 << shift)
        }
        _ => (lower, 1u128),
    };
    if num.is_empty() || !num.chars().all(|c| c.is_ascii_digit() || c == '.') {
        return Err(bad());
    }
    let v: f64 = num.parse().map_err(|_| bad())?;
    let bytes = (v * mult as f64) as u128;
    i64::try_from(bytes).map_err(|_| bad())
}

/// The `linux.resources` object an `update` asks for: the `--resources` file, with the flags on top.
fn update_resources(a: &UpdateArgs) -> anyhow::Result<Value> {
    if a.l3_cache_schema.is_some() || a.mem_bw_schema.is_some() {
        bail!("--l3-cache-schema / --mem-bw-schema: Intel RDT is not supported by holm");
    }
    let mut r = match &a.resources {
        None => json!({}),
        Some(p) => {
            let mut text = String::new();
            if p.as_os_str() == "-" {
                std::io::stdin()
                    .read_to_string(&mut text)
                    .context("--resources -: read standard input")?;
            } else {
                text = std::fs::read_to_string(p)
                    .with_context(|| format!("--resources: read `{}`", p.display()))?;
            }
            let v: Value = serde_json::from_str(&text).context("--resources: invalid JSON")?;
            if !v.is_object() {
                bail!("--resources: expected a JSON object (linux.resources)");
            }
            let mut v = v;
            // runtime-spec 1.3: a `pids` without `limit` changes nothing (oci-spec would read it as a limit of 0).
            if v["pids"]
                .as_object()
                .is_some_and(|p| !p.contains_key("limit"))
            {
                v.as_object_mut().unwrap().remove("pids");
            }
            v
        }
    };
    let mut set = |section: &str, key: &str, v: Value| {
        if !r[section].is_object() {
            r[section] = json!({});
        }
        r[section][key] = v;
    };
    let bytes = |flag: &str, v: &Option<String>| -> anyhow::Result<Option<i64>> {
        v.as_deref()
            .map(|s| parse_bytes(s).with_context(|| format!("--{flag}")))
            .transpose()
    };
    if let Some(v) = a.blkio_weight {
        set("blockIO", "weight", json!(v));
    }
    if let Some(v) = a.cpu_period {
        set("cpu", "period", json!(v));
    }
    if let Some(v) = a.cpu_quota {
        set("cpu", "quota", json!(v));
    }
    if let Some(v) = a.cpu_share {
        set("cpu", "shares", json!(v));
    }
    if let Some(v) = a.cpu_rt_period {
        set("cpu", "realtimePeriod", json!(v));
    }
    if let Some(v) = a.cpu_rt_runtime {
        set("cpu", "realtimeRuntime", json!(v));
    }
    if let Some(v) = a.cpu_idle {
        set("cpu", "idle", json!(v));
    }
    if let Some(v) = &a.cpuset_cpus {
        set("cpu", "cpus", json!(v));
    }
    if let Some(v) = &a.cpuset_mems {
        set("cpu", "mems", json!(v));
    }
    for (flag, value, key) in [
        ("memory", &a.memory, "limit"),
        ("memory-reservation", &a.memory_reservation, "reservation"),
        ("memory-swap", &a.memory_swap, "swap"),
        ("kernel-memory", &a.kernel_memory, "kernel"),
        ("kernel-memory-tcp", &a.kernel_memory_tcp, "kernelTCP"),
    ] {
        if let Some(v) = bytes(flag, value)? {
            set("memory", key, json!(v));
        }
    }
    if let Some(v) = a.pids_limit {
        set("pids", "limit", json!(v));
    }
    Ok(r)
}

/// The `linux.resources` an `update` asks for (the `--resources` file with the flags on top), typed.
pub fn resources(a: &UpdateArgs) -> anyhow::Result<oci_spec::runtime::LinuxResources> {
    let r = update_resources(a)?;
    serde_json::from_value(r).context("invalid linux.resources")
}

/// `update [flags] ID`.
pub fn update(store: &Store, a: &UpdateArgs) -> anyhow::Result<()> {
    let r = resources(a)?;
    Ok(holm_container::cgroup_verbs::update(store, &a.id, &r)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_as_runc_parses_them() {
        assert_eq!(parse_bytes("1048576").unwrap(), 1 << 20);
        assert_eq!(parse_bytes("64m").unwrap(), 64 << 20);
        assert_eq!(parse_bytes("64M").unwrap(), 64 << 20);
        assert_eq!(parse_bytes("1g").unwrap(), 1 << 30);
        assert_eq!(parse_bytes("1GiB").unwrap(), 1 << 30);
        assert_eq!(parse_bytes("512kb").unwrap(), 512 << 10);
        assert_eq!(parse_bytes("1.5k").unwrap(), 1536);
        assert_eq!(parse_bytes("-1").unwrap(), -1);
        for bad in ["", "m", "-2", "12x", "1 2m", "abc"] {
            assert!(parse_bytes(bad).is_err(), "{bad}");
        }
    }
}

/// Output format of `ps`.
#[derive(Clone, Copy, clap::ValueEnum)]
pub enum PsFormat {
    /// `ps` output filtered to the container's processes.
    Table,
    /// A JSON array of host pids.
    Json,
}

/// runc's `ps` flags.
#[derive(Args)]
pub struct PsArgs {
    /// Output format.
    #[arg(short, long, value_enum, default_value_t = PsFormat::Table)]
    format: PsFormat,
    /// Container id.
    id: String,
    /// Options for ps(1) (default `-ef`), after the id or after `--`.
    #[arg(
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "PS_OPTIONS"
    )]
    ps_args: Vec<String>,
}

impl PsArgs {
    /// The container id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// True for `--format json`.
    pub fn json(&self) -> bool {
        matches!(self.format, PsFormat::Json)
    }
}

/// `ps [--format table|json] ID [ps options]`: as runc, runs `ps` on the host (default `ps -ef`) and prints its
/// header and the lines whose PID column is a process of the container; `--format json` prints the pids.
pub fn ps(store: &Store, a: &PsArgs) -> anyhow::Result<()> {
    let pids = holm_container::cgroup_verbs::pids(store, &a.id)?;
    if let PsFormat::Json = a.format {
        // runc encodes no pids (a stopped container) as Go's nil slice: `null`.
        if pids.is_empty() {
            println!("null");
        } else {
            println!("{}", serde_json::to_string(&pids)?);
        }
        return Ok(());
    }
    let args: Vec<&str> = if a.ps_args.is_empty() {
        vec!["-ef"]
    } else {
        a.ps_args.iter().map(String::as_str).collect()
    };
    let out = match std::process::Command::new("ps").args(&args).output() {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => bail!(
            "the `ps` program was not found on PATH: install Debian's procps package (ps runs it, as runc does)"
        ),
        r => r.with_context(|| format!("run `ps {}`", args.join(" ")))?,
    };
    if !out.status.success() {
        bail!(
            "`ps {}` failed ({}): {}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    print!(
        "{}",
        filter_ps(&String::from_utf8_lossy(&out.stdout), &pids)?
    );
    Ok(())
}

/// The header of `ps` output and the lines whose `PID` column is in `pids`.
pub fn filter_ps(text: &str, pids: &[i32]) -> anyhow::Result<String> {
    let mut lines = text.lines();
    let header = lines.next().unwrap_or_default();
    let col = header
        .split_whitespace()
        .position(|f| f == "PID")
        .with_context(|| format!("`ps` output has no PID column: {header:?}"))?;
    let mut out = format!("{header}\n");
    for line in lines.filter(|l| !l.trim().is_empty()) {
        let pid = line
            .split_whitespace()
            .nth(col)
            .and_then(|f| f.parse::<i32>().ok());
        if pid.is_some_and(|p| pids.contains(&p)) {
            out.push_str(line);
            out.push('\n');
        }
    }
    Ok(out)
}

#[cfg(test)]
mod ps_tests {
    use super::*;

    #[test]
    fn keeps_the_header_and_the_container_lines() {
        let text = "UID          PID    PPID  C STIME TTY          TIME CMD\n\
                    root           1       0  0 10:00 ?        00:00:01 /sbin/init\n\
                    root         412       1  0 10:01 ?        00:00:00 sleep 1000\n\
                    root        4120       1  0 10:01 ?        00:00:00 other\n";
        assert_eq!(
            filter_ps(text, &[412]).unwrap(),
            "UID          PID    PPID  C STIME TTY          TIME CMD\n\
             root         412       1  0 10:01 ?        00:00:00 sleep 1000\n"
        );
        assert!(filter_ps("USER COMMAND\nroot x\n", &[1]).is_err());
        // `ps -o pid,comm` puts PID first.
        assert_eq!(
            filter_ps("    PID COMMAND\n   7 sh\n   8 x\n", &[7]).unwrap(),
            "    PID COMMAND\n   7 sh\n"
        );
    }
}

/// runc's `events` flags.
#[derive(Args)]
pub struct EventsArgs {
    /// Print the container's stats once and exit.
    #[arg(long)]
    stats: bool,
    /// Interval between stats events (Go duration: `5s`, `500ms`, `1m`), more than 0.
    #[arg(
        long,
        default_value = "5s",
        value_name = "DURATION",
        allow_hyphen_values = true
    )]
    interval: String,
    /// Container id.
    id: String,
}

/// `--interval`: a Go duration ([`holm_container::duration`]) above 0. runc 1.1.5 refuses 0 and negative ones with
/// "duration interval must be greater than 0" (exit 1); so does holm (0 would poll without pause).
fn parse_interval(s: &str) -> anyhow::Result<std::time::Duration> {
    match holm_container::duration::parse(s) {
        Ok(d) if !d.is_zero() => Ok(d),
        Ok(_) | Err(holm_container::duration::DurationError::Negative(_)) => {
            bail!("--interval {s}: duration interval must be greater than 0")
        }
        Err(e) => bail!("--interval: {e}"),
    }
}

/// `events [--stats] [--interval D] ID`: runc's JSON events, one per line.
pub fn events(store: &Store, a: &EventsArgs) -> anyhow::Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let mut print = |e: &holm_container::cgroup_verbs::Event| -> holm_container::Result<()> {
        let line = serde_json::to_string(e)
            .map_err(|e| holm_container::Error::Invalid(format!("encode event: {e}")))?;
        writeln!(out, "{line}")
            .and_then(|()| out.flush())
            .map_err(|e| holm_container::Error::io("write", "standard output", e))
    };
    let interval = parse_interval(&a.interval)?;
    if a.stats {
        print(&holm_container::cgroup_verbs::stats(store, &a.id)?)?;
        return Ok(());
    }
    // A VM's guest OOM kills: its shim records the agent's count in the state directory.
    let vm = crate::vm_cmds::is_vm(store, &a.id);
    let dir = store.root().join(&a.id);
    let guest_ooms = || {
        if vm {
            holm_vm::shim_api::read_oom_kills(&dir)
        } else {
            0
        }
    };
    Ok(holm_container::cgroup_verbs::events(
        store,
        &a.id,
        interval,
        &guest_ooms,
        &mut print,
    )?)
}
