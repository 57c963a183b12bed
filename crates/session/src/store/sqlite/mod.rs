//! [`SqliteStore`]: sessions in an SQLite database file (feature `sqlite`), for a
//! service run as one process that keeps its sessions across restarts. Rate-limit
//! counters stay in the process ([`LocalRates`]): the file is served by one process.
//!
//! Durability: every write is committed before the layer answers. With WAL and
//! `synchronous=NORMAL` a committed transaction survives the process being killed
//! (SIGKILL); only an OS crash or power loss can drop the last commits. The log is
//! moved into the database file by a thread of its own (module `checkpoint`), never by
//! a commit that callers wait for; only when a log of gigabytes must start over does
//! that thread hold the commits back for a moment.
//!
//! SQLite calls block. Reads run on tokio's blocking pool with a connection taken from
//! a small pool (readers proceed in parallel under WAL); writes go to the single
//! writer thread (module `writer`), which commits the writes that arrive together in one
//! transaction, each write in its own savepoint (a write alone in its commit needs
//! none). Session reads are served from a cache kept exact by the writes (module
//! `session_cache`).
//!
//! An application keeps its own tables in the same file ([`SqliteTables`]) and writes
//! them through [`SqliteStore::write`], so "only while the session exists" is checked
//! in the statement that writes, and a session's rows leave in the transaction that
//! deletes it.

mod checkpoint;
mod codec;
mod rates;
mod schema;
mod session_cache;
mod sessions;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rusqlite::Connection;

use super::{LocalRates, StoreError};
use crate::crypto::SessionKey;
use crate::time::Timestamp;
pub use rusqlite;
use session_cache::SessionCache;
use writer::Writer;

/// How many idle reading connections the pool keeps.
const MAX_IDLE_CONNECTIONS: usize = 8;
/// Most reads (and so pooled connections and blocking threads) in flight at once; more
/// wait their turn.
const MAX_CONCURRENT_OPERATIONS: usize = 16;

/// What an application keeps with its sessions in the same database file: its tables,
/// and what leaves with a session. Both deletions run in the transaction that deletes
/// the session, so nothing of a deleted session stays behind.
///
/// An application's writes that must only land while their session exists say so in
/// their statement (`… WHERE EXISTS (SELECT 1 FROM sessions WHERE key = ?)`), run
/// through [`SqliteStore::write`]; the `sessions` table's `key` column holds
/// [`SessionKey`]s (which are [`rusqlite::ToSql`]).
///
/// ```
/// use trustyconvert_session::store::sqlite::{rusqlite, SqliteTables};
/// use trustyconvert_session::{SessionKey, Timestamp};
///
/// struct Notes;
///
/// impl SqliteTables for Notes {
///     fn create(&self, db: &rusqlite::Connection) -> rusqlite::Result<()> {
///         db.execute_batch("CREATE TABLE IF NOT EXISTS notes (session_key BLOB, body TEXT)")
///     }
///     fn forget_session(&self, db: &rusqlite::Connection, key: &SessionKey) -> rusqlite::Result<()> {
///         db.execute("DELETE FROM notes WHERE session_key = ?1", [key]).map(drop)
///     }
/// }
/// ```
pub trait SqliteTables: Send + Sync + 'static {
    /// Creates the application's tables and indexes if they do not exist (when the
    /// store opens, before anything else runs).
    fn create(&self, connection: &Connection) -> rusqlite::Result<()>;

    /// Deletes what belongs to the session `key`, whose row was just deleted.
    fn forget_session(&self, connection: &Connection, key: &SessionKey) -> rusqlite::Result<()>;

    /// Deletes what expired at `now` on its own (after the expired sessions and what
    /// [`forget_session`](Self::forget_session) deleted with them).
    fn sweep(&self, _connection: &Connection, _now: Timestamp) -> rusqlite::Result<()> {
        Ok(())
    }
}

/// No tables besides the sessions.
struct SessionsOnly;

impl SqliteTables for SessionsOnly {
    fn create(&self, _connection: &Connection) -> rusqlite::Result<()> {
        Ok(())
    }

    fn forget_session(&self, _connection: &Connection, _key: &SessionKey) -> rusqlite::Result<()> {
        Ok(())
    }
}

/// Sessions (and an application's tables) in one SQLite database file.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use trustyconvert_session::store::sqlite::SqliteStore;
/// use trustyconvert_session::Sessions;
///
/// let dir = tempfile::tempdir().unwrap();
/// let store = SqliteStore::open(dir.path().join("sessions.sqlite3")).await.unwrap();
/// let builder = Sessions::builder(std::sync::Arc::new(store));
/// # let _ = builder; }
/// ```
#[derive(Clone)]
pub struct SqliteStore {
    pool: Arc<Pool>,
    rates: Arc<LocalRates>,
    /// Session records as written through this process (the file's only user).
    sessions: Arc<SessionCache>,
    writer: Writer,
    _checkpointer: Arc<checkpoint::Checkpointer>,
    tables: Arc<dyn SqliteTables>,
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

impl SqliteStore {
    /// Opens (creating if needed, readable by its owner only) the database at `path`
    /// and its sessions table.
    pub async fn open(path: PathBuf) -> Result<Self, StoreError> {
        Self::open_with(path, SessionsOnly).await
    }

