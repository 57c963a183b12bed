//! `POST /api/download_token` and `GET /api/download?token=`.

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use trustyconvert_protocol::{
    paths, ArchiveRequest, DownloadTokenRequest, DownloadTokenResponse, MAX_ARCHIVE_JOBS,
};

use super::parse_job_id;
use crate::http::{ApiJson, ApiResult, AppState, ValidJson};
use crate::jobs::{stream_archive, Download, DownloadHead};
use tokio_util::io::ReaderStream;
use trustyconvert_session::http::ValidQuery;
use trustyconvert_session::RequireSession;

/// How much of an output each read takes: a read of a `tokio::fs::File` is a trip to
/// the blocking pool, and `ReaderStream`'s default of 4 KiB made a 4 MB download take
/// about 30 ms on loopback.
const READ_BUFFER: usize = 256 * 1024;

/// `POST /api/download_token`: a single-use, ten-minute token for a completed job.
/// Issuing counts against the download rate limit.
#[utoipa::path(
    post,
    path = paths::DOWNLOAD_TOKEN,
    tag = "conversion",
    description = "A single-use, ten-minute token to download a completed job's output.",
    request_body = DownloadTokenRequest,
    responses(
        (status = 201, description = "The token.", body = crate::http::openapi::Success<DownloadTokenResponse>),
        (status = 400, description = "ValidationError: bad job_id, or the job is not completed.", body = crate::http::openapi::Failure),
        (status = 401, description = "SessionValidationError: no live session.", body = crate::http::openapi::Failure),
        (status = 403, description = "CSRFValidationError.", body = crate::http::openapi::Failure),
        (status = 404, description = "ResourceNotFound: no such job in this session.", body = crate::http::openapi::Failure),
        (status = 429, description = "RateLimitExceeded.", body = crate::http::openapi::Failure),
        (status = 503, description = "ServiceUnavailable.", body = crate::http::openapi::Failure),
    ),
    security(("session_cookie" = [], "csrf_token" = []))
)]
pub async fn download_token(
    State(state): State<AppState>,
    RequireSession(session): RequireSession,
    ValidJson(request): ValidJson<DownloadTokenRequest>,
) -> ApiResult<ApiJson<DownloadTokenResponse>> {
    let job_id = parse_job_id(&request.job_id)?;
    let (token, expires_at) = state
        .jobs
        .issue_download(&session.record.key, &job_id)
        .await?;
    tracing::debug!(event = "download_token_issued", job = %job_id, "download token issued");
    let body = DownloadTokenResponse {
        download_token: token,
        expires_at: expires_at.to_rfc3339(),
    };
    Ok(ApiJson::created(body))
}

/// `POST /api/download/archive`: a single-use, ten-minute token for one zip of several
/// completed jobs' outputs. Issuing counts against the download rate limit.
#[utoipa::path(
    post,
    path = paths::DOWNLOAD_ARCHIVE,
    tag = "conversion",
    description = "A single-use, ten-minute token for GET /api/download?token= that streams one zip of the outputs of job_ids (completed jobs of this session, each once, at most 200), in that order, under unique names (`photo.webp`, `photo (2).webp`). A job deleted before the download is left out.",
    request_body = ArchiveRequest,
    responses(
        (status = 201, description = "The token.", body = crate::http::openapi::Success<DownloadTokenResponse>),
        (status = 400, description = "ValidationError: job_ids empty, over 200, not UUID v4, named twice, or a job not completed (details.job_id).", body = crate::http::openapi::Failure),
        (status = 401, description = "SessionValidationError: no live session.", body = crate::http::openapi::Failure),
        (status = 403, description = "CSRFValidationError.", body = crate::http::openapi::Failure),
        (status = 404, description = "ResourceNotFound: a job unknown to this session (details.job_id).", body = crate::http::openapi::Failure),
        (status = 429, description = "RateLimitExceeded.", body = crate::http::openapi::Failure),
        (status = 503, description = "ServiceUnavailable.", body = crate::http::openapi::Failure),
    ),
    security(("session_cookie" = [], "csrf_token" = []))
)]
pub async fn archive_token(
    State(state): State<AppState>,
    RequireSession(session): RequireSession,
    ValidJson(request): ValidJson<ArchiveRequest>,
) -> ApiResult<ApiJson<DownloadTokenResponse>> {
    if request.job_ids.len() > MAX_ARCHIVE_JOBS {
        // Refused before any id is parsed or looked up.
        return Err(crate::http::ApiError::validation(format!(
            "job_ids must name between 1 and {MAX_ARCHIVE_JOBS} jobs."
        )));
    }
    let job_ids = request
        .job_ids
        .iter()
        .map(|id| parse_job_id(id))
        .collect::<Result<Vec<_>, _>>()?;
    let (token, expires_at) = state
        .jobs
        .issue_archive(&session.record.key, &job_ids)
        .await?;
    tracing::debug!(
        event = "archive_token_issued",
        jobs = job_ids.len(),
        "zip download token issued"
    );
    Ok(ApiJson::created(DownloadTokenResponse {
        download_token: token,
        expires_at: expires_at.to_rfc3339(),
    }))
}

