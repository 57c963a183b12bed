//! The job lifecycle: accept an upload, admit and run its conversion, look it up,
//! hand out its download, remove a session's jobs. Conversions run on tokio's
//! blocking pool, at most `workers` at a time, so they never block the async runtime.

use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{Mutex, Semaphore};
use uuid::Uuid;

use super::pending::PendingOutput;
use super::upload::{
    duplicate_job_id, over_quota, storage_failure, IncomingUpload, PlaceError, SizeBound,
};
use super::{downloads, JobFiles};
use crate::config::JobLimits;
use crate::convert::{
    inspect, needs_inspection, Budget, ConversionError, EngineJob, Engines, Format,
};
use crate::crypto::SessionKey;
use crate::error::ApiError;
use crate::storage::{Admission, DownloadGrant, JobRecord, Reservation, Storage, StoreError};
use crate::time::Timestamp;
use trustyconvert_protocol::{human_size, ErrorType, JobStatus};

/// How long past its deadline a conversion step may take before its job is failed
/// regardless (the budget normally stops it at its next write or step).
const STEP_GRACE: Duration = Duration::from_secs(2);

/// Message given to jobs whose server stopped while they were queued or running.
const INTERRUPTED: &str =
    "The server restarted during the conversion. Please convert the file again.";

struct Inner {
    store: Arc<dyn Storage>,
    files: JobFiles,
    limits: JobLimits,
    engines: Engines,
    workers: Semaphore,
    /// Serializes "count active jobs, then queue one" so two requests cannot both pass.
    admission: Mutex<()>,
    /// The jobs this process has queued or is running (their leases are renewed).
    in_flight: std::sync::Mutex<HashSet<(SessionKey, Uuid)>>,
    /// How long a shared backend believes this process still works on a job without
    /// hearing from it again.
    lease: Duration,
}

/// The job lifecycle. Cheap to clone.
#[derive(Clone)]
pub struct JobService {
    inner: Arc<Inner>,
}

impl JobService {
    /// A service over `store` with files under `files`. On a shared backend its jobs
    /// are leased for `lease` at a time ([`JobService::renew_leases`] must run more
    /// often than that).
    pub fn new(
        store: Arc<dyn Storage>,
        files: JobFiles,
        limits: JobLimits,
        engines: Engines,
        lease: Duration,
    ) -> Self {
        let workers = Semaphore::new(limits.workers.max(1));
        Self {
            inner: Arc::new(Inner {
                store,
                files,
                limits,
                engines,
                workers,
                admission: Mutex::new(()),
                in_flight: std::sync::Mutex::default(),
                lease,
            }),
        }
    }

    /// The limits.
    pub fn limits(&self) -> JobLimits {
        self.inner.limits
    }

    /// The conversion engines found at startup.
    pub fn engines(&self) -> &Engines {
        &self.inner.engines
    }

    /// At startup: jobs a previous process left queued or processing are marked failed
    /// (never left "processing" forever). On a shared backend only those no live
    /// instance holds a lease on.
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

