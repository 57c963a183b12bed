//! Per-client rate limits of the conversion routes as route layers, counted through
//! the session layer's [`RateLimits`](trustyconvert_session::RateLimits) in the
//! storage backend's counters (the memory and embedded backends keep them in the
//! process), so a backend shared by several instances counts across them. A counter
//! that cannot be read is a 503, never a request let through uncounted. Session
//! creation is limited by the session layer.

use axum::extract::{FromRequestParts, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use trustyconvert_session::http::ClientAddr;
use trustyconvert_session::store::RateAction;

use super::AppState;

/// Uploading a file.
pub const UPLOAD: RateAction = RateAction::named("upload");
/// Asking for a conversion.
pub const CONVERT: RateAction = RateAction::named("convert");
/// Asking for a download token or downloading.
pub const DOWNLOAD: RateAction = RateAction::named("download");

/// The layer state: the app, what this layer limits and how often it may happen.
#[derive(Clone)]
pub struct Limited {
    state: AppState,
    action: RateAction,
    per_minute: u32,
}

impl Limited {
    /// Limits `action` to `per_minute` requests per client (`0`: unlimited) on every
    /// request of the route.
    pub fn every(state: &AppState, action: RateAction, per_minute: u32) -> Self {
        Self {
            state: state.clone(),
            action,
            per_minute,
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
        .sessions
        .rate_limits()
        .check(limited.action, limited.per_minute, client)
        .await
    {
        return error.into_response();
    }
    next.run(Request::from_parts(parts, body)).await
}
