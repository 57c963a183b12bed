//! An axum application using `trustyconvert-session`: the session routes under
//! `/api/session` and `POST /api/echo`, which only a request with the session's CSRF
//! token reaches. `main.rs` serves it; the client crate's tests run against it too.

use axum::{routing::post, Json, Router};
use serde_json::{json, Value};
use trustyconvert_session::protocol::paths;
use trustyconvert_session::{ApiJson, CsrfChecked, Sessions};

/// The application's routes behind the session layer.
pub fn app(sessions: &Sessions) -> Router {
    Router::new()
        .nest(paths::SESSION, sessions.router())
        .route("/api/echo", post(echo))
        .layer(sessions.layer())
}

/// `POST /api/echo`: answers the JSON it was sent, in the envelope. `CsrfChecked`
/// refuses the request (401 or 403, as an envelope) unless it carries a live session
/// and that session's CSRF token.
async fn echo(CsrfChecked(session): CsrfChecked, Json(body): Json<Value>) -> ApiJson<Value> {
    ApiJson::ok(json!({ "session": session.record.public_id, "echo": body }))
}
