//! The embedded backend: SQLite in WAL mode in the data directory, one database for
//! sessions, jobs and download grants. Rate-limit counters
//! stay in this process ([`LocalRates`]): the database file is served by one process.
//!
//! Durability: every write is committed before its HTTP response is sent. With WAL and
//! `synchronous=NORMAL` a committed transaction survives the process being killed
//! (SIGKILL); only an OS crash or power loss can drop the last commits.
//!
//! SQLite calls block. Reads run on tokio's blocking pool with a connection taken from
//! a small pool (readers proceed in parallel under WAL); writes go to the single
//! writer thread ([`Writer`]), which commits the writes that arrive together in one
//! transaction, each write in its own savepoint.
//!
//! One job per module: `schema` (tables, indexes, connection settings), `writer` (the
//! writer thread), `session_cache` (session reads served from memory), `codec` (rows
//! to records and back), and one module per store trait: `sessions`, `jobs`,
//! `downloads`, `rates`.

mod codec;
mod downloads;
mod jobs;
mod rates;
mod schema;
mod session_cache;
mod sessions;
mod writer;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use rusqlite::Connection;

use super::{LocalRates, StoreError};
use session_cache::SessionCache;
use writer::Writer;

/// How many idle reading connections the pool keeps.
const MAX_IDLE_CONNECTIONS: usize = 8;
/// Most reads (and so pooled connections and blocking threads) in flight at once; more
/// wait their turn.
const MAX_CONCURRENT_OPERATIONS: usize = 16;

/// Sessions, jobs and download grants in one SQLite database file.
#[derive(Clone)]
pub struct SqliteStorage {
    pool: Arc<Pool>,
    rates: Arc<LocalRates>,
    /// Session records as written through this process (the file's only user).
    sessions: Arc<SessionCache>,
    writer: Writer,
}

impl std::fmt::Debug for SqliteStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStorage")
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
        schema::connect(&self.path)
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

impl SqliteStorage {
    /// Opens (creating if needed) the database at `path` and its tables.
    pub async fn open(path: PathBuf) -> Result<Self, StoreError> {
        crate::private_fs::touch(&path)
            .map_err(|error| StoreError::Unavailable(error.to_string()))?;
        let pool = Arc::new(Pool {
            path,
            idle: Mutex::new(Vec::new()),
            permits: tokio::sync::Semaphore::new(MAX_CONCURRENT_OPERATIONS),
        });
        // The writer's connection creates the tables before anything else runs.
        let opening = Arc::clone(&pool);
        let connection = tokio::task::spawn_blocking(move || {
            let connection = opening.connect()?;
            schema::create_tables(&connection)?;
            Ok(connection)
        })
        .await
        .map_err(|error| StoreError::Unavailable(format!("store task failed: {error}")))?
        .map_err(map_error)?;
        let writer = Writer::start(connection)
            .map_err(|error| StoreError::Unavailable(error.to_string()))?;
        Ok(Self {
            pool,
            rates: Arc::default(),
            sessions: Arc::default(),
            writer,
        })
    }

    /// Runs `work` in the writer's next commit, then `settle` with its outcome to keep
    /// the session cache exact — in a task of its own, so the cache is settled even if
    /// the caller stops waiting (a client that disconnects right after closing its
    /// session must not leave the session valid in the cache).
    async fn write_settled<T, F, S>(&self, work: F, settle: S) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
        S: FnOnce(&SessionCache, &Result<T, StoreError>) + Send + 'static,
    {
        let writer = self.writer.clone();
        let cache = Arc::clone(&self.sessions);
        tokio::spawn(async move {
            let outcome = writer.write(work).await;
            settle(&cache, &outcome);
            outcome
        })
        .await
        .map_err(|error| StoreError::Unavailable(format!("store task failed: {error}")))?
    }

    /// Runs `work` in the writer's next commit (see [`Writer`]).
    async fn write<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        self.writer.write(work).await
    }

    /// Runs `work`, which only reads, on a pooled connection on the blocking thread pool.
    async fn run<T, F>(&self, work: F) -> Result<T, StoreError>
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

/// A SQLite error as the storage layer reports it.
fn map_error(error: rusqlite::Error) -> StoreError {
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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::SqliteStorage;
    use crate::storage::{contract, SessionStore as _};
    use trustyconvert_session::Timestamp;

    #[tokio::test]
    async fn sqlite_storage_meets_the_storage_contract() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStorage::open(dir.path().join("test.sqlite3"))
            .await
            .unwrap();
        contract::check_all(&store).await;
    }

    #[tokio::test]
    async fn sessions_survive_reopening_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("test.sqlite3");
        let record = contract::record(Timestamp::now(), Duration::from_secs(60));
        SqliteStorage::open(path.clone())
            .await
            .unwrap()
            .insert_session(&record)
            .await
            .unwrap();
        let reopened = SqliteStorage::open(path).await.unwrap();
        assert_eq!(
            reopened.load_session(&record.key).await.unwrap(),
            Some(record)
        );
    }
}
