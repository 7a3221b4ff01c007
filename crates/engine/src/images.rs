//! The engine's image API, behind `holm images|image ls|image inspect` and the Engine API's `/images/json` and
//! `/images/{name}/json`: typed values in docker's shapes that the CLI formats and the API server serializes.
//! Removing, tagging, loading, saving and pruning are in [`crate::image_ops`], pulling in [`crate::pull`].

use crate::{Engine, Error, Result};
use holm_image::{ImageRecord, Reference};
use serde::Serialize;
use std::collections::BTreeMap;

/// One image as docker's `GET /images/json` lists it (`ImageSummary` of the Engine API 1.44).
///
/// The fields after `containers` are holm's extras for its own CLI and are not serialized.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ImageSummary {
    /// The image id: `sha256:` and the config's digest.
    pub id: String,
    /// Always empty: holm's images have no parents.
    pub parent_id: String,
    /// Its names (`docker.io/library/busybox:latest`).
    pub repo_tags: Vec<String>,
    /// Its names by digest (`docker.io/library/busybox@sha256:…`).
    pub repo_digests: Vec<String>,
    /// When the image was built, Unix seconds (0 if unknown).
    pub created: i64,
    /// Bytes of its layers, uncompressed.
    pub size: u64,
    /// Not computed: -1, as docker's default.
    pub shared_size: i64,
    /// The image config's labels.
    pub labels: BTreeMap<String, String>,
    /// Not computed: -1, as docker's default.
    pub containers: i64,
    /// The build time as the image config says it (RFC 3339), if any.
    #[serde(skip)]
    pub created_text: Option<String>,
    /// `os/arch[/variant]`.
    #[serde(skip)]
    pub platform: String,
    /// The digest of its manifest.
    #[serde(skip)]
    pub manifest_digest: String,
}

/// docker's image JSON (`GET /images/{name}/json`, `holm image inspect`) for the fields holm has.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ImageInspect {
    /// `sha256:…` of the config.
    pub id: String,
    /// Its names.
    pub repo_tags: Vec<String>,
    /// Its names by digest.
    pub repo_digests: Vec<String>,
    /// The build time (RFC 3339), `null` if the config has none.
    pub created: Option<String>,
    /// The config's author.
    pub author: Option<String>,
    /// Go's architecture name (`amd64`).
    pub architecture: String,
    /// `linux`.
    pub os: String,
    /// The architecture's variant (`v8`), if any.
    pub variant: Option<String>,
    /// Bytes of its layers, uncompressed.
    pub size: u64,
    /// The image config's `config` (docker's `Config`: `Env`, `Cmd`, `Entrypoint`, …).
    pub config: Option<oci_spec::image::Config>,
    /// `{"Type": "layers", "Layers": [diff ids]}`.
    #[serde(rename = "RootFS")]
    pub root_fs: RootFs,
    /// holm's extra: the manifest's digest, media type and size.
    pub manifest: ManifestInfo,
    /// holm's extra: the layers' chain ids.
    #[serde(rename = "ChainIDs")]
    pub chain_ids: Vec<String>,
    /// The config's history.
    pub history: Option<Vec<oci_spec::image::History>>,
}

/// `RootFS` of [`ImageInspect`].
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct RootFs {
    /// Always `layers`.
    #[serde(rename = "Type")]
    pub kind: String,
    /// The layers' diff ids, bottom first.
    pub layers: Vec<String>,
}

/// `Manifest` of [`ImageInspect`].
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ManifestInfo {
    /// `sha256:…`.
    pub digest: String,
    /// Its media type.
    pub media_type: String,
    /// Its size in bytes.
    pub size: u64,
}

/// The filters of an image listing: docker's `filters` of `GET /images/json` and `holm images --filter`, plus
/// the positional `REPOSITORY[:TAG]` of `holm images`.
#[derive(Debug, Clone, Default)]
pub struct ImageFilters {
    /// `dangling=true|false`: only images without (with) a tag.
    pub dangling: Option<bool>,
    /// `reference=PATTERN` (path.Match syntax: `busy*`, `busybox:1.*`; `*` does not cross `/`); all must match.
    pub reference: Vec<String>,
    /// `label=K[=V]`: all must hold.
    pub label: Vec<(String, Option<String>)>,
    /// The positional reference: same repository (and tag, if it names one).
    pub positional: Option<Reference>,
}

