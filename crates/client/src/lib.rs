//! The TrustyConvert client library. The SessionManager arrives with the client issue;
//! for now this crate only re-exports the wire types it will speak.

pub use trustyconvert_protocol as protocol;
