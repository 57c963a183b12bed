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

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use rusqlite::{params, Connection, OptionalExtension, Row};
use trustyconvert_protocol::{Format, JobStatus};
use uuid::Uuid;

use super::local_rates::LocalRates;
use super::session_cache::SessionCache;
use super::sqlite_writer::Writer;
use super::{
    CsrfState, CsrfSwap, DownloadGrant, DownloadStore, JobRecord, JobStore, PreviousNonce,
    RateAction, RateLimitStore, RateVerdict, Reservation, SessionRecord, SessionStore, StoreError,
    TokenHash,
};
use crate::crypto::{SessionKey, CSRF_NONCE_BYTES};
use crate::time::Timestamp;

/// How many idle reading connections the pool keeps.
const MAX_IDLE_CONNECTIONS: usize = 8;
/// Most reads (and so pooled connections and blocking threads) in flight at once; more
/// wait their turn.
const MAX_CONCURRENT_OPERATIONS: usize = 16;
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

const SESSION_COLUMNS: &str = "key, public_id, created_at, idle_expires_at, absolute_expires_at, \
                              csrf_nonce, prev_csrf_nonce, prev_csrf_valid_until";

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
            connection.execute_batch(SCHEMA)?;
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
pub(super) fn map_error(error: rusqlite::Error) -> StoreError {
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

fn session_key(row: &Row<'_>, column: usize) -> rusqlite::Result<SessionKey> {
    let bytes: Vec<u8> = row.get(column)?;
    bytes
        .try_into()
        .map(SessionKey)
        .map_err(|_| corrupt(column, "session key"))
}

/// Deletes what belongs to a deleted session: its jobs and download grants.
fn forget_session(connection: &Connection, key: &SessionKey) -> rusqlite::Result<()> {
    connection
        .prepare_cached("DELETE FROM jobs WHERE session_key = ?1")?
        .execute(params![key.0.as_slice()])?;
    connection
        .prepare_cached("DELETE FROM download_grants WHERE session_key = ?1")?
        .execute(params![key.0.as_slice()])?;
    Ok(())
}

fn grant_from_row(row: &Row<'_>) -> rusqlite::Result<DownloadGrant> {
    Ok(DownloadGrant {
        session: session_key(row, 0)?,
        job_id: Uuid::from_slice(&row.get::<_, Vec<u8>>(1)?).map_err(|_| corrupt(1, "uuid"))?,
        expires_at: Timestamp::from_millis(row.get(2)?),
    })
}

const JOB_COLUMNS: &str = "session_key, job_id, task_id, status, original_filename, source_format, \
    target_format, file_size, output_size, progress, error, created_at, updated_at, completed_at, conversion_time";

fn corrupt(column: usize, what: &str) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(
        column,
        rusqlite::types::Type::Text,
        what.to_owned().into(),
    )
}

fn job_from_row(row: &Row<'_>) -> rusqlite::Result<JobRecord> {
    let uuid = |column: usize, bytes: Vec<u8>| {
        Uuid::from_slice(&bytes).map_err(|_| corrupt(column, "uuid"))
    };
    let format =
        |column: usize, name: String| Format::parse(&name).ok_or_else(|| corrupt(column, "format"));
    Ok(JobRecord {
        session: session_key(row, 0)?,
        job_id: uuid(1, row.get(1)?)?,
        task_id: row
            .get::<_, Option<Vec<u8>>>(2)?
            .map(|b| uuid(2, b))
            .transpose()?,
        status: JobStatus::parse(&row.get::<_, String>(3)?).ok_or_else(|| corrupt(3, "status"))?,
        original_filename: row.get(4)?,
        source_format: format(5, row.get(5)?)?,
        target_format: row
            .get::<_, Option<String>>(6)?
            .map(|n| format(6, n))
            .transpose()?,
        file_size: row.get::<_, i64>(7)? as u64,
        output_size: row.get::<_, Option<i64>>(8)?.map(|v| v as u64),
        progress: row.get::<_, i64>(9)?.clamp(0, 100) as u8,
        error: row.get(10)?,
        created_at: Timestamp::from_millis(row.get(11)?),
        updated_at: Timestamp::from_millis(row.get(12)?),
        completed_at: row.get::<_, Option<i64>>(13)?.map(Timestamp::from_millis),
        conversion_time: row.get(14)?,
    })
}

