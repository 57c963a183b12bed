//! Rate-limit counters kept in this process (governor's GCRA, keyed by client
//! address), used by the backends whose state belongs to one process: memory and the
//! embedded database (its file is opened by one server at a time).

use std::collections::HashMap;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};

use governor::clock::{Clock as _, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use super::{RateAction, RateVerdict};

type Limiter = Arc<DefaultKeyedRateLimiter<IpAddr>>;

/// One limiter per action, created on first use with the quota it is asked about.
#[derive(Default)]
pub struct LocalRates {
    limiters: Mutex<HashMap<RateAction, (NonZeroU32, Limiter)>>,
}

impl std::fmt::Debug for LocalRates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalRates").finish_non_exhaustive()
    }
}

impl LocalRates {
    fn limiter(&self, action: RateAction, per_minute: NonZeroU32) -> Limiter {
        let mut limiters = self.limiters.lock().unwrap_or_else(|p| p.into_inner());
        let entry = limiters.entry(action).or_insert_with(|| {
            (
                per_minute,
                Arc::new(RateLimiter::keyed(Quota::per_minute(per_minute))),
            )
        });
        if entry.0 != per_minute {
            *entry = (
                per_minute,
                Arc::new(RateLimiter::keyed(Quota::per_minute(per_minute))),
            );
        }
        Arc::clone(&entry.1)
    }

    /// Counts one request.
    pub fn check(&self, action: RateAction, client: IpAddr, per_minute: NonZeroU32) -> RateVerdict {
        match self.limiter(action, per_minute).check_key(&client) {
            Ok(()) => RateVerdict::Allowed,
            Err(not_until) => RateVerdict::Limited {
                retry_after: not_until.wait_time_from(DefaultClock::default().now()),
            },
        }
    }

    /// Drops the state of clients back under their limits.
    pub fn forget_idle(&self) {
        let limiters: Vec<_> = self
            .limiters
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .map(|(_, limiter)| Arc::clone(limiter))
            .collect();
        for limiter in limiters {
            limiter.retain_recent();
        }
    }
}
