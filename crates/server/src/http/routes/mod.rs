//! HTTP handlers, one module per resource.

pub mod download;
pub mod formats;
pub mod health;
pub mod jobs;
pub mod upload;

use uuid::Uuid;

use super::ApiError;

/// A job id from the client: it must be a UUID version 4.
pub(crate) fn parse_job_id(text: &str) -> Result<Uuid, ApiError> {
    match Uuid::parse_str(text.trim()) {
        Ok(id) if id.get_version_num() == 4 => Ok(id),
        _ => Err(ApiError::validation("job_id must be a UUID version 4.")),
    }
}
