//! docker-compose (Debian's 1.29.2, python) against `holm system service`: a project of busybox services (an httpd
//! and a client that waits for it by service name), a named volume, labels, environment, `--scale`, `ps`,
//! `exec -T`, `logs`, `down -v`, `depends_on` with `condition: service_healthy` (the engine's healthchecks); what compose made (network, volume, containers) is what the engine shows, and
//! `down -v` leaves nothing.

mod api_common;
#[path = "../../image/tests/common/mod.rs"]
mod common;
mod engine_common;

use api_common::{output_within, Api};
use engine_common::IMAGE;
use std::process::{Command, Output};
use std::time::Duration;

fn compose(api: &Api, dir: &std::path::Path, args: &[&str]) -> Output {
    let mut c = Command::new("docker-compose");
    c.current_dir(dir)
        .env("DOCKER_HOST", format!("unix://{}", api.socket.display()))
        .env("DOCKER_CONFIG", api.engine.tmp.path().join("docker-config"))
        .env("COMPOSE_INTERACTIVE_NO_CLI", "1")
        .env("HOLM_COMPOSE_IMAGE", IMAGE)
        .args(args);
    let o = output_within(c, Duration::from_secs(180), args);
    assert!(
        o.status.success(),
        "docker-compose {args:?}: {}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    o
}

#[test]
fn compose_up_scale_exec_logs_down() {
    let api = Api::new();
    let dir = api.engine.tmp.path().join("proj");
    std::fs::create_dir(&dir).unwrap();
    // (the file bench/api.sh times too)
    std::fs::copy(
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/compose/docker-compose.yml"
        ),
        dir.join("docker-compose.yml"),
    )
    .unwrap();
    compose(&api, &dir, &["up", "-d", "--scale", "web=2"]);
    let ps = String::from_utf8(
        compose(
            &api,
            &dir,
            &["ps", "--services", "--filter", "status=running"],
        )
        .stdout,
    )
    .unwrap();
    let mut services: Vec<&str> = ps.lines().collect();
    services.sort();
    assert_eq!(services, ["client", "web"]);
    let names = api.engine.ok(&["ps", "--format", "{{.Names}}"]);
    let mut names: Vec<&str> = names.lines().collect();
    names.sort();
    assert_eq!(names, ["proj_client_1", "proj_web_1", "proj_web_2"]);
    // compose's labels and the service's own reach the engine
    let web: serde_json::Value =
        serde_json::from_str(&api.engine.ok(&["inspect", "proj_web_1"])).unwrap();
    let labels = &web[0]["Config"]["Labels"];
    assert_eq!(labels["tier"], "front");
    assert_eq!(labels["com.docker.compose.service"], "web");
    assert!(web[0]["Config"]["Env"]
        .as_array()
        .unwrap()
        .contains(&serde_json::json!("GREETING=hi")));
    // compose waited for the healthcheck: the web containers are healthy
    let ps = api
        .engine
        .ok(&["ps", "--filter", "name=web", "--format", "{{.Status}}"]);
    assert!(ps.lines().all(|l| l.ends_with("(healthy)")), "{ps}");
    // the client found a web by its service name on the project's network
    let o = compose(
        &api,
        &dir,
        &[
            "exec",
            "-T",
            "client",
            "busybox",
            "wget",
            "-qO-",
            "http://web/",
        ],
    );
    assert!(String::from_utf8_lossy(&o.stdout).starts_with("hello-from-"));
    let logs =
        String::from_utf8(compose(&api, &dir, &["logs", "--no-color", "client"]).stdout).unwrap();
    assert!(logs.contains("hello-from-"), "{logs}");
    assert!(api
        .engine
        .ok(&["network", "ls", "--format", "{{.Name}}"])
        .contains("proj_default"));
    assert!(api.engine.ok(&["volume", "ls", "-q"]).contains("proj_data"));
    compose(&api, &dir, &["down", "-v"]);
    assert_eq!(api.engine.ok(&["ps", "-aq"]).trim(), "");
    assert!(!api
        .engine
        .ok(&["network", "ls", "--format", "{{.Name}}"])
        .contains("proj_default"));
    assert_eq!(api.engine.ok(&["volume", "ls", "-q"]).trim(), "");
}
