//! Per-client-IP rate limits on upload, convert and download (governor's GCRA).

use std::net::IpAddr;
use std::num::NonZeroU32;

use governor::clock::{Clock as _, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use trustyconvert_protocol::ErrorType;

use crate::error::ApiError;

/// Requests per minute per client IP; `0` disables a limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimitConfig {
    /// New sessions (`GET /api/session/init` without a live session, or forced).
    pub init_per_minute: u32,
    /// `POST /api/upload`.
    pub upload_per_minute: u32,
    /// `POST /api/convert`.
    pub convert_per_minute: u32,
    /// `GET /api/download`.
    pub download_per_minute: u32,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        Self {
            init_per_minute: 120,
            upload_per_minute: 300,
            convert_per_minute: 300,
            download_per_minute: 600,
        }
    }
}

/// One limited action.
pub struct Limit {
    limiter: Option<DefaultKeyedRateLimiter<IpAddr>>,
}

impl Limit {
    fn per_minute(requests: u32) -> Self {
        let limiter = NonZeroU32::new(requests).map(|n| RateLimiter::keyed(Quota::per_minute(n)));
        Self { limiter }
    }

    /// Counts one request from `ip`; 429 `RateLimitExceeded` with `Retry-After` when over.
    pub fn check(&self, ip: IpAddr) -> Result<(), ApiError> {
        let Some(limiter) = &self.limiter else {
            return Ok(());
        };
        limiter.check_key(&ip).map_err(|not_until| {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            tracing::info!(event = "rate_limited", "request over the rate limit");
            ApiError::new(
                ErrorType::RateLimitExceeded,
                "Too many requests. Please wait a moment and try again.",
            )
            .with_retry_after(seconds.max(1))
        })
    }

    fn forget_idle(&self) {
        if let Some(limiter) = &self.limiter {
            limiter.retain_recent();
        }
    }
}

/// The three limits.
pub struct RateLimits {
    /// New sessions.
    pub init: Limit,
    /// Uploads.
    pub upload: Limit,
    /// Conversions.
    pub convert: Limit,
    /// Downloads.
    pub download: Limit,
}

impl RateLimits {
    /// Limits as configured.
    pub fn new(config: RateLimitConfig) -> Self {
        Self {
            init: Limit::per_minute(config.init_per_minute),
            upload: Limit::per_minute(config.upload_per_minute),
            convert: Limit::per_minute(config.convert_per_minute),
            download: Limit::per_minute(config.download_per_minute),
        }
    }

    /// Drops state of clients that are back under their limits (bounded memory).
    pub fn forget_idle(&self) {
        self.init.forget_idle();
        self.upload.forget_idle();
        self.convert.forget_idle();
        self.download.forget_idle();
    }
}
