//! `holm pull` and `holm run --pull` against a private registry (Debian's `docker-registry` on 127.0.0.1, images
//! pushed with skopeo): by tag, by digest, from a multi-platform index, with htpasswd credentials, with a blob
//! corrupted in the registry's storage, and reusing blobs already in the store. Docker Hub itself cannot be
//! reached from the test machines (no internet).

#[path = "../../image/tests/common/mod.rs"]
mod common;
mod engine_common;

use common::images::{
    build, busybox_image, busybox_layer, docker_archive, oci_files, write_dir, Built, Comp,
};
use common::tars::Tar;
use engine_common::{extra_applets, Engine};
use holm_testkit::Registry;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

/// The image the registry tests push: busybox with more applets, Cmd `sh`, label `v=1`.
fn image_v1() -> Built {
    busybox_image(
        json!({"Cmd": ["sh"], "Labels": {"v": "1"}}),
        &[extra_applets()],
    )
}

/// Pushes [`image_v1`] from a docker-archive as `busybox:1`; returns the image.
fn push_v1(reg: &Registry, dir: &Path) -> Built {
    let img = image_v1();
    let archive = dir.join("busybox-v1.tar");
    std::fs::write(&archive, docker_archive(&[(&img, &["busybox:1"])])).unwrap();
    reg.push_archive(&archive, "busybox:1");
    img
}

/// An OCI layout directory under `dir` holding `index` and the blobs of `images` (plus `extra` blobs).
fn layout(dir: &Path, name: &str, index: Value, images: &[&Built], extra: &[Vec<u8>]) -> PathBuf {
    let d = dir.join(name);
    write_dir(&d, &oci_files(index, images, extra));
    d
}

/// An OCI layout whose single entry is `img` (skopeo then needs no tag).
fn single(dir: &Path, name: &str, img: &Built) -> String {
    let index = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": img.manifest_digest.to_string(),
            "size": img.manifest.len(),
        }],
    });
    format!("oci:{}", layout(dir, name, index, &[img], &[]).display())
}

