//! Counters of the network calls a `SessionManager` made, by kind.

use std::sync::atomic::{AtomicU64, Ordering};

/// A snapshot of the network calls made so far. Every attempt counts, including
/// retries and calls that failed in transit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NetworkCounts {
    /// `GET /api/session/init` requests.
    pub init_requests: u64,
    /// `GET /api/session` requests made to adopt an existing session (sync first).
    pub sync_requests: u64,
    /// `GET /api/session` requests made to recover from a CSRF rejection.
    pub csrf_refreshes: u64,
    /// `POST /api/session/csrf` requests (explicit rotations).
    pub csrf_rotations: u64,
    /// Requests sent again after a recovery (403 refresh or 401 re-init).
    pub replays: u64,
    /// API requests sent through the [`crate::ApiClient`], replays included.
    pub api_requests: u64,
}

#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub init_requests: AtomicU64,
    pub sync_requests: AtomicU64,
    pub csrf_refreshes: AtomicU64,
    pub csrf_rotations: AtomicU64,
    pub replays: AtomicU64,
    pub api_requests: AtomicU64,
}

impl Counters {
    pub fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> NetworkCounts {
        let read = |c: &AtomicU64| c.load(Ordering::Relaxed);
        NetworkCounts {
            init_requests: read(&self.init_requests),
            sync_requests: read(&self.sync_requests),
            csrf_refreshes: read(&self.csrf_refreshes),
            csrf_rotations: read(&self.csrf_rotations),
            replays: read(&self.replays),
            api_requests: read(&self.api_requests),
        }
    }
}
