//! HTTP handlers, one module per resource.

pub mod health;
mod query;
pub mod session;

pub use query::ValidQuery;
