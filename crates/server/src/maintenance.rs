//! The one background task that keeps disk and memory bounded: every interval it
//! removes expired sessions with their jobs, grants and files, then jobs and files
//! whose session vanished some other way, stale partial uploads, and idle rate-limit
//! counters; on a shared backend it also fails the jobs of stopped instances. Beside it
//! a small task renews the leases of this process's jobs (they last three intervals),
//! on its own clock so a long sweep never lets a live job's lease lapse.

use std::time::Duration;

use tokio::task::JoinHandle;

use trustyconvert_session::{Sessions, Timestamp};

use crate::jobs::JobService;

/// How many sweep intervals a job lease lasts: two missed renewals are tolerated.
pub const LEASE_INTERVALS: u32 = 3;

/// Runs [`sweep_once`] every `interval`, and renews job leases every `interval`,
/// until the tasks are aborted.
pub fn spawn(sessions: Sessions, jobs: JobService, interval: Duration) -> [JoinHandle<()>; 2] {
    let lease_keeper = {
        let jobs = jobs.clone();
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval(interval);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticker.tick().await;
                if let Err(error) = jobs.renew_leases().await {
                    tracing::warn!(%error, "renewing job leases failed");
                }
            }
        })
    };
    let sweeper = tokio::spawn(async move {
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            sweep_once(&sessions, &jobs).await;
        }
    });
    [sweeper, lease_keeper]
}

/// One maintenance pass; failures are logged and retried on the next pass.
pub async fn sweep_once(sessions: &Sessions, jobs: &JobService) {
    let now = Timestamp::now();
    match sessions.sweep_expired(now).await {
        Ok(0) => {}
        Ok(count) => tracing::debug!(count, "swept expired sessions"),
        Err(error) => {
            tracing::warn!(%error, "sweeping expired sessions or idle rate counters failed")
        }
    }
    if let Err(error) = jobs.sweep_orphans(now).await {
        tracing::warn!(%error, "sweeping the jobs of vanished sessions failed");
    }
    match jobs.fail_abandoned().await {
        Ok(0) => {}
        Ok(count) => tracing::warn!(count, "jobs of a stopped instance were marked failed"),
        Err(error) => tracing::warn!(%error, "failing abandoned jobs failed"),
    }
}