    /// Queues a conversion of an uploaded job to `target`. `claimed_source`, if the
    /// client named one, must be what the upload turned out to be.
    pub async fn enqueue(
        &self,
        session: &SessionKey,
        job_id: &Uuid,
        target: Format,
        claimed_source: Option<Format>,
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
        job.status = JobStatus::Queued;
        job.target_format = Some(target);
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
                .with_detail("max_active_jobs", max_active))
            }
            Admission::NotUploaded(status) => return Err(not_again(status)),
            Admission::Gone => return Err(ApiError::not_found()),
        }
        let id = (job.session, job.job_id);
        self.in_flight().insert(id);
        let worker = self.clone();
        let queued = job.clone();
        tokio::spawn(async move {
            worker.run(queued).await;
            worker.in_flight().remove(&id);
        });
        Ok(job)
    }

    fn in_flight(&self) -> std::sync::MutexGuard<'_, HashSet<(SessionKey, Uuid)>> {
        self.inner
            .in_flight
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Renews the leases of the jobs this process works on (shared backends; a no-op
    /// for the others).
    pub async fn renew_leases(&self) -> Result<(), StoreError> {
        let jobs: Vec<(SessionKey, Uuid)> = self.in_flight().iter().copied().collect();
        if jobs.is_empty() {
            return Ok(());
        }
        self.inner
            .store
            .renew_job_leases(&jobs, self.inner.lease)
            .await
    }

    /// On a shared backend, fails the jobs whose instance stopped (their lease ran
    /// out); on the others nothing (their only process is this one).
    pub async fn fail_abandoned(&self) -> Result<u64, StoreError> {
        if !self.inner.store.is_shared() {
            return Ok(0);
        }
        self.fail_interrupted().await
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
        let (max_output, timeout, memory_limit) = (
            self.inner.limits.max_output_bytes,
            self.inner.limits.conversion_timeout,
            self.inner.limits.engine_memory,
        );
        let scratch = files.job_dir(&job.session, &job.job_id).join("work");
        let service = self.clone();
        let started = Instant::now();
        // The deadline runs from now, not from when the blocking pool gets to the task.
        let deadline = started + timeout;
        let work = tokio::task::spawn_blocking(move || {
            let budget = Budget::until(max_output, timeout, deadline);
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
                        title: &title,
                        budget: &budget,
                        scratch: &scratch,
                        memory_limit,
                    };
                    let size = service.inner.engines.convert(&job, &mut file)?;
                    Ok((pending, size))
                });
            let _ = std::fs::remove_dir_all(&scratch);
            converted
        });
        // The budget stops the conversion at its next step; this frees the worker even
        // if a step itself never ends. The result is placed here, never by a task that
        // was given up on (whose partial file is removed when the task ends).
        let outcome = match tokio::time::timeout(timeout + STEP_GRACE, work).await {
            Ok(Ok(converted)) => match converted {
                Ok((pending, size)) => self.keep_output(&job, pending, size, &output).await,
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
            // The session was closed meanwhile (which also explains a file that
            // vanished under the conversion): leave nothing behind.
            self.inner.files.remove_session(&job.session).await;
        } else if let Some(cause) = io_failure {
            tracing::error!(error = %cause, job = %job.job_id, "conversion I/O failed");
        }
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

    /// Writes a job: `Ok(false)` if it is gone (its session was closed); a store
    /// failure is logged and returned as `Err(())`.
    async fn save(&self, job: &JobRecord) -> Result<bool, ()> {
        self.inner.store.update_job(job).await.map_err(|error| {
            tracing::error!(%error, job = %job.job_id, "saving a job failed");
        })
    }

    /// Removes every file of a session whose records the storage already deleted.
    pub async fn remove_session_files(&self, session: &SessionKey) {
        self.inner.files.remove_session(session).await;
    }

    /// Removes the jobs and files of sessions that expired or vanished — found both in
    /// the store and on disk, so files whose records are gone are not left behind —
    /// and partial uploads a crash left. Returns how many sessions were cleaned.
    pub async fn sweep_orphans(&self, now: Timestamp) -> Result<u64, StoreError> {
        let store = &self.inner.store;
        let mut candidates = store.sessions_with_jobs().await?;
        candidates.extend(self.inner.files.sessions_on_disk().await);
        candidates.sort_by_key(|s| s.0);
        candidates.dedup();
        let mut removed = 0;
        for session in candidates {
            let live = store
                .load_session(&session)
                .await?
                .is_some_and(|record| record.is_live(now));
            if !live {
                store.delete_session_jobs(&session).await?;
                self.inner.files.remove_session(&session).await;
                removed += 1;
            }
        }
        self.inner.files.sweep_incoming().await;
        Ok(removed)
    }

    /// Starts receiving a file for `session`: bounded by the upload limit and by the
    /// room left in the session's storage quota.
    pub async fn begin_upload(
        &self,
        session: &SessionKey,
        file_name: &str,
        declared_type: Option<&str>,
    ) -> Result<IncomingUpload, ApiError> {
        let limits = &self.inner.limits;
        let used = self.inner.store.session_storage(session).await?;
        let bound = SizeBound {
            max: limits.max_upload_bytes,
            room: limits.max_session_storage.saturating_sub(used),
            quota: limits.max_session_storage,
        };
        Ok(IncomingUpload::new(
            &self.inner.files.incoming_dir(),
            file_name,
            declared_type,
            bound,
        ))
    }

    /// Verifies a received file (type by name and magic bytes, image dimensions) and
    /// stores it as job `job_id` of `session`. The file is placed first, in a job
    /// folder that must not exist yet (a duplicate id is refused before any file
    /// moves); then the record is inserted, in one store step that checks the session
    /// still exists and reserves the bytes against its quota. That step decides: if it
    /// refuses, the placed files go again — so an upload that loses a race with its
    /// session's close leaves nothing and gets the same 401 as one that came after.
    pub async fn accept_upload(
        &self,
        session: &SessionKey,
        job_id: Uuid,
        mut upload: IncomingUpload,
    ) -> Result<JobRecord, ApiError> {
        let engines = &self.inner.engines;
        let format = upload.finish(|format| engines.reads(format)).await?;
        if needs_inspection(format) {
            // The checks read the file from disk.
            let path = upload.spill().await?.to_owned();
            tokio::task::spawn_blocking(move || inspect(&path, format))
                .await
                .map_err(|_| ApiError::internal())?
                .map_err(|error| match error {
                    ConversionError::Io(cause) => storage_failure(cause),
                    other => ApiError::new(ErrorType::FileValidationError, other.to_string()),
                })?;
        }
        let now = Timestamp::now();
        let job = JobRecord {
            session: *session,
            job_id,
            task_id: None,
            status: JobStatus::Uploaded,
            original_filename: upload.name().to_owned(),
            source_format: format,
            target_format: None,
            file_size: upload.size(),
            output_size: None,
            progress: 0,
            error: None,
            created_at: now,
            updated_at: now,
            completed_at: None,
            conversion_time: None,
        };
        let files = &self.inner.files;
        let job_dir = files.job_dir(session, &job_id);
        let mut placed = upload.place_new(&job_dir, super::files::INPUT).await;
        if matches!(&placed, Err(PlaceError::Io(error)) if error.kind() == std::io::ErrorKind::NotFound)
        {
            // The session's folder vanished while the file was placed: a close (the
            // store may not show it yet to this instance's cache). Placing again and
            // letting the store's conditional insert judge gives the same answer as a
            // request that came after the close.
            placed = upload.place_new(&job_dir, super::files::INPUT).await;
        }
        match placed {
            Ok(()) => {}
            Err(PlaceError::DuplicateId) => return Err(duplicate_job_id()),
            // A close removes the session's folder, also while this places a file in
            // it: that is a race lost to the close (the same 401), not a storage fault.
            Err(PlaceError::Io(error)) => {
                return Err(match self.session_exists(session).await? {
                    true => storage_failure(error),
                    false => self.closed_meanwhile(session).await,
                })
            }
        }
        let quota = self.inner.limits.max_session_storage;
        let refusal = match self.inner.store.insert_job(&job, quota).await {
            Ok(Reservation::Reserved) => return Ok(job),
            Ok(Reservation::OverQuota { .. }) => over_quota(quota),
            Ok(Reservation::Gone) => return Err(self.closed_meanwhile(session).await),
            Err(StoreError::Duplicate) => duplicate_job_id(),
            Err(error) => error.into(),
        };
        files.remove_job(session, &job_id).await;
        Err(refusal)
    }

    /// Whether `session` is still live in the store (a close, or the sweep of an
    /// expired session, removes its folder).
    async fn session_exists(&self, session: &SessionKey) -> Result<bool, ApiError> {
        Ok(self
            .inner
            .store
            .load_session(session)
            .await?
            .is_some_and(|record| record.is_live(Timestamp::now())))
    }

    /// After a write lost the race with its session's close: whatever the request put
    /// on disk goes, and it gets the 401 of a request that came after the close.
    async fn closed_meanwhile(&self, session: &SessionKey) -> ApiError {
        self.inner.files.remove_session(session).await;
        ApiError::no_session()
    }

    /// A single-use download token for a completed job of `session`, and its expiry.
    pub async fn issue_download(
        &self,
        session: &SessionKey,
        job_id: &Uuid,
    ) -> Result<(String, Timestamp), ApiError> {
        let job = self.find(session, job_id).await?;
        if job.status != JobStatus::Completed {
            return Err(ApiError::validation(format!(
                "The job is {}; only completed jobs can be downloaded.",
                job.status
            )));
        }
        let (token, hash) = downloads::mint();
        let grant = DownloadGrant {
            session: *session,
            job_id: *job_id,
            expires_at: Timestamp::now().plus(downloads::DOWNLOAD_TOKEN_TTL),
        };
        let granted = self
            .inner
            .store
            .insert_grant(&hash, &grant, downloads::MAX_TOKENS_PER_JOB)
            .await?;
        if !granted {
            // Closed after this request passed the guard.
            return Err(ApiError::no_session());
        }
        Ok((token, grant.expires_at))
    }

    /// Spends `token` and opens the output it grants.
    pub async fn redeem_download(
        &self,
        token: &str,
    ) -> Result<(OutputFile, tokio::fs::File), ApiError> {
        let hash = downloads::parse(token).ok_or_else(gone)?;
        let grant = self
            .inner
            .store
            .take_grant(&hash, Timestamp::now())
            .await?
            .ok_or_else(gone)?;
        let output = self.output_of(&grant).await?;
        let file = tokio::fs::File::open(&output.path)
            .await
            .map_err(|_| gone())?;
        let length = file.metadata().await.map_err(storage_failure)?.len();
        Ok((OutputFile { length, ..output }, file))
    }

    /// What `token` would download, without spending it (for `HEAD`).
    pub async fn inspect_download(&self, token: &str) -> Result<OutputFile, ApiError> {
        let hash = downloads::parse(token).ok_or_else(gone)?;
        let grant = self
            .inner
            .store
            .peek_grant(&hash, Timestamp::now())
            .await?
            .ok_or_else(gone)?;
        let output = self.output_of(&grant).await?;
        let length = tokio::fs::metadata(&output.path)
            .await
            .map_err(|_| gone())?
            .len();
        Ok(OutputFile { length, ..output })
    }

    /// The completed output a grant names (its length still to be read). A grant of
    /// a session that has expired is dead at once, before the sweep removes it.
    async fn output_of(&self, grant: &DownloadGrant) -> Result<OutputFile, ApiError> {
        if !self.session_exists(&grant.session).await? {
            return Err(gone());
        }
        let job = self
            .inner
            .store
            .load_job(&grant.session, &grant.job_id)
            .await?
            .ok_or_else(gone)?;
        let target = job
            .target_format
            .filter(|_| job.status == JobStatus::Completed)
            .ok_or_else(gone)?;
        let stem = job
            .original_filename
            .rsplit_once('.')
            .map_or(job.original_filename.as_str(), |(stem, _)| stem);
        Ok(OutputFile {
            job_id: job.job_id,
            path: self.inner.files.output(&job.session, &job.job_id),
            length: 0,
            filename: format!("{stem}.{}", target.extension()),
            format: target,
        })
    }
}

/// A completed job's output, as a download.
#[derive(Debug, Clone)]
pub struct OutputFile {
    /// The job.
    pub job_id: Uuid,
    /// Where it is on disk.
    pub path: std::path::PathBuf,
    /// Its size in bytes.
    pub length: u64,
    /// The name to save it under: the upload's stem with the target's extension.
    pub filename: String,
    /// Its format.
    pub format: Format,
}

fn gone() -> ApiError {
    ApiError::new(
        ErrorType::ResourceNotFound,
        "This download link is invalid, used or expired.",
    )
}
