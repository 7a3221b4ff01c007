//! Bad requests to `holm system service` get docker's errors (status and `{"message"}` naming what is wrong) and
//! change nothing: malformed JSON, a huge body, bad names (`../`), bad values, path traversal in an archive,
//! unknown and unsupported endpoints, API versions out of range. Nothing hangs.

mod api_common;
#[path = "../../image/tests/common/mod.rs"]
mod common;
mod engine_common;

use api_common::{json, Api};
use engine_common::IMAGE;

fn containers(api: &Api) -> String {
    api.engine.ok(&["ps", "-aq"])
}

fn message(body: &[u8]) -> String {
    json(body)["message"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[test]
fn malformed_and_oversized_create_bodies_create_nothing() {
    let api = Api::new();
    let ct = [("Content-Type", "application/json")];
    let (st, _, b) = api.raw("POST", "/v1.47/containers/create", &ct, b"{\"Image\": ");
    assert_eq!(st, 400);
    assert!(message(&b).contains("invalid JSON"), "{}", message(&b));
    let (st, _, b) = api.raw("POST", "/v1.47/containers/create", &ct, b"[1, 2]");
    assert_eq!(st, 400, "{}", String::from_utf8_lossy(&b));
    // a field of the wrong type is named
    let (st, _, b) = api.raw(
        "POST",
        "/containers/create",
        &ct,
        br#"{"Image": "busybox:test", "Tty": "yes"}"#,
    );
    assert_eq!(st, 400);
    assert!(
        message(&b).contains("Tty") || message(&b).contains("bool"),
        "{}",
        message(&b)
    );
    // 2 MiB of JSON: refused before it is parsed
    let mut huge = br#"{"Image": "busybox:test", "Env": [""#.to_vec();
    huge.extend(std::iter::repeat_n(b'a', 2 << 20));
    huge.extend_from_slice(br#""]}"#);
    let (st, _, b) = api.raw("POST", "/containers/create", &ct, &huge);
    assert_eq!(st, 413, "{}", String::from_utf8_lossy(&b));
    assert!(message(&b).contains("too large"));
    // no image
    let (st, _, b) = api.raw("POST", "/containers/create", &ct, b"{}");
    assert_eq!(st, 400);
    assert!(message(&b).contains("Image"), "{}", message(&b));
    // a missing image: docker's 404 (the CLI pulls on it)
    let (st, _, b) = api.raw(
        "POST",
        "/containers/create",
        &ct,
        br#"{"Image": "no-such:1"}"#,
    );
    assert_eq!(st, 404);
    assert!(message(&b).contains("No such image"), "{}", message(&b));
    // bad values name the field
    for (body, word) in [
        (
            r#"{"Image": "busybox:test", "WorkingDir": "rel"}"#,
            "working directory",
        ),
        (
            r#"{"Image": "busybox:test", "HostConfig": {"Memory": -5}}"#,
            "Memory",
        ),
        (
            r#"{"Image": "busybox:test", "HostConfig": {"NetworkMode": "container:"}}"#,
            "network",
        ),
        (
            r#"{"Image": "busybox:test", "HostConfig": {"CapAdd": ["NOT_A_CAP"]}}"#,
            "NOT_A_CAP",
        ),
        (
            r#"{"Image": "busybox:test", "HostConfig": {"PortBindings": {"notaport/tcp": []}}}"#,
            "notaport",
        ),
        (
            r#"{"Image": "busybox:test", "HostConfig": {"RestartPolicy": {"Name": "sometimes"}}}"#,
            "sometimes",
        ),
        (
            r#"{"Image": "busybox:test", "HostConfig": {"Mounts": [{"Type": "npipe", "Target": "/x"}]}}"#,
            "npipe",
        ),
        // docker's daemon refuses these (they would run a check every 5ns)
        (
            r#"{"Image": "busybox:test", "Healthcheck": {"Test": ["CMD", "true"], "Interval": 5}}"#,
            "Interval in Healthcheck cannot be less than 1ms",
        ),
        (
            r#"{"Image": "busybox:test", "Healthcheck": {"Test": ["CMD", "true"], "Retries": -1}}"#,
            "Retries in Healthcheck cannot be negative",
        ),
    ] {
        let (st, _, b) = api.raw("POST", "/containers/create", &ct, body.as_bytes());
        assert_eq!(st, 400, "{body}: {}", String::from_utf8_lossy(&b));
        assert!(
            message(&b).to_lowercase().contains(&word.to_lowercase()),
            "{body}: {}",
            message(&b)
        );
    }
    assert_eq!(
        containers(&api).trim(),
        "",
        "a bad request left a container"
    );
}

#[test]
fn names_with_dot_dot_and_slashes_are_refused() {
    let api = Api::new();
    let ct = [("Content-Type", "application/json")];
    let body = format!(r#"{{"Image": "{IMAGE}"}}"#);
    for name in ["..%2F..%2Fetc", "a%2Fb", "..", "-x", "a%20b"] {
        let (st, _, b) = api.raw(
            "POST",
            &format!("/containers/create?name={name}"),
            &ct,
            body.as_bytes(),
        );
        assert_eq!(st, 400, "{name}: {}", String::from_utf8_lossy(&b));
        assert!(
            message(&b).contains("Invalid container name"),
            "{name}: {}",
            message(&b)
        );
    }
    // the docker CLI gets the same
    let o = api.docker(&["create", "--name", "../x", IMAGE]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("Invalid container name"));
    assert_eq!(containers(&api).trim(), "");
    // lookups of such names find nothing
    let (st, _, b) = api.raw("GET", "/containers/..%2F..%2Fetc/json", &[], b"");
    assert_eq!(st, 404);
    assert!(message(&b).contains("No such container"));
    // volume names
    let (st, _, b) = api.raw("POST", "/volumes/create", &ct, br#"{"Name": "../../etc"}"#);
    assert_eq!(st, 400, "{}", String::from_utf8_lossy(&b));
    assert!(api.engine.ok(&["volume", "ls", "-q"]).trim().is_empty());
}

/// A tar whose entries are written with raw names (the `tar` crate refuses `..` in its checked setters).
fn raw_tar(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, data) in entries {
        let mut h = tar::Header::new_old();
        h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_entry_type(tar::EntryType::Regular);
        h.set_cksum();
        b.append(&h, *data).unwrap();
    }
    b.into_inner().unwrap()
}

#[test]
fn archive_path_traversal_stays_inside_the_container() {
    let api = Api::new();
    api.docker_ok(&["run", "-d", "--name", "arc", IMAGE, "sleep", "300"]);
    let marker = format!("holm-api-escape-{}", std::process::id());
    let host_tmp = std::path::Path::new("/tmp").join(&marker);
    let _ = std::fs::remove_file(&host_tmp);
    let deep = format!("../../../../../../../../../../tmp/{marker}");
    let abs = format!("/tmp/{marker}-abs");
    let tar = raw_tar(&[(&deep, b"x"), (&abs, b"y"), ("ok.txt", b"fine")]);
    let (st, _, b) = api.raw(
        "PUT",
        "/v1.47/containers/arc/archive?path=/tmp",
        &[("Content-Type", "application/x-tar")],
        &tar,
    );
    // Refused, or clamped inside the container: never on the host.
    assert!(
        st == 200 || st == 400,
        "{st}: {}",
        String::from_utf8_lossy(&b)
    );
    assert!(!host_tmp.exists(), "an archive entry escaped to the host");
    assert!(!std::path::Path::new(&abs).exists());
    // a path that is not a directory, or missing: docker's errors
    let (st, _, b) = api.raw(
        "PUT",
        "/containers/arc/archive?path=/etc/hostname",
        &[],
        &raw_tar(&[("f", b"1")]),
    );
    assert_eq!(st, 400, "{}", String::from_utf8_lossy(&b));
    let (st, _, b) = api.raw(
        "PUT",
        "/containers/arc/archive?path=/no/such/dir",
        &[],
        &raw_tar(&[("f", b"1")]),
    );
    assert_eq!(st, 404, "{}", String::from_utf8_lossy(&b));
    assert!(message(&b).contains("Could not find the file"));
    // GET of a path outside the root through `..`: resolved inside the container
    let (st, h, _) = api.raw(
        "HEAD",
        "/containers/arc/archive?path=/../../../etc/hostname",
        &[],
        b"",
    );
    assert_eq!(st, 200);
    assert!(h.iter().any(|(k, _)| k == "x-docker-container-path-stat"));
    let (st, _, body) = api.raw(
        "GET",
        "/containers/arc/archive?path=/../../../etc/hostname",
        &[],
        b"",
    );
    assert_eq!(st, 200);
    let mut a = tar::Archive::new(&body[..]);
    let mut names = Vec::new();
    for e in a.entries().unwrap() {
        let mut e = e.unwrap();
        let mut s = String::new();
        std::io::Read::read_to_string(&mut e, &mut s).unwrap();
        names.push((e.path().unwrap().display().to_string(), s));
    }
    let id = api.docker_ok(&["inspect", "-f", "{{.Id}}", "arc"]);
    assert_eq!(
        names,
        vec![("hostname".to_string(), format!("{}\n", &id.trim()[..12]))]
    );
    let (st, _, _) = api.raw("GET", "/containers/arc/archive", &[], b"");
    assert_eq!(st, 400);
}

#[test]
fn unknown_unsupported_and_out_of_range_requests() {
    let api = Api::new();
    let (st, _, b) = api.raw("GET", "/v1.47/no/such/endpoint", &[], b"");
    assert_eq!(st, 404);
    assert_eq!(message(&b), "page not found");
    let (st, _, b) = api.raw("POST", "/v1.47/build", &[], b"");
    assert_eq!(st, 501);
    assert_eq!(message(&b), "/build is not supported by holm");
    let (st, _, b) = api.raw("GET", "/v1.99/info", &[], b"");
    assert_eq!(st, 400);
    assert!(message(&b).contains("too new"));
    let (st, _, b) = api.raw("GET", "/v1.12/info", &[], b"");
    assert_eq!(st, 400);
    assert!(message(&b).contains("too old"));
    for v in ["/v1.24", "/v1.41", "/v1.44", ""] {
        let (st, _, b) = api.raw("GET", &format!("{v}/containers/json?all=1"), &[], b"");
        assert_eq!(st, 200, "{v}");
        assert!(json(&b).is_array());
    }
    let (st, _, b) = api.raw("GET", "/containers/json?filters=notjson", &[], b"");
    assert_eq!(st, 400);
    assert!(message(&b).contains("filter"));
    let (st, _, _) = api.raw(
        "GET",
        "/containers/json?filters=%7B%22bogus%22%3A%5B%22x%22%5D%7D",
        &[],
        b"",
    );
    assert_eq!(st, 400);
    for (m, p, code) in [
        ("POST", "/containers/nope/start", 404),
        ("POST", "/containers/nope/kill", 404),
        ("DELETE", "/containers/nope", 404),
        ("GET", "/exec/nope/json", 404),
        ("GET", "/images/nope:1/json", 404),
        ("GET", "/volumes/nope", 404),
        ("POST", "/containers/nope/wait", 404),
        ("GET", "/containers/nope/logs?stdout=1", 404),
    ] {
        let (st, _, b) = api.raw(m, p, &[], b"");
        assert_eq!(st, code, "{m} {p}: {}", String::from_utf8_lossy(&b));
        assert!(!message(&b).is_empty(), "{m} {p}");
    }
    // logs without a stream, and a running container removed without force: docker's 400 and 409
    api.docker_ok(&["run", "-d", "--name", "busy", IMAGE, "sleep", "300"]);
    let (st, _, b) = api.raw("GET", "/containers/busy/logs", &[], b"");
    assert_eq!(st, 400);
    assert!(message(&b).contains("at least one stream"));
    let (st, _, b) = api.raw("DELETE", "/containers/busy", &[], b"");
    assert_eq!(st, 409);
    assert!(
        message(&b).contains("container is running"),
        "{}",
        message(&b)
    );
    assert_eq!(api.engine.status("busy"), "running");
    // an exec with no command; an exec on a stopped container
    let (st, _, _) = api.raw("POST", "/containers/busy/exec", &[], br#"{"Cmd": []}"#);
    assert_eq!(st, 400);
    api.docker_ok(&["kill", "busy"]);
    assert_eq!(api.docker_ok(&["wait", "busy"]).trim(), "137");
    let (st, _, b) = api.raw(
        "POST",
        "/containers/busy/exec",
        &[],
        br#"{"Cmd": ["true"]}"#,
    );
    assert_eq!(st, 409);
    assert!(message(&b).contains("is not running"));
    // the server still answers after all that
    assert_eq!(api.raw("GET", "/_ping", &[], b"").0, 200);
}

#[test]
fn bad_and_overlapping_subnets_are_client_errors() {
    let api = Api::new();
    let ct = [("Content-Type", "application/json")];
    let (st, _, b) = api.raw(
        "POST",
        "/networks/create",
        &ct,
        br#"{"Name": "badnet", "IPAM": {"Config": [{"Subnet": "bogus"}]}}"#,
    );
    assert_eq!(st, 400, "{}", String::from_utf8_lossy(&b));
    assert!(message(&b).contains("bogus"), "{}", message(&b));
    // overlapping the default bridge's 10.77.0.0/16: dockerd's 403 "Pool overlaps"
    let (st, _, b) = api.raw(
        "POST",
        "/networks/create",
        &ct,
        br#"{"Name": "overnet", "IPAM": {"Config": [{"Subnet": "10.77.200.0/24"}]}}"#,
    );
    assert_eq!(st, 403, "{}", String::from_utf8_lossy(&b));
    assert!(message(&b).contains("Pool overlaps"), "{}", message(&b));
    let nets = api.engine.ok(&["network", "ls", "--format", "{{.Name}}"]);
    assert!(
        !nets.contains("badnet") && !nets.contains("overnet"),
        "{nets}"
    );
}

#[test]
fn prune_filters_holm_does_not_apply_are_refused_not_ignored() {
    let api = Api::new();
    api.docker_ok(&[
        "create", "--name", "keepme", "--label", "keep=1", IMAGE, "true",
    ]);
    // docker's `container prune --filter until=24h` / `label!=keep`: ignoring them would remove every stopped one
    for (path, word) in [
        (r#"/containers/prune?filters={"until":["24h"]}"#, "until"),
        (r#"/containers/prune?filters={"label!":["keep"]}"#, "label!"),
        (r#"/images/prune?filters={"until":["24h"]}"#, "until"),
        (r#"/volumes/prune?filters={"label":["x"]}"#, "label"),
        (r#"/networks/prune?filters={"until":["1h"]}"#, "until"),
    ] {
        let path = path
            .replace('{', "%7B")
            .replace('}', "%7D")
            .replace('"', "%22");
        let (st, _, b) = api.raw("POST", &path, &[], b"");
        assert_eq!(st, 400, "{path}: {}", String::from_utf8_lossy(&b));
        assert!(message(&b).contains(word), "{path}: {}", message(&b));
    }
    assert!(api
        .engine
        .ok(&["ps", "-a", "--format", "{{.Names}}"])
        .contains("keepme"));
    assert!(!api.engine.ok(&["images", "-q"]).trim().is_empty());
    // the docker CLI's own prunes (no filters, or the ones holm applies) still work
    api.docker_ok(&["image", "prune", "-f"]);
    api.docker_ok(&["network", "prune", "-f", "--filter", "label=nothing"]);
    let out = api.docker_ok(&["container", "prune", "-f"]);
    assert!(out.contains("Total reclaimed space"), "{out}");
    assert!(!api
        .engine
        .ok(&["ps", "-a", "--format", "{{.Names}}"])
        .contains("keepme"));
}
