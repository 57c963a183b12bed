//! The session routes (nested at `/api/session` by the applications this crate
//! serves): init, status, CSRF rotation, close.

use std::convert::Infallible;

use axum::extract::{FromRequestParts, State};
use axum::http::header::SET_COOKIE;
use axum::http::request::Parts;
use axum::http::{HeaderName, HeaderValue};
use axum::response::AppendHeaders;
use axum::routing::{get, post};
use axum::Router;
use serde::Deserialize;
use trustyconvert_protocol::{paths, CloseResponse, CsrfTokenResponse, SessionInfo};

use crate::csrf::Provenance;
use crate::error::{ApiError, ApiJson, ApiResult};
use crate::http::{arrival_scheme, ClientAddr, ValidQuery};
use crate::init::InitRequest;
use crate::layer::{CurrentSession, RequireSession};
#[cfg(feature = "openapi")]
use crate::openapi::{Failure, SecuritySchemes};
use crate::time::Timestamp;
use crate::Sessions;

/// A session route's path relative to [`paths::SESSION`], where the routes are nested.
const fn relative(path: &'static str) -> &'static str {
    let (_, rest) = path.split_at(paths::SESSION.len());
    rest
}

/// The routes, relative to where they are nested; their state is the [`Sessions`].
fn router() -> Router<Sessions> {
    Router::new()
        // Init counts against its rate limit in the handler: only when it creates a
        // session.
        .route(relative(paths::SESSION_INIT), get(init))
        .route("/", get(status))
        .route(relative(paths::SESSION_CSRF), post(rotate_csrf))
        .route(relative(paths::SESSION_CLOSE), post(close))
}

/// The same routes at their full paths (`/api/session/...`), to merge.
fn absolute_router() -> Router<Sessions> {
    Router::new()
        .route(paths::SESSION_INIT, get(init))
        .route(paths::SESSION, get(status))
        .route(paths::SESSION_CSRF, post(rotate_csrf))
        .route(paths::SESSION_CLOSE, post(close))
}

impl Sessions {
    /// The session routes, to nest where the client expects them (`/api/session`):
    /// `GET /init`, `GET /`, `POST /csrf`, `POST /close`. The init route's rate limit
    /// counts per client address, so serve the application with
    /// `into_make_service_with_connect_info::<SocketAddr>()` (without it, init
    /// answers 500).
    pub fn router<S: Clone + Send + Sync + 'static>(&self) -> Router<S> {
        self.mark_routes_served();
        router().with_state(self.clone())
    }

    /// The same routes at the paths the clients use (`/api/session/init`, …), to
    /// [`merge`](Router::merge) into an application's router: no nesting, so no URI
    /// rewrite on each request (the converter mounts them this way).
    pub fn routes<S: Clone + Send + Sync + 'static>(&self) -> Router<S> {
        self.mark_routes_served();
        absolute_router().with_state(self.clone())
    }
}

/// Query of `GET /api/session/init`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct InitParams {
    /// Always create a new session and delete the old one.
    #[serde(default)]
    force: bool,
}

/// `Set-Cookie` headers appended to the response as they are (no intermediate map).
type SetCookies<const N: usize> = AppendHeaders<[(HeaderName, HeaderValue); N]>;

fn set_cookies<const N: usize>(values: [HeaderValue; N]) -> SetCookies<N> {
    AppendHeaders(values.map(|value| (SET_COOKIE, value)))
}

/// Whether the request proves it comes from this site (or an allow-listed one), by
/// the origin check of CSRF: `Ok(())`, or why not. Read from the headers in place (a
/// `HeaderMap` extractor would copy them all).
///
/// Only positive proof counts: fetch metadata `same-origin`/`none`, or a matching
/// `Origin`. A request with neither (a cross-site link in a browser that sends no
/// fetch metadata, whatever its `Referer`) is not from this site.
struct FromThisSite(Result<(), &'static str>);

impl FromRequestParts<Sessions> for FromThisSite {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &Sessions) -> Result<Self, Infallible> {
        let arrival = arrival_scheme(
            &parts.extensions,
            &parts.headers,
            &state.config().trusted_proxies,
        );
        Ok(Self(
            match state.csrf().provenance(&parts.headers, arrival) {
                Ok(Provenance::Proven) => Ok(()),
                Ok(Provenance::Unstated) => Err("no_origin_proof"),
                Err(reason) => Err(reason.label()),
            },
        ))
    }
}

