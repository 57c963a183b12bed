//! The state every handler and layer shares, built once at startup.

use std::sync::Arc;

use axum::extract::FromRef;
use trustyconvert_session::Sessions;

use super::metrics::Metrics;
use crate::config::ServerConfig;
use crate::jobs::JobService;
use crate::storage::ConverterStorage;

/// State shared by every handler and layer: one pointer, so the clone every layer and
/// extractor makes costs one reference count, not one per service.
#[derive(Clone)]
pub struct AppState(Arc<Services>);

impl AppState {
    /// The state around `services`.
    pub fn new(services: Services) -> Self {
        Self(Arc::new(services))
    }
}

impl std::ops::Deref for AppState {
    type Target = Services;

    fn deref(&self) -> &Services {
        &self.0
    }
}

impl FromRef<AppState> for Sessions {
    fn from_ref(state: &AppState) -> Sessions {
        state.sessions.clone()
    }
}

/// What the handlers use.
pub struct Services {
    /// The session layer: sessions, CSRF, the session routes, rate limits.
    pub sessions: Sessions,
    /// Job lifecycle.
    pub jobs: JobService,
    /// The storage backend (health probes).
    pub storage: Arc<dyn ConverterStorage>,
    /// Counters for `/metrics`.
    pub metrics: Arc<Metrics>,
    /// The validated configuration.
    pub config: Arc<ServerConfig>,
}
