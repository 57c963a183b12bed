//! The TrustyConvert client: centralized session management for every caller in a
//! process (native) or a page (wasm32).
//!
//! - [`SessionManager`]: one per process or page, cheap to clone, all clones share one
//!   state. Single-flight initialization owned by the manager, epoch checks so a reset
//!   or a newer init is never undone, throttle after success (never after failure),
//!   bounded backoff with jitter, expiry awareness, and bounded 403/401 recovery.
//! - [`ApiClient`]: the typed client every endpoint call goes through; it applies the
//!   recovery rules (403 CSRF → one refresh + one replay; 401 → one re-init + one replay).
//! - [`Store`]: the small reactive store (get / set / subscribe) that holds the token and
//!   the observable state.
//! - [`workflow`]: one conversion (upload → convert → poll → download), the same for
//!   the CLI and the page.
//! - [`Transport`]: the only I/O boundary — reqwest with a cookie jar natively, `fetch`
//!   with credentials in the browser.
//!
//! ```no_run
//! # async fn demo() -> Result<(), trustyconvert_client::ClientError> {
//! use trustyconvert_client::{ManagerConfig, SessionManager};
//! let manager = SessionManager::connect("http://127.0.0.1:8080", ManagerConfig::default())?;
//! // Any number of concurrent callers share one GET /api/session/init.
//! let session = manager.ensure_session().await?;
//! println!("session {} expires at {}", session.id, session.expires_at);
//! # Ok(()) }
//! ```

#![warn(missing_docs)]

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
pub use trustyconvert_protocol as protocol;
pub use trustyconvert_protocol::human_size;
