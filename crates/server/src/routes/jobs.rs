//! `POST /api/convert` and `GET /api/job_status`.

use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use trustyconvert_protocol::{ConvertRequest, ConvertResponse, ErrorType, JobStatusResponse};

use super::{parse_job_id, ValidJson, ValidQuery};
use crate::app::AppState;
use crate::client_addr::ClientAddr;
use crate::convert::Format;
use crate::error::{ApiError, ApiJson, ApiResult};
use crate::jobs::{JobRecord, JobStatus};
use crate::session::RequireSession;
use crate::time::Timestamp;

fn parse_format(name: &str, field: &str) -> Result<Format, ApiError> {
    Format::parse(name).ok_or_else(|| {
        ApiError::new(
            ErrorType::UnsupportedFormatError,
            format!("Unknown {field} {name:?}. See /api/convert/formats."),
        )
    })
}

/// `POST /api/convert`: queues a conversion of an uploaded job.
pub async fn convert(
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    RequireSession(session): RequireSession,
    ValidJson(request): ValidJson<ConvertRequest>,
) -> ApiResult<ApiJson<ConvertResponse>> {
    state.limits.convert.check(client)?;
    let job_id = parse_job_id(&request.job_id)?;
    let target = parse_format(&request.target_format, "target_format")?;
    let key = session.record.key;
    if let Some(source) = &request.source_format {
        let claimed = parse_format(source, "source_format")?;
        let job = state.jobs.find(&key, &job_id).await?;
        if claimed != job.source_format {
            return Err(ApiError::validation(format!(
                "source_format {} does not match the uploaded file, which is {}.",
                claimed.name(),
                job.source_format.name()
            )));
        }
    }
    let job = state.jobs.enqueue(&key, &job_id, target).await?;
    let task_id = job.task_id.map(|t| t.to_string()).unwrap_or_default();
    let body = ConvertResponse {
        job_id: job_id.to_string(),
        task_id,
        status: JobStatus::Queued.as_str().to_owned(),
    };
    Ok(ApiJson::with_status(StatusCode::ACCEPTED, body))
}

/// Query of `GET /api/job_status`.
#[derive(Debug, Deserialize)]
pub struct JobQuery {
    job_id: String,
}

/// `GET /api/job_status?job_id=`.
pub async fn job_status(
    State(state): State<AppState>,
    RequireSession(session): RequireSession,
    ValidQuery(query): ValidQuery<JobQuery>,
) -> ApiResult<ApiJson<JobStatusResponse>> {
    let job = state
        .jobs
        .find(&session.record.key, &parse_job_id(&query.job_id)?)
        .await?;
    Ok(ApiJson::ok(status_of(&job)))
}

fn status_of(job: &JobRecord) -> JobStatusResponse {
    JobStatusResponse {
        job_id: job.job_id.to_string(),
        status: job.status.as_str().to_owned(),
        created_at: job.created_at.to_rfc3339(),
        updated_at: job.updated_at.to_rfc3339(),
        original_filename: job.original_filename.clone(),
        source_format: job.source_format.name().to_owned(),
        target_format: job.target_format.map(|f| f.name().to_owned()),
        file_size: job.file_size,
        output_size: job.output_size,
        progress: job.progress,
        error: job.error.clone(),
        error_message: job.error.clone(),
        completed_at: job.completed_at.map(Timestamp::to_rfc3339),
        conversion_time: job.conversion_time,
    }
}
