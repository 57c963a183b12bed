//! `POST /api/upload`: the file is streamed to disk with a running size check, its
//! type is verified by magic bytes, and images declaring huge dimensions are refused.

use axum::extract::{Multipart, State};
use axum::http::{header, HeaderMap, StatusCode};
use tokio::io::AsyncWriteExt as _;
use trustyconvert_protocol::{human_size, ErrorType, UploadResponse};
use uuid::Uuid;

use super::{internal, parse_job_id};
use crate::app::AppState;
use crate::client_addr::ClientAddr;
use crate::convert::{check_dimensions, targets, ConversionError, Format};
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

fn over_quota(quota: u64) -> ApiError {
    ApiError::new(
        ErrorType::MaxFileSizeExceededError,
        format!(
            "This upload would exceed your session's storage limit of {}. Delete nothing \
             here: end the session (or let it expire) to free the space.",
            human_size(quota)
        ),
    )
    .with_detail("max_session_storage", quota)
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
    ClientAddr(client): ClientAddr,
    RequireSession(session): RequireSession,
    headers: HeaderMap,
    multipart: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> ApiResult<ApiJson<UploadResponse>> {
    state.limits.upload.check(client)?;
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
    let mut file: Option<ReceivedFile> = None;
    while let Some(field) = multipart
        .next_field()
        .await
        .map_err(|e| multipart_error(e, max))?
    {
        match field.name() {
            Some("job_id") => {
                let text = small_field(field, "job_id", max).await?;
                job_id = Some(parse_job_id(&text)?);
            }
            Some("file") if file.is_none() => {
                let quota = state.jobs.limits().max_session_storage;
                let used = state
                    .jobs
                    .store()
                    .session_storage(&session.record.key)
                    .await?;
                let room = quota.saturating_sub(used);
                let dir = state.jobs.files().incoming_dir();
                let bound = SizeBound { max, room, quota };
                file = Some(receive_file(field, &dir, bound).await?);
            }
            _ => {} // unknown fields are ignored (their bytes are skipped)
        }
    }
    let job_id = job_id.ok_or_else(|| ApiError::validation("The job_id field is missing."))?;
    let ReceivedFile {
        mut incoming,
        name,
        declared_type,
        size,
        head,
    } = file.ok_or_else(|| ApiError::validation("The file field is missing."))?;
    let format = verify_upload(&name, declared_type.as_deref(), size, &head)?;
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
    state.jobs.accept_upload(&job, &incoming.path).await?;
    incoming.keep = true;
    tracing::info!(event = "uploaded", job = %job_id, format = format.name(), size, "file uploaded");
    let body = UploadResponse {
        job_id: job_id.to_string(),
        status: JobStatus::Uploaded.as_str().to_owned(),
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

/// A file part streamed to disk, with what is needed to verify it.
struct ReceivedFile {
    incoming: Incoming,
    name: String,
    declared_type: Option<String>,
    size: u64,
    head: Vec<u8>,
}

/// How large an upload may be: the upload limit, and the room left in the session's
/// storage quota.
#[derive(Debug, Clone, Copy)]
struct SizeBound {
    max: u64,
    room: u64,
    quota: u64,
}

/// Streams the `file` part into `dir`, counting bytes (413 past `max`) and keeping the
/// first bytes for the type check. Never holds more than one chunk in memory.
async fn receive_file(
    mut field: axum::extract::multipart::Field<'_>,
    dir: &std::path::Path,
    bound: SizeBound,
) -> Result<ReceivedFile, ApiError> {
    let max = bound.max;
    let name = display_name(field.file_name().unwrap_or(""));
    let declared_type = field.content_type().map(str::to_owned);
    crate::private_fs::create_dir_all_async(dir)
        .await
        .map_err(internal)?;
    let incoming = Incoming {
        path: dir.join(Uuid::new_v4().simple().to_string()),
        keep: false,
    };
    let mut out = crate::private_fs::create_file_async(&incoming.path)
        .await
        .map_err(internal)?;
    let (mut size, mut head) = (0u64, Vec::with_capacity(SNIFF_LEN));
    while let Some(chunk) = field.chunk().await.map_err(|e| multipart_error(e, max))? {
        size += chunk.len() as u64;
        if size > max {
            return Err(too_large(max));
        }
        if size > bound.room {
            return Err(over_quota(bound.quota));
        }
        let room = SNIFF_LEN.saturating_sub(head.len());
        head.extend_from_slice(&chunk[..room.min(chunk.len())]);
        out.write_all(&chunk).await.map_err(internal)?;
    }
    out.flush().await.map_err(internal)?;
    Ok(ReceivedFile {
        incoming,
        name,
        declared_type,
        size,
        head,
    })
}

/// The format named by the file's extension (or, without a known extension, by the
/// part's declared MIME type), checked against its first bytes.
fn verify_upload(
    name: &str,
    declared_type: Option<&str>,
    size: u64,
    head: &[u8],
) -> Result<Format, ApiError> {
    let extension = name.rsplit_once('.').map(|(_, ext)| ext).unwrap_or("");
    let convertible = |format: &Format| !targets(*format).is_empty();
    let format = Format::parse(extension)
        .or_else(|| declared_type.and_then(Format::from_mime))
        .filter(convertible)
        .ok_or_else(|| {
            ApiError::new(
                ErrorType::UnsupportedFormatError,
                format!(
                    "Files of type {:?} cannot be converted. See /api/convert/formats.",
                    if extension.is_empty() {
                        declared_type.unwrap_or("")
                    } else {
                        extension
                    }
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

#[cfg(test)]
mod tests {
    use super::display_name;

    #[test]
    fn file_names_are_never_paths() {
        assert_eq!(display_name("../../etc/passwd"), "passwd");
        assert_eq!(display_name("C:\\Users\\x\\photo.png"), "photo.png");
        assert_eq!(display_name(".."), "upload");
        assert_eq!(display_name("a\u{0}b.txt"), "ab.txt");
    }
}
