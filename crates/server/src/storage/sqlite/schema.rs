//! The database's layout: its tables and indexes, created if missing when the store
//! opens, and the settings every connection uses (WAL, `synchronous=NORMAL`, a busy
//! timeout).

use std::path::Path;
use std::time::Duration;

use rusqlite::Connection;

/// How long a connection waits for SQLite's lock (the writer for a checkpoint, or
/// another process on the file) before giving up (then 503).
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS sessions (
    key                   BLOB PRIMARY KEY NOT NULL,
    public_id             TEXT NOT NULL,
    created_at            INTEGER NOT NULL,
    idle_expires_at       INTEGER NOT NULL,
    absolute_expires_at   INTEGER NOT NULL,
    csrf_nonce            BLOB NOT NULL,
    prev_csrf_nonce       BLOB,
    prev_csrf_valid_until INTEGER
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS sessions_idle_expiry ON sessions (idle_expires_at);
CREATE INDEX IF NOT EXISTS sessions_absolute_expiry ON sessions (absolute_expires_at);
CREATE TABLE IF NOT EXISTS jobs (
    session_key       BLOB NOT NULL,
    job_id            BLOB NOT NULL,
    task_id           BLOB,
    status            TEXT NOT NULL,
    original_filename TEXT NOT NULL,
    source_format     TEXT NOT NULL,
    target_format     TEXT,
    file_size         INTEGER NOT NULL,
    output_size       INTEGER,
    progress          INTEGER NOT NULL,
    error             TEXT,
    created_at        INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL,
    completed_at      INTEGER,
    conversion_time   REAL,
    PRIMARY KEY (session_key, job_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS jobs_status ON jobs (status);
CREATE TABLE IF NOT EXISTS download_grants (
    token_hash  BLOB PRIMARY KEY NOT NULL,
    session_key BLOB NOT NULL,
    job_id      BLOB NOT NULL,
    expires_at  INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS download_grants_job ON download_grants (session_key, job_id);
CREATE INDEX IF NOT EXISTS download_grants_expiry ON download_grants (expires_at);
";

/// Opens a connection to the database at `path` with the settings every connection
/// uses.
pub(super) fn connect(path: &Path) -> rusqlite::Result<Connection> {
    let connection = Connection::open(path)?;
    connection.busy_timeout(BUSY_TIMEOUT)?;
    connection.pragma_update(None, "journal_mode", "WAL")?;
    connection.pragma_update(None, "synchronous", "NORMAL")?;
    Ok(connection)
}

/// Creates the tables and indexes that do not exist yet.
pub(super) fn create_tables(connection: &Connection) -> rusqlite::Result<()> {
    connection.execute_batch(SCHEMA)
}