/// Entries of `<root>/image/SUB`, sorted (empty if absent).
fn entries(e: &Engine, sub: &str) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(e.root.join("image").join(sub))
        .map(|rd| {
            rd.map(|x| x.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

fn image_json(e: &Engine, name: &str) -> Value {
    let v: Value = serde_json::from_str(&e.ok(&["image", "inspect", name])).unwrap();
    v[0].clone()
}

#[test]
fn pull_by_tag_then_again_is_up_to_date_and_same_as_load() {
    let reg = Registry::start();
    let e = Engine::empty();
    let img = push_v1(&reg, e.tmp.path());
    let name = format!("{}/busybox:1", reg.addr());
    let (_, index_digest) = reg.manifest("busybox:1");

    let o = e.run(&["pull", &name]);
    let (out, err) = (
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr),
    );
    assert!(o.status.success(), "{out}\n{err}");
    // docker's progress lines, then the reference on stdout.
    assert_eq!(out, format!("{name}\n"));
    assert!(err.contains("1: Pulling from busybox\n"), "{err}");
    assert!(err.contains(": Pulling fs layer\n"), "{err}");
    assert!(err.contains(": Download complete\n"), "{err}");
    assert!(err.contains(": Pull complete\n"), "{err}");
    assert!(err.contains(&format!("Digest: {index_digest}\n")), "{err}");
    assert!(
        err.contains(&format!("Status: Downloaded newer image for {name}\n")),
        "{err}"
    );

    // The image is in the store under its name, with its repo digest, and runs.
    let v = image_json(&e, &name);
    assert_eq!(v["Id"], img.config_digest.to_string());
    assert_eq!(v["RepoTags"], json!([name]));
    let repo_digest = format!("{}/busybox@{index_digest}", reg.addr());
    assert_eq!(v["RepoDigests"], json!([repo_digest]));
    assert_eq!(
        e.ok(&[
            "run",
            "--rm",
            "--pull",
            "never",
            &name,
            "sh",
            "-c",
            "echo pulled; ls /data"
        ]),
        "pulled\n"
    );

    // A second pull fetches no blob (layers and config are in the store) and changes nothing.
    let blob_gets = || reg.log().matches("\"GET /v2/busybox/blobs/").count();
    let before = blob_gets();
    assert!(before >= 3, "config and two layers fetched: {}", reg.log());
    let err = String::from_utf8(e.run(&["pull", &name]).stderr).unwrap();
    assert_eq!(blob_gets(), before, "{}", reg.log());
    assert!(err.contains(": Already exists\n"), "{err}");
    assert!(!err.contains("Pulling fs layer"), "{err}");
    assert!(
        err.contains(&format!("Status: Image is up to date for {name}\n")),
        "{err}"
    );

    // A pulled image is the same as the loaded one: same id, same unpacked layers.
    let loaded = Engine::empty();
    let archive = loaded.tmp.path().join("v1.tar");
    std::fs::write(&archive, docker_archive(&[(&img, &["busybox:1"])])).unwrap();
    loaded.ok(&["load", "-i", archive.to_str().unwrap()]);
    let w = image_json(&loaded, "busybox:1");
    assert_eq!(w["Id"], v["Id"]);
    assert_eq!(w["RootFS"], v["RootFS"]);
    assert_eq!(entries(&loaded, "layers"), entries(&e, "layers"));
    assert!(
        entries(&e, "ingest").is_empty(),
        "{:?}",
        entries(&e, "ingest")
    );

    // Like a loaded image it can be saved (and loaded elsewhere), and removing it frees every blob and layer.
    let saved = e.tmp.path().join("saved.tar");
    e.ok(&["save", "-o", saved.to_str().unwrap(), &name]);
    let again = Engine::empty();
    again.ok(&["load", "-i", saved.to_str().unwrap()]);
    assert_eq!(image_json(&again, &name)["Id"], v["Id"]);
    e.ok(&["rmi", &name]);
    assert_eq!(entries(&e, "blobs/sha256"), Vec::<String>::new());
    assert_eq!(entries(&e, "layers"), Vec::<String>::new());
}

#[test]
fn pull_by_digest_and_quiet() {
    let reg = Registry::start();
    let e = Engine::empty();
    let img = push_v1(&reg, e.tmp.path());
    let (_, digest) = reg.manifest("busybox:1");
    let by_digest = format!("{}/busybox@{digest}", reg.addr());

    let (out, err) = e.code(0, &["pull", "-q", &by_digest]);
    assert_eq!(out, format!("{by_digest}\n"));
    assert_eq!(err, "");
    let v = image_json(&e, &by_digest);
    assert_eq!(v["Id"], img.config_digest.to_string());
    // Pulled by digest: no tag, as docker; `images` shows the repository with the tag <none>.
    assert_eq!(v["RepoTags"], json!([]));
    assert_eq!(v["RepoDigests"], json!([by_digest]));
    let table = e.ok(&["images"]);
    let row: Vec<&str> = table.lines().nth(1).unwrap().split_whitespace().collect();
    assert_eq!(
        row[..2],
        [format!("{}/busybox", reg.addr()).as_str(), "<none>"],
        "{table}"
    );
    assert_eq!(
        e.ok(&[
            "run",
            "--rm",
            "--pull",
            "never",
            &by_digest,
            "echo",
            "by digest"
        ]),
        "by digest\n"
    );

    // A digest the registry does not have.
    let wrong = format!("{}/busybox@sha256:{}", reg.addr(), "0".repeat(64));
    let (_, err) = e.code(1, &["pull", &wrong]);
    assert!(
        err.contains(&format!(
            "Error: manifest for {wrong} not found: manifest unknown"
        )),
        "{err}"
    );
}

#[test]
fn pull_from_multi_platform_index_picks_the_platform() {
    let reg = Registry::start();
    let e = Engine::empty();
    let amd = busybox_image(json!({"Cmd": ["sh"], "Labels": {"arch": "amd64"}}), &[]);
    let arm = build(
        &[(busybox_layer(), Comp::Gzip)],
        json!({"Cmd": ["sh"], "Labels": {"arch": "arm64"}}),
        "arm64",
    );
    let entry = |b: &Built, arch: &str| {
        json!({
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": b.manifest_digest.to_string(),
            "size": b.manifest.len(),
            "platform": {"os": "linux", "architecture": arch},
        })
    };
    let index = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [entry(&arm, "arm64"), entry(&amd, "amd64")],
    }))
    .unwrap();
    let top = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "digest": holm_image::digest::sha256(&index).to_string(),
            "size": index.len(),
        }],
    });
    let dir = layout(
        e.tmp.path(),
        "multi",
        top,
        &[&amd, &arm],
        std::slice::from_ref(&index),
    );
    reg.push(&format!("oci:{}", dir.display()), "multi:1", true);
    let (raw, index_digest) = reg.manifest("multi:1");
    assert_eq!(raw["manifests"].as_array().unwrap().len(), 2, "{raw}");
    let name = format!("{}/multi:1", reg.addr());

    // Default: linux/amd64.
    e.ok(&["pull", "-q", &name]);
    let v = image_json(&e, &name);
    assert_eq!(v["Id"], amd.config_digest.to_string());
    assert_eq!(v["Architecture"], "amd64");
    // Known by the index digest (what the tag names) and by the platform's manifest digest.
    let mut rd: Vec<String> = serde_json::from_value(v["RepoDigests"].clone()).unwrap();
    rd.sort();
    let mut want = vec![
        format!("{}/multi@{index_digest}", reg.addr()),
        format!("{}/multi@{}", reg.addr(), amd.manifest_digest),
    ];
    want.sort();
    assert_eq!(rd, want);
    let by_index = format!("{}/multi@{index_digest}", reg.addr());
    assert_eq!(
        e.ok(&["run", "--rm", "--pull", "never", &by_index, "echo", "amd"]),
        "amd\n"
    );

    // --platform picks the other one (the name moves to it).
    e.ok(&["pull", "-q", "--platform", "linux/arm64", &name]);
    let v = image_json(&e, &name);
    assert_eq!(v["Id"], arm.config_digest.to_string());
    assert_eq!(v["Architecture"], "arm64");

    // run --platform: a local image of another platform is pulled again for the one asked for (docker);
    // with --pull never that is docker's mismatch error.
    let (_, err) = e.code(
        125,
        &[
            "run",
            "--rm",
            "--pull",
            "never",
            "--platform",
            "linux/amd64",
            &name,
            "true",
        ],
    );
    assert!(
        err.contains(
            "does not match the specified platform: wanted linux/amd64, actual: linux/arm64"
        ),
        "{err}"
    );
    let (out, err) = e.code(
        0,
        &[
            "run",
            "--rm",
            "--platform",
            "linux/amd64",
            &name,
            "echo",
            "x",
        ],
    );
    assert_eq!(out, "x\n");
    assert!(err.contains("Status: Downloaded newer image"), "{err}");
    assert_eq!(image_json(&e, &name)["Architecture"], "amd64");
    let (_, err) = e.code(
        0,
        &["run", "--rm", "--platform", "linux/amd64", &name, "true"],
    );
    assert_eq!(err, "", "the right platform is present: no pull");

    // A platform the index does not have: an error naming it and what there is.
    let (_, err) = e.code(1, &["pull", "--platform", "linux/s390x", &name]);
    assert!(err.contains("linux/s390x"), "{err}");
    assert!(
        err.contains("linux/amd64") && err.contains("linux/arm64"),
        "{err}"
    );
}