/// Runs `sql`, whose parameters ?1 to ?15 are a job's columns in [`JOB_COLUMNS`]
/// order; returns how many rows changed.
fn execute_job(connection: &Connection, sql: &str, job: &JobRecord) -> rusqlite::Result<usize> {
    connection.prepare_cached(sql)?.execute(params![
        job.session.0.as_slice(),
        job.job_id.as_bytes().as_slice(),
        job.task_id.map(|t| t.as_bytes().to_vec()),
        job.status.as_str(),
        job.original_filename,
        job.source_format.name(),
        job.target_format.map(Format::name),
        job.file_size as i64,
        job.output_size.map(|v| v as i64),
        i64::from(job.progress),
        job.error,
        job.created_at.as_millis(),
        job.updated_at.as_millis(),
        job.completed_at.map(Timestamp::as_millis),
        job.conversion_time,
    ])
}

/// Whether the session filed under `key` exists (read inside the writer's
/// transaction, so the answer holds for the rest of the write).
fn session_exists(connection: &Connection, key: &SessionKey) -> rusqlite::Result<bool> {
    connection
        .prepare_cached("SELECT 1 FROM sessions WHERE key = ?1")?
        .exists(params![key.0.as_slice()])
}

/// Bytes the jobs of `session` other than `except` take.
fn bytes_of_other_jobs(
    connection: &Connection,
    session: &SessionKey,
    except: &Uuid,
) -> rusqlite::Result<u64> {
    connection
        .prepare_cached(
            "SELECT COALESCE(SUM(file_size + COALESCE(output_size, 0)), 0) FROM jobs \
             WHERE session_key = ?1 AND job_id != ?2",
        )?
        .query_row(
            params![session.0.as_slice(), except.as_bytes().as_slice()],
            |row| row.get::<_, i64>(0),
        )
        .map(|n| n.max(0) as u64)
}

/// Writes `job` with `sql` (an insert or an update of one job) if its session exists
/// and its bytes fit in what the session's other jobs leave of `quota`.
fn reserve(
    connection: &Connection,
    sql: &str,
    job: &JobRecord,
    quota: u64,
) -> rusqlite::Result<Reservation> {
    if !session_exists(connection, &job.session)? {
        return Ok(Reservation::Gone);
    }
    let used = bytes_of_other_jobs(connection, &job.session, &job.job_id)?;
    if job.stored_bytes() > quota.saturating_sub(used) {
        return Ok(Reservation::OverQuota { used });
    }
    Ok(match execute_job(connection, sql, job)? {
        0 => Reservation::Gone,
        _ => Reservation::Reserved,
    })
}

const INSERT_JOB: &str = "INSERT INTO jobs (session_key, job_id, task_id, status, original_filename, \
    source_format, target_format, file_size, output_size, progress, error, created_at, updated_at, \
    completed_at, conversion_time) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)";

/// Replaces a job, only while it and its session exist.
const UPDATE_JOB: &str = "UPDATE jobs SET task_id = ?3, status = ?4, original_filename = ?5, \
    source_format = ?6, target_format = ?7, file_size = ?8, output_size = ?9, progress = ?10, \
    error = ?11, created_at = ?12, updated_at = ?13, completed_at = ?14, conversion_time = ?15 \
    WHERE session_key = ?1 AND job_id = ?2 AND EXISTS (SELECT 1 FROM sessions WHERE key = ?1)";

