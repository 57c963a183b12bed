//! The record of everything the clients did: one [`Record`] per HTTP request, with the
//! instants it was sent and answered on one monotonic clock. The invariants are judged
//! on these instants only (what causally preceded what), never on how long anything
//! should take.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use sha2::{Digest, Sha256};

/// Microseconds since the run started, on the test process's monotonic clock.
pub type Micros = u64;

/// The run's clock, shared by every actor.
#[derive(Debug, Clone, Copy)]
pub struct Clock(Instant);

impl Clock {
    pub fn start() -> Self {
        Self(Instant::now())
    }

    pub fn now(&self) -> Micros {
        u64::try_from(self.0.elapsed().as_micros()).unwrap_or(u64::MAX)
    }
}

/// What a request did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Op {
    /// `GET /api/session/init`.
    Init,
    /// `GET /api/session/init?force=true`.
    ForceInit,
    /// `GET /api/session`.
    Validate,
    /// `POST /api/session/csrf`.
    Rotate,
    /// `POST /api/session/close`.
    Close,
    /// `POST /api/upload`, the body sent at once.
    Upload,
    /// `POST /api/upload`, the body trickled (a close may land while it arrives).
    SlowUpload,
    /// `POST /api/convert`.
    Convert,
    /// `GET /api/job_status`.
    JobStatus,
    /// `POST /api/download_token` for a completed job.
    DownloadToken,
    /// `GET /api/download?token=` (no cookie; the session is the token's).
    Download,
    /// `POST /api/download_token` for a job that does not exist: answered 404 when
    /// the CSRF token is accepted, 403 when not. A pure probe of the token.
    Probe,
}

impl Op {
    pub fn name(self) -> &'static str {
        match self {
            Op::Init => "init",
            Op::ForceInit => "force-init",
            Op::Validate => "validate",
            Op::Rotate => "rotate",
            Op::Close => "close",
            Op::Upload => "upload",
            Op::SlowUpload => "slow-upload",
            Op::Convert => "convert",
            Op::JobStatus => "job-status",
            Op::DownloadToken => "download-token",
            Op::Download => "download",
            Op::Probe => "probe",
        }
    }

    /// Whether the request creates or replaces a session when it succeeds.
    pub fn is_init(self) -> bool {
        matches!(self, Op::Init | Op::ForceInit)
    }

    pub fn is_upload(self) -> bool {
        matches!(self, Op::Upload | Op::SlowUpload)
    }
}

/// A session's store key in hex (SHA-256 of the secret cookie value): the name of its
/// folder under `DATA/jobs/` and its Redis hash tag `tc:{KEY}:`. The secret itself is
/// kept only by the actors that hold the cookie.
pub fn store_key(secret: &str) -> String {
    Sha256::digest(secret.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// One request and its answer.
#[derive(Debug, Clone)]
pub struct Record {
    pub id: usize,
    /// `s<slot>.t<tab>`, or `final` for the closing phase.
    pub actor: String,
    /// The provoked race this request took part in, if any.
    pub scenario: Option<&'static str>,
    /// Which server instance answered (0 or 1).
    pub instance: usize,
    pub op: Op,
    /// Store key of the session cookie sent (for a download: of the session that was
    /// given the token).
    pub session: Option<String>,
    /// The CSRF token sent (header and cookie alike).
    pub token_sent: Option<String>,
    /// When the request was handed to the client library: the server cannot have
    /// seen it earlier.
    pub sent: Micros,
    /// Trickled uploads: when the last byte of the file was handed over. The server
    /// cannot have accepted the upload earlier.
    pub body_done: Option<Micros>,
    /// When the whole answer had arrived (or the transport failed): the server had
    /// decided by then.
    pub received: Micros,
    /// HTTP status; `None` when the transport failed (no answer).
    pub status: Option<u16>,
    pub transport_error: Option<String>,
    pub error_type: Option<String>,
    /// `error.details.reason` (CSRF failures).
    pub reason: Option<String>,
    /// A 413 naming `details.max_session_storage`.
    pub quota_refusal: bool,
    /// The `csrf_token` a 200 answer carried (init, validate, rotate).
    pub token_returned: Option<String>,
    /// Store key of a session cookie the answer set, when it differs from the one
    /// sent (a session was created or replaced).
    pub created_session: Option<String>,
    /// The public handle (`data.id`) of init and validate answers.
    pub public_id: Option<String>,
    pub job_id: Option<uuid::Uuid>,
    /// Uploads: bytes of the file.
    pub bytes: Option<u64>,
    /// Job status answers: `data.status` and `data.output_size`.
    pub job_state: Option<String>,
    pub output_size: Option<u64>,
}

impl Record {
    pub fn ok(&self) -> bool {
        self.status.is_some_and(|s| (200..300).contains(&s))
    }

    /// The earliest instant the server can have committed this request's effect:
    /// the last body byte for a trickled upload, the send instant otherwise.
    pub fn commit_lower_bound(&self) -> Micros {
        self.body_done.unwrap_or(self.sent).max(self.sent)
    }

    /// A short description for violation reports.
    pub fn describe(&self) -> String {
        let status = match (self.status, &self.transport_error) {
            (Some(code), _) => {
                let mut text = code.to_string();
                if let Some(kind) = &self.error_type {
                    text.push(' ');
                    text.push_str(kind);
                }
                if let Some(reason) = &self.reason {
                    text.push_str(&format!(" ({reason})"));
                }
                text
            }
            (None, Some(error)) => format!("no answer: {error}"),
            (None, None) => "no answer".into(),
        };
        let mut text = format!(
            "#{} {} {} on instance {} [{:.3}s → {:.3}s]",
            self.id,
            self.actor,
            self.op.name(),
            self.instance,
            seconds(self.sent),
            seconds(self.received)
        );
        if let Some(done) = self.body_done {
            text.push_str(&format!(" body done {:.3}s", seconds(done)));
        }
        if let Some(scenario) = self.scenario {
            text.push_str(&format!(" ({scenario})"));
        }
        if let Some(token) = &self.token_sent {
            text.push_str(&format!(" token {}", short(token)));
        }
        text.push_str(&format!(" → {status}"));
        if let Some(token) = &self.token_returned {
            text.push_str(&format!(" returned {}", short(token)));
        }
        text
    }
}

pub fn seconds(micros: Micros) -> f64 {
    micros as f64 / 1e6
}

/// The first characters of a token or key, enough to tell them apart in a report.
pub fn short(text: &str) -> &str {
    &text[..text.len().min(10)]
}

/// Every record of a run, appended by all actors.
#[derive(Debug, Default, Clone)]
pub struct History(Arc<Mutex<Vec<Record>>>);

impl History {
    /// Appends `record`, numbering it; returns its number.
    pub fn push(&self, mut record: Record) -> usize {
        let mut records = self.0.lock().unwrap();
        record.id = records.len();
        records.push(record);
        records.len() - 1
    }

    pub fn snapshot(&self) -> Vec<Record> {
        self.0.lock().unwrap().clone()
    }
}
