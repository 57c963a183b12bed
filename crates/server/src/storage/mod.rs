//! The storage layer: everything the service keeps between requests — sessions and
//! their CSRF state, conversion jobs, download grants and rate-limit counters — behind
//! one set of traits, with one implementation per backend.
//!
//! Handlers never see a backend: [`SessionService`](trustyconvert_session::SessionService)
//! and [`JobService`](crate::jobs::JobService) use an `Arc<dyn ConverterStorage>` chosen by
//! [`open`]. Every method is one round trip; updates only change existing records, so
//! nothing a request deleted can come back; deleting a session deletes its jobs and
//! download grants with it. A new backend implements the four traits (in a folder of
//! its own, one file per trait, as `sqlite` and `redis` do) and passes the contract
//! suite in `contract.rs` (which runs the session layer's store contract first).
//!
//! Atomic under concurrency: no method checks in one step and writes in another. A
//! CSRF rotation is a compare-and-swap on the current nonce; a new job, an output and
//! a download grant are written only if their session still exists, and bytes are
//! reserved against the session's quota in the same step that writes them. Whatever
//! requests, tabs or instances run at once, the store holds one truth.

#[cfg(test)]
pub(crate) mod contract;
mod memory;
mod records;
mod redis;
#[cfg(test)]
#[path = "../../../session/tests/support/redis_server.rs"]
mod redis_server;
mod sqlite;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use uuid::Uuid;

use crate::config::StoreKind;
use trustyconvert_session::crypto::SessionKey;
use trustyconvert_session::Timestamp;

pub use memory::MemoryStorage;
pub use records::{
    active_status_names, Admission, DownloadGrant, JobRecord, Reservation, TokenHash,
};
pub use redis::RedisStorage;
pub use sqlite::{open as open_sqlite, SqliteStore};
pub use trustyconvert_session::store::{
    CsrfState, CsrfSwap, LocalRates, PreviousNonce, RateAction, RateLimitStore, RateVerdict,
    SessionRecord, SessionStore, Storage, StoreError,
};

/// File name of the embedded database inside the data directory.
pub const EMBEDDED_DB_FILE: &str = "trustyconvert.sqlite3";

/// Conversion jobs, keyed by (session, job id).
#[async_trait]
pub trait JobStore: Send + Sync + 'static {
    /// Adds a job if its session still exists and its bytes
    /// ([`JobRecord::stored_bytes`]) fit in what the session's other jobs leave of
    /// `quota` — the check and the write in one atomic step, so parallel uploads can
    /// never pass the quota together and nothing is added to a closed session.
    /// [`StoreError::Duplicate`] if the session already has this job id.
    async fn insert_job(&self, job: &JobRecord, quota: u64) -> Result<Reservation, StoreError>;
    /// One job of one session.
    async fn load_job(
        &self,
        session: &SessionKey,
        job_id: &Uuid,
    ) -> Result<Option<JobRecord>, StoreError>;
    /// Every job of one session, newest first (by creation, then id).
    async fn list_jobs(&self, session: &SessionKey) -> Result<Vec<JobRecord>, StoreError>;
    /// Replaces an existing job of an existing session; `false` if either is gone (the
    /// session was closed). Never creates.
    async fn update_job(&self, job: &JobRecord) -> Result<bool, StoreError>;
    /// Replaces an existing job of an existing session with `job`, whose
    /// `output_size` is now set, if its bytes fit in what the session's other jobs
    /// leave of `quota`: the output's bytes are reserved in the same atomic step that
    /// records them. Releasing is a plain [`update_job`](Self::update_job) without
    /// the output.
    async fn reserve_output(&self, job: &JobRecord, quota: u64) -> Result<Reservation, StoreError>;
    /// How many jobs of the session are queued or processing.
    async fn count_active_jobs(&self, session: &SessionKey) -> Result<u64, StoreError>;

    /// Stores `queued` (the job, now queued) if the stored job is still `uploaded` and
    /// its session has fewer than `max_active` queued or processing jobs, and leases
    /// it to this process for `lease`. A shared backend does the check and the write
    /// in one atomic step, so two instances can neither queue one job twice nor pass
    /// the limit together; for the others the caller serializes admissions.
    async fn admit_job(
        &self,
        queued: &JobRecord,
        max_active: u64,
        lease: Duration,
    ) -> Result<Admission, StoreError> {
        let Some(stored) = self.load_job(&queued.session, &queued.job_id).await? else {
            return Ok(Admission::Gone);
        };
        if stored.status != trustyconvert_protocol::JobStatus::Uploaded {
            return Ok(Admission::NotUploaded(stored.status));
        }
        let active = self.count_active_jobs(&queued.session).await?;
        if active >= max_active {
            return Ok(Admission::Full(active));
        }
        self.renew_job_leases(&[(queued.session, queued.job_id)], lease)
            .await?;
        Ok(match self.update_job(queued).await? {
            true => Admission::Admitted,
            false => Admission::Gone,
        })
    }
    /// Bytes the session's files take: every upload and every output.
    async fn session_storage(&self, session: &SessionKey) -> Result<u64, StoreError>;
    /// Deletes one job; returns whether it existed.
    async fn delete_job(&self, session: &SessionKey, job_id: &Uuid) -> Result<bool, StoreError>;
    /// Deletes every job of a session whose record is already gone; returns how many.
    async fn delete_session_jobs(&self, session: &SessionKey) -> Result<u64, StoreError>;
    /// Every session that owns at least one job (for the orphan sweep).
    async fn sessions_with_jobs(&self) -> Result<Vec<SessionKey>, StoreError>;
    /// Marks failed with `reason` the queued or processing jobs no live process works
    /// on. A backend used by one process fails all of them (called at startup, its
    /// worker died with the last process); a shared backend fails those whose lease
    /// expired (see [`JobStore::renew_job_leases`]).
    async fn fail_unfinished_jobs(&self, reason: &str, now: Timestamp) -> Result<u64, StoreError>;

    /// Tells a shared backend that this process still works on `jobs`, for `ttl`.
    /// Backends used by one process need no leases.
    async fn renew_job_leases(
        &self,
        _jobs: &[(SessionKey, Uuid)],
        _ttl: Duration,
    ) -> Result<(), StoreError> {
        Ok(())
    }

    /// Whether several server processes may share this backend (then abandoned jobs
    /// are found by lease, continuously, not only at startup).
    fn is_shared(&self) -> bool {
        false
    }
}

