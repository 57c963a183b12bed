//! `ClientError`: everything a client call can fail with. `Clone + PartialEq` so one
//! outcome can be shared by every waiter of a single flight and kept in reactive state.

use trustyconvert_protocol::ErrorType;

use crate::transport::TransportError;

/// Why a client call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClientError {
    /// The server could not be reached or the connection failed mid-way.
    #[error("cannot reach the server: {0}")]
    Network(String),
    /// The server answered with an error envelope.
    #[error("{message}")]
    Api {
        /// HTTP status.
        status: u16,
        /// The error type from the envelope.
        kind: ErrorType,
        /// The server's human-readable message.
        message: String,
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
    /// `reset_session()` or `close_session()` ran while this call waited; its result
    /// was discarded so that the reset wins.
    #[error("the session was reset while this call was in progress")]
    Superseded,
}

impl ClientError {
    /// The API error type, if the server sent one.
    pub fn kind(&self) -> Option<ErrorType> {
        match self {
            Self::Api { kind, .. } => Some(*kind),
            _ => None,
        }
    }

    /// Whether trying again later may help (network trouble, 5xx, rate limits).
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Network(_) => true,
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
}

impl From<TransportError> for ClientError {
    fn from(error: TransportError) -> Self {
        Self::Network(error.0)
    }
}
