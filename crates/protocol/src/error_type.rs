//! The closed set of error types the API reports, with their HTTP statuses.

use serde::{Deserialize, Serialize};

/// The `type` field of an error envelope. Each type has exactly one HTTP status.
///
/// ```
/// use trustyconvert_protocol::ErrorType;
/// assert_eq!(ErrorType::CSRFValidationError.status(), 403);
/// assert_eq!(ErrorType::CSRFValidationError.as_str(), "CSRFValidationError");
/// ```
#[allow(clippy::upper_case_acronyms)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum ErrorType {
    /// The request is malformed (bad query, bad JSON, bad field).
    ValidationError,
    /// An uploaded file is not what it claims to be.
    FileValidationError,
    /// No valid session: missing, unknown, expired or closed.
    SessionValidationError,
    /// The CSRF token or the request origin was rejected.
    CSRFValidationError,
    /// The resource does not exist (or belongs to another session).
    ResourceNotFound,
    /// An upload is larger than the configured limit.
    MaxFileSizeExceededError,
    /// The requested conversion is not supported.
    UnsupportedFormatError,
    /// Too many requests from this client; see `Retry-After`.
    RateLimitExceeded,
    /// The session already has the maximum number of active jobs.
    TaskLimitExceeded,
    /// A backing service (the store) is unreachable; the server never fails open.
    ServiceUnavailable,
    /// An unexpected server-side failure. Never carries internals.
    ServerError,
}

impl ErrorType {
    /// Every error type.
    pub const ALL: [ErrorType; 11] = [
        Self::ValidationError,
        Self::FileValidationError,
        Self::SessionValidationError,
        Self::CSRFValidationError,
        Self::ResourceNotFound,
        Self::MaxFileSizeExceededError,
        Self::UnsupportedFormatError,
        Self::RateLimitExceeded,
        Self::TaskLimitExceeded,
        Self::ServiceUnavailable,
        Self::ServerError,
    ];

    /// Parses a wire name (`"CSRFValidationError"`).
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.as_str() == name)
    }

    /// The HTTP status code this error type is always sent with.
    pub const fn status(self) -> u16 {
        match self {
            Self::ValidationError | Self::FileValidationError | Self::UnsupportedFormatError => 400,
            Self::SessionValidationError => 401,
            Self::CSRFValidationError => 403,
            Self::ResourceNotFound => 404,
            Self::MaxFileSizeExceededError => 413,
            Self::RateLimitExceeded | Self::TaskLimitExceeded => 429,
            Self::ServerError => 500,
            Self::ServiceUnavailable => 503,
        }
    }

    /// The name used on the wire.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::ValidationError => "ValidationError",
            Self::FileValidationError => "FileValidationError",
            Self::SessionValidationError => "SessionValidationError",
            Self::CSRFValidationError => "CSRFValidationError",
            Self::ResourceNotFound => "ResourceNotFound",
            Self::MaxFileSizeExceededError => "MaxFileSizeExceededError",
            Self::UnsupportedFormatError => "UnsupportedFormatError",
            Self::RateLimitExceeded => "RateLimitExceeded",
            Self::TaskLimitExceeded => "TaskLimitExceeded",
            Self::ServiceUnavailable => "ServiceUnavailable",
            Self::ServerError => "ServerError",
        }
    }
}

impl std::fmt::Display for ErrorType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::ErrorType;

    #[test]
    fn wire_name_matches_serde_name() {
        for kind in ErrorType::ALL {
            let json = serde_json::to_string(&kind).unwrap();
            assert_eq!(json, format!("\"{}\"", kind.as_str()));
            assert_eq!(ErrorType::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(ErrorType::parse("validationerror"), None);
    }
}
