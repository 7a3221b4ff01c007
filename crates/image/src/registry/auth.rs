//! Registry credentials, read with the `docker_credential` crate from the file podman's `REGISTRY_AUTH_FILE`
//! names if it is set, else from docker's `config.json` (`$DOCKER_CONFIG/config.json`, default
//! `~/.docker/config.json`). Both use docker's format: `{"auths": {"host:port": {"auth": base64("user:pass")}}}`,
//! plus `credHelpers` / `credsStore` (the helper programs are run by `docker_credential`).
//!
//! A missing file or a registry without an entry means anonymous access (registries that want a token hand one
//! out through their `WWW-Authenticate` challenge); a file that cannot be parsed is an error naming it.

use super::PullError;
use docker_credential::{CredentialRetrievalError as E, DockerCredential};
use oci_client::secrets::RegistryAuth;
use std::path::PathBuf;

/// The key docker uses for Docker Hub's credentials.
const DOCKER_HUB_KEY: &str = "https://index.docker.io/v1/";

/// The file credentials are read from, if any: `REGISTRY_AUTH_FILE`, else docker's `config.json`.
pub fn auth_file() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("REGISTRY_AUTH_FILE").filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(p));
    }
    let dir = std::env::var_os("DOCKER_CONFIG")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".docker")))?;
    Some(dir.join("config.json"))
}

/// The credentials for the registry `domain` (`host[:port]`, `docker.io` for Docker Hub).
///
/// Errors: [`PullError::Credentials`] naming the file when it cannot be read or parsed, or a credential helper
/// failed.
pub fn credentials(domain: &str) -> Result<RegistryAuth, PullError> {
    let Some(path) = auth_file() else {
        return Ok(RegistryAuth::Anonymous);
    };
    let err = |detail: String| PullError::Credentials {
        registry: domain.to_string(),
        file: path.display().to_string(),
        detail,
    };
    let f = match std::fs::File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(RegistryAuth::Anonymous),
        Err(e) => return Err(err(e.to_string())),
    };
    let server = if domain == crate::reference::DEFAULT_DOMAIN {
        DOCKER_HUB_KEY
    } else {
        domain
    };
    match docker_credential::get_credential_from_reader(std::io::BufReader::new(f), server) {
        Ok(DockerCredential::UsernamePassword(u, p)) => Ok(RegistryAuth::Basic(u, p)),
        Ok(DockerCredential::IdentityToken(_)) => Err(err(
            "identity tokens (OAuth refresh tokens) are not supported: store a username and password".into(),
        )),
        Err(E::NoCredentialConfigured) => Ok(RegistryAuth::Anonymous),
        Err(E::ConfigReadError) => Err(err("not a valid docker config / auth file (JSON)".into())),
        Err(e) => Err(err(e.to_string().trim_end().replace('\n', " "))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_file(content: &str, f: impl FnOnce()) {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("auth.json");
        std::fs::write(&p, content).unwrap();
        // Tests in this module are the only ones touching REGISTRY_AUTH_FILE and run in one test function.
        std::env::set_var("REGISTRY_AUTH_FILE", &p);
        f();
        std::env::remove_var("REGISTRY_AUTH_FILE");
    }

    #[test]
    fn credentials_from_auth_file() {
        // base64("user:secret")
        with_file(
            r#"{"auths":{"127.0.0.1:5000":{"auth":"dXNlcjpzZWNyZXQ="},
                "https://index.docker.io/v1/":{"auth":"aHViOmh1YnB3"}}}"#,
            || {
                match credentials("127.0.0.1:5000").unwrap() {
                    RegistryAuth::Basic(u, p) => {
                        assert_eq!((u.as_str(), p.as_str()), ("user", "secret"))
                    }
                    other => panic!("{other:?}"),
                }
                match credentials("docker.io").unwrap() {
                    RegistryAuth::Basic(u, p) => {
                        assert_eq!((u.as_str(), p.as_str()), ("hub", "hubpw"))
                    }
                    other => panic!("{other:?}"),
                }
                assert!(matches!(
                    credentials("other.example:5000").unwrap(),
                    RegistryAuth::Anonymous
                ));
            },
        );
        with_file("{not json", || {
            let e = credentials("127.0.0.1:5000").unwrap_err().to_string();
            assert!(e.contains("auth.json") && e.contains("not a valid"), "{e}");
        });
    }
}
