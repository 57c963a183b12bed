//! [`JobStore`] on SQLite: jobs in one table; every check that guards a write (the
//! session exists, the quota holds) runs in the same writer transaction as the write.

use async_trait::async_trait;
use rusqlite::{params, Connection, OptionalExtension};
use trustyconvert_protocol::JobStatus;
use uuid::Uuid;

use super::codec::{execute_job, job_from_row, JOB_COLUMNS};
use super::SqliteStore;
use crate::storage::{active_status_names, JobRecord, JobStore, Reservation, StoreError};
use trustyconvert_session::crypto::SessionKey;
use trustyconvert_session::Timestamp;

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

const INSERT_JOB: &str =
    "INSERT INTO jobs (session_key, job_id, task_id, status, original_filename, \
    source_format, target_format, file_size, output_size, progress, error, created_at, updated_at, \
    completed_at, conversion_time, options, output_format) \
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)";

/// Replaces a job, only while it and its session exist.
const UPDATE_JOB: &str = "UPDATE jobs SET task_id = ?3, status = ?4, original_filename = ?5, \
    source_format = ?6, target_format = ?7, file_size = ?8, output_size = ?9, progress = ?10, \
    error = ?11, created_at = ?12, updated_at = ?13, completed_at = ?14, conversion_time = ?15, \
    options = ?16, output_format = ?17 WHERE session_key = ?1 AND job_id = ?2 AND EXISTS (SELECT 1 FROM sessions WHERE key = ?1)";

#[async_trait]
impl JobStore for SqliteStore {
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
        self.read(move |connection| {
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

    async fn list_jobs(&self, session: &SessionKey) -> Result<Vec<JobRecord>, StoreError> {
        let session = *session;
        self.read(move |connection| {
            connection
                .prepare_cached(&format!(
                    "SELECT {JOB_COLUMNS} FROM jobs WHERE session_key = ?1 \
                     ORDER BY created_at DESC, job_id DESC"
                ))?
                .query_map(params![session.0.as_slice()], job_from_row)?
                .collect()
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
        self.read(move |connection| {
            connection
                .prepare_cached(&format!(
                    "SELECT COUNT(*) FROM jobs WHERE session_key = ?1 AND status IN ({})",
                    active_status_list()
                ))?
                .query_row(params![session.0.as_slice()], |row| row.get::<_, i64>(0))
                .map(|n| n as u64)
        })
        .await
    }

    async fn session_storage(&self, session: &SessionKey) -> Result<u64, StoreError> {
        let session = *session;
        self.read(move |connection| {
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
        self.read(|connection| {
            let mut statement =
                connection.prepare_cached("SELECT DISTINCT session_key FROM jobs")?;
            let rows = statement.query_map([], |row| row.get(0))?;
            rows.collect()
        })
        .await
    }

    async fn fail_unfinished_jobs(&self, reason: &str, now: Timestamp) -> Result<u64, StoreError> {
        let reason = reason.to_owned();
        self.write(move |connection| {
            connection
                .prepare_cached(&format!(
                    "UPDATE jobs SET status = ?3, error = ?1, updated_at = ?2, completed_at = ?2 \
                     WHERE status IN ({})",
                    active_status_list()
                ))?
                .execute(params![reason, now.as_millis(), JobStatus::Failed.as_str()])
                .map(|n| n as u64)
        })
        .await
    }
}

/// The active statuses as an SQL list (`'queued', 'processing'`), built once.
fn active_status_list() -> &'static str {
    static LIST: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    LIST.get_or_init(|| {
        active_status_names()
            .map(|name| format!("'{name}'"))
            .collect::<Vec<_>>()
            .join(", ")
    })
}
