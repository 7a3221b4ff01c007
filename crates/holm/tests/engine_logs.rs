//! `holm logs` of any size and the monitor's log writing (issue 12): a large json-file log read in full and with
//! `--tail 1` in bounded memory (peak RSS from `/usr/bin/time`), docker's json-file rotation (`--log-opt
//! max-size/max-file`: the files, `logs` in order across them, `-f` across rotations, `inspect`), and the monitor
//! writing what one read brought in with few `write(2)`s (counted in /proc/PID/io).

#[path = "../../image/tests/common/mod.rs"]
mod common;
mod engine_common;

use engine_common::{wait_until, Engine, IMAGE};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

/// The container's log path from `inspect`.
fn log_path(e: &Engine, c: &str) -> PathBuf {
    PathBuf::from(e.inspect(c)["LogPath"].as_str().unwrap())
}

/// Runs `holm ARGS` under `/usr/bin/time`, its stdout counted and dropped: (stdout bytes, stdout lines, the last
/// line, peak RSS in KiB).
fn measured(e: &Engine, args: &[&str]) -> (u64, u64, String, u64) {
    let id = holm_testkit::unique_id("m");
    let rss_file = e.tmp.path().join(format!("rss-{id}"));
    // stderr (the log's stderr records) to a file: a pipe nobody reads would block holm.
    let err_file = e.tmp.path().join(format!("err-{id}"));
    let mut cmd = std::process::Command::new("/usr/bin/time");
    cmd.arg("-f")
        .arg("%M")
        .arg("-o")
        .arg(&rss_file)
        .arg(env!("CARGO_BIN_EXE_holm"))
        .arg("--root")
        .arg(&e.root)
        .arg("--runroot")
        .arg(&e.runroot)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&err_file).unwrap());
    let mut child = cmd.spawn().unwrap();
    let mut out = child.stdout.take().unwrap();
    let (mut bytes, mut lines) = (0u64, 0u64);
    let mut last = Vec::new();
    let mut cur = Vec::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = out.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        bytes += n as u64;
        for &b in &buf[..n] {
            if b == b'\n' {
                lines += 1;
                last = std::mem::take(&mut cur);
            } else if cur.len() < 4096 {
                cur.push(b);
            }
        }
    }
    let status = child.wait().unwrap();
    let err = std::fs::read(&err_file).unwrap();
    let _ = std::fs::remove_file(&err_file);
    assert!(
        status.success(),
        "holm {args:?}: {}",
        String::from_utf8_lossy(&err[err.len().saturating_sub(1000)..])
    );
    let rss: u64 = std::fs::read_to_string(&rss_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    (bytes, lines, String::from_utf8(last).unwrap(), rss)
}

/// One json-file record as the monitor writes it.
fn record(text: &str, stream: &str, time: &str) -> String {
    format!("{{\"log\":\"{text}\\n\",\"stream\":\"{stream}\",\"time\":\"{time}\"}}\n")
}

#[test]
fn a_large_log_is_read_in_full_and_tailed_in_bounded_memory() {
    let e = Engine::new();
    e.ok(&["create", "--name", "big", IMAGE, "true"]);
    let path = log_path(&e, "big");
    // 1 GiB of ~100-byte records (some stderr, as the issue asks), written straight into the container's log file.
    const TARGET: u64 = 1 << 30;
    let mut chunk = String::new();
    let mut n = 0u64;
    while chunk.len() < 1 << 20 {
        let stream = if n % 7 == 3 { "stderr" } else { "stdout" };
        chunk.push_str(&record(
            &format!("line {n:08} of the big log, padded to about a hundred bytes"),
            stream,
            "2026-01-01T00:00:00.000000001Z",
        ));
        n += 1;
    }
    let stdout_per_chunk: u64 = chunk
        .lines()
        .filter(|l| l.contains("stdout"))
        .map(|l| {
            l.split("\"log\":\"")
                .nth(1)
                .unwrap()
                .split("\\n")
                .next()
                .unwrap()
                .len() as u64
                + 1
        })
        .sum();
    let chunks = TARGET / chunk.len() as u64;
    {
        let mut f = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
        for _ in 0..chunks {
            f.write_all(chunk.as_bytes()).unwrap();
        }
        f.write_all(record("the last line", "stdout", "2026-01-01T00:00:01.000000000Z").as_bytes())
            .unwrap();
        f.flush().unwrap();
    }
    assert!(std::fs::metadata(&path).unwrap().len() >= TARGET - (1 << 20));

    // A baseline: the same binary doing a small command.
    let (_, _, _, base) = measured(&e, &["ps", "-a"]);

    let (bytes, lines, last, rss) = measured(&e, &["logs", "--tail", "1", "big"]);
    assert_eq!((bytes, lines, last.as_str()), (14, 1, "the last line"));
    assert!(
        rss < base + 8 * 1024,
        "logs --tail 1 of a 1 GiB log: peak RSS {rss} KiB (ps: {base} KiB)"
    );

    // In full: every stdout line, in order (stderr goes to stderr, not counted here), memory bounded.
    let (bytes, lines, last, rss) = measured(&e, &["logs", "big"]);
    assert_eq!(last, "the last line");
    assert_eq!(
        lines,
        chunks * (chunk.lines().filter(|l| l.contains("stdout")).count() as u64) + 1
    );
    assert_eq!(bytes, chunks * stdout_per_chunk + 14);
    assert!(
        rss < base + 8 * 1024,
        "logs of a 1 GiB log: peak RSS {rss} KiB (ps: {base} KiB)"
    );

    // --since after every record but the last one, -t.
    let (_, lines, last, rss) = measured(
        &e,
        &["logs", "-t", "--since", "2026-01-01T00:00:00.5Z", "big"],
    );
    assert_eq!(
        (lines, last.as_str()),
        (1, "2026-01-01T00:00:01.000000000Z the last line")
    );
    assert!(rss < base + 8 * 1024, "logs --since: peak RSS {rss} KiB");
}

