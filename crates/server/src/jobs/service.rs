//! Admitting, running and cleaning up jobs. Conversions run on tokio's blocking pool,
//! at most `workers` at a time, so they never block the async runtime.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{Mutex, Semaphore};
use uuid::Uuid;

use super::{JobFiles, JobRecord, JobStatus, JobStore};
use crate::convert::{convert, Budget, ConversionError, Format};
use crate::crypto::SessionKey;
use crate::error::ApiError;
use crate::store::{SessionStore, StoreError};
use crate::time::Timestamp;
use trustyconvert_protocol::{human_size, ErrorType};

/// How long past its deadline a conversion step may take before its job is failed
/// regardless (the budget normally stops it at its next write or step).
const STEP_GRACE: Duration = Duration::from_secs(2);

/// Message given to jobs that a restart interrupted.
const INTERRUPTED: &str =
    "The server restarted during the conversion. Please convert the file again.";

/// Limits on uploads and jobs.
#[derive(Debug, Clone, Copy)]
pub struct JobLimits {
    /// Largest upload in bytes.
    pub max_upload_bytes: u64,
    /// Most queued-or-processing jobs per session.
    pub max_active_jobs: u64,
    /// Conversions running at once.
    pub workers: usize,
    /// Bytes one session's uploads and outputs may take together.
    pub max_session_storage: u64,
    /// Largest output of one conversion.
    pub max_output_bytes: u64,
    /// Longest one conversion may run; then its job fails and its worker is free.
    pub conversion_timeout: Duration,
}

impl Default for JobLimits {
    fn default() -> Self {
        Self {
            max_upload_bytes: 100 * 1024 * 1024,
            max_active_jobs: 2,
            max_session_storage: 1024 * 1024 * 1024,
            // The largest legitimate result: an image at the pixel cap (50 Mpx) as a
            // 4-byte-per-pixel BMP or TIFF is 200 MB; text and data outputs of a 100 MiB
            // upload stay well below that.
            max_output_bytes: 256 * 1024 * 1024,
            conversion_timeout: Duration::from_secs(60),
            workers: std::thread::available_parallelism().map_or(2, |n| n.get()),
        }
    }
}

struct Inner {
    store: Arc<dyn JobStore>,
    files: JobFiles,
    limits: JobLimits,
    workers: Semaphore,
    /// Serializes "count active jobs, then queue one" so two requests cannot both pass.
    admission: Mutex<()>,
}

/// The job lifecycle. Cheap to clone.
#[derive(Clone)]
pub struct JobService {
    inner: Arc<Inner>,
}

