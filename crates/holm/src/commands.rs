//! The image commands: each builds a request, calls `holm-image` and prints the result the way docker does.

use crate::cli::{ImagesArgs, LoadArgs, PruneArgs, RmiArgs, SaveArgs, SaveFormat, TagArgs};
use crate::format::Format;
use anyhow::{bail, Context, Result};
use holm_image::platform::Platform;
use holm_image::unpack::UnpackOptions;
use holm_image::{ArchiveFormat, ImageRecord, ImageStore, LoadOptions, Reference};
use serde_json::json;
use std::io::{IsTerminal, Write};

/// `holm load`.
pub fn load(store: &ImageStore, a: &LoadArgs) -> Result<()> {
    let opts = LoadOptions {
        platform: Platform::parse(&a.platform)
            .map_err(|e| holm_engine::Error::flag("--platform", &a.platform, e.to_string()))?,
        unpack: UnpackOptions {
            max_bytes: a.max_layer_size,
        },
    };
    let input = match &a.input {
        Some(p) if p.as_os_str() != "-" => p.clone(),
        _ => {
            if std::io::stdin().is_terminal() {
                bail!("no archive given: use -i FILE or redirect standard input");
            }
            std::path::PathBuf::from("/dev/stdin")
        }
    };
    let loaded = store
        .load(&input, &opts)
        .with_context(|| format!("load {}", input.display()))?;
    let mut out = std::io::stdout().lock();
    for l in loaded {
        if a.quiet || l.names.is_empty() {
            writeln!(out, "Loaded image ID: {}", l.id)?;
        }
        if !a.quiet {
            for n in &l.names {
                writeln!(out, "Loaded image: {n}")?;
            }
        }
    }
    Ok(())
}

/// `holm save`: to a file (written to a temporary name, then renamed) or to standard output if it is not a
/// terminal.
pub fn save(store: &ImageStore, a: &SaveArgs) -> Result<()> {
    let format = match a.format {
        SaveFormat::DockerArchive => ArchiveFormat::DockerArchive,
        SaveFormat::OciArchive => ArchiveFormat::OciArchive,
    };
    match &a.output {
        Some(path) => {
            let mut tmp_name = path.file_name().unwrap_or_default().to_os_string();
            tmp_name.push(format!(".holm-tmp-{}", std::process::id()));
            let tmp = path.with_file_name(tmp_name);
            let res = (|| -> Result<()> {
                let f = std::fs::File::create(&tmp)
                    .with_context(|| format!("create {}", tmp.display()))?;
                // A failure to write names the output file (an archive's entry name alone, `LAYER/layer.tar: No
                // space left on device`, does not say where).
                let save = |e: holm_image::StoreError| -> anyhow::Error {
                    match e {
                        e @ holm_image::StoreError::NotFound(_) => e.into(),
                        e => anyhow::Error::from(e).context(format!("save {}", path.display())),
                    }
                };
                let w = store
                    .save(
                        &a.images,
                        format,
                        std::io::BufWriter::with_capacity(1 << 20, f),
                    )
                    .map_err(save)?;
                w.into_inner()
                    .map_err(|e| e.into_error())
                    .and_then(|f| f.sync_all().map(|()| f))
                    .with_context(|| format!("save {}", path.display()))?;
                std::fs::rename(&tmp, path)
                    .with_context(|| format!("rename to {}", path.display()))?;
                Ok(())
            })();
            if res.is_err() {
                let _ = std::fs::remove_file(&tmp);
            }
            res
        }
        None => {
            let stdout = std::io::stdout();
            if stdout.is_terminal() {
                bail!("refusing to write an archive to a terminal: use -o FILE or redirect standard output");
            }
            let mut w = store.save(&a.images, format, std::io::BufWriter::new(stdout.lock()))?;
            w.flush()?;
            Ok(())
        }
    }
}

fn split_name(n: &str) -> (String, String) {
    match Reference::parse(n) {
        Ok(r) => (r.repository(), r.tag().unwrap_or("<none>").to_string()),
        Err(_) => (n.to_string(), "<none>".to_string()),
    }
}

fn short_id(img: &ImageRecord, no_trunc: bool) -> String {
    let hex = img.id.digest().to_string();
    if no_trunc {
        img.id.to_string()
    } else {
        hex[..12].to_string()
    }
}

