//! `POST /api/upload`: reads the multipart form and streams the file part into the
//! job service, which bounds, verifies and stores it.

use axum::extract::{Multipart, State};
use axum::http::{header, HeaderMap, StatusCode};
use trustyconvert_protocol::{fields, paths, JobStatus, UploadResponse};

use super::parse_job_id;
use crate::http::{ApiError, ApiJson, ApiResult, AppState, SlowBody};
use crate::jobs::{too_large, IncomingUpload};
use trustyconvert_session::RequireSession;

/// Bytes of multipart framing allowed on top of the file itself.
pub const MULTIPART_OVERHEAD: u64 = 64 * 1024;

fn multipart_error(error: axum::extract::multipart::MultipartError, max: u64) -> ApiError {
    if let Some(slow) = SlowBody::cause_of(&error) {
        slow.api_error()
    } else if error.status() == StatusCode::PAYLOAD_TOO_LARGE {
        too_large(max)
    } else {
        ApiError::validation(format!(
            "The upload is not valid multipart form data ({})",
            error.body_text()
        ))
    }
}

/// `POST /api/upload`: multipart `file` and `job_id`. Streams the file to disk with a
/// running size check, verifies its type by magic bytes, refuses oversized images.
#[utoipa::path(
    post,
    path = paths::UPLOAD,
    tag = "conversion",
    description = "Stores a file as a new job of the session. The type is taken from the file name (or part type) and checked against the first bytes.",
    request_body(content = crate::http::openapi::UploadForm, content_type = "multipart/form-data"),
    responses(
        (status = 201, description = "Stored.", body = crate::http::openapi::Success<UploadResponse>),
        (status = 400, description = "ValidationError (form, job_id), FileValidationError (content) or UnsupportedFormatError (type).", body = crate::http::openapi::Failure),
        (status = 401, description = "SessionValidationError: no live session.", body = crate::http::openapi::Failure),
        (status = 403, description = "CSRFValidationError.", body = crate::http::openapi::Failure),
        (status = 413, description = "MaxFileSizeExceededError: over the upload limit or the session's storage quota.", body = crate::http::openapi::Failure),
        (status = 429, description = "RateLimitExceeded.", body = crate::http::openapi::Failure),
        (status = 500, description = "ServerError: the file could not be stored.", body = crate::http::openapi::Failure),
        (status = 503, description = "ServiceUnavailable.", body = crate::http::openapi::Failure),
    ),
    security(("session_cookie" = [], "csrf_token" = []))
)]
pub async fn upload(
    State(state): State<AppState>,
    RequireSession(session): RequireSession,
    headers: HeaderMap,
    multipart: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> ApiResult<ApiJson<UploadResponse>> {
    let max = state.jobs.limits().max_upload_bytes;
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|length| length > max + MULTIPART_OVERHEAD) {
        return Err(too_large(max));
    }
    let mut multipart = multipart.map_err(|rejection| {
        ApiError::validation(format!(
            "Expected multipart/form-data ({})",
            rejection.body_text()
        ))
    })?;

    let mut job_id = None;
    let mut file: Option<IncomingUpload> = None;
    while let Some(mut field) = multipart
        .next_field()
        .await
        .map_err(|e| multipart_error(e, max))?
    {
        match field.name() {
            Some(fields::JOB_ID) => {
                let text = small_field(field, fields::JOB_ID, max).await?;
                job_id = Some(parse_job_id(&text)?);
            }
            Some(fields::FILE) if file.is_none() => {
                let mut upload = state
                    .jobs
                    .begin_upload(field.file_name().unwrap_or(""), field.content_type());
                // Never more than one chunk in memory.
                while let Some(chunk) = field.chunk().await.map_err(|e| multipart_error(e, max))? {
                    state
                        .jobs
                        .receive(&session.record.key, &mut upload, &chunk)
                        .await?;
                }
                file = Some(upload);
            }
            _ => {} // unknown fields are ignored (their bytes are skipped)
        }
    }
    let job_id = job_id.ok_or_else(|| ApiError::validation("The job_id field is missing."))?;
    let upload = file.ok_or_else(|| ApiError::validation("The file field is missing."))?;
    let job = state
        .jobs
        .accept_upload(&session.record.key, job_id, upload)
        .await?;
    tracing::info!(
        event = "uploaded",
        job = %job_id,
        format = job.source_format.name(),
        size = job.file_size,
        "file uploaded"
    );
    let body = UploadResponse {
        job_id: job_id.to_string(),
        status: JobStatus::Uploaded,
    };
    Ok(ApiJson::created(body))
}

/// Longest value accepted for a text field (a `job_id` is a 36-character UUID).
const MAX_TEXT_FIELD: usize = 256;

/// A short text field, read chunk by chunk and refused past [`MAX_TEXT_FIELD`] bytes, so
/// a field cannot make the server buffer megabytes.
async fn small_field(
    mut field: axum::extract::multipart::Field<'_>,
    name: &str,
    max: u64,
) -> Result<String, ApiError> {
    let mut bytes = Vec::new();
    while let Some(chunk) = field.chunk().await.map_err(|e| multipart_error(e, max))? {
        if bytes.len() + chunk.len() > MAX_TEXT_FIELD {
            return Err(ApiError::validation(format!(
                "The {name} field is too long (at most {MAX_TEXT_FIELD} bytes)."
            )));
        }
        bytes.extend_from_slice(&chunk);
    }
    String::from_utf8(bytes)
        .map_err(|_| ApiError::validation(format!("The {name} field is not UTF-8 text.")))
}
