//! The field names of the `multipart/form-data` body of `POST /api/upload`.
//!
//! ```
//! use trustyconvert_protocol::fields;
//! assert_eq!((fields::JOB_ID, fields::FILE), ("job_id", "file"));
//! ```

/// The client-generated job id (a UUID v4), a text field; it comes before the file.
pub const JOB_ID: &str = "job_id";

/// The file itself, with its file name and content type.
pub const FILE: &str = "file";
