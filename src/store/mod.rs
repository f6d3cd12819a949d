//! The SQLite preference store: the only module that speaks SQL.
//! One file holds prompts, candidates, the append-only ranking log, leases, runs, metrics,
//! checkpoints and reward scores. Every connection gets the same pragmas (see `configure`).

mod imports;
mod migrations;
mod prompts;
mod queue;
mod rankings;
mod review;
mod runs;
mod settings;
mod stats;
mod tasks;

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

pub use imports::{ImportCounts, ImportWriter};
pub use migrations::MIGRATIONS;
pub use queue::{FoundPrompt, Progress, QueueFilter, QueueOptions};
pub use rankings::{RankingFilter, RowCount};
pub use runs::{CheckpointRow, MetricPoint, RunRow, RunStatus, ScoredCandidate};
pub use stats::{criteria_learnt, head_for, AnnotatorStats, Stats};

/// Writers wait this long for the lock before giving up (big imports hold it for seconds).
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(
        "this database was written by a newer kibble (schema version {found}; this build knows up to {known}). \
         It was not changed. Upgrade kibble, or pass another --db."
    )]
    NewerSchema { found: i64, known: i64 },
    #[error("{0}")]
    Invalid(String),
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("stored JSON is malformed: {0}")]
    Json(#[from] serde_json::Error),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

pub struct Store {
    conn: Connection,
    path: Option<PathBuf>,
}

impl Store {
    /// Opens (creating if needed) the DB file, checks its schema version and migrates it.
    pub fn open(path: &Path) -> Result<Store> {
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_CREATE
                | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        Self::init(conn, Some(path.to_path_buf()))
    }

    pub fn open_in_memory() -> Result<Store> {
        Self::init(Connection::open_in_memory()?, None)
    }

    fn init(mut conn: Connection, path: Option<PathBuf>) -> Result<Store> {
        conn.busy_timeout(BUSY_TIMEOUT)?;
        // Check the version before any pragma that writes to the file: a newer DB stays untouched.
        migrations::check_version(&conn)?;
        configure(&conn)?;
        migrations::migrate(&mut conn)?;
        let store = Store { conn, path };
        store.fail_dead_runs()?;
        Ok(store)
    }

    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    pub fn schema_version(&self) -> Result<i64> {
        Ok(self
            .conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))?)
    }

    pub fn integrity_check(&self) -> Result<String> {
        Ok(self
            .conn
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))?)
    }

    /// Id of the named annotator, creating the row on first use.
    pub fn annotator_id(&self, name: &str) -> Result<i64> {
        annotator_id(&self.conn, name)
    }
}

/// WAL so readers never block the writer; FULL sync so a ranking the app confirmed survives
/// a power cut, not only a crash (one fsync per human decision is cheap); foreign keys on.
fn configure(conn: &Connection) -> Result<()> {
    let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") && !mode.eq_ignore_ascii_case("memory") {
        return Err(StoreError::Invalid(format!(
            "could not switch the database to WAL mode (got {mode}); is it on a network file system?"
        )));
    }
    conn.execute_batch(
        "PRAGMA synchronous = FULL;
         PRAGMA foreign_keys = ON;
         PRAGMA temp_store = MEMORY;",
    )?;
    Ok(())
}

fn annotator_id(conn: &Connection, name: &str) -> Result<i64> {
    let mut find = conn.prepare_cached("SELECT id FROM annotators WHERE name = ?1")?;
    if let Some(id) = find
        .query_row([name], |r| r.get(0))
        .map(Some)
        .or_else(none_if_no_rows)?
    {
        return Ok(id);
    }
    conn.prepare_cached("INSERT OR IGNORE INTO annotators (name, created_at) VALUES (?1, ?2)")?
        .execute(rusqlite::params![name, crate::domain::now_ms()])?;
    Ok(find.query_row([name], |r| r.get(0))?)
}

fn none_if_no_rows<T>(e: rusqlite::Error) -> rusqlite::Result<Option<T>> {
    match e {
        rusqlite::Error::QueryReturnedNoRows => Ok(None),
        e => Err(e),
    }
}

fn json_ids(text: &str) -> Result<Vec<i64>> {
    Ok(serde_json::from_str(text)?)
}
