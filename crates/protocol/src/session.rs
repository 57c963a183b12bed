//! Session and health DTOs.

use serde::{Deserialize, Serialize};

/// The `data` of `GET /api/session/init` and `GET /api/session`.
///
/// `id` is a public handle of the session, never the secret cookie value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SessionInfo {
    /// Public handle of the session (safe to log and show).
    pub id: String,
    /// The current CSRF token; send it back in the `X-CSRF-Token` header.
    pub csrf_token: String,
    /// RFC 3339 UTC: the earlier of the idle and the absolute expiry.
    pub expires_at: String,
    /// Whole seconds from this answer until `expires_at`. Clients count it from when
    /// they sent the request, so a client clock hours off the server's changes nothing.
    pub expires_in: u64,
}

/// The `data` of `POST /api/session/csrf`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CsrfTokenResponse {
    /// The new CSRF token.
    pub csrf_token: String,
    /// RFC 3339 UTC expiry of the session the token belongs to.
    pub expires_at: String,
    /// Whole seconds from this answer until `expires_at` (see [`SessionInfo::expires_in`]).
    pub expires_in: u64,
}

/// The `data` of `POST /api/session/close`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CloseResponse {
    /// A human-readable confirmation.
    pub message: String,
}

/// The `data` of `GET /api/health`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HealthReport {
    /// `healthy`, `degraded` or `unhealthy`.
    pub status: String,
    /// The server version.
    pub version: String,
    /// Per-dependency health, keyed by service name (`store`, `storage`).
    pub services: std::collections::BTreeMap<String, ServiceHealth>,
    /// RFC 3339 UTC time of the check.
    pub timestamp: String,
}

/// The health of one dependency.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ServiceHealth {
    /// `healthy` or `unhealthy`.
    pub status: String,
    /// How long the probe took, in milliseconds.
    pub latency_ms: f64,
}
