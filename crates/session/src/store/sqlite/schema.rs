//! The sessions table and its indexes, created if missing when the store opens, and
//! the settings every connection uses (WAL, `synchronous=NORMAL`, a busy timeout).

use std::path::Path;
use std::time::Duration;

use rusqlite::Connection;

/// How long a connection waits for SQLite's lock (the writer for a checkpoint, or
/// another process on the file) before giving up (then 503).
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// Prepared statements each connection keeps (rusqlite's default, 16, is fewer than the
/// store's and an application's statements together, so the writer kept re-parsing
/// statements that had fallen out of the cache).
const STATEMENT_CACHE: usize = 64;

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
";

/// Opens a connection to the database at `path` with the settings every connection
/// uses.
pub(super) fn connect(path: &Path) -> rusqlite::Result<Connection> {
    let connection = Connection::open(path)?;
    connection.busy_timeout(BUSY_TIMEOUT)?;
    connection.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    connection.pragma_update(None, "journal_mode", "WAL")?;
    connection.pragma_update(None, "synchronous", "NORMAL")?;
    Ok(connection)
}

/// Creates the sessions table and its indexes if they do not exist yet.
pub(super) fn create_tables(connection: &Connection) -> rusqlite::Result<()> {
    connection.execute_batch(SCHEMA)
}
