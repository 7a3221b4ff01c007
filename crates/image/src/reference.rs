//! Image references with docker's normalisation (distribution `reference` grammar): `busybox` →
//! `docker.io/library/busybox:latest`, `host:5000/ns/app@sha256:…`, tags and digests.
//!
//! Grammar (distribution/reference):
//! ```text
//! reference   := name [ ":" tag ] [ "@" digest ]
//! name        := [domain "/"] path-component ["/" path-component]*
//! domain      := host [":" port]        host := domain-component ["." domain-component]* | "[" ipv6 "]"
//! path-comp   := [a-z0-9]+ ( ( [._] | "__" | "-"+ ) [a-z0-9]+ )*
//! tag         := [A-Za-z0-9_] [A-Za-z0-9_.-]{0,127}
//! ```
//! The first component is a domain if it contains `.` or `:`, is `localhost`, or has an uppercase letter;
//! otherwise the domain is `docker.io`, and a single-component name there gets `library/` in front.

use crate::digest::{self, Digest};
use std::fmt;

/// The registry that names without a domain refer to.
pub const DEFAULT_DOMAIN: &str = "docker.io";
/// The tag of a reference that names neither tag nor digest.
pub const DEFAULT_TAG: &str = "latest";
const LEGACY_DOMAIN: &str = "index.docker.io";
const OFFICIAL_PREFIX: &str = "library/";
const NAME_MAX: usize = 255;

/// Why a string is not a valid reference. Every variant names the input.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ReferenceError {
    /// Empty input.
    #[error("invalid reference format: empty reference")]
    Empty,
    /// The input breaks the grammar; `what` says where.
    #[error("invalid reference format `{input}`: {what}")]
    Format {
        /// The input as given.
        input: String,
        /// What is wrong with it.
        what: String,
    },
    /// The repository path has uppercase letters.
    #[error("invalid reference format `{0}`: repository name must be lowercase")]
    Uppercase(String),
    /// The full name is longer than 255 characters.
    #[error(
        "invalid reference format `{0}`: repository name must not be more than 255 characters"
    )]
    NameTooLong(String),
    /// A 64-digit hex string, which would be confused with an image id.
    #[error("invalid repository name `{0}`: cannot specify 64-byte hexadecimal strings")]
    HexId(String),
}

/// A normalised image reference: `domain/path[:tag][@digest]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Reference {
    domain: String,
    path: String,
    tag: Option<String>,
    digest: Option<Digest>,
}

impl Reference {
    /// Parses `s` with docker's normalisation, without adding a default tag (see [`Reference::or_latest`]).
    ///
    /// Errors: [`ReferenceError`] naming the input.
    pub fn parse_normalized(s: &str) -> Result<Reference, ReferenceError> {
        if s.is_empty() {
            return Err(ReferenceError::Empty);
        }
        if digest::is_sha256_hex(s) {
            return Err(ReferenceError::HexId(s.to_string()));
        }
        let fmt_err = |what: &str| ReferenceError::Format {
            input: s.to_string(),
            what: what.to_string(),
        };
        let (rest, digest) = match s.split_once('@') {
            Some((r, d)) => {
                let d = digest::parse(d).map_err(|e| fmt_err(&e.to_string()))?;
                (r, Some(d))
            }
            None => (s, None),
        };
        // A tag is after the last ':' that follows the last '/'.
        let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match rest[last_slash..].rfind(':') {
            Some(i) => {
                let i = last_slash + i;
                (&rest[..i], Some(&rest[i + 1..]))
            }
            None => (rest, None),
        };
        if let Some(t) = tag {
            if !valid_tag(t) {
                return Err(fmt_err(&format!("invalid tag `{t}`")));
            }
        }
        let (domain, path) = split_domain(name);
        if path.chars().any(|c| c.is_ascii_uppercase()) {
            return Err(ReferenceError::Uppercase(s.to_string()));
        }
        if !valid_domain(&domain) {
            return Err(fmt_err(&format!("invalid domain `{domain}`")));
        }
        if path.is_empty() || !path.split('/').all(valid_path_component) {
            return Err(fmt_err(&format!("invalid repository path `{path}`")));
        }
        if domain.len() + 1 + path.len() > NAME_MAX {
            return Err(ReferenceError::NameTooLong(s.to_string()));
        }
        Ok(Reference {
            domain,
            path,
            tag: tag.map(str::to_string),
            digest,
        })
    }

    /// Parses `s` like [`Reference::parse_normalized`] and adds the tag `latest` if it names neither tag nor digest
    /// (docker's `TagNameOnly`).
    pub fn parse(s: &str) -> Result<Reference, ReferenceError> {
        Ok(Self::parse_normalized(s)?.or_latest())
    }

