//! Where job records live: the same backends as sessions, behind one trait.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use rusqlite::{params, OptionalExtension, Row};
use uuid::Uuid;

use super::{JobRecord, JobStatus};
use crate::config::{ServerConfig, StoreKind};
use crate::convert::Format;
use crate::crypto::SessionKey;
use crate::store::{SqliteStore, StoreError, EMBEDDED_DB_FILE};
use crate::time::Timestamp;

/// Job records, keyed by (session, job id). Like the session store, every method is
/// one round trip and updates never create records.
#[async_trait]
pub trait JobStore: Send + Sync + 'static {
    /// Adds a job; [`StoreError::Duplicate`] if the session already has this job id.
    async fn insert_job(&self, job: &JobRecord) -> Result<(), StoreError>;
    /// One job of one session.
    async fn load_job(
        &self,
        session: &SessionKey,
        job_id: &Uuid,
    ) -> Result<Option<JobRecord>, StoreError>;
    /// Replaces an existing job; `false` if it is gone (its session was closed).
    async fn update_job(&self, job: &JobRecord) -> Result<bool, StoreError>;
    /// How many jobs of the session are queued or processing.
    async fn count_active_jobs(&self, session: &SessionKey) -> Result<u64, StoreError>;
    /// Bytes the session's files take: every upload and every output.
    async fn session_storage(&self, session: &SessionKey) -> Result<u64, StoreError>;
    /// Deletes one job; returns whether it existed.
    async fn delete_job(&self, session: &SessionKey, job_id: &Uuid) -> Result<bool, StoreError>;
    /// Deletes every job of a session; returns how many.
    async fn delete_session_jobs(&self, session: &SessionKey) -> Result<u64, StoreError>;
    /// Every session that owns at least one job (for the orphan sweep).
    async fn sessions_with_jobs(&self) -> Result<Vec<SessionKey>, StoreError>;
    /// Marks every queued or processing job failed with `reason` (after a restart).
    async fn fail_unfinished_jobs(&self, reason: &str, now: Timestamp) -> Result<u64, StoreError>;
}

/// Opens the job store the configuration asks for.
pub async fn open_job_store(config: &ServerConfig) -> Result<Arc<dyn JobStore>, StoreError> {
    Ok(match config.store {
        StoreKind::Memory => Arc::new(MemoryJobStore::default()),
        StoreKind::Embedded => Arc::new(
            SqliteJobStore::open(SqliteStore::open(config.data_dir.join(EMBEDDED_DB_FILE)).await?)
                .await?,
        ),
    })
}

/// Jobs in memory.
#[derive(Debug, Default)]
pub struct MemoryJobStore {
    jobs: Mutex<HashMap<(SessionKey, Uuid), JobRecord>>,
}

impl MemoryJobStore {
    fn jobs(&self) -> std::sync::MutexGuard<'_, HashMap<(SessionKey, Uuid), JobRecord>> {
        self.jobs.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[async_trait]
impl JobStore for MemoryJobStore {
    async fn insert_job(&self, job: &JobRecord) -> Result<(), StoreError> {
        let mut jobs = self.jobs();
        let key = (job.session, job.job_id);
        if jobs.contains_key(&key) {
            return Err(StoreError::Duplicate);
        }
        jobs.insert(key, job.clone());
        Ok(())
    }

    async fn load_job(
        &self,
        session: &SessionKey,
        job_id: &Uuid,
    ) -> Result<Option<JobRecord>, StoreError> {
        Ok(self.jobs().get(&(*session, *job_id)).cloned())
    }

    async fn update_job(&self, job: &JobRecord) -> Result<bool, StoreError> {
        Ok(self
            .jobs()
            .get_mut(&(job.session, job.job_id))
            .map(|stored| *stored = job.clone())
            .is_some())
    }

    async fn count_active_jobs(&self, session: &SessionKey) -> Result<u64, StoreError> {
        Ok(self
            .jobs()
            .values()
            .filter(|j| j.session == *session && j.status.is_active())
            .count() as u64)
    }

    async fn session_storage(&self, session: &SessionKey) -> Result<u64, StoreError> {
        Ok(self
            .jobs()
            .values()
            .filter(|j| j.session == *session)
            .map(|j| j.file_size + j.output_size.unwrap_or(0))
            .sum())
    }

    async fn delete_job(&self, session: &SessionKey, job_id: &Uuid) -> Result<bool, StoreError> {
        Ok(self.jobs().remove(&(*session, *job_id)).is_some())
    }

    async fn delete_session_jobs(&self, session: &SessionKey) -> Result<u64, StoreError> {
        let mut jobs = self.jobs();
        let before = jobs.len();
        jobs.retain(|(owner, _), _| owner != session);
        Ok((before - jobs.len()) as u64)
    }

    async fn sessions_with_jobs(&self) -> Result<Vec<SessionKey>, StoreError> {
        let mut sessions: Vec<SessionKey> = self.jobs().keys().map(|(s, _)| *s).collect();
        sessions.sort_by_key(|s| s.0);
        sessions.dedup();
        Ok(sessions)
    }

