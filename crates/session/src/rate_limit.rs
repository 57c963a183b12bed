//! Per-client rate limits over the store's counters. A counter that cannot be read is
//! a 503, never a request let through uncounted.

use std::num::NonZeroU32;
use std::sync::Arc;

use trustyconvert_protocol::ErrorType;

use crate::error::ApiError;
use crate::http::ClientAddr;
use crate::store::{RateAction, RateLimitStore, RateVerdict};

/// Counts actions per client in a [`RateLimitStore`]. Cheap to clone.
#[derive(Clone)]
pub struct RateLimits {
    store: Arc<dyn RateLimitStore>,
}

impl RateLimits {
    /// Limits counted in `store`.
    pub fn new(store: Arc<dyn RateLimitStore>) -> Self {
        Self { store }
    }

    /// Counts one `action` by `client` against `per_minute` (`0`: unlimited): 429
    /// `RateLimitExceeded` with `Retry-After` when over it, 503 when the counter cannot
    /// be read.
    pub async fn check(
        &self,
        action: RateAction,
        per_minute: u32,
        client: ClientAddr,
    ) -> Result<(), ApiError> {
        let Some(per_minute) = NonZeroU32::new(per_minute) else {
            return Ok(());
        };
        match self.store.check_rate(action, client.0, per_minute).await? {
            RateVerdict::Allowed => Ok(()),
            RateVerdict::Limited { retry_after } => {
                let seconds = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
                tracing::info!(
                    event = "rate_limited",
                    action = action.name(),
                    "request over the rate limit"
                );
                Err(ApiError::new(
                    ErrorType::RateLimitExceeded,
                    "Too many requests. Please wait a moment and try again.",
                )
                .with_retry_after(seconds.max(1)))
            }
        }
    }
}
