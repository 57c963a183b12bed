//! Item 25: a store outage answers 503 in the envelope and never fails open; the
//! service recovers by itself. The outage comes from a switchable wrapper around the
//! real memory store.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use common::*;
use reqwest::{Method, StatusCode};
use trustyconvert_server::crypto::SessionKey;
use trustyconvert_server::store::{
    CsrfState, MemoryStore, SessionRecord, SessionStore, StoreError,
};
use trustyconvert_server::Timestamp;

#[derive(Default)]
struct SwitchableStore {
    inner: MemoryStore,
    down: AtomicBool,
}

impl SwitchableStore {
    fn check(&self) -> Result<(), StoreError> {
        if self.down.load(Ordering::SeqCst) {
            Err(StoreError::Unavailable(
                "injected outage at /var/lib/secret/path.db".to_owned(),
            ))
        } else {
            Ok(())
        }
    }
}

#[async_trait]
impl SessionStore for SwitchableStore {
    async fn insert(&self, record: &SessionRecord) -> Result<(), StoreError> {
        self.check()?;
        self.inner.insert(record).await
    }
    async fn load(&self, key: &SessionKey) -> Result<Option<SessionRecord>, StoreError> {
        self.check()?;
        self.inner.load(key).await
    }
    async fn touch(
        &self,
        key: &SessionKey,
        idle_expires_at: Timestamp,
    ) -> Result<bool, StoreError> {
        self.check()?;
        self.inner.touch(key, idle_expires_at).await
    }
    async fn set_csrf(&self, key: &SessionKey, csrf: &CsrfState) -> Result<bool, StoreError> {
        self.check()?;
        self.inner.set_csrf(key, csrf).await
    }
    async fn delete(&self, key: &SessionKey) -> Result<bool, StoreError> {
        self.check()?;
        self.inner.delete(key).await
    }
    async fn sweep_expired(&self, now: Timestamp) -> Result<u64, StoreError> {
        self.check()?;
        self.inner.sweep_expired(now).await
    }
    async fn ping(&self) -> Result<(), StoreError> {
        self.check()
    }
}

#[tokio::test]
async fn item_25_store_outage_is_503_never_fail_open_and_recovers() {
    let store = Arc::new(SwitchableStore::default());
    let server = TestServer::start_with_store(store.clone()).await;
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