/// `GET /api/session/init`: returns the request's live session (extending it and
/// re-sending both cookies) or creates one; `?force=true` replaces it only when the
/// request proves it comes from this site (a plain link elsewhere must not be able to
/// destroy a visitor's session and files): otherwise it is a plain init.
#[cfg_attr(feature = "openapi", utoipa::path(
    get,
    path = paths::SESSION_INIT,
    tag = "session",
    description = "Returns the request's live session (extending it and re-sending both cookies) or creates one. `force=true` replaces it only with proof of coming from the service's own origin (`Sec-Fetch-Site: same-origin` or `none`, or an `Origin` that is a public or allow-listed origin); otherwise it is a plain init.",
    params(("force" = Option<bool>, Query, description = "Replace the current session (only with proof of same origin).")),
    responses(
        (status = 200, description = "The session; both cookies are set.", body = crate::openapi::Success<SessionInfo>, headers(("set-cookie" = String, description = "The session and CSRF cookies."))),
        (status = 400, description = "ValidationError: an unknown or malformed query parameter.", body = crate::openapi::Failure),
        (status = 429, description = "RateLimitExceeded: too many new sessions from this address.", body = crate::openapi::Failure),
        (status = 503, description = "ServiceUnavailable: the store did not answer.", body = crate::openapi::Failure),
    ),
    security((), ("session_cookie" = []))
))]
async fn init(
    State(state): State<Sessions>,
    CurrentSession(current): CurrentSession,
    FromThisSite(from_this_site): FromThisSite,
    client: ClientAddr,
    ValidQuery(params): ValidQuery<InitParams>,
) -> ApiResult<(SetCookies<2>, ApiJson<SessionInfo>)> {
    state.events().init_requested();
    let now = Timestamp::now();
    let request = InitRequest {
        current,
        force: params.force,
        proof_of_origin: from_this_site,
        client,
    };
    let session = state.initialize(request, now).await?;
    let info = state.service().info(&session.record, now);
    let cookies = set_cookies(
        state
            .service()
            .issue_cookies(&session, &info.csrf_token, now),
    );
    Ok((cookies, ApiJson::ok(info)))
}

/// `GET /api/session`: the current session, or 401. Creates nothing.
///
/// It re-sends the CSRF cookie with the current token, so a client whose token was
/// rotated elsewhere can resynchronise header and cookie without a valid token (the
/// CSRF-recovery path of the client's `SessionManager`).
#[cfg_attr(feature = "openapi", utoipa::path(
    get,
    path = paths::SESSION,
    tag = "session",
    description = "The current session; creates nothing. Re-sends the CSRF cookie with the current token.",
    responses(
        (status = 200, description = "The session.", body = crate::openapi::Success<SessionInfo>, headers(("set-cookie" = String, description = "The CSRF cookie."))),
        (status = 401, description = "SessionValidationError: no live session.", body = crate::openapi::Failure),
        (status = 503, description = "ServiceUnavailable: the store did not answer.", body = crate::openapi::Failure),
    ),
    security(("session_cookie" = []))
))]
async fn status(
    State(state): State<Sessions>,
    RequireSession(session): RequireSession,
) -> (SetCookies<1>, ApiJson<SessionInfo>) {
    let now = Timestamp::now();
    let info = state.service().info(&session.record, now);
    let max_age = now.until(session.record.absolute_expires_at);
    let cookie = state
        .service()
        .cookies()
        .issue_csrf(&info.csrf_token, max_age);
    (set_cookies([cookie]), ApiJson::ok(info))
}

