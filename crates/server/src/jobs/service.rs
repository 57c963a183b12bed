//! The job service: what it holds, and the lifecycle around its jobs — lookup,
//! removal with a session, the maintenance sweeps and leases. Its work is split by
//! job: `intake.rs` (uploads), `runner.rs` (admission and conversion), `downloads.rs`
//! (download links and outputs).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Mutex, Semaphore};
use uuid::Uuid;

use super::JobFiles;
use crate::config::JobLimits;
use crate::storage::{ConverterStorage, JobRecord, StoreError};
use trustyconvert_convert::Engines;
use trustyconvert_session::crypto::SessionKey;
use trustyconvert_session::ApiError;
use trustyconvert_session::Timestamp;

/// Message given to jobs whose server stopped while they were queued or running.
const INTERRUPTED: &str =
    "The server restarted during the conversion. Please convert the file again.";

pub(super) struct Inner {
    pub(super) store: Arc<dyn ConverterStorage>,
    pub(super) files: JobFiles,
    pub(super) limits: JobLimits,
    pub(super) engines: Arc<Engines>,
    pub(super) workers: Semaphore,
    /// Serializes "count active jobs, then queue one" so two requests cannot both pass.
    pub(super) admission: Mutex<()>,
    /// The jobs this process has queued or is running (their leases are renewed),
    /// each with the flag that cancels its conversion.
    pub(super) in_flight: std::sync::Mutex<HashMap<(SessionKey, Uuid), Arc<AtomicBool>>>,
    /// How long a shared backend believes this process still works on a job without
    /// hearing from it again.
    pub(super) lease: Duration,
    /// Conversions stopped because their job was deleted.
    pub(super) cancelled: AtomicU64,
}

/// The job lifecycle. Cheap to clone.
#[derive(Clone)]
pub struct JobService {
    pub(super) inner: Arc<Inner>,
}

impl JobService {
    /// A service over `store` with files under `files`. On a shared backend its jobs
    /// are leased for `lease` at a time ([`JobService::renew_leases`] must run more
    /// often than that).
    pub fn new(
        store: Arc<dyn ConverterStorage>,
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
                engines: Arc::new(engines),
                workers,
                admission: Mutex::new(()),
                in_flight: std::sync::Mutex::default(),
                lease,
                cancelled: AtomicU64::new(0),
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

    /// How many conversions were stopped because their job was deleted.
    pub fn conversions_cancelled(&self) -> u64 {
        self.inner.cancelled.load(Ordering::Relaxed)
    }

    /// The session's jobs, newest first.
    pub async fn list(&self, session: &SessionKey) -> Result<Vec<JobRecord>, ApiError> {
        Ok(self.inner.store.list_jobs(session).await?)
    }

    /// Deletes a job of `session` now: a conversion of it running here is cancelled
    /// (one running on another instance stops at its next progress check), its record
    /// goes — which releases its bytes from the session's quota and kills its download
    /// links — and its files are removed. 404 if the session has no such job.
    pub async fn delete(&self, session: &SessionKey, job_id: &Uuid) -> Result<(), ApiError> {
        if let Some(cancel) = self.in_flight().get(&(*session, *job_id)) {
            cancel.store(true, Ordering::Relaxed);
        }
        if !self.inner.store.delete_job(session, job_id).await? {
            return Err(ApiError::not_found());
        }
        self.inner.files.remove_job(session, job_id).await;
        tracing::info!(event = "job_deleted", job = %job_id, "job deleted");
        Ok(())
    }

    /// Renews the leases of the jobs this process works on (shared backends; a no-op
    /// for the others).
    pub async fn renew_leases(&self) -> Result<(), StoreError> {
        let jobs: Vec<(SessionKey, Uuid)> = self.in_flight().keys().copied().collect();
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

    /// Writes a job: `Ok(false)` if it is gone (its session was closed); a store
    /// failure is logged and returned as `Err(())`.
    pub(super) async fn save(&self, job: &JobRecord) -> Result<bool, ()> {
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

    /// Whether `session` is still live in the store (a close, or the sweep of an
    /// expired session, removes its folder).
    pub(super) async fn session_exists(&self, session: &SessionKey) -> Result<bool, ApiError> {
        Ok(self
            .inner
            .store
            .load_session(session)
            .await?
            .is_some_and(|record| record.is_live(Timestamp::now())))
    }

    /// After a write lost the race with its session's close: whatever the request put
    /// on disk goes, and it gets the 401 of a request that came after the close.
    pub(super) async fn closed_meanwhile(&self, session: &SessionKey) -> ApiError {
        self.inner.files.remove_session(session).await;
        ApiError::no_session()
    }

    pub(super) fn in_flight(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<(SessionKey, Uuid), Arc<AtomicBool>>> {
        self.inner
            .in_flight
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}
