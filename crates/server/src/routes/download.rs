//! `POST /api/download_token` and `GET /api/download?token=`.

use std::net::SocketAddr;

use axum::body::Body;
use axum::extract::{ConnectInfo, State};
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use trustyconvert_protocol::{DownloadTokenRequest, DownloadTokenResponse, ErrorType};

use super::{internal, parse_job_id, ValidJson, ValidQuery};
use crate::app::AppState;
use crate::error::{ApiError, ApiJson, ApiResult};
use crate::jobs::JobStatus;
use crate::session::RequireSession;
use crate::time::Timestamp;

/// `POST /api/download_token`: a single-use, ten-minute token for a completed job.
pub async fn download_token(
    State(state): State<AppState>,
    RequireSession(session): RequireSession,
    ValidJson(request): ValidJson<DownloadTokenRequest>,
) -> ApiResult<ApiJson<DownloadTokenResponse>> {
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
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    ValidQuery(query): ValidQuery<DownloadQuery>,
) -> ApiResult<Response> {
    state.limits.download.check(peer.ip())?;
    let gone = || {
        ApiError::new(
            ErrorType::ResourceNotFound,
            "This download link is invalid, used or expired.",
        )
    };
    let grant = state
        .downloads
        .redeem(&query.token, Timestamp::now())
        .ok_or_else(gone)?;
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
    let path = state.jobs.files().output(&job.session, &job.job_id);
    let file = tokio::fs::File::open(&path).await.map_err(|_| gone())?;
    let length = file.metadata().await.map_err(internal)?.len();
    let stem = job
        .original_filename
        .rsplit_once('.')
        .map_or(job.original_filename.as_str(), |(s, _)| s);
    let filename = format!("{stem}.{}", target.extension());
    let mut response = Body::from_stream(tokio_util::io::ReaderStream::new(file)).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(target.mime()),
    );
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
    headers.insert(header::CONTENT_DISPOSITION, content_disposition(&filename));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    tracing::info!(event = "downloaded", job = %job.job_id, "output downloaded");
    Ok(response)
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