/// `holm images`.
pub fn images(store: &ImageStore, a: &ImagesArgs) -> Result<()> {
    let format = Format::parse(a.format.as_deref(), IMAGES_DEFAULT)?;
    let mut list = store.list()?;
    let want = a
        .reference
        .as_deref()
        .map(Reference::parse_normalized)
        .transpose()?;
    let mut refs = Vec::new();
    for f in &a.filter {
        let bad = |why: &str| holm_engine::Error::flag("--filter", f, why);
        match f.split_once('=') {
            Some(("dangling", v)) => {
                let d = match v {
                    "true" | "1" => true,
                    "false" | "0" => false,
                    _ => return Err(bad("dangling= takes true or false").into()),
                };
                list.retain(|i| i.repo_tags.is_empty() == d);
            }
            Some(("reference", v)) => refs.push(v.to_string()),
            Some(("label", v)) => {
                let (k, want_v) = v.split_once('=').map_or((v, None), |(k, x)| (k, Some(x)));
                let mut keep = Vec::new();
                for i in list {
                    let labels = store
                        .config(&i)?
                        .config()
                        .clone()
                        .and_then(|c| c.labels().clone());
                    let got = labels.as_ref().and_then(|l| l.get(k));
                    if got.is_some() && want_v.is_none_or(|w| got.is_some_and(|g| g == w)) {
                        keep.push(i);
                    }
                }
                list = keep;
            }
            _ => {
                return Err(bad("invalid filter (holm has dangling, reference, label)").into());
            }
        }
    }
    let matches = |t: &String| {
        let positional = match &want {
            None => true,
            Some(w) => Reference::parse(t).is_ok_and(|r| {
                r.repository() == w.repository() && w.tag().is_none_or(|wt| r.tag() == Some(wt))
            }),
        };
        positional && refs.iter().all(|p| reference_matches(p, t))
    };
    if want.is_some() || !refs.is_empty() {
        list.retain(|i| i.repo_tags.iter().any(matches));
    }
    // newest first, like docker
    list.sort_by_key(|i| {
        std::cmp::Reverse(
            i.created
                .as_deref()
                .and_then(holm_format::time::parse_rfc3339)
                .unwrap_or(0),
        )
    });
    let mut out = std::io::stdout().lock();
    if a.quiet {
        let mut seen = std::collections::HashSet::new();
        for i in &list {
            if seen.insert(i.id.clone()) {
                writeln!(out, "{}", short_id(i, a.no_trunc))?;
            }
        }
        return Ok(());
    }
    if let Format::Json = format {
        let v: Vec<_> = list
            .iter()
            .map(|i| {
                json!({
                    "Id": i.id.to_string(),
                    "RepoTags": i.repo_tags,
                    "RepoDigests": i.repo_digests,
                    "Created": i.created,
                    "Size": i.size,
                    "Platform": i.platform,
                    "Digest": i.manifest.digest.to_string(),
                })
            })
            .collect();
        writeln!(out, "{}", serde_json::to_string_pretty(&v)?)?;
        return Ok(());
    }
    let now = holm_format::time::now_secs();
    let mut rows = Vec::new();
    for i in &list {
        let names: Vec<(String, String)> = if i.repo_tags.is_empty() {
            // Pulled by digest: docker shows the repository with the tag `<none>`.
            let mut repos: Vec<(String, String)> = i
                .repo_digests
                .iter()
                .filter(|d| matches(d))
                .map(|d| split_name(d))
                .collect();
            repos.dedup();
            if repos.is_empty() {
                repos.push(("<none>".into(), "<none>".into()));
            }
            repos
        } else {
            i.repo_tags
                .iter()
                .filter(|t| matches(t))
                .map(|t| split_name(t))
                .collect()
        };
        for (repo, tag) in names {
            rows.push(image_row(i, repo, tag, now, a.no_trunc));
        }
    }
    out.write_all(format.render(&rows, &image_headers())?.as_bytes())?;
    Ok(())
}

