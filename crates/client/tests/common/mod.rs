//! The real server on 127.0.0.1:0, a fault-injecting wrapper around the real reqwest
//! transport, and a manual clock.
//!
//! The server is the converter, or with `TRUSTY_TEST_APP=library` the session crate's
//! example application (`examples/axum-app`), so the session conformance and race
//! tests hold the library to the same rules as the converter built on it
//! (`scripts/test.sh` runs them both ways).
#![allow(dead_code)] // each test binary uses a different subset

use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::BoxFuture;
use reqwest::cookie::Jar;
use tokio::sync::{oneshot, Semaphore};
use trustyconvert_client::transport::ReqwestTransport;
use trustyconvert_client::{
    Clock, HttpRequest, HttpResponse, ManagerConfig, SessionManager, Transport, TransportError,
};
use trustyconvert_server::{Server, ServerConfig, StoreKind};
use trustyconvert_session::csrf::CsrfReason;
use trustyconvert_session::store::MemoryStore;
use trustyconvert_session::{SessionEvents, Sessions};

/// A running in-process server.
pub struct TestServer {
    pub base: String,
    /// The library application's counters (the converter's are read from `/metrics`).
    library_counters: Option<Arc<LibraryCounters>>,
    _dir: tempfile::TempDir,
    _shutdown: oneshot::Sender<()>,
}

/// Whether the tests run against the session crate's example application.
fn library_app() -> bool {
    std::env::var("TRUSTY_TEST_APP").is_ok_and(|app| app == "library")
}

/// The session layer's events, counted under the converter's metric names.
#[derive(Default)]
struct LibraryCounters {
    init_requests: AtomicUsize,
    created: AtomicUsize,
    closed: AtomicUsize,
    csrf_rejections: Mutex<Vec<CsrfReason>>,
}

impl SessionEvents for LibraryCounters {
    fn init_requested(&self) {
        self.init_requests.fetch_add(1, Ordering::SeqCst);
    }
    fn session_created(&self) {
        self.created.fetch_add(1, Ordering::SeqCst);
    }
    fn session_closed(&self) {
        self.closed.fetch_add(1, Ordering::SeqCst);
    }
    fn csrf_rejected(&self, reason: CsrfReason) {
        self.csrf_rejections.lock().unwrap().push(reason);
    }
}

impl LibraryCounters {
    fn series(&self, series: &str) -> u64 {
        let count = match series {
            "trusty_session_init_requests_total" => self.init_requests.load(Ordering::SeqCst),
            "trusty_sessions_created_total" => self.created.load(Ordering::SeqCst),
            "trusty_sessions_closed_total" => self.closed.load(Ordering::SeqCst),
            other => {
                let reason = other
                    .strip_prefix("trusty_csrf_rejections_total{reason=\"")
                    .and_then(|rest| rest.strip_suffix("\"}"))
                    .unwrap_or_else(|| panic!("{series} missing"));
                self.csrf_rejections
                    .lock()
                    .unwrap()
                    .iter()
                    .filter(|r| r.label() == reason)
                    .count()
            }
        };
        count as u64
    }
}

impl TestServer {
    pub async fn start(configure: impl FnOnce(&mut ServerConfig)) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut config = ServerConfig {
            bind: "127.0.0.1:0".parse().unwrap(),
            store: StoreKind::Memory,
            data_dir: dir.path().to_owned(),
            ..ServerConfig::default()
        };
        configure(&mut config);
        if library_app() {
            return Self::start_library(&config, dir).await;
        }
        let server = Server::bind(config).await.unwrap();
        let base = format!("http://{}", server.local_addr());
        let (tx, rx) = oneshot::channel();
        tokio::spawn(server.run_until(async {
            let _ = rx.await;
        }));
        Self {
            base,
            library_counters: None,
            _dir: dir,
            _shutdown: tx,
        }
    }

    /// The example application over the session part of `config`, on a memory store.
    async fn start_library(config: &ServerConfig, dir: tempfile::TempDir) -> Self {
        let counters = Arc::new(LibraryCounters::default());
        let events: Arc<dyn SessionEvents> = counters.clone();
        let sessions = Sessions::builder(Arc::new(MemoryStore::default()))
            .config(config.session_config())
            .events(events)
            .build()
            .unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let service =
            axum_app::app(&sessions).into_make_service_with_connect_info::<std::net::SocketAddr>();
        let (tx, rx) = oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = axum::serve(listener, service)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await;
        });
        Self {
            base,
            library_counters: Some(counters),
            _dir: dir,
            _shutdown: tx,
        }
    }

    /// A counter from `/metrics`, e.g. `trusty_session_init_requests_total`.
    pub async fn metric(&self, series: &str) -> u64 {
        if let Some(counters) = &self.library_counters {
            return counters.series(series);
        }
        let text = reqwest::get(format!("{}/metrics", self.base))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        text.lines()
            .find_map(|l| {
                l.strip_prefix(series)
                    .and_then(|rest| rest.strip_prefix(' '))
            })
            .unwrap_or_else(|| panic!("{series} missing"))
            .parse()
            .unwrap()
    }
}

