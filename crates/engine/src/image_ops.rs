//! The engine's image verbs that change the store: load (`holm load`, `POST /images/load`), save (`holm save`,
//! `GET /images/get`), tag (`POST /images/{name}/tag`), remove (`holm rmi`, `DELETE /images/{name}`) and prune
//! (`POST /images/prune`). Removing and pruning run from the root's reserve when the disk is full (see
//! [`crate::space`]): removing images is how a user frees space.

use crate::lifecycle::Status;
use crate::{space, Engine, Error, Result};
use holm_image::platform::Platform;
use holm_image::unpack::UnpackOptions;
use holm_image::LoadOptions;
use serde::Serialize;
use std::io::Write;
use std::path::Path;

pub use holm_image::unpack::DEFAULT_MAX_LAYER_BYTES;
pub use holm_image::ArchiveFormat;
pub use holm_image::DEFAULT_ROOT;

/// One image an archive held, as [`Engine::image_load`] stored it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct LoadedImage {
    /// Its id (`sha256:…`).
    pub id: String,
    /// The names it got from the archive (normalised: `docker.io/library/busybox:latest`).
    pub names: Vec<String>,
}

/// One line of docker's answer to `DELETE /images/{name}` (`[{"Untagged": "…"}, {"Deleted": "sha256:…"}]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum ImageDeleteItem {
    /// A name removed.
    Untagged(String),
    /// An image (or layer) deleted.
    Deleted(String),
}

impl ImageDeleteItem {
    /// The same with dockerd's short name for an `Untagged` one (`busybox:1`), as the Docker Engine API
    /// answers; holm's CLI prints the full name, as podman.
    pub fn with_familiar_name(self) -> ImageDeleteItem {
        match self {
            ImageDeleteItem::Untagged(n) => {
                ImageDeleteItem::Untagged(crate::images::familiar_name(&n))
            }
            d => d,
        }
    }
}

/// What [`Engine::image_prune`] removed: docker's `POST /images/prune` answer.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ImagesPruned {
    /// The images deleted (`{"Deleted": "sha256:…"}` each).
    pub images_deleted: Vec<ImageDeleteItem>,
    /// Bytes freed.
    pub space_reclaimed: u64,
}

impl Engine {
    /// Loads the images of a docker-archive, OCI archive (plain, gzip or zstd) or OCI layout directory at
    /// `input`, picking `platform` (`os/arch[/variant]`) from multi-platform images; a layer larger than
    /// `max_layer_bytes` uncompressed is refused. Errors: [`Error::InvalidFlag`] naming `--platform`, the
    /// store's (a bad archive names the entry).
    pub fn image_load(
        &self,
        input: &Path,
        platform: &str,
        max_layer_bytes: u64,
    ) -> Result<Vec<LoadedImage>> {
        let opts = LoadOptions {
            platform: Platform::parse(platform)
                .map_err(|e| Error::flag("--platform", platform, e.to_string()))?,
            unpack: UnpackOptions {
                max_bytes: max_layer_bytes,
            },
        };
        let loaded: Vec<LoadedImage> = self
            .images()
            .load(input, &opts)?
            .into_iter()
            .map(|l| LoadedImage {
                id: l.id.to_string(),
                names: l.names,
            })
            .collect();
        for l in &loaded {
            crate::events::image_event(self.root(), "load", &l.id, &l.id);
        }
        Ok(loaded)
    }

    /// Writes the images `names` (names or ids) as one archive of `format` to `w`, and returns `w` (unflushed).
    /// Errors: [`holm_image::StoreError::NotFound`] for a missing image (before anything is written), the
    /// store's, the writer's.
    pub fn image_save<W: Write>(&self, names: &[String], format: ArchiveFormat, w: W) -> Result<W> {
        Ok(self.images().save(names, format, w)?)
    }

    /// Gives the image `source` (name or id) the name `target`.
    ///
    /// Event: docker's `tag`, the image id named by the new reference.
    pub fn image_tag(&self, source: &str, target: &str) -> Result<()> {
        self.images().tag(source, target)?;
        if let (Ok(img), Ok(r)) = (
            self.images().resolve(target),
            holm_image::Reference::parse_normalized(target),
        ) {
            let name = r.or_latest().familiar();
            crate::events::image_event(self.root(), "tag", img.id.as_ref(), &name);
        }
        Ok(())
    }

    /// Removes the name or image `name` with docker's rules (`force`: even if it has several names or a stopped
    /// container uses it). An image a running, paused or restarting container uses is never deleted, even with
    /// `force`. Errors: [`holm_image::StoreError::NotFound`] and the store's conflicts (docker's wording).
    pub fn image_remove(&self, name: &str, force: bool) -> Result<Vec<ImageDeleteItem>> {
        let running: std::collections::HashSet<String> = self
            .list()?
            .into_iter()
            .filter(|(_, st)| matches!(st, Status::Running | Status::Paused | Status::Restarting))
            .map(|(r, _)| r.id)
            .collect();
        let image_id = self
            .images()
            .resolve(name)
            .ok()
            .map(|i| i.id.to_string())
            .unwrap_or_default();
        let r = space::with_reserve_of(self.root(), || {
            self.images()
                .remove_checked(name, force, &|s| running.contains(s))
        })?;
        // docker's events: `untag` per name and `delete`, each naming the image id
        for _ in &r.untagged {
            crate::events::image_event(self.root(), "untag", &image_id, &image_id);
        }
        for d in &r.deleted {
            let d = d.to_string();
            crate::events::image_event(self.root(), "delete", &d, &d);
        }
        Ok(r.untagged
            .into_iter()
            .map(ImageDeleteItem::Untagged)
            .chain(
                r.deleted
                    .into_iter()
                    .map(|d| ImageDeleteItem::Deleted(d.to_string())),
            )
            .collect())
    }

    /// Deletes the images no container uses: untagged ones, or with `all` every one. Returns their ids and the
    /// bytes freed.
    pub fn image_prune(&self, all: bool) -> Result<ImagesPruned> {
        let (deleted, gc) = space::with_reserve_of(self.root(), || self.images().prune(all))?;
        for d in &deleted {
            let d = d.to_string();
            crate::events::image_event(self.root(), "delete", &d, &d);
        }
        Ok(ImagesPruned {
            images_deleted: deleted
                .into_iter()
                .map(|d| ImageDeleteItem::Deleted(d.to_string()))
                .collect(),
            space_reclaimed: gc.bytes,
        })
    }
}

impl Error {
    /// True for "No such image": a name or id not in the store.
    pub fn is_no_such_image(&self) -> bool {
        matches!(
            self,
            Error::ImageNotFound(_) | Error::Image(holm_image::StoreError::NotFound(_))
        )
    }

    /// True for the image store's refusals (an image in use, with several names, a running container's; a
    /// short id matching several images): docker answers these with 409 Conflict. False for I/O errors.
    pub fn is_image_conflict(&self) -> bool {
        use holm_image::StoreError as S;
        matches!(
            self,
            Error::Image(
                S::Ambiguous(_)
                    | S::MultipleNames { .. }
                    | S::InUse { .. }
                    | S::ReferenceInUse { .. }
                    | S::RunningContainer { .. }
            )
        )
    }

    /// True for a name that is no image reference at all (`inspect` then looks for other kinds of objects).
    pub fn is_bad_reference(&self) -> bool {
        matches!(self, Error::Image(holm_image::StoreError::Reference(_)))
    }
}
