//! A real server on 127.0.0.1 (port 0) and small HTTP helpers for the integration tests.
#![allow(dead_code)] // each test binary uses a different subset of the helpers

pub mod conversion;
pub mod documents;

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use reqwest::header::{HeaderMap, SET_COOKIE};
use reqwest::{Client, Method, Response, StatusCode};
use serde_json::Value;
use tokio::sync::oneshot;
use trustyconvert_server::storage::{
    ConverterStorage, CsrfState, CsrfSwap, DownloadGrant, DownloadStore, JobRecord, JobStore,
    MemoryStorage, RateAction, RateLimitStore, RateVerdict, Reservation, SessionRecord,
    SessionStore, StoreError, TokenHash,
};
use trustyconvert_server::{Server, ServerConfig, StoreKind};
use trustyconvert_session::crypto::SessionKey;
use trustyconvert_session::Timestamp;
use uuid::Uuid;

pub const SESSION_COOKIE: &str = "trustyconvert_session";
pub const CSRF_COOKIE: &str = "csrftoken";

/// A running in-process server and its temporary data directory.
pub struct TestServer {
    pub base: String,
    pub config: ServerConfig,
    dir: Option<tempfile::TempDir>,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl TestServer {
    /// A memory-store server with test-friendly defaults, adjusted by `configure`.
    pub async fn start(configure: impl FnOnce(&mut ServerConfig)) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut server = Self::start_in(dir.path(), configure).await;
        server.dir = Some(dir);
        server
    }

    /// A server whose data directory is `dir` (kept by the caller, for restarts).
    pub async fn start_in(dir: &Path, configure: impl FnOnce(&mut ServerConfig)) -> Self {
        let mut config = base_config(dir);
        configure(&mut config);
        let server = Server::bind(config.clone()).await.expect("server starts");
        Self::run(server, config)
    }

    /// A server over a caller-built storage backend (for fault injection).
    pub async fn start_with_storage(storage: Arc<dyn ConverterStorage>) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let config = base_config(dir.path());
        let server = Server::bind_with_storage(config.clone(), storage)
            .await
            .expect("server starts");
        let mut server = Self::run(server, config);
        server.dir = Some(dir);
        server
    }

    fn run(server: Server, config: ServerConfig) -> Self {
        let base = format!("http://{}", server.local_addr());
        let (tx, rx) = oneshot::channel();
        let task = tokio::spawn(async move {
            server
                .run_until(async {
                    let _ = rx.await;
                })
                .await
                .unwrap();
        });
        Self {
            base,
            config,
            dir: None,
            shutdown: Some(tx),
            task: Some(task),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Stops the server and waits until it has released its store.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = tokio::time::timeout(Duration::from_secs(10), task).await;
        }
    }
}

fn base_config(dir: &Path) -> ServerConfig {
    ServerConfig {
        bind: "127.0.0.1:0".parse().unwrap(),
        store: StoreKind::Memory,
        data_dir: dir.to_owned(),
        ..ServerConfig::default()
    }
}