#[test]
fn run_and_create_pull_a_missing_image() {
    let reg = Registry::start();
    let e = Engine::empty();
    push_v1(&reg, e.tmp.path());
    let name = format!("{}/busybox:1", reg.addr());

    // --pull never: docker's error, exit 125, nothing pulled.
    let (_, err) = e.code(125, &["run", "--rm", "--pull", "never", &name, "true"]);
    assert!(
        err.contains(&format!("Error: No such image: {name}")),
        "{err}"
    );
    assert!(e.ok(&["images", "-q"]).is_empty());

    // Default (missing): pull, then run; holm forks the container's monitor after the pull (the network
    // runtime's threads must be gone by then, or the fork check refuses). Named through `localhost`, so that
    // the pull resolves a host name (on a thread of tokio's blocking pool).
    let by_host = name.replace("127.0.0.1", "localhost");
    let o = e.run(&["run", "--rm", &by_host, "echo", "hello"]);
    let (out, err) = (
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr),
    );
    assert!(o.status.success(), "{out}\n{err}");
    assert_eq!(out, "hello\n");
    assert!(
        err.contains(&format!("Unable to find image '{by_host}' locally\n")),
        "{err}"
    );
    assert!(err.contains("Status: Downloaded newer image for"), "{err}");

    // Present now: no pull, no output from it.
    let o = e.run(&["run", "--rm", &by_host, "echo", "again"]);
    assert_eq!(String::from_utf8_lossy(&o.stdout), "again\n");
    assert_eq!(String::from_utf8_lossy(&o.stderr), "");

    // --pull always asks the registry again; -q keeps it quiet.
    let (_, err) = e.code(0, &["run", "--rm", "--pull", "always", &by_host, "true"]);
    assert!(err.contains("Image is up to date"), "{err}");
    let (_, err) = e.code(
        0,
        &["run", "--rm", "-q", "--pull", "always", &by_host, "true"],
    );
    assert_eq!(err, "");

    // create pulls too (another tag of the same image).
    reg.push(&format!("docker://{name}"), "busybox:2", false);
    let two = format!("{}/busybox:2", reg.addr());
    let (id, err) = e.code(0, &["create", &two, "true"]);
    assert_eq!(id.trim().len(), 64, "{id}");
    assert!(
        err.contains(&format!("Unable to find image '{two}' locally")),
        "{err}"
    );
    e.ok(&["rm", id.trim()]);

    // Unknown tag and unknown repository: docker's messages; 125 from run/create, 1 from pull.
    let nope = format!("{}/busybox:nope", reg.addr());
    let want = format!("Error: manifest for {nope} not found: manifest unknown");
    let (_, err) = e.code(125, &["run", "--rm", &nope, "true"]);
    assert!(err.contains(&want), "{err}");
    let (_, err) = e.code(125, &["create", &nope, "true"]);
    assert!(err.contains(&want), "{err}");
    let (_, err) = e.code(1, &["pull", &nope]);
    assert!(err.contains(&want), "{err}");
    let repo = format!("{}/nothere", reg.addr());
    let (_, err) = e.code(1, &["pull", &format!("{repo}:1")]);
    assert!(err.contains(&repo) && err.contains("not found"), "{err}");
    assert!(
        entries(&e, "ingest").is_empty(),
        "{:?}",
        entries(&e, "ingest")
    );
}