/// `POST /api/session/csrf`: a new CSRF token; the old one keeps a grace window.
#[cfg_attr(feature = "openapi", utoipa::path(
    post,
    path = paths::SESSION_CSRF,
    tag = "session",
    description = "A new CSRF token; the previous one stays valid for the grace window.",
    responses(
        (status = 200, description = "The new token; the CSRF cookie is set.", body = crate::openapi::Success<CsrfTokenResponse>, headers(("set-cookie" = String, description = "The CSRF cookie."))),
        (status = 401, description = "SessionValidationError: no live session.", body = crate::openapi::Failure),
        (status = 403, description = "CSRFValidationError: `details.reason` says which check failed.", body = crate::openapi::Failure),
        (status = 503, description = "ServiceUnavailable: the store did not answer.", body = crate::openapi::Failure),
    ),
    security(("session_cookie" = [], "csrf_token" = []))
))]
async fn rotate_csrf(
    State(state): State<Sessions>,
    RequireSession(mut session): RequireSession,
) -> ApiResult<(SetCookies<1>, ApiJson<CsrfTokenResponse>)> {
    let now = Timestamp::now();
    if !state.service().rotate_csrf(&mut session, now).await? {
        return Err(ApiError::no_session());
    }
    let token = state.service().csrf_token(&session.record);
    let cookie = state
        .service()
        .cookies()
        .issue_csrf(&token, now.until(session.record.absolute_expires_at));
    tracing::debug!(event = "csrf_rotated", session = %session.record.public_id, "CSRF token rotated");
    let body = CsrfTokenResponse {
        csrf_token: token,
        expires_at: session.record.expires_at().to_rfc3339(),
        expires_in: now.until(session.record.expires_at()).as_secs(),
    };
    Ok((set_cookies([cookie]), ApiJson::ok(body)))
}

/// `POST /api/session/close`: deletes the session and expires both cookies.
#[cfg_attr(feature = "openapi", utoipa::path(
    post,
    path = paths::SESSION_CLOSE,
    tag = "session",
    description = "Ends the session (and, through the hooks, what the application keeps with it); expires both cookies.",
    responses(
        (status = 200, description = "Closed; both cookies are expired.", body = crate::openapi::Success<CloseResponse>, headers(("set-cookie" = String, description = "Both cookies, expired."))),
        (status = 401, description = "SessionValidationError: no live session.", body = crate::openapi::Failure),
        (status = 403, description = "CSRFValidationError: `details.reason` says which check failed.", body = crate::openapi::Failure),
        (status = 503, description = "ServiceUnavailable: the store did not answer.", body = crate::openapi::Failure),
    ),
    security(("session_cookie" = [], "csrf_token" = []))
))]
async fn close(
    State(state): State<Sessions>,
    RequireSession(session): RequireSession,
) -> ApiResult<(SetCookies<2>, ApiJson<CloseResponse>)> {
    state.service().close(&session.record.key).await?;
    state.events().session_closed();
    tracing::info!(event = "session_closed", session = %session.record.public_id, "session closed");
    let body = CloseResponse {
        message: "Session closed.".to_owned(),
    };
    Ok((
        set_cookies(state.service().cookies().expire()),
        ApiJson::ok(body),
    ))
}

/// The OpenAPI description of the session routes, their answers and the two
/// credentials (feature `openapi`): merge it into an application's document. The
/// paths assume the routes are nested at `/api/session`.
///
/// ```
/// use utoipa::OpenApi;
/// let document = trustyconvert_session::SessionApi::openapi();
/// assert!(document.paths.paths.contains_key("/api/session/init"));
/// ```
#[cfg(feature = "openapi")]
#[derive(utoipa::OpenApi)]
#[openapi(
    paths(
        init,
        status,
        rotate_csrf,
        close,
    ),
    components(schemas(
        Failure,
        trustyconvert_protocol::ErrorBody,
        trustyconvert_protocol::ErrorType,
        SessionInfo,
        CsrfTokenResponse,
        CloseResponse,
    )),
    modifiers(&SecuritySchemes)
)]
pub struct SessionApi;