/// Single-use download grants, keyed by a hash of their token.
#[async_trait]
pub trait DownloadStore: Send + Sync + 'static {
    /// Stores a grant if its session still exists (`false` otherwise: nothing is
    /// kept); if its job then has more than `max_per_job` live grants, the oldest are
    /// retired.
    async fn insert_grant(
        &self,
        token: &TokenHash,
        grant: &DownloadGrant,
        max_per_job: usize,
    ) -> Result<bool, StoreError>;
    /// Removes and returns the grant if it is valid at `now`: a token works once, even
    /// when two requests race for it.
    async fn take_grant(
        &self,
        token: &TokenHash,
        now: Timestamp,
    ) -> Result<Option<DownloadGrant>, StoreError>;
    /// The grant if it is valid at `now`, leaving it in place.
    async fn peek_grant(
        &self,
        token: &TokenHash,
        now: Timestamp,
    ) -> Result<Option<DownloadGrant>, StoreError>;
}

/// Everything a backend provides: the session layer's [`Storage`] (sessions and rate
/// counters) and the converter's jobs and download grants, in one backend so that
/// "only while the session exists" is checked in the same step that writes.
/// Implemented for every type implementing the traits; services hold an
/// `Arc<dyn ConverterStorage>`.
pub trait ConverterStorage: Storage + JobStore + DownloadStore {}

impl<T: Storage + JobStore + DownloadStore> ConverterStorage for T {}

/// Why the storage could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The data directory could not be created.
    #[error("cannot create data directory {path}: {source}")]
    DataDir {
        /// The directory.
        path: std::path::PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The store itself failed to open.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Opens the backend `kind`; the embedded one lives in `data_dir`; no session lives
/// longer than `max_session_life` (Redis expires job records after it).
pub async fn open(
    kind: &StoreKind,
    data_dir: &Path,
    max_session_life: Duration,
) -> Result<Arc<dyn ConverterStorage>, OpenError> {
    match kind {
        StoreKind::Redis(url) => Ok(redis::connect(url, max_session_life).await?),
        StoreKind::Memory => Ok(Arc::new(MemoryStorage::default())),
        StoreKind::Embedded => {
            crate::private_fs::create_dir_all(data_dir).map_err(|source| OpenError::DataDir {
                path: data_dir.to_owned(),
                source,
            })?;
            let store = sqlite::open(data_dir.join(EMBEDDED_DB_FILE)).await?;
            Ok(Arc::new(store))
        }
    }
}