#[test]
fn tls_verify_true_refuses_a_plain_http_registry() {
    let reg = Registry::start();
    let e = Engine::empty();
    push_v1(&reg, e.tmp.path());
    let name = format!("{}/busybox:1", reg.addr());
    let (_, err) = e.code(1, &["pull", "--tls-verify=true", &name]);
    assert!(
        err.contains(&format!("Error: cannot reach registry {}", reg.addr())),
        "{err}"
    );
    assert!(e.ok(&["images", "-q"]).is_empty());
    // The default allows it (loopback registry), as does --tls-verify=false.
    e.ok(&["pull", "-q", "--tls-verify=false", &name]);
}

#[test]
fn https_registry_with_a_private_ca() {
    let reg = Registry::with_tls();
    let e = Engine::empty();
    push_v1(&reg, e.tmp.path());
    let name = format!("{}/busybox:1", reg.addr());
    let pull = |e: &Engine, args: &[&str], cert: Option<&Path>| {
        let mut c = e.cmd(args);
        c.env_remove("SSL_CERT_FILE").env_remove("SSL_CERT_DIR");
        if let Some(p) = cert {
            c.env("SSL_CERT_FILE", p);
        }
        c.output().unwrap()
    };
    // --tls-verify=true: the certificate is nobody's.
    let o = pull(&e, &["pull", "--tls-verify=true", &name], None);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&format!("cannot reach registry {}", reg.addr()))
            && err.to_lowercase().contains("certificate"),
        "{err}"
    );
    // Trusted through SSL_CERT_FILE: verified HTTPS.
    let o = pull(
        &e,
        &["pull", "-q", "--tls-verify=true", &name],
        Some(reg.cert()),
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // Default for a loopback registry: HTTPS without verification (this registry speaks no plain HTTP).
    let e2 = Engine::empty();
    let o = pull(&e2, &["run", "--rm", &name, "echo", "over https"], None);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(String::from_utf8_lossy(&o.stdout), "over https\n");
}

fn auth_file(dir: &Path, registry: &str, user: &str, password: &str) -> PathBuf {
    let p = dir.join(format!("auth-{user}-{password}.json"));
    let b64 = base64(format!("{user}:{password}").as_bytes());
    std::fs::write(&p, json!({"auths": {registry: {"auth": b64}}}).to_string()).unwrap();
    p
}