/// A meeting point: the transport signals `arrived` and waits for `open`.
pub struct Gate {
    arrived: Semaphore,
    open: Semaphore,
}

impl Gate {
    pub fn new() -> Arc<Self> {
        Arc::new(Self {
            arrived: Semaphore::new(0),
            open: Semaphore::new(0),
        })
    }

    /// Waits until a call has reached the gate.
    pub async fn reached(&self) {
        self.arrived.acquire().await.unwrap().forget();
    }

    /// Lets every held call through.
    pub fn release(&self) {
        self.open.add_permits(Semaphore::MAX_PERMITS / 2);
    }

    async fn pass(&self) {
        self.arrived.add_permits(1);
        self.open.acquire().await.unwrap().forget();
    }
}

/// What happens to a matching call.
#[derive(Clone)]
pub enum Fault {
    /// Fails without reaching the server.
    Fail,
    /// Reaches the server, then the response is lost.
    DropResponse,
    /// Waits at the gate before sending.
    HoldRequest(Arc<Gate>),
    /// Sends, then waits at the gate before returning the response.
    HoldResponse(Arc<Gate>),
    /// Sends, waits at the gate, then reports the response lost.
    HoldThenDrop(Arc<Gate>),
    /// Replaces the `X-CSRF-Token` header with garbage.
    TamperCsrf,
}

struct Rule {
    path_prefix: String,
    exact: bool,
    remaining: Option<usize>,
    fault: Fault,
}

/// The real reqwest transport behind a list of fault rules.
pub struct FaultyTransport {
    pub inner: ReqwestTransport,
    rules: Mutex<Vec<Rule>>,
    pub sent: AtomicUsize,
}

impl FaultyTransport {
    pub fn new(base: &str) -> Arc<Self> {
        Self::over(ReqwestTransport::new(base).unwrap())
    }

    /// A transport sharing `jar` with others: two managers over one jar are two tabs
    /// of one browser.
    pub fn with_jar(base: &str, jar: Arc<Jar>) -> Arc<Self> {
        Self::over(ReqwestTransport::with_jar(base, jar).unwrap())
    }

    fn over(inner: ReqwestTransport) -> Arc<Self> {
        Arc::new(Self {
            inner,
            rules: Mutex::default(),
            sent: AtomicUsize::new(0),
        })
    }

    /// Applies `fault` to the next `times` calls whose path starts with `prefix`
    /// (`None`: every such call until cleared).
    pub fn inject(&self, prefix: &str, times: Option<usize>, fault: Fault) {
        self.rules.lock().unwrap().push(Rule {
            path_prefix: prefix.to_owned(),
            exact: false,
            remaining: times,
            fault,
        });
    }

    /// Like [`inject`](Self::inject), for calls to exactly `path`.
    pub fn inject_exact(&self, path: &str, times: Option<usize>, fault: Fault) {
        self.rules.lock().unwrap().push(Rule {
            path_prefix: path.to_owned(),
            exact: true,
            remaining: times,
            fault,
        });
    }

    pub fn clear(&self) {
        self.rules.lock().unwrap().clear();
    }

    fn take_fault(&self, path: &str) -> Option<Fault> {
        let mut rules = self.rules.lock().unwrap();
        let rule = rules.iter_mut().find(|r| {
            let matches = match r.exact {
                true => path == r.path_prefix,
                false => path.starts_with(&r.path_prefix),
            };
            matches && r.remaining != Some(0)
        })?;
        if let Some(remaining) = rule.remaining.as_mut() {
            *remaining -= 1;
        }
        Some(rule.fault.clone())
    }
}

#[async_trait::async_trait]
impl Transport for FaultyTransport {
    async fn send(&self, mut request: HttpRequest) -> Result<HttpResponse, TransportError> {
        let fault = self.take_fault(&request.path);
        match &fault {
            Some(Fault::Fail) => return Err(TransportError::Failed("injected failure".into())),
            Some(Fault::HoldRequest(gate)) => gate.pass().await,
            Some(Fault::TamperCsrf) => request = request.with_header("x-csrf-token", "tampered"),
            _ => {}
        }
        self.sent.fetch_add(1, Ordering::SeqCst);
        let response = self.inner.send(request).await;
        match fault {
            Some(Fault::DropResponse) => {
                Err(TransportError::Failed("injected: response lost".into()))
            }
            Some(Fault::HoldResponse(gate)) => {
                gate.pass().await;
                response
            }
            Some(Fault::HoldThenDrop(gate)) => {
                gate.pass().await;
                Err(TransportError::Failed("injected: response lost".into()))
            }
            _ => response,
        }
    }

    fn cookie(&self, name: &str) -> Option<String> {
        self.inner.cookie(name)
    }

    fn url(&self, path: &str) -> String {
        self.inner.url(path)
    }
}

/// A clock that moves only when told; `sleep` advances it instead of waiting.
pub struct ManualClock {
    now: AtomicI64,
}