#[async_trait]
impl SessionStore for SqliteStorage {
    async fn insert_session(&self, stored: &SessionRecord) -> Result<(), StoreError> {
        let record = stored.clone();
        let cached = stored.clone();
        self.write_settled(
            move |connection| {
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
            },
            move |cache, outcome| {
                if outcome.is_ok() {
                    cache.put(&cached);
                }
            },
        )
        .await
    }

    async fn load_session(&self, key: &SessionKey) -> Result<Option<SessionRecord>, StoreError> {
        let since = match self.sessions.get(key) {
            Ok(cached) => return Ok(Some(cached)),
            Err(since) => since,
        };
        let key = *key;
        let loaded = self
            .run(move |connection| {
                connection
                    .prepare_cached(&format!(
                        "SELECT {SESSION_COLUMNS} FROM sessions WHERE key = ?1"
                    ))?
                    .query_row(params![key.0.as_slice()], record_from_row)
                    .optional()
            })
            .await?;
        if let Some(record) = &loaded {
            self.sessions.fill(record, since);
        }
        Ok(loaded)
    }

    async fn touch_session(
        &self,
        key: &SessionKey,
        idle_expires_at: Timestamp,
    ) -> Result<bool, StoreError> {
        let key = *key;
        self.write_settled(
            move |connection| {
                connection
                    .prepare_cached("UPDATE sessions SET idle_expires_at = ?2 WHERE key = ?1")?
                    .execute(params![key.0.as_slice(), idle_expires_at.as_millis()])
                    .map(|changed| changed > 0)
            },
            move |cache, touched| match touched {
                Ok(true) => cache.extended(&key, idle_expires_at),
                // Gone, or unknown (an error: the write may have landed).
                _ => cache.forget(&[key]),
            },
        )
        .await
    }

    /// `UPDATE … WHERE csrf_nonce = expected`; when it changes nothing, the state it
    /// lost to is read in the same write (the writer runs one write at a time).
    async fn swap_csrf(
        &self,
        key: &SessionKey,
        expected: &[u8; CSRF_NONCE_BYTES],
        next: &CsrfState,
    ) -> Result<CsrfSwap, StoreError> {
        let (key, expected, next) = (*key, *expected, *next);
        // Whatever happened (even an error: the write may have landed), the cached copy
        // is no longer known to be current.
        self.write_settled(
            move |connection| {
                let (previous_nonce, previous_until) = previous_columns(&next);
                let swapped = connection
                    .prepare_cached(
                        "UPDATE sessions SET csrf_nonce = ?2, prev_csrf_nonce = ?3, \
                         prev_csrf_valid_until = ?4 WHERE key = ?1 AND csrf_nonce = ?5",
                    )?
                    .execute(params![
                        key.0.as_slice(),
                        next.current.as_slice(),
                        previous_nonce,
                        previous_until,
                        expected.as_slice()
                    ])?
                    > 0;
                if swapped {
                    return Ok(CsrfSwap::Swapped);
                }
                let stored = connection
                    .prepare_cached(&format!(
                        "SELECT {SESSION_COLUMNS} FROM sessions WHERE key = ?1"
                    ))?
                    .query_row(params![key.0.as_slice()], record_from_row)
                    .optional()?;
                Ok(match stored {
                    Some(record) => CsrfSwap::Superseded(record.csrf),
                    None => CsrfSwap::Gone,
                })
            },
            move |cache, _| cache.forget(&[key]),
        )
        .await
    }

    async fn delete_session(&self, key: &SessionKey) -> Result<bool, StoreError> {
        let key = *key;
        // One write: the writer's savepoint makes it all or nothing.
        self.write_settled(
            move |connection| {
                let existed = connection
                    .prepare_cached("DELETE FROM sessions WHERE key = ?1")?
                    .execute(params![key.0.as_slice()])?
                    > 0;
                forget_session(connection, &key)?;
                Ok(existed)
            },
            move |cache, _| cache.forget(&[key]),
        )
        .await
    }

