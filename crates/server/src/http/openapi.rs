//! placeholder
use axum::response::IntoResponse;
use axum::response::Response;
/// placeholder
pub async fn serve() -> Response {
    ().into_response()
}
