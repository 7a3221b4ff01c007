//! Listing verbs as docker's: a reader that goes away (`holm ps -q | head -1`) ends them silently, killed by
//! SIGPIPE (no `Error: Broken pipe`, no exit status 1); `ps --filter status=` takes only docker's states.

#[path = "../../image/tests/common/mod.rs"]
mod common;
mod engine_common;

use engine_common::{Engine, IMAGE};
use std::io::Read;
use std::os::unix::process::ExitStatusExt;
use std::process::Stdio;

#[test]
fn listings_die_silently_on_a_closed_pipe() {
    let e = Engine::new();
    for i in 0..3 {
        e.ok(&["create", "--name", &format!("l{i}"), IMAGE]);
    }
    e.ok(&["run", "--name", "said", IMAGE, "echo", "hi"]);
    for args in [
        &["ps", "-a", "-q"][..],
        &["ps", "-a"],
        &["images"],
        &["inspect", "l0"],
        &["logs", "said"],
        &["volume", "ls"],
        &["version"],
        &["system", "df"],
        &["network", "ls"],
    ] {
        // the reading end is closed before holm writes anything
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let mut c = e
            .cmd(args)
            .stdout(Stdio::from(writer))
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut err = String::new();
        c.stderr.take().unwrap().read_to_string(&mut err).unwrap();
        let st = c.wait().unwrap();
        assert_eq!(err, "", "holm {args:?}");
        assert_eq!(st.signal(), Some(libc::SIGPIPE), "holm {args:?}: {st}");
    }
}

#[test]
fn ps_status_filter_takes_docker_states() {
    let e = Engine::new();
    let (_, err) = e.code(125, &["ps", "--filter", "status=bogus"]);
    assert!(err.contains("invalid filter 'status=bogus'"), "{err}");
    for s in [
        "created",
        "restarting",
        "running",
        "removing",
        "paused",
        "exited",
        "dead",
    ] {
        e.ok(&["ps", "-a", "--filter", &format!("status={s}")]);
    }
}
