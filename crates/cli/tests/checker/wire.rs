//! Sending one request to an instance and recording it: the only place that talks
//! HTTP. Cookies are written by hand from what the caller passes (no cookie store), so
//! the record says exactly which session and which CSRF token each request carried.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::multipart::{Form, Part};
use serde_json::Value;
use tokio::sync::oneshot;
use uuid::Uuid;

use super::history::{store_key, Clock, History, Micros, Op, Record};

const SESSION_COOKIE: &str = "trustyconvert_session";
const CSRF_COOKIE: &str = "csrftoken";
/// No request may hang the run: past this the record says "no answer".
const REQUEST_TIMEOUT: Duration = Duration::from_secs(20);

/// A file trickled in chunks: after the first half it tells `half_sent` and waits for
/// `resume` (dropped senders count as go), so another request can land while the body
/// is still arriving.
pub struct Trickle {
    pub chunks: usize,
    pub pause: Duration,
    pub half_sent: oneshot::Sender<()>,
    pub resume: oneshot::Receiver<()>,
}

/// What a request carries besides cookies.
pub enum Payload {
    Empty,
    Json(Value),
    File {
        name: String,
        bytes: Arc<Vec<u8>>,
        trickle: Option<Trickle>,
    },
}

/// One request to send.
pub struct Request {
    pub actor: String,
    pub scenario: Option<&'static str>,
    pub instance: usize,
    pub op: Op,
    /// The secret session cookie to send.
    pub session: Option<String>,
    /// The CSRF token to send, as header and cookie.
    pub token: Option<String>,
    pub job_id: Option<Uuid>,
    /// Downloads: the token, and the store key of the session it was issued to.
    pub download: Option<(String, String)>,
    pub payload: Payload,
}

impl Request {
    pub fn new(actor: &str, instance: usize, op: Op) -> Self {
        Self {
            actor: actor.to_owned(),
            scenario: None,
            instance,
            op,
            session: None,
            token: None,
            job_id: None,
            download: None,
            payload: Payload::Empty,
        }
    }

    pub fn credentials(mut self, session: Option<String>, token: Option<String>) -> Self {
        self.session = session;
        self.token = token;
        self
    }

    pub fn scenario(mut self, scenario: Option<&'static str>) -> Self {
        self.scenario = scenario;
        self
    }

    pub fn job(mut self, job_id: Uuid) -> Self {
        self.job_id = Some(job_id);
        self
    }

    pub fn payload(mut self, payload: Payload) -> Self {
        self.payload = payload;
        self
    }

    /// A download with `token`, issued to the session with store key `session`.
    pub fn download(mut self, token: String, session: String) -> Self {
        self.download = Some((token, session));
        self
    }
}

/// A `Set-Cookie` for one of our cookies: `Some(value)`, or `None` when it expires it.
pub type CookieUpdate = Option<Option<String>>;

/// The answer, as the actor needs it (the full record is in the history).
#[derive(Debug)]
pub struct Reply {
    pub status: Option<u16>,
    pub data: Value,
    pub set_session: CookieUpdate,
    pub set_csrf: CookieUpdate,
    pub record: Record,
}

impl Reply {
    pub fn ok(&self) -> bool {
        self.record.ok()
    }
}

/// The instances and the recorder.
#[derive(Clone)]
pub struct Wire {
    client: reqwest::Client,
    bases: Arc<Vec<String>>,
    pub clock: Clock,
    pub history: History,
}

impl Wire {
    pub fn new(bases: Vec<String>, clock: Clock, history: History) -> Self {
        let client = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .build()
            .unwrap();
        Self {
            client,
            bases: Arc::new(bases),
            clock,
            history,
        }
    }

    pub fn instances(&self) -> usize {
        self.bases.len()
    }