    async fn sweep_expired(&self, now: Timestamp) -> Result<Vec<SessionKey>, StoreError> {
        self.write_settled(
            move |connection| {
                let swept = connection
                .prepare_cached(
                    "DELETE FROM sessions WHERE idle_expires_at <= ?1 OR absolute_expires_at <= ?1 \
                     RETURNING key",
                )?
                .query_map(params![now.as_millis()], |row| session_key(row, 0))?
                .collect::<rusqlite::Result<Vec<_>>>()?;
                for key in &swept {
                    forget_session(connection, key)?;
                }
                connection
                    .prepare_cached("DELETE FROM download_grants WHERE expires_at <= ?1")?
                    .execute(params![now.as_millis()])?;
                Ok(swept)
            },
            |cache, swept| {
                if let Ok(swept) = swept {
                    cache.forget(swept);
                }
            },
        )
        .await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        // Through the writer: healthy means writes can be committed.
        self.write(|connection| connection.query_row("SELECT 1", [], |_| Ok(())))
            .await
    }
}

#[async_trait]
impl JobStore for SqliteStorage {
    async fn insert_job(&self, job: &JobRecord, quota: u64) -> Result<Reservation, StoreError> {
        let job = job.clone();
        self.write(move |connection| reserve(connection, INSERT_JOB, &job, quota))
            .await
    }

    async fn load_job(
        &self,
        session: &SessionKey,
        job_id: &Uuid,
    ) -> Result<Option<JobRecord>, StoreError> {
        let (session, job_id) = (*session, *job_id);
        self.run(move |connection| {
            connection
                .prepare_cached(&format!(
                    "SELECT {JOB_COLUMNS} FROM jobs WHERE session_key = ?1 AND job_id = ?2"
                ))?
                .query_row(
                    params![session.0.as_slice(), job_id.as_bytes().as_slice()],
                    job_from_row,
                )
                .optional()
        })
        .await
    }

    async fn update_job(&self, job: &JobRecord) -> Result<bool, StoreError> {
        let job = job.clone();
        self.write(move |connection| execute_job(connection, UPDATE_JOB, &job))
            .await
            .map(|changed| changed > 0)
    }

    async fn reserve_output(&self, job: &JobRecord, quota: u64) -> Result<Reservation, StoreError> {
        let job = job.clone();
        self.write(move |connection| {
            let exists = connection
                .prepare_cached("SELECT 1 FROM jobs WHERE session_key = ?1 AND job_id = ?2")?
                .exists(params![
                    job.session.0.as_slice(),
                    job.job_id.as_bytes().as_slice()
                ])?;
            if !exists {
                return Ok(Reservation::Gone);
            }
            reserve(connection, UPDATE_JOB, &job, quota)
        })
        .await
    }

    async fn count_active_jobs(&self, session: &SessionKey) -> Result<u64, StoreError> {
        let session = *session;
        self.run(move |connection| {
                connection
                    .prepare_cached(
                        "SELECT COUNT(*) FROM jobs WHERE session_key = ?1 AND status IN ('queued', 'processing')",
                    )?
                    .query_row(params![session.0.as_slice()], |row| row.get::<_, i64>(0))
                    .map(|n| n as u64)
            })
            .await
    }

    async fn session_storage(&self, session: &SessionKey) -> Result<u64, StoreError> {
        let session = *session;
        self.run(move |connection| {
            connection
                .prepare_cached(
                    "SELECT COALESCE(SUM(file_size + COALESCE(output_size, 0)), 0) FROM jobs \
                         WHERE session_key = ?1",
                )?
                .query_row(params![session.0.as_slice()], |row| row.get::<_, i64>(0))
                .map(|n| n.max(0) as u64)
        })
        .await
    }

