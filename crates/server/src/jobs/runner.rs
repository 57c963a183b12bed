//! Admission and conversion: a job enters the per-session limit atomically, waits for
//! a worker, runs its engine on tokio's blocking pool under its deadline and output
//! limit, and keeps its output only if the quota admits it.

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use uuid::Uuid;

use super::pending::PendingOutput;
use super::service::JobService;
use crate::storage::{Admission, JobRecord, Reservation};
use trustyconvert_convert::{Budget, ConversionError, EngineJob, Format};
use trustyconvert_protocol::{details, human_size, ConversionOptions, ErrorType, JobStatus};
use trustyconvert_session::crypto::SessionKey;
use trustyconvert_session::ApiError;
use trustyconvert_session::Timestamp;

/// How long past its deadline a conversion step may take before its job is failed
/// regardless (the budget normally stops it at its next write or step).
const STEP_GRACE: Duration = Duration::from_secs(2);
/// How often a running conversion's progress is looked at (and saved if it moved).
const PROGRESS_INTERVAL: Duration = Duration::from_millis(500);

impl JobService {
    /// Queues a conversion of an uploaded job to `target`. `claimed_source`, if the
    /// client named one, must be what the upload turned out to be.
    pub async fn enqueue(
        &self,
        session: &SessionKey,
        job_id: &Uuid,
        target: Format,
        claimed_source: Option<Format>,
        options: ConversionOptions,
    ) -> Result<JobRecord, ApiError> {
        let _admission = self.inner.admission.lock().await;
        let mut job = self.find(session, job_id).await?;
        if let Some(claimed) = claimed_source.filter(|claimed| *claimed != job.source_format) {
            return Err(ApiError::validation(format!(
                "source_format {} does not match the uploaded file, which is {}.",
                claimed.name(),
                job.source_format.name()
            )));
        }
        let not_again = |status: JobStatus| {
            ApiError::validation(format!(
                "This job is already {status}. Upload the file again to convert it once more."
            ))
        };
        if job.status != JobStatus::Uploaded {
            return Err(not_again(job.status));
        }
        if !self.inner.engines.converts(job.source_format, target) {
            return Err(ApiError::new(
                ErrorType::UnsupportedFormatError,
                format!(
                    "Converting {} to {} is not supported.",
                    job.source_format.name(),
                    target.name()
                ),
            ));
        }
        options
            .check(job.source_format, target)
            .map_err(|refused| {
                ApiError::validation(refused.message).with_detail(details::OPTION, refused.option)
            })?;
        job.status = JobStatus::Queued;
        job.target_format = Some(target);
        job.options = options;
        job.task_id = Some(Uuid::new_v4());
        job.progress = 0;
        job.updated_at = Timestamp::now();
        let max_active = self.inner.limits.max_active_jobs;
        // Checked and written in one step where the backend is shared; the lock above
        // serializes this process's admissions for the others.
        match self
            .inner
            .store
            .admit_job(&job, max_active, self.inner.lease)
            .await?
        {
            Admission::Admitted => {}
            Admission::Full(active) => {
                return Err(ApiError::new(
                    ErrorType::TaskLimitExceeded,
                    format!(
                        "You already have {active} conversions running. Wait for one to finish, then try again."
                    ),
                )
                .with_detail(details::MAX_ACTIVE_JOBS, max_active))
            }
            Admission::NotUploaded(status) => return Err(not_again(status)),
            Admission::Gone => return Err(ApiError::not_found()),
        }
        let id = (job.session, job.job_id);
        let cancel = Arc::new(AtomicBool::new(false));
        self.in_flight().insert(id, Arc::clone(&cancel));
        let worker = self.clone();
        let queued = job.clone();
        tokio::spawn(async move {
            worker.run(queued, cancel).await;
            worker.in_flight().remove(&id);
        });
        Ok(job)
    }

