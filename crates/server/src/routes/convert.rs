//! The conversion API: formats, upload, convert, job status, download tokens, download.

use std::net::SocketAddr;

use axum::body::Body;
use axum::extract::{ConnectInfo, Multipart, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use tokio::io::AsyncWriteExt as _;
use trustyconvert_protocol::{
    ConvertRequest, ConvertResponse, DownloadTokenRequest, DownloadTokenResponse, ErrorType,
    FormatGroup, JobStatusResponse, UploadResponse,
};
use uuid::Uuid;

use super::{ValidJson, ValidQuery};
use crate::app::AppState;
use crate::convert::{check_dimensions, targets, ConversionError, Format, RASTER};
use crate::error::{ApiError, ApiJson, ApiResult};
use crate::jobs::{JobRecord, JobStatus};
use crate::session::RequireSession;
use crate::time::Timestamp;

/// Bytes of multipart framing allowed on top of the file itself.
pub const MULTIPART_OVERHEAD: u64 = 64 * 1024;
/// How many leading bytes are checked against the claimed type.
const SNIFF_LEN: usize = 4096;
/// Longest file name kept for display.
const MAX_FILENAME_CHARS: usize = 200;

fn names(formats: &[Format]) -> Vec<String> {
    let mut names: Vec<String> = formats.iter().map(|f| f.name().to_owned()).collect();
    if formats.contains(&Format::Jpeg) {
        names.insert(
            names.iter().position(|n| n == "jpeg").map_or(0, |i| i + 1),
            "jpg".to_owned(),
        );
    }
    names
}

/// `GET /api/convert/formats`: exactly the conversions this build performs.
pub async fn formats(State(state): State<AppState>) -> ApiJson<Vec<FormatGroup>> {
    let max_size = state.jobs.limits().max_upload_bytes;
    let group = |id: &str, name: &str, description: &str, inputs: &[Format], features: &[&str]| {
        FormatGroup {
            id: id.to_owned(),
            name: name.to_owned(),
            description: description.to_owned(),
            input_formats: names(inputs),
            output_formats: names(targets(inputs[0])),
            max_size,
            features: features.iter().map(|f| (*f).to_owned()).collect(),
        }
    };
    ApiJson::ok(vec![
        group(
            "image",
            "Images",
            "Raster images to any other raster format, or to a one-page PDF.",
            &RASTER,
            &[
                "dimensions preserved",
                "metadata stripped",
                "alpha flattened where the target has none",
            ],
        ),
        group(
            "markdown",
            "Markdown",
            "Markdown to a standalone HTML page or to PDF.",
            &[Format::Markdown],
            &["raw HTML escaped"],
        ),
        group(
            "text",
            "Plain text",
            "Plain text to paginated PDF.",
            &[Format::Txt],
            &["A4 pages"],
        ),
        group(
            "csv",
            "CSV",
            "CSV with a header row to a JSON array of objects.",
            &[Format::Csv],
            &["values kept as strings"],
        ),
        group(
            "json",
            "JSON",
            "A JSON array of flat objects to CSV.",
            &[Format::Json],
            &["header is the union of keys"],
        ),
    ])
}

/// Only the last path component, without control characters, bounded in length.
fn display_name(raw: &str) -> String {
    let last = raw.rsplit(['/', '\\']).next().unwrap_or("");
    let cleaned: String = last
        .chars()
        .filter(|c| !c.is_control())
        .take(MAX_FILENAME_CHARS)
        .collect();
    match cleaned.trim() {
        "" | "." | ".." => "upload".to_owned(),
        name => name.to_owned(),
    }
}

fn parse_job_id(text: &str) -> Result<Uuid, ApiError> {
    match Uuid::parse_str(text.trim()) {
        Ok(id) if id.get_version_num() == 4 => Ok(id),
        _ => Err(ApiError::validation("job_id must be a UUID version 4.")),
    }
}

fn too_large(max: u64) -> ApiError {
    ApiError::new(
        ErrorType::MaxFileSizeExceededError,
        format!("The file is larger than the limit of {max} bytes."),
    )
    .with_detail("max_size", max)
}

fn multipart_error(error: axum::extract::multipart::MultipartError, max: u64) -> ApiError {
    if error.status() == StatusCode::PAYLOAD_TOO_LARGE {
        too_large(max)
    } else {
        ApiError::validation(format!(
            "The upload is not valid multipart form data ({})",
            error.body_text()
        ))
    }
}

/// A file streamed to disk; removed on drop unless kept.
struct Incoming {
    path: std::path::PathBuf,
    keep: bool,
}

impl Drop for Incoming {
    fn drop(&mut self) {
        if !self.keep {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// `POST /api/upload`: multipart `file` and `job_id`. Streams the file to disk with a
/// running size check, verifies its type by magic bytes, refuses oversized images.
pub async fn upload(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    RequireSession(session): RequireSession,
    headers: HeaderMap,
    multipart: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> ApiResult<ApiJson<UploadResponse>> {
    state.limits.upload.check(peer.ip())?;
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
    let mut file: Option<(Incoming, String, u64, Vec<u8>)> = None;
    while let Some(mut field) = multipart
        .next_field()
        .await
        .map_err(|e| multipart_error(e, max))?
    {
        match field.name() {
            Some("job_id") => {
                let text = field.text().await.map_err(|e| multipart_error(e, max))?;
                job_id = Some(parse_job_id(&text)?);
            }
            Some("file") if file.is_none() => {
                let name = display_name(field.file_name().unwrap_or(""));
                let dir = state.jobs.files().incoming_dir();
                tokio::fs::create_dir_all(&dir).await.map_err(internal)?;
                let incoming = Incoming {
                    path: dir.join(Uuid::new_v4().simple().to_string()),
                    keep: false,
                };
                let mut out = tokio::fs::File::create(&incoming.path)
                    .await
                    .map_err(internal)?;
                let (mut size, mut head) = (0u64, Vec::with_capacity(SNIFF_LEN));
                while let Some(chunk) = field.chunk().await.map_err(|e| multipart_error(e, max))? {
                    size += chunk.len() as u64;
                    if size > max {
                        return Err(too_large(max));
                    }
                    let room = SNIFF_LEN.saturating_sub(head.len());
                    head.extend_from_slice(&chunk[..room.min(chunk.len())]);
                    out.write_all(&chunk).await.map_err(internal)?;
                }
                out.flush().await.map_err(internal)?;
                file = Some((incoming, name, size, head));
            }
            _ => {} // unknown fields are ignored (their bytes are skipped)
        }
    }
    let job_id = job_id.ok_or_else(|| ApiError::validation("The job_id field is missing."))?;
    let (mut incoming, name, size, head) =
        file.ok_or_else(|| ApiError::validation("The file field is missing."))?;
    let format = verify_upload(&name, size, &head)?;
    if format.is_raster() {
        let path = incoming.path.clone();
        tokio::task::spawn_blocking(move || check_dimensions(&path, format))
            .await
            .map_err(|_| ApiError::internal())?
            .map_err(|error| match error {
                ConversionError::Io(cause) => internal(cause),
                other => ApiError::new(ErrorType::FileValidationError, other.to_string()),
            })?;
    }

    let now = Timestamp::now();
    let key = session.record.key;
    let job = JobRecord {
        session: key,
        job_id,
        task_id: None,
        status: JobStatus::Uploaded,
        original_filename: name,
        source_format: format,
        target_format: None,
        file_size: size,
        output_size: None,
        progress: 0,
        error: None,
        created_at: now,
        updated_at: now,
        completed_at: None,
        conversion_time: None,
    };
    let job_dir = state.jobs.files().job_dir(&key, &job_id);
    match state.jobs.store().insert_job(&job).await {
        Ok(()) => {}
        Err(crate::store::StoreError::Duplicate) => {
            return Err(ApiError::validation(
                "This job_id is already used in this session; generate a new one.",
            ))
        }
        Err(error) => return Err(error.into()),
    }
    let stored = async {
        tokio::fs::create_dir_all(&job_dir).await?;
        tokio::fs::rename(&incoming.path, state.jobs.files().input(&key, &job_id)).await
    };
    if let Err(error) = stored.await {
        // Undo the record so the job id stays usable; the incoming file is dropped.
        let _ = state.jobs.store().delete_job(&key, &job_id).await;
        return Err(internal(error));
    }
    incoming.keep = true;
    tracing::info!(event = "uploaded", job = %job_id, format = format.name(), size, "file uploaded");
    let body = UploadResponse {
        job_id: job_id.to_string(),
        status: JobStatus::Uploaded.as_str().to_owned(),
    };
    Ok(ApiJson::created(body))
}

/// The format named by the file's extension, checked against its first bytes.
fn verify_upload(name: &str, size: u64, head: &[u8]) -> Result<Format, ApiError> {
    let extension = name.rsplit_once('.').map(|(_, ext)| ext).unwrap_or("");
    let format = Format::parse(extension)
        .filter(|f| !targets(*f).is_empty())
        .ok_or_else(|| {
            ApiError::new(
                ErrorType::UnsupportedFormatError,
                format!(
                    "Files of type {:?} cannot be converted. See /api/convert/formats.",
                    extension
                ),
            )
        })?;
    if size == 0 {
        return Err(ApiError::new(
            ErrorType::FileValidationError,
            "The file is empty.",
        ));
    }
    if !format.matches_magic(head) {
        return Err(ApiError::new(
            ErrorType::FileValidationError,
            format!(
                "The file's content is not {}; its name and content do not match.",
                format.name()
            ),
        ));
    }
    Ok(format)
}

fn internal(error: impl std::fmt::Display) -> ApiError {
    tracing::error!(%error, "storing an upload failed");
    ApiError::internal()
}

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
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    RequireSession(session): RequireSession,
    ValidJson(request): ValidJson<ConvertRequest>,
) -> ApiResult<ApiJson<ConvertResponse>> {
    state.limits.convert.check(peer.ip())?;
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
    use super::*;

    #[test]
    fn file_names_are_never_paths() {
        assert_eq!(display_name("../../etc/passwd"), "passwd");
        assert_eq!(display_name("C:\\Users\\x\\photo.png"), "photo.png");
        assert_eq!(display_name(".."), "upload");
        assert_eq!(display_name("a\u{0}b.txt"), "ab.txt");
    }

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