/// docker's `reference=` filter: the pattern (path.Match syntax: `*` and `?` within a path component) matches
/// the name with or without its tag, in full (`docker.io/library/busybox`) or docker's short form (`busybox`).
fn reference_matches(pattern: &str, name: &str) -> bool {
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

/// docker's default `images` columns.
const IMAGES_DEFAULT: &str = "{{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}";

/// Column titles of docker's `images` fields, for `table` formats.
fn image_headers() -> serde_json::Value {
    json!({
        "ID": "IMAGE ID", "Repository": "REPOSITORY", "Tag": "TAG", "Digest": "DIGEST",
        "CreatedSince": "CREATED", "CreatedAt": "CREATED AT", "Size": "SIZE", "Containers": "CONTAINERS",
        "SharedSize": "SHARED SIZE", "UniqueSize": "UNIQUE SIZE", "VirtualSize": "SIZE",
    })
}

/// One line of `holm images` as docker's template sees it: `ID` (12 hex digits, or `sha256:…` with
/// `--no-trunc`), `Repository`, `Tag`, `Digest`, `CreatedSince` (`2 weeks ago`), `CreatedAt`, `Size` (`4.26MB`),
/// `Containers`, `SharedSize`, `UniqueSize` (`N/A`: not computed), `VirtualSize`.
fn image_row(
    i: &ImageRecord,
    repo: String,
    tag: String,
    now: i64,
    no_trunc: bool,
) -> serde_json::Value {
    let created = i
        .created
        .as_deref()
        .and_then(holm_format::time::parse_rfc3339);
    let digest = i
        .repo_digests
        .iter()
        .find_map(|d| d.split_once('@').map(|x| x.1.to_string()))
        .unwrap_or_else(|| "<none>".into());
    json!({
        "ID": short_id(i, no_trunc),
        "Repository": repo,
        "Tag": tag,
        "Digest": digest,
        "CreatedSince": created.map_or("N/A".to_string(), |t| holm_format::time::ago(t, now)),
        "CreatedAt": i.created.as_deref().map(holm_format::time::created_at).unwrap_or_default(),
        "Size": holm_format::size::size(i.size),
        "VirtualSize": holm_format::size::size(i.size),
        "Containers": "N/A",
        "SharedSize": "N/A",
        "UniqueSize": "N/A",
    })
}

/// docker's image JSON (`holm image inspect`, `holm inspect IMAGE`) for the fields holm has.
pub fn image_json(store: &ImageStore, img: &ImageRecord) -> Result<serde_json::Value> {
    let cfg = store.config(img)?;
    let layers: Vec<String> = cfg.rootfs().diff_ids().clone();
    Ok(json!({
        "Id": img.id.to_string(),
        "RepoTags": img.repo_tags,
        "RepoDigests": img.repo_digests,
        "Created": img.created,
        "Author": cfg.author(),
        "Architecture": holm_image::platform::arch_name(cfg.architecture()),
        "Os": holm_image::platform::os_name(cfg.os()),
        "Variant": cfg.variant(),
        "Size": img.size,
        "Config": cfg.config(),
        "RootFS": {"Type": "layers", "Layers": layers},
        "Manifest": {
            "Digest": img.manifest.digest.to_string(),
            "MediaType": img.manifest.media_type,
            "Size": img.manifest.size,
        },
        "ChainIDs": img.layers.iter().map(|c| c.to_string()).collect::<Vec<_>>(),
        "History": cfg.history(),
    }))
}

/// `holm rmi`: removes each image; failures are reported (one line each, as docker does) and make the exit status
/// 1, but do not stop the others. With `-f` a missing image is reported but is no failure, as docker's. An image
/// a running (or paused, restarting) container uses is never deleted, even with `-f`.
pub fn rmi(engine: &holm_engine::Engine, a: &RmiArgs) -> Result<i32> {
    let store = engine.images();
    let running: std::collections::HashSet<String> = engine
        .list()?
        .into_iter()
        .filter(|(_, st)| {
            use holm_engine::lifecycle::Status;
            matches!(st, Status::Running | Status::Paused | Status::Restarting)
        })
        .map(|(r, _)| r.id)
        .collect();
    let mut code = 0;
    let mut out = std::io::stdout().lock();
    for name in &a.images {
        // From the root's reserve if the disk is full: removing images is how a user frees space.
        let removed = holm_engine::space::with_reserve_of(engine.root(), || {
            store.remove_checked(name, a.force, &|s| running.contains(s))
        });
        match removed {
            Ok(r) => {
                for u in r.untagged {
                    writeln!(out, "Untagged: {u}")?;
                }
                for d in r.deleted {
                    writeln!(out, "Deleted: {d}")?;
                }
            }
            // docker: with -f a missing image is reported but is no failure
            Err(e @ holm_image::StoreError::NotFound(_)) if a.force => {
                crate::exitcode::fail(&e.into(), crate::exitcode::Verb::Other);
            }
            Err(e) => {
                code = code.max(crate::exitcode::fail(
                    &e.into(),
                    crate::exitcode::Verb::Other,
                ));
            }
        }
    }
    Ok(code)
}

/// `holm tag`.
pub fn tag(store: &ImageStore, a: &TagArgs) -> Result<()> {
    store.tag(&a.source, &a.target)?;
    Ok(())
}

/// `holm image prune`.
pub fn prune(store: &ImageStore, root: &std::path::Path, a: &PruneArgs) -> Result<()> {
    let warning = if a.all {
        "WARNING! This will remove all images without at least one container associated to them."
    } else {
        "WARNING! This will remove all dangling images."
    };
    if !crate::confirm::confirm(a.force, warning)? {
        return Ok(());
    }
    // From the root's reserve if the disk is full (see `rmi`).
    let (deleted, gc) = holm_engine::space::with_reserve_of(root, || store.prune(a.all))?;
    let mut out = std::io::stdout().lock();
    if !deleted.is_empty() {
        writeln!(out, "Deleted Images:")?;
        for d in &deleted {
            writeln!(out, "deleted: {d}")?;
        }
        writeln!(out)?;
    }
    writeln!(
        out,
        "Total reclaimed space: {}",
        holm_format::size::size(gc.bytes)
    )?;
    Ok(())
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
