//! The router: which routes exist and which layers wrap them.

use std::time::Duration;

use axum::extract::DefaultBodyLimit;
use axum::http::{header, HeaderName, HeaderValue, Method};
use axum::middleware::{from_fn, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use axum::Router;
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};
use trustyconvert_protocol::{CORRELATION_ID_HEADER, CSRF_HEADER};

use super::guard::session_guard;
use super::rate_limit::{enforce, Limited};
use super::routes::{download, formats, health, jobs, session, upload};
use super::{ApiError, AppState};
use crate::storage::RateAction;

/// Builds the whole application.
pub fn router(state: AppState) -> Router {
    let upload_body_limit =
        usize::try_from(state.config.jobs.max_upload_bytes + upload::MULTIPART_OVERHEAD)
            .unwrap_or(usize::MAX);
    // The guard wraps every /api request, matched or not, so no unsafe method on any
    // API path (unknown routes and wrong methods included) skips the CSRF check.
    let limit = |action| from_fn_with_state(Limited::every(&state, action), enforce);
    let api = Router::new()
        .route(
            "/api/session/init",
            get(session::init).layer(from_fn_with_state(
                Limited::when(&state, RateAction::Init, session::init_creates_session),
                enforce,
            )),
        )
        .route("/api/session", get(session::status))
        .route("/api/session/csrf", post(session::rotate_csrf))
        .route("/api/session/close", post(session::close))
        .route("/api/health", get(health::health))
        .route("/api/convert/formats", get(formats::formats))
        .route("/api/openapi.json", get(super::openapi::serve))
        .route(
            "/api/upload",
            post(upload::upload)
                .layer(DefaultBodyLimit::max(upload_body_limit))
                .layer(limit(RateAction::Upload)),
        )
        .route(
            "/api/convert",
            post(jobs::convert).layer(limit(RateAction::Convert)),
        )
        .route("/api/job_status", get(jobs::job_status))
        .route(
            "/api/download_token",
            post(download::download_token).layer(limit(RateAction::Download)),
        )
        // HEAD is registered after the layer: asking what a token downloads spends
        // neither the token nor the rate limit.
        .route(
            "/api/download",
            get(download::download)
                .layer(limit(RateAction::Download))
                .head(download::download_head),
        )
        // Unknown API paths are answered here, behind the guard, not by the UI's
        // fallback: every /api request is checked, matched or not.
        .route("/api", any(not_found))
        .route("/api/", any(not_found))
        .route("/api/{*rest}", any(not_found))
        .method_not_allowed_fallback(method_not_allowed)
        .layer(from_fn_with_state(state.clone(), session_guard));

    let cors = cors_layer(&state.config.allowed_origins);
    let web_dir = state.config.web_dir.clone();
    // One flat router (no nested /api router, which would match each request twice
    // and rewrite its URI); /metrics is added after the guard layer, so it is not
    // guarded.
    let routes = api.route("/metrics", get(metrics));
    super::web::serve_ui(routes, web_dir.as_deref())
        .method_not_allowed_fallback(method_not_allowed)
        .layer(
            ServiceBuilder::new()
                .layer(from_fn(super::correlation::layer))
                .layer(CatchPanicLayer::custom(|_| {
                    ApiError::internal().into_response()
                }))
                .layer(cors),
        )
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
    path = "/metrics",
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
    (content_type, state.metrics.render()).into_response()
}

async fn not_found() -> ApiError {
    ApiError::not_found()
}

async fn method_not_allowed() -> ApiError {
    ApiError::validation("This method is not allowed on this resource.")
}
