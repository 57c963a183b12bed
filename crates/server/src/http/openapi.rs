//! The OpenAPI 3.1 document of the API, generated from the protocol types and the
//! handlers' annotations, served at `GET /api/openapi.json`. A test sends real
//! requests to a real server and checks every answer against this document.

use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use trustyconvert_protocol::{
    CloseResponse, ConvertRequest, ConvertResponse, CsrfTokenResponse, DownloadTokenRequest,
    DownloadTokenResponse, ErrorBody, ErrorType, Format, FormatGroup, HealthReport, JobStatus,
    JobStatusResponse, ServiceHealth, SessionInfo, UploadResponse,
};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};

use super::routes;

/// A successful envelope: `success` is `true`, the payload is in `data`.
#[derive(Serialize, ToSchema)]
pub struct Success<T> {
    /// Always `true`.
    pub success: bool,
    /// The payload.
    pub data: T,
    /// The request's id, also in the `X-Correlation-ID` header.
    pub correlation_id: String,
}

/// A failed envelope: `success` is `false`, the error is in `error`.
#[derive(Serialize, ToSchema)]
pub struct Failure {
    /// Always `false`.
    pub success: bool,
    /// What went wrong; `type` is machine-readable, `message` is for people.
    pub error: ErrorBody,
    /// The request's id, also in the `X-Correlation-ID` header.
    pub correlation_id: String,
}

/// The multipart form of `POST /api/upload`.
#[derive(ToSchema)]
#[allow(dead_code)] // describes a form; never built
pub struct UploadForm {
    /// A client-generated UUID version 4 naming the job.
    job_id: String,
    /// The file; its extension (or part type) names the format, its first bytes must
    /// match it.
    #[schema(value_type = String, format = Binary)]
    file: Vec<u8>,
}

/// Adds the two credentials: the session cookie and the CSRF header.
struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "session_cookie",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                trustyconvert_protocol::DEFAULT_SESSION_COOKIE,
                "The session cookie set by GET /api/session/init (its name is configurable).",
            ))),
        );
        components.add_security_scheme(
            "csrf_token",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                trustyconvert_protocol::CSRF_HEADER,
                "The session's CSRF token, equal to the CSRF cookie; required on every POST.",
            ))),
        );
    }
}

/// The document.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "TrustyConvert API",
        description = "Sessions with CSRF protection, and file conversions. Every JSON \
                       answer is an envelope: `data` on success, `error` on failure, \
                       always a `correlation_id`. See docs/protocol.md.",
        license(name = "MIT")
    ),
    paths(
        routes::session::init,
        routes::session::status,
        routes::session::rotate_csrf,
        routes::session::close,
        routes::health::health,
        routes::formats::formats,
        routes::upload::upload,
        routes::jobs::convert,
        routes::jobs::job_status,
        routes::download::download_token,
        routes::download::download,
        routes::download::download_head,
        serve,
        super::router::metrics,
    ),
    components(schemas(
        Failure,
        ErrorBody,
        ErrorType,
        Format,
        JobStatus,
        SessionInfo,
        CsrfTokenResponse,
        CloseResponse,
        HealthReport,
        ServiceHealth,
        FormatGroup,
        UploadResponse,
        ConvertRequest,
        ConvertResponse,
        JobStatusResponse,
        DownloadTokenRequest,
        DownloadTokenResponse,
    )),
    modifiers(&SecuritySchemes)
)]
pub struct ApiDoc;

/// The document as JSON, rendered once.
fn document() -> &'static str {
    static DOCUMENT: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DOCUMENT.get_or_init(|| {
        let mut document = ApiDoc::openapi();
        document.info.version = env!("CARGO_PKG_VERSION").to_owned();
        document.to_json().expect("the OpenAPI document serializes")
    })
}

/// `GET /api/openapi.json`.
#[utoipa::path(
    get,
    path = "/api/openapi.json",
    tag = "meta",
    description = "This document (OpenAPI 3.1). Not wrapped in the envelope.",
    responses((status = 200, description = "The OpenAPI document", content_type = "application/json"))
)]
pub async fn serve() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], document()).into_response()
}
