//! Correlation ids: taken from a well-formed `X-Correlation-ID` header or generated,
//! echoed in the response header, put in every log line of the request (a tracing
//! span) and in every envelope (a task-local read by the response builders).

use axum::extract::Request;
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument as _;
use trustyconvert_protocol::CORRELATION_ID_HEADER;

/// Longest correlation id accepted from a client.
const MAX_LEN: usize = 64;

tokio::task_local! {
    static CORRELATION_ID: String;
}

/// The correlation id of the request being handled, or a fresh one outside a request.
pub fn current() -> String {
    CORRELATION_ID
        .try_with(Clone::clone)
        .unwrap_or_else(|_| generate())
}

fn generate() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// Accepts 1–64 characters of `[A-Za-z0-9._-]`; anything else is replaced, so a
/// client cannot inject log lines or huge values.
fn well_formed(value: &HeaderValue) -> Option<String> {
    let bytes = value.as_bytes();
    let ok = !bytes.is_empty()
        && bytes.len() <= MAX_LEN
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(b));
    ok.then(|| String::from_utf8_lossy(bytes).into_owned())
}

/// Middleware: assigns the id, runs the request inside its span and task-local.
pub async fn layer(request: Request, next: Next) -> Response {
    let id = request
        .headers()
        .get(CORRELATION_ID_HEADER)
        .and_then(well_formed)
        .unwrap_or_else(generate);
    let span = tracing::info_span!(
        "request",
        correlation_id = %id,
        method = %request.method(),
        path = %request.uri().path(),
    );
    let mut response = CORRELATION_ID
        .scope(id.clone(), next.run(request).instrument(span.clone()))
        .await;
    span.in_scope(|| tracing::debug!(status = response.status().as_u16(), "response"));
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(CORRELATION_ID_HEADER, value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

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