    /// Converts a queued job once a worker is free; `cancel` (set when the job is
    /// deleted) stops the conversion at its next step.
    async fn run(&self, mut job: JobRecord, cancel: Arc<AtomicBool>) {
        let Ok(_permit) = self.inner.workers.acquire().await else {
            return;
        };
        job.status = JobStatus::Processing;
        job.progress = 10;
        job.updated_at = Timestamp::now();
        // Gone (session closed or job deleted): nothing to do. A store error is logged
        // by `save`; the conversion still runs and its final save tries again.
        if self.save(&job).await == Ok(false) {
            return;
        }
        let files = &self.inner.files;
        let (input, partial, output) = (
            files.input(&job.session, &job.job_id),
            files.partial_output(&job.session, &job.job_id),
            files.output(&job.session, &job.job_id),
        );
        let (source, target) = (
            job.source_format,
            job.target_format.unwrap_or(job.source_format),
        );
        let title = job.original_filename.clone();
        let options = job.options.clone();
        let (max_output, timeout, memory_limit) = (
            self.inner.limits.max_output_bytes,
            self.inner.limits.conversion_timeout,
            self.inner.limits.engine_memory,
        );
        let scratch = files.job_dir(&job.session, &job.job_id).join("work");
        // How far the engine says it is (engines that know, such as FFmpeg, tell).
        let reported = Arc::new(AtomicU8::new(0));
        let engine_progress = Arc::clone(&reported);
        let service = self.clone();
        let stop = Arc::clone(&cancel);
        let started = Instant::now();
        // The deadline runs from now, not from when the blocking pool gets to the task.
        let deadline = started + timeout;
        let work = tokio::task::spawn_blocking(move || {
            let budget = Budget::until(max_output, timeout, deadline).cancellable(stop);
            // Inside the job's folder, never creating it: if a close removed it, the
            // conversion fails here instead of bringing the folder back.
            match std::fs::create_dir(&scratch) {
                Ok(()) => {}
                Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(error) => return Err(ConversionError::Io(error)),
            }
            // The output goes to disk as it is produced; a failure drops (removes) it.
            let converted = PendingOutput::create(partial)
                .map_err(ConversionError::Output)
                .and_then(|(pending, mut file)| {
                    let job = EngineJob {
                        input: &input,
                        source,
                        target,
                        options: &options,
                        title: &title,
                        budget: &budget,
                        scratch: &scratch,
                        memory_limit,
                        progress: &|percent| engine_progress.store(percent.min(100), Relaxed),
                    };
                    let converted = service.inner.engines.convert(&job, &mut file)?;
                    Ok((pending, converted))
                });
            let _ = std::fs::remove_dir_all(&scratch);
            converted
        });
        // The budget stops the conversion at its next step; this frees the worker even
        // if a step itself never ends. The result is placed here, never by a task that
        // was given up on (whose partial file is removed when the task ends).
        let given_up = tokio::time::sleep(timeout + STEP_GRACE);
        tokio::pin!(work, given_up);
        let mut ticks = tokio::time::interval(PROGRESS_INTERVAL);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        let joined = loop {
            tokio::select! {
                joined = &mut work => break Some(joined),
                () = &mut given_up => break None,
                _ = ticks.tick() => {
                    if !self.show_progress(&mut job, reported.load(Relaxed)).await {
                        // Deleted, here or through another instance: stop converting.
                        cancel.store(true, Relaxed);
                    }
                }
            }
        };
        let outcome = match joined {
            Some(Ok(converted)) => match converted {
                Ok((pending, converted)) => {
                    job.output_format = Some(converted.format);
                    self.keep_output(&job, pending, converted.size, &output)
                        .await
                }
                Err(error) => Err(error),
            },
            Some(Err(_)) => Err(ConversionError::Failed(
                "the converter crashed on this file".into(),
            )),
            None => Err(ConversionError::Limit(format!(
                "the conversion took longer than the limit of {}",
                humantime::format_duration(timeout)
            ))),
        };
        if cancel.load(Relaxed) && outcome.is_err() {
            self.inner.cancelled.fetch_add(1, Relaxed);
            tracing::info!(job = %job.job_id, "conversion cancelled: its job was deleted");
        }
        let now = Timestamp::now();
        job.updated_at = now;
        job.completed_at = Some(now);
        job.conversion_time = Some(started.elapsed().as_secs_f64());
        let mut io_failure = None;
        match outcome {
            Ok(size) => {
                job.status = JobStatus::Completed;
                job.progress = 100;
                job.output_size = Some(size);
            }
            Err(error) => {
                tracing::info!(job = %job.job_id, reason = %error, "conversion failed");
                job.status = JobStatus::Failed;
                job.error = Some(error.to_string());
                io_failure = match error {
                    ConversionError::Io(cause) | ConversionError::Output(cause) => Some(cause),
                    _ => None,
                };
            }
        }
        if self.save(&job).await == Ok(false) {
            // The job was deleted or its session closed meanwhile (which also explains
            // a file that vanished under the conversion): leave nothing behind.
            match self.session_exists(&job.session).await {
                Ok(true) => self.inner.files.remove_job(&job.session, &job.job_id).await,
                _ => self.inner.files.remove_session(&job.session).await,
            }
        } else if let Some(cause) = io_failure {
            tracing::error!(error = %cause, job = %job.job_id, "conversion I/O failed");
        }
    }

