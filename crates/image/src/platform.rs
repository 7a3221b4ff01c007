//! Platforms (`os/architecture[/variant]`, image-spec `image-index.md#platform-variants`) and how a multi-platform
//! index entry is matched against the platform the user asked for (default `linux/amd64`).

use oci_spec::image::{Arch, Os, Platform as OciPlatform};
use std::fmt;

/// Errors of this module.
#[derive(Debug, thiserror::Error)]
pub enum PlatformError {
    /// The string is not `os/arch[/variant]`.
    #[error("invalid platform `{0}`: expected os/arch[/variant], e.g. linux/amd64")]
    Invalid(String),
}

/// A platform to select from an image index, in Go's `GOOS`/`GOARCH` names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Platform {
    /// e.g. `linux`.
    pub os: String,
    /// e.g. `amd64`, `arm64`.
    pub architecture: String,
    /// e.g. `v8` for arm64; `None` matches any variant.
    pub variant: Option<String>,
}

impl Default for Platform {
    /// `linux/amd64`, the platform holm runs on.
    fn default() -> Self {
        Platform {
            os: "linux".into(),
            architecture: "amd64".into(),
            variant: None,
        }
    }
}

impl Platform {
    /// Parses `os/arch[/variant]`, normalising common aliases (`x86_64` → `amd64`, `aarch64` → `arm64`).
    pub fn parse(s: &str) -> Result<Platform, PlatformError> {
        let parts: Vec<&str> = s.split('/').collect();
        let bad = || PlatformError::Invalid(s.to_string());
        if !(2..=3).contains(&parts.len()) || parts.iter().any(|p| p.is_empty()) {
            return Err(bad());
        }
        let arch = match parts[1] {
            "x86_64" | "x86-64" => "amd64",
            "aarch64" => "arm64",
            a => a,
        };
        Ok(Platform {
            os: parts[0].to_ascii_lowercase(),
            architecture: arch.to_ascii_lowercase(),
            variant: parts.get(2).map(|v| v.to_string()),
        })
    }

    /// True if an index entry's platform is this one. An entry without a variant matches any requested variant
    /// and vice versa; `arm64` without a variant equals `arm64/v8`.
    pub fn matches(&self, p: &OciPlatform) -> bool {
        let os = os_name(p.os());
        let arch = arch_name(p.architecture());
        if os != self.os || arch != self.architecture {
            return false;
        }
        let norm = |v: Option<&str>| match (arch.as_str(), v) {
            ("arm64", None) => Some("v8".to_string()),
            (_, v) => v.map(str::to_string),
        };
        match (norm(self.variant.as_deref()), norm(p.variant().as_deref())) {
            (Some(a), Some(b)) => a == b,
            _ => true,
        }
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

/// The Go name of an [`Os`] (`linux`).
pub fn os_name(os: &Os) -> String {
    serde_json::to_value(os)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

/// The Go name of an [`Arch`] (`amd64`).
pub fn arch_name(arch: &Arch) -> String {
    serde_json::to_value(arch)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn oci(os: &str, arch: &str, variant: Option<&str>) -> OciPlatform {
        let mut v = serde_json::json!({"os": os, "architecture": arch});
        if let Some(x) = variant {
            v["variant"] = x.into();
        }
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn parse_and_display() {
        assert_eq!(Platform::parse("linux/amd64").unwrap(), Platform::default());
        assert_eq!(
            Platform::parse("linux/x86_64").unwrap().to_string(),
            "linux/amd64"
        );
        assert_eq!(
            Platform::parse("linux/arm64/v8").unwrap().to_string(),
            "linux/arm64/v8"
        );
        for bad in ["linux", "linux/", "/amd64", "a/b/c/d", ""] {
            assert!(Platform::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn matching() {
        let amd = Platform::default();
        assert!(amd.matches(&oci("linux", "amd64", None)));
        assert!(!amd.matches(&oci("linux", "arm64", None)));
        assert!(!amd.matches(&oci("windows", "amd64", None)));
        let arm = Platform::parse("linux/arm64").unwrap();
        assert!(arm.matches(&oci("linux", "arm64", Some("v8"))));
        let armv7 = Platform::parse("linux/arm/v7").unwrap();
        assert!(armv7.matches(&oci("linux", "arm", Some("v7"))));
        assert!(!armv7.matches(&oci("linux", "arm", Some("v6"))));
    }
}
