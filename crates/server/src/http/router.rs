//! The application: which routes exist and what stands in front of them.

use std::time::Duration;

use axum::extract::DefaultBodyLimit;
use axum::http::{header, HeaderName, HeaderValue, Method};
use axum::middleware::from_fn_with_state;
use axum::response::{IntoResponse, Response};
use axum::routing::{any, delete, get, post};
use axum::Router;
use tower::util::Either;
use tower::ServiceBuilder;
use tower_http::cors::{AllowOrigin, Cors, CorsLayer};
use trustyconvert_protocol::{paths, CORRELATION_ID_HEADER, CSRF_HEADER};

use trustyconvert_session::frame::{Frame, FrameLayer};
use trustyconvert_session::SessionGuard;

use super::rate_limit::{enforce, Limited, CONVERT, DOWNLOAD, UPLOAD};
use super::routes::{download, formats, health, jobs, upload};
use super::{ApiError, AppState};

/// The whole application as one service: the request frame (correlation id, panics),
/// CORS when cross-origin callers are configured, the session layer's guard (every
/// `/api` path), then the routes.
pub type App = Frame<Either<Cors<SessionGuard<Router>>, SessionGuard<Router>>>;

/// Builds the whole application.
pub fn app(state: AppState) -> App {
    // With no allowed origin, CORS has nothing to grant: browsers keep cross-origin
    // reads blocked without any header, so the layer (and its `Vary` headers on every
    // response) is left out.
    let cors = (!state.config.allowed_origins.is_empty())
        .then(|| cors_layer(&state.config.allowed_origins));
    let guard = state.sessions.layer().only_under(paths::API);
    ServiceBuilder::new()
        .layer(FrameLayer)
        .option_layer(cors)
        .layer(guard)
        .service(router(state))
}

/// The routes. Every `/api` path is answered here (unknown ones with a 404 envelope),
/// so the guard in front sees them all.
fn router(state: AppState) -> Router {
    let upload_body_limit =
        usize::try_from(state.config.jobs.max_upload_bytes + upload::MULTIPART_OVERHEAD)
            .unwrap_or(usize::MAX);
    let limits = state.config.rate_limits;
    let limit = |action, per_minute| {
        from_fn_with_state(Limited::every(&state, action, per_minute), enforce)
    };
    let api = Router::new()
        .merge(state.sessions.routes())
        .route(paths::HEALTH, get(health::health))
        .route(paths::FORMATS, get(formats::formats))
        .route(
            paths::SUPPORTED_CONVERSIONS,
            get(formats::supported_conversions),
        )
        .route(paths::OPENAPI, get(super::openapi::serve))
        .route(
            paths::UPLOAD,
            post(upload::upload)
                .layer(DefaultBodyLimit::max(upload_body_limit))
                .layer(limit(UPLOAD, limits.upload_per_minute)),
        )
        .route(
            paths::CONVERT,
            post(jobs::convert).layer(limit(CONVERT, limits.convert_per_minute)),
        )
        .route(paths::JOB_STATUS, get(jobs::job_status))
        .route(paths::JOBS, get(jobs::list_jobs))
        .route(paths::JOB, delete(jobs::delete_job))
        .route(
            paths::DOWNLOAD_TOKEN,
            post(download::download_token).layer(limit(DOWNLOAD, limits.download_per_minute)),
        )
        .route(
            paths::DOWNLOAD_ARCHIVE,
            post(download::archive_token).layer(limit(DOWNLOAD, limits.download_per_minute)),
        )
        // HEAD counts like GET: probing tokens is not free, though it spends none.
        .route(
            paths::DOWNLOAD,
            get(download::download)
                .head(download::download_head)
                .layer(limit(DOWNLOAD, limits.download_per_minute)),
        )
        // Unknown API paths are answered here, behind the guard, not by the UI's
        // fallback: every /api request is checked, matched or not.
        .route(paths::API, any(not_found))
        .route(&format!("{}/", paths::API), any(not_found))
        .route(&format!("{}/{{*rest}}", paths::API), any(not_found))
        .route(paths::METRICS, get(metrics));
    let web_dir = state.config.web_dir.clone();
    // One flat router (no nested /api router, which would match each request twice
    // and rewrite its URI).
    super::web::serve_ui(api, web_dir.as_deref())
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state)
}

fn cors_layer(origins: &[String]) -> CorsLayer {
    // Exact-match list with credentials; never `*`. Origins were validated at startup.
    let origins: Vec<HeaderValue> = origins
        .iter()
        .filter_map(|o| HeaderValue::from_str(o).ok())
        .collect();
    CorsLayer::new()
        .allow_origin(AllowOrigin::list(origins))
        .allow_credentials(true)
        .allow_methods([Method::GET, Method::POST])
        .allow_headers([
            header::CONTENT_TYPE,
            HeaderName::from_static(CSRF_HEADER),
            HeaderName::from_static(CORRELATION_ID_HEADER),
        ])
        .expose_headers([
            HeaderName::from_static(CORRELATION_ID_HEADER),
            header::RETRY_AFTER,
        ])
        .max_age(Duration::from_secs(600))
}

#[utoipa::path(
    get,
    path = paths::METRICS,
    tag = "meta",
    description = "Prometheus counters (sessions, CSRF rejections by reason).",
    responses((status = 200, description = "Prometheus text format.", content_type = "text/plain"))
)]
pub(crate) async fn metrics(
    axum::extract::State(state): axum::extract::State<AppState>,
) -> Response {
    let content_type = [(
        header::CONTENT_TYPE,
        "text/plain; version=0.0.4; charset=utf-8",
    )];
    let text = state.metrics.render(state.jobs.conversions_cancelled());
    (content_type, text).into_response()
}

async fn not_found() -> ApiError {
    ApiError::not_found()
}

async fn method_not_allowed() -> ApiError {
    ApiError::validation("This method is not allowed on this resource.")
}
