//! The `networks` table of the engine's database: one row per user-defined network (`network create`), its
//! settings as JSON ([`crate::networks::NetworkConfig`]); and the update of a container's config that
//! `network connect`/`disconnect` make.

use crate::config::RunConfig;
use crate::db::Db;
use crate::networks::NetworkRecord;
use crate::Result;
use rusqlite::{params, OptionalExtension};

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<NetworkRecord> {
    let config: String = r.get(3)?;
    Ok(NetworkRecord {
        id: r.get(0)?,
        name: r.get(1)?,
        created: r.get(2)?,
        config: serde_json::from_str(&config).unwrap_or_default(),
    })
}

impl Db {
    /// Records a network; false if one of that name exists already.
    pub fn insert_network(&self, n: &NetworkRecord) -> Result<bool> {
        let config = serde_json::to_string(&n.config).expect("config serialises");
        let c = self.write(false, |c| {
            c.execute(
                "INSERT OR IGNORE INTO networks (id, name, created, config) VALUES (?1, ?2, ?3, ?4)",
                params![n.id, n.name, n.created, config],
            )
        })?;
        Ok(c == 1)
    }

    /// Every network, oldest first.
    pub fn list_networks(&self) -> Result<Vec<NetworkRecord>> {
        let mut st = self.wrap(
            self.conn
                .prepare("SELECT id, name, created, config FROM networks ORDER BY created, id"),
        )?;
        let rows = self.wrap(st.query_map([], row))?;
        rows.map(|r| self.wrap(r)).collect()
    }

    /// The network with this exact name or id.
    pub fn get_network(&self, what: &str) -> Result<Option<NetworkRecord>> {
        self.wrap(
            self.conn
                .query_row(
                    "SELECT id, name, created, config FROM networks WHERE name = ?1 OR id = ?1",
                    [what],
                    row,
                )
                .optional(),
        )
    }

    /// Deletes the network `id` (none is fine).
    pub fn delete_network(&self, id: &str) -> Result<()> {
        self.write(true, |c| {
            c.execute("DELETE FROM networks WHERE id = ?1", [id])
        })?;
        Ok(())
    }

    /// Replaces container `id`'s config (`network connect`/`disconnect`).
    pub fn set_config(&self, id: &str, cfg: &RunConfig) -> Result<()> {
        let config = serde_json::to_string(cfg).expect("config serialises");
        self.write(false, |c| {
            c.execute(
                "UPDATE containers SET config = ?2 WHERE id = ?1",
                params![id, config],
            )
        })?;
        Ok(())
    }
}