    /// Opens the database at `path` with the application's `tables` beside the
    /// sessions.
    pub async fn open_with(path: PathBuf, tables: impl SqliteTables) -> Result<Self, StoreError> {
        create_private_file(&path).map_err(|error| StoreError::Unavailable(error.to_string()))?;
        let tables: Arc<dyn SqliteTables> = Arc::new(tables);
        let pool = Arc::new(Pool {
            path,
            idle: Mutex::new(Vec::new()),
            permits: tokio::sync::Semaphore::new(MAX_CONCURRENT_OPERATIONS),
        });
        // The writer's connection creates the tables before anything else runs.
        let (opening, creating) = (Arc::clone(&pool), Arc::clone(&tables));
        let connection = tokio::task::spawn_blocking(move || {
            let connection = opening.connect()?;
            schema::create_tables(&connection)?;
            creating.create(&connection)?;
            checkpoint::leave_to_checkpointer(&connection)?;
            Ok(connection)
        })
        .await
        .map_err(|error| StoreError::Unavailable(format!("store task failed: {error}")))?
        .map_err(map_error)?;
        let gate = checkpoint::CommitGate::default();
        let writer = Writer::start(connection, gate.clone())
            .map_err(|error| StoreError::Unavailable(error.to_string()))?;
        let checkpointer = checkpoint::start(&pool.path, gate)
            .map_err(|error| StoreError::Unavailable(error.to_string()))?;
        Ok(Self {
            pool,
            rates: Arc::default(),
            sessions: Arc::default(),
            writer,
            _checkpointer: Arc::new(checkpointer),
            tables,
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.pool.path
    }

    /// Runs `work` in the writer's next commit (an error rolls back only `work`'s
    /// changes) and answers once that commit is done. Meant for an application's own
    /// tables; the sessions table is the store's.
    pub async fn write<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        self.writer.write(work, |_| ()).await
    }

    /// Runs `work`, which only reads, on a pooled connection on the blocking thread
    /// pool (readers do not wait for the writer).
    pub async fn read<T, F>(&self, work: F) -> Result<T, StoreError>
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

    /// Runs `work` in the writer's next commit, then `settle` with its outcome to keep
    /// the session cache exact. `settle` runs on the writer right after the commit, so
    /// the cache is settled even if the caller stops waiting (a client
    /// that disconnects right after closing its session must not leave the session
    /// valid in the cache).
    async fn write_settled<T, F, S>(&self, work: F, settle: S) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
        S: FnOnce(&SessionCache, &Result<T, StoreError>) + Send + 'static,
    {
        let cache = Arc::clone(&self.sessions);
        self.writer
            .write(work, move |outcome| settle(&cache, outcome))
            .await
    }
}

/// Creates an empty file only its owner may read if nothing is at `path` yet, so the
/// database opened there (and the journal files SQLite gives the same mode) is private.
fn create_private_file(path: &Path) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(error) => Err(error),
    }
}

/// A SQLite error as the store reports it.
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

    use super::SqliteStore;
    use crate::store::contract;
    use crate::store::SessionStore as _;
    use crate::time::Timestamp;

    #[tokio::test]
    async fn sqlite_store_meets_the_session_store_contract() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path().join("test.sqlite3"))
            .await
            .unwrap();
        contract::check_store(&store).await;
    }

    #[tokio::test]
    async fn sessions_survive_reopening_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("test.sqlite3");
        let record = contract::sample_record(Timestamp::now(), Duration::from_secs(60));
        SqliteStore::open(path.clone())
            .await
            .unwrap()
            .insert_session(&record)
            .await
            .unwrap();
        let reopened = SqliteStore::open(path).await.unwrap();
        assert_eq!(
            reopened.load_session(&record.key).await.unwrap(),
            Some(record)
        );
    }

    /// An application's table: notes kept with a session.
    struct Notes;

    impl super::SqliteTables for Notes {
        fn create(&self, db: &rusqlite::Connection) -> rusqlite::Result<()> {
            db.execute_batch("CREATE TABLE IF NOT EXISTS notes (session_key BLOB, body TEXT)")
        }

        fn forget_session(
            &self,
            db: &rusqlite::Connection,
            key: &crate::SessionKey,
        ) -> rusqlite::Result<()> {
            db.execute("DELETE FROM notes WHERE session_key = ?1", [key])
                .map(drop)
        }
    }

    /// Adds a note if, and only if, the session exists (the check in the statement).
    async fn add_note(store: &SqliteStore, key: crate::SessionKey) -> usize {
        store
            .write(move |db| {
                db.execute(
                    "INSERT INTO notes SELECT ?1, 'hello' \
                     WHERE EXISTS (SELECT 1 FROM sessions WHERE key = ?1)",
                    [key],
                )
            })
            .await
            .unwrap()
    }

    async fn notes_of(store: &SqliteStore, key: crate::SessionKey) -> i64 {
        store
            .read(move |db| {
                db.query_row(
                    "SELECT COUNT(*) FROM notes WHERE session_key = ?1",
                    [key],
                    |row| row.get(0),
                )
            })
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn an_applications_rows_leave_with_their_session_and_never_outlive_it() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open_with(dir.path().join("test.sqlite3"), Notes)
            .await
            .unwrap();
        let now = Timestamp::now();
        let (closed, expiring) = (
            contract::sample_record(now, Duration::from_secs(60)),
            contract::sample_record(now, Duration::from_millis(1)),
        );
        for session in [&closed, &expiring] {
            store.insert_session(session).await.unwrap();
            assert_eq!(add_note(&store, session.key).await, 1);
        }
        assert!(store.delete_session(&closed.key).await.unwrap());
        assert_eq!(notes_of(&store, closed.key).await, 0, "deleted with it");
        assert_eq!(add_note(&store, closed.key).await, 0, "nothing lands after");
        let swept = store
            .sweep_expired(now.plus(Duration::from_secs(1)))
            .await
            .unwrap();
        assert_eq!(swept, vec![expiring.key]);
        assert_eq!(notes_of(&store, expiring.key).await, 0, "swept with it");
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn the_database_file_is_readable_by_its_owner_only() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("test.sqlite3");
        SqliteStore::open(path.clone()).await.unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "mode {mode:o}");
    }
}
