//! `ClientError`: everything a client call can fail with. `Clone + PartialEq` so one
//! outcome can be shared by every waiter of a single flight and kept in reactive state.

use trustyconvert_protocol::json::Json;
use trustyconvert_protocol::{details as detail, human_size, ErrorType};

use crate::transport::TransportError;

/// Why a client call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClientError {
    /// The server could not be reached or the connection failed mid-way.
    #[error("cannot reach the server: {0}")]
    Network(String),
    /// The server did not answer in time (a request's timeout or an initialization's
    /// overall deadline).
    #[error("the server did not answer in time: {0}")]
    Timeout(String),
    /// The server answered with an error envelope.
    #[error("{message}")]
    Api {
        /// HTTP status.
        status: u16,
        /// The error type from the envelope.
        kind: ErrorType,
        /// The server's human-readable message.
        message: String,
        /// The envelope's `details` (for example `max_size` of a too-large upload).
        details: trustyconvert_protocol::json::Object,
        /// The request's correlation id, for support.
        correlation_id: Option<String>,
        /// Seconds from `Retry-After`, when given.
        retry_after_secs: Option<u64>,
    },
    /// The server answered something that is not the agreed envelope.
    #[error("unexpected response from the server (HTTP {status}): {detail}")]
    Protocol {
        /// HTTP status.
        status: u16,
        /// What was wrong with it.
        detail: String,
    },
    /// `reset_session()` or `close_session()` ran while this call was under way: its
    /// result was discarded so that the reset wins.
    #[error("the session was reset while this call was in progress")]
    Superseded,
    /// The task doing this work stopped before it finished (its runtime shut down).
    /// Not cached: the next call starts afresh.
    #[error("the session task stopped before it finished")]
    Interrupted,
}

impl ClientError {
    /// The API error type, if the server sent one.
    pub fn kind(&self) -> Option<ErrorType> {
        match self {
            Self::Api { kind, .. } => Some(*kind),
            _ => None,
        }
    }

    /// Whether trying again later may help (network trouble, timeouts, 5xx, rate limits).
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Network(_) | Self::Timeout(_) | Self::Interrupted => true,
            Self::Api { status, .. } | Self::Protocol { status, .. } => {
                *status >= 500 || *status == 429
            }
            Self::Superseded => false,
        }
    }

    /// Seconds the server asked us to wait, if any.
    pub fn retry_after_secs(&self) -> Option<u64> {
        match self {
            Self::Api {
                retry_after_secs, ..
            } => *retry_after_secs,
            _ => None,
        }
    }

    /// The error in words a person understands, for the CLI and the web UI. It never
    /// contains a token or a session id.
    ///
    /// ```
    /// use trustyconvert_client::ClientError;
    /// let error = ClientError::Network("connection refused".into());
    /// assert!(error.user_message().contains("can't be reached"));
    /// ```
    pub fn user_message(&self) -> String {
        match self {
            Self::Network(_) => {
                "The server can't be reached. Check your connection and try again.".into()
            }
            Self::Timeout(_) => {
                "The server is taking too long to answer. Please try again in a moment.".into()
            }
            Self::Api {
                kind,
                message,
                details,
                correlation_id,
                retry_after_secs,
                ..
            } => api_message(
                *kind,
                message,
                details,
                correlation_id.as_deref(),
                *retry_after_secs,
            ),
            Self::Protocol { .. } => "The server sent an answer this client does not understand \
                 (it may be a different version)."
                .into(),
            Self::Superseded => "The session was reset before this finished.".into(),
            Self::Interrupted => {
                "The operation stopped before it finished. Please try again.".into()
            }
        }
    }
}

fn api_message(
    kind: ErrorType,
    message: &str,
    details: &trustyconvert_protocol::json::Object,
    correlation_id: Option<&str>,
    retry_after_secs: Option<u64>,
) -> String {
    match kind {
        ErrorType::MaxFileSizeExceededError => {
            match details.get(detail::MAX_SIZE).and_then(Json::as_u64) {
                Some(max) => too_large_message(max),
                // Another limit (the session's storage quota): the server names it.
                None => message.to_owned(),
            }
        }
        ErrorType::RateLimitExceeded => match retry_after_secs {
            Some(1) => "Too many requests. Please try again in 1 second.".into(),
            Some(seconds) => format!("Too many requests. Please try again in {seconds} seconds."),
            None => "Too many requests. Please wait a moment and try again.".into(),
        },
        ErrorType::SessionValidationError => {
            "Your session has ended. Start a new one to continue.".into()
        }
        ErrorType::CSRFValidationError => {
            "Your session's security check failed. Reload the page and try again.".into()
        }
        ErrorType::ServiceUnavailable => {
            "The service is temporarily unavailable. Please try again shortly.".into()
        }
        ErrorType::ServerError => match correlation_id {
            Some(id) => format!(
                "Something went wrong on the server. Please try again; if it keeps happening, \
                 quote reference {id}."
            ),
            None => "Something went wrong on the server. Please try again.".into(),
        },
        // The server's messages for these are written for people and name the problem.
        ErrorType::ValidationError
        | ErrorType::FileValidationError
        | ErrorType::ResourceNotFound
        | ErrorType::UnsupportedFormatError
        | ErrorType::TaskLimitExceeded => message.to_owned(),
    }
}

/// What [`ClientError::user_message`] says of a file over the `max_size` limit, for a
/// client that checks the size before uploading.
///
/// ```
/// assert_eq!(
///     trustyconvert_client::too_large_message(1 << 20),
///     "This file is too large. The limit is 1 MiB."
/// );
/// ```
pub fn too_large_message(max_size: u64) -> String {
    format!(
        "This file is too large. The limit is {}.",
        human_size(max_size)
    )
}

impl From<TransportError> for ClientError {
    fn from(error: TransportError) -> Self {
        match error {
            TransportError::TimedOut(detail) => Self::Timeout(detail),
            TransportError::Failed(detail) => Self::Network(detail),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(kind: ErrorType, details: &str, retry: Option<u64>) -> ClientError {
        ClientError::Api {
            status: kind.status(),
            kind,
            message: "server text".into(),
            details: trustyconvert_protocol::json::from_slice(details.as_bytes()).unwrap(),
            correlation_id: Some("c-1".into()),
            retry_after_secs: retry,
        }
    }

    #[test]
    fn user_messages_name_the_limit_and_the_wait() {
        let too_large = api(
            ErrorType::MaxFileSizeExceededError,
            r#"{"max_size": 104857600}"#,
            None,
        );
        assert_eq!(
            too_large.user_message(),
            "This file is too large. The limit is 100 MiB."
        );
        let limited = api(ErrorType::RateLimitExceeded, "{}", Some(7));
        assert_eq!(
            limited.user_message(),
            "Too many requests. Please try again in 7 seconds."
        );
        let server = api(ErrorType::ServerError, "{}", None);
        assert!(server.user_message().contains("reference c-1"));
    }
}
