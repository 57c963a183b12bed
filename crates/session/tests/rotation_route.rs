//! The layer rotates a CSRF token itself (resolving the session and rotating in one
//! store step) only for the session router's own route: an application that does not
//! serve the session routes has `POST /api/session/csrf` judged like any request.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::routing::get;
use axum::Router;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use trustyconvert_session::store::{MemoryStore, SessionStore as _};
use trustyconvert_session::{Sessions, Timestamp};

/// Serves `app` on 127.0.0.1 (port 0) and sends one `POST /api/session/csrf` carrying
/// a live session's cookies and token; returns the status code, and whether the
/// session's current CSRF nonce changed.
async fn rotate_through(sessions: &Sessions, store: &MemoryStore, app: Router) -> (u16, bool) {
    let session = sessions.service().create(Timestamp::now()).await.unwrap();
    let token = sessions.service().csrf_token(&session.record);
    let cookies = sessions.service().cookies();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
    });
    let request = format!(
        "POST /api/session/csrf HTTP/1.1\r\nHost: {address}\r\nCookie: {}={}; {}={token}\r\n\
         X-CSRF-Token: {token}\r\nSec-Fetch-Site: same-origin\r\nContent-Length: 0\r\n\
         Connection: close\r\n\r\n",
        cookies.session_name(),
        session.secret.expose(),
        cookies.csrf_name(),
    );
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.unwrap();
    server.abort();
    let status = answer
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP answer: {answer}"));
    let stored = store
        .load_session(&session.record.key)
        .await
        .unwrap()
        .unwrap();
    (status, stored.csrf.current != session.record.csrf.current)
}

#[tokio::test]
async fn the_layer_rotates_a_token_only_where_the_session_routes_are_served() {
    let store = Arc::new(MemoryStore::default());
    let sessions = Sessions::builder(store.clone()).build().unwrap();

    // No session routes: the path is unknown (404) and nothing rotates.
    let without: Router = Router::new()
        .route("/api/other", get(|| async { "other" }))
        .layer(sessions.layer());
    assert_eq!(
        rotate_through(&sessions, &store, without).await,
        (404, false),
        "without the session routes the token is left alone"
    );

    // With them, the same request rotates the token (once).
    let with: Router = Router::new()
        .merge(sessions.routes())
        .layer(sessions.layer());
    assert_eq!(rotate_through(&sessions, &store, with).await, (200, true));
}