impl ImageFilters {
    /// Parses `holm images`' `--filter KEY=VALUE` values and its positional reference. Errors:
    /// [`Error::InvalidFlag`] naming `--filter` (an unknown key, a bad `dangling=` value), or the reference's
    /// parse error.
    pub fn parse(filters: &[String], positional: Option<&str>) -> Result<ImageFilters> {
        let mut f = ImageFilters {
            positional: positional
                .map(Reference::parse_normalized)
                .transpose()
                .map_err(holm_image::StoreError::from)?,
            ..Default::default()
        };
        for s in filters {
            let bad = |why: &str| Error::flag("--filter", s, why);
            match s.split_once('=') {
                Some(("dangling", v)) => {
                    f.dangling = Some(match v {
                        "true" | "1" => true,
                        "false" | "0" => false,
                        _ => return Err(bad("dangling= takes true or false")),
                    })
                }
                Some(("reference", v)) => f.reference.push(v.to_string()),
                Some(("label", v)) => f.label.push(
                    v.split_once('=')
                        .map_or((v.to_string(), None), |(k, x)| (k.into(), Some(x.into()))),
                ),
                _ => return Err(bad("invalid filter (holm has dangling, reference, label)")),
            }
        }
        Ok(f)
    }

    /// True if the name `name` (a repo tag or repo digest) passes the positional reference and every
    /// `reference=` filter.
    pub fn name_matches(&self, name: &str) -> bool {
        let positional = match &self.positional {
            None => true,
            Some(w) => Reference::parse(name).is_ok_and(|r| {
                r.repository() == w.repository() && w.tag().is_none_or(|wt| r.tag() == Some(wt))
            }),
        };
        positional && self.reference.iter().all(|p| reference_matches(p, name))
    }

    fn names_filtered(&self) -> bool {
        self.positional.is_some() || !self.reference.is_empty()
    }

    /// The `(REPOSITORY, TAG)` rows `holm images` shows for `img`: one per matching tag; for an image pulled by
    /// digest only, its repositories with the tag `<none>`; `<none> <none>` for an untagged image.
    pub fn rows(&self, img: &ImageSummary) -> Vec<(String, String)> {
        if img.repo_tags.is_empty() {
            let mut repos: Vec<(String, String)> = img
                .repo_digests
                .iter()
                .filter(|d| self.name_matches(d))
                .map(|d| split_name(d))
                .collect();
            repos.dedup();
            if repos.is_empty() {
                repos.push(("<none>".into(), "<none>".into()));
            }
            repos
        } else {
            img.repo_tags
                .iter()
                .filter(|t| self.name_matches(t))
                .map(|t| split_name(t))
                .collect()
        }
    }
}

/// docker's short form of a name (`docker.io/library/busybox:1` → `busybox:1`); the name as given if it is no
/// reference.
pub fn familiar_name(n: &str) -> String {
    Reference::parse(n)
        .map(|r| r.familiar())
        .unwrap_or_else(|_| n.to_string())
}

/// Checks that `n` is an image reference (`NAME[:TAG][@DIGEST]`, docker's grammar). Errors: the reference's
/// parse error (see [`Error::is_bad_reference`]).
pub fn check_reference(n: &str) -> Result<()> {
    Reference::parse_normalized(n).map_err(holm_image::StoreError::from)?;
    Ok(())
}

impl ImageInspect {
    /// The same with dockerd's short names in `RepoTags` and `RepoDigests` (`busybox:1`, not
    /// `docker.io/library/busybox:1`), as the Docker Engine API answers; holm's CLI keeps the full ones, as podman.
    pub fn with_familiar_names(mut self) -> ImageInspect {
        for n in self
            .repo_tags
            .iter_mut()
            .chain(self.repo_digests.iter_mut())
        {
            *n = familiar_name(n);
        }
        self
    }
}

/// `(repository, tag)` of a name (`<none>` as the tag of a name by digest).
fn split_name(n: &str) -> (String, String) {
    match Reference::parse(n) {
        Ok(r) => (r.repository(), r.tag().unwrap_or("<none>").to_string()),
        Err(_) => (n.to_string(), "<none>".to_string()),
    }
}

/// docker's `reference=` filter: the pattern (path.Match syntax: `*` and `?` within a path component) matches
/// the name with or without its tag, in full (`docker.io/library/busybox`) or docker's short form (`busybox`).
pub fn reference_matches(pattern: &str, name: &str) -> bool {
    let short = name
        .strip_prefix("docker.io/library/")
        .or_else(|| name.strip_prefix("docker.io/"))
        .unwrap_or(name);
    [name, short].iter().any(|n| {
        let repo = Reference::parse(n).map_or(n.to_string(), |r| r.repository());
        let repo_short = repo
            .strip_prefix("docker.io/library/")
            .or_else(|| repo.strip_prefix("docker.io/"))
            .unwrap_or(&repo)
            .to_string();
        glob(pattern, n) || glob(pattern, &repo) || glob(pattern, &repo_short)
    })
}

