//! The embedded store: SQLite in WAL mode in the data directory.
//!
//! Durability: every write is its own committed transaction before the HTTP response is
//! sent. With WAL and `synchronous=NORMAL` a committed transaction survives the process
//! being killed (SIGKILL); only an OS crash or power loss can drop the last commits.
//!
//! SQLite calls block, so each runs on tokio's blocking pool with a connection taken
//! from a small pool (readers proceed in parallel under WAL; writers serialize inside
//! SQLite with a busy timeout).

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use rusqlite::{params, Connection, OptionalExtension, Row};

use super::{CsrfState, PreviousNonce, SessionRecord, SessionStore, StoreError};
use crate::crypto::{SessionKey, CSRF_NONCE_BYTES};
use crate::time::Timestamp;

/// How many idle connections the pool keeps.
const MAX_IDLE_CONNECTIONS: usize = 8;
/// Most operations (and so connections) in flight at once; more wait their turn
/// instead of piling up threads and connections contending for SQLite's write lock.
const MAX_CONCURRENT_OPERATIONS: usize = 16;
/// How long a writer waits for another writer before giving up (then 503).
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
";

const SELECT_COLUMNS: &str = "key, public_id, created_at, idle_expires_at, absolute_expires_at, \
                              csrf_nonce, prev_csrf_nonce, prev_csrf_valid_until";

/// Sessions in a SQLite database file.
#[derive(Clone)]
pub struct SqliteStore {
    pool: Arc<Pool>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.pool.path)
            .finish()
    }
}

struct Pool {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
    permits: tokio::sync::Semaphore,
}

impl Pool {
    fn connect(&self) -> rusqlite::Result<Connection> {
        let connection = Connection::open(&self.path)?;
        connection.busy_timeout(BUSY_TIMEOUT)?;
        connection.pragma_update(None, "journal_mode", "WAL")?;
        connection.pragma_update(None, "synchronous", "NORMAL")?;
        Ok(connection)
    }

    fn take(&self) -> rusqlite::Result<Connection> {
        let pooled = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
        match pooled {
            Some(connection) => Ok(connection),
            None => self.connect(),
        }
    }

