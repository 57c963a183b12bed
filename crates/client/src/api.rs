//! The typed API client: every endpoint call goes through [`ApiClient::call`], which
//! ensures a session first and applies the bounded recovery rules.

use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde::Serialize;
use trustyconvert_protocol::{
    CloseResponse, ConvertRequest, ConvertResponse, CsrfTokenResponse, DownloadTokenRequest,
    DownloadTokenResponse, Envelope, ErrorType, FormatGroup, HealthReport, JobStatusResponse,
    SessionInfo, UploadResponse, CSRF_HEADER,
};

use crate::counters::Counters;
use crate::error::ClientError;
use crate::manager::SessionManager;
use crate::transport::{HttpMethod, HttpRequest, HttpResponse, Progress};

/// One API call, before session handling.
#[derive(Debug, Clone)]
pub struct ApiRequest {
    request: HttpRequest,
    needs_session: bool,
}

impl ApiRequest {
    /// `GET path`, with a session.
    pub fn get(path: impl Into<String>) -> Self {
        Self {
            request: HttpRequest::new(HttpMethod::Get, path),
            needs_session: true,
        }
    }

    /// `POST path`, with a session and the CSRF header.
    pub fn post(path: impl Into<String>) -> Self {
        Self {
            request: HttpRequest::new(HttpMethod::Post, path),
            needs_session: true,
        }
    }

    /// A JSON body.
    pub fn json(self, body: &impl Serialize) -> Result<Self, ClientError> {
        let bytes = serde_json::to_vec(body).map_err(|error| ClientError::Protocol {
            status: 0,
            detail: format!("cannot encode request: {error}"),
        })?;
        Ok(self.body("application/json", bytes))
    }

    /// A raw body with its content type (for example multipart).
    pub fn body(mut self, content_type: &str, bytes: Vec<u8>) -> Self {
        self.request.body = Some((content_type.to_owned(), Arc::from(bytes)));
        self
    }

    /// Reports upload progress (requests with a body) or download progress (without).
    pub fn progress(mut self, progress: Option<Progress>) -> Self {
        self.request.progress = progress;
        self
    }

    /// The endpoint needs no session (e.g. health, formats): no init, no recovery.
    pub fn without_session(mut self) -> Self {
        self.needs_session = false;
        self
    }
}

/// Endpoint calls with session handling. Obtain one with [`SessionManager::api`].
#[derive(Debug, Clone)]
pub struct ApiClient {
    manager: SessionManager,
}

impl ApiClient {
    pub(crate) fn new(manager: SessionManager) -> Self {
        Self { manager }
    }

    /// The manager behind this client.
    pub fn manager(&self) -> &SessionManager {
        &self.manager
    }

    /// Sends `request` and decodes the envelope's `data`.
    ///
    /// With a session: `ensure_session()` first; a 403 `CSRFValidationError` refreshes
    /// the token (single flight) and replays once with the new header; a 401
    /// `SessionValidationError` re-initializes (single flight) and replays once. Any
    /// other error, or a second failure of the same kind, reaches the caller and
    /// `last_error`. At most three sends, never a loop.
    pub async fn call<T: DeserializeOwned>(&self, request: ApiRequest) -> Result<T, ClientError> {
        let outcome = self.call_with_recovery(request).await;
        if let Err(error) = &outcome {
            if *error != ClientError::Superseded {
                self.manager.record_error(error);
            }
        }
        outcome
    }

    async fn call_with_recovery<T: DeserializeOwned>(
        &self,
        request: ApiRequest,
    ) -> Result<T, ClientError> {
        let mut refreshed_csrf = false;
        let mut reinitialized = false;
        loop {
            let token = match request.needs_session {
                true => Some(self.manager.ensure_session().await?.csrf_token),
                false => None,
            };
            if refreshed_csrf || reinitialized {
                Counters::bump(&self.manager.inner.counters.replays);
            }
            let response = self.send(&request.request, token.as_deref()).await?;
            let error = match decode_envelope(response) {
                Ok(data) => return Ok(data),
                Err(error) if request.needs_session => error,
                Err(error) => return Err(error),
            };
            match error.kind() {
                Some(ErrorType::CSRFValidationError) if !refreshed_csrf => {
                    refreshed_csrf = true;
                    self.manager.recover_csrf(token.as_deref()).await?;
                }
                Some(ErrorType::SessionValidationError) if !reinitialized => {
                    reinitialized = true;
                    self.manager.recover_session(token.as_deref()).await?;
                }
                _ => return Err(error),
            }
        }
    }

