//! The wire types of the TrustyConvert HTTP API, defined once for the server, the
//! native client and the browser client: the JSON [`Envelope`] every answer comes in,
//! the closed set of [`ErrorType`]s with their HTTP statuses, the session, health and
//! conversion bodies, the file [`Format`]s, the API's [`paths`], the upload's multipart
//! [`fields`], the [`details`] keys of an error, the default cookie and header names,
//! and the one rule that names a converted file ([`output_file_name`]).
//!
//! What it guarantees:
//!
//! - **No I/O, any target.** Plain data, functions and constants over `serde` and
//!   `serde_json`; it builds for `wasm32-unknown-unknown` as it does natively.
//! - **One status per error type.** [`ErrorType::status`] is the only mapping from an
//!   error's `type` to its HTTP status.
//! - **Stable wire names.** Formats and job statuses serialize as their lowercase
//!   canonical names; [`Format::parse`] also reads aliases and file extensions (`jpg`,
//!   `.TIF`), case-insensitively.
//! - **Query values cannot change a query.** [`paths::job_status`] and
//!   [`paths::download`] percent-encode the id or token they are given.
//! - **Safe file names.** [`safe_file_name`] keeps only the last path component,
//!   without control characters, at most [`MAX_FILE_NAME_CHARS`] characters, never
//!   empty, `.` or `..`; [`output_file_name`] never gives a converted file the name of
//!   its original.
//!
//! # Example
//!
//! ```
//! use trustyconvert_protocol::{output_file_name, paths, Envelope, ErrorType, Format, SessionInfo};
//!
//! # fn main() -> Result<(), serde_json::Error> {
//! // A failed answer, as the server sends it.
//! let json = r#"{"success":false,"error":{"message":"no session","type":"SessionValidationError","details":{}},"correlation_id":"c1"}"#;
//! let envelope: Envelope<SessionInfo> = serde_json::from_str(json)?;
//! let error = envelope.error.expect("a failed envelope carries an error");
//! assert_eq!(error.kind, ErrorType::SessionValidationError);
//! assert_eq!(error.kind.status(), 401);
//!
//! // A successful one, built and serialized.
//! let ok = Envelope::success(Format::Pdf, "c2".to_owned());
//! assert_eq!(
//!     serde_json::to_string(&ok)?,
//!     r#"{"success":true,"data":"pdf","correlation_id":"c2"}"#
//! );
//!
//! // Names people type, paths and file names.
//! let target: Format = "JPG".parse().expect("a known format");
//! assert_eq!(target, Format::Jpeg);
//! assert_eq!(paths::download("a&b"), "/api/download?token=a%26b");
//! assert_eq!(output_file_name("holiday/photo.png", target), "photo.jpg");
//! # Ok(())
//! # }
//! ```
//!
//! # Features
//!
//! - `openapi` (off by default): derives `utoipa::ToSchema` for the request and
//!   response bodies, [`ErrorBody`], [`ErrorType`], [`Format`] and [`JobStatus`], so a
//!   server can describe them in its OpenAPI document.
//!
//! # Minimum supported Rust version
//!
//! 1.92.

#![deny(missing_docs)]

mod conversion;
pub mod details;
mod envelope;
mod error_type;
pub mod fields;
mod file_name;
mod format;
mod job_status;
pub mod json;
mod names;
mod options;
pub mod paths;
mod session;
mod size;

pub use conversion::{
    ArchiveRequest, ConvertRequest, ConvertResponse, DownloadTokenRequest, DownloadTokenResponse,
    FormatGroup, JobListResponse, JobStatusResponse, UploadResponse, MAX_ARCHIVE_JOBS,
};
pub use envelope::{Envelope, ErrorBody};
pub use error_type::ErrorType;
pub use file_name::{output_file_name, safe_file_name, MAX_FILE_NAME_CHARS};
pub use format::{Format, UnknownFormat, RASTER_FORMATS};
pub use job_status::JobStatus;
pub use names::{
    CORRELATION_ID_HEADER, CSRF_HEADER, DEFAULT_CSRF_COOKIE, DEFAULT_SESSION_COOKIE,
    HOST_COOKIE_PREFIX,
};
pub use options::{
    default_quality, takes_keep_metadata, takes_lossless, takes_max_size, takes_pages,
    takes_quality, ConversionOptions, OptionError, PageRanges, MAX_DIMENSION, QUALITY_RANGE,
};
pub use session::{CloseResponse, CsrfTokenResponse, HealthReport, ServiceHealth, SessionInfo};
pub use size::human_size;

/// The README's example, compiled as a doctest so it cannot go stale.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeExample;
