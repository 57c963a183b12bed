//! What the storage layer keeps besides sessions: jobs and download grants. Secrets
//! never appear here — sessions are keyed by a hash of their id, download tokens by a
//! hash.

use trustyconvert_protocol::{ConversionOptions, Format, JobStatus};
use uuid::Uuid;

use trustyconvert_session::crypto::SessionKey;
use trustyconvert_session::Timestamp;

/// One conversion job of one session.
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
    /// How to convert (checked against the source and target when queued).
    pub options: ConversionOptions,
    /// Input size in bytes.
    pub file_size: u64,
    /// Output size in bytes, once completed.
    pub output_size: Option<u64>,
    /// The output's format once completed: the target, or `zip` when the conversion
    /// made several files (absent in jobs completed before this was recorded).
    pub output_format: Option<Format>,
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

impl JobRecord {
    /// A new job as an accepted upload makes it: `uploaded`, no target yet, nothing
    /// converted.
    pub fn uploaded(
        session: SessionKey,
        job_id: Uuid,
        original_filename: String,
        source_format: Format,
        file_size: u64,
        now: Timestamp,
    ) -> Self {
        Self {
            session,
            job_id,
            task_id: None,
            status: JobStatus::Uploaded,
            original_filename,
            source_format,
            target_format: None,
            options: ConversionOptions::default(),
            file_size,
            output_size: None,
            output_format: None,
            progress: 0,
            error: None,
            created_at: now,
            updated_at: now,
            completed_at: None,
            conversion_time: None,
        }
    }

    /// Marks the job failed with `reason` at `now`.
    pub fn fail(&mut self, reason: &str, now: Timestamp) {
        self.status = JobStatus::Failed;
        self.error = Some(reason.to_owned());
        self.updated_at = now;
        self.completed_at = Some(now);
    }

    /// The format of the job's output file: the one recorded, else the target.
    pub fn delivered_format(&self) -> Option<Format> {
        self.output_format.or(self.target_format)
    }

    /// Orders `jobs` as [`JobStore::list_jobs`](super::JobStore::list_jobs) returns
    /// them: newest first, then by id (descending), so equal times list the same way on
    /// every backend.
    pub fn sort_newest_first(jobs: &mut [JobRecord]) {
        jobs.sort_by_key(|job| std::cmp::Reverse((job.created_at, job.job_id)));
    }

    /// Bytes this job's files take: the upload and, once written, the output.
    pub fn stored_bytes(&self) -> u64 {
        self.file_size + self.output_size.unwrap_or(0)
    }
}

/// What a download token grants: one download of one job's output, or of one zip of
/// several jobs' outputs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DownloadGrant {
    /// The session that asked.
    pub session: SessionKey,
    /// The job whose output it downloads; for a zip, an id of its own (grants are
    /// counted per job).
    pub job_id: Uuid,
    /// End of validity.
    pub expires_at: Timestamp,
    /// The jobs a zip holds, in order; empty for one job's output.
    pub archive: Vec<Uuid>,
}

/// The store key of a download token: SHA-256 of the token, so the store never holds
/// a usable token.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TokenHash(pub [u8; 32]);

impl std::fmt::Debug for TokenHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenHash(<hash>)")
    }
}

/// The answer of [`JobStore::admit_job`](super::JobStore::admit_job).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Queued (and leased to this process).
    Admitted,
    /// The session already has this many queued or processing jobs.
    Full(u64),
    /// The job is no longer `uploaded`: it was queued already (perhaps elsewhere).
    NotUploaded(JobStatus),
    /// The job is gone (its session was closed).
    Gone,
}

/// The answer of a write that reserves bytes against a session's storage quota
/// ([`JobStore::insert_job`](super::JobStore::insert_job),
/// [`JobStore::reserve_output`](super::JobStore::reserve_output)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reservation {
    /// Written; its bytes now count against the quota.
    Reserved,
    /// Nothing written: the session's other jobs already take `used` bytes, and these
    /// would not fit in what is left of the quota.
    OverQuota {
        /// Bytes the session's other jobs take.
        used: u64,
    },
    /// Nothing written: the session (or, for an output, the job) is gone.
    Gone,
}

/// The names of the statuses [`JobStatus::is_active`] calls active, as the backends'
/// own queries (SQL, Lua) spell them: they are built from this list, never written
/// out, so the rule stays in one place.
///
/// [`JobStatus::is_active`]: trustyconvert_protocol::JobStatus::is_active
pub fn active_status_names() -> impl Iterator<Item = &'static str> {
    trustyconvert_protocol::JobStatus::ALL
        .into_iter()
        .filter(|status| status.is_active())
        .map(|status| status.as_str())
}
