//! Everything HTTP: connections, the router and its layers, the session guard,
//! extractors, rate limits, handlers and the OpenAPI document. The error type every
//! layer answers with, [`ApiError`], lives in `crate::error` because the services
//! return it too.
//! Handlers parse, call a service ([`SessionService`](crate::session::SessionService),
//! [`JobService`](crate::jobs::JobService)), and render; rules live in the services.

mod arrival;
mod body_pace;
mod client_addr;
pub(crate) mod connections;
pub mod correlation;
mod guard;
mod json;
mod metrics;
pub mod openapi;
mod per_address;
mod query;
mod rate_limit;
mod router;
mod routes;
mod state;
mod web;

pub use crate::error::{ApiError, ApiJson, ApiResult};
pub(crate) use arrival::arrival_scheme;
pub(crate) use body_pace::SlowBody;
pub use client_addr::{client_ip, client_key, ClientAddr};
pub use guard::{CurrentSession, RequireSession, SessionGuard, SessionGuardLayer};
pub use json::ValidJson;
pub(crate) use metrics::Metrics;
pub(crate) use per_address::PerAddress;
pub use query::ValidQuery;
pub use rate_limit::RateLimits;
pub use router::{app, App};
pub use state::{AppState, Services};