    async fn delete_job(&self, session: &SessionKey, job_id: &Uuid) -> Result<bool, StoreError> {
        let (session, job_id) = (*session, *job_id);
        self.write(move |connection| {
            connection
                .prepare_cached("DELETE FROM jobs WHERE session_key = ?1 AND job_id = ?2")?
                .execute(params![session.0.as_slice(), job_id.as_bytes().as_slice()])
                .map(|n| n > 0)
        })
        .await
    }

    async fn delete_session_jobs(&self, session: &SessionKey) -> Result<u64, StoreError> {
        let session = *session;
        self.write(move |connection| {
            connection
                .prepare_cached("DELETE FROM jobs WHERE session_key = ?1")?
                .execute(params![session.0.as_slice()])
                .map(|n| n as u64)
        })
        .await
    }

    async fn sessions_with_jobs(&self) -> Result<Vec<SessionKey>, StoreError> {
        self.run(|connection| {
            let mut statement =
                connection.prepare_cached("SELECT DISTINCT session_key FROM jobs")?;
            let rows = statement.query_map([], |row| session_key(row, 0))?;
            rows.collect()
        })
        .await
    }

    async fn fail_unfinished_jobs(&self, reason: &str, now: Timestamp) -> Result<u64, StoreError> {
        let reason = reason.to_owned();
        self.write(move |connection| {
            connection
                .prepare_cached(
                    "UPDATE jobs SET status = ?3, error = ?1, updated_at = ?2, completed_at = ?2 \
                         WHERE status IN (?4, ?5)",
                )?
                .execute(params![
                    reason,
                    now.as_millis(),
                    JobStatus::Failed.as_str(),
                    JobStatus::Queued.as_str(),
                    JobStatus::Processing.as_str()
                ])
                .map(|n| n as u64)
        })
        .await
    }
}

#[async_trait]
impl DownloadStore for SqliteStorage {
    async fn insert_grant(
        &self,
        token: &TokenHash,
        grant: &DownloadGrant,
        max_per_job: usize,
    ) -> Result<bool, StoreError> {
        let (token, grant) = (*token, *grant);
        // The new grant always stays; the newest others fill the remaining places.
        let keep_others = i64::try_from(max_per_job.saturating_sub(1)).unwrap_or(i64::MAX);
        // One write: the writer's savepoint makes it all or nothing.
        self.write(move |connection| {
            let (session, job) = (grant.session.0, *grant.job_id.as_bytes());
            let inserted = connection
                .prepare_cached(
                    "INSERT INTO download_grants (token_hash, session_key, job_id, expires_at) \
                     SELECT ?1, ?2, ?3, ?4 WHERE EXISTS (SELECT 1 FROM sessions WHERE key = ?2)",
                )?
                .execute(params![
                    token.0.as_slice(),
                    session.as_slice(),
                    job.as_slice(),
                    grant.expires_at.as_millis()
                ])?;
            if inserted == 0 {
                return Ok(false);
            }
            connection
                .prepare_cached(
                    "DELETE FROM download_grants WHERE session_key = ?1 AND job_id = ?2 \
                     AND token_hash != ?3 AND token_hash NOT IN (SELECT token_hash \
                     FROM download_grants WHERE session_key = ?1 AND job_id = ?2 \
                     AND token_hash != ?3 ORDER BY expires_at DESC LIMIT ?4)",
                )?
                .execute(params![
                    session.as_slice(),
                    job.as_slice(),
                    token.0.as_slice(),
                    keep_others
                ])
                .map(|_| true)
        })
        .await
    }

    async fn take_grant(
        &self,
        token: &TokenHash,
        now: Timestamp,
    ) -> Result<Option<DownloadGrant>, StoreError> {
        let grant = self
            .write(grant_by_token(
                "DELETE FROM download_grants WHERE token_hash = ?1 \
                 RETURNING session_key, job_id, expires_at",
                *token,
            ))
            .await?;
        Ok(grant.filter(|grant| grant.expires_at > now))
    }

