//! `holm rmi`: removing a reference or an image, with docker's rules (moby's `ImageService.ImageDelete`):
//!
//! - A **reference** (`repo:tag`, `repo@sha256:…`) removes only that reference. The image goes only when it was
//!   its last one. Removing a tag also removes the digest references of the same repository when no other tag
//!   of that repository is left (docker's clean-up of `repo@digest` names that would otherwise linger). Without
//!   `force`, the last reference of an image a container uses is refused ("must force").
//! - An **id** (full or a unique prefix) deletes the image with all its references; without `force` it is
//!   refused while the image has names in several repositories or is used by a stopped container.
//! - An image used by a **running** (or paused) container is never deleted, even with `force` ("cannot be
//!   forced"). Unlike docker, which untags a forced last reference before finding that conflict, holm refuses
//!   before changing anything, so a failed `rmi` leaves the image as it was.

use crate::digest::{self, Digest};
use crate::meta::{Db, ImageRecord};
use crate::reference::Reference;
use crate::store::{find, RemoveReport, StoreError};

/// docker's 12-character short form of an id (image digest hex or container id).
pub(crate) fn short(id: &str) -> String {
    let hex = id.strip_prefix("sha256:").unwrap_or(id);
    hex.chars().take(12).collect()
}

fn short_digest(d: &Digest) -> String {
    short(digest::hex(d).unwrap_or(d.as_ref()))
}

/// The stored reference `name` denotes on `img`, if it names one (rather than an id).
fn named_reference(name: &str, img: &ImageRecord) -> Option<String> {
    let r = Reference::parse(name).ok()?;
    let full = match r.digest() {
        Some(d) => r.with_digest(d.clone()).to_string(),
        None => r.to_string(),
    };
    img.repo_tags
        .iter()
        .chain(&img.repo_digests)
        .any(|t| *t == full)
        .then_some(full)
}

fn repository_of(reference: &str) -> Option<String> {
    Reference::parse(reference).ok().map(|r| r.repository())
}

/// docker's `isSingleReference`: every reference is in one repository and there is at most one tag.
fn single_reference(img: &ImageRecord) -> bool {
    let mut repos = img
        .repo_tags
        .iter()
        .chain(&img.repo_digests)
        .filter_map(|r| repository_of(r));
    let first = repos.next();
    img.repo_tags.len() <= 1 && repos.all(|r| Some(r) == first)
}

/// Removes `name` from `db` (see the module doc). `running(snapshot id)` tells whether the container of that
/// snapshot runs.
pub(crate) fn remove_in(
    db: &mut Db,
    name: &str,
    force: bool,
    running: &dyn Fn(&str) -> bool,
) -> Result<RemoveReport, StoreError> {
    let img = find(db, name)?.clone();
    let id = short_digest(&img.id);
    let users: Vec<String> = db
        .snapshots
        .iter()
        .filter(|s| s.image == img.id)
        .map(|s| s.id.clone())
        .collect();
    let running_user = users.iter().find(|s| running(s.as_str()));
    let mut report = RemoveReport::default();
    let mut rec = img.clone();
    if let Some(reference) = named_reference(name, &img) {
        if !force && single_reference(&img) {
            if let Some(c) = users.first() {
                return Err(StoreError::ReferenceInUse {
                    reference: name.to_string(),
                    container: short(c),
                    id,
                });
            }
        }
        let was_tag = rec.repo_tags.contains(&reference);
        rec.repo_tags.retain(|t| *t != reference);
        rec.repo_digests.retain(|t| *t != reference);
        report.untagged.push(reference.clone());
        let repo = repository_of(&reference);
        if was_tag && !rec.repo_tags.iter().any(|t| repository_of(t) == repo) {
            let (gone, keep): (Vec<String>, Vec<String>) = std::mem::take(&mut rec.repo_digests)
                .into_iter()
                .partition(|d| repository_of(d) == repo);
            report.untagged.extend(gone);
            rec.repo_digests = keep;
        }
        if !rec.repo_tags.is_empty() || !rec.repo_digests.is_empty() {
            let slot = db
                .images
                .iter_mut()
                .find(|i| i.id == img.id)
                .expect("found above");
            *slot = rec;
            return Ok(report);
        }
        // That was its last name: the image itself goes (checked below; an error changes nothing).
    }
    // Deleting the image itself.
    if let Some(c) = running_user {
        return Err(StoreError::RunningContainer {
            id,
            container: short(c),
        });
    }
    if !force && !single_reference(&rec) {
        return Err(StoreError::MultipleNames { id });
    }
    if let Some(c) = users.first().filter(|_| !force) {
        return Err(StoreError::InUse {
            id,
            snapshot: short(c),
        });
    }
    report.untagged.extend(rec.repo_tags.iter().cloned());
    report.untagged.extend(rec.repo_digests.iter().cloned());
    db.images.retain(|i| i.id != img.id);
    report.deleted.push(img.id);
    Ok(report)
}
