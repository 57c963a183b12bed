//! The layer in front of the routes: resolves the session (one store read), enforces
//! CSRF on unsafe methods, extends the idle expiry when due, and marks cookie-setting
//! responses `no-store`; and the extractors handlers read its verdict with. A CSRF
//! rotation (`POST /api/session/csrf`) is resolved and rotated in the same store step,
//! so it too is one round trip.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::extract::{FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, Extensions, HeaderMap, HeaderValue, Method};
use axum::response::{IntoResponse, Response};
use tower::{Layer, Service};

use crate::csrf::{is_unsafe, CsrfFailure, CsrfReason};
use crate::error::ApiError;
use crate::http::arrival_scheme;
use crate::service::{ActiveSession, Rotation};
use crate::time::Timestamp;
use crate::Sessions;
use trustyconvert_protocol::{details, paths, ErrorType};

/// The session of the request, if it carries a live one. Inserted by [`SessionGuard`];
/// a route without the layer in front answers 500.
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

/// Extractor for handlers that change state: a live session whose request passed the
/// CSRF check — 401 `SessionValidationError` without a session, 403
/// `CSRFValidationError` without a valid token. The layer checks every unsafe method
/// (POST, PUT, PATCH, DELETE) itself; on a safe method this extractor runs the same
/// check.
#[derive(Debug, Clone)]
pub struct CsrfChecked(pub ActiveSession);

impl<S: Send + Sync> FromRequestParts<S> for CsrfChecked {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let RequireSession(mut session) = RequireSession::from_request_parts(parts, state).await?;
        if session.presented_csrf.is_some() {
            return Ok(Self(session));
        }
        let Some(sessions) = parts.extensions.get::<Sessions>() else {
            tracing::error!("CsrfChecked used on a route without the session layer");
            return Err(ApiError::internal());
        };
        let arrival = arrival_scheme(
            &parts.extensions,
            &parts.headers,
            &sessions.config().trusted_proxies,
        );
        match sessions.csrf().check(
            &parts.headers,
            arrival,
            Some(&session.record),
            Timestamp::now(),
        ) {
            Ok(nonce) => {
                session.presented_csrf = Some(nonce);
                Ok(Self(session))
            }
            Err(CsrfFailure::NoSession) => Err(ApiError::no_session()),
            Err(CsrfFailure::Rejected(reason)) => Err(rejected(sessions, reason)),
        }
    }
}

impl Sessions {
    /// The layer resolving each request's session and checking CSRF on unsafe
    /// methods. Put it around the routes (and [`router`](Self::router)).
    pub fn layer(&self) -> SessionLayer {
        SessionLayer::new(self.clone())
    }
}

/// Which requests the layer judges.
#[derive(Debug, Clone, Copy)]
enum Scope {
    /// Every request.
    All,
    /// Requests whose path is this prefix or below it.
    Under(&'static str),
}

impl Scope {
    /// Whether `path` is in scope: the prefix itself or a path below it, matched by a
    /// route or not, so no unsafe method on any such path (unknown routes and wrong
    /// methods included) skips the CSRF check.
    fn covers(self, path: &str) -> bool {
        match self {
            Self::All => true,
            Self::Under(prefix) => path
                .strip_prefix(prefix)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('/')),
        }
    }
}

/// Puts a [`SessionGuard`] in front of a service. Made by
/// [`Sessions::layer`](crate::Sessions::layer).
#[derive(Clone)]
pub struct SessionLayer {
    sessions: Sessions,
    scope: Scope,
}

impl SessionLayer {
    /// The layer over `sessions`, judging every request.
    pub fn new(sessions: Sessions) -> Self {
        Self {
            sessions,
            scope: Scope::All,
        }
    }

    /// Judges only requests under `prefix` (e.g. `/api`: the prefix itself and every
    /// path below it), and passes others (static files, metrics) through untouched.
    pub fn only_under(mut self, prefix: &'static str) -> Self {
        self.scope = Scope::Under(prefix);
        self
    }
}

impl<S> Layer<S> for SessionLayer {
    type Service = SessionGuard<S>;

