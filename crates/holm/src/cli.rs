//! Command-line structure of `holm` (clap derive). Only argument shapes live here; the commands are in
//! `commands.rs`.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

/// holm: a daemonless container engine.
#[derive(Debug, Parser)]
#[command(name = "holm", version, about, propagate_version = true)]
pub struct Cli {
    /// Root directory of the engine's state (images, layers, containers).
    #[arg(long, global = true, default_value = holm_engine::image_ops::DEFAULT_ROOT)]
    pub root: PathBuf,
    /// Directory of the containers' runtime state (lost at reboot).
    #[arg(long, global = true, default_value = holm_engine::DEFAULT_RUNROOT)]
    pub runroot: PathBuf,
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// Top-level commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Pull an image from a registry.
    Pull(crate::pull::PullArgs),
    /// Load images from a docker-archive or OCI archive / OCI layout directory.
    Load(LoadArgs),
    /// Save images to a docker-archive or OCI archive.
    Save(SaveArgs),
    /// List images.
    Images(ImagesArgs),
    /// Remove images.
    Rmi(RmiArgs),
    /// Give an image another name.
    Tag(TagArgs),
    /// Manage images.
    #[command(subcommand)]
    Image(ImageCommand),
    /// Container commands (run, ps, logs, stop, rm, exec, …).
    #[command(flatten)]
    Engine(crate::engine_cli::EngineCommand),
}

/// `holm image …`.
#[derive(Debug, Subcommand)]
pub enum ImageCommand {
    /// List images.
    #[command(alias = "list")]
    Ls(ImagesArgs),
    /// Show details of images as JSON.
    Inspect(InspectArgs),
    /// Remove images.
    Rm(RmiArgs),
    /// Give an image another name.
    Tag(TagArgs),
    /// Remove unused images.
    Prune(PruneArgs),
    /// Pull an image from a registry.
    Pull(crate::pull::PullArgs),
    /// Load images from an archive.
    Load(LoadArgs),
    /// Save images to an archive.
    Save(SaveArgs),
}

/// `holm load`.
#[derive(Debug, Args)]
pub struct LoadArgs {
    /// The archive (docker-archive, OCI archive; plain, gzip or zstd) or OCI layout directory; standard input
    /// if absent or `-`.
    #[arg(short = 'i', long = "input")]
    pub input: Option<PathBuf>,
    /// Platform to pick from multi-platform images (os/arch[/variant]).
    #[arg(long, default_value = "linux/amd64")]
    pub platform: String,
    /// Print only the loaded image ids.
    #[arg(short, long)]
    pub quiet: bool,
    /// Cap on a layer's uncompressed size, in bytes (decompression-bomb guard).
    #[arg(long, default_value_t = holm_engine::image_ops::DEFAULT_MAX_LAYER_BYTES)]
    pub max_layer_size: u64,
}

/// Archive formats of `holm save`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SaveFormat {
    /// docker save's format.
    DockerArchive,
    /// An OCI image layout in a tar.
    OciArchive,
}

/// `holm save`.
#[derive(Debug, Args)]
pub struct SaveArgs {
    /// Write to this file instead of standard output.
    #[arg(short, long)]
    pub output: Option<PathBuf>,
    /// Archive format.
    #[arg(long, value_enum, default_value = "docker-archive")]
    pub format: SaveFormat,
    /// Images to save (names or ids).
    #[arg(required = true)]
    pub images: Vec<String>,
}

/// `holm images`.
#[derive(Debug, Args)]
pub struct ImagesArgs {
    /// Print only image ids.
    #[arg(short, long)]
    pub quiet: bool,
    /// Output format: `table` (default), `table TEMPLATE`, a Go template (`{{.Repository}}:{{.Tag}}`), or
    /// `json`.
    #[arg(long)]
    pub format: Option<String>,
    /// Do not truncate image ids.
    #[arg(long)]
    pub no_trunc: bool,
    /// Show all images (accepted for compatibility; holm has no intermediate images).
    #[arg(short, long)]
    pub all: bool,
    /// Filter: `dangling=true|false`, `reference=PATTERN` (`busy*`, `busybox:1.*`; `*` does not cross `/`),
    /// `label=K[=V]` (repeatable; all must hold).
    #[arg(short, long = "filter", value_name = "KEY=VALUE")]
    pub filter: Vec<String>,
    /// Only images matching this reference (e.g. `busybox`, `docker.io/library/busybox:1.36`).
    pub reference: Option<String>,
}

/// `holm image inspect`.
#[derive(Debug, Args)]
pub struct InspectArgs {
    /// Print each image through this Go template instead of as JSON.
    #[arg(short, long)]
    pub format: Option<String>,
    /// Images (names or ids).
    #[arg(required = true)]
    pub images: Vec<String>,
}

/// `holm rmi`.
#[derive(Debug, Args)]
pub struct RmiArgs {
    /// Remove even if the image has several names or is used by a container.
    #[arg(short, long)]
    pub force: bool,
    /// Images (names or ids).
    #[arg(required = true)]
    pub images: Vec<String>,
}

/// `holm tag`.
#[derive(Debug, Args)]
pub struct TagArgs {
    /// The image (name or id).
    pub source: String,
    /// The new name.
    pub target: String,
}

/// `holm image prune`.
#[derive(Debug, Args)]
pub struct PruneArgs {
    /// Remove every image no container uses, not only untagged ones.
    #[arg(short, long)]
    pub all: bool,
    /// Do not ask for confirmation.
    #[arg(short, long)]
    pub force: bool,
}
