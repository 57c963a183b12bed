//! Jobs and download grants as Redis stores them: JSON.

use serde::{Deserialize, Serialize};
use trustyconvert_protocol::{ConversionOptions, Format, JobStatus};
use uuid::Uuid;

use super::corrupt;
use crate::storage::{DownloadGrant, JobRecord, StoreError};
use trustyconvert_session::crypto::SessionKey;
use trustyconvert_session::keys::{decode_hex32, encode_hex};
use trustyconvert_session::Timestamp;

/// A job as stored (JSON).
#[derive(Serialize, Deserialize)]
struct StoredJob {
    session: String,
    job_id: Uuid,
    task_id: Option<Uuid>,
    status: JobStatus,
    original_filename: String,
    source_format: Format,
    target_format: Option<Format>,
    /// Absent in jobs stored before options existed, and when none were given.
    #[serde(default, skip_serializing_if = "ConversionOptions::is_empty")]
    options: ConversionOptions,
    file_size: u64,
    output_size: Option<u64>,
    /// Absent in jobs stored before it was recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    output_format: Option<Format>,
    progress: u8,
    error: Option<String>,
    created_at: i64,
    updated_at: i64,
    completed_at: Option<i64>,
    conversion_time: Option<f64>,
}

pub(super) fn encode_job(job: &JobRecord) -> String {
    let stored = StoredJob {
        session: encode_hex(&job.session.0),
        job_id: job.job_id,
        task_id: job.task_id,
        status: job.status,
        original_filename: job.original_filename.clone(),
        source_format: job.source_format,
        target_format: job.target_format,
        options: job.options.clone(),
        file_size: job.file_size,
        output_size: job.output_size,
        output_format: job.output_format,
        progress: job.progress,
        error: job.error.clone(),
        created_at: job.created_at.as_millis(),
        updated_at: job.updated_at.as_millis(),
        completed_at: job.completed_at.map(Timestamp::as_millis),
        conversion_time: job.conversion_time,
    };
    serde_json::to_string(&stored).expect("plain data serializes")
}

pub(super) fn decode_job(value: &str) -> Result<JobRecord, StoreError> {
    let stored: StoredJob = serde_json::from_str(value).map_err(corrupt)?;
    Ok(JobRecord {
        session: SessionKey(decode_hex32(&stored.session).ok_or_else(|| corrupt("job owner"))?),
        job_id: stored.job_id,
        task_id: stored.task_id,
        status: stored.status,
        original_filename: stored.original_filename,
        source_format: stored.source_format,
        target_format: stored.target_format,
        options: stored.options,
        file_size: stored.file_size,
        output_size: stored.output_size,
        output_format: stored.output_format,
        progress: stored.progress,
        error: stored.error,
        created_at: Timestamp::from_millis(stored.created_at),
        updated_at: Timestamp::from_millis(stored.updated_at),
        completed_at: stored.completed_at.map(Timestamp::from_millis),
        conversion_time: stored.conversion_time,
    })
}

/// A download grant as stored (JSON).
#[derive(Serialize, Deserialize)]
struct StoredGrant {
    session: String,
    job_id: Uuid,
    expires_at: i64,
    /// Absent in grants of one job (and in those written before zips existed).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    archive: Vec<Uuid>,
}

pub(super) fn encode_grant(grant: &DownloadGrant) -> String {
    let stored = StoredGrant {
        session: encode_hex(&grant.session.0),
        job_id: grant.job_id,
        expires_at: grant.expires_at.as_millis(),
        archive: grant.archive.clone(),
    };
    serde_json::to_string(&stored).expect("plain data serializes")
}

pub(super) fn decode_grant(value: &str) -> Result<DownloadGrant, StoreError> {
    let stored: StoredGrant = serde_json::from_str(value).map_err(corrupt)?;
    Ok(DownloadGrant {
        session: SessionKey(decode_hex32(&stored.session).ok_or_else(|| corrupt("grant owner"))?),
        job_id: stored.job_id,
        expires_at: Timestamp::from_millis(stored.expires_at),
        archive: stored.archive,
    })
}