    async fn fail_unfinished_jobs(&self, reason: &str, now: Timestamp) -> Result<u64, StoreError> {
        let mut count = 0;
        for job in self.jobs().values_mut().filter(|j| j.status.is_active()) {
            mark_failed(job, reason, now);
            count += 1;
        }
        Ok(count)
    }
}

fn mark_failed(job: &mut JobRecord, reason: &str, now: Timestamp) {
    job.status = JobStatus::Failed;
    job.error = Some(reason.to_owned());
    job.updated_at = now;
    job.completed_at = Some(now);
}

/// Jobs in the embedded SQLite database, beside the sessions.
#[derive(Debug, Clone)]
pub struct SqliteJobStore {
    db: SqliteStore,
}

const SCHEMA: &str = "
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
";

const COLUMNS: &str = "session_key, job_id, task_id, status, original_filename, source_format, \
    target_format, file_size, output_size, progress, error, created_at, updated_at, completed_at, conversion_time";

fn corrupt(column: usize, what: &str) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(
        column,
        rusqlite::types::Type::Text,
        what.to_owned().into(),
    )
}

fn job_from_row(row: &Row<'_>) -> rusqlite::Result<JobRecord> {
    let session: Vec<u8> = row.get(0)?;
    let uuid = |column: usize, bytes: Vec<u8>| {
        Uuid::from_slice(&bytes).map_err(|_| corrupt(column, "uuid"))
    };
    let format =
        |column: usize, name: String| Format::parse(&name).ok_or_else(|| corrupt(column, "format"));
    Ok(JobRecord {
        session: SessionKey(session.try_into().map_err(|_| corrupt(0, "session key"))?),
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

impl SqliteJobStore {
    /// Adds the jobs table to an open database.
    pub async fn open(db: SqliteStore) -> Result<Self, StoreError> {
        db.run(|connection| connection.execute_batch(SCHEMA))
            .await?;
        Ok(Self { db })
    }

    async fn write(&self, sql: &'static str, job: &JobRecord) -> Result<usize, StoreError> {
        let job = job.clone();
        self.db
            .run(move |connection| {
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
            })
            .await
    }
}

#[async_trait]
impl JobStore for SqliteJobStore {
    async fn insert_job(&self, job: &JobRecord) -> Result<(), StoreError> {
        const SQL: &str = "INSERT INTO jobs (session_key, job_id, task_id, status, original_filename, \
            source_format, target_format, file_size, output_size, progress, error, created_at, updated_at, \
            completed_at, conversion_time) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)";
        self.write(SQL, job).await.map(drop)
    }

    async fn load_job(
        &self,
        session: &SessionKey,
        job_id: &Uuid,
    ) -> Result<Option<JobRecord>, StoreError> {
        let (session, job_id) = (*session, *job_id);
        self.db
            .run(move |connection| {
                connection
                    .prepare_cached(&format!(
                        "SELECT {COLUMNS} FROM jobs WHERE session_key = ?1 AND job_id = ?2"
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
        const SQL: &str = "UPDATE jobs SET task_id = ?3, status = ?4, original_filename = ?5, \
            source_format = ?6, target_format = ?7, file_size = ?8, output_size = ?9, progress = ?10, \
            error = ?11, created_at = ?12, updated_at = ?13, completed_at = ?14, conversion_time = ?15 \
            WHERE session_key = ?1 AND job_id = ?2";
        self.write(SQL, job).await.map(|changed| changed > 0)
    }

    async fn count_active_jobs(&self, session: &SessionKey) -> Result<u64, StoreError> {
        let session = *session;
        self.db
            .run(move |connection| {
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
        self.db
            .run(move |connection| {
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
        self.db
            .run(move |connection| {
                connection
                    .prepare_cached("DELETE FROM jobs WHERE session_key = ?1 AND job_id = ?2")?
                    .execute(params![session.0.as_slice(), job_id.as_bytes().as_slice()])
                    .map(|n| n > 0)
            })
            .await
    }

    async fn delete_session_jobs(&self, session: &SessionKey) -> Result<u64, StoreError> {
        let session = *session;
        self.db
            .run(move |connection| {
                connection
                    .prepare_cached("DELETE FROM jobs WHERE session_key = ?1")?
                    .execute(params![session.0.as_slice()])
                    .map(|n| n as u64)
            })
            .await
    }

    async fn sessions_with_jobs(&self) -> Result<Vec<SessionKey>, StoreError> {
        self.db
            .run(|connection| {
                let mut statement =
                    connection.prepare_cached("SELECT DISTINCT session_key FROM jobs")?;
                let rows = statement.query_map([], |row| row.get::<_, Vec<u8>>(0))?;
                let mut sessions = Vec::new();
                for row in rows {
                    sessions.push(SessionKey(
                        row?.try_into().map_err(|_| corrupt(0, "session key"))?,
                    ));
                }
                Ok(sessions)
            })
            .await
    }

    async fn fail_unfinished_jobs(&self, reason: &str, now: Timestamp) -> Result<u64, StoreError> {
        let reason = reason.to_owned();
        self.db
            .run(move |connection| {
                connection
                    .prepare_cached(
                        "UPDATE jobs SET status = 'failed', error = ?1, updated_at = ?2, completed_at = ?2 \
                         WHERE status IN ('queued', 'processing')",
                    )?
                    .execute(params![reason, now.as_millis()])
                    .map(|n| n as u64)
            })
            .await
    }
}
