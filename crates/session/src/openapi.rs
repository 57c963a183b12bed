//! The pieces of an OpenAPI document the session layer's answers are described with
//! (feature `openapi`): the two envelopes and the two credentials. The routes' own
//! description is [`SessionApi`](crate::SessionApi).

use serde::Serialize;
use trustyconvert_protocol::{ErrorBody, CSRF_HEADER, DEFAULT_SESSION_COOKIE};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityScheme};
use utoipa::{Modify, ToSchema};

/// A successful envelope: `success` is `true`, the payload is in `data`.
#[derive(Serialize, ToSchema)]
pub struct Success<T> {
    /// Always `true`.
    pub success: bool,
    /// The payload.
    pub data: T,
    /// The request's id, also in the `X-Correlation-ID` header.
    pub correlation_id: String,
}

/// A failed envelope: `success` is `false`, the error is in `error`.
#[derive(Serialize, ToSchema)]
pub struct Failure {
    /// Always `false`.
    pub success: bool,
    /// What went wrong; `type` is machine-readable, `message` is for people.
    pub error: ErrorBody,
    /// The request's id, also in the `X-Correlation-ID` header.
    pub correlation_id: String,
}

/// Adds the two credentials: the session cookie and the CSRF header.
pub struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "session_cookie",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                DEFAULT_SESSION_COOKIE,
                "The session cookie set by GET /api/session/init (its name is configurable).",
            ))),
        );
        components.add_security_scheme(
            "csrf_token",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                CSRF_HEADER,
                "The session's CSRF token, equal to the CSRF cookie; required on every unsafe request.",
            ))),
        );
    }
}
