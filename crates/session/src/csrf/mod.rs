//! The CSRF defence for unsafe requests: origin check, content-type check, then the
//! double-submit token that must also be HMAC-bound to the current session.

mod origin;

use axum::http::{header, HeaderMap, Method};

pub use crate::origin::{Origin, Scheme};
pub use origin::{OriginRules, Provenance, PublicOrigins};

use crate::cookies::find_cookie;
use crate::crypto::{constant_time_eq, Keyring, SessionKey, TokenFault, CSRF_NONCE_BYTES};
use crate::store::{CsrfState, SessionRecord};
use crate::time::Timestamp;
use trustyconvert_protocol::CSRF_HEADER;

/// Why an unsafe request was refused with 403. The label is the metrics `reason`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CsrfReason {
    /// `Sec-Fetch-Site` says cross-site (or same-site) and the origin is not allow-listed.
    CrossSite,
    /// No fetch metadata and an `Origin` that is neither a public origin of the
    /// service (scheme, host and port) nor allow-listed.
    OriginMismatch,
    /// `Origin: null`.
    NullOrigin,
    /// A content type a cross-site HTML form can send (`text/plain`, urlencoded).
    FormContentType,
    /// No `X-CSRF-Token` header (or an empty one).
    MissingToken,
    /// The header does not equal the CSRF cookie (or there is no cookie).
    TokenMismatch,
    /// The token is not of the shape this server issues.
    MalformedToken,
    /// The MAC does not verify for this session under any server key.
    BadSignature,
    /// Authentic, but rotated away (outside the grace window).
    StaleToken,
}

impl CsrfReason {
    /// Every reason, in metrics order.
    pub const ALL: [CsrfReason; 9] = [
        Self::CrossSite,
        Self::OriginMismatch,
        Self::NullOrigin,
        Self::FormContentType,
        Self::MissingToken,
        Self::TokenMismatch,
        Self::MalformedToken,
        Self::BadSignature,
        Self::StaleToken,
    ];

    /// The metrics label and `details.reason` of the error.
    pub const fn label(self) -> &'static str {
        match self {
            Self::CrossSite => "cross_site",
            Self::OriginMismatch => "origin_mismatch",
            Self::NullOrigin => "origin_null",
            Self::FormContentType => "content_type",
            Self::MissingToken => "missing_token",
            Self::TokenMismatch => "token_mismatch",
            Self::MalformedToken => "malformed_token",
            Self::BadSignature => "bad_signature",
            Self::StaleToken => "stale_token",
        }
    }

    /// A message a person can act on.
    pub const fn message(self) -> &'static str {
        match self {
            Self::CrossSite | Self::OriginMismatch | Self::NullOrigin => {
                "This request came from a site that is not allowed to use this service."
            }
            Self::FormContentType => "This content type is not accepted here.",
            Self::MissingToken => "The security token is missing. Reload the page and try again.",
            Self::TokenMismatch | Self::MalformedToken | Self::BadSignature | Self::StaleToken => {
                "The security token is invalid or has expired. Reload the page and try again."
            }
        }
    }
}

/// The outcome of a failed CSRF check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CsrfFailure {
    /// 403 for this reason.
    Rejected(CsrfReason),
    /// The token looks right but there is no live session to bind it to: 401.
    NoSession,
}

impl From<CsrfReason> for CsrfFailure {
    fn from(reason: CsrfReason) -> Self {
        Self::Rejected(reason)
    }
}

/// Whether `method` must pass the CSRF check (everything but GET, HEAD, OPTIONS, TRACE).
pub fn is_unsafe(method: &Method) -> bool {
    !matches!(
        *method,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE
    )
}

/// What the CSRF check needs to know about the server; built once at startup.
#[derive(Clone)]
pub struct CsrfPolicy {
    origins: OriginRules,
    cookie_name: String,
    keyring: Keyring,
}

impl CsrfPolicy {
    /// A policy judging origins by `origins`, reading the token cookie `cookie_name`
    /// and verifying tokens with `keyring`.
    pub fn new(origins: OriginRules, cookie_name: String, keyring: Keyring) -> Self {
        Self {
            origins,
            cookie_name,
            keyring,
        }
    }

    /// The cross-origin check alone, for a request that arrived over `arrival`: what
    /// a forced re-initialization needs to be [`Provenance::Proven`].
    pub fn provenance(
        &self,
        headers: &HeaderMap,
        arrival: Scheme,
    ) -> Result<Provenance, CsrfReason> {
        self.origins.check(headers, arrival)
    }

    /// Runs every check, cheapest first, on an unsafe request that arrived over
    /// `arrival`; returns the nonce of the token it accepted (the current one, or the
    /// previous one inside its grace).
    pub fn check(
        &self,
        headers: &HeaderMap,
        arrival: Scheme,
        session: Option<&SessionRecord>,
        now: Timestamp,
    ) -> Result<[u8; CSRF_NONCE_BYTES], CsrfFailure> {
        let token = self.presented_token(headers, arrival)?;
        let session = session.ok_or(CsrfFailure::NoSession)?;
        let nonce = self.verify(&session.key, token)?;
        if accepts(&session.csrf, &nonce, now) {
            Ok(nonce)
        } else {
            Err(CsrfReason::StaleToken.into())
        }
    }

    /// The checks that need no session: the origin, the content type, and a token in
    /// the header equal to the cookie's — the token, once they pass.
    pub fn presented_token<'h>(
        &self,
        headers: &'h HeaderMap,
        arrival: Scheme,
    ) -> Result<&'h [u8], CsrfReason> {
        self.origins.check(headers, arrival)?;
        if has_form_content_type(headers) {
            return Err(CsrfReason::FormContentType);
        }
        let token = headers
            .get(CSRF_HEADER)
            .map(|value| value.as_bytes())
            .filter(|value| !value.is_empty())
            .ok_or(CsrfReason::MissingToken)?;
        let cookie = find_cookie(headers, &self.cookie_name).ok_or(CsrfReason::TokenMismatch)?;
        if !constant_time_eq(token, cookie) {
            return Err(CsrfReason::TokenMismatch);
        }
        Ok(token)
    }

    /// The nonce of `token` if one of our keys minted it for the session filed under
    /// `key`.
    pub fn verify(
        &self,
        key: &SessionKey,
        token: &[u8],
    ) -> Result<[u8; CSRF_NONCE_BYTES], CsrfReason> {
        self.keyring
            .verify(key, token)
            .map_err(|fault| match fault {
                TokenFault::Malformed => CsrfReason::MalformedToken,
                TokenFault::BadSignature => CsrfReason::BadSignature,
            })
    }
}

/// Whether `csrf` accepts a token with `nonce` at `now`: the current one, or the
/// previous one inside its grace window.
pub fn accepts(csrf: &CsrfState, nonce: &[u8; CSRF_NONCE_BYTES], now: Timestamp) -> bool {
    let current = constant_time_eq(nonce, &csrf.current);
    let previous = csrf.previous.is_some_and(|previous| {
        now < previous.valid_until && constant_time_eq(nonce, &previous.nonce)
    });
    current || previous
}

/// Content types a cross-site `<form>` can send without a preflight.
fn has_form_content_type(headers: &HeaderMap) -> bool {
    headers.get_all(header::CONTENT_TYPE).iter().any(|value| {
        let essence = value
            .to_str()
            .unwrap_or("")
            .split(';')
            .next()
            .unwrap_or("")
            .trim();
        essence.eq_ignore_ascii_case("text/plain")
            || essence.eq_ignore_ascii_case("application/x-www-form-urlencoded")
    })
}
