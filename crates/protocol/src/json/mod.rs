//! A small JSON codec for the protocol's own types, for clients that must stay small.
//!
//! The server and any Rust program can use the types' `serde` derives with `serde_json`.
//! This module exists for the browser: there, `serde_json` and the derived decoders cost
//! about a fifth of the web UI's wasm (a decoder instantiated per type, plus float
//! formatting for error messages), while these hand-written readers share one parser
//! and a few non-generic helpers. Each type's reader mirrors its derive exactly, and the
//! tests check both directions against `serde_json` for every type, so the two cannot
//! drift apart unnoticed.
//!
//! ```
//! use trustyconvert_protocol::json::{from_slice, ToJson};
//! use trustyconvert_protocol::{ArchiveRequest, JobStatus, UploadResponse};
//!
//! let upload: UploadResponse = from_slice(br#"{"job_id":"j-1","status":"uploaded"}"#).unwrap();
//! assert_eq!(upload.status, JobStatus::Uploaded);
//!
//! let request = ArchiveRequest { job_ids: vec!["j-1".into()] };
//! assert_eq!(request.to_json(), r#"{"job_ids":["j-1"]}"#);
//! ```

mod protocol_types;
mod read;
mod value;
mod write;

pub use read::{from_slice, FromJson};
pub use value::{Json, Object, MAX_DEPTH};
pub use write::{write_string, ObjectWriter, ToJson};

/// Why a document could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JsonError {
    /// Not JSON: `reason` at byte offset `at`.
    #[error("invalid JSON at byte {at}: {reason}")]
    Syntax {
        /// Byte offset of the problem.
        at: usize,
        /// What was wrong there.
        reason: &'static str,
    },
    /// JSON, but a value of the wrong kind (`field` is the innermost member named).
    #[error("{}expected {expected}", field.map(|name| format!("`{name}`: ")).unwrap_or_default())]
    Expected {
        /// The member whose value was wrong, when known.
        field: Option<&'static str>,
        /// What its value should have been.
        expected: &'static str,
    },
    /// A member the type does not have, where the type refuses unknown members.
    #[error("unknown field `{0}`")]
    UnknownField(String),
}

impl JsonError {
    /// A value of the wrong kind; the field is named by whoever reads the member.
    pub fn expected(expected: &'static str) -> Self {
        Self::Expected {
            field: None,
            expected,
        }
    }

    /// Names the member an error came from, unless a deeper one is already named.
    pub fn in_field(self, name: &'static str) -> Self {
        match self {
            Self::Expected {
                field: None,
                expected,
            } => Self::Expected {
                field: Some(name),
                expected,
            },
            other => other,
        }
    }
}

#[cfg(test)]
mod tests;
