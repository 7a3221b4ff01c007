//! The network side of a pull: an `oci-client` registry client on a current-thread tokio runtime that lives only
//! as long as the [`Remote`] (dropping it shuts the runtime down and joins its blocking-pool threads, so the
//! process is single-threaded again before anything forks).
//!
//! Protocol (docker's rules): HTTPS with verified certificates; for a loopback registry (`localhost`,
//! `127.0.0.0/8`, `[::1]`) or with `tls_verify = Some(false)` (podman's `--tls-verify=false`), HTTPS without
//! certificate checks is tried first and plain HTTP if that fails. Authentication: `oci-client` answers the
//! registry's `WWW-Authenticate` challenge (a bearer token, anonymous or with the user's credentials, as Docker
//! Hub wants; or Basic auth).
//!
//! Blobs are streamed into the import's staging area chunk by chunk (never held whole in memory), verified
//! against their descriptor's digest and size; reading stops as soon as a blob is longer than declared.

use super::{PullError, PullEvent};
use crate::archive::{ArchiveError, BlobKind, BlobSource};
use crate::content::{ContentStore, StagedBlob, Staging, MAX_JSON_BYTES};
use crate::digest::Digest;
use crate::reference::Reference;
use futures_util::StreamExt;
use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::errors::{OciDistributionError, OciErrorCode};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, RegistryOperation};
use std::io::Write;
use std::time::Duration;

/// Media types a manifest request accepts (OCI and docker schema 2, single and multi-platform).
const ACCEPT: &[&str] = &[
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.docker.distribution.manifest.v2+json",
];

/// A connected registry client for one repository.
pub(crate) struct Remote<'p> {
    // Field order: the client (and its connection pool) goes before the runtime it runs on.
    client: Client,
    rt: tokio::runtime::Runtime,
    auth: RegistryAuth,
    registry: String,
    repository: String,
    store: ContentStore,
    progress: &'p mut dyn FnMut(PullEvent),
    /// Layers downloaded (not found in the store), in order of completion.
    pub(crate) downloaded: Vec<Digest>,
    /// Layers already announced as present in the store.
    announced: std::collections::HashSet<Digest>,
}

