//! The engine's metadata: one SQLite database, `<root>/holm.db` (WAL mode, 5 s busy timeout), with one row per
//! container. Every change is a single statement or an `IMMEDIATE` transaction, so concurrent `holm` commands and
//! monitors never see a half-made change; a crash leaves either the old or the new row.
//!
//! The row records what the engine *decided* (state `created`, `running`, `exited`); whether a `running`
//! container's process still lives is checked against the runtime state by [`crate::Engine::refresh`].

use crate::config::RunConfig;
use crate::{Error, Result};
use rusqlite::config::DbConfig;
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use std::path::{Path, PathBuf};

/// What the engine last recorded for a container.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Being made by a `holm create`/`run` whose pid and start time are in `monitor_pid`/`monitor_start`: the row
    /// is inserted before any resource (snapshot, bundle, mount, network files) exists, so a creator killed
    /// half-way leaves a row that `ps -a` shows (as `created`) and `rm`/`container prune` clean up.
    Creating,
    /// Made (bundle and rootfs ready) but never started, or its start failed.
    Created,
    /// Its monitor started the process.
    Running,
    /// The process ended (exit code known unless its monitor was killed).
    Exited,
}

impl State {
    fn as_str(self) -> &'static str {
        match self {
            State::Creating => "creating",
            State::Created => "created",
            State::Running => "running",
            State::Exited => "exited",
        }
    }

    fn parse(s: &str) -> State {
        match s {
            "running" => State::Running,
            "exited" => State::Exited,
            "creating" => State::Creating,
            _ => State::Created,
        }
    }
}

/// One container.
#[derive(Debug, Clone, PartialEq)]
pub struct ContainerRecord {
    /// 64 hex digits.
    pub id: String,
    /// Unique name (without docker's leading `/`).
    pub name: String,
    /// The image as the user named it.
    pub image: String,
    /// The image id (`sha256:…`).
    pub image_id: String,
    /// Creation time, RFC 3339.
    pub created: String,
    /// How it was asked to run.
    pub config: RunConfig,
    /// The recorded state.
    pub state: State,
    /// Host pid of the container's init while running (0 otherwise).
    pub pid: i32,
    /// Pid of its monitor while running (0 otherwise).
    pub monitor_pid: i32,
    /// Start time of the monitor (`/proc/PID/stat` field 22), to tell a recycled pid apart.
    pub monitor_start: u64,
    /// Exit code once exited; `None` if unknown (the monitor was killed) or not exited.
    pub exit_code: Option<i32>,
    /// Why the last start failed, or what went wrong when it ended.
    pub error: String,
    /// When the process last started (RFC 3339, empty if never).
    pub started_at: String,
    /// When it last ended (RFC 3339, empty if never).
    pub finished_at: String,
    /// How often the restart policy restarted it.
    pub restart_count: u32,
    /// Set by `stop`, `kill` and `rm`: the restart policy must not restart it (cleared by `start`).
    pub no_restart: bool,
    /// The kernel's OOM killer killed a process of its last run (its cgroup's `oom_kill` count was above 0 when
    /// the exit was recorded); docker's `State.OOMKilled`.
    pub oom_killed: bool,
}

/// An open database.
pub struct Db {
    pub(crate) conn: Connection,
    path: PathBuf,
}

/// The WAL size above which a closing connection checkpoints it into the database and truncates it. Each new
/// connection reads the whole WAL to rebuild its index (~8 pages per container run), so it is kept short.
const WAL_CHECKPOINT_BYTES: u64 = 256 * 1024;

/// How long a connection waits for another's lock (SQLite's busy timeout), and [`Db::open`] for its setup.
const BUSY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

