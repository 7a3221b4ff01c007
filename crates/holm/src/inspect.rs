//! `holm inspect [-f TEMPLATE] [--type container|image|network|volume] NAME...` (and `holm image inspect`,
//! `holm volume inspect`, `holm container inspect`, which are this with a fixed type): docker's JSON array of the
//! objects found, or each object through a Go template (`-f '{{.State.Status}}'`, see [`crate::template`]).
//! Without `--type` a name is looked up as a container, then an image, a network, a volume, as docker does. A missing object prints `Error: No such object: X`
//! (`No such container|image|volume` with a type) and makes the exit status 1; the others are still printed
//! (`[]` if none was found).

use crate::exitcode::{fail, Verb};
use crate::template::Template;
use anyhow::Result;
use clap::{Args, ValueEnum};
use holm_engine::Engine;
use serde_json::Value;
use std::io::Write;

/// What `--type` restricts the lookup to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Kind {
    /// A container (name, id or id prefix).
    Container,
    /// An image (name or id).
    Image,
    /// A network (`bridge`, `host`, `none`).
    Network,
    /// A named volume.
    Volume,
}

impl Kind {
    fn word(k: Option<Kind>) -> &'static str {
        match k {
            None => "object",
            Some(Kind::Container) => "container",
            Some(Kind::Image) => "image",
            Some(Kind::Network) => "network",
            Some(Kind::Volume) => "volume",
        }
    }
}

/// `holm inspect`.
#[derive(Debug, Args)]
pub struct InspectArgs {
    /// Print each object through this Go template (`{{.State.Status}}`, `{{json .Config}}`) instead of as JSON.
    #[arg(short, long)]
    pub format: Option<String>,
    /// Only look for this kind of object.
    #[arg(long = "type", value_enum)]
    pub kind: Option<Kind>,
    /// Add a container's sizes: `SizeRw` (its writable layer) and `SizeRootFs` (with its image), bytes.
    #[arg(short, long)]
    pub size: bool,
    /// Containers, images or volumes.
    #[arg(required = true)]
    pub names: Vec<String>,
}

/// `holm container inspect`, `holm volume inspect`: inspect with the type given by the command.
#[derive(Debug, Args)]
pub struct TypedArgs {
    /// Print each object through this Go template instead of as JSON.
    #[arg(short, long)]
    pub format: Option<String>,
    /// Names or ids.
    #[arg(required = true)]
    pub names: Vec<String>,
}

/// The `--format` of an inspect command: `None` for JSON (no flag, empty, or `json`). Errors: a template that
/// does not parse, as [`holm_engine::Error::InvalidFlag`] (exit status 125).
pub fn parse_format(f: Option<&str>) -> holm_engine::Result<Option<Template>> {
    match f.map(str::trim) {
        None | Some("") | Some("json") => Ok(None),
        Some(f) => Template::parse(f)
            .map(Some)
            .map_err(|e| holm_engine::Error::flag("--format", f, e.to_string())),
    }
}

/// Looks `name` up as `kind` (every kind in docker's order if `None`: container, image, network, volume): its JSON, `Ok(None)` if there is no such
/// object, or the error that stopped the lookup (an ambiguous id prefix, a database error).
fn lookup(engine: &Engine, kind: Option<Kind>, name: &str, size: bool) -> Result<Option<Value>> {
    let want = |k: Kind| kind.is_none_or(|w| w == k);
    if want(Kind::Container) {
        match engine.find(name) {
            Ok(rec) => {
                let st = engine.status(&rec);
                let mut v = holm_engine::inspect::inspect(engine, &rec, st);
                if size {
                    let (rw, root_fs) = engine.container_sizes(&rec);
                    v["SizeRw"] = rw.into();
                    v["SizeRootFs"] = root_fs.into();
                }
                return Ok(Some(v));
            }
            Err(holm_engine::Error::NoSuchContainer(_)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    if want(Kind::Image) {
        match engine.image_inspect(name) {
            Ok(img) => return Ok(Some(serde_json::to_value(img)?)),
            Err(e) if e.is_no_such_image() || e.is_bad_reference() => {}
            Err(e) => return Err(e.into()),
        }
    }
    if want(Kind::Network) {
        if let Some(v) = engine.network_inspect(name)? {
            return Ok(Some(v));
        }
    }
    if want(Kind::Volume) {
        match engine.volume_get(name) {
            Ok(v) => return Ok(Some(serde_json::to_value(engine.volume_info(&v))?)),
            Err(holm_engine::Error::NoSuchVolume(_)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(None)
}

/// Runs an inspect command; returns the exit status.
pub fn inspect(
    engine: &Engine,
    kind: Option<Kind>,
    format: Option<&str>,
    names: &[String],
) -> Result<i32> {
    inspect_sized(engine, kind, format, names, false)
}

/// [`inspect`], with containers' sizes if `size` (`holm inspect -s`).
pub fn inspect_sized(
    engine: &Engine,
    kind: Option<Kind>,
    format: Option<&str>,
    names: &[String],
    size: bool,
) -> Result<i32> {
    let template = parse_format(format)?;
    let mut found = Vec::new();
    let mut code = 0;
    for n in names {
        match lookup(engine, kind, n, size) {
            Ok(Some(v)) => found.push(v),
            Ok(None) => {
                let e = anyhow::anyhow!("No such {}: {n}", Kind::word(kind));
                code = code.max(fail(&e, Verb::Other));
            }
            Err(e) => code = code.max(fail(&e, Verb::Other)),
        }
    }
    let mut out = std::io::stdout().lock();
    match template {
        None => writeln!(out, "{}", serde_json::to_string_pretty(&found)?)?,
        Some(t) => {
            for v in &found {
                match t.execute(v) {
                    Ok(s) => writeln!(out, "{s}")?,
                    Err(e) => code = code.max(fail(&e.into(), Verb::Other)),
                }
            }
        }
    }
    Ok(code)
}
