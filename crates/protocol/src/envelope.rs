//! The one JSON envelope every API response uses.

use serde::{Deserialize, Serialize};

use crate::ErrorType;

/// A response envelope: `data` on success, `error` on failure, always a correlation id.
///
/// ```
/// use trustyconvert_protocol::Envelope;
/// let ok = Envelope::success(42, "c1".to_owned());
/// assert_eq!(
///     serde_json::to_string(&ok).unwrap(),
///     r#"{"success":true,"data":42,"correlation_id":"c1"}"#
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope<T> {
    /// `true` when `data` is present, `false` when `error` is.
    pub success: bool,
    /// The payload of a successful response.
    #[serde(default = "none", skip_serializing_if = "Option::is_none")]
    pub data: Option<T>,
    /// The error of a failed response.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorBody>,
    /// The id of the request, also sent in the `X-Correlation-ID` header.
    pub correlation_id: String,
}

fn none<T>() -> Option<T> {
    None
}

impl<T> Envelope<T> {
    /// A successful envelope around `data`.
    pub fn success(data: T, correlation_id: String) -> Self {
        Self {
            success: true,
            data: Some(data),
            error: None,
            correlation_id,
        }
    }

    /// A failed envelope carrying `error`.
    pub fn failure(error: ErrorBody, correlation_id: String) -> Self {
        Self {
            success: false,
            data: None,
            error: Some(error),
            correlation_id,
        }
    }
}

/// The `error` object of a failed envelope.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorBody {
    /// A message a person can read. Never carries internals (paths, SQL, traces).
    pub message: String,
    /// The machine-readable error type.
    #[serde(rename = "type")]
    pub kind: ErrorType,
    /// Structured, safe extra facts (for example the CSRF rejection reason).
    #[serde(default)]
    pub details: serde_json::Map<String, serde_json::Value>,
}
