//! Server-side sessions with signed double-submit CSRF tokens for [axum]: a tower
//! layer, extractors, the session routes to nest, and pluggable stores.
//!
//! What it guarantees:
//!
//! - **Sessions**: 256-bit ids from a CSPRNG, kept by the store only as their SHA-256
//!   ([`SessionKey`]); an idle expiry that activity slides (at most one store write
//!   per step) and an absolute expiry that nothing extends. A closed or expired
//!   session never comes back: store updates only change existing records.
//! - **CSRF**: every unsafe request (anything but GET, HEAD, OPTIONS, TRACE) must pass
//!   an origin check (fetch metadata, then `Origin`), must not carry a form content
//!   type, and must repeat the CSRF cookie in the `X-CSRF-Token` header; the token is
//!   an HMAC over the session's store key and a nonce, so it is valid for *this*
//!   session only, compared in constant time. Rotation is a compare-and-swap on the
//!   nonce; the previous token stays valid for a grace window (default one minute),
//!   so the requests another tab sent with it still pass.
//! - **No fail-open**: a store that cannot answer is a 503 envelope; no request passes
//!   because its session or its rate limit could not be checked.
//! - **One error shape**: every refusal is the JSON envelope
//!   `{"success": false, "error": {"type", "message", "details"}, "correlation_id"}`
//!   with the status of its type ([`ApiError`]).
//!
//! The browser half (one initialization however many components ask, one session
//! for all tabs) is `trustyconvert-client` and `trustyconvert-leptos`.
//!
//! # Example
//!
//! ```
//! use std::sync::Arc;
//! use axum::{routing::post, Json, Router};
//! use trustyconvert_session::{store::MemoryStore, CsrfChecked, SessionConfig, Sessions};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let config = SessionConfig::builder().public_origin("https://app.example").build()?;
//! let sessions = Sessions::builder(Arc::new(MemoryStore::default()))
//!     .config(config)
//!     .build()?;
//! let app: Router = Router::new()
//!     .nest("/api/session", sessions.router())
//!     .route(
//!         "/api/echo",
//!         post(|CsrfChecked(_session): CsrfChecked, Json(body): Json<serde_json::Value>| async {
//!             Json(body)
//!         }),
//!     )
//!     .layer(sessions.layer());
//! # let _ = app; Ok(()) }
//! ```
//!
//! # Features
//!
//! - `memory` (default): `store::MemoryStore`, sessions in this process.
//! - `sqlite`: `store::sqlite::SqliteStore`, sessions in an SQLite file.
//! - `redis`: `store::redis::RedisStore`, sessions in Redis or a Redis Cluster.
//! - `contract`: `store::contract`, the behaviour every store must show.
//! - `openapi`: `SessionApi`, the routes' OpenAPI description (utoipa).
//!
//! # Minimum supported Rust version
//!
//! 1.92.

#![deny(missing_docs)]

pub mod config;
pub mod cookies;
pub mod correlation;
pub mod crypto;
pub mod csrf;
mod error;
mod events;
mod extract;
pub mod frame;
mod hooks;
pub mod http;
mod init;
pub mod keys;
mod layer;
#[cfg(feature = "openapi")]
pub mod openapi;
pub mod origin;
#[cfg(test)]
mod properties;
mod rate_limit;
mod routes;
mod service;
mod sessions;
pub mod store;
mod time;

pub use async_trait::async_trait;
pub use config::{ConfigError, CookieConfig, SameSite, SessionConfig, Timeouts};
pub use crypto::{Keyring, SessionKey};
pub use error::{ApiError, ApiJson, ApiResult};
pub use events::{NoEvents, SessionEvents};
pub use hooks::{NoHooks, SessionHooks};
pub use init::InitRequest;
pub use layer::{CsrfChecked, CurrentSession, RequireSession, SessionGuard, SessionLayer};
pub use rate_limit::RateLimits;
#[cfg(feature = "openapi")]
pub use routes::SessionApi;
pub use service::{ActiveSession, Rotation, SessionService};
pub use sessions::{Sessions, SessionsBuilder};
pub use time::Timestamp;
/// The wire types (envelope, session answers, paths, error-detail keys) this crate
/// speaks, re-exported so an application names the same definitions.
pub use trustyconvert_protocol as protocol;

/// The README's example, compiled as a doctest so it cannot go stale.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeExample;
