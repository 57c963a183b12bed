//! Per-client rate limits as route layers. The counters belong to the storage backend
//! (`RateLimitStore`; the memory and embedded backends keep them in the process), so a
//! backend shared by several instances can count across them. A counter that cannot be
//! read is a 503, never a request let through uncounted.

use std::num::NonZeroU32;
use std::sync::Arc;

use axum::extract::{FromRequestParts, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use trustyconvert_protocol::ErrorType;

use super::{ApiError, AppState, ClientAddr};
use crate::config::RateLimitConfig;
use crate::storage::{RateAction, RateVerdict, Storage};

/// The configured limits over the storage's counters. Cheap to clone.
#[derive(Clone)]
pub struct RateLimits {
    storage: Arc<dyn Storage>,
    config: RateLimitConfig,
}

impl RateLimits {
    /// Limits as configured, counted in `storage`.
    pub fn new(storage: Arc<dyn Storage>, config: RateLimitConfig) -> Self {
        Self { storage, config }
    }

    fn per_minute(&self, action: RateAction) -> Option<NonZeroU32> {
        NonZeroU32::new(match action {
            RateAction::Init => self.config.init_per_minute,
            RateAction::Upload => self.config.upload_per_minute,
            RateAction::Convert => self.config.convert_per_minute,
            RateAction::Download => self.config.download_per_minute,
        })
    }

    /// Counts one `action` by `client`: 429 `RateLimitExceeded` with `Retry-After`
    /// when over its limit.
    pub async fn check(&self, action: RateAction, client: ClientAddr) -> Result<(), ApiError> {
        let Some(per_minute) = self.per_minute(action) else {
            return Ok(());
        };
        match self
            .storage
            .check_rate(action, client.0, per_minute)
            .await?
        {
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

/// The layer state: the app and what this layer limits.
#[derive(Clone)]
pub struct Limited {
    state: AppState,
    action: RateAction,
}

impl Limited {
    /// Limits `action` on every request of the route.
    pub fn every(state: &AppState, action: RateAction) -> Self {
        Self {
            state: state.clone(),
            action,
        }
    }
}

/// The middleware: counts the request, answers 429 (or 503) instead of running the
/// handler when it may not pass.
pub async fn enforce(State(limited): State<Limited>, request: Request, next: Next) -> Response {
    let (mut parts, body) = request.into_parts();
    let client = match ClientAddr::from_request_parts(&mut parts, &limited.state).await {
        Ok(client) => client,
        Err(error) => return error.into_response(),
    };
    if let Err(error) = limited
        .state
        .rate_limits
        .check(limited.action, client)
        .await
    {
        return error.into_response();
    }
    next.run(Request::from_parts(parts, body)).await
}
