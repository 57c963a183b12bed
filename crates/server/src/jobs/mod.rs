//! Conversion jobs: the record, the store interface (memory and SQLite), the files on
//! disk, and the service that admits, runs and cleans up jobs.

mod files;
mod service;
mod store;

pub use files::JobFiles;
pub use service::{JobLimits, JobService};
pub use store::{open_job_store, JobStore, MemoryJobStore, SqliteJobStore};

use serde::Serialize;
use uuid::Uuid;

use crate::convert::Format;
use crate::crypto::SessionKey;
use crate::time::Timestamp;

/// Where a job is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum JobStatus {
    /// The file is stored; no conversion asked yet.
    Uploaded,
    /// Waiting for a worker.
    Queued,
    /// A worker is converting it.
    Processing,
    /// The output is ready.
    Completed,
    /// The conversion failed; `error` says why.
    Failed,
}

impl JobStatus {
    /// The wire and storage name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Uploaded => "uploaded",
            Self::Queued => "queued",
            Self::Processing => "processing",
            Self::Completed => "completed",
            Self::Failed => "failed",
        }
    }

    /// Parses a stored name.
    pub fn parse(name: &str) -> Option<Self> {
        [
            Self::Uploaded,
            Self::Queued,
            Self::Processing,
            Self::Completed,
            Self::Failed,
        ]
        .into_iter()
        .find(|status| status.as_str() == name)
    }

    /// Counts against the per-session limit of active jobs.
    pub fn is_active(self) -> bool {
        matches!(self, Self::Queued | Self::Processing)
    }
}

/// One job of one session.
#[derive(Debug, Clone, PartialEq)]
pub struct JobRecord {
    /// The owning session (hash of its id).
    pub session: SessionKey,
    /// Client-chosen UUID v4, unique within the session.
    pub job_id: Uuid,
    /// Set when the conversion is queued.
    pub task_id: Option<Uuid>,
    /// Current status.
    pub status: JobStatus,
    /// The uploaded file's name (display only; never used as a path).
    pub original_filename: String,
    /// Detected and verified input format.
    pub source_format: Format,
    /// Requested output format.
    pub target_format: Option<Format>,
    /// Input size in bytes.
    pub file_size: u64,
    /// Output size in bytes, once completed.
    pub output_size: Option<u64>,
    /// 0–100.
    pub progress: u8,
    /// Why it failed, in words for a person.
    pub error: Option<String>,
    /// Creation time.
    pub created_at: Timestamp,
    /// Last change.
    pub updated_at: Timestamp,
    /// Completion (or failure) time.
    pub completed_at: Option<Timestamp>,
    /// Seconds the conversion took.
    pub conversion_time: Option<f64>,
}
