//! `/api/session/*`: init, status, CSRF rotation, close.

use std::convert::Infallible;

use axum::extract::{FromRequestParts, State};
use axum::http::header::SET_COOKIE;
use axum::http::request::Parts;
use axum::http::{HeaderName, HeaderValue};
use axum::response::AppendHeaders;
use serde::Deserialize;
use trustyconvert_protocol::{CloseResponse, CsrfTokenResponse, SessionInfo};

use crate::csrf::Provenance;
use crate::http::{
    arrival_scheme, ApiError, ApiJson, ApiResult, AppState, ClientAddr, CurrentSession,
    RequireSession, ValidQuery,
};
use crate::session::ActiveSession;
use crate::storage::RateAction;
use crate::time::Timestamp;

/// Query of `GET /api/session/init`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InitParams {
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
pub struct FromThisSite(Result<(), &'static str>);

impl FromRequestParts<AppState> for FromThisSite {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Infallible> {
        let arrival = arrival_scheme(
            &parts.extensions,
            &parts.headers,
            &state.config.trusted_proxies,
        );
        Ok(Self(match state.csrf.provenance(&parts.headers, arrival) {
            Ok(Provenance::Proven) => Ok(()),
            Ok(Provenance::Unstated) => Err("no_origin_proof"),
            Err(reason) => Err(reason.label()),
        }))
    }
}

/// `GET /api/session/init`: returns the request's live session (extending it and
/// re-sending both cookies) or creates one; `?force=true` replaces it only when the
/// request proves it comes from this site (a plain link elsewhere must not be able to
/// destroy a visitor's session and files): otherwise it is a plain init.
#[utoipa::path(
    get,
    path = "/api/session/init",
    tag = "session",
    description = "Returns the request's live session (extending it and re-sending both cookies) or creates one. `force=true` replaces it only with proof of coming from the service's own origin (`Sec-Fetch-Site: same-origin` or `none`, or an `Origin` that is a public or allow-listed origin); otherwise it is a plain init.",
    params(("force" = Option<bool>, Query, description = "Replace the current session (only with proof of same origin).")),
    responses(
        (status = 200, description = "The session; both cookies are set.", body = crate::http::openapi::Success<SessionInfo>, headers(("set-cookie" = String, description = "The session and CSRF cookies."))),
        (status = 400, description = "ValidationError: an unknown or malformed query parameter.", body = crate::http::openapi::Failure),
        (status = 429, description = "RateLimitExceeded: too many new sessions from this address.", body = crate::http::openapi::Failure),
        (status = 503, description = "ServiceUnavailable: the store did not answer.", body = crate::http::openapi::Failure),
    ),
    security((), ("session_cookie" = []))
)]
pub async fn init(
    State(state): State<AppState>,
    CurrentSession(current): CurrentSession,
    FromThisSite(from_this_site): FromThisSite,
    client: ClientAddr,
    ValidQuery(params): ValidQuery<InitParams>,
) -> ApiResult<(SetCookies<2>, ApiJson<SessionInfo>)> {
    state.metrics.session_init_request();
    let now = Timestamp::now();
    let force = match (params.force, from_this_site) {
        (true, Ok(())) => true,
        (true, Err(reason)) => {
            tracing::warn!(
                event = "force_ignored",
                reason,
                session = current.as_ref().map(|s| tracing::field::display(&s.record.public_id)),
                "a request without proof of coming from this site asked to replace the session; treated as a plain init"
            );
            false
        }
        (false, _) => false,
    };
    // Only creating a session counts against the init rate limit; joining one is free.
    // A refused replacement leaves the old session as it was.
    let session = match current {
        Some(old) if force => {
            state.rate_limits.check(RateAction::Init, client).await?;
            state.sessions.close(&old.record.key).await?;
            tracing::info!(event = "session_replaced", old = %old.record.public_id, "forced re-initialization");
            create(&state, now).await?
        }
        Some(mut existing) => {
            if state.sessions.extend_now(&mut existing, now).await? {
                existing
            } else {
                // Closed by a concurrent request: never resurrect it, start a new one,
                // which counts like any other.
                state.rate_limits.check(RateAction::Init, client).await?;
                create(&state, now).await?
            }
        }
        None => {
            state.rate_limits.check(RateAction::Init, client).await?;
            create(&state, now).await?
        }
    };
    let info = state.sessions.info(&session.record, now);
    let cookies = set_cookies(
        state
            .sessions
            .issue_cookies(&session, &info.csrf_token, now),
    );
    Ok((cookies, ApiJson::ok(info)))
}

