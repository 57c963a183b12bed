//! The background task that purges expired sessions, so memory and disk stay bounded.

use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;

use super::SessionStore;
use crate::time::Timestamp;

/// Sweeps expired sessions every `interval` until the task is aborted.
pub fn spawn_sweeper(store: Arc<dyn SessionStore>, interval: Duration) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            match store.sweep_expired(Timestamp::now()).await {
                Ok(0) => {}
                Ok(count) => tracing::debug!(count, "swept expired sessions"),
                Err(error) => tracing::warn!(%error, "sweeping expired sessions failed"),
            }
        }
    })
}
