//! HTTP handlers, one module per resource.

pub mod download;
pub mod formats;
pub mod health;
pub mod jobs;
mod json;
mod query;
pub mod session;
pub mod upload;

pub use json::ValidJson;
pub use query::ValidQuery;

use uuid::Uuid;

use crate::error::ApiError;

/// A job id from the client: it must be a UUID version 4.
pub(crate) fn parse_job_id(text: &str) -> Result<Uuid, ApiError> {
    match Uuid::parse_str(text.trim()) {
        Ok(id) if id.get_version_num() == 4 => Ok(id),
        _ => Err(ApiError::validation("job_id must be a UUID version 4.")),
    }
}

/// Logs a file-system failure (inside the request span) and answers a bare 500.
pub(crate) fn internal(error: impl std::fmt::Display) -> ApiError {
    tracing::error!(%error, "file storage failed");
    ApiError::internal()
}
