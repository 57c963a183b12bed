//! Serving the built web UI: static files from `--web-dir` with their precompressed
//! `.gz` siblings, and the headers a page holding a session must carry.

use std::path::Path;

use axum::http::Response;
use axum::http::{header, HeaderValue};
use axum::response::{Html, IntoResponse};
use axum::routing::get;
use axum::Router;
use tower::ServiceBuilder;
use tower_http::services::ServeDir;

use trustyconvert_session::ApiError;

/// The policy of the UI's pages: only its own scripts (wasm compiled from them), its own
/// stylesheet, API calls to its own origin, never framed.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self' 'wasm-unsafe-eval'; \
     style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; \
     form-action 'none'; frame-ancestors 'none'";

/// Adds `/` and the UI's files to `router` as its fallback. Unknown paths, and methods
/// other than GET and HEAD, get the JSON 404 envelope.
pub fn serve_ui<S: Clone + Send + Sync + 'static>(
    router: Router<S>,
    web_dir: Option<&Path>,
) -> Router<S> {
    use axum::middleware::map_response;
    match web_dir {
        Some(dir) => {
            let files = ServeDir::new(dir)
                .precompressed_gzip()
                .append_index_html_on_directories(true)
                .call_fallback_on_method_not_allowed(true)
                .fallback(tower::service_fn(|_| async {
                    Ok::<_, std::convert::Infallible>(ApiError::not_found().into_response())
                }));
            router.fallback_service(
                ServiceBuilder::new()
                    .layer(map_response(page_headers))
                    .service(files),
            )
        }
        None => router
            .route("/", get(not_built).layer(map_response(page_headers)))
            .fallback(|| async { ApiError::not_found() }),
    }
}

async fn not_built() -> Html<&'static str> {
    Html(include_str!("not_built.html"))
}

/// The UI is rebuilt in place (file names carry no hash), so browsers revalidate every
/// file; the CSP and friends keep the page that holds the session locked down. The
/// download token travels in a URL, so no referrer is ever sent.
async fn page_headers<B>(mut response: Response<B>) -> Response<B> {
    let headers = response.headers_mut();
    for (name, value) in [
        (header::CACHE_CONTROL, "no-cache"),
        (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::X_FRAME_OPTIONS, "DENY"),
        // Files are sent gzipped or not depending on the request.
        (header::VARY, "accept-encoding"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}
