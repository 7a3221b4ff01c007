//! A private image registry for pull tests: Debian's `docker-registry` (the CNCF distribution registry) on
//! `127.0.0.1` with a free port, its own storage directory and config file, optionally behind htpasswd Basic
//! auth or serving HTTPS with a self-signed certificate (made with `openssl`); images are pushed into it with
//! `skopeo`. The registry is killed and its files removed on drop, during
//! unwinding too.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const HINT: &str = "install Debian's `docker-registry` package (scripts/install-test-deps.sh)";

/// One running registry.
pub struct Registry {
    child: Child,
    dir: tempfile::TempDir,
    port: u16,
    creds: Option<(String, String)>,
    cert: Option<PathBuf>,
}

impl Registry {
    /// An anonymous registry. Panics (naming the package) if `docker-registry` is missing or does not start.
    pub fn start() -> Registry {
        Self::launch(None, false)
    }

    /// A registry serving HTTPS only, with a certificate for `127.0.0.1` from a throw-away CA (see
    /// [`Registry::cert`]).
    pub fn with_tls() -> Registry {
        Self::launch(None, true)
    }

    /// A registry that wants Basic auth for `user` / `password` (htpasswd file made with `htpasswd -B` from
    /// Debian's `apache2-utils`).
    pub fn with_auth(user: &str, password: &str) -> Registry {
        Self::launch(Some((user.to_string(), password.to_string())), false)
    }

    /// The PEM certificate of the CA that signed a [`Registry::with_tls`] registry's certificate (trust it with
    /// `SSL_CERT_FILE`).
    pub fn cert(&self) -> &Path {
        self.cert.as_deref().expect("a registry started with_tls")
    }

    fn launch(creds: Option<(String, String)>, tls: bool) -> Registry {
        let dir = tempfile::Builder::new()
            .prefix("holm-registry-")
            .tempdir()
            .expect("create registry temp dir");
        let mut auth = String::new();
        if let Some((u, p)) = &creds {
            let out = Command::new("htpasswd")
                .args(["-Bbn", u, p])
                .output()
                .unwrap_or_else(|e| {
                    panic!("run htpasswd: {e} (install Debian's `apache2-utils` package)")
                });
            assert!(out.status.success(), "htpasswd failed: {out:?}");
            let file = dir.path().join("htpasswd");
            std::fs::write(&file, &out.stdout).expect("write htpasswd");
            auth = format!(
                "auth:\n  htpasswd:\n    realm: holm-test\n    path: {}\n",
                file.display()
            );
        }
        let mut cert = None;
        let mut tls_conf = String::new();
        if tls {
            // A CA and a server certificate for 127.0.0.1 signed by it (webpki refuses a CA certificate as the
            // server's own).
            let p = |n: &str| dir.path().join(n);
            std::fs::write(
                p("ext.cnf"),
                "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
            )
            .expect("write openssl extensions");
            let path = |n: &str| p(n).to_str().expect("UTF-8 temp path").to_string();
            let (ca_key, ca, key, csr, crt, ext) = (
                path("ca.key"),
                path("ca.pem"),
                path("key.pem"),
                path("csr.pem"),
                path("cert.pem"),
                path("ext.cnf"),
            );
            let ec = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";
            let steps = [
                format!("req -x509 -days 2 -subj /CN=holm-test-ca {ec} -keyout {ca_key} -out {ca}"),
                format!("req -subj /CN=127.0.0.1 {ec} -keyout {key} -out {csr}"),
                format!(
                    "x509 -req -days 2 -CAcreateserial -in {csr} -CA {ca} -CAkey {ca_key} \
                     -extfile {ext} -out {crt}"
                ),
            ];
            for step in steps {
                let out = Command::new("openssl")
                    .args(step.split_whitespace())
                    .output()
                    .unwrap_or_else(|e| {
                        panic!("run openssl: {e} (install Debian's `openssl` package)")
                    });
                assert!(out.status.success(), "openssl {step}: {out:?}");
            }
            tls_conf = format!(
                "  tls:\n    certificate: {}\n    key: {}\n",
                p("cert.pem").display(),
                p("key.pem").display()
            );
            cert = Some(p("ca.pem"));
        }
        // The port is free when picked; another process could take it before the registry binds it, so retry.
        let mut last_err = String::new();
        for _ in 0..5 {
            let port = TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .expect("pick a free port")
                .port();
            let config = dir.path().join("config.yml");
            std::fs::write(
                &config,
                format!(
                    "version: 0.1\nlog:\n  level: info\n\
                     storage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\n\
                     http:\n  addr: 127.0.0.1:{port}\n{tls_conf}{auth}",
                    dir.path().join("storage").display()
                ),
            )
            .expect("write registry config");
            let log = std::fs::File::create(dir.path().join("registry.log")).expect("log file");
            let mut child = Command::new("docker-registry")
                .arg("serve")
                .arg(&config)
                .stdin(Stdio::null())
                .stdout(log.try_clone().expect("dup log"))
                .stderr(log)
                .spawn()
                .unwrap_or_else(|e| panic!("start docker-registry: {e} ({HINT})"));
            match wait_ready(&mut child, port, &dir) {
                Ok(()) => {
                    return Registry {
                        child,
                        dir,
                        port,
                        creds,
                        cert,
                    }
                }
                Err(e) => {
                    last_err = e;
                    let _ = child.kill();
                    let _ = child.wait();
                }
            }
        }
        panic!("docker-registry did not start: {last_err}")
    }

