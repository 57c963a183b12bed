//! One conversion from the client's side, the same for the CLI and the page: upload →
//! convert → poll until the job finishes → download (the bytes, or a link the browser
//! follows).
//!
//! ```no_run
//! # async fn demo() -> Result<(), trustyconvert_client::workflow::WorkflowError> {
//! use std::sync::Arc;
//! use trustyconvert_client::protocol::Format;
//! use trustyconvert_client::workflow::Workflow;
//! use trustyconvert_client::{FileBody, ManagerConfig, SessionManager};
//!
//! let manager = SessionManager::connect("http://127.0.0.1:8080", ManagerConfig::default())?;
//! let workflow = Workflow::new(manager.api());
//! let file = FileBody::Bytes(std::fs::read("notes.md").unwrap().into());
//! let converted = workflow
//!     .convert_file(file, "notes.md", Format::Pdf, Arc::new(()))
//!     .await?;
//! let pdf = workflow.download(&converted, Arc::new(())).await?;
//! std::fs::write(&converted.file_name, pdf).unwrap();
//! # Ok(()) }
//! ```

mod error;
mod job_id;
mod observer;

use std::sync::Arc;
use std::time::Duration;

use trustyconvert_protocol::{
    output_file_name, ConversionOptions, Format, JobStatus, JobStatusResponse,
};

use crate::{ApiClient, FileBody, Progress};
pub use error::WorkflowError;
pub use observer::Observer;

/// How often a running job's status is asked for, unless told otherwise.
pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_millis(400);

/// Runs conversions through one [`ApiClient`] (and so one session).
#[derive(Debug, Clone)]
pub struct Workflow {
    api: ApiClient,
    poll_interval: Duration,
}

/// A completed conversion, ready to download.
#[derive(Debug, Clone, PartialEq)]
pub struct Converted {
    /// The job.
    pub job_id: String,
    /// The name to save the output under ([`output_file_name`] of the upload's name).
    pub file_name: String,
    /// The job's final status (its `output_size`, `conversion_time`, …).
    pub status: JobStatusResponse,
}

impl Workflow {
    /// Conversions through `api`, polled every [`DEFAULT_POLL_INTERVAL`].
    pub fn new(api: ApiClient) -> Self {
        Self {
            api,
            poll_interval: DEFAULT_POLL_INTERVAL,
        }
    }

    /// Polls a running job every `interval` instead (real time, also when the
    /// manager runs on a test clock).
    pub fn poll_every(mut self, interval: Duration) -> Self {
        self.poll_interval = interval;
        self
    }

    /// Uploads `file` as `name` under a new job id, asks for its conversion to
    /// `target` and waits until the job finishes. A job that fails is
    /// [`WorkflowError::JobFailed`] with the server's reason. Dropping the future stops
    /// the upload or the watching (a queued job still runs on the server).
    pub async fn convert_file(
        &self,
        file: FileBody,
        name: &str,
        target: Format,
        observer: Arc<dyn Observer>,
    ) -> Result<Converted, WorkflowError> {
        self.convert_file_with_options(file, name, target, &ConversionOptions::default(), observer)
            .await
    }

    /// [`convert_file`](Self::convert_file) with conversion options. The server
    /// refuses options the conversion has no use for
    /// ([`ConversionOptions::check`] says which, before anything is sent).
    pub async fn convert_file_with_options(
        &self,
        file: FileBody,
        name: &str,
        target: Format,
        options: &ConversionOptions,
        observer: Arc<dyn Observer>,
    ) -> Result<Converted, WorkflowError> {
        let job_id = job_id::new_job_id().ok_or(WorkflowError::NoJobId)?;
        observer.job_created(&job_id);
        let sent = Arc::clone(&observer);
        let progress = Progress::new(move |done, total| sent.upload_progress(done, total));
        self.api
            .upload_file(&job_id, name, file, Some(progress))
            .await?;
        observer.uploaded();
        self.convert_uploaded(&job_id, name, target, options, observer)
            .await
    }

    /// Converts a job already uploaded (by this client or another tab of the session)
    /// to `target` and waits until it finishes, as
    /// [`convert_file_with_options`](Self::convert_file_with_options) does after its
    /// upload. `name` is the uploaded file's name.
    pub async fn convert_uploaded(
        &self,
        job_id: &str,
        name: &str,
        target: Format,
        options: &ConversionOptions,
        observer: Arc<dyn Observer>,
    ) -> Result<Converted, WorkflowError> {
        let job_id = job_id.to_owned();
        self.api
            .convert_with_options(&job_id, target, options)
            .await?;
        let status = self.wait_finished(&job_id, observer.as_ref()).await?;
        if status.status != JobStatus::Completed {
            let reason = status.failure_reason().unwrap_or("no reason given");
            return Err(WorkflowError::JobFailed {
                job_id,
                reason: reason.to_owned(),
            });
        }
        observer.converted();
        let written = status.output_format.unwrap_or(target);
        Ok(Converted {
            job_id,
            file_name: output_file_name(name, written),
            status,
        })
    }

    /// Polls until the job is finished, reporting its progress (never decreasing,
    /// 100 when it completed).
    async fn wait_finished(
        &self,
        job_id: &str,
        observer: &dyn Observer,
    ) -> Result<JobStatusResponse, WorkflowError> {
        let mut shown = None::<u8>;
        loop {
            let status = self.api.job_status(job_id).await?;
            let progress = match status.status {
                JobStatus::Completed => 100,
                JobStatus::Failed => return Ok(status),
                _ => status.progress.min(100),
            };
            if shown.is_none_or(|before| progress > before) {
                shown = Some(progress);
                observer.conversion_progress(progress);
            }
            if status.status.is_finished() {
                return Ok(status);
            }
            crate::runtime::sleep(self.poll_interval).await;
        }
    }

    /// The output's bytes (a new single-use token, spent at once).
    pub async fn download(
        &self,
        converted: &Converted,
        observer: Arc<dyn Observer>,
    ) -> Result<Vec<u8>, WorkflowError> {
        let token = self.api.download_token(&converted.job_id).await?;
        let progress = Progress::new(move |done, total| observer.download_progress(done, total));
        let bytes = self
            .api
            .download_with_progress(&token.download_token, Some(progress))
            .await?;
        Ok(bytes)
    }

    /// A URL of a completed job's output for a link or a navigation, with a new
    /// single-use token: the browser then streams the file to disk itself.
    pub async fn download_link(&self, job_id: &str) -> Result<String, WorkflowError> {
        let token = self.api.download_token(job_id).await?;
        Ok(self.api.download_url(&token.download_token))
    }
}