/// A client without a cookie jar: tests set every cookie by hand.
pub fn client() -> Client {
    Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

/// The credentials a browser would hold after an init.
#[derive(Debug, Clone)]
pub struct Creds {
    pub session: String,
    pub csrf: String,
    pub id: String,
    pub expires_at: String,
}

impl Creds {
    pub fn cookie_header(&self) -> String {
        format!(
            "{SESSION_COOKIE}={}; {CSRF_COOKIE}={}",
            self.session, self.csrf
        )
    }
}

/// All `Set-Cookie` values of a response.
pub fn set_cookies(headers: &HeaderMap) -> Vec<String> {
    headers
        .get_all(SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect()
}

/// The `Set-Cookie` line for cookie `name`.
pub fn set_cookie_for(headers: &HeaderMap, name: &str) -> Option<String> {
    set_cookies(headers)
        .into_iter()
        .find(|c| c.starts_with(&format!("{name}=")))
}

/// The value set for cookie `name`.
pub fn cookie_value(headers: &HeaderMap, name: &str) -> Option<String> {
    let line = set_cookie_for(headers, name)?;
    let first = line.split(';').next()?;
    Some(first.split_once('=')?.1.to_owned())
}

/// `GET /api/session/init`, optionally with a cookie header; returns the response parts.
pub async fn init_raw(
    server: &TestServer,
    cookie: Option<&str>,
    query: &str,
) -> (StatusCode, HeaderMap, Value) {
    init_with(server, cookie, query, &[]).await
}

/// `GET /api/session/init{query}` with `cookie` and `extra` headers.
pub async fn init_with(
    server: &TestServer,
    cookie: Option<&str>,
    query: &str,
    extra: &[(&str, &str)],
) -> (StatusCode, HeaderMap, Value) {
    let mut request = client().get(server.url(&format!("/api/session/init{query}")));
    if let Some(cookie) = cookie {
        request = request.header("cookie", cookie);
    }
    for (name, value) in extra {
        request = request.header(*name, *value);
    }
    split(request.send().await.unwrap()).await
}

/// A fresh session.
pub async fn new_session(server: &TestServer) -> Creds {
    let (status, headers, body) = init_raw(server, None, "").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    creds_from(&headers, &body)
}

pub fn creds_from(headers: &HeaderMap, body: &Value) -> Creds {
    Creds {
        session: cookie_value(headers, SESSION_COOKIE).expect("session cookie set"),
        csrf: cookie_value(headers, CSRF_COOKIE).expect("csrf cookie set"),
        id: body["data"]["id"].as_str().unwrap().to_owned(),
        expires_at: body["data"]["expires_at"].as_str().unwrap().to_owned(),
    }
}

pub async fn split(response: Response) -> (StatusCode, HeaderMap, Value) {
    let status = response.status();
    let headers = response.headers().clone();
    let text = response.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, headers, body)
}

/// Sends `method path` with the given raw cookie header and CSRF header.
pub async fn send(
    server: &TestServer,
    method: Method,
    path: &str,
    cookie: Option<&str>,
    csrf_header: Option<&str>,
    extra: &[(&str, &str)],
) -> (StatusCode, HeaderMap, Value) {
    let mut request = client().request(method, server.url(path));
    if let Some(cookie) = cookie {
        request = request.header("cookie", cookie);
    }
    if let Some(token) = csrf_header {
        request = request.header("x-csrf-token", token);
    }
    for (name, value) in extra {
        request = request.header(*name, *value);
    }
    split(request.send().await.unwrap()).await
}

/// A POST as a well-behaved non-browser client of `creds` would send it.
pub async fn post_with(
    server: &TestServer,
    path: &str,
    creds: &Creds,
) -> (StatusCode, HeaderMap, Value) {
    send(
        server,
        Method::POST,
        path,
        Some(&creds.cookie_header()),
        Some(&creds.csrf),
        &[],
    )
    .await
}

/// `GET /api/session` with the session cookie of `creds`.
pub async fn status_of(server: &TestServer, creds: &Creds) -> StatusCode {
    send(
        server,
        Method::GET,
        "/api/session",
        Some(&creds.cookie_header()),
        None,
        &[],
    )
    .await
    .0
}

/// Asserts an error envelope of `kind` with `status`, returning `error.details`.
pub fn assert_error(status: StatusCode, body: &Value, expected: StatusCode, kind: &str) -> Value {
    assert_eq!(status, expected, "body: {body}");
    assert_eq!(body["success"], false, "{body}");
    assert_eq!(body["error"]["type"], kind, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{body}"
    );
    assert!(
        body["correlation_id"]
            .as_str()
            .is_some_and(|c| !c.is_empty()),
        "{body}"
    );
    body["error"]["details"].clone()
}

/// The value of an unlabelled counter, or of `name{label}` when `label` is given.
pub async fn metric(server: &TestServer, series: &str) -> u64 {
    metric_from(&client(), server, series).await
}

/// [`metric`], asked through `client` (e.g. one bound to another source address).
pub async fn metric_from(client: &Client, server: &TestServer, series: &str) -> u64 {
    let text = client
        .get(server.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find_map(|line| {
            line.strip_prefix(series)
                .and_then(|rest| rest.strip_prefix(' '))
        })
        .unwrap_or_else(|| panic!("series {series} missing from:\n{text}"))
        .parse()
        .unwrap()
}

/// How long [`eventually`] waits: far past what any machine needs, so only a condition
/// that never comes fails the test (and a hung run still ends).
pub const EVENTUALLY: Duration = Duration::from_secs(60);

/// Polls `condition` until it holds; fails, naming `what`, if it has not held within
/// [`EVENTUALLY`]. For what background work (the sweep) does by itself: waiting for the
/// condition, not for a time that a loaded machine may overrun.
pub async fn eventually(what: &str, mut condition: impl FnMut() -> bool) {
    let give_up = std::time::Instant::now() + EVENTUALLY;
    while !condition() {
        assert!(
            std::time::Instant::now() < give_up,
            "never happened within {EVENTUALLY:?}: {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The real memory backend behind a switch that injects outages, counting every
/// session read and write.
#[derive(Default)]
pub struct InstrumentedStore {
    inner: MemoryStorage,
    pub down: AtomicBool,
    pub loads: AtomicU64,
    pub writes: AtomicU64,
}

impl InstrumentedStore {
    fn check(&self) -> Result<(), StoreError> {
        if self.down.load(Ordering::SeqCst) {
            Err(StoreError::Unavailable(
                "injected outage at /var/lib/secret/path.db".to_owned(),
            ))
        } else {
            Ok(())
        }
    }

    fn write(&self) -> Result<(), StoreError> {
        self.writes.fetch_add(1, Ordering::SeqCst);
        self.check()
    }
}

#[async_trait]
impl SessionStore for InstrumentedStore {
    async fn insert_session(&self, record: &SessionRecord) -> Result<(), StoreError> {
        self.write()?;
        self.inner.insert_session(record).await
    }
    async fn load_session(&self, key: &SessionKey) -> Result<Option<SessionRecord>, StoreError> {
        self.loads.fetch_add(1, Ordering::SeqCst);
        self.check()?;
        self.inner.load_session(key).await
    }
    async fn touch_session(
        &self,
        key: &SessionKey,
        idle_expires_at: Timestamp,
    ) -> Result<bool, StoreError> {
        self.write()?;
        self.inner.touch_session(key, idle_expires_at).await
    }
    async fn swap_csrf(
        &self,
        key: &SessionKey,
        expected: &[u8; 16],
        next: &CsrfState,
    ) -> Result<CsrfSwap, StoreError> {
        self.write()?;
        self.inner.swap_csrf(key, expected, next).await
    }
    async fn delete_session(&self, key: &SessionKey) -> Result<bool, StoreError> {
        self.write()?;
        self.inner.delete_session(key).await
    }
    async fn sweep_expired(&self, now: Timestamp) -> Result<Vec<SessionKey>, StoreError> {
        self.check()?;
        self.inner.sweep_expired(now).await
    }
    async fn ping(&self) -> Result<(), StoreError> {
        self.check()
    }
}

#[async_trait]
impl JobStore for InstrumentedStore {
    async fn insert_job(&self, job: &JobRecord, quota: u64) -> Result<Reservation, StoreError> {
        self.check()?;
        self.inner.insert_job(job, quota).await
    }
    async fn load_job(
        &self,
        session: &SessionKey,
        job_id: &Uuid,
    ) -> Result<Option<JobRecord>, StoreError> {
        self.check()?;
        self.inner.load_job(session, job_id).await
    }
    async fn list_jobs(&self, session: &SessionKey) -> Result<Vec<JobRecord>, StoreError> {
        self.check()?;
        self.inner.list_jobs(session).await
    }
    async fn update_job(&self, job: &JobRecord) -> Result<bool, StoreError> {
        self.check()?;
        self.inner.update_job(job).await
    }
    async fn reserve_output(&self, job: &JobRecord, quota: u64) -> Result<Reservation, StoreError> {
        self.check()?;
        self.inner.reserve_output(job, quota).await
    }
    async fn count_active_jobs(&self, session: &SessionKey) -> Result<u64, StoreError> {
        self.check()?;
        self.inner.count_active_jobs(session).await
    }
    async fn session_storage(&self, session: &SessionKey) -> Result<u64, StoreError> {
        self.check()?;
        self.inner.session_storage(session).await
    }
    async fn delete_job(&self, session: &SessionKey, job_id: &Uuid) -> Result<bool, StoreError> {
        self.check()?;
        self.inner.delete_job(session, job_id).await
    }
    async fn delete_session_jobs(&self, session: &SessionKey) -> Result<u64, StoreError> {
        self.check()?;
        self.inner.delete_session_jobs(session).await
    }
    async fn sessions_with_jobs(&self) -> Result<Vec<SessionKey>, StoreError> {
        self.check()?;
        self.inner.sessions_with_jobs().await
    }
    async fn fail_unfinished_jobs(&self, reason: &str, now: Timestamp) -> Result<u64, StoreError> {
        self.check()?;
        self.inner.fail_unfinished_jobs(reason, now).await
    }
}

#[async_trait]
impl DownloadStore for InstrumentedStore {
    async fn insert_grant(
        &self,
        token: &TokenHash,
        grant: &DownloadGrant,
        max_per_job: usize,
    ) -> Result<bool, StoreError> {
        self.check()?;
        self.inner.insert_grant(token, grant, max_per_job).await
    }
    async fn take_grant(
        &self,
        token: &TokenHash,
        now: Timestamp,
    ) -> Result<Option<DownloadGrant>, StoreError> {
        self.check()?;
        self.inner.take_grant(token, now).await
    }
    async fn peek_grant(
        &self,
        token: &TokenHash,
        now: Timestamp,
    ) -> Result<Option<DownloadGrant>, StoreError> {
        self.check()?;
        self.inner.peek_grant(token, now).await
    }
}

#[async_trait]
impl RateLimitStore for InstrumentedStore {
    async fn check_rate(
        &self,
        action: RateAction,
        client: std::net::IpAddr,
        per_minute: std::num::NonZeroU32,
    ) -> Result<RateVerdict, StoreError> {
        self.check()?;
        self.inner.check_rate(action, client, per_minute).await
    }
    async fn forget_idle_rates(&self) -> Result<(), StoreError> {
        self.check()?;
        self.inner.forget_idle_rates().await
    }
}