/// Go's `path.Match` without character classes: `*` matches any run of characters but `/`, `?` one of them.
fn glob(p: &str, s: &str) -> bool {
    let (p, s): (Vec<char>, Vec<char>) = (p.chars().collect(), s.chars().collect());
    fn go(p: &[char], s: &[char]) -> bool {
        match p.first() {
            None => s.is_empty(),
            Some('*') => (0..=s.len())
                .take_while(|&i| i == 0 || s[i - 1] != '/')
                .any(|i| go(&p[1..], &s[i..])),
            Some('?') => s.first().is_some_and(|c| *c != '/') && go(&p[1..], &s[1..]),
            Some(c) => s.first() == Some(c) && go(&p[1..], &s[1..]),
        }
    }
    go(&p, &s)
}

fn labels_of(engine: &Engine, img: &ImageRecord) -> Result<BTreeMap<String, String>> {
    Ok(engine
        .images()
        .config(img)?
        .config()
        .clone()
        .and_then(|c| c.labels().clone())
        .map(|l| l.into_iter().collect())
        .unwrap_or_default())
}

fn summary(img: ImageRecord, labels: BTreeMap<String, String>) -> ImageSummary {
    ImageSummary {
        id: img.id.to_string(),
        parent_id: String::new(),
        created: img
            .created
            .as_deref()
            .and_then(holm_format::time::parse_rfc3339)
            .unwrap_or(0),
        size: img.size,
        shared_size: -1,
        labels,
        containers: -1,
        created_text: img.created,
        platform: img.platform,
        manifest_digest: img.manifest.digest.to_string(),
        repo_tags: img.repo_tags,
        repo_digests: img.repo_digests,
    }
}

impl Engine {
    /// The images that pass `filters`, newest first (as docker lists them). Errors: the image store's.
    pub fn image_list(&self, filters: &ImageFilters) -> Result<Vec<ImageSummary>> {
        let mut list = Vec::new();
        for img in self.images().list()? {
            if filters
                .dangling
                .is_some_and(|d| img.repo_tags.is_empty() != d)
            {
                continue;
            }
            if filters.names_filtered() && !img.repo_tags.iter().any(|t| filters.name_matches(t)) {
                continue;
            }
            // A config that cannot be read only matters to a `label=` filter (the listing shows the image).
            let labels = match labels_of(self, &img) {
                Err(e) if !filters.label.is_empty() => return Err(e),
                r => r.unwrap_or_default(),
            };
            let labels_hold = filters.label.iter().all(|(k, want)| {
                let got = labels.get(k);
                got.is_some() && want.as_ref().is_none_or(|w| got.is_some_and(|g| g == w))
            });
            if labels_hold {
                list.push(summary(img, labels));
            }
        }
        list.sort_by_key(|i| std::cmp::Reverse(i.created));
        Ok(list)
    }

    /// docker's image JSON of the image `name` (a name, an id or an id prefix). Errors:
    /// [`holm_image::StoreError::NotFound`] (see [`Error::is_no_such_image`]), the store's.
    pub fn image_inspect(&self, name: &str) -> Result<ImageInspect> {
        let img = self.images().resolve(name)?;
        let cfg = self.images().config(&img)?;
        Ok(ImageInspect {
            id: img.id.to_string(),
            repo_tags: img.repo_tags.clone(),
            repo_digests: img.repo_digests.clone(),
            created: img.created.clone(),
            author: cfg.author().clone(),
            architecture: holm_image::platform::arch_name(cfg.architecture()),
            os: holm_image::platform::os_name(cfg.os()),
            variant: cfg.variant().clone(),
            size: img.size,
            config: cfg.config().clone(),
            root_fs: RootFs {
                kind: "layers".into(),
                layers: cfg.rootfs().diff_ids().clone(),
            },
            manifest: ManifestInfo {
                digest: img.manifest.digest.to_string(),
                media_type: img.manifest.media_type.to_string(),
                size: img.manifest.size,
            },
            chain_ids: img.layers.iter().map(|c| c.to_string()).collect(),
            history: cfg.history().clone(),
        })
    }

    /// Bytes of the image `name`'s layers (0 if there is no such image): `SizeRootFs` is a container's writable
    /// layer plus this.
    pub fn image_size(&self, name: &str) -> u64 {
        self.images().resolve(name).map_or(0, |i| i.size)
    }
}

#[cfg(test)]
mod tests {
    use super::{glob, reference_matches};

    #[test]
    fn reference_filter_patterns() {
        assert!(glob("busy*", "busybox"));
        assert!(!glob("*", "library/busybox"));
        assert!(glob("b?sybox:1.*", "busybox:1.36"));
        let n = "docker.io/library/busybox:1.36";
        for p in [
            "busybox",
            "busy*",
            "busybox:1.*",
            "docker.io/library/busybox",
            "*:1.36",
        ] {
            assert!(reference_matches(p, n), "{p}");
        }
        for p in ["alpine", "busybox:2*", "*box:9"] {
            assert!(!reference_matches(p, n), "{p}");
        }
        assert!(reference_matches("example.com/*/x", "example.com/team/x:1"));
    }
}