async fn create(state: &AppState, now: Timestamp) -> Result<ActiveSession, ApiError> {
    let session = state.sessions.create(now).await?;
    state.metrics.session_created();
    // Per-session lines are for debugging; operators count sessions in /metrics.
    tracing::debug!(event = "session_created", session = %session.record.public_id, "session created");
    Ok(session)
}

/// `GET /api/session`: the current session, or 401. Creates nothing.
///
/// It re-sends the CSRF cookie with the current token, so a client whose token was
/// rotated elsewhere can resynchronise header and cookie without a valid token (the
/// CSRF-recovery path of the client's `SessionManager`).
#[utoipa::path(
    get,
    path = "/api/session",
    tag = "session",
    description = "The current session; creates nothing. Re-sends the CSRF cookie with the current token.",
    responses(
        (status = 200, description = "The session.", body = crate::http::openapi::Success<SessionInfo>, headers(("set-cookie" = String, description = "The CSRF cookie."))),
        (status = 401, description = "SessionValidationError: no live session.", body = crate::http::openapi::Failure),
        (status = 503, description = "ServiceUnavailable: the store did not answer.", body = crate::http::openapi::Failure),
    ),
    security(("session_cookie" = []))
)]
pub async fn status(
    State(state): State<AppState>,
    RequireSession(session): RequireSession,
) -> (SetCookies<1>, ApiJson<SessionInfo>) {
    let now = Timestamp::now();
    let info = state.sessions.info(&session.record, now);
    let max_age = now.until(session.record.absolute_expires_at);
    let cookie = state
        .sessions
        .cookies()
        .issue_csrf(&info.csrf_token, max_age);
    (set_cookies([cookie]), ApiJson::ok(info))
}

/// `POST /api/session/csrf`: a new CSRF token; the old one keeps a grace window.
#[utoipa::path(
    post,
    path = "/api/session/csrf",
    tag = "session",
    description = "A new CSRF token; the previous one stays valid for the grace window.",
    responses(
        (status = 200, description = "The new token; the CSRF cookie is set.", body = crate::http::openapi::Success<CsrfTokenResponse>, headers(("set-cookie" = String, description = "The CSRF cookie."))),
        (status = 401, description = "SessionValidationError: no live session.", body = crate::http::openapi::Failure),
        (status = 403, description = "CSRFValidationError: `details.reason` says which check failed.", body = crate::http::openapi::Failure),
        (status = 503, description = "ServiceUnavailable: the store did not answer.", body = crate::http::openapi::Failure),
    ),
    security(("session_cookie" = [], "csrf_token" = []))
)]
pub async fn rotate_csrf(
    State(state): State<AppState>,
    RequireSession(mut session): RequireSession,
) -> ApiResult<(SetCookies<1>, ApiJson<CsrfTokenResponse>)> {
    let now = Timestamp::now();
    if !state.sessions.rotate_csrf(&mut session, now).await? {
        return Err(ApiError::no_session());
    }
    let token = state.sessions.csrf_token(&session.record);
    let cookie = state
        .sessions
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
#[utoipa::path(
    post,
    path = "/api/session/close",
    tag = "session",
    description = "Ends the session with its jobs, files and download links; expires both cookies.",
    responses(
        (status = 200, description = "Closed; both cookies are expired.", body = crate::http::openapi::Success<CloseResponse>, headers(("set-cookie" = String, description = "Both cookies, expired."))),
        (status = 401, description = "SessionValidationError: no live session.", body = crate::http::openapi::Failure),
        (status = 403, description = "CSRFValidationError: `details.reason` says which check failed.", body = crate::http::openapi::Failure),
        (status = 503, description = "ServiceUnavailable: the store did not answer.", body = crate::http::openapi::Failure),
    ),
    security(("session_cookie" = [], "csrf_token" = []))
)]
pub async fn close(
    State(state): State<AppState>,
    RequireSession(session): RequireSession,
) -> ApiResult<(SetCookies<2>, ApiJson<CloseResponse>)> {
    state.sessions.close(&session.record.key).await?;
    state.metrics.session_closed();
    tracing::info!(event = "session_closed", session = %session.record.public_id, "session closed");
    let body = CloseResponse {
        message: "Session closed.".to_owned(),
    };
    Ok((
        set_cookies(state.sessions.cookies().expire()),
        ApiJson::ok(body),
    ))
}
