//! Reading a request: the client's address (rate limits), the scheme it arrived by
//! (the origin check) and a query string whose rejection is an envelope.

mod arrival;
mod client_addr;
mod query;

pub use arrival::arrival_scheme;
pub use client_addr::{client_ip, client_key, is_trusted, ClientAddr};
pub use query::ValidQuery;
