//! Crashes of `holm` and of monitors: what is left must be visible (`ps -a`) and removable (`rm -f`, `container
//! prune`), and what is recorded about the exit must agree with itself (`ps`, `wait`, `inspect`).

#[path = "../../image/tests/common/mod.rs"]
mod common;
mod engine_common;

use engine_common::{cgroup_dirs, Engine, IMAGE};
use std::process::Stdio;
use std::time::Duration;

fn veth_exists(id: &str) -> bool {
    std::path::Path::new("/sys/class/net")
        .join(format!("veth{}", &id[..11]))
        .exists()
}

fn leased(id: &str) -> bool {
    std::fs::read_to_string("/run/holm-network/leases.json").is_ok_and(|s| s.contains(id))
}

fn dir_names(p: &std::path::Path) -> Vec<String> {
    std::fs::read_dir(p)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.len() == 64)
                .collect()
        })
        .unwrap_or_default()
}

/// `holm run` killed with SIGKILL at any moment of its create/start: every container directory or snapshot it
/// made belongs to a container `ps -a` lists, and `rm -f` plus `container prune` leave no mount, directory,
/// snapshot, cgroup, veth or address lease.
#[test]
fn run_killed_early_leaves_only_what_ps_shows_and_rm_cleans() {
    let e = Engine::new();
    let mut n = 0;
    for round in 0..3 {
        for delay_ms in [1u64, 3, 5, 8, 12, 16, 20, 25, 30, 40, 60] {
            n += 1;
            let name = format!("crash{n}");
            let mut c = e
                .cmd(&["run", "-d", "--name", &name, IMAGE, "sleep", "300"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap();
            std::thread::sleep(Duration::from_millis(delay_ms + round));
            let _ = c.kill();
            let _ = c.wait();
        }
    }
    // Everything on disk belongs to a listed container.
    let listed = e.ok(&["ps", "-aq", "--no-trunc"]);
    let mut on_disk = dir_names(&e.root.join("containers"));
    on_disk.extend(dir_names(&e.root.join("image/snapshots")));
    for id in &on_disk {
        assert!(
            listed.contains(id.as_str()),
            "{id} has a directory or snapshot but `ps -a` does not show it:\n{listed}"
        );
    }
    let mut ids: Vec<String> = listed.split_whitespace().map(str::to_string).collect();
    ids.extend(on_disk);
    ids.sort();
    ids.dedup();
    for id in listed.split_whitespace() {
        let o = e.run(&["rm", "-f", id]);
        assert!(
            o.status.success(),
            "rm -f {id}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
    e.ok(&["container", "prune", "-f"]);
    assert_eq!(e.ok(&["ps", "-aq"]).trim(), "", "containers left");
    for id in &ids {
        e.assert_gone(id);
        assert!(cgroup_dirs(id).is_empty(), "cgroup of {id} left");
        assert!(!veth_exists(id), "veth of {id} left");
        assert!(!leased(id), "lease of {id} left");
        assert!(
            !std::path::Path::new("/run/holm-network/containers")
                .join(format!("{id}.json"))
                .exists(),
            "network state of {id} left"
        );
    }
    assert!(e.mounts().is_empty(), "mounts left: {:?}", e.mounts());
    assert!(dir_names(&e.root.join("image/snapshots")).is_empty());
    // The image is not held by anything.
    e.ok(&["rmi", IMAGE]);
}