    fn give_back(&self, connection: Connection) {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        if idle.len() < MAX_IDLE_CONNECTIONS {
            idle.push(connection);
        }
    }
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path` and its schema.
    pub async fn open(path: PathBuf) -> Result<Self, StoreError> {
        crate::private_fs::touch(&path)
            .map_err(|error| StoreError::Unavailable(error.to_string()))?;
        let store = Self {
            pool: Arc::new(Pool {
                path,
                idle: Mutex::new(Vec::new()),
                permits: tokio::sync::Semaphore::new(MAX_CONCURRENT_OPERATIONS),
            }),
        };
        store
            .run(|connection| connection.execute_batch(SCHEMA))
            .await?;
        Ok(store)
    }

    /// Runs `work` on a pooled connection on the blocking thread pool.
    pub(crate) async fn run<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        let _permit = self
            .pool
            .permits
            .acquire()
            .await
            .map_err(|_| StoreError::Unavailable("the store is shutting down".to_owned()))?;
        let pool = Arc::clone(&self.pool);
        let outcome = tokio::task::spawn_blocking(move || {
            let connection = pool.take()?;
            let result = work(&connection);
            pool.give_back(connection);
            result
        })
        .await
        .map_err(|error| StoreError::Unavailable(format!("store task failed: {error}")))?;
        outcome.map_err(map_error)
    }
}

pub(crate) fn map_error(error: rusqlite::Error) -> StoreError {
    match error {
        rusqlite::Error::SqliteFailure(code, _)
            if code.code == rusqlite::ErrorCode::ConstraintViolation =>
        {
            StoreError::Duplicate
        }
        rusqlite::Error::FromSqlConversionFailure(..) | rusqlite::Error::InvalidColumnType(..) => {
            StoreError::Corrupt(error.to_string())
        }
        other => StoreError::Unavailable(other.to_string()),
    }
}

fn nonce_from(bytes: Vec<u8>, column: usize) -> rusqlite::Result<[u8; CSRF_NONCE_BYTES]> {
    bytes.try_into().map_err(|bytes: Vec<u8>| {
        rusqlite::Error::FromSqlConversionFailure(
            column,
            rusqlite::types::Type::Blob,
            format!("nonce of {} bytes", bytes.len()).into(),
        )
    })
}

fn record_from_row(row: &Row<'_>) -> rusqlite::Result<SessionRecord> {
    let key: Vec<u8> = row.get(0)?;
    let key: [u8; 32] = key.try_into().map_err(|_| {
        rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Blob, "key size".into())
    })?;
    let previous_nonce: Option<Vec<u8>> = row.get(6)?;
    let previous_until: Option<i64> = row.get(7)?;
    let previous = match (previous_nonce, previous_until) {
        (Some(nonce), Some(until)) => Some(PreviousNonce {
            nonce: nonce_from(nonce, 6)?,
            valid_until: Timestamp::from_millis(until),
        }),
        _ => None,
    };
    Ok(SessionRecord {
        key: SessionKey(key),
        public_id: row.get(1)?,
        created_at: Timestamp::from_millis(row.get(2)?),
        idle_expires_at: Timestamp::from_millis(row.get(3)?),
        absolute_expires_at: Timestamp::from_millis(row.get(4)?),
        csrf: CsrfState {
            current: nonce_from(row.get(5)?, 5)?,
            previous,
        },
    })
}

fn previous_columns(csrf: &CsrfState) -> (Option<Vec<u8>>, Option<i64>) {
    match csrf.previous {
        Some(previous) => (
            Some(previous.nonce.to_vec()),
            Some(previous.valid_until.as_millis()),
        ),
        None => (None, None),
    }
}

#[async_trait]
impl SessionStore for SqliteStore {
    async fn insert(&self, record: &SessionRecord) -> Result<(), StoreError> {
        let record = record.clone();
        self.run(move |connection| {
            let (previous_nonce, previous_until) = previous_columns(&record.csrf);
            connection
                .prepare_cached(
                    "INSERT INTO sessions (key, public_id, created_at, idle_expires_at, \
                     absolute_expires_at, csrf_nonce, prev_csrf_nonce, prev_csrf_valid_until) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                )?
                .execute(params![
                    record.key.0.as_slice(),
                    record.public_id,
                    record.created_at.as_millis(),
                    record.idle_expires_at.as_millis(),
                    record.absolute_expires_at.as_millis(),
                    record.csrf.current.as_slice(),
                    previous_nonce,
                    previous_until,
                ])
                .map(drop)
        })
        .await
    }

    async fn load(&self, key: &SessionKey) -> Result<Option<SessionRecord>, StoreError> {
        let key = *key;
        self.run(move |connection| {
            connection
                .prepare_cached(&format!(
                    "SELECT {SELECT_COLUMNS} FROM sessions WHERE key = ?1"
                ))?
                .query_row(params![key.0.as_slice()], record_from_row)
                .optional()
        })
        .await
    }

    async fn touch(
        &self,
        key: &SessionKey,
        idle_expires_at: Timestamp,
    ) -> Result<bool, StoreError> {
        let key = *key;
        self.run(move |connection| {
            connection
                .prepare_cached("UPDATE sessions SET idle_expires_at = ?2 WHERE key = ?1")?
                .execute(params![key.0.as_slice(), idle_expires_at.as_millis()])
                .map(|changed| changed > 0)
        })
        .await
    }

    async fn set_csrf(&self, key: &SessionKey, csrf: &CsrfState) -> Result<bool, StoreError> {
        let (key, csrf) = (*key, *csrf);
        self.run(move |connection| {
            let (previous_nonce, previous_until) = previous_columns(&csrf);
            connection
                .prepare_cached(
                    "UPDATE sessions SET csrf_nonce = ?2, prev_csrf_nonce = ?3, \
                     prev_csrf_valid_until = ?4 WHERE key = ?1",
                )?
                .execute(params![
                    key.0.as_slice(),
                    csrf.current.as_slice(),
                    previous_nonce,
                    previous_until
                ])
                .map(|changed| changed > 0)
        })
        .await
    }

    async fn delete(&self, key: &SessionKey) -> Result<bool, StoreError> {
        let key = *key;
        self.run(move |connection| {
            connection
                .prepare_cached("DELETE FROM sessions WHERE key = ?1")?
                .execute(params![key.0.as_slice()])
                .map(|changed| changed > 0)
        })
        .await
    }

    async fn sweep_expired(&self, now: Timestamp) -> Result<u64, StoreError> {
        self.run(move |connection| {
            connection
                .prepare_cached(
                    "DELETE FROM sessions WHERE idle_expires_at <= ?1 OR absolute_expires_at <= ?1",
                )?
                .execute(params![now.as_millis()])
                .map(|changed| changed as u64)
        })
        .await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.run(|connection| connection.query_row("SELECT 1", [], |_| Ok(())))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn sqlite_store_meets_the_store_contract() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path().join("test.sqlite3"))
            .await
            .unwrap();
        super::super::contract::check(&store).await;
    }

    #[tokio::test]
    async fn sessions_survive_reopening_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("test.sqlite3");
        let record = super::super::contract::record(Timestamp::now(), Duration::from_secs(60));
        SqliteStore::open(path.clone())
            .await
            .unwrap()
            .insert(&record)
            .await
            .unwrap();
        let reopened = SqliteStore::open(path).await.unwrap();
        assert_eq!(reopened.load(&record.key).await.unwrap(), Some(record));
    }
}
