//! What the storage layer keeps: sessions, jobs and download grants. Secrets never
//! appear here — sessions are keyed by a hash of their id, download tokens by a hash.

use trustyconvert_protocol::{Format, JobStatus};
use uuid::Uuid;

use crate::crypto::{SessionKey, CSRF_NONCE_BYTES};
use crate::time::Timestamp;

/// A CSRF nonce that was current before the last rotation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PreviousNonce {
    /// The nonce of the previous token.
    pub nonce: [u8; CSRF_NONCE_BYTES],
    /// The end of its grace window.
    pub valid_until: Timestamp,
}

/// The CSRF part of a session: which token nonces are accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CsrfState {
    /// Nonce of the current token.
    pub current: [u8; CSRF_NONCE_BYTES],
    /// Nonce of the token before the last rotation, inside its grace window.
    pub previous: Option<PreviousNonce>,
}

/// One session as the store keeps it. The secret id is not in here, only its hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    /// Hash of the secret id; the primary key.
    pub key: SessionKey,
    /// Public handle, safe for bodies and logs.
    pub public_id: String,
    /// When the session was created.
    pub created_at: Timestamp,
    /// End of the idle timeout; moved forward by activity.
    pub idle_expires_at: Timestamp,
    /// End of the absolute timeout; never moves.
    pub absolute_expires_at: Timestamp,
    /// Which CSRF tokens are accepted.
    pub csrf: CsrfState,
}

impl SessionRecord {
    /// The earlier of the idle and the absolute expiry.
    pub fn expires_at(&self) -> Timestamp {
        self.idle_expires_at.min(self.absolute_expires_at)
    }

    /// Whether the session is still valid at `now`.
    pub fn is_live(&self, now: Timestamp) -> bool {
        now < self.expires_at()
    }
}

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

impl JobRecord {
    /// Marks the job failed with `reason` at `now`.
    pub fn fail(&mut self, reason: &str, now: Timestamp) {
        self.status = JobStatus::Failed;
        self.error = Some(reason.to_owned());
        self.updated_at = now;
        self.completed_at = Some(now);
    }

    /// Bytes this job's files take: the upload and, once written, the output.
    pub fn stored_bytes(&self) -> u64 {
        self.file_size + self.output_size.unwrap_or(0)
    }
}

/// What a download token grants: one download of one job's output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DownloadGrant {
    /// The session that asked.
    pub session: SessionKey,
    /// The job whose output it downloads.
    pub job_id: Uuid,
    /// End of validity.
    pub expires_at: Timestamp,
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

/// An action whose rate is limited per client address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RateAction {
    /// Creating a session.
    Init,
    /// Uploading a file.
    Upload,
    /// Asking for a conversion.
    Convert,
    /// Asking for a download token or downloading.
    Download,
}

impl RateAction {
    /// A short stable name (store keys, logs).
    pub const fn name(self) -> &'static str {
        match self {
            Self::Init => "init",
            Self::Upload => "upload",
            Self::Convert => "convert",
            Self::Download => "download",
        }
    }
}

/// The answer of a rate check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateVerdict {
    /// Counted and allowed.
    Allowed,
    /// Over the limit; allowed again after this long.
    Limited {
        /// How long to wait.
        retry_after: std::time::Duration,
    },
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

/// The answer of [`SessionStore::swap_csrf`](super::SessionStore::swap_csrf).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CsrfSwap {
    /// The expected nonce was current; the new state is stored.
    Swapped,
    /// The current nonce is no longer the expected one (another rotation won, or the
    /// request presented the previous token): nothing was written, and this is the
    /// state now stored.
    Superseded(CsrfState),
    /// The session is gone (closed or expired).
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