    async fn peek_grant(
        &self,
        token: &TokenHash,
        now: Timestamp,
    ) -> Result<Option<DownloadGrant>, StoreError> {
        let grant = self
            .run(grant_by_token(
                "SELECT session_key, job_id, expires_at FROM download_grants WHERE token_hash = ?1",
                *token,
            ))
            .await?;
        Ok(grant.filter(|grant| grant.expires_at > now))
    }
}

/// The work of finding the grant `sql` (which selects or deletes by `token_hash = ?1`)
/// returns; the caller checks it is still valid.
fn grant_by_token(
    sql: &'static str,
    token: TokenHash,
) -> impl FnOnce(&Connection) -> rusqlite::Result<Option<DownloadGrant>> + Send + 'static {
    move |connection| {
        connection
            .prepare_cached(sql)?
            .query_row(params![token.0.as_slice()], grant_from_row)
            .optional()
    }
}

#[async_trait]
impl RateLimitStore for SqliteStorage {
    async fn check_rate(
        &self,
        action: RateAction,
        client: IpAddr,
        per_minute: NonZeroU32,
    ) -> Result<RateVerdict, StoreError> {
        Ok(self.rates.check(action, client, per_minute))
    }

    async fn forget_idle_rates(&self) -> Result<(), StoreError> {
        self.rates.forget_idle();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn sqlite_storage_meets_the_storage_contract() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStorage::open(dir.path().join("test.sqlite3"))
            .await
            .unwrap();
        super::super::contract::check_all(&store).await;
    }

    #[tokio::test]
    async fn a_close_whose_caller_stopped_waiting_still_leaves_the_cache() {
        use futures::FutureExt as _;
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStorage::open(dir.path().join("test.sqlite3"))
            .await
            .unwrap();
        let record = super::super::contract::record(Timestamp::now(), Duration::from_secs(60));
        store.insert_session(&record).await.unwrap();
        assert!(store.load_session(&record.key).await.unwrap().is_some());
        // The request is dropped once its delete is queued (its client disconnected).
        assert!(store.delete_session(&record.key).now_or_never().is_none());
        for _ in 0..200 {
            if store.load_session(&record.key).await.unwrap().is_none() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("the closed session is still served from the cache");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn the_session_cache_agrees_with_the_file_after_racing_reads_and_writes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("test.sqlite3");
        let store = SqliteStorage::open(path.clone()).await.unwrap();
        // A second handle on the file, whose cache is dropped before each read: what is
        // stored.
        let file = SqliteStorage::open(path).await.unwrap();
        let record = super::super::contract::record(Timestamp::now(), Duration::from_secs(60));
        store.insert_session(&record).await.unwrap();
        let key = record.key;
        for round in 0..40u8 {
            let tasks: Vec<_> = (0..32u8)
                .map(|i| {
                    let store = store.clone();
                    tokio::spawn(async move {
                        if i % 4 == 0 {
                            let next = CsrfState {
                                current: [round.wrapping_mul(32).wrapping_add(i); 16],
                                previous: None,
                            };
                            let current = store.load_session(&key).await.unwrap().unwrap();
                            store
                                .swap_csrf(&key, &current.csrf.current, &next)
                                .await
                                .unwrap();
                        } else {
                            store.load_session(&key).await.unwrap();
                        }
                    })
                })
                .collect();
            for task in tasks {
                task.await.unwrap();
            }
            file.sessions.forget(&[key]);
            let truth = file.load_session(&key).await.unwrap().unwrap();
            let cached = store.load_session(&key).await.unwrap().unwrap();
            assert_eq!(
                cached, truth,
                "round {round}: the cache kept a replaced record"
            );
        }
    }

    #[tokio::test]
    async fn sessions_survive_reopening_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("test.sqlite3");
        let record = super::super::contract::record(Timestamp::now(), Duration::from_secs(60));
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
