//! Rows and records: the columns the queries select, a job or download grant read
//! from its row, and a job's fields as statement parameters.

use rusqlite::{params, Connection, Row};
use trustyconvert_protocol::{ConversionOptions, Format, JobStatus};
use uuid::Uuid;

use crate::storage::{DownloadGrant, JobRecord};
use trustyconvert_session::Timestamp;

/// The columns of `download_grants`, in the order [`grant_from_row`] reads them.
pub(super) const GRANT_COLUMNS: &str = "session_key, job_id, expires_at, archive";

pub(super) fn grant_from_row(row: &Row<'_>) -> rusqlite::Result<DownloadGrant> {
    let archive = match row.get::<_, Option<String>>(3)? {
        Some(ids) => decode_archive(&ids).ok_or_else(|| corrupt(3, "archive"))?,
        None => Vec::new(),
    };
    Ok(DownloadGrant {
        session: row.get(0)?,
        job_id: Uuid::from_slice(&row.get::<_, Vec<u8>>(1)?).map_err(|_| corrupt(1, "uuid"))?,
        expires_at: Timestamp::from_millis(row.get(2)?),
        archive,
    })
}

/// A zip's jobs as the `archive` column holds them: their ids, comma-separated;
/// `None` (NULL) for a grant of one job.
pub(super) fn encode_archive(jobs: &[Uuid]) -> Option<String> {
    (!jobs.is_empty()).then(|| {
        jobs.iter()
            .map(Uuid::to_string)
            .collect::<Vec<_>>()
            .join(",")
    })
}

fn decode_archive(ids: &str) -> Option<Vec<Uuid>> {
    ids.split(',').map(|id| Uuid::parse_str(id).ok()).collect()
}

/// The columns of `jobs`, in the order [`job_from_row`] reads them.
pub(super) const JOB_COLUMNS: &str = "session_key, job_id, task_id, status, original_filename, source_format, \
    target_format, file_size, output_size, progress, error, created_at, updated_at, completed_at, conversion_time, options, output_format";

fn corrupt(column: usize, what: &str) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(
        column,
        rusqlite::types::Type::Text,
        what.to_owned().into(),
    )
}

pub(super) fn job_from_row(row: &Row<'_>) -> rusqlite::Result<JobRecord> {
    let uuid = |column: usize, bytes: Vec<u8>| {
        Uuid::from_slice(&bytes).map_err(|_| corrupt(column, "uuid"))
    };
    let format =
        |column: usize, name: String| Format::parse(&name).ok_or_else(|| corrupt(column, "format"));
    Ok(JobRecord {
        session: row.get(0)?,
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
        options: match row.get::<_, Option<String>>(15)? {
            Some(json) => serde_json::from_str(&json).map_err(|_| corrupt(15, "options"))?,
            None => ConversionOptions::default(),
        },
        output_format: row
            .get::<_, Option<String>>(16)?
            .map(|n| format(16, n))
            .transpose()?,
    })
}

/// Runs `sql`, whose parameters ?1 to ?17 are a job's columns in [`JOB_COLUMNS`]
/// order; returns how many rows changed.
pub(super) fn execute_job(
    connection: &Connection,
    sql: &str,
    job: &JobRecord,
) -> rusqlite::Result<usize> {
    connection.prepare_cached(sql)?.execute(params![
        job.session,
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
        // JSON, NULL when none was given (as in rows written before the column existed).
        (!job.options.is_empty())
            .then(|| serde_json::to_string(&job.options).expect("plain data serializes")),
        job.output_format.map(Format::name),
    ])
}
