//! Conversion API DTOs: formats, upload, convert, job status, downloads.

use serde::{Deserialize, Serialize};

use crate::{ConversionOptions, Format, JobStatus};

/// One group of `GET /api/convert/formats`: every input converts to every output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FormatGroup {
    /// Stable id of the group.
    pub id: String,
    /// Display name.
    pub name: String,
    /// What the group does.
    pub description: String,
    /// Accepted input formats (names and aliases).
    #[serde(rename = "inputFormats")]
    pub input_formats: Vec<String>,
    /// Produced output formats (names and aliases).
    #[serde(rename = "outputFormats")]
    pub output_formats: Vec<String>,
    /// Largest accepted upload, in bytes.
    #[serde(rename = "maxSize")]
    pub max_size: u64,
    /// Notable properties of the conversions.
    pub features: Vec<String>,
}

/// The `data` of `POST /api/upload` (201).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UploadResponse {
    /// The client-generated job id.
    pub job_id: String,
    /// Always `uploaded`.
    pub status: JobStatus,
}

/// The body of `POST /api/convert`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ConvertRequest {
    /// The uploaded job.
    pub job_id: String,
    /// Wanted output format (`png`, `jpg`, `pdf`, …): a name or alias that
    /// [`Format::parse`] reads. Kept as text so that an unknown name reaches the server
    /// and is answered with `UnsupportedFormatError`, not a generic validation error.
    pub target_format: String,
    /// Optional: the format the client believes the upload is; checked if given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_format: Option<String>,
    /// Optional: how to convert (quality, size, pages, metadata). Unknown keys are
    /// refused.
    #[serde(default, skip_serializing_if = "ConversionOptions::is_empty")]
    pub options: ConversionOptions,
}

/// The `data` of `POST /api/convert` (202).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ConvertResponse {
    /// The job.
    pub job_id: String,
    /// Id of the queued conversion task.
    pub task_id: String,
    /// Always `queued`.
    pub status: JobStatus,
}

/// The `data` of `GET /api/job_status`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct JobStatusResponse {
    /// The job.
    pub job_id: String,
    /// Where the job is in its life.
    pub status: JobStatus,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
    /// The uploaded file's name.
    pub original_filename: String,
    /// Verified input format.
    pub source_format: Format,
    /// Requested output format, once asked.
    pub target_format: Option<Format>,
    /// The options the conversion was asked with (absent when none).
    #[serde(default, skip_serializing_if = "ConversionOptions::is_empty")]
    pub options: ConversionOptions,
    /// Input size in bytes.
    pub file_size: u64,
    /// Output size in bytes, once completed.
    pub output_size: Option<u64>,
    /// The output's format once completed: `target_format`, or `zip` when the
    /// conversion made several files (a PDF's pages as pictures).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_format: Option<Format>,
    /// 0–100.
    pub progress: u8,
    /// Why the job failed: the one field clients read (see
    /// [`failure_reason`](Self::failure_reason)).
    pub error: Option<String>,
    /// Always equal to `error`; sent only for older TrustyConvert clients.
    pub error_message: Option<String>,
    /// RFC 3339, once finished.
    pub completed_at: Option<String>,
    /// Seconds the conversion took.
    pub conversion_time: Option<f64>,
}

impl JobStatusResponse {
    /// Why a failed job failed: the server's `error` (`error_message` is its copy).
    ///
    /// ```
    /// use trustyconvert_protocol::JobStatusResponse;
    /// let status: JobStatusResponse = serde_json::from_value(serde_json::json!({
    ///     "job_id": "j", "status": "failed", "created_at": "", "updated_at": "",
    ///     "original_filename": "a.png", "source_format": "png", "target_format": "pdf",
    ///     "file_size": 1, "output_size": null, "progress": 10,
    ///     "error": "too big", "error_message": "too big",
    ///     "completed_at": null, "conversion_time": null,
    /// })).unwrap();
    /// assert_eq!(status.failure_reason(), Some("too big"));
    /// ```
    pub fn failure_reason(&self) -> Option<&str> {
        self.error.as_deref()
    }
}

/// The body of `POST /api/download_token`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DownloadTokenRequest {
    /// A completed job.
    pub job_id: String,
}

/// The most jobs one zip (`POST /api/download/archive`) holds.
pub const MAX_ARCHIVE_JOBS: usize = 200;

/// The body of `POST /api/download/archive`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ArchiveRequest {
    /// Completed jobs of the session, each once (at most
    /// [`MAX_ARCHIVE_JOBS`](crate::MAX_ARCHIVE_JOBS)); the zip holds their outputs in
    /// this order.
    pub job_ids: Vec<String>,
}

/// The `data` of `GET /api/jobs`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct JobListResponse {
    /// The session's jobs, newest first, as `GET /api/job_status` reports each.
    pub jobs: Vec<JobStatusResponse>,
}

/// The `data` of `POST /api/download_token` and `POST /api/download/archive` (201).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DownloadTokenResponse {
    /// Single-use token for `GET /api/download?token=`.
    pub download_token: String,
    /// RFC 3339 expiry (10 minutes).
    pub expires_at: String,
}
