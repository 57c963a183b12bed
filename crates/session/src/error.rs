//! `ApiError`: every failure the API reports, rendered as the error envelope. The
//! session service (and an application's own services) return it, so their rules
//! decide the error type and message; the HTTP layer only renders it.

use std::borrow::Cow;

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value};
use trustyconvert_protocol::{Envelope, ErrorBody, ErrorType};

use crate::store::StoreError;

/// An error answered to the client in the JSON envelope with its type's status.
///
/// Messages are written for people and never carry internals; the internal cause, if
/// any, is logged (with the correlation id) where the error is created.
#[derive(Debug, Clone)]
pub struct ApiError {
    kind: ErrorType,
    message: Cow<'static, str>,
    details: Map<String, Value>,
    retry_after_secs: Option<u64>,
}

impl ApiError {
    /// An error of `kind` with a human-readable `message`.
    pub fn new(kind: ErrorType, message: impl Into<Cow<'static, str>>) -> Self {
        Self {
            kind,
            message: message.into(),
            details: Map::new(),
            retry_after_secs: None,
        }
    }

    /// Adds a safe, structured detail.
    pub fn with_detail(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.details.insert(key.to_owned(), value.into());
        self
    }

    /// Adds a `Retry-After` header (for 429 and 503).
    pub fn with_retry_after(mut self, seconds: u64) -> Self {
        self.retry_after_secs = Some(seconds);
        self
    }

    /// 400 `ValidationError`.
    pub fn validation(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorType::ValidationError, message)
    }

    /// 401 `SessionValidationError`.
    pub fn no_session() -> Self {
        Self::new(
            ErrorType::SessionValidationError,
            "No valid session. Start a new session and try again.",
        )
    }

    /// 404 `ResourceNotFound`.
    pub fn not_found() -> Self {
        Self::new(
            ErrorType::ResourceNotFound,
            "The requested resource does not exist.",
        )
    }

    /// 503 `ServiceUnavailable`.
    pub fn unavailable() -> Self {
        Self::new(
            ErrorType::ServiceUnavailable,
            "The service is temporarily unavailable. Please try again shortly.",
        )
        .with_retry_after(5)
    }

    /// 500 `ServerError`.
    pub fn internal() -> Self {
        Self::new(ErrorType::ServerError, "An unexpected error occurred.")
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        // Logged here, inside the request span, so the cause is tied to the correlation id;
        // the client only learns that the service is unavailable (never fail open).
        tracing::error!(%error, "storage failure");
        Self::unavailable()
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status =
            StatusCode::from_u16(self.kind.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = ErrorBody {
            message: self.message.into_owned(),
            kind: self.kind,
            details: self.details,
        };
        let envelope: Envelope<()> = Envelope::failure(body, crate::correlation::current());
        let mut response = json_response(status, &envelope);
        if let Some(seconds) = self.retry_after_secs {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

/// A successful response: `data` in the envelope, with a status (200 unless told).
///
/// ```
/// use trustyconvert_session::ApiJson;
/// let created = ApiJson::created(serde_json::json!({"id": 7}));
/// # let _ = created;
/// ```
#[derive(Debug)]
pub struct ApiJson<T> {
    status: StatusCode,
    data: T,
}

impl<T> ApiJson<T> {
    /// 200 OK.
    pub fn ok(data: T) -> Self {
        Self {
            status: StatusCode::OK,
            data,
        }
    }

    /// 201 Created.
    pub fn created(data: T) -> Self {
        Self {
            status: StatusCode::CREATED,
            data,
        }
    }

    /// Any status.
    pub fn with_status(status: StatusCode, data: T) -> Self {
        Self { status, data }
    }
}

impl<T: serde::Serialize> IntoResponse for ApiJson<T> {
    fn into_response(self) -> Response {
        let envelope = Envelope::success(self.data, crate::correlation::current());
        json_response(self.status, &envelope)
    }
}

/// The result type of every handler.
pub type ApiResult<T> = Result<T, ApiError>;

/// `value` as a JSON response. Like `axum::Json`, but serialized into a buffer sized
/// for a whole envelope at once (`Json` starts at 128 bytes and grows it twice for a
/// session answer).
fn json_response<T: serde::Serialize>(status: StatusCode, value: &T) -> Response {
    /// Room for a session answer or an error envelope; larger bodies grow it.
    const TYPICAL_ENVELOPE: usize = 512;
    let mut body = Vec::with_capacity(TYPICAL_ENVELOPE);
    match serde_json::to_writer(&mut body, value) {
        Ok(()) => (
            status,
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            body,
        )
            .into_response(),
        Err(error) => {
            tracing::error!(%error, "a response body did not serialize");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}
