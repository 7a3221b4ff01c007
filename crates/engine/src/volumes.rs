//! Named volumes (`holm volume create|ls|inspect|rm|prune`, `-v NAME:/path`): directories under
//! `<root>/volumes/<name>/_data`, recorded in the database. `-v NAME:/path` creates the volume on first use and,
//! while it is empty, copies the image's content at `/path` into it (ownership and modes kept), as docker does
//! (`nocopy` turns that off).

use crate::config::parse_volume;
use crate::{Engine, Error, Result};
use std::collections::BTreeMap;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

/// One volume.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Volume {
    /// Its name.
    pub name: String,
    /// Creation time, RFC 3339.
    pub created: String,
    /// `--label`s.
    pub labels: BTreeMap<String, String>,
}

/// The label docker (23+) puts on anonymous volumes (`-v /path`, `--mount type=volume` without a source, an
/// image's `Volumes`, `volume create` without a name); `volume prune` without `--all` removes only these.
pub const ANONYMOUS_LABEL: &str = "com.docker.volume.anonymous";

impl Volume {
    /// Whether the volume is anonymous (has [`ANONYMOUS_LABEL`]).
    pub fn is_anonymous(&self) -> bool {
        self.labels.contains_key(ANONYMOUS_LABEL)
    }
}

/// Checks a volume name: docker's `[a-zA-Z0-9][a-zA-Z0-9_.-]+`.
pub fn validate_name(name: &str) -> Result<()> {
    let b = name.as_bytes();
    if b.len() > 255 {
        return Err(Error::flag(
            "volume name",
            name,
            format!(
                "at most 255 characters are allowed (this one has {})",
                name.chars().count()
            ),
        ));
    }
    let ok = b.len() >= 2
        && b[0].is_ascii_alphanumeric()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(Error::flag(
            "volume name",
            name,
            "only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed",
        ))
    }
}

/// Mode words a `-v` may end with (see [`parse_volume`]).
const VOLUME_MODES: &[&str] = &[
    "ro", "rw", "nocopy", "z", "Z", "private", "rprivate", "shared", "rshared", "slave", "rslave",
];

/// docker's client-side forms of `-v`: `/path` (or `/path:MODE`) alone is a new anonymous volume at `/path`,
/// and a source starting with `.` (`.`, `./d`, `../d`) is a bind of that path made absolute (docker 23+). Returns the `-v` in the
/// `SRC:DST[:OPTS]` form [`parse_volume`] takes, and the anonymous volume's name if one was made.
pub fn expand_volume_flag(v: &str) -> Result<(String, Option<String>)> {
    let parts: Vec<&str> = v.split(':').collect();
    let anonymous = match parts.as_slice() {
        [dst] => Some((*dst, None)),
        [dst, mode]
            if dst.starts_with('/') && mode.split(',').all(|m| VOLUME_MODES.contains(&m)) =>
        {
            Some((*dst, Some(*mode)))
        }
        _ => None,
    };
    if let Some((dst, mode)) = anonymous {
        if !dst.starts_with('/') {
            return Err(Error::flag(
                "--volume",
                v,
                "expected SRC:DST[:OPTIONS], or an absolute path for an anonymous volume",
            ));
        }
        let name = crate::ids::new_id()?;
        let full = match mode {
            Some(m) => format!("{name}:{dst}:{m}"),
            None => format!("{name}:{dst}"),
        };
        parse_volume(&full)?;
        return Ok((full, Some(name)));
    }
    if let Some((src, rest)) = v.split_once(':') {
        if src.starts_with('.') {
            let abs = std::path::absolute(src)
                .map_err(|e| Error::flag("--volume", v, format!("{src}: {e}")))?;
            let abs = holm_container::resolve::clean(&abs);
            return Ok((format!("/{}:{rest}", abs.display()), None));
        }
    }
    Ok((v.to_string(), None))
}

/// The data directory of volume `name` under `volumes_dir`.
pub fn data_path(volumes_dir: &Path, name: &str) -> PathBuf {
    volumes_dir.join(name).join("_data")
}

fn is_empty_dir(p: &Path) -> bool {
    std::fs::read_dir(p).is_ok_and(|mut d| d.next().is_none())
}

/// The image's `Volumes` that no `-v`, `--mount` or `--tmpfs` covers become anonymous volumes of the container
/// (filled from the image, removed with it by `rm -v` and `--rm`), as docker does.
pub fn add_image_volumes(
    image: &oci_spec::image::ImageConfiguration,
    cfg: &mut crate::RunConfig,
) -> Result<()> {
    let norm = |p: &str| Path::new("/").join(holm_container::resolve::clean(Path::new(p)));
    let declared = image
        .config()
        .as_ref()
        .and_then(|c| c.volumes().clone())
        .unwrap_or_default();
    for d in declared {
        let dst = norm(&d);
        if dst == Path::new("/") {
            continue;
        }
        let covered = cfg
            .volumes
            .iter()
            .filter_map(|v| parse_volume(v).ok())
            .any(|b| norm(&b.destination) == dst)
            || cfg
                .mounts
                .iter()
                .filter_map(|m| crate::options::parse_mount(m).ok())
                .any(|m| norm(&m.destination) == dst)
            || cfg
                .tmpfs
                .iter()
                .any(|t| norm(t.split(':').next().unwrap_or(t)) == dst);
        if covered {
            continue;
        }
        let name = crate::ids::new_id()?;
        cfg.volumes.push(format!("{name}:{}", dst.display()));
        cfg.anonymous_volumes.push(name);
    }
    Ok(())
}

impl Engine {
    /// `<root>/volumes`.
    pub fn volumes_dir(&self) -> PathBuf {
        self.root().join("volumes")
    }

