//! The TrustyConvert client: one [`SessionManager`] per process (native) or page
//! (wasm32) that obtains, shares and repairs the session, the typed [`ApiClient`] every
//! endpoint call goes through, and [`workflow::Workflow`], one conversion from upload to
//! download.
//!
//! - [`SessionManager`]: cheap to clone, all clones share one state. Obtain a session
//!   with [`ensure_session`](SessionManager::ensure_session); watch the token, the
//!   [`SessionState`] or the [`SessionEvent`]s;
//!   [`reset_session`](SessionManager::reset_session) and
//!   [`close_session`](SessionManager::close_session) end it. Tuned by
//!   [`ManagerConfig`].
//! - [`ApiClient`] (from [`SessionManager::api`]): typed calls for the API's
//!   endpoints, and [`ApiClient::call`] with an [`ApiRequest`] for any other that
//!   answers with the JSON envelope.
//! - [`workflow`]: upload → convert → poll → download (the bytes, or a link), with an
//!   [`Observer`](workflow::Observer) for progress.
//! - [`Transport`]: the only I/O boundary. `transport::ReqwestTransport` natively
//!   (reqwest with a cookie jar), `transport::FetchTransport` on wasm32 (`fetch` with
//!   credentials); implement the trait to use another.
//! - [`Store`]: the small reactive value (get, set, subscribe) the manager's state is
//!   kept in.
//!
//! What it guarantees:
//!
//! - **One initialization at a time.** However many callers ask at once, at most one
//!   initialization and one token refresh are in flight per manager; every caller
//!   joins them and gets the same outcome. The flight runs as its own task, so a caller
//!   that drops its future cancels nothing for the others. A session whose token is
//!   fresh is returned without I/O.
//! - **Bounded recovery, never a loop.** [`ApiClient::call`] repairs a 403
//!   `CSRFValidationError` with one shared token refresh and one replay, and a 401
//!   `SessionValidationError` with one shared re-initialization and one replay: at most
//!   three sends per call. A repair for a token that was already replaced uses the held
//!   session without I/O.
//! - **A reset wins.** After [`reset_session`](SessionManager::reset_session) or
//!   [`close_session`](SessionManager::close_session), nothing started before it can
//!   install a session or start an initialization: an initialization or a repair
//!   started before it ends with [`ClientError::Superseded`]. A closed session is never
//!   revived (see [`SessionManager::adopt`]).
//! - **Failures are not cached.** Inside `min_init_interval` after a success, callers
//!   get that success; a failure is never handed to the next caller, who tries
//!   again.
//! - **Bounded waits.** Initialization retries transient failures (network, timeouts,
//!   5xx, 429) at most `max_init_attempts` times with jittered exponential backoff,
//!   honouring `Retry-After` up to `backoff_max`; no caller waits longer than
//!   `init_deadline` for it, and every request has a time limit, `request_timeout`
//!   (natively counted from the request's last progress).
//! - **Server time.** A session's expiry is the server's `expires_in` counted from when
//!   the request was sent, on this client's clock: a skewed clock changes nothing.
//! - **Listeners run unlocked.** Token, state and event listeners are called after the
//!   manager's lock is released, so they may call any method of the manager.
//!
//! Natively the manager runs its flights on tokio: use it inside a tokio runtime. In the
//! browser it uses `wasm-bindgen-futures`.
//!
//! # Example
//!
//! The manager over an in-memory transport that answers like a server: ten callers at
//! once, one `GET /api/session/init`.
//!
//! ```
//! use std::sync::atomic::{AtomicUsize, Ordering};
//! use std::sync::Arc;
//!
//! use trustyconvert_client::protocol::{paths, Envelope, SessionInfo};
//! use trustyconvert_client::{
//!     HttpRequest, HttpResponse, ManagerConfig, SessionManager, Transport, TransportError,
//! };
//!
//! /// Answers `GET /api/session/init` with a new session, and counts requests.
//! #[derive(Default)]
//! struct FakeServer {
//!     requests: AtomicUsize,
//! }
//!
//! #[async_trait::async_trait]
//! impl Transport for FakeServer {
//!     async fn send(&self, request: HttpRequest) -> Result<HttpResponse, TransportError> {
//!         assert_eq!(request.path, paths::SESSION_INIT);
//!         self.requests.fetch_add(1, Ordering::SeqCst);
//!         let session = SessionInfo {
//!             id: "s1".into(),
//!             csrf_token: "t1".into(),
//!             expires_at: "2030-01-01T00:00:00Z".into(),
//!             expires_in: 3600,
//!         };
//!         let body = serde_json::to_vec(&Envelope::success(session, "c1".into())).unwrap();
//!         Ok(HttpResponse { status: 200, headers: Vec::new(), body })
//!     }
//!
//!     fn cookie(&self, _name: &str) -> Option<String> {
//!         None
//!     }
//!
//!     fn url(&self, path: &str) -> String {
//!         format!("http://server.test{path}")
//!     }
//! }
//!
//! #[tokio::main]
//! async fn main() -> Result<(), trustyconvert_client::ClientError> {
//!     let server = Arc::new(FakeServer::default());
//!     let manager = SessionManager::new(server.clone(), ManagerConfig::default());
//!
//!     let callers = (0..10).map(|_| manager.ensure_session());
//!     let sessions = futures::future::try_join_all(callers).await?;
//!
//!     assert!(sessions.iter().all(|session| &*session.csrf_token == "t1"));
//!     assert_eq!(server.requests.load(Ordering::SeqCst), 1);
//!     assert_eq!(manager.counts().init_requests, 1);
//!     assert!(manager.state().is_initialized);
//!     Ok(())
//! }
//! ```
//!
//! Against a running server (natively):
//!
//! ```no_run
//! use std::sync::Arc;
//!
//! use trustyconvert_client::protocol::Format;
//! use trustyconvert_client::workflow::Workflow;
//! use trustyconvert_client::{FileBody, ManagerConfig, SessionManager};
//!
//! # #[tokio::main]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let manager = SessionManager::connect("http://127.0.0.1:8080", ManagerConfig::default())?;
//! let session = manager.ensure_session().await?;
//! println!("session {} expires at {}", session.id, session.expires_at);
//!
//! let workflow = Workflow::new(manager.api());
//! let file = FileBody::Bytes(std::fs::read("notes.md")?.into());
//! let converted = workflow
//!     .convert_file(file, "notes.md", Format::Pdf, Arc::new(()))
//!     .await?;
//! let pdf = workflow.download(&converted, Arc::new(())).await?;
//! std::fs::write(&converted.file_name, pdf)?;
//! manager.close_session().await?;
//! # Ok(())
//! # }
//! ```
//!
//! # Features
//!
//! None. The target chooses the transport: reqwest (rustls, with the system's root
//! certificates) natively, the browser's `fetch` on `wasm32-unknown-unknown`.
//!
//! # Minimum supported Rust version
//!
//! 1.92.

#![deny(missing_docs)]

mod api;
mod clock;
mod counters;
mod envelope;
mod error;
mod hub;
mod manager;
mod runtime;
mod store;
pub mod transport;
pub mod workflow;

pub use api::{ApiClient, ApiRequest};
pub use clock::{Clock, SystemClock};
pub use counters::NetworkCounts;
pub use error::{too_large_message, ClientError};
pub use manager::{
    CookieCheck, ManagerConfig, SessionEvent, SessionFields, SessionManager, SessionSnapshot,
    SessionState,
};
pub use store::{Store, Subscription};
pub use transport::{
    FileBody, HttpMethod, HttpRequest, HttpResponse, Progress, RequestBody, Transport,
    TransportError, Upload,
};
/// The wire types (formats, paths, envelopes, answers) this client speaks, re-exported
/// so an application names the same definitions.
pub use trustyconvert_protocol as protocol;
pub use trustyconvert_protocol::human_size;

/// The README's example, compiled as a doctest so it cannot go stale.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeExample;
