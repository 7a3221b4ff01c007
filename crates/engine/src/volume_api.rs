//! Volumes for the fronts (`holm volume ls|inspect`, `GET /volumes`, `GET /volumes/{name}`): docker's `Volume`
//! shape and the listing filters. Creating, removing and pruning are [`crate::volumes`]'.

use crate::volumes::Volume;
use crate::{Engine, Error, Result};
use serde::Serialize;
use std::collections::BTreeMap;

/// docker's `Volume` (`GET /volumes/{name}`, an entry of `GET /volumes`'s `Volumes`).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct VolumeInfo {
    /// Creation time, RFC 3339.
    pub created_at: String,
    /// `local`.
    pub driver: String,
    /// Its labels.
    pub labels: BTreeMap<String, String>,
    /// The directory holding its data (`<root>/volumes/<name>/_data`).
    pub mountpoint: String,
    /// Its name.
    pub name: String,
    /// Driver options: none.
    pub options: BTreeMap<String, String>,
    /// `local`.
    pub scope: String,
}

/// The filters of a volume listing (`holm volume ls --filter`, `filters` of `GET /volumes`).
#[derive(Debug, Clone, Default)]
pub struct VolumeFilters {
    /// `dangling=true|false`: only volumes no container uses (or only used ones).
    pub dangling: Option<bool>,
    /// `name=S`: the name contains `S` (several are alternatives, as docker's).
    pub name: Vec<String>,
    /// `driver=D`: only `local` matches anything.
    pub driver: Vec<String>,
    /// `label=K[=V]` (all must hold).
    pub label: Vec<(String, Option<String>)>,
}

impl VolumeFilters {
    /// Parses `KEY=VALUE` strings. Errors: [`Error::InvalidFlag`] naming `--filter`.
    pub fn parse(filters: &[String]) -> Result<VolumeFilters> {
        let mut out = VolumeFilters::default();
        for f in filters {
            let bad = |why: &str| Error::flag("--filter", f, why);
            let Some((k, v)) = f.split_once('=') else {
                return Err(bad("expected KEY=VALUE"));
            };
            match k {
                "dangling" => {
                    out.dangling = Some(match v {
                        "true" | "1" => true,
                        "false" | "0" => false,
                        _ => return Err(bad("dangling= takes true or false")),
                    })
                }
                "name" => out.name.push(v.to_string()),
                "driver" => out.driver.push(v.to_string()),
                "label" => out.label.push(
                    v.split_once('=')
                        .map_or((v.to_string(), None), |(a, b)| (a.into(), Some(b.into()))),
                ),
                _ => {
                    return Err(bad(
                        "invalid filter (holm has dangling, name, label, driver)",
                    ))
                }
            }
        }
        Ok(out)
    }
}

impl Engine {
    /// docker's JSON of a volume.
    pub fn volume_info(&self, v: &Volume) -> VolumeInfo {
        VolumeInfo {
            created_at: v.created.clone(),
            driver: "local".into(),
            labels: v.labels.clone(),
            mountpoint: self.volume_path(&v.name).display().to_string(),
            name: v.name.clone(),
            options: BTreeMap::new(),
            scope: "local".into(),
        }
    }

    /// The volumes that pass `filters`, in the database's order. Errors: the database's.
    pub fn volume_list_filtered(&self, filters: &VolumeFilters) -> Result<Vec<Volume>> {
        let mut out = Vec::new();
        for vol in self.volume_list()? {
            let keep = (filters.name.is_empty()
                || filters.name.iter().any(|n| vol.name.contains(n.as_str())))
                && (filters.driver.is_empty() || filters.driver.iter().any(|d| d == "local"))
                && filters.label.iter().all(|(k, want)| {
                    vol.labels
                        .get(k)
                        .is_some_and(|x| want.as_ref().is_none_or(|w| x == w))
                });
            if !keep {
                continue;
            }
            if let Some(d) = filters.dangling {
                if self.volume_users(&vol.name)?.is_empty() != d {
                    continue;
                }
            }
            out.push(vol);
        }
        Ok(out)
    }
}
