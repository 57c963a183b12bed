//! The correlation id of the request being handled: put in every envelope and in
//! every log line of the request. The id, method and path live in a task-local for the
//! request's duration (set by [`Frame`](crate::frame::Frame)): the response builders
//! read it, and so does a log formatter ([`request`]; `trustyconvert serve` prints
//! them on each line).
//!
//! A task-local rather than a `tracing` span: a span is created, and its fields
//! formatted, on every request whether anything is logged or not (about 6 % of a
//! validated request's instructions); the task-local costs a move, and is read only
//! when a line is written.

use axum::http::{HeaderValue, Method};

/// Longest correlation id accepted from a client.
const MAX_LEN: usize = 64;

/// The request being handled, as log lines describe it.
#[derive(Debug, Clone)]
pub struct RequestContext {
    /// The correlation id.
    pub correlation_id: String,
    /// The request's method.
    pub method: Method,
    /// The request's path (no query: it may carry a secret token).
    pub path: String,
}

tokio::task_local! {
    pub(crate) static REQUEST: RequestContext;
}

/// The correlation id of the request being handled, or a fresh one outside a request.
pub fn current() -> String {
    REQUEST
        .try_with(|request| request.correlation_id.clone())
        .unwrap_or_else(|_| generate())
}

/// The request being handled on this task, if any (a copy: for log lines, which are
/// rare next to requests).
pub fn request() -> Option<RequestContext> {
    REQUEST.try_with(RequestContext::clone).ok()
}

pub(crate) fn generate() -> String {
    // Encoded into a stack buffer: `to_string` goes through the formatting machinery.
    let mut buffer = uuid::Uuid::encode_buffer();
    uuid::Uuid::new_v4()
        .hyphenated()
        .encode_lower(&mut buffer)
        .to_owned()
}

/// Accepts 1–64 characters of `[A-Za-z0-9._-]`; anything else is replaced, so a
/// client cannot inject log lines or huge values.
pub(crate) fn well_formed(value: &HeaderValue) -> Option<String> {
    let bytes = value.as_bytes();
    let ok = !bytes.is_empty()
        && bytes.len() <= MAX_LEN
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(b));
    ok.then(|| String::from_utf8_lossy(bytes).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_request_context_is_there_only_inside_the_request() {
        assert!(request().is_none());
        let context = RequestContext {
            correlation_id: "abc".into(),
            method: Method::POST,
            path: "/api/session/csrf".into(),
        };
        let seen = REQUEST
            .scope(context, async { request().map(|r| r.correlation_id) })
            .await;
        assert_eq!(seen.as_deref(), Some("abc"));
        assert_eq!(
            REQUEST
                .scope(
                    RequestContext {
                        correlation_id: "xyz".into(),
                        method: Method::GET,
                        path: "/".into()
                    },
                    async { current() }
                )
                .await,
            "xyz"
        );
    }

    #[test]
    fn generated_ids_are_uuids() {
        let id = generate();
        assert_eq!(uuid::Uuid::parse_str(&id).unwrap().get_version_num(), 4);
        assert_eq!(id, id.to_lowercase());
        assert_ne!(generate(), id);
    }

    #[test]
    fn only_safe_ids_are_kept() {
        assert_eq!(
            well_formed(&HeaderValue::from_static("abc-123_X.y")).as_deref(),
            Some("abc-123_X.y")
        );
        assert_eq!(well_formed(&HeaderValue::from_static("has space")), None);
        assert_eq!(well_formed(&HeaderValue::from_static("")), None);
        assert_eq!(
            well_formed(&HeaderValue::from_str(&"a".repeat(65)).unwrap()),
            None
        );
    }
}
