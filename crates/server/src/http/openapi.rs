//! The OpenAPI 3.1 document of the API, generated from the protocol types and the
//! handlers' annotations, served at `GET /api/openapi.json`. A test sends real
//! requests to a real server and checks every answer against this document.

use axum::http::header;
use axum::response::{IntoResponse, Response};
use trustyconvert_protocol::paths;
use trustyconvert_protocol::{
    ArchiveRequest, CloseResponse, ConvertRequest, ConvertResponse, CsrfTokenResponse,
    DownloadTokenRequest, DownloadTokenResponse, ErrorBody, ErrorType, Format, FormatGroup,
    HealthReport, JobListResponse, JobStatus, JobStatusResponse, ServiceHealth, SessionInfo,
    UploadResponse,
};
use utoipa::{OpenApi, ToSchema};

use super::routes;

use trustyconvert_session::openapi::SecuritySchemes;
pub use trustyconvert_session::openapi::{Failure, Success};

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
        routes::health::health,
        routes::formats::formats,
        routes::formats::supported_conversions,
        routes::upload::upload,
        routes::jobs::convert,
        routes::jobs::job_status,
        routes::jobs::list_jobs,
        routes::jobs::delete_job,
        routes::download::download_token,
        routes::download::archive_token,
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
        JobListResponse,
        ArchiveRequest,
    )),
    modifiers(&SecuritySchemes)
)]
pub struct ApiDoc;

/// The document as JSON, rendered once.
fn document() -> &'static str {
    static DOCUMENT: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DOCUMENT.get_or_init(|| {
        let mut document = ApiDoc::openapi();
        document.merge(trustyconvert_session::SessionApi::openapi());
        document.info.version = env!("CARGO_PKG_VERSION").to_owned();
        document.to_json().expect("the OpenAPI document serializes")
    })
}

/// `GET /api/openapi.json`.
#[utoipa::path(
    get,
    path = paths::OPENAPI,
    tag = "meta",
    description = "This document (OpenAPI 3.1). Not wrapped in the envelope.",
    responses((status = 200, description = "The OpenAPI document", content_type = "application/json"))
)]
pub async fn serve() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], document()).into_response()
}
