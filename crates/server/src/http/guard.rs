//! The middleware in front of every API route: resolves the session (one store read),
//! enforces CSRF on unsafe methods, extends the idle expiry when due, and marks
//! cookie-setting responses `no-store`.

use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::{ApiError, AppState};
use crate::csrf::{is_unsafe, CsrfFailure};
use crate::session::ActiveSession;
use crate::time::Timestamp;
use trustyconvert_protocol::ErrorType;

/// The session of the request, if it carries a live one. Inserted by [`session_guard`].
#[derive(Debug, Clone)]
pub struct CurrentSession(pub Option<ActiveSession>);

impl<S: Send + Sync> FromRequestParts<S> for CurrentSession {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<CurrentSession>()
            .cloned()
            .ok_or_else(|| {
                tracing::error!("CurrentSession used on a route without the session guard");
                ApiError::internal()
            })
    }
}

/// Extractor for handlers that need a session: 401 `SessionValidationError` without one.
#[derive(Debug, Clone)]
pub struct RequireSession(pub ActiveSession);

impl<S: Send + Sync> FromRequestParts<S> for RequireSession {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match CurrentSession::from_request_parts(parts, state).await?.0 {
            Some(session) => Ok(Self(session)),
            None => {
                tracing::info!(
                    event = "session_rejected",
                    "request without a valid session"
                );
                Err(ApiError::no_session())
            }
        }
    }
}

/// The session and CSRF middleware. See the module docs.
pub async fn session_guard(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let now = Timestamp::now();
    let session = match state.sessions.resolve(request.headers(), now).await {
        Ok(session) => session,
        Err(error) => return error.into_response(),
    };
    if is_unsafe(request.method()) {
        match state
            .csrf
            .check(request.headers(), session.as_ref().map(|s| &s.record), now)
        {
            Ok(()) => {}
            Err(CsrfFailure::NoSession) => {
                tracing::warn!(
                    event = "session_rejected",
                    "unsafe request without a valid session"
                );
                return ApiError::no_session().into_response();
            }
            Err(CsrfFailure::Rejected(reason)) => {
                state.metrics.csrf_rejected(reason);
                tracing::warn!(
                    event = "csrf_rejected",
                    reason = reason.label(),
                    "CSRF check failed"
                );
                return ApiError::new(ErrorType::CSRFValidationError, reason.message())
                    .with_detail("reason", reason.label())
                    .into_response();
            }
        }
    }
    request.extensions_mut().insert(CurrentSession(session));
    let mut response = next.run(request).await;
    if response.headers().contains_key(header::SET_COOKIE) {
        response
            .headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}