    /// Adds the tag `latest` if the reference has neither tag nor digest.
    pub fn or_latest(mut self) -> Reference {
        if self.tag.is_none() && self.digest.is_none() {
            self.tag = Some(DEFAULT_TAG.to_string());
        }
        self
    }

    /// The registry host (and port), e.g. `docker.io`, `host:5000`.
    pub fn domain(&self) -> &str {
        &self.domain
    }

    /// The repository path inside the registry, e.g. `library/busybox`.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The repository: `domain/path`, e.g. `docker.io/library/busybox`.
    pub fn repository(&self) -> String {
        format!("{}/{}", self.domain, self.path)
    }

    /// The tag, if any.
    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    /// The digest, if any.
    pub fn digest(&self) -> Option<&Digest> {
        self.digest.as_ref()
    }

    /// The same repository with `tag` and no digest.
    pub fn with_tag(&self, tag: &str) -> Result<Reference, ReferenceError> {
        if !valid_tag(tag) {
            return Err(ReferenceError::Format {
                input: tag.to_string(),
                what: "invalid tag".to_string(),
            });
        }
        Ok(Reference {
            domain: self.domain.clone(),
            path: self.path.clone(),
            tag: Some(tag.to_string()),
            digest: None,
        })
    }

    /// The same repository with `digest` and no tag.
    pub fn with_digest(&self, digest: Digest) -> Reference {
        Reference {
            domain: self.domain.clone(),
            path: self.path.clone(),
            tag: None,
            digest: Some(digest),
        }
    }

    /// Docker's short ("familiar") form: `docker.io/library/busybox:latest` → `busybox:latest`,
    /// `docker.io/foo/bar` → `foo/bar`; other domains are kept.
    pub fn familiar(&self) -> String {
        let mut s = self.familiar_repository();
        if let Some(t) = &self.tag {
            s.push(':');
            s.push_str(t);
        }
        if let Some(d) = &self.digest {
            s.push('@');
            s.push_str(d.as_ref());
        }
        s
    }
}

impl Reference {
    /// The repository in docker's short form: `docker.io/library/busybox` → `busybox`, other domains kept.
    pub fn familiar_repository(&self) -> String {
        if self.domain == DEFAULT_DOMAIN {
            self.path
                .strip_prefix(OFFICIAL_PREFIX)
                .filter(|p| !p.contains('/'))
                .unwrap_or(&self.path)
                .to_string()
        } else {
            self.repository()
        }
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.domain, self.path)?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

impl std::str::FromStr for Reference {
    type Err = ReferenceError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Reference::parse(s)
    }
}

/// Splits `name` into (domain, path) with docker's rules, applying `docker.io` and `library/`.
fn split_domain(name: &str) -> (String, String) {
    let (domain, path) = match name.split_once('/') {
        Some((first, rest))
            if first.contains(['.', ':'])
                || first == "localhost"
                || first.chars().any(|c| c.is_ascii_uppercase()) =>
        {
            (first.to_string(), rest.to_string())
        }
        _ => (DEFAULT_DOMAIN.to_string(), name.to_string()),
    };
    let domain = if domain == LEGACY_DOMAIN {
        DEFAULT_DOMAIN.to_string()
    } else {
        domain
    };
    let path = if domain == DEFAULT_DOMAIN && !path.contains('/') {
        format!("{OFFICIAL_PREFIX}{path}")
    } else {
        path
    };
    (domain, path)
}

fn valid_tag(t: &str) -> bool {
    let b = t.as_bytes();
    !b.is_empty()
        && b.len() <= 128
        && (b[0].is_ascii_alphanumeric() || b[0] == b'_')
        && b[1..]
            .iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'))
}

fn valid_domain(d: &str) -> bool {
    let (host, port) = if let Some(rest) = d.strip_prefix('[') {
        // [ipv6]:port
        let Some((ip, after)) = rest.split_once(']') else {
            return false;
        };
        if ip.is_empty() || !ip.chars().all(|c| c.is_ascii_hexdigit() || c == ':') {
            return false;
        }
        match after {
            "" => return true,
            p => match p.strip_prefix(':') {
                Some(port) => return !port.is_empty() && port.bytes().all(|c| c.is_ascii_digit()),
                None => return false,
            },
        }
    } else {
        match d.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (d, None),
        }
    };
    if let Some(p) = port {
        if p.is_empty() || !p.bytes().all(|c| c.is_ascii_digit()) {
            return false;
        }
    }
    !host.is_empty()
        && host.split('.').all(|c| {
            let b = c.as_bytes();
            !b.is_empty()
                && b.iter().all(|x| x.is_ascii_alphanumeric() || *x == b'-')
                && b[0] != b'-'
                && b[b.len() - 1] != b'-'
        })
}

