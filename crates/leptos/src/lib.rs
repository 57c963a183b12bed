//! Leptos bindings for TrustyConvert sessions: `<SessionProvider>` and
//! [`use_session()`], the browser half of centralized session management (wasm32, CSR).
//!
//! Wrap the part of the page that talks to the API in a [`SessionProvider`]; any
//! component below it calls [`use_session()`] for reactive state (is a session held,
//! is one starting, the last failure, the session's public id and expiry) and the
//! actions (ensure, reset, close), and makes API calls through
//! [`UseSession::manager`]`().api()`, which adds the CSRF header and repairs a refused
//! token or a lost session once, by itself.
//!
//! What the provider guarantees:
//! - **Single flight.** However many components ask for the session, one
//!   initialization runs; a live cookie (a reload, another tab) is adopted, not
//!   replaced.
//! - **One session for all tabs.** Initialization runs under a Web Lock, so two tabs
//!   opened together make one session; every init, rotation and close is posted on a
//!   `BroadcastChannel`, so the other tabs adopt (or forget) it without meeting a 401
//!   or 403 first.
//! - **Recovery.** When the page becomes visible again a session closed or rotated
//!   elsewhere is noticed without a request, and a stale token is revalidated once; a
//!   [`CSRF_ERROR_EVENT`] dispatched by other code repairs the token if it is still the
//!   one held.
//! - **Clean-up.** Every listener is removed when the provider is.
//!
//! ```no_run
//! use leptos::prelude::*;
//! use trustyconvert_leptos::{use_session, ProviderConfig, SessionProvider};
//!
//! #[component]
//! fn SessionBadge() -> impl IntoView {
//!     let session = use_session();
//!     let id = session.session();
//!     view! {
//!         <p>
//!             {move || id.with(|s| match s {
//!                 Some(s) => format!("session {} until {}", s.id, s.expires_at),
//!                 None => "starting a session…".to_owned(),
//!             })}
//!         </p>
//!     }
//! }
//!
//! fn main() {
//!     // The default: the page's own origin, its session routes under /api/session.
//!     let config = ProviderConfig::default().with_channel("my-app-session");
//!     leptos::mount::mount_to_body(move || {
//!         view! {
//!             <SessionProvider config=config.clone()>
//!                 <SessionBadge />
//!             </SessionProvider>
//!         }
//!     });
//! }
//! ```
//!
//! # Features
//!
//! None. The crate builds for `wasm32-unknown-unknown` only (it drives the browser's
//! `BroadcastChannel`, Web Locks and `fetch`).
//!
//! # Minimum supported Rust version
//!
//! 1.92.

#![deny(missing_docs)]

mod config;
mod context;
mod page_events;
mod provider;
mod tabs;

pub use config::{ProviderConfig, DEFAULT_CHANNEL};
pub use context::{use_session, UseSession};
pub use page_events::CSRF_ERROR_EVENT;
pub use provider::SessionProvider;
/// The client crate the provider's manager comes from (`ManagerConfig`, `ApiRequest`,
/// `ClientError`, …), re-exported so an app depends on one version of it.
pub use trustyconvert_client as client;