    /// The HTTP status of `GET path` (no auth).
    pub fn get_status(&self, path: &str) -> std::io::Result<u16> {
        get_status(self.port, path)
    }

    /// `127.0.0.1:PORT`, the registry part of image references.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The registry's log so far (its access log lists every request).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("registry.log")).unwrap_or_default()
    }

    /// Where the registry stores the blob `digest` (`sha256:…`): corrupt it to test verification.
    pub fn blob_path(&self, digest: &str) -> PathBuf {
        let hex = digest.strip_prefix("sha256:").expect("a sha256 digest");
        self.dir
            .path()
            .join("storage/docker/registry/v2/blobs/sha256")
            .join(&hex[..2])
            .join(hex)
            .join("data")
    }

    fn skopeo(&self, args: &[&str]) -> String {
        let mut c = Command::new("skopeo");
        c.args(args);
        let out = c
            .output()
            .unwrap_or_else(|e| panic!("run skopeo: {e} (install Debian's `skopeo` package)"));
        assert!(
            out.status.success(),
            "skopeo {args:?}: {}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn creds_args(&self, flag: &str) -> Vec<String> {
        match &self.creds {
            Some((u, p)) => vec![format!("{flag}={u}:{p}")],
            None => Vec::new(),
        }
    }

    /// Pushes `source` (a skopeo source such as `docker-archive:/x.tar` or `oci:/dir`) as `name` (`repo:tag`);
    /// with `all`, every image of a multi-platform index (`skopeo copy --all`).
    pub fn push(&self, source: &str, name: &str, all: bool) {
        let dest = format!("docker://{}/{name}", self.addr());
        let mut args: Vec<String> = vec![
            "copy".into(),
            "--src-tls-verify=false".into(),
            "--dest-tls-verify=false".into(),
        ];
        if all {
            args.push("--all".into());
        }
        args.extend(self.creds_args("--dest-creds"));
        args.push(source.into());
        args.push(dest);
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        self.skopeo(&a);
    }

    /// Pushes a docker-archive file as `name`.
    pub fn push_archive(&self, archive: &Path, name: &str) {
        self.push(
            &format!("docker-archive:{}", archive.display()),
            name,
            false,
        );
    }

    /// The raw manifest (or index) `name` points to, and its digest.
    pub fn manifest(&self, name: &str) -> (serde_json::Value, String) {
        let src = format!("docker://{}/{name}", self.addr());
        let mut args: Vec<String> = vec![
            "inspect".into(),
            "--tls-verify=false".into(),
            "--raw".into(),
        ];
        args.extend(self.creds_args("--creds"));
        args.push(src);
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        let raw = self.skopeo(&a);
        let digest = holm_sha256(raw.as_bytes());
        (serde_json::from_str(&raw).expect("manifest JSON"), digest)
    }
}

fn holm_sha256(bytes: &[u8]) -> String {
    let out = Command::new("sha256sum")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            c.stdin.take().expect("stdin").write_all(bytes)?;
            c.wait_with_output()
        })
        .expect("run sha256sum");
    let s = String::from_utf8_lossy(&out.stdout);
    format!(
        "sha256:{}",
        s.split_whitespace().next().expect("sha256sum output")
    )
}

/// The HTTP status of `GET path` on `127.0.0.1:port` (no auth).
fn get_status(port: u16, path: &str) -> std::io::Result<u16> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
    )?;
    let mut buf = String::new();
    s.read_to_string(&mut buf)?;
    buf.split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("bad HTTP answer: {buf:?}")))
}

/// Polls `GET /v2/` until the registry answers (200, 401 with auth, 400 with TLS), for at most 20 s.
fn wait_ready(child: &mut Child, port: u16, dir: &tempfile::TempDir) -> Result<(), String> {
    let log = || std::fs::read_to_string(dir.path().join("registry.log")).unwrap_or_default();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(st) = child.try_wait().map_err(|e| e.to_string())? {
            return Err(format!("exited with {st}: {}", log()));
        }
        // 400: a TLS registry answering a plain HTTP request; it is up.
        if let Ok(200 | 400 | 401) = get_status(port, "/v2/") {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!("no answer on port {port} after 20 s: {}", log()));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
