//! Everything HTTP of the converter: connections, the router and its layers,
//! extractors, rate limits, handlers and the OpenAPI document. The session layer
//! (sessions, CSRF, the session routes, the error envelope) is
//! `trustyconvert-session`'s; the router puts it in front of every `/api` path.
//! Handlers parse, call a service ([`JobService`](crate::jobs::JobService)), and
//! render; rules live in the services.

mod body_pace;
pub(crate) mod connections;
mod json;
mod metrics;
pub mod openapi;
mod per_address;
mod rate_limit;
mod router;
mod routes;
mod state;
mod web;

pub(crate) use body_pace::SlowBody;
pub use json::ValidJson;
pub(crate) use metrics::Metrics;
pub(crate) use per_address::PerAddress;
pub use router::{app, App};
pub use state::{AppState, Services};
pub use trustyconvert_session::{ApiError, ApiJson, ApiResult};