fn valid_path_component(c: &str) -> bool {
    // [a-z0-9]+ ( ( [._] | "__" | "-"+ ) [a-z0-9]+ )*
    let b = c.as_bytes();
    let alnum = |x: u8| x.is_ascii_lowercase() || x.is_ascii_digit();
    let mut i = 0;
    let run = |i: &mut usize| {
        let start = *i;
        while *i < b.len() && alnum(b[*i]) {
            *i += 1;
        }
        *i > start
    };
    if !run(&mut i) {
        return false;
    }
    while i < b.len() {
        match b[i] {
            b'.' => i += 1,
            b'_' => {
                i += 1;
                if i < b.len() && b[i] == b'_' {
                    i += 1;
                }
            }
            b'-' => {
                while i < b.len() && b[i] == b'-' {
                    i += 1;
                }
            }
            _ => return false,
        }
        if !run(&mut i) {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> String {
        Reference::parse(s).unwrap().to_string()
    }

    #[test]
    fn docker_normalisation() {
        assert_eq!(n("busybox"), "docker.io/library/busybox:latest");
        assert_eq!(n("busybox:1.36"), "docker.io/library/busybox:1.36");
        assert_eq!(n("library/busybox"), "docker.io/library/busybox:latest");
        assert_eq!(n("foo/bar"), "docker.io/foo/bar:latest");
        assert_eq!(n("index.docker.io/foo"), "docker.io/library/foo:latest");
        assert_eq!(n("docker.io/foo/bar:v1"), "docker.io/foo/bar:v1");
        assert_eq!(n("localhost/app"), "localhost/app:latest");
        assert_eq!(n("localhost:5000/app:t"), "localhost:5000/app:t");
        assert_eq!(n("host:5000/ns/app"), "host:5000/ns/app:latest");
        assert_eq!(n("quay.io/a/b/c:x_y.z-1"), "quay.io/a/b/c:x_y.z-1");
        assert_eq!(n("Registry/app"), "Registry/app:latest");
        assert_eq!(n("[::1]:5000/app"), "[::1]:5000/app:latest");
        assert_eq!(n("a__b/c-d.e"), "docker.io/a__b/c-d.e:latest");
        let d = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        assert_eq!(
            n(&format!("host:5000/ns/app@{d}")),
            format!("host:5000/ns/app@{d}")
        );
        assert_eq!(
            n(&format!("app:v2@{d}")),
            format!("docker.io/library/app:v2@{d}")
        );
        let r = Reference::parse(&format!("host:5000/ns/app@{d}")).unwrap();
        assert_eq!(r.tag(), None);
        assert_eq!(r.digest().unwrap().to_string(), d);
        assert_eq!(r.domain(), "host:5000");
        assert_eq!(r.path(), "ns/app");
    }

    #[test]
    fn familiar_form() {
        let f = |s: &str| Reference::parse(s).unwrap().familiar();
        assert_eq!(f("busybox"), "busybox:latest");
        assert_eq!(f("docker.io/foo/bar:1"), "foo/bar:1");
        assert_eq!(f("docker.io/library/a/b"), "library/a/b:latest");
        assert_eq!(f("quay.io/x/y"), "quay.io/x/y:latest");
    }

    #[test]
    fn invalid_references_are_rejected() {
        for bad in [
            "",
            "Busybox",
            "docker.io/Foo/bar",
            "a:",
            ":tag",
            "a//b",
            "a/",
            "/a",
            "-a",
            "a-",
            "a..b",
            "a___b",
            "a:tag with space",
            "a:-bad",
            "a@sha256:abc",
            "a@md5:0123",
            "a$b",
            "host:port/app",
            "ho_st.io/app",
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        ] {
            assert!(Reference::parse(bad).is_err(), "accepted `{bad}`");
        }
        assert!(matches!(
            Reference::parse("Busybox"),
            Err(ReferenceError::Uppercase(_))
        ));
        let long = format!("a/{}", "b".repeat(300));
        assert!(matches!(
            Reference::parse(&long),
            Err(ReferenceError::NameTooLong(_))
        ));
        let e = Reference::parse("a:-bad").unwrap_err().to_string();
        assert!(e.contains("a:-bad"), "{e}");
    }

    #[test]
    fn with_tag_and_digest() {
        let r = Reference::parse("busybox").unwrap();
        assert_eq!(
            r.with_tag("v1").unwrap().to_string(),
            "docker.io/library/busybox:v1"
        );
        assert!(r.with_tag("").is_err());
        let d = crate::digest::sha256(b"x");
        assert_eq!(
            r.with_digest(d.clone()).to_string(),
            format!("docker.io/library/busybox@{d}")
        );
    }
}
