//! `holm pull` against a registry that misbehaves, played by a tiny HTTP server in the test: a pull killed in the
//! middle of a layer leaves nothing visible (and the next import cleans its staging), a blob that goes on past
//! its descriptor's size is cut off at once instead of being read (or held) whole, and transient failures (503, a
//! connection closed mid-blob) are retried. And a registry that wants an anonymous bearer token, as Docker Hub does,
//! and one that shows whether layers are downloaded at the same time.

#[path = "../../image/tests/common/mod.rs"]
mod common;
mod engine_common;

use common::tars::{gzip, Tar};
use engine_common::{wait_until, Engine};
use holm_image::digest;
use serde_json::json;
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// How the fake registry answers a blob request.
#[derive(Clone)]
enum Body {
    /// The whole blob.
    Full(Vec<u8>),
    /// The first `n` bytes, then nothing more (the connection stays open).
    Stall(Vec<u8>, usize),
    /// Bytes without end (no Content-Length), until the client hangs up.
    Endless,
    /// 1st request: HTTP 503; 2nd: half the blob, then the connection closes; then the whole blob.
    Flaky(Vec<u8>),
    /// The whole blob, once the blob with this digest was requested too (or after 10 s, noted in
    /// `State::waited_out`): only a client fetching both at once gets it without waiting.
    AfterRequestOf(Vec<u8>, String),
}

/// What the fake registry serves and counts.
struct State {
    manifest: Vec<u8>,
    blobs: HashMap<String, Body>,
    /// Wants a bearer token from its token endpoint `/token`, as Docker Hub does (anonymous pulls too).
    bearer: bool,
    /// Layer bytes sent.
    sent: AtomicUsize,
    /// Requests for a [`Body::Flaky`] blob.
    flaky: AtomicUsize,
    /// Tokens handed out.
    tokens: AtomicUsize,
    /// Blobs requested.
    requested: std::sync::Mutex<std::collections::HashSet<String>>,
    /// An [`Body::AfterRequestOf`] answer had to give up waiting.
    waited_out: std::sync::atomic::AtomicBool,
}

/// A registry serving one repository `app` with the tag `1`.
struct Fake {
    port: u16,
    state: Arc<State>,
}

const TOKEN: &str = "holm-test-token";

impl Fake {
    fn start(manifest: Vec<u8>, blobs: HashMap<String, Body>) -> Fake {
        Self::start_with(manifest, blobs, false)
    }

    fn start_with(manifest: Vec<u8>, blobs: HashMap<String, Body>, bearer: bool) -> Fake {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let state = Arc::new(State {
            manifest,
            blobs,
            bearer,
            sent: AtomicUsize::new(0),
            flaky: AtomicUsize::new(0),
            tokens: AtomicUsize::new(0),
            requested: Default::default(),
            waited_out: Default::default(),
        });
        let shared = state.clone();
        // Detached: the threads end with the test process (a stalled answer never ends by itself).
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { return };
                let st = shared.clone();
                std::thread::spawn(move || {
                    let _ = serve(conn, port, &st);
                });
            }
        });
        Fake { port, state }
    }

    fn name(&self) -> String {
        format!("127.0.0.1:{}/app:1", self.port)
    }
}