/// True if `domain` (`host[:port]`) is a loopback address, which docker treats as an insecure registry.
pub fn is_loopback(domain: &str) -> bool {
    let host = if let Some(rest) = domain.strip_prefix('[') {
        rest.split(']').next().unwrap_or("")
    } else {
        domain.split(':').next().unwrap_or("")
    };
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

fn install_crypto_provider() {
    // Fails only if a provider is already installed, which is what we want.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

fn client(
    protocol: ClientProtocol,
    accept_invalid_certificates: bool,
) -> Result<Client, PullError> {
    let config = ClientConfig {
        protocol,
        accept_invalid_certificates,
        platform_resolver: None,
        connect_timeout: Some(Duration::from_secs(30)),
        read_timeout: Some(Duration::from_secs(120)),
        user_agent: concat!("holm/", env!("CARGO_PKG_VERSION")),
        ..Default::default()
    };
    Client::try_from(config).map_err(|e| PullError::Registry {
        what: "create the registry client".into(),
        detail: describe(&e),
    })
}

/// One line for an `oci-client` error: the registry's error codes and messages, or the chain of causes.
pub(crate) fn describe(e: &OciDistributionError) -> String {
    match e {
        OciDistributionError::RegistryError { envelope, .. } => envelope
            .errors
            .iter()
            .map(|x| {
                let code = serde_json::to_value(&x.code)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default();
                if x.message.is_empty() {
                    code
                } else {
                    format!("{code}: {}", x.message)
                }
            })
            .collect::<Vec<_>>()
            .join("; "),
        OciDistributionError::ServerError { code, message, .. } => {
            let m = message.trim();
            if m.is_empty() {
                format!("HTTP status {code}")
            } else {
                format!(
                    "HTTP status {code}: {}",
                    m.chars().take(200).collect::<String>()
                )
            }
        }
        OciDistributionError::UnauthorizedError { .. } => "authentication required".into(),
        _ => {
            let mut out = String::new();
            let mut cur: Option<&dyn std::error::Error> = Some(e);
            while let Some(c) = cur {
                let s = c.to_string();
                if !s.is_empty() && !out.contains(&s) {
                    if !out.is_empty() {
                        out.push_str(": ");
                    }
                    out.push_str(&s);
                }
                cur = c.source();
            }
            out
        }
    }
}

fn has_code(e: &OciDistributionError, code: OciErrorCode) -> bool {
    matches!(e, OciDistributionError::RegistryError { envelope, .. }
        if envelope.errors.iter().any(|x| x.code == code))
}

/// Turns an error of a request about `reference` into the error docker would give.
pub(crate) fn classify(e: OciDistributionError, reference: &Reference) -> PullError {
    let repository = reference.repository();
    if has_code(&e, OciErrorCode::ManifestUnknown)
        || matches!(&e, OciDistributionError::ServerError { code: 404, .. })
    {
        return PullError::ManifestUnknown {
            reference: reference.familiar(),
        };
    }
    if has_code(&e, OciErrorCode::NameUnknown) {
        return PullError::NameUnknown {
            repository: reference.familiar_repository(),
        };
    }
    if has_code(&e, OciErrorCode::Unauthorized)
        || has_code(&e, OciErrorCode::Denied)
        || matches!(
            &e,
            OciDistributionError::UnauthorizedError { .. }
                | OciDistributionError::AuthenticationFailure(_)
                | OciDistributionError::ServerError {
                    code: 401 | 403,
                    ..
                }
        )
    {
        return PullError::Denied {
            repository: reference.familiar_repository(),
            detail: describe(&e),
        };
    }
    if matches!(&e, OciDistributionError::RequestError(_)) {
        return PullError::Connect {
            registry: reference.domain().to_string(),
            detail: describe(&e),
        };
    }
    PullError::Registry {
        what: format!("pull {repository}"),
        detail: describe(&e),
    }
}

impl<'p> Remote<'p> {
    /// Creates the runtime and client for `reference`'s repository and authenticates (see the module doc for
    /// the protocol rules). `tls_verify`: `None` for docker's default, `Some(false)` to allow insecure access.
    pub(crate) fn connect(
        reference: &Reference,
        auth: RegistryAuth,
        tls_verify: Option<bool>,
        store: ContentStore,
        progress: &'p mut dyn FnMut(PullEvent),
    ) -> Result<Remote<'p>, PullError> {
        install_crypto_provider();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(PullError::Runtime)?;
        let insecure = tls_verify.map_or_else(|| is_loopback(reference.domain()), |v| !v);
        let oref = oci_client::Reference::with_tag(
            reference.domain().to_string(),
            reference.path().to_string(),
            "latest".into(),
        );
        let https = client(ClientProtocol::Https, insecure)?;
        let client = match rt.block_on(https.auth(&oref, &auth, RegistryOperation::Pull)) {
            Ok(_) => https,
            Err(OciDistributionError::RequestError(_)) if insecure => {
                let http = client(ClientProtocol::Http, false)?;
                rt.block_on(http.auth(&oref, &auth, RegistryOperation::Pull))
                    .map_err(|e| classify(e, reference))?;
                http
            }
            Err(e) => return Err(classify(e, reference)),
        };
        Ok(Remote {
            client,
            rt,
            auth,
            registry: reference.domain().to_string(),
            repository: reference.path().to_string(),
            store,
            progress,
            downloaded: Vec::new(),
            announced: Default::default(),
        })
    }

    fn oci_ref(&self, digest_or_tag: &str) -> oci_client::Reference {
        if digest_or_tag.starts_with("sha256:") {
            oci_client::Reference::with_digest(
                self.registry.clone(),
                self.repository.clone(),
                digest_or_tag.to_string(),
            )
        } else {
            oci_client::Reference::with_tag(
                self.registry.clone(),
                self.repository.clone(),
                digest_or_tag.to_string(),
            )
        }
    }

    /// Fetches the manifest or index that `tag_or_digest` names; returns its bytes and digest (verified against
    /// a requested digest by `oci-client`, and again when staged).
    pub(crate) fn manifest(
        &self,
        tag_or_digest: &str,
    ) -> Result<(Vec<u8>, String), OciDistributionError> {
        let r = self.oci_ref(tag_or_digest);
        let (bytes, digest) = self
            .rt
            .block_on(self.client.pull_manifest_raw(&r, &self.auth, ACCEPT))?;
        Ok((bytes.to_vec(), digest))
    }

    pub(crate) fn emit(&mut self, e: PullEvent) {
        (self.progress)(e)
    }

    /// Downloads the layers of `layers` that are neither in the store nor staged, at most
    /// [`MAX_CONCURRENT_DOWNLOADS`] at a time (docker's default), and stages them; announces each layer in order
    /// (`Already exists` or `Pulling fs layer`), then each download as it completes. The first failure stops the
    /// others (their partial files are removed).
    pub(crate) fn prefetch(
        &mut self,
        staging: &mut Staging,
        layers: &[oci_spec::image::Descriptor],
    ) -> Result<(), ArchiveError> {
        let mut jobs: Vec<(Digest, u64)> = Vec::new();
        for l in layers {
            let d = crate::digest::parse(l.digest().as_ref())
                .map_err(crate::content::ContentError::from)?;
            if staging.staged_size(&d).is_some() || jobs.iter().any(|(j, _)| *j == d) {
                continue;
            }
            if self.store.contains(&d) {
                if self.announced.insert(d.clone()) {
                    self.emit(PullEvent::LayerExists(d));
                }
            } else {
                self.emit(PullEvent::LayerPulling(d.clone()));
                jobs.push((d, l.size()));
            }
        }
        let r = self.oci_ref("latest");
        let (client, progress, downloaded) =
            (&self.client, &mut self.progress, &mut self.downloaded);
        let (st, r): (&Staging, &oci_client::Reference) = (staging, &r);
        let done: Result<Vec<StagedBlob>, ArchiveError> = self.rt.block_on(async {
            let mut fetches = futures_util::stream::iter(jobs.iter())
                .map(|(d, size)| async move { (d, fetch(client, r, st, d, *size).await) })
                .buffer_unordered(MAX_CONCURRENT_DOWNLOADS);
            let mut done = Vec::new();
            while let Some((d, res)) = fetches.next().await {
                done.push(res?);
                downloaded.push(d.clone());
                progress(PullEvent::LayerDownloaded(d.clone()));
            }
            Ok(done)
        });
        for b in done? {
            staging.record(b);
        }
        Ok(())
    }

    /// Downloads and stages one blob (see [`fetch`]).
    fn download(
        &mut self,
        staging: &mut Staging,
        d: &Digest,
        size: u64,
    ) -> Result<(), ArchiveError> {
        let r = self.oci_ref("latest");
        let b = self
            .rt
            .block_on(fetch(&self.client, &r, staging, d, size))?;
        staging.record(b);
        Ok(())
    }
}

/// Layers downloaded at once (docker's `max-concurrent-downloads` default).
pub(crate) const MAX_CONCURRENT_DOWNLOADS: usize = 3;

/// Streams the blob `d` of repository `r` into a file of `staging`, verifying digest and size. A transient
/// failure (connection error, HTTP 429 or 5xx, a stream cut short) is retried twice, after 1 s and 2 s, as podman
/// does; a blob that fails verification is not.
async fn fetch(
    client: &Client,
    r: &oci_client::Reference,
    staging: &Staging,
    d: &Digest,
    size: u64,
) -> Result<StagedBlob, ArchiveError> {
    let mut delay = Duration::from_secs(1);
    let mut attempt = 1;
    loop {
        match fetch_once(client, r, staging, d, size).await {
            Err((_, true)) if attempt < 3 => {
                tokio::time::sleep(delay).await;
                delay *= 2;
                attempt += 1;
            }
            res => return res.map_err(|(e, _)| e),
        }
    }
}

/// One download attempt; an error comes with whether it is worth retrying.
async fn fetch_once(
    client: &Client,
    r: &oci_client::Reference,
    staging: &Staging,
    d: &Digest,
    size: u64,
) -> Result<StagedBlob, (ArchiveError, bool)> {
    let what = d.to_string();
    let fetch_err = |e: &dyn std::fmt::Display| ArchiveError::Fetch {
        what: format!("download blob {d}"),
        detail: e.to_string(),
    };
    let fatal = |e: ArchiveError| (e, false);
    let mut stream = client.pull_blob_stream(r, d.as_ref()).await.map_err(|e| {
        let transient = match &e {
            OciDistributionError::RequestError(_) => true,
            OciDistributionError::ServerError { code, .. } => *code == 429 || *code >= 500,
            _ => false,
        };
        (fetch_err(&describe(&e)), transient)
    })?;
    let mut w = staging.writer().map_err(|e| fatal(e.into()))?;
    while let Some(chunk) = stream.next().await {
        let chunk = match chunk {
            Ok(c) => c,
            // oci-client's own digest check at the end of the stream: report it as the store would.
            Err(e)
                if e.get_ref()
                    .is_some_and(|i| i.to_string().starts_with("Invalid digest")) =>
            {
                break;
            }
            Err(e) => return Err((fetch_err(&e), true)),
        };
        if w.len() + chunk.len() as u64 > size {
            return Err(fatal(
                crate::content::ContentError::TooLong {
                    digest: d.clone(),
                    expected: size,
                }
                .into(),
            ));
        }
        w.write_all(&chunk)
            .map_err(|e| fatal(ArchiveError::io(format!("write {what}"), e)))?;
    }
    // A stream cut short (the registry closed the connection early) is worth another try.
    let short = w.len() < size;
    w.finish(&what, Some((d, size)), None)
        .map_err(|e| (e.into(), short))
}

impl BlobSource for Remote<'_> {
    fn stage_blob(
        &mut self,
        staging: &mut Staging,
        d: &Digest,
        size: u64,
        kind: BlobKind,
    ) -> Result<(), ArchiveError> {
        if staging.staged_size(d).is_some() {
            return Ok(staging.verify(d, size)?);
        }
        match kind {
            // A manifest or config the store already has is copied (and verified again) rather than fetched.
            BlobKind::Manifest | BlobKind::Config if self.store.contains(d) => {
                let f = self.store.open_blob(d)?;
                staging.ingest(f, &format!("stored blob {d}"), Some((d, size)), None)?;
            }
            BlobKind::Manifest => {
                if size > MAX_JSON_BYTES {
                    return Err(crate::content::ContentError::TooLargeForJson(d.clone()).into());
                }
                let (bytes, _) = self.manifest(d.as_ref()).map_err(|e| ArchiveError::Fetch {
                    what: format!("fetch manifest {d}"),
                    detail: describe(&e),
                })?;
                staging.ingest(&bytes[..], &format!("manifest {d}"), Some((d, size)), None)?;
            }
            BlobKind::Layer if self.store.contains(d) => {
                let have = self.store.size(d)?;
                if have != size {
                    return Err(crate::content::ContentError::TooShort {
                        digest: d.clone(),
                        expected: size,
                        actual: have,
                    }
                    .into());
                }
                if self.announced.insert(d.clone()) {
                    self.emit(PullEvent::LayerExists(d.clone()));
                }
            }
            BlobKind::Layer => {
                self.emit(PullEvent::LayerPulling(d.clone()));
                self.download(staging, d, size)?;
                self.downloaded.push(d.clone());
                self.emit(PullEvent::LayerDownloaded(d.clone()));
            }
            BlobKind::Config => {
                self.download(staging, d, size)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::is_loopback;

    #[test]
    fn loopback_registries() {
        for d in [
            "localhost",
            "localhost:5000",
            "127.0.0.1:5000",
            "127.1.2.3",
            "[::1]:5000",
            "[::1]",
        ] {
            assert!(is_loopback(d), "{d}");
        }
        for d in [
            "docker.io",
            "10.0.0.1:5000",
            "[fe80::1]:5000",
            "localhost.example.com",
        ] {
            assert!(!is_loopback(d), "{d}");
        }
    }
}
