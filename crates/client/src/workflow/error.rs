//! Why a conversion did not produce its file.

use crate::ClientError;

/// Why [`Workflow::convert_file`](super::Workflow::convert_file) or a download failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WorkflowError {
    /// A call to the server failed (network, session, limits, …).
    #[error(transparent)]
    Client(#[from] ClientError),
    /// The server ran the conversion and it failed; `reason` is the job's `error`.
    #[error("the conversion failed: {reason}")]
    JobFailed {
        /// The job.
        job_id: String,
        /// Why, in the server's words.
        reason: String,
    },
    /// No job id could be made (a browser without `crypto.randomUUID`, outside a
    /// secure context).
    #[error("this browser cannot create ids")]
    NoJobId,
}

impl WorkflowError {
    /// The error in words a person understands (see [`ClientError::user_message`]).
    ///
    /// ```
    /// use trustyconvert_client::workflow::WorkflowError;
    /// let failed = WorkflowError::JobFailed { job_id: "j".into(), reason: "too big".into() };
    /// assert_eq!(failed.user_message(), "The conversion failed: too big");
    /// ```
    pub fn user_message(&self) -> String {
        match self {
            Self::Client(error) => error.user_message(),
            Self::JobFailed { reason, .. } => format!("The conversion failed: {reason}"),
            Self::NoJobId => "This browser cannot create ids.".to_owned(),
        }
    }
}
