//! Ten VM containers at once (issue 13): ten `run`s of a busybox bundle in parallel, each in its own VM; all exit
//! 0 with the guest kernel's release on stdout, and none leaves anything behind. Under TCG on a small host this
//! is mostly a test of contention: boots slow down, none may fail.

mod lifecycle_util;
mod vm_support;

use holm_testkit::{unique_id, Bundle};
use lifecycle_util::*;
use vm_support::*;

const N: usize = 10;

#[test]
fn ten_vm_containers_in_parallel() {
    let rt = vm_runtime();
    let host = host_release();
    let jobs: Vec<(String, Bundle)> = (0..N)
        .map(|i| {
            let mut b = Bundle::busybox();
            b.set_args(&["sh", "-c", &format!("echo vm-{i}; uname -r")]);
            // A small guest: ten of them share this host's memory.
            b.config_mut()["linux"]["resources"] =
                serde_json::json!({"memory": {"limit": 128u64 << 20}});
            b.write_config();
            (unique_id("vm-par"), b)
        })
        .collect();
    let _guards: Vec<_> = jobs.iter().map(|(id, _)| rt.guard(id)).collect();
    let outs = std::thread::scope(|s| {
        let hs: Vec<_> = jobs
            .iter()
            .map(|(id, b)| {
                let rt = &rt;
                s.spawn(move || {
                    rt.run(&[
                        "--isolation",
                        "vm",
                        "run",
                        "--bundle",
                        path_str(b.path()),
                        id,
                    ])
                })
            })
            .collect();
        hs.into_iter()
            .map(|h| h.join().unwrap())
            .collect::<Vec<_>>()
    });
    for (i, ((id, b), out)) in jobs.iter().zip(&outs).enumerate() {
        let o = stdout(out);
        assert_eq!(
            out.status.code(),
            Some(0),
            "VM {i} ({id}): stdout {o}\nstderr {}",
            stderr(out)
        );
        let lines: Vec<&str> = o.lines().collect();
        assert_eq!(
            lines.first().copied(),
            Some(format!("vm-{i}").as_str()),
            "{o}"
        );
        assert!(lines.len() == 2 && lines[1] != host, "VM {i}: {o}");
        assert_no_trace(&rt, id, b.path());
    }
}
