//! The state every handler and layer shares, built once at startup.

use std::sync::Arc;

use super::metrics::Metrics;
use super::rate_limit::RateLimits;
use crate::config::ServerConfig;
use crate::csrf::CsrfPolicy;
use crate::jobs::JobService;
use crate::session::SessionService;
use crate::storage::Storage;

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

/// What the handlers use.
pub struct Services {
    /// Session lifecycle.
    pub sessions: SessionService,
    /// Job lifecycle.
    pub jobs: JobService,
    /// The storage backend (health probes).
    pub storage: Arc<dyn Storage>,
    /// The CSRF check, built from the configuration.
    pub csrf: Arc<CsrfPolicy>,
    /// Per-client rate limits.
    pub rate_limits: RateLimits,
    /// Counters for `/metrics`.
    pub metrics: Arc<Metrics>,
    /// The validated configuration.
    pub config: Arc<ServerConfig>,
}
