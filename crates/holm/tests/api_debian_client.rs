//! The Docker Engine API driven by Debian's own docker CLI (`/usr/bin/docker` from the docker.io package, 20.10,
//! API 1.41), beside the 28.x client the other api tests use: it negotiates down through `/_ping` and sends the
//! older request shapes. Covers version negotiation, `run --rm` output and exit codes, a detached container's
//! `ps`/`inspect`/`logs`/`exec`/`stop`/`rm`, and a user network with name resolution.

mod api_common;
#[path = "../../image/tests/common/mod.rs"]
mod common;
mod engine_common;

use api_common::Api;
use engine_common::IMAGE;
use std::path::Path;
use std::process::Output;
use std::time::Duration;

/// Debian's docker.io client; scripts/install-test-deps.sh installs it. Missing is a failure, not a skip.
const DEBIAN_DOCKER: &str = "/usr/bin/docker";

/// Debian's docker CLI (installed by scripts/install-test-deps.sh).
fn debian_bin() -> &'static Path {
    let bin = Path::new(DEBIAN_DOCKER);
    assert!(
        bin.is_file(),
        "{DEBIAN_DOCKER} is missing: install Debian's docker.io (scripts/install-test-deps.sh)"
    );
    bin
}

fn debian(api: &Api, args: &[&str]) -> Output {
    api.client(debian_bin(), args)
}

fn debian_ok(api: &Api, args: &[&str]) -> String {
    api.client_ok(debian_bin(), args)
}

#[test]
fn debian_docker_cli_drives_the_service() {
    let api = Api::new();
    // The 20.10 client speaks API 1.41 at most; the server advertises its own.
    let v = debian_ok(
        &api,
        &[
            "version",
            "--format",
            "{{.Client.Version}} {{.Client.APIVersion}} {{.Server.APIVersion}}",
        ],
    );
    let f: Vec<&str> = v.split_whitespace().collect();
    assert!(f[0].starts_with("20.10"), "{v}");
    assert_eq!(f[1], "1.41", "{v}");
    assert_eq!(f[2], holm_api::API_VERSION, "{v}");

    let o = debian(
        &api,
        &[
            "run",
            "--rm",
            IMAGE,
            "sh",
            "-c",
            "echo out; echo err >&2; exit 3",
        ],
    );
    assert_eq!(o.status.code(), Some(3), "{o:?}");
    assert_eq!(String::from_utf8_lossy(&o.stdout), "out\n");
    assert!(String::from_utf8_lossy(&o.stderr).contains("err"), "{o:?}");

    let id = debian_ok(
        &api,
        &[
            "run",
            "-d",
            "--name",
            "deb",
            "-e",
            "WHO=debian",
            IMAGE,
            "sh",
            "-c",
            "echo hello $WHO; trap 'exit 7' TERM; while :; do sleep 0.1; done",
        ],
    );
    let id = id.trim();
    assert_eq!(id.len(), 64, "{id}");
    let ps = debian_ok(&api, &["ps", "--format", "{{.Names}} {{.Status}}"]);
    assert!(ps.lines().any(|l| l.starts_with("deb Up")), "{ps}");
    let running = debian_ok(&api, &["inspect", "--format", "{{.State.Running}}", "deb"]);
    assert_eq!(running.trim(), "true");
    engine_common::wait_until(Duration::from_secs(20), "logs", || {
        debian_ok(&api, &["logs", "deb"]).contains("hello debian")
    });
    assert_eq!(debian_ok(&api, &["exec", "deb", "echo", "$WHO"]), "$WHO\n");
    let o = debian(&api, &["exec", "deb", "sh", "-c", "exit 4"]);
    assert_eq!(o.status.code(), Some(4), "{o:?}");
    debian_ok(&api, &["stop", "-t", "5", "deb"]);
    let code = debian_ok(&api, &["inspect", "--format", "{{.State.ExitCode}}", "deb"]);
    assert_eq!(code.trim(), "7");
    debian_ok(&api, &["rm", "deb"]);
    assert_eq!(debian_ok(&api, &["ps", "-aq"]).trim(), "");

    // A user network: a container finds another by name through the network's DNS.
    let net = format!("debnet{}", std::process::id());
    debian_ok(&api, &["network", "create", &net]);
    debian_ok(
        &api,
        &[
            "run",
            "-d",
            "--name",
            "srv",
            "--network",
            &net,
            IMAGE,
            "sleep",
            "60",
        ],
    );
    let o = debian_ok(
        &api,
        &[
            "run",
            "--rm",
            "--network",
            &net,
            IMAGE,
            "busybox",
            "nslookup",
            "srv",
        ],
    );
    assert!(o.contains("Address"), "{o}");
    debian_ok(&api, &["rm", "-f", "srv"]);
    debian_ok(&api, &["network", "rm", &net]);
    let nets = debian_ok(&api, &["network", "ls", "--format", "{{.Name}}"]);
    assert!(!nets.lines().any(|l| l == net), "{nets}");
}