impl Drop for Db {
    fn drop(&mut self) {
        let mut wal = self.path.clone().into_os_string();
        wal.push("-wal");
        if std::fs::metadata(&wal).is_ok_and(|m| m.len() > WAL_CHECKPOINT_BYTES) {
            // Waits (busy timeout) for readers of older snapshots; failing is fine, a later close tries again.
            let _ = self
                .conn
                .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()));
        }
    }
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS containers (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    image TEXT NOT NULL,
    image_id TEXT NOT NULL,
    created TEXT NOT NULL,
    config TEXT NOT NULL,
    state TEXT NOT NULL,
    pid INTEGER NOT NULL DEFAULT 0,
    monitor_pid INTEGER NOT NULL DEFAULT 0,
    monitor_start INTEGER NOT NULL DEFAULT 0,
    exit_code INTEGER,
    error TEXT NOT NULL DEFAULT '',
    started_at TEXT NOT NULL DEFAULT '',
    finished_at TEXT NOT NULL DEFAULT '',
    restart_count INTEGER NOT NULL DEFAULT 0,
    no_restart INTEGER NOT NULL DEFAULT 0,
    oom_killed INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS exit_codes (
    id TEXT PRIMARY KEY,
    code INTEGER NOT NULL,
    at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS networks (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    created TEXT NOT NULL,
    config TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS volumes (
    name TEXT PRIMARY KEY,
    created TEXT NOT NULL,
    labels TEXT NOT NULL DEFAULT '{}'
);
";

/// Columns added after the first schema (added to older databases on open; a no-op error on newer ones).
const ADDED_COLUMNS: &[&str] = &[
    "ALTER TABLE containers ADD COLUMN restart_count INTEGER NOT NULL DEFAULT 0",
    "ALTER TABLE containers ADD COLUMN no_restart INTEGER NOT NULL DEFAULT 0",
    "ALTER TABLE containers ADD COLUMN oom_killed INTEGER NOT NULL DEFAULT 0",
];

/// How long a removed container's exit code stays available to `wait` (podman prunes its table after 5 minutes).
pub const EXIT_CODE_KEEP_SECS: i64 = 300;

const COLUMNS: &str =
    "id, name, image, image_id, created, config, state, pid, monitor_pid, monitor_start, \
                       exit_code, error, started_at, finished_at, restart_count, no_restart, oom_killed";

impl Db {
    /// Opens (creating if needed) `<root>/holm.db`.
    ///
    /// If SQLite cannot make or grow the write-ahead log's shared-memory index `holm.db-shm` (the disk is full;
    /// `SQLITE_IOERR_SHMSIZE`), opens it again in exclusive locking mode, which keeps that index in this process's
    /// memory and needs no disk space: reads and the writes that free space work on a full disk. Such a connection
    /// holds the database's exclusive lock until it is dropped (other commands and monitors wait, up to the busy
    /// timeout), so it is only the fallback.
    pub fn open(root: &Path) -> Result<Db> {
        std::fs::create_dir_all(root).map_err(Error::io(format!("create {}", root.display())))?;
        let path = root.join("holm.db");
        let conn = match connect(&path, false) {
            Err(e) if is_shm_failure(&e) => connect(&path, true),
            r => r,
        }
        .map_err(db_error(&path))?;
        Ok(Db { conn, path })
    }

    pub(crate) fn wrap<T>(&self, r: rusqlite::Result<T>) -> Result<T> {
        r.map_err(db_error(&self.path))
    }

    /// Runs the write `f`. If it fails because the disk is full, checkpoints the write-ahead log (the next write
    /// then restarts it at its beginning, reusing its space instead of growing the file) and tries again; if that
    /// fails too and `reserve` is set, deletes the root's reserve files ([`crate::space`]) one at a time, trying again
    /// after each.
    /// Writes that free space or record an exit pass `reserve`; creating things does not.
    pub(crate) fn write<T>(
        &self,
        reserve: bool,
        f: impl Fn(&Connection) -> rusqlite::Result<T>,
    ) -> Result<T> {
        let root = self.path.parent().unwrap_or(Path::new("/"));
        let mut checkpointed = false;
        loop {
            match f(&self.conn) {
                Err(e) if crate::space::is_full(&e) && !checkpointed => {
                    checkpointed = true;
                    let _ = self
                        .conn
                        .query_row("PRAGMA wal_checkpoint(RESTART)", [], |_| Ok(()));
                }
                Err(e) if crate::space::is_full(&e) && reserve => {
                    if !crate::space::release_reserve(root) {
                        return Err(db_error(&self.path)(e));
                    }
                }
                r => return self.wrap(r),
            }
        }
    }

    /// Adds a container. Errors: [`Error::NameInUse`].
    pub fn insert(&mut self, r: &ContainerRecord) -> Result<()> {
        let config = serde_json::to_string(&r.config).expect("RunConfig serialises");
        let holder = self.write(false, |c| {
            let tx = rusqlite::Transaction::new_unchecked(c, TransactionBehavior::Immediate)?;
            if let Some(id) = name_holder(&tx, &r.name)? {
                return Ok(Some(id));
            }
            tx.execute(
                &format!("INSERT INTO containers ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)"),
                params![
                    r.id,
                    r.name,
                    r.image,
                    r.image_id,
                    r.created,
                    config,
                    r.state.as_str(),
                    r.pid,
                    r.monitor_pid,
                    r.monitor_start as i64,
                    r.exit_code,
                    r.error,
                    r.started_at,
                    r.finished_at,
                    r.restart_count,
                    r.no_restart,
                    r.oom_killed
                ],
            )?;
            tx.commit()?;
            Ok(None)
        })?;
        match holder {
            Some(id) => Err(Error::NameInUse {
                name: r.name.clone(),
                id,
            }),
            None => Ok(()),
        }
    }

    fn row(row: &rusqlite::Row<'_>) -> rusqlite::Result<ContainerRecord> {
        let config: String = row.get(5)?;
        let state: String = row.get(6)?;
        let monitor_start: i64 = row.get(9)?;
        Ok(ContainerRecord {
            id: row.get(0)?,
            name: row.get(1)?,
            image: row.get(2)?,
            image_id: row.get(3)?,
            created: row.get(4)?,
            config: serde_json::from_str(&config).map_err(|e| {
                rusqlite::Error::FromSqlConversionFailure(5, rusqlite::types::Type::Text, e.into())
            })?,
            state: State::parse(&state),
            pid: row.get(7)?,
            monitor_pid: row.get(8)?,
            monitor_start: monitor_start as u64,
            exit_code: row.get(10)?,
            error: row.get(11)?,
            started_at: row.get(12)?,
            finished_at: row.get(13)?,
            restart_count: row.get(14)?,
            no_restart: row.get(15)?,
            oom_killed: row.get(16)?,
        })
    }

    /// Every container, oldest first.
    pub fn list(&self) -> Result<Vec<ContainerRecord>> {
        let mut st = self.wrap(self.conn.prepare(&format!(
            "SELECT {COLUMNS} FROM containers ORDER BY created, id"
        )))?;
        let rows = self.wrap(st.query_map([], Db::row))?;
        rows.map(|r| self.wrap(r)).collect()
    }

    /// The container with exactly this id, if any.
    pub fn get(&self, id: &str) -> Result<Option<ContainerRecord>> {
        self.wrap(
            self.conn
                .query_row(
                    &format!("SELECT {COLUMNS} FROM containers WHERE id = ?1"),
                    [id],
                    Db::row,
                )
                .optional(),
        )
    }

    /// Finds a container by full id, name (with or without a leading `/`), or unique id prefix, as docker does.
    /// Errors: [`Error::NoSuchContainer`], [`Error::AmbiguousContainer`].
    pub fn find(&self, what: &str) -> Result<ContainerRecord> {
        if let Some(r) = self.get(what)? {
            return Ok(r);
        }
        let name = what.strip_prefix('/').unwrap_or(what);
        let by_name = self.wrap(
            self.conn
                .query_row(
                    &format!("SELECT {COLUMNS} FROM containers WHERE name = ?1"),
                    [name],
                    Db::row,
                )
                .optional(),
        )?;
        if let Some(r) = by_name {
            return Ok(r);
        }
        if !what.is_empty() && what.len() < 64 && what.bytes().all(|b| b.is_ascii_hexdigit()) {
            let mut st = self.wrap(self.conn.prepare(&format!(
                "SELECT {COLUMNS} FROM containers WHERE substr(id, 1, ?2) = ?1 LIMIT 2"
            )))?;
            let hits: Vec<ContainerRecord> = self
                .wrap(st.query_map(
                    params![what.to_ascii_lowercase(), what.len() as i64],
                    Db::row,
                ))?
                .collect::<rusqlite::Result<_>>()
                .map_err(|source| Error::Db {
                    path: self.path.clone(),
                    source,
                })?;
            match hits.len() {
                1 => return Ok(hits.into_iter().next().expect("one")),
                0 => {}
                _ => return Err(Error::AmbiguousContainer(what.to_string())),
            }
        }
        Err(Error::NoSuchContainer(what.to_string()))
    }

    /// Ends a creation: the row becomes `created` with its final `config` (the creator's pid is cleared). Returns
    /// false if the row is gone or no longer `creating` (removed meanwhile).
    pub fn finish_create(&self, id: &str, config: &RunConfig) -> Result<bool> {
        let config = serde_json::to_string(config).expect("RunConfig serialises");
        let n = self.wrap(self.conn.execute(
            "UPDATE containers SET state = 'created', config = ?2, monitor_pid = 0, monitor_start = 0 \
             WHERE id = ?1 AND state = 'creating'",
            params![id, config],
        ))?;
        Ok(n == 1)
    }

    /// Records that the monitor started the process (from the reserve if the disk is full: the process runs
    /// already, and the monitor kills one it cannot record). Returns false if the container is gone.
    pub fn set_running(
        &self,
        id: &str,
        pid: i32,
        monitor: (i32, u64),
        started_at: &str,
    ) -> Result<bool> {
        let n = self.write(true, |c| c.execute(
            "UPDATE containers SET state = 'running', pid = ?2, monitor_pid = ?3, monitor_start = ?4, \
             exit_code = NULL, error = '', started_at = ?5, finished_at = '', oom_killed = 0 WHERE id = ?1",
            params![id, pid, monitor.0, monitor.1 as i64, started_at],
        ))?;
        Ok(n == 1)
    }

    /// Records that the OOM killer killed a process of the current run (`State.OOMKilled`; cleared by the next
    /// start). Returns false if the container is gone.
    pub fn set_oom_killed(&self, id: &str) -> Result<bool> {
        let n = self.write(true, |c| {
            c.execute("UPDATE containers SET oom_killed = 1 WHERE id = ?1", [id])
        })?;
        Ok(n == 1)
    }

    /// Records that the process ended (`code` `None`: unknown). Returns false if the container is gone.
    pub fn set_exited(
        &self,
        id: &str,
        code: Option<i32>,
        finished_at: &str,
        error: &str,
    ) -> Result<bool> {
        let n = self.write(true, |c| {
            c.execute(
            "UPDATE containers SET state = 'exited', pid = 0, monitor_pid = 0, monitor_start = 0, \
             exit_code = ?2, finished_at = ?3, error = ?4 WHERE id = ?1",
            params![id, code, finished_at, error],
        )
        })?;
        Ok(n == 1)
    }

    /// Records the exit code of a container recorded as exited with an unknown code (its monitor had died) when
    /// the caller itself ended the process (`stop`'s SIGKILL: 137). Returns false if the code was known already.
    pub fn set_unknown_exit_code(&self, id: &str, code: i32) -> Result<bool> {
        let n = self.write(true, |c| {
            c.execute(
                "UPDATE containers SET exit_code = ?2, error = '' \
             WHERE id = ?1 AND state = 'exited' AND exit_code IS NULL",
                params![id, code],
            )
        })?;
        Ok(n == 1)
    }

    /// Records a failed start: a never-run container stays `created` with the reason and `code`; one that ran
    /// before stays `exited` with its last run's exit code (docker keeps it too: `Exited (137)`, not a made-up
    /// code), the reason in `error`.
    pub fn set_start_failed(&self, id: &str, error: &str, code: i32) -> Result<()> {
        self.write(true, |c| {
            c.execute(
                "UPDATE containers SET pid = 0, monitor_pid = 0, monitor_start = 0, error = ?2, \
             exit_code = CASE WHEN state = 'exited' THEN exit_code ELSE ?3 END, \
             state = CASE WHEN state = 'exited' THEN 'exited' ELSE 'created' END WHERE id = ?1",
                params![id, error, code],
            )
        })?;
        Ok(())
    }

    /// Sets or clears the "do not restart" mark (`stop`/`kill`/`rm` set it, `start` clears it). Returns false if
    /// the container is gone.
    pub fn set_no_restart(&self, id: &str, no: bool) -> Result<bool> {
        let n = self.write(true, |c| {
            c.execute(
                "UPDATE containers SET no_restart = ?2 WHERE id = ?1",
                params![id, no],
            )
        })?;
        Ok(n == 1)
    }

    /// Counts a restart by the restart policy; returns the new count.
    pub fn bump_restart_count(&self, id: &str) -> Result<u32> {
        self.wrap(self.conn.query_row(
            "UPDATE containers SET restart_count = restart_count + 1 WHERE id = ?1 RETURNING restart_count",
            [id],
            |r| r.get(0),
        ))
    }

    /// Renames a container. Errors: [`Error::NameInUse`], [`Error::NoSuchContainer`].
    pub fn rename(&mut self, id: &str, name: &str) -> Result<()> {
        let wrap = db_error(&self.path);
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(&wrap)?;
        let holder = name_holder(&tx, name).map_err(&wrap)?;
        match holder {
            Some(h) if h == id => return Ok(()),
            Some(h) => {
                return Err(Error::NameInUse {
                    name: name.to_string(),
                    id: h,
                })
            }
            None => {}
        }
        let n = tx
            .execute(
                "UPDATE containers SET name = ?2 WHERE id = ?1",
                params![id, name],
            )
            .map_err(&wrap)?;
        if n != 1 {
            return Err(Error::NoSuchContainer(id.to_string()));
        }
        tx.commit().map_err(&wrap)
    }

    /// Records a volume; false if one of that name exists already.
    pub fn insert_volume(&self, v: &crate::volumes::Volume) -> Result<bool> {
        let labels = serde_json::to_string(&v.labels).expect("labels serialise");
        let n = self.wrap(self.conn.execute(
            "INSERT OR IGNORE INTO volumes (name, created, labels) VALUES (?1, ?2, ?3)",
            params![v.name, v.created, labels],
        ))?;
        Ok(n == 1)
    }

    fn volume_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<crate::volumes::Volume> {
        let labels: String = row.get(2)?;
        Ok(crate::volumes::Volume {
            name: row.get(0)?,
            created: row.get(1)?,
            labels: serde_json::from_str(&labels).unwrap_or_default(),
        })
    }

    /// The volume of this name, if any.
    pub fn get_volume(&self, name: &str) -> Result<Option<crate::volumes::Volume>> {
        self.wrap(
            self.conn
                .query_row(
                    "SELECT name, created, labels FROM volumes WHERE name = ?1",
                    [name],
                    Db::volume_row,
                )
                .optional(),
        )
    }

    /// Every volume, by name.
    pub fn list_volumes(&self) -> Result<Vec<crate::volumes::Volume>> {
        let mut st = self.wrap(
            self.conn
                .prepare("SELECT name, created, labels FROM volumes ORDER BY name"),
        )?;
        let rows = self.wrap(st.query_map([], Db::volume_row))?;
        rows.map(|r| self.wrap(r)).collect()
    }

    /// Deletes a volume's row (absent is fine).
    pub fn delete_volume(&self, name: &str) -> Result<()> {
        self.write(true, |c| {
            c.execute("DELETE FROM volumes WHERE name = ?1", [name])
        })?;
        Ok(())
    }

    /// Deletes a container's row (absent is fine). An exited container's exit code is kept in `exit_codes` for
    /// [`EXIT_CODE_KEEP_SECS`] (as podman's exit-codes table), so that a `wait` that was already waiting when
    /// `--rm` or `rm` removed it still prints the code (docker does); older entries are pruned here.
    pub fn delete(&self, id: &str) -> Result<()> {
        self.write(true, |c| {
            let tx = c.unchecked_transaction()?;
            tx.execute(
                "INSERT OR REPLACE INTO exit_codes (id, code, at) \
                 SELECT id, exit_code, CAST(strftime('%s','now') AS INTEGER) FROM containers \
                 WHERE id = ?1 AND state = 'exited' AND exit_code IS NOT NULL",
                [id],
            )?;
            tx.execute(
                "DELETE FROM exit_codes WHERE at < CAST(strftime('%s','now') AS INTEGER) - ?1",
                [EXIT_CODE_KEEP_SECS],
            )?;
            tx.execute("DELETE FROM containers WHERE id = ?1", [id])?;
            tx.commit()
        })
    }

    /// The exit code of a container removed within the last [`EXIT_CODE_KEEP_SECS`] (full id), if it had one.
    pub fn removed_exit_code(&self, id: &str) -> Result<Option<i32>> {
        self.wrap(
            self.conn
                .query_row(
                    "SELECT code FROM exit_codes WHERE id = ?1 \
                     AND at >= CAST(strftime('%s','now') AS INTEGER) - ?2",
                    params![id, EXIT_CODE_KEEP_SECS],
                    |r| r.get(0),
                )
                .optional(),
        )
    }
}

/// Maps an SQLite error to [`Error::Db`] naming the database file `path`.
fn db_error(path: &Path) -> impl Fn(rusqlite::Error) -> Error + '_ {
    move |source| Error::Db {
        path: path.to_path_buf(),
        source,
    }
}

/// Opens the database file `path` and sets it up: busy timeout, WAL, the schema. `exclusive` first sets
/// `PRAGMA locking_mode=EXCLUSIVE`, so that SQLite keeps the WAL index in heap memory instead of `holm.db-shm`
/// ("WAL without shared memory", <https://sqlite.org/wal.html#noshm>); it then holds the database's exclusive
/// lock until the connection closes.
///
/// Switching a new database to WAL fails with SQLITE_BUSY without calling the busy handler while another process
/// does the same, and so does taking the exclusive lock of `exclusive` while another connection is open: retried,
/// on a new connection each time, for as long as the busy timeout. A new connection because a connection in
/// exclusive mode keeps the locks it got when a later one fails (SQLite leaves it at PENDING, and its busy handler
/// waits so), so two of them waiting on their connections would wait for each other until both time out.
fn connect(path: &Path, exclusive: bool) -> rusqlite::Result<Connection> {
    let deadline = std::time::Instant::now() + BUSY_TIMEOUT;
    let mut attempt = u64::from(std::process::id());
    loop {
        match connect_once(path, exclusive) {
            Err(rusqlite::Error::SqliteFailure(e, _))
                if matches!(
                    e.code,
                    rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked
                ) && std::time::Instant::now() < deadline =>
            {
                // 2-9 ms, different in each process, so that retrying processes do not keep meeting.
                attempt += 1;
                std::thread::sleep(std::time::Duration::from_millis(2 + attempt % 8));
            }
            r => return r,
        }
    }
}

/// One attempt of [`connect`].
fn connect_once(path: &Path, exclusive: bool) -> rusqlite::Result<Connection> {
    let conn = Connection::open(path)?;
    // In exclusive mode SQLite's busy handler would wait holding the locks it got (PENDING), so two connections
    // would wait for each other: none until set up, [`connect`] retries.
    conn.busy_timeout(if exclusive {
        std::time::Duration::ZERO
    } else {
        BUSY_TIMEOUT
    })?;
    // Every holm command and monitor opens the database for a moment, so the last connection closes many times
    // per container. SQLite's default is to checkpoint the WAL into the database at that close and delete the
    // WAL (4 fsyncs: WAL, database, and the directory when the WAL is made again by the next open): 16 of the
    // 20 fsyncs of a `holm run --rm`, 10-40 ms on this machine's disk. Instead the WAL stays, and a connection
    // that finds it above WAL_CHECKPOINT_BYTES checkpoints and truncates it when it closes (see `Drop`), about
    // every eighth container. SQLite's automatic checkpoint is off: it counts on the shared-memory index
    // remembering what was checkpointed, which the first connection of a process group rebuilds from the WAL
    // (forgetting that), so with short-lived connections it checkpointed the whole WAL again at every commit
    // and never restarted it.
    conn.set_db_config(DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, true)?;
    if exclusive {
        // Before the first access to the database, or SQLite has already chosen the shared-memory index.
        conn.execute_batch("PRAGMA locking_mode=EXCLUSIVE")?;
    }
    // WAL: readers never block the writer (`ps` while a monitor records an exit). NORMAL sync: each commit is
    // atomic and survives any crash of holm or a monitor (it is in the kernel's page cache at once); only a
    // power loss or kernel crash can undo the commits of the last seconds (those not written back yet, or
    // since the last checkpoint's fsync), never leave the database inconsistent. That is enough for this
    // metadata: after such a crash every container is dead anyway (its runtime state lives in the tmpfs
    // runroot), and an undone exit or start reads as the exited container it is. An undone remove brings
    // back a row whose files are gone (`rm` finds them gone, fine); an undone create leaves its bundle and
    // snapshot without a row, as a `kill -9` of `holm create` between the two already can (such leftovers are
    // not collected yet).
    conn.execute_batch(
        "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA wal_autocheckpoint=0;",
    )?;
    conn.execute_batch(SCHEMA)?;
    add_columns(&conn)?;
    if exclusive {
        conn.busy_timeout(BUSY_TIMEOUT)?;
    }
    Ok(conn)
}

/// Adds [`ADDED_COLUMNS`] that an older database lacks.
fn add_columns(conn: &Connection) -> rusqlite::Result<()> {
    for sql in ADDED_COLUMNS {
        match conn.execute_batch(sql) {
            Err(rusqlite::Error::SqliteFailure(_, Some(m))) if m.contains("duplicate column") => {}
            r => r?,
        }
    }
    Ok(())
}

/// True if `e` is SQLite failing to open, grow or map the WAL's shared-memory index `holm.db-shm`. The first
/// connection after all others closed truncates that file (SQLite's unix VFS always does, to start from a clean
/// index) and then writes one byte into each of its 4 KiB pages again: on a full disk, where anything written in
/// between (a monitor's event, a container's log) takes the pages the truncation freed, that fails with
/// `SQLITE_IOERR_SHMSIZE`, and keeps failing for every later connection until space is freed.
fn is_shm_failure(e: &rusqlite::Error) -> bool {
    use rusqlite::ffi;
    matches!(e, rusqlite::Error::SqliteFailure(f, _) if matches!(
        f.extended_code,
        ffi::SQLITE_IOERR_SHMSIZE | ffi::SQLITE_IOERR_SHMOPEN | ffi::SQLITE_IOERR_SHMMAP
    ))
}

/// The id of the container that holds `name`, if any.
fn name_holder(tx: &rusqlite::Transaction<'_>, name: &str) -> rusqlite::Result<Option<String>> {
    tx.query_row("SELECT id FROM containers WHERE name = ?1", [name], |row| {
        row.get(0)
    })
    .optional()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(id: &str, name: &str) -> ContainerRecord {
        ContainerRecord {
            id: id.into(),
            name: name.into(),
            image: "busybox".into(),
            image_id: "sha256:00".into(),
            created: "2026-01-01T00:00:00Z".into(),
            config: RunConfig::default(),
            state: State::Created,
            pid: 0,
            monitor_pid: 0,
            monitor_start: 0,
            oom_killed: false,
            exit_code: None,
            error: String::new(),
            started_at: String::new(),
            finished_at: String::new(),
            restart_count: 0,
            no_restart: false,
        }
    }

    #[test]
    fn concurrent_first_opens() {
        for _ in 0..5 {
            let d = tempfile::tempdir().unwrap();
            let threads: Vec<_> = (0..8)
                .map(|_| {
                    let p = d.path().to_path_buf();
                    std::thread::spawn(move || {
                        Db::open(&p).and_then(|db| db.list()).map(|l| l.len())
                    })
                })
                .collect();
            for t in threads {
                assert_eq!(t.join().unwrap().unwrap(), 0);
            }
        }
    }

    #[test]
    fn insert_find_update_delete() {
        let d = tempfile::tempdir().unwrap();
        let mut db = Db::open(d.path()).unwrap();
        let a = "a".repeat(64);
        let b = format!("ab{}", "0".repeat(62));
        db.insert(&rec(&a, "web")).unwrap();
        db.insert(&rec(&b, "db")).unwrap();
        match db.insert(&rec(&"c".repeat(64), "web")) {
            Err(Error::NameInUse { name, id }) => {
                assert_eq!((name.as_str(), id), ("web", a.clone()))
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(db.find("web").unwrap().id, a);
        assert_eq!(db.find("/db").unwrap().id, b);
        assert_eq!(db.find("aaaa").unwrap().id, a);
        assert!(matches!(db.find("a"), Err(Error::AmbiguousContainer(_))));
        assert!(matches!(db.find("nope"), Err(Error::NoSuchContainer(_))));
        assert!(db.set_running(&a, 42, (7, 99), "t1").unwrap());
        let r = db.find("web").unwrap();
        assert_eq!(
            (r.state, r.pid, r.monitor_pid, r.monitor_start),
            (State::Running, 42, 7, 99)
        );
        assert!(db.set_exited(&a, Some(3), "t2", "").unwrap());
        let r = db.find("web").unwrap();
        assert_eq!((r.state, r.exit_code, r.pid), (State::Exited, Some(3), 0));
        db.set_start_failed(&b, "exec: not found", 127).unwrap();
        let r = db.find("db").unwrap();
        assert_eq!((r.state, r.exit_code), (State::Created, Some(127)));
        db.delete(&a).unwrap();
        assert!(!db.set_exited(&a, None, "t3", "").unwrap());
        assert_eq!(db.list().unwrap().len(), 1);
        // a second connection (another holm process) sees the same rows
        assert_eq!(Db::open(d.path()).unwrap().list().unwrap()[0].id, b);
    }
}
