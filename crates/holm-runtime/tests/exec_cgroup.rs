//! Issue 11: `exec` lands in the init's cgroup in every hierarchy, also after the init moved to a sub-cgroup of
//! the container's cgroup, and `exec --cgroup PATH | CONTROLLER:PATH` (runc's flag) picks a sub-cgroup. Each
//! test reads the exec'd process's `/proc/PID/cgroup` from the host, line by line (one per hierarchy), on this
//! hybrid host (v1 controllers + cgroup2) and on a cgroup2-only view of it ([`cgroups_support::v2_runtime`]).

mod cgroups_support;

use std::path::PathBuf;

use cgroups_support::*;
use holm_testkit::{unique_id, wait_until, Bundle, Runtime};

/// The host's cgroup mounts: (mount point, super options or `None` for cgroup2).
fn mounts() -> Vec<(PathBuf, Option<Vec<String>>)> {
    let text = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            let sep = f.iter().position(|x| *x == "-")?;
            let (fstype, opts) = (f[sep + 1], f[sep + 3]);
            let mp = PathBuf::from(f[4]);
            match fstype {
                "cgroup2" => Some((mp, None)),
                "cgroup" => Some((mp, Some(opts.split(',').map(str::to_owned).collect()))),
                _ => None,
            }
        })
        .collect()
}

/// `/proc/PID/cgroup` as (controllers, path) lines.
fn cgroups_of(pid: i32) -> Vec<(String, String)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    text.lines()
        .map(|l| {
            let mut p = l.splitn(3, ':');
            let _ = p.next();
            (p.next().unwrap().to_string(), p.next().unwrap().to_string())
        })
        .collect()
}

/// The host directory of cgroup `path` in the hierarchy `/proc/PID/cgroup` names `ctrls` (`""` for v2).
fn host_dir(ctrls: &str, path: &str) -> PathBuf {
    let mp = mounts()
        .into_iter()
        .find(|(_, opts)| match opts {
            None => ctrls.is_empty(),
            Some(o) => !ctrls.is_empty() && ctrls.split(',').all(|c| o.iter().any(|x| x == c)),
        })
        .unwrap_or_else(|| panic!("no mount for hierarchy `{ctrls}`"))
        .0;
    mp.join(path.trim_start_matches('/'))
}

/// Creates `<container cgroup>/<sub>` in every hierarchy the container `id` (init `pid`) has its own cgroup in
/// (lines ending in `/holm/<id>` or below), copying the cpuset of the parent where needed; moves `pid` there
/// too if `move_init`. Returns how many hierarchies that was.
fn make_sub(pid: i32, id: &str, sub: &str, move_init: bool) -> usize {
    let top = format!("/holm/{id}");
    let mut n = 0;
    for (ctrls, path) in cgroups_of(pid) {
        if !(path == top || path.starts_with(&format!("{top}/"))) {
            continue;
        }
        let dir = host_dir(&ctrls, &format!("{top}/{sub}"));
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("mkdir {}: {e}", dir.display()));
        if ctrls.split(',').any(|c| c == "cpuset") {
            for f in ["cpuset.cpus", "cpuset.mems"] {
                let v = std::fs::read_to_string(dir.parent().unwrap().join(f)).unwrap();
                std::fs::write(dir.join(f), v.trim()).unwrap();
            }
        }
        if move_init {
            std::fs::write(dir.join("cgroup.procs"), pid.to_string())
                .unwrap_or_else(|e| panic!("move {pid} to {}: {e}", dir.display()));
        }
        n += 1;
    }
    n
}

/// A running `sleep` container; (guard, id, init pid, bundle).
fn start<'a>(
    rt: &'a Runtime,
    prefix: &str,
) -> (holm_testkit::ContainerGuard<'a>, String, i32, Bundle) {
    let mut b = Bundle::busybox();
    b.set_args(&["sleep", "1000"]);
    b.write_config();
    let id = unique_id(prefix);
    let g = rt.guard(&id);
    rt.ok(&["run", "--detach", "--bundle", &path_arg(&b), &id]);
    let pid = rt.state(&id)["pid"].as_i64().unwrap() as i32;
    (g, id, pid, b)
}

