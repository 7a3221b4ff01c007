//! The image commands: each builds a request, calls `holm-engine`'s image API (`holm_engine::images`,
//! `image_ops`) and prints the result the way docker does.

use crate::cli::{ImagesArgs, LoadArgs, PruneArgs, RmiArgs, SaveArgs, SaveFormat, TagArgs};
use crate::format::Format;
use anyhow::{bail, Context, Result};
use holm_engine::image_ops::{ArchiveFormat, ImageDeleteItem};
use holm_engine::images::{ImageFilters, ImageSummary};
use holm_engine::Engine;
use serde_json::json;
use std::io::{IsTerminal, Write};

/// `holm load`.
pub fn load(engine: &Engine, a: &LoadArgs) -> Result<()> {
    let input = match &a.input {
        Some(p) if p.as_os_str() != "-" => p.clone(),
        _ => {
            if std::io::stdin().is_terminal() {
                bail!("no archive given: use -i FILE or redirect standard input");
            }
            std::path::PathBuf::from("/dev/stdin")
        }
    };
    let loaded = engine
        .image_load(&input, &a.platform, a.max_layer_size)
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
pub fn save(engine: &Engine, a: &SaveArgs) -> Result<()> {
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
                let save = |e: holm_engine::Error| -> anyhow::Error {
                    if e.is_no_such_image() {
                        e.into()
                    } else {
                        anyhow::Error::from(e).context(format!("save {}", path.display()))
                    }
                };
                let w = engine
                    .image_save(
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
            let mut w =
                engine.image_save(&a.images, format, std::io::BufWriter::new(stdout.lock()))?;
            w.flush()?;
            Ok(())
        }
    }
}

fn short_id(img: &ImageSummary, no_trunc: bool) -> String {
    if no_trunc {
        img.id.clone()
    } else {
        let hex = img.id.strip_prefix("sha256:").unwrap_or(&img.id);
        hex[..hex.len().min(12)].to_string()
    }
}

/// `holm images`.
pub fn images(engine: &Engine, a: &ImagesArgs) -> Result<()> {
    let format = Format::parse(a.format.as_deref(), IMAGES_DEFAULT)?;
    let filters = ImageFilters::parse(&a.filter, a.reference.as_deref())?;
    let list = engine.image_list(&filters)?;
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
                    "Id": i.id,
                    "RepoTags": i.repo_tags,
                    "RepoDigests": i.repo_digests,
                    "Created": i.created_text,
                    "Size": i.size,
                    "Platform": i.platform,
                    "Digest": i.manifest_digest,
                })
            })
            .collect();
        writeln!(out, "{}", serde_json::to_string_pretty(&v)?)?;
        return Ok(());
    }
    let now = holm_format::time::now_secs();
    let mut rows = Vec::new();
    for i in &list {
        let names = filters.rows(i);
        for (repo, tag) in names {
            rows.push(image_row(i, repo, tag, now, a.no_trunc));
        }
    }
    out.write_all(format.render(&rows, &image_headers())?.as_bytes())?;
    Ok(())
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
    i: &ImageSummary,
    repo: String,
    tag: String,
    now: i64,
    no_trunc: bool,
) -> serde_json::Value {
    let created = i
        .created_text
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
        "CreatedAt": i.created_text.as_deref().map(holm_format::time::created_at).unwrap_or_default(),
        "Size": holm_format::size::size(i.size),
        "VirtualSize": holm_format::size::size(i.size),
        "Containers": "N/A",
        "SharedSize": "N/A",
        "UniqueSize": "N/A",
    })
}

/// `holm rmi`: removes each image; failures are reported (one line each, as docker does) and make the exit status
/// 1, but do not stop the others. With `-f` a missing image is reported but is no failure, as docker's. An image
/// a running (or paused, restarting) container uses is never deleted, even with `-f`.
pub fn rmi(engine: &Engine, a: &RmiArgs) -> Result<i32> {
    let mut code = 0;
    let mut out = std::io::stdout().lock();
    for name in &a.images {
        match engine.image_remove(name, a.force) {
            Ok(items) => {
                for i in items {
                    match i {
                        ImageDeleteItem::Untagged(u) => writeln!(out, "Untagged: {u}")?,
                        ImageDeleteItem::Deleted(d) => writeln!(out, "Deleted: {d}")?,
                    }
                }
            }
            // docker: with -f a missing image is reported but is no failure
            Err(e) if a.force && e.is_no_such_image() => {
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
pub fn tag(engine: &Engine, a: &TagArgs) -> Result<()> {
    engine.image_tag(&a.source, &a.target)?;
    Ok(())
}

/// `holm image prune`.
pub fn prune(engine: &Engine, a: &PruneArgs) -> Result<()> {
    let warning = if a.all {
        "WARNING! This will remove all images without at least one container associated to them."
    } else {
        "WARNING! This will remove all dangling images."
    };
    if !crate::confirm::confirm(a.force, warning)? {
        return Ok(());
    }
    let pruned = engine.image_prune(a.all)?;
    let mut out = std::io::stdout().lock();
    print_deleted_images(&mut out, &pruned.images_deleted)?;
    writeln!(
        out,
        "Total reclaimed space: {}",
        holm_format::size::size(pruned.space_reclaimed)
    )?;
    Ok(())
}

/// The `Deleted Images:` block of `image prune` and `system prune` (nothing if none was deleted).
pub fn print_deleted_images(out: &mut impl Write, items: &[ImageDeleteItem]) -> Result<()> {
    if !items.is_empty() {
        writeln!(out, "Deleted Images:")?;
        for i in items {
            match i {
                ImageDeleteItem::Untagged(u) => writeln!(out, "untagged: {u}")?,
                ImageDeleteItem::Deleted(d) => writeln!(out, "deleted: {d}")?,
            }
        }
        writeln!(out)?;
    }
    Ok(())
}
