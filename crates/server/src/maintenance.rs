//! The one background task that keeps disk and memory bounded: every interval it
//! removes expired sessions with their jobs, grants and files, then jobs and files
//! whose session vanished some other way, stale partial uploads, and idle rate-limit
//! counters; on a shared backend it also fails the jobs of stopped instances. More
//! often (a third of the job lease) it renews the leases of this process's jobs.

use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;

use crate::jobs::{JobService, JOB_LEASE};
use crate::session::SessionService;
use crate::storage::Storage;
use crate::time::Timestamp;

/// Runs [`sweep_once`] every `interval` until the task is aborted.
pub fn spawn(
    sessions: SessionService,
    jobs: JobService,
    storage: Arc<dyn Storage>,
    interval: Duration,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut sweep = tokio::time::interval(interval);
        sweep.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut leases = tokio::time::interval(JOB_LEASE / 3);
        leases.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = sweep.tick() => sweep_once(&sessions, &jobs, storage.as_ref()).await,
                _ = leases.tick() => {
                    if let Err(error) = jobs.renew_leases().await {
                        tracing::warn!(%error, "renewing job leases failed");
                    }
                }
            }
        }
    })
}

/// One maintenance pass; failures are logged and retried on the next pass.
pub async fn sweep_once(sessions: &SessionService, jobs: &JobService, storage: &dyn Storage) {
    let now = Timestamp::now();
    match sessions.sweep_expired(now).await {
        Ok(0) => {}
        Ok(count) => tracing::debug!(count, "swept expired sessions"),
        Err(error) => tracing::warn!(%error, "sweeping expired sessions failed"),
    }
    if let Err(error) = jobs.sweep_orphans(now).await {
        tracing::warn!(%error, "sweeping the jobs of vanished sessions failed");
    }
    match jobs.fail_abandoned().await {
        Ok(0) => {}
        Ok(count) => tracing::warn!(count, "jobs of a stopped instance were marked failed"),
        Err(error) => tracing::warn!(%error, "failing abandoned jobs failed"),
    }
    if let Err(error) = storage.forget_idle_rates().await {
        tracing::warn!(%error, "forgetting idle rate-limit counters failed");
    }
}