fn base64(data: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for c in data.chunks(3) {
        let n = (c[0] as u32) << 16
            | (*c.get(1).unwrap_or(&0) as u32) << 8
            | *c.get(2).unwrap_or(&0) as u32;
        for i in 0..4 {
            if i <= c.len() {
                out.push(T[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[test]
fn htpasswd_registry_needs_the_credentials_from_the_auth_file() {
    let reg = Registry::with_auth("holmuser", "s3cret");
    let e = Engine::empty();
    push_v1(&reg, e.tmp.path());
    let name = format!("{}/busybox:1", reg.addr());
    let pull = |env: &[(&str, &Path)]| {
        let mut c = e.cmd(&["pull", "-q", &name]);
        c.env_remove("REGISTRY_AUTH_FILE")
            .env("DOCKER_CONFIG", e.tmp.path().join("no-docker-config"));
        for (k, v) in env {
            c.env(k, v);
        }
        c.output().unwrap()
    };

    // No credentials: refused, nothing stored.
    let o = pull(&[]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains(&format!(
            "Error: pull access denied for {}/busybox",
            reg.addr()
        )),
        "{err}"
    );
    // Wrong password: refused.
    let bad = auth_file(e.tmp.path(), &reg.addr(), "holmuser", "wrong");
    let o = pull(&[("REGISTRY_AUTH_FILE", &bad)]);
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    assert!(String::from_utf8_lossy(&o.stderr).contains("pull access denied"));
    assert!(e.ok(&["images", "-q"]).is_empty());

    // REGISTRY_AUTH_FILE (podman's) with the right credentials.
    let good = auth_file(e.tmp.path(), &reg.addr(), "holmuser", "s3cret");
    let o = pull(&[("REGISTRY_AUTH_FILE", &good)]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(String::from_utf8_lossy(&o.stdout), format!("{name}\n"));

    // docker's config.json ($DOCKER_CONFIG/config.json), for a second engine.
    let e2 = Engine::empty();
    let docker_dir = e2.tmp.path().join("docker");
    std::fs::create_dir(&docker_dir).unwrap();
    std::fs::copy(&good, docker_dir.join("config.json")).unwrap();
    let o = e2
        .cmd(&["run", "--rm", &name, "echo", "authenticated"])
        .env_remove("REGISTRY_AUTH_FILE")
        .env("DOCKER_CONFIG", &docker_dir)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(String::from_utf8_lossy(&o.stdout), "authenticated\n");
}

/// Flips every byte of a file in place (same size, other digest).
fn corrupt(path: &Path) {
    let mut bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    for b in bytes.iter_mut() {
        *b ^= 0xff;
    }
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn a_corrupted_blob_is_rejected_and_leaves_nothing() {
    let reg = Registry::start();
    let e = Engine::empty();
    push_v1(&reg, e.tmp.path());
    let (manifest, _) = reg.manifest("busybox:1");
    let layer = manifest["layers"][1]["digest"]
        .as_str()
        .unwrap()
        .to_string();
    corrupt(&reg.blob_path(&layer));

    let (_, err) = e.code(1, &["pull", &format!("{}/busybox:1", reg.addr())]);
    assert!(err.contains(&layer), "{err}");
    assert!(err.contains("content digest is sha256:"), "{err}");
    // Nothing visible, nothing staged: no image, no blob (not even the manifest or config), no layer.
    assert!(e.ok(&["images", "-q"]).is_empty());
    assert_eq!(entries(&e, "blobs/sha256"), Vec::<String>::new());
    assert_eq!(entries(&e, "layers"), Vec::<String>::new());
    assert_eq!(entries(&e, "ingest"), Vec::<String>::new());
}

#[test]
fn a_second_image_reuses_the_layers_already_pulled() {
    let reg = Registry::start();
    let e = Engine::empty();
    let base = busybox_image(json!({"Cmd": ["sh"]}), &[]);
    let mut extra = Tar::new();
    extra.file("extra", 0o644, b"second image\n");
    let second = busybox_image(json!({"Cmd": ["sh"]}), &[extra.bytes()]);
    // From OCI layouts, so both keep the same (gzip) base layer blob in the registry.
    reg.push(&single(e.tmp.path(), "base", &base), "app:1", false);
    reg.push(&single(e.tmp.path(), "second", &second), "app:2", false);
    let (m1, _) = reg.manifest("app:1");
    let (m2, _) = reg.manifest("app:2");
    let shared = m1["layers"][0]["digest"].as_str().unwrap().to_string();
    assert_eq!(m2["layers"][0]["digest"], shared.as_str());

    e.ok(&["pull", "-q", &format!("{}/app:1", reg.addr())]);
    // The shared layer is now broken in the registry: the second pull only works if it does not fetch it again.
    corrupt(&reg.blob_path(&shared));
    let two = format!("{}/app:2", reg.addr());
    let o = e.run(&["pull", &two]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    let short = &shared["sha256:".len().."sha256:".len() + 12];
    assert!(err.contains(&format!("{short}: Already exists\n")), "{err}");
    assert_eq!(err.matches(": Pull complete").count(), 1, "{err}");
    assert_eq!(
        e.ok(&["run", "--rm", "--pull", "never", &two, "cat", "/extra"]),
        "second image\n"
    );
}