    /// One exchange: attaches the CSRF header to unsafe methods.
    pub(crate) async fn send(
        &self,
        request: &HttpRequest,
        token: Option<&str>,
    ) -> Result<HttpResponse, ClientError> {
        let mut request = request.clone();
        if let (true, Some(token)) = (request.method.is_unsafe(), token) {
            request = request.with_header(CSRF_HEADER, token);
        }
        Counters::bump(&self.manager.inner.counters.api_requests);
        Ok(self.manager.inner.transport.send(request).await?)
    }

    /// `GET /api/session`.
    pub async fn session_status(&self) -> Result<SessionInfo, ClientError> {
        self.call(ApiRequest::get("/api/session")).await
    }

    /// `POST /api/session/csrf`: asks the server for a new token and adopts it.
    pub async fn rotate_csrf(&self) -> Result<CsrfTokenResponse, ClientError> {
        Counters::bump(&self.manager.inner.counters.csrf_rotations);
        let rotated: CsrfTokenResponse = self.call(ApiRequest::post("/api/session/csrf")).await?;
        self.manager.adopt_rotated(&rotated)?;
        Ok(rotated)
    }

    /// `GET /api/health` (no session).
    pub async fn health(&self) -> Result<HealthReport, ClientError> {
        self.call(ApiRequest::get("/api/health").without_session())
            .await
    }

    /// `GET /api/convert/formats` (no session).
    pub async fn formats(&self) -> Result<Vec<FormatGroup>, ClientError> {
        self.call(ApiRequest::get("/api/convert/formats").without_session())
            .await
    }

    /// `POST /api/upload`: `bytes` as `filename` under the client-generated `job_id`
    /// (a UUID v4).
    pub async fn upload(
        &self,
        job_id: &str,
        filename: &str,
        bytes: &[u8],
    ) -> Result<UploadResponse, ClientError> {
        self.upload_with_progress(job_id, filename, bytes, None)
            .await
    }

    /// [`upload`](Self::upload), reporting the bytes sent (natively; the browser's
    /// `fetch` cannot observe uploads).
    pub async fn upload_with_progress(
        &self,
        job_id: &str,
        filename: &str,
        bytes: &[u8],
        progress: Option<Progress>,
    ) -> Result<UploadResponse, ClientError> {
        let (content_type, body) = multipart_body(job_id, filename, bytes);
        let request = ApiRequest::post("/api/upload")
            .body(&content_type, body)
            .progress(progress);
        self.call(request).await
    }

    /// `POST /api/convert`.
    pub async fn convert(
        &self,
        job_id: &str,
        target_format: &str,
    ) -> Result<ConvertResponse, ClientError> {
        let request = ConvertRequest {
            job_id: job_id.to_owned(),
            target_format: target_format.to_owned(),
            source_format: None,
        };
        self.call(ApiRequest::post("/api/convert").json(&request)?)
            .await
    }

    /// `GET /api/job_status?job_id=`.
    pub async fn job_status(&self, job_id: &str) -> Result<JobStatusResponse, ClientError> {
        self.call(ApiRequest::get(format!(
            "/api/job_status?job_id={}",
            query_escape(job_id)
        )))
        .await
    }

    /// `POST /api/download_token`.
    pub async fn download_token(&self, job_id: &str) -> Result<DownloadTokenResponse, ClientError> {
        let request = DownloadTokenRequest {
            job_id: job_id.to_owned(),
        };
        self.call(ApiRequest::post("/api/download_token").json(&request)?)
            .await
    }

