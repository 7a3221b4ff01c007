//! Helpers for the Docker Engine API tests: a private engine (see `engine_common`) served by `holm system service`
//! on a socket in its temp dir, the real docker CLI pointed at it (`DOCKER_HOST`, its own `DOCKER_CONFIG`), and a
//! raw HTTP/1.1 client for requests the CLI never sends. The service is killed (by its pid) when the helper goes.
#![allow(dead_code)]

use super::engine_common::Engine;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The docker CLI: `/usr/local/bin/docker` (this machine's 28.2) or Debian's `docker.io` client on PATH.
pub fn docker_bin() -> PathBuf {
    let local = PathBuf::from("/usr/local/bin/docker");
    if local.exists() {
        return local;
    }
    let found = std::env::var_os("PATH").and_then(|p| {
        std::env::split_paths(&p)
            .map(|d| d.join("docker"))
            .find(|d| d.exists())
    });
    found.expect(
        "the docker CLI is needed (scripts/install-test-deps.sh installs Debian's docker.io)",
    )
}

/// An engine with `holm system service` on `<tmp>/docker.sock`.
pub struct Api {
    pub engine: Engine,
    pub socket: PathBuf,
    service: Child,
}

impl Api {
    /// A fresh engine (busybox loaded as `engine_common::IMAGE`) and its service (`--time 0`).
    pub fn new() -> Api {
        Api::with_engine(Engine::new())
    }

    /// Serves `engine`.
    pub fn with_engine(engine: Engine) -> Api {
        let socket = engine.tmp.path().join("docker.sock");
        let service = spawn_service(engine.cmd(&[]), &socket);
        let api = Api {
            engine,
            socket,
            service,
        };
        api.wait_ready();
        api
    }

    /// Serves `engine` with the `holm` executable at `holm` (a copy, e.g. to replace it while the service runs).
    pub fn with_executable(engine: Engine, holm: &std::path::Path) -> Api {
        let socket = engine.tmp.path().join("docker.sock");
        let mut cmd = Command::new(holm);
        cmd.arg("--root")
            .arg(&engine.root)
            .arg("--runroot")
            .arg(&engine.runroot)
            .stdin(Stdio::null());
        let service = spawn_service(cmd, &socket);
        let api = Api {
            engine,
            socket,
            service,
        };
        api.wait_ready();
        api
    }

    fn wait_ready(&self) {
        let end = Instant::now() + Duration::from_secs(20);
        while self.raw("GET", "/_ping", &[], b"").0 != 200 {
            assert!(
                Instant::now() < end,
                "holm system service did not answer /_ping"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Kills the service (SIGKILL: no clean-up of its own) and starts another on the same socket.
    pub fn restart_service(&mut self) {
        let _ = self.service.kill();
        let _ = self.service.wait();
        self.service = spawn_service(self.engine.cmd(&[]), &self.socket);
        self.wait_ready();
    }

    /// `docker ARGS` on this service.
    pub fn docker_cmd(&self, args: &[&str]) -> Command {
        self.client_cmd(&docker_bin(), args)
    }

    /// `CLIENT ARGS` on this service, for a given docker CLI binary (e.g. Debian's `/usr/bin/docker` 20.10).
    pub fn client_cmd(&self, client: &std::path::Path, args: &[&str]) -> Command {
        let mut c = Command::new(client);
        c.env("DOCKER_HOST", format!("unix://{}", self.socket.display()))
            .env(
                "DOCKER_CONFIG",
                self.engine.tmp.path().join("docker-config"),
            )
            .env_remove("DOCKER_CONTEXT")
            .args(args)
            .stdin(Stdio::null());
        c
    }

    /// Runs `docker ARGS` (killed after 120 s so that a hang fails the test instead of blocking it).
    pub fn docker(&self, args: &[&str]) -> Output {
        self.client(&docker_bin(), args)
    }

    /// `docker ARGS`, which must succeed; its stdout.
    pub fn docker_ok(&self, args: &[&str]) -> String {
        self.client_ok(&docker_bin(), args)
    }

    /// Runs `CLIENT ARGS` on this service (killed after 120 s, as [`Api::docker`]).
    pub fn client(&self, client: &std::path::Path, args: &[&str]) -> Output {
        output_within(
            self.client_cmd(client, args),
            Duration::from_secs(120),
            args,
        )
    }

    /// `CLIENT ARGS`, which must succeed; its stdout.
    pub fn client_ok(&self, client: &std::path::Path, args: &[&str]) -> String {
        let o = self.client(client, args);
        assert!(
            o.status.success(),
            "{} {args:?}: {:?}\nstdout: {}\nstderr: {}",
            client.display(),
            o.status,
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8(o.stdout).unwrap()
    }

    /// One raw HTTP/1.1 request (`Connection: close`); the status, the headers (lowercase names) and the body
    /// (chunked encoding undone).
    pub fn raw(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> (u16, Vec<(String, String)>, Vec<u8>) {
        let Ok(mut s) = UnixStream::connect(&self.socket) else {
            return (0, Vec::new(), Vec::new());
        };
        s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
        let mut req = format!(
            "{method} {path} HTTP/1.1\r\nHost: docker\r\nConnection: close\r\nContent-Length: {}\r\n",
            body.len()
        );
        for (k, v) in headers {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
        req.push_str("\r\n");
        let _ = s.write_all(req.as_bytes());
        let _ = s.write_all(body);
        let mut resp = Vec::new();
        let _ = s.read_to_end(&mut resp);
        parse_response(&resp)
    }
}

/// Starts `holm [GLOBAL FLAGS]` (`cmd`) as `system service --time 0 unix://SOCKET`.
fn spawn_service(mut cmd: Command, socket: &std::path::Path) -> Child {
    cmd.args([
        "system",
        "service",
        "--time",
        "0",
        &format!("unix://{}", socket.display()),
    ])
    .stdout(Stdio::null())
    .stderr(Stdio::inherit())
    .spawn()
    .unwrap()
}

impl Drop for Api {
    fn drop(&mut self) {
        let _ = self.service.kill();
        let _ = self.service.wait();
    }
}

/// Splits a raw HTTP response.
pub fn parse_response(resp: &[u8]) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let Some(end) = resp.windows(4).position(|w| w == b"\r\n\r\n") else {
        return (0, Vec::new(), resp.to_vec());
    };
    let head = String::from_utf8_lossy(&resp[..end]);
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let mut body = resp[end + 4..].to_vec();
    if headers
        .iter()
        .any(|(k, v)| k == "transfer-encoding" && v.contains("chunked"))
    {
        let mut out = Vec::new();
        let mut rest = &body[..];
        while let Some(p) = rest.windows(2).position(|w| w == b"\r\n") {
            let n =
                usize::from_str_radix(String::from_utf8_lossy(&rest[..p]).trim(), 16).unwrap_or(0);
            if n == 0 || rest.len() < p + 2 + n {
                break;
            }
            out.extend_from_slice(&rest[p + 2..p + 2 + n]);
            rest = &rest[(p + 4 + n).min(rest.len())..];
        }
        body = out;
    }
    (status, headers, body)
}

/// Runs `c` to completion, killing it after `limit` (then panics naming `what`).
pub fn output_within(mut c: Command, limit: Duration, what: &[&str]) -> Output {
    c.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = c.spawn().unwrap();
    let pid = child.id() as i32;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        if rx.recv_timeout(limit).is_err() {
            let _ = holm_sys::process::kill(pid, libc::SIGKILL);
        }
    });
    let out = {
        let mut o = Vec::new();
        let mut e = Vec::new();
        let mut so = child.stdout.take().unwrap();
        let mut se = child.stderr.take().unwrap();
        let t = std::thread::spawn(move || {
            let _ = se.read_to_end(&mut e);
            e
        });
        let _ = so.read_to_end(&mut o);
        let e = t.join().unwrap();
        let status = child.wait().unwrap();
        Output {
            status,
            stdout: o,
            stderr: e,
        }
    };
    let _ = tx.send(());
    assert!(
        std::os::unix::process::ExitStatusExt::signal(&out.status) != Some(libc::SIGKILL),
        "{what:?} did not finish within {limit:?}: stdout {} stderr {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// The JSON body of a response.
pub fn json(body: &[u8]) -> serde_json::Value {
    serde_json::from_slice(body)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(body)))
}
