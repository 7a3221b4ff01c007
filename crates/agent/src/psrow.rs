//! `ps -ef`'s view of the container's processes, read from the guest's `/proc` (no `ps` binary in the guest): the
//! rows of [`holm_vm_proto::Event::Ps`].

use holm_vm_proto::{PsRow, MAX_PS_CMD, MAX_PS_ROWS};

/// Clock ticks per second of `/proc/PID/stat`'s times: USER_HZ, 100 on Linux whatever the kernel's HZ.
const HZ: u64 = 100;

/// The rows of the first [`MAX_PS_ROWS`] of `pids` that still exist.
pub fn rows(pids: &[i32]) -> Vec<PsRow> {
    let btime = std::fs::read_to_string("/proc/stat")
        .ok()
        .and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("btime ")?.trim().parse::<u64>().ok())
        })
        .unwrap_or(0);
    let uptime = std::fs::read_to_string("/proc/uptime")
        .ok()
        .and_then(|t| t.split_whitespace().next()?.parse::<f64>().ok())
        .unwrap_or(0.0);
    pids.iter()
        .take(MAX_PS_ROWS)
        .filter_map(|&p| row(p, btime, uptime, HZ))
        .collect()
}

fn row(pid: i32, btime: u64, uptime: f64, hz: u64) -> Option<PsRow> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let comm = stat.get(stat.find('(')? + 1..stat.rfind(')')?)?.to_string();
    // Fields after the command: state(3) ppid(4) pgrp session tty_nr(7) ... utime(14) stime(15) ... starttime(22).
    let f: Vec<&str> = stat.get(stat.rfind(')')? + 2..)?.split(' ').collect();
    let num = |i: usize| f.get(i - 3).and_then(|v| v.parse::<u64>().ok());
    let ppid = i32::try_from(num(4)?).ok()?;
    let tty_nr = num(7)?;
    let cpu_ticks = num(14)? + num(15)?;
    let start_ticks = num(22)?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let uid = status
        .lines()
        .find_map(|l| {
            l.strip_prefix("Uid:")?
                .split_whitespace()
                .next()?
                .parse()
                .ok()
        })
        .unwrap_or(0);
    let elapsed = uptime - start_ticks as f64 / hz as f64;
    let cpu = if elapsed > 0.0 {
        ((cpu_ticks as f64 / hz as f64) * 100.0 / elapsed).min(99.0) as u8
    } else {
        0
    };
    // tty_nr: major in bits 8..15, minor in 0..7 and 20..31; 136..=143 are the pseudo-terminals.
    let (major, minor) = (
        (tty_nr >> 8) & 0xfff,
        (tty_nr & 0xff) | ((tty_nr >> 12) & 0xfff00),
    );
    let tty = match major {
        0 => "?".to_string(),
        136..=143 => format!("pts/{}", (major - 136) * 256 + minor),
        _ => format!("{major}:{minor}"),
    };
    let raw = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let mut cmd = String::from_utf8_lossy(&raw)
        .trim_end_matches('\0')
        .replace('\0', " ");
    if cmd.is_empty() {
        cmd = format!("[{comm}]");
    }
    let mut end = cmd.len().min(MAX_PS_CMD);
    while !cmd.is_char_boundary(end) {
        end -= 1;
    }
    cmd.truncate(end);
    Some(PsRow {
        pid,
        ppid,
        uid,
        cpu,
        start: btime + start_ticks / hz,
        tty,
        time: cpu_ticks / hz,
        cmd,
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn own_row() {
        let me = std::process::id() as i32;
        let r = super::rows(&[me]);
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].pid, me);
        assert!(r[0].ppid > 0);
        assert!(
            r[0].cmd.contains("psrow") || !r[0].cmd.is_empty(),
            "{:?}",
            r[0]
        );
        assert!(r[0].start > 1_600_000_000, "{:?}", r[0]);
    }
}