/// Query of `GET /api/download`.
#[derive(Debug, Deserialize)]
pub struct DownloadQuery {
    token: String,
}

/// `GET /api/download?token=`: streams the output; the token is consumed.
#[utoipa::path(
    get,
    path = paths::DOWNLOAD,
    tag = "conversion",
    description = "Streams the output and spends the token. Needs no cookie: the token is the credential.",
    params(("token" = String, Query, description = "A token from POST /api/download_token.")),
    responses(
        (status = 200, description = "The file, as an attachment. Content-Type is the output format's MIME type (image/png, application/pdf, text/csv; charset=utf-8, …), listed by format in docs/protocol.md.", content_type = "application/octet-stream", headers(("content-disposition" = String, description = "attachment; filename=…"))),
        (status = 400, description = "ValidationError: no token parameter.", body = crate::http::openapi::Failure),
        (status = 404, description = "ResourceNotFound: invalid, used or expired token, or its session expired.", body = crate::http::openapi::Failure),
        (status = 429, description = "RateLimitExceeded.", body = crate::http::openapi::Failure),
        (status = 503, description = "ServiceUnavailable.", body = crate::http::openapi::Failure),
    )
)]
pub async fn download(
    State(state): State<AppState>,
    ValidQuery(query): ValidQuery<DownloadQuery>,
) -> ApiResult<Response> {
    let download = state.jobs.redeem_download(&query.token).await?;
    let head = download.head();
    let body = match download {
        Download::File(output, file) => {
            tracing::info!(event = "downloaded", job = %output.job_id, "output downloaded");
            Body::from_stream(ReaderStream::with_capacity(file, READ_BUFFER))
        }
        Download::Archive(archive) => {
            tracing::info!(
                event = "downloaded",
                files = archive.entries.len(),
                "zip downloaded"
            );
            Body::from_stream(ReaderStream::with_capacity(
                stream_archive(archive.entries),
                READ_BUFFER,
            ))
        }
    };
    Ok(response(&head, body))
}

/// `HEAD /api/download?token=`: what `GET` would send, without the body and without
/// spending the token (a link checker or a browser's pre-flight must not burn it). It
/// counts against the download rate limit like `GET`.
#[utoipa::path(
    head,
    path = paths::DOWNLOAD,
    tag = "conversion",
    operation_id = "download_head",
    description = "The headers GET would send, without the body and without spending the token. Counts against the download rate limit.",
    params(("token" = String, Query, description = "A token from POST /api/download_token.")),
    responses(
        (status = 200, description = "The file's headers."),
        (status = 404, description = "Invalid, used or expired token, or its session expired."),
        (status = 429, description = "RateLimitExceeded (no body: HEAD)."),
        (status = 503, description = "ServiceUnavailable (no body: HEAD)."),
    )
)]
pub async fn download_head(
    State(state): State<AppState>,
    ValidQuery(query): ValidQuery<DownloadQuery>,
) -> ApiResult<Response> {
    let head = state.jobs.inspect_download(&query.token).await?;
    Ok(response(&head, Body::empty()))
}

fn response(head: &DownloadHead, body: Body) -> Response {
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(head.format.mime()),
    );
    if let Some(length) = head.length {
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
    }
    headers.insert(
        header::CONTENT_DISPOSITION,
        content_disposition(&head.filename),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    response
}

/// RFC 6266 / RFC 8187: an ASCII fallback plus the exact UTF-8 name.
fn content_disposition(filename: &str) -> HeaderValue {
    let fallback: String = filename
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let encoded =
        percent_encoding::utf8_percent_encode(filename, percent_encoding::NON_ALPHANUMERIC);
    let value = format!("attachment; filename=\"{fallback}\"; filename*=UTF-8''{encoded}");
    HeaderValue::from_str(&value).unwrap_or_else(|_| HeaderValue::from_static("attachment"))
}

#[cfg(test)]
mod tests {
    use super::content_disposition;

    #[test]
    fn content_disposition_carries_non_ascii_names() {
        let value = content_disposition("résumé \"final\".pdf");
        let text = value.to_str().unwrap();
        assert!(
            text.starts_with("attachment; filename=\"r_sum_ _final_.pdf\""),
            "{text}"
        );
        assert!(
            text.contains("filename*=UTF-8''r%C3%A9sum%C3%A9%20%22final%22%2Epdf"),
            "{text}"
        );
    }
}
