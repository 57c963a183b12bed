//! The TrustyConvert web UI. Built for wasm32 by the web UI issue; empty until then.

pub use trustyconvert_client as client;
