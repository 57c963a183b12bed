//! The middleware in front of every API route: resolves the session (one store read),
//! enforces CSRF on unsafe methods, extends the idle expiry when due, and marks
//! cookie-setting responses `no-store`.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::extract::{FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use tower::{Layer, Service};

use super::{arrival_scheme, ApiError, AppState};
use crate::csrf::{is_unsafe, CsrfFailure};
use crate::session::ActiveSession;
use crate::time::Timestamp;
use trustyconvert_protocol::ErrorType;

/// The session of the request, if it carries a live one. Inserted by [`SessionGuard`].
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

/// Whether `path` is an API path: every one is guarded, matched by a route or not, so
/// no unsafe method on any API path (unknown routes and wrong methods included) skips
/// the CSRF check. The UI's files and `/metrics` are not.
fn is_api_path(path: &str) -> bool {
    path.strip_prefix("/api")
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

/// Puts a [`SessionGuard`] in front of a service.
#[derive(Clone)]
pub struct SessionGuardLayer {
    state: AppState,
}

impl SessionGuardLayer {
    /// The guard over `state`'s sessions and CSRF checker.
    pub fn new(state: AppState) -> Self {
        Self { state }
    }
}

impl<S> Layer<S> for SessionGuardLayer {
    type Service = SessionGuard<S>;

    fn layer(&self, inner: S) -> SessionGuard<S> {
        SessionGuard {
            state: self.state.clone(),
            inner,
        }
    }
}

/// The session and CSRF guard in front of the router. See the module docs.
///
/// A hand-written service in front of the whole router rather than
/// `axum::middleware::from_fn` on every route: a route layer clones the boxed route
/// and boxes the next service on every request; this boxes only the guarded future.
#[derive(Clone)]
pub struct SessionGuard<S> {
    state: AppState,
    inner: S,
}

impl<S> Service<Request> for SessionGuard<S>
where
    S: Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        if !is_api_path(request.uri().path()) {
            return Box::pin(self.inner.call(request));
        }
        // The ready service goes into the future; a fresh clone stays for the next call.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let state = self.state.clone();
        Box::pin(async move {
            let request = match admit(&state, request).await {
                Ok(request) => request,
                Err(refusal) => return Ok(refusal),
            };
            let mut response = inner.call(request).await?;
            if response.headers().contains_key(header::SET_COOKIE) {
                response
                    .headers_mut()
                    .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            }
            Ok(response)
        })
    }
}

/// Resolves the request's session (one store read) and checks CSRF on unsafe
/// methods: the request with its [`CurrentSession`], or the refusal to send.
async fn admit(state: &AppState, mut request: Request) -> Result<Request, Response> {
    let now = Timestamp::now();
    let mut session = state
        .sessions
        .resolve(request.headers(), now)
        .await
        .map_err(IntoResponse::into_response)?;
    if is_unsafe(request.method()) {
        let arrival = arrival_scheme(
            request.extensions(),
            request.headers(),
            &state.config.trusted_proxies,
        );
        match state.csrf.check(
            request.headers(),
            arrival,
            session.as_ref().map(|s| &s.record),
            now,
        ) {
            Ok(nonce) => {
                if let Some(session) = session.as_mut() {
                    session.presented_csrf = Some(nonce);
                }
            }
            Err(CsrfFailure::NoSession) => {
                tracing::warn!(
                    event = "session_rejected",
                    "unsafe request without a valid session"
                );
                return Err(ApiError::no_session().into_response());
            }
            Err(CsrfFailure::Rejected(reason)) => {
                state.metrics.csrf_rejected(reason);
                tracing::warn!(
                    event = "csrf_rejected",
                    reason = reason.label(),
                    "CSRF check failed"
                );
                return Err(
                    ApiError::new(ErrorType::CSRFValidationError, reason.message())
                        .with_detail("reason", reason.label())
                        .into_response(),
                );
            }
        }
    }
    request.extensions_mut().insert(CurrentSession(session));
    Ok(request)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_api_path_and_only_those_is_guarded() {
        for path in ["/api", "/api/", "/api/session", "/api/nope/deeper"] {
            assert!(is_api_path(path), "{path}");
        }
        for path in [
            "/",
            "/apis",
            "/api-docs",
            "/metrics",
            "/assets/api/x",
            "//api/x",
        ] {
            assert!(!is_api_path(path), "{path}");
        }
    }
}
