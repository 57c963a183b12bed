//! Records as Redis stores them: a session as `"<csrf json>\n<rest json>"` (a rotation
//! rewrites the first line only; the idle expiry is the key's own), a job and a
//! download grant as JSON.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use trustyconvert_protocol::{Format, JobStatus};
use uuid::Uuid;

use super::corrupt;
use crate::storage::{
    CsrfState, DownloadGrant, JobRecord, PreviousNonce, SessionRecord, StoreError,
};
use trustyconvert_session::crypto::{SessionKey, CSRF_NONCE_BYTES};
use trustyconvert_session::keys::{decode_hex32, encode_hex};
use trustyconvert_session::Timestamp;

/// The CSRF part of a stored session (rewritten on rotation).
#[derive(Serialize, Deserialize)]
struct StoredCsrf {
    current: String,
    previous: Option<(String, i64)>,
}

/// The part of a stored session that never changes.
#[derive(Serialize, Deserialize)]
struct StoredSession {
    public_id: String,
    created_at: i64,
    absolute_expires_at: i64,
}

/// A CSRF nonce as stored (and as the rotation script compares it).
pub(super) fn encode_nonce(nonce: &[u8; CSRF_NONCE_BYTES]) -> String {
    URL_SAFE_NO_PAD.encode(nonce)
}

fn nonce(text: &str) -> Result<[u8; CSRF_NONCE_BYTES], StoreError> {
    URL_SAFE_NO_PAD
        .decode(text)
        .ok()
        .and_then(|bytes| bytes.try_into().ok())
        .ok_or_else(|| corrupt("CSRF nonce"))
}

pub(super) fn encode_csrf(csrf: &CsrfState) -> String {
    let stored = StoredCsrf {
        current: encode_nonce(&csrf.current),
        previous: csrf
            .previous
            .map(|p| (encode_nonce(&p.nonce), p.valid_until.as_millis())),
    };
    serde_json::to_string(&stored).expect("plain data serializes")
}

pub(super) fn encode_session(record: &SessionRecord) -> String {
    let rest = StoredSession {
        public_id: record.public_id.clone(),
        created_at: record.created_at.as_millis(),
        absolute_expires_at: record.absolute_expires_at.as_millis(),
    };
    format!(
        "{}\n{}",
        encode_csrf(&record.csrf),
        serde_json::to_string(&rest).expect("plain data serializes")
    )
}

pub(super) fn decode_csrf(text: &str) -> Result<CsrfState, StoreError> {
    let csrf: StoredCsrf = serde_json::from_str(text).map_err(corrupt)?;
    let previous = match csrf.previous {
        Some((text, until)) => Some(PreviousNonce {
            nonce: nonce(&text)?,
            valid_until: Timestamp::from_millis(until),
        }),
        None => None,
    };
    Ok(CsrfState {
        current: nonce(&csrf.current)?,
        previous,
    })
}

pub(super) fn decode_session(
    key: &SessionKey,
    value: &str,
    idle_expires_at: Timestamp,
) -> Result<SessionRecord, StoreError> {
    let (csrf, rest) = value
        .split_once('\n')
        .ok_or_else(|| corrupt("session record"))?;
    let rest: StoredSession = serde_json::from_str(rest).map_err(corrupt)?;
    Ok(SessionRecord {
        key: *key,
        public_id: rest.public_id,
        created_at: Timestamp::from_millis(rest.created_at),
        idle_expires_at,
        absolute_expires_at: Timestamp::from_millis(rest.absolute_expires_at),
        csrf: decode_csrf(csrf)?,
    })
}

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
    file_size: u64,
    output_size: Option<u64>,
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
        file_size: job.file_size,
        output_size: job.output_size,
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
        file_size: stored.file_size,
        output_size: stored.output_size,
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
}

pub(super) fn encode_grant(grant: &DownloadGrant) -> String {
    let stored = StoredGrant {
        session: encode_hex(&grant.session.0),
        job_id: grant.job_id,
        expires_at: grant.expires_at.as_millis(),
    };
    serde_json::to_string(&stored).expect("plain data serializes")
}

pub(super) fn decode_grant(value: &str) -> Result<DownloadGrant, StoreError> {
    let stored: StoredGrant = serde_json::from_str(value).map_err(corrupt)?;
    Ok(DownloadGrant {
        session: SessionKey(decode_hex32(&stored.session).ok_or_else(|| corrupt("grant owner"))?),
        job_id: stored.job_id,
        expires_at: Timestamp::from_millis(stored.expires_at),
    })
}
