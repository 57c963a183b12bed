//! `GET /api/health`: store and storage probes.

use std::collections::BTreeMap;
use std::time::Instant;

use axum::extract::State;
use axum::http::StatusCode;
use trustyconvert_protocol::{paths, HealthReport, ServiceHealth};

use crate::http::AppState;
use trustyconvert_session::ApiJson;
use trustyconvert_session::Timestamp;

const HEALTHY: &str = "healthy";
const UNHEALTHY: &str = "unhealthy";

/// Probes the store (a round trip) and the data directory (writable). A dead store
/// makes the service `unhealthy` (503); a dead data directory makes it `degraded`.
#[utoipa::path(
    get,
    path = paths::HEALTH,
    tag = "meta",
    description = "Probes the store and the data directory.",
    responses(
        (status = 200, description = "`healthy`, or `degraded` when files cannot be written.", body = crate::http::openapi::Success<HealthReport>),
        (status = 503, description = "`unhealthy`: the store does not answer.", body = crate::http::openapi::Success<HealthReport>),
    )
)]
pub async fn health(State(state): State<AppState>) -> ApiJson<HealthReport> {
    let started = Instant::now();
    let store_ok = state.storage.ping().await.is_ok();
    let store = probe(store_ok, started);

    let started = Instant::now();
    let data_dir = state.config.data_dir.clone();
    let storage_ok = tokio::task::spawn_blocking(move || {
        std::fs::metadata(&data_dir)
            .is_ok_and(|meta| meta.is_dir() && !meta.permissions().readonly())
    })
    .await
    .unwrap_or(false);
    let storage = probe(storage_ok, started);

    let (status, code) = match (store_ok, storage_ok) {
        (true, true) => (HEALTHY, StatusCode::OK),
        (true, false) => ("degraded", StatusCode::OK),
        (false, _) => (UNHEALTHY, StatusCode::SERVICE_UNAVAILABLE),
    };
    let services = BTreeMap::from([("store".to_owned(), store), ("storage".to_owned(), storage)]);
    let report = HealthReport {
        status: status.to_owned(),
        version: env!("CARGO_PKG_VERSION").to_owned(),
        services,
        timestamp: Timestamp::now().to_rfc3339(),
    };
    ApiJson::with_status(code, report)
}

fn probe(ok: bool, started: Instant) -> ServiceHealth {
    ServiceHealth {
        status: if ok { HEALTHY } else { UNHEALTHY }.to_owned(),
        latency_ms: started.elapsed().as_secs_f64() * 1000.0,
    }
}
