//! Where a conversion job is in its life.

use serde::{Deserialize, Serialize};

/// The status of a job, as `GET /api/job_status` reports it.
///
/// `uploaded` → `queued` → `processing` → `completed` or `failed`.
///
/// ```
/// use trustyconvert_protocol::JobStatus;
/// let status: JobStatus = serde_json::from_str("\"processing\"").unwrap();
/// assert!(status.is_active() && !status.is_finished());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum JobStatus {
    /// The file is stored; no conversion asked yet.
    Uploaded,
    /// Waiting for a worker.
    Queued,
    /// A worker is converting it.
    Processing,
    /// The output is ready to download.
    Completed,
    /// The conversion failed; the job's `error` says why.
    Failed,
}

impl JobStatus {
    /// Every status, in lifecycle order.
    pub const ALL: [JobStatus; 5] = [
        Self::Uploaded,
        Self::Queued,
        Self::Processing,
        Self::Completed,
        Self::Failed,
    ];

    /// The wire (and storage) name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Uploaded => "uploaded",
            Self::Queued => "queued",
            Self::Processing => "processing",
            Self::Completed => "completed",
            Self::Failed => "failed",
        }
    }

    /// Parses a wire name.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|status| status.as_str() == name)
    }

    /// Counts against the per-session limit of active jobs (queued or processing).
    pub fn is_active(self) -> bool {
        matches!(self, Self::Queued | Self::Processing)
    }

    /// Completed or failed: the status will not change again.
    pub fn is_finished(self) -> bool {
        matches!(self, Self::Completed | Self::Failed)
    }
}

impl std::fmt::Display for JobStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::JobStatus;

    #[test]
    fn statuses_use_their_wire_names() {
        for status in JobStatus::ALL {
            let json = serde_json::to_string(&status).unwrap();
            assert_eq!(json, format!("\"{}\"", status.as_str()));
            assert_eq!(JobStatus::parse(status.as_str()), Some(status));
        }
    }
}
