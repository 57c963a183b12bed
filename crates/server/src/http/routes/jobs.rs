//! `POST /api/convert`, `GET /api/job_status`, `GET /api/jobs` and
//! `DELETE /api/jobs/{job_id}`.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use trustyconvert_protocol::{
    paths, ConvertRequest, ConvertResponse, ErrorType, Format, JobListResponse, JobStatus,
    JobStatusResponse,
};

use super::parse_job_id;
use crate::http::{ApiError, ApiJson, ApiResult, AppState, ValidJson};
use crate::storage::JobRecord;
use trustyconvert_session::http::ValidQuery;
use trustyconvert_session::RequireSession;
use trustyconvert_session::Timestamp;

fn parse_format(name: &str, field: &str) -> Result<Format, ApiError> {
    Format::parse(name).ok_or_else(|| {
        ApiError::new(
            ErrorType::UnsupportedFormatError,
            format!("Unknown {field} {name:?}. See {}.", paths::FORMATS),
        )
    })
}

/// `POST /api/convert`: queues a conversion of an uploaded job.
#[utoipa::path(
    post,
    path = paths::CONVERT,
    tag = "conversion",
    description = "Queues the conversion of an uploaded job.",
    request_body = ConvertRequest,
    responses(
        (status = 202, description = "Queued.", body = crate::http::openapi::Success<ConvertResponse>),
        (status = 400, description = "ValidationError or UnsupportedFormatError.", body = crate::http::openapi::Failure),
        (status = 401, description = "SessionValidationError: no live session.", body = crate::http::openapi::Failure),
        (status = 403, description = "CSRFValidationError.", body = crate::http::openapi::Failure),
        (status = 404, description = "ResourceNotFound: no such job in this session.", body = crate::http::openapi::Failure),
        (status = 429, description = "RateLimitExceeded or TaskLimitExceeded.", body = crate::http::openapi::Failure),
        (status = 503, description = "ServiceUnavailable.", body = crate::http::openapi::Failure),
    ),
    security(("session_cookie" = [], "csrf_token" = []))
)]
pub async fn convert(
    State(state): State<AppState>,
    RequireSession(session): RequireSession,
    ValidJson(request): ValidJson<ConvertRequest>,
) -> ApiResult<ApiJson<ConvertResponse>> {
    let job_id = parse_job_id(&request.job_id)?;
    let target = parse_format(&request.target_format, "target_format")?;
    let claimed_source = request
        .source_format
        .as_deref()
        .map(|source| parse_format(source, "source_format"))
        .transpose()?;
    let job = state
        .jobs
        .enqueue(
            &session.record.key,
            &job_id,
            target,
            claimed_source,
            request.options,
        )
        .await?;
    let task_id = job.task_id.map(|t| t.to_string()).unwrap_or_default();
    let body = ConvertResponse {
        job_id: job_id.to_string(),
        task_id,
        status: JobStatus::Queued,
    };
    Ok(ApiJson::with_status(StatusCode::ACCEPTED, body))
}

/// Query of `GET /api/job_status`.
#[derive(Debug, Deserialize)]
pub struct JobQuery {
    job_id: String,
}

/// `GET /api/job_status?job_id=`.
#[utoipa::path(
    get,
    path = paths::JOB_STATUS,
    tag = "conversion",
    description = "Where a job of the session stands.",
    params(("job_id" = String, Query, description = "The job's UUID.")),
    responses(
        (status = 200, description = "The job.", body = crate::http::openapi::Success<JobStatusResponse>),
        (status = 400, description = "ValidationError: job_id is not a UUID v4.", body = crate::http::openapi::Failure),
        (status = 401, description = "SessionValidationError: no live session.", body = crate::http::openapi::Failure),
        (status = 404, description = "ResourceNotFound: no such job in this session.", body = crate::http::openapi::Failure),
        (status = 503, description = "ServiceUnavailable.", body = crate::http::openapi::Failure),
    ),
    security(("session_cookie" = []))
)]
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

/// `GET /api/jobs`: the session's jobs, newest first.
#[utoipa::path(
    get,
    path = paths::JOBS,
    tag = "conversion",
    description = "The session's jobs, newest first, each as GET /api/job_status reports it (id, file name, formats, status, progress, sizes, times).",
    responses(
        (status = 200, description = "The jobs.", body = crate::http::openapi::Success<JobListResponse>),
        (status = 401, description = "SessionValidationError: no live session.", body = crate::http::openapi::Failure),
        (status = 503, description = "ServiceUnavailable.", body = crate::http::openapi::Failure),
    ),
    security(("session_cookie" = []))
)]
pub async fn list_jobs(
    State(state): State<AppState>,
    RequireSession(session): RequireSession,
) -> ApiResult<ApiJson<JobListResponse>> {
    let jobs = state.jobs.list(&session.record.key).await?;
    Ok(ApiJson::ok(JobListResponse {
        jobs: jobs.iter().map(status_of).collect(),
    }))
}

/// `DELETE /api/jobs/{job_id}`: deletes a job of the session now.
#[utoipa::path(
    delete,
    path = paths::JOB,
    tag = "conversion",
    description = "Deletes a job of the session at once: a running conversion is cancelled, its files are removed, its bytes leave the session's storage quota and its download links stop working. Afterwards GET /api/job_status of it is 404.",
    params(("job_id" = String, Path, description = "The job's UUID.")),
    responses(
        (status = 204, description = "Deleted."),
        (status = 400, description = "ValidationError: job_id is not a UUID v4.", body = crate::http::openapi::Failure),
        (status = 401, description = "SessionValidationError: no live session.", body = crate::http::openapi::Failure),
        (status = 403, description = "CSRFValidationError.", body = crate::http::openapi::Failure),
        (status = 404, description = "ResourceNotFound: no such job in this session.", body = crate::http::openapi::Failure),
        (status = 503, description = "ServiceUnavailable.", body = crate::http::openapi::Failure),
    ),
    security(("session_cookie" = [], "csrf_token" = []))
)]
pub async fn delete_job(
    State(state): State<AppState>,
    RequireSession(session): RequireSession,
    Path(job_id): Path<String>,
) -> ApiResult<StatusCode> {
    let job_id = parse_job_id(&job_id)?;
    state.jobs.delete(&session.record.key, &job_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

fn status_of(job: &JobRecord) -> JobStatusResponse {
    JobStatusResponse {
        job_id: job.job_id.to_string(),
        status: job.status,
        created_at: job.created_at.to_rfc3339(),
        updated_at: job.updated_at.to_rfc3339(),
        original_filename: job.original_filename.clone(),
        source_format: job.source_format,
        target_format: job.target_format,
        options: job.options.clone(),
        file_size: job.file_size,
        output_size: job.output_size,
        output_format: job
            .delivered_format()
            .filter(|_| job.status == JobStatus::Completed),
        progress: job.progress,
        error: job.error.clone(),
        error_message: job.error.clone(),
        completed_at: job.completed_at.map(Timestamp::to_rfc3339),
        conversion_time: job.conversion_time,
    }
}