    /// The data directory of a volume.
    pub fn volume_path(&self, name: &str) -> PathBuf {
        data_path(&self.volumes_dir(), name)
    }

    /// `holm volume create [NAME]`: creates a volume (a random name if none, labelled anonymous as docker's);
    /// an existing one is returned as is. Returns the volume and whether it is new.
    pub fn volume_create(
        &self,
        name: Option<&str>,
        mut labels: BTreeMap<String, String>,
    ) -> Result<(Volume, bool)> {
        let name = match name {
            Some(n) => {
                validate_name(n)?;
                n.to_string()
            }
            None => {
                labels.insert(ANONYMOUS_LABEL.to_string(), String::new());
                crate::ids::new_id()?
            }
        };
        let dir = self.volume_path(&name);
        std::fs::create_dir_all(&dir).map_err(Error::io(format!("create {}", dir.display())))?;
        let v = Volume {
            name,
            created: holm_container::state::rfc3339(std::time::SystemTime::now()),
            labels,
        };
        let new = self.db()?.insert_volume(&v)?;
        let v = self.db()?.get_volume(&v.name)?.unwrap_or(v);
        if new {
            self.emit(&crate::events::Event::of(
                "volume",
                "create",
                &v.name,
                &[("driver", "local".into())],
            ));
        }
        Ok((v, new))
    }

    /// Bytes of the regular files in a volume.
    pub fn volume_size(&self, name: &str) -> u64 {
        fn size(p: &Path) -> u64 {
            match std::fs::symlink_metadata(p) {
                Ok(m) if m.is_dir() => std::fs::read_dir(p)
                    .map(|rd| rd.flatten().map(|e| size(&e.path())).sum())
                    .unwrap_or(0),
                Ok(m) if m.is_file() => m.len(),
                _ => 0,
            }
        }
        size(&self.volume_path(name))
    }

    /// `holm volume inspect`.
    pub fn volume_get(&self, name: &str) -> Result<Volume> {
        self.db()?
            .get_volume(name)?
            .ok_or_else(|| Error::NoSuchVolume(name.to_string()))
    }

    /// `holm volume ls`.
    pub fn volume_list(&self) -> Result<Vec<Volume>> {
        self.db()?.list_volumes()
    }

    /// The containers (ids) whose `-v` names the volume.
    pub fn volume_users(&self, name: &str) -> Result<Vec<String>> {
        Ok(self
            .db()?
            .list()?
            .into_iter()
            .filter(|r| {
                r.config
                    .volumes
                    .iter()
                    .filter_map(|v| parse_volume(v).ok())
                    .any(|b| b.volume && b.source == name)
            })
            .map(|r| r.id)
            .collect())
    }

    /// `holm volume rm`: removes a volume no container uses (docker refuses in-use volumes even with -f).
    pub fn volume_remove(&self, name: &str) -> Result<()> {
        self.volume_get(name)?;
        let users = self.volume_users(name)?;
        if !users.is_empty() {
            return Err(Error::VolumeInUse {
                name: name.to_string(),
                containers: users.join(", "),
            });
        }
        let dir = self.volumes_dir().join(name);
        match std::fs::remove_dir_all(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io(format!("remove {}", dir.display()))(e)),
        }
        self.db()?.delete_volume(name)?;
        self.emit(&crate::events::Event::of(
            "volume",
            "destroy",
            name,
            &[("driver", "local".into())],
        ));
        Ok(())
    }

    /// `holm volume prune [-a]`: removes the anonymous volumes no container uses (with `all`, every unused
    /// volume, named ones too), as docker 23+ does; returns their names and the bytes they held.
    pub fn volume_prune(&self, all: bool) -> Result<(Vec<String>, u64)> {
        let mut out = Vec::new();
        let mut bytes = 0;
        for v in self.volume_list()? {
            if (all || v.is_anonymous()) && self.volume_users(&v.name)?.is_empty() {
                let size = self.volume_size(&v.name);
                match self.volume_remove(&v.name) {
                    Ok(()) => {}
                    // a container started using it meanwhile, or another prune took it
                    Err(Error::VolumeInUse { .. } | Error::NoSuchVolume(_)) => continue,
                    Err(e) => return Err(e),
                }
                bytes += size;
                out.push(v.name);
            }
        }
        Ok((out, bytes))
    }

    /// At `create`, with the container's rootfs mounted: makes sure every named volume of `volumes` exists (those
    /// named in `anonymous` labelled [`ANONYMOUS_LABEL`]), and copies the image's content at the mount point into
    /// each empty one (unless `nocopy`).
    pub(crate) fn prepare_volumes(
        &self,
        volumes: &[String],
        anonymous: &[String],
        rootfs: &Path,
    ) -> Result<()> {
        for v in volumes {
            let b = parse_volume(v)?;
            if !b.volume {
                continue;
            }
            let mut labels = BTreeMap::new();
            if anonymous.contains(&b.source) {
                labels.insert(ANONYMOUS_LABEL.to_string(), String::new());
            }
            self.volume_create(Some(&b.source), labels)?;
            let data = self.volume_path(&b.source);
            if b.nocopy || !is_empty_dir(&data) {
                continue;
            }
            let root = std::fs::File::open(rootfs)
                .map_err(Error::io(format!("open {}", rootfs.display())))?;
            let dst = Path::new(&b.destination);
            let is_dir =
                holm_container::resolve::open(root.as_fd(), dst, libc::O_PATH | libc::O_DIRECTORY)
                    .is_ok();
            if is_dir {
                crate::copy::copy_out_preserving(root.as_fd(), dst, &data)?;
            }
        }
        Ok(())
    }
}