    /// Sends `request`, records it and returns the answer.
    pub async fn send(&self, request: Request) -> Reply {
        let base = &self.bases[request.instance % self.bases.len()];
        let job_query = request.job_id.map(|id| id.to_string()).unwrap_or_default();
        let (method, path) = match request.op {
            Op::Init => ("GET", "/api/session/init".to_owned()),
            Op::ForceInit => ("GET", "/api/session/init?force=true".to_owned()),
            Op::Validate => ("GET", "/api/session".to_owned()),
            Op::Rotate => ("POST", "/api/session/csrf".to_owned()),
            Op::Close => ("POST", "/api/session/close".to_owned()),
            Op::Upload | Op::SlowUpload => ("POST", "/api/upload".to_owned()),
            Op::Convert => ("POST", "/api/convert".to_owned()),
            Op::JobStatus => ("GET", format!("/api/job_status?job_id={job_query}")),
            Op::DownloadToken | Op::Probe => ("POST", "/api/download_token".to_owned()),
            Op::Download => {
                let token = request.download.as_ref().map(|d| d.0.as_str());
                (
                    "GET",
                    format!("/api/download?token={}", token.unwrap_or("")),
                )
            }
        };
        let url = format!("{base}{path}");
        let mut builder = if method == "GET" {
            self.client.get(url)
        } else {
            self.client.post(url)
        };
        let mut cookies = Vec::new();
        if let Some(session) = &request.session {
            cookies.push(format!("{SESSION_COOKIE}={session}"));
        }
        if let Some(token) = &request.token {
            cookies.push(format!("{CSRF_COOKIE}={token}"));
            if method == "POST" {
                builder = builder.header("x-csrf-token", token);
            }
        }
        if request.op == Op::ForceInit {
            // The server replaces a session only with proof of same origin.
            builder = builder.header("sec-fetch-site", "same-origin");
        }
        if !cookies.is_empty() && request.op != Op::Download {
            builder = builder.header("cookie", cookies.join("; "));
        }
        let body_done: Arc<Mutex<Option<Micros>>> = Arc::default();
        let mut bytes_sent = None;
        builder = match request.payload {
            Payload::Empty => builder,
            Payload::Json(value) => builder.json(&value),
            Payload::File {
                name,
                bytes,
                trickle,
            } => {
                bytes_sent = Some(bytes.len() as u64);
                // The server may answer before reading the whole body (401, 403, 413)
                // and then close the connection: never put it back in the pool, where
                // the next request would find it closed.
                builder = builder.header("connection", "close");
                let job_id = request.job_id.unwrap_or_else(Uuid::new_v4).to_string();
                let part = match trickle {
                    None => Part::bytes(bytes.to_vec()),
                    Some(trickle) => {
                        let length = bytes.len() as u64;
                        let stream = trickled(bytes, trickle, self.clock, Arc::clone(&body_done));
                        Part::stream_with_length(reqwest::Body::wrap_stream(stream), length)
                    }
                };
                let part = part.file_name(name).mime_str("image/png").unwrap();
                builder.multipart(Form::new().text("job_id", job_id).part("file", part))
            }
        };

        let sent = self.clock.now();
        let answer = async {
            let response = builder.send().await?;
            let status = response.status().as_u16();
            let set_session = cookie_update(&response, SESSION_COOKIE);
            let set_csrf = cookie_update(&response, CSRF_COOKIE);
            let body = response.bytes().await?;
            Ok::<_, reqwest::Error>((status, set_session, set_csrf, body))
        }
        .await;
        let received = self.clock.now();

        let sent_key = match request.op {
            Op::Download => request.download.as_ref().map(|d| d.1.clone()),
            _ => request.session.as_deref().map(store_key),
        };
        let mut record = Record {
            id: 0,
            actor: request.actor,
            scenario: request.scenario,
            instance: request.instance % self.bases.len(),
            op: request.op,
            session: sent_key,
            token_sent: request.token,
            sent,
            body_done: *body_done.lock().unwrap(),
            received,
            status: None,
            transport_error: None,
            error_type: None,
            reason: None,
            quota_refusal: false,
            token_returned: None,
            created_session: None,
            public_id: None,
            job_id: request.job_id,
            bytes: bytes_sent,
            job_state: None,
            output_size: None,
        };
        let (status, set_session, set_csrf, data) = match answer {
            Err(error) => {
                record.transport_error = Some(error_chain(&error));
                (None, None, None, Value::Null)
            }
            Ok((status, set_session, set_csrf, body)) => {
                let json: Value = if request.op == Op::Download && status == 200 {
                    Value::Null
                } else {
                    serde_json::from_slice(&body).unwrap_or(Value::Null)
                };
                record.status = Some(status);
                let error = &json["error"];
                record.error_type = error["type"].as_str().map(str::to_owned);
                record.reason = error["details"]["reason"].as_str().map(str::to_owned);
                record.quota_refusal =
                    status == 413 && !error["details"]["max_session_storage"].is_null();
                let data = json["data"].clone();
                if status == 200 {
                    record.token_returned = data["csrf_token"].as_str().map(str::to_owned);
                    record.public_id = data["id"].as_str().map(str::to_owned);
                    if request.op == Op::JobStatus {
                        record.job_state = data["status"].as_str().map(str::to_owned);
                        record.output_size = data["output_size"].as_u64();
                    }
                }
                if let Some(Some(secret)) = &set_session {
                    if request.session.as_deref() != Some(secret.as_str()) {
                        record.created_session = Some(store_key(secret));
                    }
                }
                (Some(status), set_session, set_csrf, data)
            }
        };
        let id = self.history.push(record.clone());
        record.id = id;
        Reply {
            status,
            data,
            set_session,
            set_csrf,
            record,
        }
    }
}

/// An error with its causes, `a: b: c`.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    text
}

/// The value a response sets for cookie `name`: `Some(None)` when it expires it.
fn cookie_update(response: &reqwest::Response, name: &str) -> CookieUpdate {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .find_map(|header| {
            let text = header.to_str().ok()?;
            let (key, value) = text.split(';').next()?.split_once('=')?;
            if key.trim() != name {
                return None;
            }
            let expired = value.is_empty()
                || text
                    .split(';')
                    .any(|attribute| attribute.trim().eq_ignore_ascii_case("max-age=0"));
            Some(if expired {
                None
            } else {
                Some(value.to_owned())
            })
        })
}

/// The file in `trickle.chunks` pieces with a pause before each; after the first half
/// it signals and waits. Records when the last piece was handed over.
fn trickled(
    bytes: Arc<Vec<u8>>,
    trickle: Trickle,
    clock: Clock,
    done: Arc<Mutex<Option<Micros>>>,
) -> impl futures::Stream<Item = Result<Vec<u8>, std::io::Error>> + Send + 'static {
    let chunks = trickle.chunks.max(2);
    let size = bytes.len().div_ceil(chunks);
    let pause = trickle.pause;
    let gate = Some((trickle.half_sent, trickle.resume));
    futures::stream::unfold((0usize, gate), move |(index, mut gate)| {
        let bytes = Arc::clone(&bytes);
        let done = Arc::clone(&done);
        async move {
            let start = index * size;
            if start >= bytes.len() {
                return None;
            }
            if index == chunks / 2 {
                if let Some((half_sent, resume)) = gate.take() {
                    let _ = half_sent.send(());
                    let _ = resume.await;
                }
            }
            tokio::time::sleep(pause).await;
            let end = (start + size).min(bytes.len());
            if end == bytes.len() {
                *done.lock().unwrap() = Some(clock.now());
            }
            Some((Ok(bytes[start..end].to_vec()), (index + 1, gate)))
        }
    })
}