fn serve(conn: TcpStream, port: u16, st: &State) -> std::io::Result<()> {
    let (manifest, blobs, sent, flaky) = (&st.manifest, &st.blobs, &st.sent, &st.flaky);
    let mut r = BufReader::new(conn.try_clone()?);
    let mut w = conn;
    loop {
        let mut line = String::new();
        if r.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let path = line.split(' ').nth(1).unwrap_or("").to_string();
        let mut authorized = false;
        loop {
            let mut h = String::new();
            if r.read_line(&mut h)? == 0 || h == "\r\n" {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                if k.eq_ignore_ascii_case("authorization") && v.trim() == format!("Bearer {TOKEN}")
                {
                    authorized = true;
                }
            }
        }
        if st.bearer {
            if path.starts_with("/token?") {
                // The scope a pull of `app` asks for (query-encoded or not).
                let q = path.replace("%3A", ":");
                assert!(q.contains("scope=repository:app:pull"), "{path}");
                st.tokens.fetch_add(1, Ordering::SeqCst);
                let body = format!(r#"{{"token":"{TOKEN}","expires_in":300}}"#);
                write!(
                    w,
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                    body.len()
                )?;
                continue;
            }
            if !authorized {
                let body =
                    br#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}"#;
                write!(
                    w,
                    "HTTP/1.1 401 Unauthorized\r\nContent-Type: application/json\r\n\
                     WWW-Authenticate: Bearer realm=\"http://127.0.0.1:{port}/token\",service=\"fake\"\r\n\
                     Content-Length: {}\r\n\r\n",
                    body.len()
                )?;
                w.write_all(body)?;
                continue;
            }
        }
        let ok = |w: &mut TcpStream, ctype: &str, body: &[u8]| -> std::io::Result<()> {
            write!(
                w,
                "HTTP/1.1 200 OK\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\n\r\n",
                body.len()
            )?;
            w.write_all(body)
        };
        if path == "/v2/" {
            ok(&mut w, "application/json", b"{}")?;
        } else if path == "/v2/app/manifests/1" {
            write!(
                w,
                "HTTP/1.1 200 OK\r\nContent-Type: application/vnd.oci.image.manifest.v1+json\r\n\
                 Docker-Content-Digest: {}\r\nContent-Length: {}\r\n\r\n",
                digest::sha256(manifest),
                manifest.len()
            )?;
            w.write_all(manifest)?;
        } else if let Some(d) = path.strip_prefix("/v2/app/blobs/") {
            st.requested.lock().unwrap().insert(d.to_string());
            match blobs.get(d) {
                Some(Body::AfterRequestOf(b, other)) => {
                    let end = std::time::Instant::now() + Duration::from_secs(10);
                    while !st.requested.lock().unwrap().contains(other) {
                        if std::time::Instant::now() > end {
                            st.waited_out.store(true, Ordering::SeqCst);
                            break;
                        }
                        std::thread::sleep(Duration::from_millis(10));
                    }
                    ok(&mut w, "application/octet-stream", b)?;
                }
                Some(Body::Full(b)) => ok(&mut w, "application/octet-stream", b)?,
                Some(Body::Stall(b, n)) => {
                    write!(
                        w,
                        "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n\
                         Content-Length: {}\r\n\r\n",
                        b.len()
                    )?;
                    w.write_all(&b[..*n])?;
                    w.flush()?;
                    sent.fetch_add(*n, Ordering::SeqCst);
                    std::thread::sleep(Duration::from_secs(600));
                    return Ok(());
                }
                Some(Body::Endless) => {
                    write!(
                        w,
                        "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n\
                         Connection: close\r\n\r\n"
                    )?;
                    let chunk = vec![0x5au8; 64 << 10];
                    loop {
                        w.write_all(&chunk)?;
                        sent.fetch_add(chunk.len(), Ordering::SeqCst);
                    }
                }
                Some(Body::Flaky(b)) => match flaky.fetch_add(1, Ordering::SeqCst) {
                    0 => {
                        write!(
                            w,
                            "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n"
                        )?;
                    }
                    1 => {
                        write!(
                            w,
                            "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n\
                             Content-Length: {}\r\n\r\n",
                            b.len()
                        )?;
                        w.write_all(&b[..b.len() / 2])?;
                        return Ok(());
                    }
                    _ => ok(&mut w, "application/octet-stream", b)?,
                },
                None => {
                    let body = br#"{"errors":[{"code":"BLOB_UNKNOWN","message":"blob unknown"}]}"#;
                    write!(
                        w,
                        "HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\n\
                         Content-Length: {}\r\n\r\n",
                        body.len()
                    )?;
                    w.write_all(body)?;
                }
            }
        } else {
            let body = br#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}"#;
            write!(
                w,
                "HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
                body.len()
            )?;
            w.write_all(body)?;
        }
    }
}

/// An image of one gzip layer holding `size` bytes of incompressible data: (manifest, config, layer blob).
fn image(size: usize, layer_size_override: Option<usize>) -> (Vec<u8>, Vec<u8>, Vec<u8>) {
    // xorshift: incompressible and reproducible.
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let data: Vec<u8> = (0..size)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    let mut t = Tar::new();
    t.file("data.bin", 0o644, &data);
    let tar = t.bytes();
    let layer = gzip(&tar);
    let config = serde_json::to_vec(&json!({
        "architecture": "amd64", "os": "linux", "config": {},
        "rootfs": {"type": "layers", "diff_ids": [digest::sha256(&tar).to_string()]},
    }))
    .unwrap();
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": digest::sha256(&config).to_string(), "size": config.len()},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                    "digest": digest::sha256(&layer).to_string(),
                    "size": layer_size_override.unwrap_or(layer.len())}],
    }))
    .unwrap();
    (manifest, config, layer)
}