/// `exec -d [flags] ID sleep 1000`; the exec'd process's host pid.
fn exec_sleep(rt: &Runtime, id: &str, flags: &[&str]) -> i32 {
    let dir = tempfile::tempdir().unwrap();
    let pf = dir.path().join("pid");
    let pfs = pf.to_str().unwrap();
    let mut args = vec!["exec", "--detach", "--pid-file", pfs];
    args.extend_from_slice(flags);
    args.extend_from_slice(&[id, "sleep", "1000"]);
    rt.ok(&args);
    wait_until(std::time::Duration::from_secs(5), "the pid file", || {
        pf.exists()
    });
    std::fs::read_to_string(&pf)
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

/// For every line of the exec'd process: the container's lines (below `/holm/<id>`) are `want(init's path)`;
/// all other lines equal the init's.
fn check(init: i32, pid: i32, id: &str, want: impl Fn(&str, &str) -> String) {
    let top = format!("/holm/{id}");
    let (a, b) = (cgroups_of(init), cgroups_of(pid));
    assert_eq!(a.len(), b.len(), "{a:?}\n{b:?}");
    for ((ca, pa), (cb, pb)) in a.iter().zip(&b) {
        assert_eq!(ca, cb);
        let expect = if pa.starts_with(&top) {
            want(ca, pa)
        } else {
            pa.clone()
        };
        assert_eq!(pb, &expect, "hierarchy `{ca}`: init {a:?}\nexec {b:?}");
    }
}

/// The shared scenario; `v1`: the container has v1 hierarchies (at least 5 here) besides cgroup2.
fn scenario(rt: &Runtime, tag: &str, v1: bool) {
    let (_g, id, init, _b) = start(rt, tag);
    let top = format!("/holm/{id}");
    let n = make_sub(init, &id, "sub", true);
    assert!(n >= 1 && (!v1 || n >= 5), "container hierarchies: {n}");
    // The init really moved everywhere, so a pass below is not the top cgroup by accident.
    let moved = cgroups_of(init)
        .iter()
        .filter(|(_, p)| *p == format!("{top}/sub"))
        .count();
    assert_eq!(moved, n, "{:?}", cgroups_of(init));

    // No flag: the init's cgroup in every hierarchy.
    let pid = exec_sleep(rt, &id, &[]);
    check(init, pid, &id, |_, p| p.to_string());

    // --cgroup sub2: that sub-cgroup everywhere.
    make_sub(init, &id, "sub2", false);
    let pid = exec_sleep(rt, &id, &["--cgroup", "sub2"]);
    check(init, pid, &id, |_, _| format!("{top}/sub2"));

    // --cgroup /: the container's own cgroup.
    let pid = exec_sleep(rt, &id, &["--cgroup", "/"]);
    check(init, pid, &id, |_, _| top.clone());

    // A sub-cgroup that does not exist, or a path leaving the container's cgroup: refused (255), naming it.
    for (flag, what) in [("nosuch", "nosuch"), ("../x", "--cgroup ../x")] {
        let out = rt.run(&["exec", "--cgroup", flag, &id, "true"]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(255), "{flag}: {err}");
        assert!(err.contains(what), "{flag}: {err}");
    }

    if v1 {
        // memory:sub2 (v1): memory there, every other hierarchy where the init is.
        let pid = exec_sleep(rt, &id, &["--cgroup", "memory:sub2"]);
        check(init, pid, &id, |c, p| {
            if c.split(',').any(|x| x == "memory") {
                format!("{top}/sub2")
            } else {
                p.to_string()
            }
        });
        let out = rt.run(&["exec", "--cgroup", "nosuchctl:sub2", &id, "true"]);
        assert_eq!(out.status.code(), Some(255));
        assert!(String::from_utf8_lossy(&out.stderr).contains("nosuchctl"));
    } else {
        let out = rt.run(&["exec", "--cgroup", "memory:sub2", &id, "true"]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(255), "{err}");
        assert!(err.contains("--cgroup memory:"), "{err}");
    }
}

#[test]
fn exec_follows_the_init_and_takes_cgroup_on_v1_hybrid() {
    scenario(&runtime(), "exec-cg-v1", true);
}

#[test]
fn exec_follows_the_init_and_takes_cgroup_on_v2() {
    scenario(&v2_runtime(), "exec-cg-v2", false);
}
