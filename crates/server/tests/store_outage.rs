//! A store outage answers 503 in the envelope and never fails open; the service
//! recovers by itself. The outage comes from a switchable wrapper around the
//! real memory store. Also: validating a session costs one read and (mostly) no write.

mod common;

use std::sync::atomic::Ordering;
use std::sync::Arc;

use common::*;
use reqwest::{Method, StatusCode};

#[tokio::test]
async fn store_outage_is_503_never_fail_open_and_recovers() {
    let store = Arc::new(InstrumentedStore::default());
    let server = TestServer::start_with_storage(store.clone()).await;
    let creds = new_session(&server).await;

    store.down.store(true, Ordering::SeqCst);
    let attempts = [
        send(&server, Method::GET, "/api/session/init", None, None, &[]).await,
        send(
            &server,
            Method::GET,
            "/api/session",
            Some(&creds.cookie_header()),
            None,
            &[],
        )
        .await,
        post_with(&server, "/api/session/csrf", &creds).await,
        post_with(&server, "/api/session/close", &creds).await,
    ];
    for (status, headers, body) in attempts {
        assert_error(
            status,
            &body,
            StatusCode::SERVICE_UNAVAILABLE,
            "ServiceUnavailable",
        );
        assert!(
            !body.to_string().contains("/var/lib"),
            "internals leaked: {body}"
        );
        assert!(headers.get("retry-after").is_some());
        assert!(
            set_cookies(&headers).is_empty(),
            "nothing is issued during an outage"
        );
    }
    let (status, _, body) = send(&server, Method::GET, "/api/health", None, None, &[]).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["data"]["status"], "unhealthy");
    assert_eq!(body["data"]["services"]["store"]["status"], "unhealthy");

    store.down.store(false, Ordering::SeqCst);
    assert_eq!(
        status_of(&server, &creds).await,
        StatusCode::OK,
        "the session survives the outage"
    );
    let (status, _, body) = send(&server, Method::GET, "/api/health", None, None, &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["data"]["status"], "healthy");
}

#[tokio::test]
async fn health_reports_store_and_storage() {
    let server = TestServer::start(|_| {}).await;
    let (status, _, body) = send(&server, Method::GET, "/api/health", None, None, &[]).await;
    assert_eq!(status, StatusCode::OK);
    let data = &body["data"];
    assert_eq!(data["status"], "healthy");
    assert_eq!(data["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(data["services"]["storage"]["status"], "healthy");
    assert!(data["services"]["store"]["latency_ms"].as_f64().is_some());
    assert!(data["timestamp"].as_str().unwrap().ends_with('Z'));
}

#[tokio::test]
async fn validating_a_session_costs_one_read_and_almost_never_a_write() {
    let store = Arc::new(InstrumentedStore::default());
    let server = TestServer::start_with_storage(store.clone()).await;
    let creds = new_session(&server).await;
    let (loads, writes) = (
        store.loads.load(Ordering::SeqCst),
        store.writes.load(Ordering::SeqCst),
    );
    for _ in 0..50 {
        assert_eq!(status_of(&server, &creds).await, StatusCode::OK);
    }
    assert_eq!(
        store.loads.load(Ordering::SeqCst) - loads,
        50,
        "exactly one read per request"
    );
    assert_eq!(
        store.writes.load(Ordering::SeqCst) - writes,
        0,
        "no write while the idle expiry is fresh"
    );
}
