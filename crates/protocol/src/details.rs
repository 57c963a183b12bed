//! The keys of an error envelope's `error.details`: structured, safe facts a client
//! may act on (each listed with the error that carries it).
//!
//! ```
//! use trustyconvert_protocol::{details, ErrorBody};
//! let body: ErrorBody = serde_json::from_str(
//!     r#"{"message":"too big","type":"MaxFileSizeExceededError","details":{"max_size":1024}}"#,
//! ).unwrap();
//! assert_eq!(body.details[details::MAX_SIZE], 1024);
//! ```

/// Which check refused the request: the failed check of a `CSRFValidationError`, or
/// `body_stalled` / `body_too_slow` for a request body that stopped or crawled
/// (`ValidationError`).
pub const REASON: &str = "reason";

/// The largest accepted upload, in bytes (`MaxFileSizeExceededError`).
pub const MAX_SIZE: &str = "max_size";

/// The session's storage quota, in bytes (`MaxFileSizeExceededError`).
pub const MAX_SESSION_STORAGE: &str = "max_session_storage";

/// How many conversions a session may run at once (`TaskLimitExceeded`).
pub const MAX_ACTIVE_JOBS: &str = "max_active_jobs";

/// How long a request body may send nothing, in seconds (reason `body_stalled`).
pub const IDLE_TIMEOUT_SECONDS: &str = "idle_timeout_seconds";

/// The slowest accepted body rate, in bytes per second (reason `body_too_slow`).
pub const MIN_RATE_BYTES_PER_SECOND: &str = "min_rate_bytes_per_second";

/// How long a body may be slower than that before it is refused, in seconds (reason
/// `body_too_slow`).
pub const GRACE_SECONDS: &str = "grace_seconds";

/// The conversion option that was refused (`ValidationError` of `POST /api/convert`):
/// `quality`, `lossless`, `max_width`, `max_height`, `pages` or `keep_metadata`.
pub const OPTION: &str = "option";

/// The job a refusal is about (`POST /api/download/archive`: unknown, named twice or
/// not completed).
pub const JOB_ID: &str = "job_id";

/// The most jobs one zip holds, when `job_ids` names none or more.
pub const MAX_ARCHIVE_JOBS: &str = "max_archive_jobs";
