//! The application: which routes exist and what stands in front of them.

use std::time::Duration;

use axum::extract::DefaultBodyLimit;
use axum::http::{header, HeaderName, HeaderValue, Method};
use axum::middleware::from_fn_with_state;
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use axum::Router;
use tower::util::Either;
use tower::ServiceBuilder;
use tower_http::cors::{AllowOrigin, Cors, CorsLayer};
use trustyconvert_protocol::{CORRELATION_ID_HEADER, CSRF_HEADER};

use super::correlation::{Frame, FrameLayer};
use super::guard::{SessionGuard, SessionGuardLayer};
use super::rate_limit::{enforce, Limited};
use super::routes::{download, formats, health, jobs, session, upload};
use super::{ApiError, AppState};
use crate::storage::RateAction;

/// The whole application as one service: the request frame (correlation id, panics),
/// CORS when cross-origin callers are configured, the session guard (every `/api`
/// path), then the routes.
pub type App = Frame<Either<Cors<SessionGuard<Router>>, SessionGuard<Router>>>;

/// Builds the whole application.
pub fn app(state: AppState) -> App {
    // With no allowed origin, CORS has nothing to grant: browsers keep cross-origin
    // reads blocked without any header, so the layer (and its `Vary` headers on every
    // response) is left out.
    let cors = (!state.config.allowed_origins.is_empty())
        .then(|| cors_layer(&state.config.allowed_origins));
    let guard = SessionGuardLayer::new(state.clone());
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
    let limit = |action| from_fn_with_state(Limited::every(&state, action), enforce);
    let api = Router::new()
        // Init counts against its rate limit in the handler: only when it creates a
        // session.
        .route("/api/session/init", get(session::init))
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
        // HEAD counts like GET: probing tokens is not free, though it spends none.
        .route(
            "/api/download",
            get(download::download)
                .head(download::download_head)
                .layer(limit(RateAction::Download)),
        )
        // Unknown API paths are answered here, behind the guard, not by the UI's
        // fallback: every /api request is checked, matched or not.
        .route("/api", any(not_found))
        .route("/api/", any(not_found))
        .route("/api/{*rest}", any(not_found))
        .route("/metrics", get(metrics));
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
