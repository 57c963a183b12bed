//! The typed API client: every endpoint call goes through [`ApiClient::call`], which
//! ensures a session first and applies the bounded recovery rules.

use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde::Serialize;
use trustyconvert_protocol::json::{FromJson, Json, ToJson};
use trustyconvert_protocol::{fields, paths};
use trustyconvert_protocol::{
    ArchiveRequest, CloseResponse, ConversionOptions, ConvertRequest, ConvertResponse,
    CsrfTokenResponse, DownloadTokenRequest, DownloadTokenResponse, ErrorType, Format, FormatGroup,
    HealthReport, JobListResponse, JobStatusResponse, SessionInfo, UploadResponse, CSRF_HEADER,
};

use crate::counters::Counters;
use crate::envelope::{decode_envelope, decode_envelope_serde};
use crate::error::ClientError;
use crate::manager::SessionManager;
use crate::manager::Ticket;
use crate::transport::{
    FileBody, HttpMethod, HttpRequest, HttpResponse, Progress, RequestBody, Upload,
};

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

    /// `DELETE path`, with a session and the CSRF header.
    pub fn delete(path: impl Into<String>) -> Self {
        Self {
            request: HttpRequest::new(HttpMethod::Delete, path),
            needs_session: true,
        }
    }

    /// A JSON body from one of the protocol's request types (written by the protocol's
    /// own codec, which the browser bundle carries instead of `serde_json`).
    pub fn json_of(self, body: &impl ToJson) -> Self {
        self.body("application/json", body.to_json().into_bytes())
    }

    /// A JSON body from any `serde` type (an application's own requests).
    pub fn json(self, body: &impl Serialize) -> Result<Self, ClientError> {
        let bytes = serde_json::to_vec(body).map_err(|error| ClientError::Protocol {
            status: 0,
            detail: format!("cannot encode request: {error}"),
        })?;
        Ok(self.body("application/json", bytes))
    }

    /// A raw body with its content type.
    pub fn body(mut self, content_type: &str, bytes: Vec<u8>) -> Self {
        self.request.body = Some(RequestBody::Bytes {
            content_type: content_type.to_owned(),
            bytes: Arc::from(bytes),
        });
        self
    }

    /// A `multipart/form-data` upload (the transport encodes it).
    pub fn upload(mut self, upload: Upload) -> Self {
        self.request.body = Some(RequestBody::Upload(upload));
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

impl SessionManager {
    /// The typed API client that routes every call through this manager. (Defined
    /// here, beside the client: the manager itself knows nothing of the API.)
    pub fn api(&self) -> ApiClient {
        ApiClient::new(self.clone())
    }
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
    /// `SessionValidationError` re-initializes (single flight) and replays once. A
    /// refusal that outlives its repair also goes to `last_error`; any other error
    /// reaches the caller only. At most three sends, never a loop. A response from
    /// before a `reset_session()`/`close_session()` repairs nothing: the call fails
    /// with [`ClientError::Superseded`].
    pub async fn call<T: DeserializeOwned>(&self, request: ApiRequest) -> Result<T, ClientError> {
        self.call_with(request, decode_envelope_serde).await
    }

    /// [`call`](Self::call) for the protocol's own answer types, read with the
    /// protocol's small codec (what every typed method here uses, so a browser build
    /// carries no `serde_json`).
    pub async fn call_typed<T: FromJson>(&self, request: ApiRequest) -> Result<T, ClientError> {
        self.call_with(request, decode_envelope).await
    }

    async fn call_with<T>(
        &self,
        request: ApiRequest,
        decode: fn(HttpResponse) -> Result<T, ClientError>,
    ) -> Result<T, ClientError> {
        if !request.needs_session {
            return decode(self.send(&request.request, None).await?);
        }
        Ok(self.call_in_session(&request, decode).await?.0)
    }

    /// A call for a request that needs a session; also returns the ticket the answered
    /// request was sent with and when it was sent.
    async fn call_in_session<T>(
        &self,
        request: &ApiRequest,
        decode: fn(HttpResponse) -> Result<T, ClientError>,
    ) -> Result<(T, Ticket, i64), ClientError> {
        let mut refreshed_csrf = false;
        let mut reinitialized = false;
        loop {
            let ticket = self.manager.ensure_ticket().await?;
            if refreshed_csrf || reinitialized {
                Counters::bump(&self.manager.inner.counters.replays);
            }
            let sent_at = self.manager.inner.clock.now_millis();
            let response = self
                .send(&request.request, Some(&ticket.session.csrf_token))
                .await?;
            let error = match decode(response) {
                Ok(data) => {
                    self.manager.clear_error(&ticket);
                    return Ok((data, ticket, sent_at));
                }
                Err(error) => error,
            };
            match error.kind() {
                Some(ErrorType::CSRFValidationError) if !refreshed_csrf => {
                    refreshed_csrf = true;
                    self.manager.recover_csrf_for(&ticket).await?;
                }
                Some(ErrorType::SessionValidationError) if !reinitialized => {
                    reinitialized = true;
                    self.manager.recover_session_for(&ticket).await?;
                }
                Some(ErrorType::CSRFValidationError | ErrorType::SessionValidationError) => {
                    // Repaired once and refused again: a session-level failure.
                    return Err(self.manager.session_failure(&ticket, error));
                }
                _ => return Err(error),
            }
        }
    }

    /// One exchange with the manager's request timeout; attaches the CSRF header to
    /// unsafe methods.
    pub(crate) async fn send(
        &self,
        request: &HttpRequest,
        token: Option<&str>,
    ) -> Result<HttpResponse, ClientError> {
        let mut request = request.clone();
        if let (true, Some(token)) = (request.method.is_unsafe(), token) {
            request = request.with_header(CSRF_HEADER, token);
        }
        request
            .timeout
            .get_or_insert(self.manager.inner.config.request_timeout);
        Counters::bump(&self.manager.inner.counters.api_requests);
        Ok(self.manager.inner.transport.send(request).await?)
    }

    /// `GET /api/session`.
    pub async fn session_status(&self) -> Result<SessionInfo, ClientError> {
        self.call_typed(ApiRequest::get(paths::SESSION)).await
    }

    /// `POST /api/session/csrf`: asks the server for a new token and adopts it.
    pub async fn rotate_csrf(&self) -> Result<CsrfTokenResponse, ClientError> {
        Counters::bump(&self.manager.inner.counters.csrf_rotations);
        let (rotated, ticket, sent_at) = self
            .call_in_session::<CsrfTokenResponse>(
                &ApiRequest::post(paths::SESSION_CSRF),
                decode_envelope,
            )
            .await?;
        self.manager.adopt_rotated(&ticket, &rotated, sent_at);
        Ok(rotated)
    }

    /// `GET /api/health` (no session).
    pub async fn health(&self) -> Result<HealthReport, ClientError> {
        self.call_typed(ApiRequest::get(paths::HEALTH).without_session())
            .await
    }

    /// `GET /api/convert/formats` (no session).
    pub async fn formats(&self) -> Result<Vec<FormatGroup>, ClientError> {
        self.call_typed(ApiRequest::get(paths::FORMATS).without_session())
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
        let file = FileBody::Bytes(Arc::from(bytes));
        self.upload_file(job_id, filename, file, None).await
    }

    /// `POST /api/upload` of any [`FileBody`] (in the browser a `File`, which is never
    /// copied into wasm memory), reporting the bytes sent where the transport can see
    /// them (natively; the browser's `fetch` cannot observe uploads). Dropping the
    /// future cancels the upload.
    pub async fn upload_file(
        &self,
        job_id: &str,
        filename: &str,
        file: FileBody,
        progress: Option<Progress>,
    ) -> Result<UploadResponse, ClientError> {
        let upload = Upload {
            fields: vec![(fields::JOB_ID.to_owned(), job_id.to_owned())],
            file_field: fields::FILE.to_owned(),
            filename: filename.to_owned(),
            file,
        };
        let request = ApiRequest::post(paths::UPLOAD)
            .upload(upload)
            .progress(progress);
        self.call_typed(request).await
    }

    /// `POST /api/convert`: converts the uploaded job to `target`.
    pub async fn convert(
        &self,
        job_id: &str,
        target: Format,
    ) -> Result<ConvertResponse, ClientError> {
        self.convert_with_options(job_id, target, &ConversionOptions::default())
            .await
    }

    /// `POST /api/convert` with conversion options (quality, size, pages, metadata).
    pub async fn convert_with_options(
        &self,
        job_id: &str,
        target: Format,
        options: &ConversionOptions,
    ) -> Result<ConvertResponse, ClientError> {
        let request = ConvertRequest {
            job_id: job_id.to_owned(),
            target_format: target.name().to_owned(),
            source_format: None,
            options: options.clone(),
        };
        self.call_typed(ApiRequest::post(paths::CONVERT).json_of(&request))
            .await
    }

    /// `GET /api/job_status?job_id=`.
    pub async fn job_status(&self, job_id: &str) -> Result<JobStatusResponse, ClientError> {
        self.call_typed(ApiRequest::get(paths::job_status(job_id)))
            .await
    }

    /// `POST /api/download_token`.
    pub async fn download_token(&self, job_id: &str) -> Result<DownloadTokenResponse, ClientError> {
        let request = DownloadTokenRequest {
            job_id: job_id.to_owned(),
        };
        self.call_typed(ApiRequest::post(paths::DOWNLOAD_TOKEN).json_of(&request))
            .await
    }

    /// `GET /api/jobs`: the session's jobs, newest first.
    pub async fn jobs(&self) -> Result<Vec<JobStatusResponse>, ClientError> {
        let list: JobListResponse = self.call_typed(ApiRequest::get(paths::JOBS)).await?;
        Ok(list.jobs)
    }

    /// `DELETE /api/jobs/{job_id}`: deletes a job now (cancelled if running, its files
    /// removed, its bytes released from the session's quota).
    pub async fn delete_job(&self, job_id: &str) -> Result<(), ClientError> {
        self.call_typed(ApiRequest::delete(paths::job(job_id)))
            .await
    }

    /// `POST /api/download/archive`: a single-use token for one zip of the outputs of
    /// `job_ids` (completed jobs of the session), redeemed like any download token.
    pub async fn archive_token(
        &self,
        job_ids: &[String],
    ) -> Result<DownloadTokenResponse, ClientError> {
        let request = ArchiveRequest {
            job_ids: job_ids.to_vec(),
        };
        self.call_typed(ApiRequest::post(paths::DOWNLOAD_ARCHIVE).json_of(&request))
            .await
    }

    /// The plain URL of `GET /api/download?token=`, for a link or a navigation: the
    /// browser then streams the file to disk itself (the token is the only credential
    /// it needs, and it is single-use).
    pub fn download_url(&self, token: &str) -> String {
        self.manager.inner.transport.url(&paths::download(token))
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
        let mut request = HttpRequest::new(HttpMethod::Get, paths::download(token));
        request.progress = progress;
        let response = self.send(&request, None).await?;
        if response.status == 200 {
            return Ok(response.body);
        }
        Err(decode_envelope::<Json>(response)
            .err()
            .unwrap_or_else(|| ClientError::Protocol {
                status: 200,
                detail: "no file".into(),
            }))
    }

    /// `POST /api/session/close` with the token held now, without creating a session
    /// to close. `Ok(None)` when there was no session (left) to close.
    pub(crate) async fn close_session(&self) -> Result<Option<CloseResponse>, ClientError> {
        let request = HttpRequest::new(HttpMethod::Post, paths::SESSION_CLOSE);
        let Some(token) = self.manager.held_token() else {
            return Ok(None);
        };
        let first = decode_envelope::<CloseResponse>(self.send(&request, Some(&token)).await?);
        match first {
            Err(error) if error.kind() == Some(ErrorType::CSRFValidationError) => {}
            other => return closed(other),
        }
        // The token was rotated elsewhere: read the current one, then replay once.
        let token = match self.manager.token_of_session_closing().await {
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