    fn layer(&self, inner: S) -> SessionGuard<S> {
        SessionGuard {
            sessions: self.sessions.clone(),
            scope: self.scope,
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
    sessions: Sessions,
    scope: Scope,
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
        if !self.scope.covers(request.uri().path()) {
            return Box::pin(self.inner.call(request));
        }
        // The ready service goes into the future; a fresh clone stays for the next call.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let sessions = self.sessions.clone();
        Box::pin(async move {
            let request = match admit(sessions, request).await {
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
/// methods: the request with its [`CurrentSession`] (and the handle [`CsrfChecked`]
/// needs on safe methods), or the refusal to send.
async fn admit(sessions: Sessions, mut request: Request) -> Result<Request, Response> {
    let now = Timestamp::now();
    if request.method() == Method::POST
        && request.uri().path() == paths::SESSION_CSRF
        && sessions.serves_routes()
    {
        let rotated = admit_rotation(&sessions, request.headers(), request.extensions(), now).await;
        if let Some(rotated) = rotated {
            request
                .extensions_mut()
                .insert(CurrentSession(Some(rotated?)));
            return Ok(request);
        }
    }
    let mut session = sessions
        .service()
        .resolve(request.headers(), now)
        .await
        .map_err(IntoResponse::into_response)?;
    if is_unsafe(request.method()) {
        let arrival = arrival_scheme(
            request.extensions(),
            request.headers(),
            &sessions.config().trusted_proxies,
        );
        match sessions.csrf().check(
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
            Err(CsrfFailure::NoSession) => return Err(refused_without_session()),
            Err(CsrfFailure::Rejected(reason)) => {
                return Err(rejected(&sessions, reason).into_response());
            }
        }
    } else {
        request.extensions_mut().insert(sessions);
    }
    request.extensions_mut().insert(CurrentSession(session));
    Ok(request)
}

/// `POST /api/session/csrf`, where the session router serves it, in one store round
/// trip: the checks that need no session, the token's MAC against the cookie's
/// session, then the session resolved and its token rotated in one store step. The
/// rotated session, or the refusal the general path would give; `None` sends the
/// request down the general path instead, which answers anything refused before the
/// store (no session cookie, a bad origin or token) exactly as for any other unsafe
/// request.
async fn admit_rotation(
    sessions: &Sessions,
    headers: &HeaderMap,
    extensions: &Extensions,
    now: Timestamp,
) -> Option<Result<ActiveSession, Response>> {
    let secret = sessions.service().presented_secret(headers)?;
    let arrival = arrival_scheme(extensions, headers, &sessions.config().trusted_proxies);
    let token = sessions.csrf().presented_token(headers, arrival).ok()?;
    let key = secret.store_key();
    let presented = sessions.csrf().verify(&key, token).ok()?;
    Some(
        match sessions
            .service()
            .resolve_and_rotate(secret, &key, presented, now)
            .await
        {
            Ok(Rotation::Rotated(session)) => Ok(session),
            Ok(Rotation::NoSession) => Err(refused_without_session()),
            Ok(Rotation::StaleToken) => {
                Err(rejected(sessions, CsrfReason::StaleToken).into_response())
            }
            Err(error) => Err(error.into_response()),
        },
    )
}

/// Logs an unsafe request without a live session; the 401 to answer with.
fn refused_without_session() -> Response {
    tracing::warn!(
        event = "session_rejected",
        "unsafe request without a valid session"
    );
    ApiError::no_session().into_response()
}

/// Counts and logs a CSRF refusal; the 403 to answer with.
fn rejected(sessions: &Sessions, reason: CsrfReason) -> ApiError {
    sessions.events().csrf_rejected(reason);
    tracing::warn!(
        event = "csrf_rejected",
        reason = reason.label(),
        "CSRF check failed"
    );
    ApiError::new(ErrorType::CSRFValidationError, reason.message())
        .with_detail(details::REASON, reason.label())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_path_under_the_prefix_and_only_those_is_guarded() {
        let api = Scope::Under("/api");
        for path in ["/api", "/api/", "/api/session", "/api/nope/deeper"] {
            assert!(api.covers(path), "{path}");
        }
        for path in [
            "/",
            "/apis",
            "/api-docs",
            "/metrics",
            "/assets/api/x",
            "//api/x",
        ] {
            assert!(!api.covers(path), "{path}");
            assert!(Scope::All.covers(path), "{path}");
        }
    }
}
