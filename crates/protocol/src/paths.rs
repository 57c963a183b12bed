//! Every path of the API, defined once: the server routes and documents them, the
//! clients call them.
//!
//! Jobs and download tokens are named in the query, except the job of
//! `DELETE /api/jobs/{job_id}`; the builders ([`job_status`], [`download`], [`job`])
//! percent-encode the value so that a malformed one cannot change the query or the
//! path.
//!
//! ```
//! use trustyconvert_protocol::paths;
//! assert_eq!(paths::UPLOAD, "/api/upload");
//! assert_eq!(paths::job_status("a b"), "/api/job_status?job_id=a%20b");
//! ```

/// Everything under this prefix is the API (answered with envelopes, guarded by the
/// session layer); everything else is the page and `/metrics`.
pub const API: &str = "/api";

/// `GET`: the request's session. The session routes are nested under it.
pub const SESSION: &str = "/api/session";
/// `GET`: join the request's session or create one.
pub const SESSION_INIT: &str = "/api/session/init";
/// [`SESSION_INIT`] asking to replace the current session (only with proof of origin).
pub const SESSION_INIT_FORCED: &str = "/api/session/init?force=true";
/// `POST`: rotate the CSRF token.
pub const SESSION_CSRF: &str = "/api/session/csrf";
/// `POST`: close the session (and delete what it owns).
pub const SESSION_CLOSE: &str = "/api/session/close";

/// `GET`: the service's health report (no session).
pub const HEALTH: &str = "/api/health";
/// `GET`: the conversions offered (no session).
pub const FORMATS: &str = "/api/convert/formats";
/// `GET`: the same answer as [`FORMATS`], at the name earlier TrustyConvert backends
/// (and the frontends written for them) use.
pub const SUPPORTED_CONVERSIONS: &str = "/api/supported-conversions";
/// `GET`: the OpenAPI document (no session).
pub const OPENAPI: &str = "/api/openapi.json";
/// `POST` (multipart, see [`crate::fields`]): upload a file as a new job.
pub const UPLOAD: &str = "/api/upload";
/// `POST`: queue the conversion of an uploaded job.
pub const CONVERT: &str = "/api/convert";
/// `GET ?job_id=`: where a job stands; build it with [`job_status`].
pub const JOB_STATUS: &str = "/api/job_status";
/// `POST`: a single-use download token for a completed job.
pub const DOWNLOAD_TOKEN: &str = "/api/download_token";
/// `GET`/`HEAD ?token=`: the output file (or a zip of several); build it with
/// [`download`].
pub const DOWNLOAD: &str = "/api/download";
/// `POST`: a single-use download token for one zip of several completed jobs.
pub const DOWNLOAD_ARCHIVE: &str = "/api/download/archive";
/// `GET`: the session's jobs, newest first.
pub const JOBS: &str = "/api/jobs";
/// `DELETE`: one job of the session, cancelled if running, its files removed at once
/// (the route's pattern; build a path with [`job`]).
pub const JOB: &str = "/api/jobs/{job_id}";

/// `GET`: Prometheus counters (outside the API).
pub const METRICS: &str = "/metrics";

/// `GET /api/job_status?job_id=` of one job.
pub fn job_status(job_id: &str) -> String {
    format!("{JOB_STATUS}?job_id={}", query_escape(job_id))
}

/// `GET /api/download?token=` of one download token.
pub fn download(token: &str) -> String {
    format!("{DOWNLOAD}?token={}", query_escape(token))
}

/// `DELETE /api/jobs/{job_id}` of one job.
pub fn job(job_id: &str) -> String {
    format!("{JOBS}/{}", query_escape(job_id))
}

/// Percent-encodes a query value or path segment (ids and tokens are URL-safe already; this keeps a
/// malformed value from changing the query).
fn query_escape(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_paths_live_under_the_session_path_and_everything_under_the_api() {
        for path in [
            SESSION_INIT,
            SESSION_INIT_FORCED,
            SESSION_CSRF,
            SESSION_CLOSE,
        ] {
            assert!(path.starts_with(&format!("{SESSION}/")), "{path}");
        }
        assert!(SESSION_INIT_FORCED.starts_with(&format!("{SESSION_INIT}?")));
        for path in [
            SESSION,
            HEALTH,
            FORMATS,
            OPENAPI,
            UPLOAD,
            CONVERT,
            JOB_STATUS,
            DOWNLOAD_TOKEN,
            DOWNLOAD,
            DOWNLOAD_ARCHIVE,
            JOBS,
            JOB,
        ] {
            assert!(path.starts_with(&format!("{API}/")), "{path}");
        }
        assert!(!METRICS.starts_with(API));
    }

    #[test]
    fn query_values_cannot_change_the_query() {
        assert_eq!(
            job_status("0b6c2c8e-54b4-4c3a-9d55-6a4c1f0f0a11"),
            "/api/job_status?job_id=0b6c2c8e-54b4-4c3a-9d55-6a4c1f0f0a11"
        );
        assert_eq!(download("a&b=c#d"), "/api/download?token=a%26b%3Dc%23d");
        assert_eq!(download("é"), "/api/download?token=%C3%A9");
        assert_eq!(job("../session/close"), "/api/jobs/..%2Fsession%2Fclose");
    }
}