impl JobService {
    /// A service over `store` with files under `files`.
    pub fn new(store: Arc<dyn JobStore>, files: JobFiles, limits: JobLimits) -> Self {
        let workers = Semaphore::new(limits.workers.max(1));
        Self {
            inner: Arc::new(Inner {
                store,
                files,
                limits,
                workers,
                admission: Mutex::new(()),
            }),
        }
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn JobStore> {
        &self.inner.store
    }

    /// The file layout.
    pub fn files(&self) -> &JobFiles {
        &self.inner.files
    }

    /// The limits.
    pub fn limits(&self) -> JobLimits {
        self.inner.limits
    }

    /// At startup: jobs a previous process left queued or processing are marked failed
    /// (never left "processing" forever).
    pub async fn fail_interrupted(&self) -> Result<u64, StoreError> {
        self.inner
            .store
            .fail_unfinished_jobs(INTERRUPTED, Timestamp::now())
            .await
    }

    /// One job of a session, or 404.
    pub async fn find(&self, session: &SessionKey, job_id: &Uuid) -> Result<JobRecord, ApiError> {
        self.inner
            .store
            .load_job(session, job_id)
            .await?
            .ok_or_else(ApiError::not_found)
    }

    /// Queues a conversion of an uploaded job to `target`.
    pub async fn enqueue(
        &self,
        session: &SessionKey,
        job_id: &Uuid,
        target: Format,
    ) -> Result<JobRecord, ApiError> {
        let _admission = self.inner.admission.lock().await;
        let mut job = self.find(session, job_id).await?;
        if job.status != JobStatus::Uploaded {
            return Err(ApiError::validation(format!(
                "This job is already {}. Upload the file again to convert it once more.",
                job.status.as_str()
            )));
        }
        if !crate::convert::targets(job.source_format).contains(&target) {
            return Err(ApiError::new(
                ErrorType::UnsupportedFormatError,
                format!(
                    "Converting {} to {} is not supported.",
                    job.source_format.name(),
                    target.name()
                ),
            ));
        }
        let active = self.inner.store.count_active_jobs(session).await?;
        if active >= self.inner.limits.max_active_jobs {
            return Err(ApiError::new(
                ErrorType::TaskLimitExceeded,
                format!(
                    "You already have {active} conversions running. Wait for one to finish, then try again."
                ),
            )
            .with_detail("max_active_jobs", self.inner.limits.max_active_jobs));
        }
        let now = Timestamp::now();
        job.status = JobStatus::Queued;
        job.target_format = Some(target);
        job.task_id = Some(Uuid::new_v4());
        job.progress = 0;
        job.updated_at = now;
        if !self.inner.store.update_job(&job).await? {
            return Err(ApiError::not_found());
        }
        let worker = self.clone();
        let queued = job.clone();
        tokio::spawn(async move { worker.run(queued).await });
        Ok(job)
    }

    async fn run(&self, mut job: JobRecord) {
        let Ok(_permit) = self.inner.workers.acquire().await else {
            return;
        };
        job.status = JobStatus::Processing;
        job.progress = 10;
        job.updated_at = Timestamp::now();
        // Gone (session closed): nothing to do. A store error is logged by `save`; the
        // conversion still runs and its final save tries again.
        if self.save(&job).await == Ok(false) {
            return;
        }
        let files = &self.inner.files;
        let (input, output) = (
            files.input(&job.session, &job.job_id),
            files.output(&job.session, &job.job_id),
        );
        let (source, target) = (
            job.source_format,
            job.target_format.unwrap_or(job.source_format),
        );
        let title = job.original_filename.clone();
        let (max_output, timeout) = (
            self.inner.limits.max_output_bytes,
            self.inner.limits.conversion_timeout,
        );
        let started = Instant::now();
        // The deadline runs from now, not from when the blocking pool gets to the task.
        let deadline = started + timeout;
        let work = tokio::task::spawn_blocking(move || {
            let budget = Budget::until(max_output, timeout, deadline);
            convert(&input, source, target, &title, &budget)
        });
        // The budget stops the conversion at its next step; this frees the worker even
        // if a step itself never ends. The result is written here, never by a task that
        // was given up on.
        let outcome = match tokio::time::timeout(timeout + STEP_GRACE, work).await {
            Ok(Ok(converted)) => match converted {
                Ok(bytes) => self.keep_output(&job, &output, bytes).await,
                Err(error) => Err(error),
            },
            Ok(Err(_)) => Err(ConversionError::Failed(
                "the converter crashed on this file".into(),
            )),
            Err(_) => Err(ConversionError::Limit(format!(
                "the conversion took longer than the limit of {}",
                humantime::format_duration(timeout)
            ))),
        };
        let now = Timestamp::now();
        job.updated_at = now;
        job.completed_at = Some(now);
        job.conversion_time = Some(started.elapsed().as_secs_f64());
        match outcome {
            Ok(size) => {
                job.status = JobStatus::Completed;
                job.progress = 100;
                job.output_size = Some(size);
            }
            Err(error) => {
                if let ConversionError::Io(cause) = &error {
                    tracing::error!(error = %cause, job = %job.job_id, "conversion I/O failed");
                }
                tracing::info!(job = %job.job_id, reason = %error, "conversion failed");
                job.status = JobStatus::Failed;
                job.error = Some(error.to_string());
            }
        }
        if self.save(&job).await == Ok(false) {
            // The session was closed meanwhile: leave nothing behind.
            self.inner.files.remove_session(&job.session).await;
        }
    }

    /// Writes a finished conversion's output if the session's storage quota has room
    /// for it; returns its size.
    async fn keep_output(
        &self,
        job: &JobRecord,
        output: &Path,
        bytes: Vec<u8>,
    ) -> Result<u64, ConversionError> {
        let quota = self.inner.limits.max_session_storage;
        // Never fail open: without knowing the usage, no output is written.
        let used = self
            .inner
            .store
            .session_storage(&job.session)
            .await
            .map_err(|error| {
                tracing::error!(%error, job = %job.job_id, "reading the session's storage failed");
                ConversionError::Failed("the storage in use could not be checked; try again".into())
            })?;
        let size = bytes.len() as u64;
        if size > quota.saturating_sub(used) {
            return Err(ConversionError::Failed(format!(
                "the result ({}) would exceed this session's storage limit of {}",
                human_size(size),
                human_size(quota)
            )));
        }
        crate::private_fs::write_async(output, &bytes)
            .await
            .map_err(ConversionError::Io)?;
        Ok(size)
    }

    /// Writes a job: `Ok(false)` if it is gone (its session was closed); a store
    /// failure is logged and returned as `Err(())`.
    async fn save(&self, job: &JobRecord) -> Result<bool, ()> {
        self.inner.store.update_job(job).await.map_err(|error| {
            tracing::error!(%error, job = %job.job_id, "saving a job failed");
        })
    }

    /// Deletes every job and file of a session.
    pub async fn remove_session(&self, session: &SessionKey) -> Result<(), StoreError> {
        self.inner.store.delete_session_jobs(session).await?;
        self.inner.files.remove_session(session).await;
        Ok(())
    }

    /// Removes the jobs and files of sessions that expired or vanished — found both in
    /// the store and on disk, so files whose records are gone are not left behind —
    /// and partial uploads a crash left.
    pub async fn sweep_orphans(&self, sessions: &dyn SessionStore) -> Result<u64, StoreError> {
        let now = Timestamp::now();
        let mut candidates = self.inner.store.sessions_with_jobs().await?;
        candidates.extend(self.inner.files.sessions_on_disk().await);
        candidates.sort_by_key(|s| s.0);
        candidates.dedup();
        let mut removed = 0;
        for session in candidates {
            let live = sessions
                .load(&session)
                .await?
                .is_some_and(|record| record.is_live(now));
            if !live {
                self.remove_session(&session).await?;
                removed += 1;
            }
        }
        self.inner.files.sweep_incoming().await;
        Ok(removed)
    }

    /// Stores an upload as a new job: the record first (so a duplicate id is refused
    /// before any file moves), then the file; if the file cannot be placed, the record
    /// is removed again.
    pub async fn accept_upload(&self, job: &JobRecord, incoming: &Path) -> Result<(), ApiError> {
        match self.inner.store.insert_job(job).await {
            Ok(()) => {}
            Err(StoreError::Duplicate) => {
                return Err(ApiError::validation(
                    "This job_id is already used in this session; generate a new one.",
                ))
            }
            Err(error) => return Err(error.into()),
        }
        let files = &self.inner.files;
        let placed = async {
            crate::private_fs::create_dir_all_async(&files.job_dir(&job.session, &job.job_id))
                .await?;
            tokio::fs::rename(incoming, files.input(&job.session, &job.job_id)).await
        };
        if let Err(error) = placed.await {
            let _ = self.inner.store.delete_job(&job.session, &job.job_id).await;
            tracing::error!(%error, "placing an upload failed");
            return Err(ApiError::internal());
        }
        Ok(())
    }
}
