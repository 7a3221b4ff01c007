//! `holm-runtime ps` of a VM container in runc's table form: `ps -ef`'s columns (UID PID PPID C STIME TTY TIME
//! CMD) for the guest's processes, from the agent's [`PsRow`]s (guest pids; the guest's clock is the host's).

use holm_vm_proto::PsRow;

/// The header `ps -ef` prints (procps).
pub const HEADER: &str = "UID          PID    PPID  C STIME TTY          TIME CMD";

/// The table: [`HEADER`], then one line per pid of `pids` (in order) from its row in `rows`, or with `?` columns
/// when the agent sent none for it. `now` is the current Unix time in seconds (STIME is `HH:MM` for a process
/// started within the last 24 hours, else `MonDD`, in local time as ps prints it); `user` names a uid.
pub fn table(pids: &[i32], rows: &[PsRow], now: u64, user: &dyn Fn(u32) -> String) -> String {
    // The guest is untrusted and ps prints a control character as `?`: no newline or escape reaches the host's
    // terminal.
    let clean = |s: &str| -> String {
        s.chars()
            .map(|c| if c.is_control() { '?' } else { c })
            .collect()
    };
    let mut out = format!("{HEADER}\n");
    for &pid in pids {
        match rows.iter().find(|r| r.pid == pid) {
            Some(r) => out.push_str(&format!(
                "{:<8} {:>7} {:>7} {:>2} {:<5} {:<8} {:>8} {}\n",
                user(r.uid),
                r.pid,
                r.ppid,
                r.cpu,
                stime(r.start, now),
                clean(&r.tty),
                cpu_time(r.time),
                clean(&r.cmd)
            )),
            None => out.push_str(&format!(
                "{:<8} {:>7} {:>7} {:>2} {:<5} {:<8} {:>8} {}\n",
                "?", pid, "?", "?", "?", "?", "?", "?"
            )),
        }
    }
    out
}

/// ps's TIME: `HH:MM:SS`, with `D-` in front from a day on.
fn cpu_time(secs: u64) -> String {
    let (d, h, m, s) = (secs / 86_400, secs / 3600 % 24, secs / 60 % 60, secs % 60);
    if d > 0 {
        format!("{d}-{h:02}:{m:02}:{s:02}")
    } else {
        format!("{h:02}:{m:02}:{s:02}")
    }
}

/// ps's STIME in local time (the host's zone: `holm_sys::process::local_utc_offset`): `HH:MM` within 24 hours of
/// `now`, else `MonDD`.
fn stime(start: u64, now: u64) -> String {
    let t = i64::try_from(start).unwrap_or(0);
    let local = t + holm_sys::process::local_utc_offset(t);
    let (days, secs) = (local.div_euclid(86_400), local.rem_euclid(86_400));
    if now.saturating_sub(start) < 86_400 {
        return format!("{:02}:{:02}", secs / 3600, secs / 60 % 60);
    }
    // Days since 1970-01-01 to month and day (Howard Hinnant's civil_from_days).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let mon = MONTHS[usize::try_from(month - 1).unwrap_or(0).min(11)];
    format!("{mon}{day:02}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_in_ps_ef_columns() {
        let rows = [PsRow {
            pid: 1,
            ppid: 0,
            uid: 0,
            cpu: 2,
            start: 1_000_000,
            tty: "?".into(),
            time: 90_061,
            cmd: "sleep\n100\u{1b}[2J".into(),
        }];
        let user = |u: u32| if u == 0 { "root".into() } else { u.to_string() };
        let t = table(&[1, 7], &rows, 1_000_100, &user);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines[0], HEADER);
        assert!(lines[1].starts_with("root           1       0  2 "), "{t}");
        assert!(
            lines[1].ends_with(" ?        1-01:01:01 sleep?100?[2J"),
            "{t}"
        );
        assert!(lines[2].contains("      7       ?"), "{t}");
        assert_eq!(cpu_time(3_725), "01:02:05");
        assert_eq!(stime(1_000_000, 1_000_000 + 2 * 86_400).len(), 5);
        // 2026-12-07 12:00 UTC, shown two days later: its date (in a zone within 12 hours of UTC).
        let s = stime(1_796_644_800, 1_796_644_800 + 2 * 86_400);
        assert!(["Dec07", "Dec06", "Dec08"].contains(&s.as_str()), "{s}");
    }
}
