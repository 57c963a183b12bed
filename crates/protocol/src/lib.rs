//! Wire types shared by every part of TrustyConvert.
//!
//! Everything that crosses the network lives here so the server, the native client and
//! the browser client agree on one definition: the JSON envelope, the error types and
//! their HTTP statuses, the session DTOs, and the default cookie and header names; the
//! API's [`paths`], the upload's multipart [`fields`] and the [`details`] keys of an
//! error; and the file-name rule ([`output_file_name`]).
//!
//! This crate has no I/O and compiles for `wasm32-unknown-unknown`.
//!
//! ```
//! use trustyconvert_protocol::{Envelope, ErrorType};
//!
//! let json = r#"{"success":false,"error":{"message":"no session","type":"SessionValidationError","details":{}},"correlation_id":"c1"}"#;
//! let envelope: Envelope<serde_json::Value> = serde_json::from_str(json).unwrap();
//! assert_eq!(envelope.error.unwrap().kind, ErrorType::SessionValidationError);
//! ```

#![warn(missing_docs)]

mod conversion;
pub mod details;
mod envelope;
mod error_type;
pub mod fields;
mod file_name;
mod format;
mod job_status;
mod names;
pub mod paths;
mod session;
mod size;

pub use conversion::{
    ConvertRequest, ConvertResponse, DownloadTokenRequest, DownloadTokenResponse, FormatGroup,
    JobStatusResponse, UploadResponse,
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
pub use session::{CloseResponse, CsrfTokenResponse, HealthReport, ServiceHealth, SessionInfo};
pub use size::human_size;
