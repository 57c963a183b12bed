//! `POST /api/download_token` and `GET /api/download?token=`.

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use trustyconvert_protocol::{DownloadTokenRequest, DownloadTokenResponse, ErrorType};

use super::{internal, parse_job_id, ValidJson, ValidQuery};
use crate::app::AppState;
use crate::client_addr::ClientAddr;
use crate::downloads::DownloadGrant;
use crate::error::{ApiError, ApiJson, ApiResult};
use crate::jobs::JobStatus;
use crate::session::RequireSession;
use crate::time::Timestamp;

/// `POST /api/download_token`: a single-use, ten-minute token for a completed job.
/// Issuing counts against the download rate limit.
pub async fn download_token(
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    RequireSession(session): RequireSession,
    ValidJson(request): ValidJson<DownloadTokenRequest>,
) -> ApiResult<ApiJson<DownloadTokenResponse>> {
    state.limits.download.check(client)?;
    let job = state
        .jobs
        .find(&session.record.key, &parse_job_id(&request.job_id)?)
        .await?;
    if job.status != JobStatus::Completed {
        return Err(ApiError::validation(format!(
            "The job is {}; only completed jobs can be downloaded.",
            job.status.as_str()
        )));
    }
    let (token, expires_at) = state
        .downloads
        .issue(job.session, job.job_id, Timestamp::now());
    tracing::debug!(event = "download_token_issued", job = %job.job_id, "download token issued");
    let body = DownloadTokenResponse {
        download_token: token,
        expires_at: expires_at.to_rfc3339(),
    };
    Ok(ApiJson::created(body))
}

/// Query of `GET /api/download`.
#[derive(Debug, Deserialize)]
pub struct DownloadQuery {
    token: String,
}

/// `GET /api/download?token=`: streams the output; the token is consumed.
pub async fn download(
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    ValidQuery(query): ValidQuery<DownloadQuery>,
) -> ApiResult<Response> {
    state.limits.download.check(client)?;
    let grant = state
        .downloads
        .redeem(&query.token, Timestamp::now())
        .ok_or_else(gone)?;
    let output = Output::of(&state, &grant).await?;
    let file = tokio::fs::File::open(&output.path)
        .await
        .map_err(|_| gone())?;
    let length = file.metadata().await.map_err(internal)?.len();
    let body = Body::from_stream(tokio_util::io::ReaderStream::new(file));
    tracing::info!(event = "downloaded", job = %grant.job_id, "output downloaded");
    Ok(output.response(body, length))
}

/// `HEAD /api/download?token=`: what `GET` would send, without the body and without
/// spending the token (a link checker or a browser's pre-flight must not burn it).
pub async fn download_head(
    State(state): State<AppState>,
    ValidQuery(query): ValidQuery<DownloadQuery>,
) -> ApiResult<Response> {
    let grant = state
        .downloads
        .peek(&query.token, Timestamp::now())
        .ok_or_else(gone)?;
    let output = Output::of(&state, &grant).await?;
    let length = tokio::fs::metadata(&output.path)
        .await
        .map_err(|_| gone())?
        .len();
    Ok(output.response(Body::empty(), length))
}

fn gone() -> ApiError {
    ApiError::new(
        ErrorType::ResourceNotFound,
        "This download link is invalid, used or expired.",
    )
}

/// A completed job's output, as a download.
struct Output {
    path: std::path::PathBuf,
    filename: String,
    mime: &'static str,
}

impl Output {
    async fn of(state: &AppState, grant: &DownloadGrant) -> Result<Self, ApiError> {
        let job = state
            .jobs
            .store()
            .load_job(&grant.session, &grant.job_id)
            .await?
            .ok_or_else(gone)?;
        let target = job
            .target_format
            .filter(|_| job.status == JobStatus::Completed)
            .ok_or_else(gone)?;
        let stem = job
            .original_filename
            .rsplit_once('.')
            .map_or(job.original_filename.as_str(), |(s, _)| s);
        Ok(Self {
            path: state.jobs.files().output(&job.session, &job.job_id),
            filename: format!("{stem}.{}", target.extension()),
            mime: target.mime(),
        })
    }

    fn response(&self, body: Body, length: u64) -> Response {
        let mut response = body.into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(self.mime));
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
        headers.insert(
            header::CONTENT_DISPOSITION,
            content_disposition(&self.filename),
        );
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        headers.insert(
            "x-content-type-options",
            HeaderValue::from_static("nosniff"),
        );
        response
    }
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