    /// Records the engine's `percent` as the job's progress: 10 when the work starts,
    /// 95 when the engine is done (100 once the output is kept). Saved when it moved,
    /// else the job is looked up; `false` once the job is gone (deleted, or its session
    /// closed). A store error is logged and counts as still there: the next tick tries
    /// again.
    async fn show_progress(&self, job: &mut JobRecord, percent: u8) -> bool {
        let shown = (10 + u16::from(percent.min(100)) * 85 / 100) as u8;
        if shown > job.progress {
            job.progress = shown;
            job.updated_at = Timestamp::now();
            return self.save(job).await != Ok(false);
        }
        !matches!(
            self.inner.store.load_job(&job.session, &job.job_id).await,
            Ok(None)
        )
    }

    /// Reserves a finished conversion's `size` bytes against the session's storage
    /// quota (in the store, in the step that records them), then places the pending
    /// file as the job's `output`; returns its size. Refused, the pending file is
    /// removed. A job that then fails is saved without its output, which releases the
    /// reservation.
    async fn keep_output(
        &self,
        job: &JobRecord,
        pending: PendingOutput,
        size: u64,
        output: &Path,
    ) -> Result<u64, ConversionError> {
        let quota = self.inner.limits.max_session_storage;
        let reserving = JobRecord {
            output_size: Some(size),
            updated_at: Timestamp::now(),
            ..job.clone()
        };
        // Never fail open: without the reservation, no output is written.
        match self.inner.store.reserve_output(&reserving, quota).await {
            Ok(Reservation::Reserved) => {}
            Ok(Reservation::OverQuota { .. }) => {
                return Err(ConversionError::Failed(format!(
                    "the result ({}) would exceed this session's storage limit of {}",
                    human_size(size),
                    human_size(quota)
                )))
            }
            // The session was closed; the job's final save finds it gone and cleans up.
            Ok(Reservation::Gone) => {
                return Err(ConversionError::Failed("the session was closed".into()))
            }
            Err(error) => {
                tracing::error!(%error, job = %job.job_id, "reserving the output's storage failed");
                return Err(ConversionError::Failed(
                    "the storage in use could not be checked; try again".into(),
                ));
            }
        }
        // A rename inside the job's existing folder: if a close removed the folder (and
        // the pending file in it), this fails rather than bringing it back.
        pending
            .place(output)
            .await
            .map_err(ConversionError::Output)?;
        Ok(size)
    }
}