/// A child process killed (and reaped) when the test ends, failed or not.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn entries(e: &Engine, sub: &str) -> Vec<String> {
    std::fs::read_dir(e.root.join("image").join(sub))
        .map(|rd| {
            rd.map(|x| x.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn a_killed_pull_leaves_nothing_visible() {
    let (manifest, config, layer) = image(4 << 20, None);
    let half = layer.len() / 2;
    let blobs = HashMap::from([
        (digest::sha256(&config).to_string(), Body::Full(config)),
        (
            digest::sha256(&layer).to_string(),
            Body::Stall(layer.clone(), half),
        ),
    ]);
    let fake = Fake::start(manifest, blobs);
    let e = Engine::empty();
    let mut pull = KillOnDrop(e.spawn(&["pull", &fake.name()]));
    wait_until(Duration::from_secs(30), "half the layer sent", || {
        fake.state.sent.load(Ordering::SeqCst) >= half
    });
    // The partial download is only in the pull's private staging directory.
    wait_until(Duration::from_secs(10), "a staging directory", || {
        !entries(&e, "ingest").is_empty()
    });
    pull.0.kill().unwrap();
    pull.0.wait().unwrap();
    assert!(e.ok(&["images", "-q"]).is_empty());
    assert_eq!(entries(&e, "blobs/sha256"), Vec::<String>::new());
    assert_eq!(entries(&e, "layers"), Vec::<String>::new());
    // The killed pull's staging (its lock released) goes at the next import or garbage collection.
    assert_eq!(entries(&e, "ingest").len(), 1);
    e.ok(&["image", "prune", "-f"]);
    assert_eq!(entries(&e, "ingest"), Vec::<String>::new());
}

#[test]
fn a_blob_longer_than_its_descriptor_is_cut_off() {
    // The manifest says the layer has 1000 bytes; the registry sends without end.
    let (manifest, config, layer) = image(1000, Some(1000));
    let blobs = HashMap::from([
        (digest::sha256(&config).to_string(), Body::Full(config)),
        (digest::sha256(&layer).to_string(), Body::Endless),
    ]);
    let fake = Fake::start(manifest, blobs);
    let e = Engine::empty();
    // Bounded: a holm that read on would never finish (and is killed when the test fails).
    let mut pull = KillOnDrop(e.spawn(&["pull", &fake.name()]));
    let mut done = None;
    wait_until(Duration::from_secs(30), "holm pull to give up", || {
        done = pull.0.try_wait().unwrap();
        done.is_some()
    });
    assert_eq!(done.unwrap().code(), Some(1));
    let mut err = String::new();
    std::io::Read::read_to_string(&mut pull.0.stderr.take().unwrap(), &mut err).unwrap();
    assert!(
        err.contains("is longer than its descriptor's size of 1000 bytes"),
        "{err}"
    );
    // holm hung up after the first chunks instead of reading on (the server counts what it could write; the
    // kernel's socket buffers take a few MiB at most).
    let sent = fake.state.sent.load(Ordering::SeqCst);
    assert!(sent < 64 << 20, "the registry could send {sent} bytes");
    assert!(e.ok(&["images", "-q"]).is_empty());
    assert_eq!(entries(&e, "ingest"), Vec::<String>::new());
    assert_eq!(entries(&e, "blobs/sha256"), Vec::<String>::new());
}

#[test]
fn transient_registry_failures_are_retried() {
    let (manifest, config, layer) = image(256 << 10, None);
    let blobs = HashMap::from([
        (digest::sha256(&config).to_string(), Body::Full(config)),
        (digest::sha256(&layer).to_string(), Body::Flaky(layer)),
    ]);
    let fake = Fake::start(manifest, blobs);
    let e = Engine::empty();
    // A 503, then a connection closed half-way, then the blob: the third attempt succeeds.
    e.ok(&["pull", "-q", &fake.name()]);
    assert_eq!(fake.state.flaky.load(Ordering::SeqCst), 3);
    assert_eq!(e.ok(&["images", "-q"]).lines().count(), 1);
    assert_eq!(entries(&e, "ingest"), Vec::<String>::new());
}

#[test]
fn anonymous_bearer_token_auth_as_docker_hub_wants() {
    let (manifest, config, layer) = image(64 << 10, None);
    let blobs = HashMap::from([
        (digest::sha256(&config).to_string(), Body::Full(config)),
        (digest::sha256(&layer).to_string(), Body::Full(layer)),
    ]);
    // Every request without the token gets 401 + `WWW-Authenticate: Bearer realm=…/token`.
    let fake = Fake::start_with(manifest, blobs, true);
    let e = Engine::empty();
    let o = e
        .cmd(&["pull", "-q", &fake.name()])
        .env_remove("REGISTRY_AUTH_FILE")
        .env("DOCKER_CONFIG", e.tmp.path().join("none"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(fake.state.tokens.load(Ordering::SeqCst) >= 1);
    assert_eq!(e.ok(&["images", "-q"]).lines().count(), 1);
}

#[test]
fn layers_are_downloaded_at_the_same_time() {
    // Two layers; the registry answers for the first only once the second was asked for too.
    let layer_of = |name: &str, data: &[u8]| {
        let mut t = Tar::new();
        t.file(name, 0o644, data);
        let tar = t.bytes();
        (gzip(&tar), tar)
    };
    let (l1, t1) = layer_of("one", b"first layer\n");
    let (l2, t2) = layer_of("two", b"second layer\n");
    let config = serde_json::to_vec(&json!({
        "architecture": "amd64", "os": "linux", "config": {},
        "rootfs": {"type": "layers", "diff_ids": [
            digest::sha256(&t1).to_string(), digest::sha256(&t2).to_string()]},
    }))
    .unwrap();
    let layer = |b: &[u8]| {
        json!({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
               "digest": digest::sha256(b).to_string(), "size": b.len()})
    };
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": digest::sha256(&config).to_string(), "size": config.len()},
        "layers": [layer(&l1), layer(&l2)],
    }))
    .unwrap();
    let (d1, d2) = (
        digest::sha256(&l1).to_string(),
        digest::sha256(&l2).to_string(),
    );
    let blobs = HashMap::from([
        (digest::sha256(&config).to_string(), Body::Full(config)),
        (d1, Body::AfterRequestOf(l1, d2.clone())),
        (d2, Body::Full(l2)),
    ]);
    let fake = Fake::start(manifest, blobs);
    let e = Engine::empty();
    let o = e.run(&["pull", &fake.name()]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(
        !fake.state.waited_out.load(Ordering::SeqCst),
        "the second layer was requested only after the first finished"
    );
    // docker's order: every layer announced first, then each download as it completes.
    let lines: Vec<&str> = err.lines().collect();
    let first_done = lines.iter().position(|l| l.ends_with("Download complete"));
    let last_pulling = lines.iter().rposition(|l| l.ends_with("Pulling fs layer"));
    assert!(last_pulling < first_done, "{err}");
    assert_eq!(err.matches("Pull complete").count(), 2, "{err}");
}
