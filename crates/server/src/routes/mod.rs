//! HTTP handlers, one module per resource.

pub mod convert;
pub mod health;
mod json;
mod query;
pub mod session;

pub use json::ValidJson;
pub use query::ValidQuery;