/// The numbers `seq` printed that `text` holds, in order.
fn numbers(text: &str) -> Vec<u32> {
    text.lines().map(|l| l.trim().parse().unwrap()).collect()
}

#[test]
fn rotation_as_docker_json_file() {
    let e = Engine::new();
    e.ok(&[
        "run",
        "--name",
        "rot",
        "--log-opt",
        "max-size=2k",
        "--log-opt",
        "max-file=3",
        IMAGE,
        "seq",
        "1",
        "300",
    ]);
    let path = log_path(&e, "rot");
    let file = |n: u32| {
        if n == 0 {
            path.clone()
        } else {
            PathBuf::from(format!("{}.{n}", path.display()))
        }
    };
    for n in 0..3 {
        assert!(file(n).exists(), "{} missing", file(n).display());
    }
    assert!(!file(3).exists(), "max-file=3 keeps 3 files");
    for n in 1..3 {
        // Rotated once it reached 2,000 bytes (docker's decimal k): at most one record more.
        let len = std::fs::metadata(file(n)).unwrap().len();
        assert!(
            (2000..2100).contains(&len),
            "{}: {len} bytes",
            file(n).display()
        );
    }
    let records: usize = (0..3)
        .map(|n| std::fs::read_to_string(file(n)).unwrap().lines().count())
        .sum();
    assert!(records < 300);
    // logs reads .2, .1, then the live file: the last records, in order.
    let got = numbers(&e.ok(&["logs", "rot"]));
    let want: Vec<u32> = (301 - records as u32..=300).collect();
    assert_eq!(got, want);
    // --tail beyond the live file's records reaches into .1 (about 26 records a file).
    let tail: Vec<u32> = (251..=300).collect();
    assert_eq!(numbers(&e.ok(&["logs", "--tail", "50", "rot"])), tail);
    assert_eq!(numbers(&e.ok(&["logs", "--tail", "1000", "rot"])), want);
    let cfg = &e.inspect("rot")["HostConfig"]["LogConfig"];
    assert_eq!(cfg["Type"], "json-file");
    assert_eq!(
        cfg["Config"],
        serde_json::json!({"max-size": "2k", "max-file": "3"})
    );

    // max-file 1 (the default): the file is emptied when it reaches max-size.
    e.ok(&[
        "run",
        "--name",
        "one",
        "--log-opt",
        "max-size=1k",
        IMAGE,
        "seq",
        "1",
        "100",
    ]);
    let one = log_path(&e, "one");
    assert!(std::fs::metadata(&one).unwrap().len() < 1100);
    assert!(!Path::new(&format!("{}.1", one.display())).exists());
    let got = numbers(&e.ok(&["logs", "one"]));
    assert_eq!(got.last(), Some(&100));
    assert!(
        got.len() < 100 && got.windows(2).all(|w| w[1] == w[0] + 1),
        "{got:?}"
    );

    // Bad options: one line naming the option, exit 125, nothing created.
    for (opts, why) in [
        (&["--log-opt", "max-file=3"][..], "max-file needs max-size"),
        (&["--log-opt", "max-size=abc"], "invalid size: 'abc'"),
        (
            &["--log-opt", "max-size=0"],
            "max-size must be a positive number",
        ),
        (
            &["--log-opt", "max-size=1k", "--log-opt", "max-file=0"],
            "max-file cannot be less than 1",
        ),
        (
            &["--log-opt", "compress=true"],
            "unknown log opt 'compress' for json-file log driver",
        ),
        (
            &["--log-driver", "none", "--log-opt", "max-size=1k"],
            "invalid logging opts for driver none",
        ),
    ] {
        let mut a = vec!["run", "--name", "bad"];
        a.extend_from_slice(opts);
        a.extend_from_slice(&[IMAGE, "true"]);
        let (_, err) = e.code(125, &a);
        assert!(
            err.contains(why) && err.contains("--log-opt"),
            "{opts:?}: {err}"
        );
        assert_eq!(err.trim().lines().count(), 1, "{err}");
    }
    let names = e.ok(&["ps", "-a", "--format", "{{.Names}}"]);
    assert!(!names.contains("bad"), "{names}");
}