    /// `GET /api/download?token=`: the output file's bytes (the token is consumed).
    pub async fn download(&self, token: &str) -> Result<Vec<u8>, ClientError> {
        self.download_with_progress(token, None).await
    }

    /// [`download`](Self::download), reporting the bytes received.
    pub async fn download_with_progress(
        &self,
        token: &str,
        progress: Option<Progress>,
    ) -> Result<Vec<u8>, ClientError> {
        let path = format!("/api/download?token={}", query_escape(token));
        let mut request = HttpRequest::new(HttpMethod::Get, path);
        request.progress = progress;
        let response = self.send(&request, None).await?;
        if response.status == 200 {
            return Ok(response.body);
        }
        let error = decode_envelope::<serde_json::Value>(response)
            .err()
            .unwrap_or_else(|| ClientError::Protocol {
                status: 200,
                detail: "no file".into(),
            });
        self.manager.record_error(&error);
        Err(error)
    }

    /// `POST /api/session/close` with the token held now, without creating a session
    /// to close. `Ok(None)` when there was no session (left) to close.
    pub(crate) async fn close_session(&self) -> Result<Option<CloseResponse>, ClientError> {
        let request = HttpRequest::new(HttpMethod::Post, "/api/session/close");
        let Some(token) = self.manager.held_token() else {
            return Ok(None);
        };
        let first = decode_envelope::<CloseResponse>(self.send(&request, Some(&token)).await?);
        match first {
            Err(error) if error.kind() == Some(ErrorType::CSRFValidationError) => {}
            other => return closed(other),
        }
        // The token was rotated elsewhere: read the current one, then replay once.
        let token = match self.manager.current_token_from_server().await {
            Ok(token) => token,
            Err(error) => return closed(Err(error)).map(|_| None),
        };
        Counters::bump(&self.manager.inner.counters.replays);
        closed(decode_envelope(self.send(&request, Some(&token)).await?))
    }
}

/// A close that finds no session has nothing left to do: that is success.
fn closed(
    outcome: Result<CloseResponse, ClientError>,
) -> Result<Option<CloseResponse>, ClientError> {
    match outcome {
        Ok(response) => Ok(Some(response)),
        Err(error) if error.kind() == Some(ErrorType::SessionValidationError) => Ok(None),
        Err(error) => Err(error),
    }
}

/// Decodes an envelope: `data` on success, the typed error otherwise.
pub(crate) fn decode_envelope<T: DeserializeOwned>(
    response: HttpResponse,
) -> Result<T, ClientError> {
    let status = response.status;
    let envelope: Envelope<T> =
        serde_json::from_slice(&response.body).map_err(|error| ClientError::Protocol {
            status,
            detail: format!("not a TrustyConvert envelope: {error}"),
        })?;
    match (envelope.success, envelope.data, envelope.error) {
        (true, Some(data), _) if (200..300).contains(&status) => Ok(data),
        (false, _, Some(error)) => Err(ClientError::Api {
            status,
            kind: error.kind,
            message: error.message,
            correlation_id: Some(envelope.correlation_id),
            retry_after_secs: response
                .header("retry-after")
                .and_then(|v| v.trim().parse().ok()),
        }),
        _ => Err(ClientError::Protocol {
            status,
            detail: "inconsistent envelope".to_owned(),
        }),
    }
}

/// Percent-encodes a query value (ids and tokens are URL-safe already; this keeps a
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

/// A `multipart/form-data` body with the `job_id` and `file` fields. The boundary is
/// derived from the job id (a random UUID), so it cannot be guessed by file content.
fn multipart_body(job_id: &str, filename: &str, bytes: &[u8]) -> (String, Vec<u8>) {
    let boundary = format!("trustyconvert-{}", job_id.replace('-', ""));
    let safe_name: String = filename
        .chars()
        .map(|c| match c {
            '"' => '\'',
            '\r' | '\n' => ' ',
            other => other,
        })
        .collect();
    let mut body = Vec::with_capacity(bytes.len() + 512);
    body.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"job_id\"\r\n\r\n{job_id}\r\n\
             --{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{safe_name}\"\r\n\
             Content-Type: application/octet-stream\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(bytes);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}