impl ManualClock {
    /// Starts at the real current time (the server's `expires_at` is wall-clock).
    pub fn new() -> Arc<Self> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap();
        Arc::new(Self {
            now: AtomicI64::new(now.as_millis() as i64),
        })
    }

    pub fn now(&self) -> i64 {
        self.now.load(Ordering::SeqCst)
    }

    pub fn advance(&self, by: Duration) {
        self.now.fetch_add(by.as_millis() as i64, Ordering::SeqCst);
    }

    pub fn set(&self, millis: i64) {
        self.now.store(millis, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_millis(&self) -> i64 {
        self.now.load(Ordering::SeqCst)
    }

    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()> {
        self.advance(duration);
        Box::pin(async {})
    }
}

/// A manager on a faulty transport and a manual clock.
pub fn manager(server: &TestServer) -> (SessionManager, Arc<FaultyTransport>, Arc<ManualClock>) {
    let transport = FaultyTransport::new(&server.base);
    let clock = ManualClock::new();
    let manager =
        SessionManager::with_clock(transport.clone(), ManagerConfig::default(), clock.clone());
    (manager, transport, clock)
}

/// Another client of the same session: raw HTTP with the manager's cookies.
pub async fn post_as_other_client(
    server: &TestServer,
    transport: &FaultyTransport,
    path: &str,
) -> reqwest::StatusCode {
    let cookies = transport.inner.cookie_header().unwrap();
    let token = transport.inner.cookie("csrftoken").unwrap();
    reqwest::Client::new()
        .post(format!("{}{path}", server.base))
        .header("cookie", cookies)
        .header("x-csrf-token", token)
        .send()
        .await
        .unwrap()
        .status()
}

/// A server that accepts connections and reads requests but never answers: it counts
/// the requests that arrived and the connections the client closed.
pub struct SilentServer {
    pub base: String,
    requests: Arc<Semaphore>,
    closed: Arc<Semaphore>,
    task: tokio::task::JoinHandle<()>,
}

impl SilentServer {
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let requests = Arc::new(Semaphore::new(0));
        let closed = Arc::new(Semaphore::new(0));
        let (seen, gone) = (Arc::clone(&requests), Arc::clone(&closed));
        let task = tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let (seen, gone) = (Arc::clone(&seen), Arc::clone(&gone));
                tokio::spawn(async move {
                    use tokio::io::AsyncReadExt as _;
                    let mut buffer = vec![0u8; 64 * 1024];
                    let mut received = Vec::new();
                    let mut counted = false;
                    loop {
                        match socket.read(&mut buffer).await {
                            Ok(0) | Err(_) => break,
                            Ok(n) => received.extend_from_slice(&buffer[..n]),
                        }
                        if !counted && received.windows(4).any(|w| w == b"\r\n\r\n") {
                            counted = true;
                            seen.add_permits(1);
                        }
                    }
                    gone.add_permits(1);
                });
            }
        });
        Self {
            base,
            requests,
            closed,
            task,
        }
    }

    /// Waits (at most 60 s) until a request has fully arrived.
    pub async fn request_arrived(&self) {
        let permit = tokio::time::timeout(Duration::from_secs(60), self.requests.acquire())
            .await
            .expect("no request reached the silent server");
        permit.unwrap().forget();
    }

    /// Whether the client closes a connection within `within`.
    pub async fn connection_closed(&self, within: Duration) -> bool {
        match tokio::time::timeout(within, self.closed.acquire()).await {
            Ok(permit) => {
                permit.unwrap().forget();
                true
            }
            Err(_) => false,
        }
    }
}

impl Drop for SilentServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Waits until `condition` holds: at most 60 s, far past what any machine needs (the
/// wait ends as soon as it holds), so only a condition that never comes fails.
pub async fn eventually(what: &str, condition: impl Fn() -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while !condition() {
        assert!(
            std::time::Instant::now() < deadline,
            "never happened: {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A syntactically valid UUID v4 job id, different for each `n`.
/// The application's CSRF-protected POST: the converter's upload of a small text file,
/// the example application's echo.
pub async fn protected_post(
    api: &trustyconvert_client::ApiClient,
    n: u32,
) -> Result<(), trustyconvert_client::ClientError> {
    if library_app() {
        let request = trustyconvert_client::ApiRequest::post("/api/echo")
            .json(&serde_json::json!({ "n": n }))?;
        api.call::<serde_json::Value>(request).await.map(drop)
    } else {
        api.upload(&job_id(n), "note.txt", b"hello").await.map(drop)
    }
}

/// The path of a GET that needs a session: the converter's job status, the example
/// application's session status.
pub fn session_get_path() -> &'static str {
    if library_app() {
        "/api/session"
    } else {
        "/api/job_status"
    }
}

/// Sends the GET at [`session_get_path`].
pub async fn session_get(
    api: &trustyconvert_client::ApiClient,
) -> Result<(), trustyconvert_client::ClientError> {
    if library_app() {
        api.session_status().await.map(drop)
    } else {
        api.job_status(&job_id(1)).await.map(drop)
    }
}

pub fn job_id(n: u32) -> String {
    format!("00000000-0000-4000-8000-{n:012}")
}