#[test]
fn follow_reads_across_rotations() {
    let e = Engine::new();
    // 300 lines, 5 every 0.1 s, so that the follower (which polls every 0.1 s) sees many rotations, and the 10
    // files of ~13 records (~2.6 s of output) leave it slack on a loaded machine.
    let script = "echo ready; while [ ! -e /tmp/go ]; do sleep 0.05; done; \
                  i=0; while [ $i -lt 300 ]; do echo line$i; i=$((i+1)); \
                  [ $((i % 5)) -eq 0 ] && sleep 0.1; done; echo end";
    let id = e.detached(&[
        "--name",
        "fol",
        "--log-opt",
        "max-size=1k",
        "--log-opt",
        "max-file=10",
        IMAGE,
        "sh",
        "-c",
        script,
    ]);
    let mut f = e.spawn(&["logs", "-f", "fol"]);
    let mut out = BufReader::new(f.stdout.take().unwrap());
    let mut first = String::new();
    out.read_line(&mut first).unwrap();
    assert_eq!(first, "ready\n");
    e.ok(&["exec", "fol", "touch", "/tmp/go"]);
    let mut rest = String::new();
    out.read_to_string(&mut rest).unwrap();
    assert!(f.wait().unwrap().success());
    let want: String = (0..300)
        .map(|i| format!("line{i}\n"))
        .chain(["end\n".to_string()])
        .collect();
    assert_eq!(rest, want);
    // The files kept far fewer lines than were followed: the follower did cross rotations.
    let path = log_path(&e, &id);
    let kept: usize = (0..10)
        .map(|n| {
            let p = if n == 0 {
                path.clone()
            } else {
                PathBuf::from(format!("{}.{n}", path.display()))
            };
            std::fs::read_to_string(p).map_or(0, |t| t.lines().count())
        })
        .sum();
    assert!(kept < 200, "{kept} records kept");
    assert!(Path::new(&format!("{}.9", path.display())).exists());
}

#[test]
fn the_monitor_writes_a_read_at_once() {
    let e = Engine::new();
    // 200,000 lines of 41 bytes, then the container waits.
    e.detached(&[
        "--name",
        "yes",
        IMAGE,
        "sh",
        "-c",
        "yes 0123456789012345678901234567890123456789 | head -c 8200000; echo done; sleep 1000",
    ]);
    let path = log_path(&e, "yes");
    wait_until(Duration::from_secs(60), "the log holds everything", || {
        std::fs::read(&path).is_ok_and(|t| {
            let end = &t[t.len().saturating_sub(200)..];
            String::from_utf8_lossy(end).contains(r#""log":"done\n""#)
        })
    });
    let monitors = e.monitors();
    assert_eq!(monitors.len(), 1, "{monitors:?}");
    let io = std::fs::read_to_string(format!("/proc/{}/io", monitors[0])).unwrap();
    let syscw: u64 = io
        .lines()
        .find_map(|l| l.strip_prefix("syscw: "))
        .unwrap()
        .parse()
        .unwrap();
    let lines = std::fs::read_to_string(&path).unwrap().lines().count() as u64;
    assert_eq!(lines, 200_001);
    // One write per line before; now one per read (16 KiB) or per 64 KiB of records.
    assert!(syscw < lines / 50, "{syscw} writes for {lines} lines");
    e.ok(&["rm", "-f", "yes"]);
}

#[test]
fn an_unreadable_log_is_named_and_an_overlong_line_skipped() {
    let e = Engine::new();
    e.ok(&["run", "--name", "odd", IMAGE, "echo", "first"]);
    let path = log_path(&e, "odd");
    // A line far longer than any the monitor writes (a corrupt file), then a record: the record is still read.
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap();
    f.write_all(b"{\"log\":\"").unwrap();
    f.write_all(&vec![b'Z'; 20 << 20]).unwrap();
    f.write_all(b"\\n\",\"stream\":\"stdout\",\"time\":\"2030-01-01T00:00:00Z\"}\n")
        .unwrap();
    f.write_all(record("last", "stdout", "2030-01-01T00:00:01Z").as_bytes())
        .unwrap();
    drop(f);
    assert_eq!(e.ok(&["logs", "odd"]), "first\nlast\n");
    assert_eq!(e.ok(&["logs", "--tail", "1", "odd"]), "last\n");
    // A log path that cannot be read: one line naming it, exit 1.
    std::fs::remove_file(&path).unwrap();
    std::fs::create_dir(&path).unwrap();
    let (_, err) = e.code(1, &["logs", "odd"]);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains(&format!("reading log file {}: ", path.display())),
        "{err}"
    );
    std::fs::remove_dir(&path).unwrap();
}
