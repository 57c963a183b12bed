//! The TrustyConvert HTTP service.
//!
//! Layers, outermost first: correlation id → panic catcher → CORS → (API routes only)
//! the session guard (one store read, CSRF on unsafe methods) → handlers. See
//! `ARCHITECTURE.md` at the workspace root for the invariants.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use trustyconvert_server::{Server, ServerConfig};
//! let server = Server::bind(ServerConfig::default()).await?;
//! println!("listening on {}", server.local_addr());
//! server.run_until(async { let _ = tokio::signal::ctrl_c().await; }).await?;
//! # Ok(()) }
//! ```

#![warn(missing_docs)]

mod app;
mod client_addr;
mod config;
mod connections;
pub mod convert;
mod cookies;
mod correlation;
pub mod crypto;
pub mod csrf;
mod downloads;
mod error;
pub mod jobs;
mod keys;
mod metrics;
mod private_fs;
#[cfg(test)]
mod properties;
mod ratelimit;
mod routes;
mod session;
pub mod store;
mod time;
mod web;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;

pub use config::{
    ConfigError, CookieConfig, HttpLimits, SameSite, ServerConfig, StoreKind, Timeouts,
};
pub use error::{ApiError, ApiJson, ApiResult};
pub use jobs::JobLimits;
pub use keys::{KeyError, GENERATED_KEY_FILE};
pub use ratelimit::RateLimitConfig;
pub use time::Timestamp;
pub use trustyconvert_protocol::{DEFAULT_CSRF_COOKIE, DEFAULT_SESSION_COOKIE};

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The configuration is inconsistent.
    #[error("invalid configuration: {0}")]
    Config(#[from] ConfigError),
    /// The signing keys could not be loaded or generated.
    #[error(transparent)]
    Keys(#[from] KeyError),
    /// The store could not be opened.
    #[error(transparent)]
    Store(#[from] store::OpenError),
    /// The address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// The underlying error.
        source: std::io::Error,
    },
}

/// A bound, ready server. Call [`Server::run_until`] to serve.
pub struct Server {
    listener: TcpListener,
    router: axum::Router,
    http_limits: HttpLimits,
    background: Vec<tokio::task::JoinHandle<()>>,
}

impl Server {
    /// Validates `config`, loads keys, opens the store and binds the address.
    pub async fn bind(config: ServerConfig) -> Result<Self, StartError> {
        config.validate()?;
        let store = store::open(&config).await?;
        Self::bind_with_store(config, store).await
    }

    /// Like [`Server::bind`], but with a store the caller built: another implementation
    /// of [`store::SessionStore`], or a wrapper around one (tests use this to inject
    /// store outages). `config.store` is ignored.
    pub async fn bind_with_store(
        config: ServerConfig,
        store: Arc<dyn store::SessionStore>,
    ) -> Result<Self, StartError> {
        config.validate()?;
        let keyring = keys::load_or_generate(config.secret_key_file.as_deref(), &config.data_dir)?;
        let allowed_origins: Arc<[csrf::Origin]> = config
            .allowed_origins
            .iter()
            .filter_map(|o| csrf::Origin::parse(o))
            .collect();
        let sweeper = store::spawn_sweeper(Arc::clone(&store), config.timeouts.sweep_interval);
        let job_store = jobs::open_job_store(&config)
            .await
            .map_err(store::OpenError::Store)?;
        let jobs = jobs::JobService::new(
            job_store,
            jobs::JobFiles::new(&config.data_dir),
            config.jobs,
        );
        let interrupted = jobs
            .fail_interrupted()
            .await
            .map_err(store::OpenError::Store)?;
        if interrupted > 0 {
            tracing::warn!(
                interrupted,
                "jobs interrupted by the last shutdown were marked failed"
            );
        }
        let limits = Arc::new(ratelimit::RateLimits::new(config.rate_limits));
        let maintenance = spawn_maintenance(
            jobs.clone(),
            Arc::clone(&store),
            Arc::clone(&limits),
            config.timeouts.sweep_interval,
        );
        let cookies = cookies::CookieWriter::new(config.cookies.clone());
        let sessions = session::SessionService::new(store, keyring, config.timeouts, cookies);
        let listener = TcpListener::bind(config.bind)
            .await
            .map_err(|source| StartError::Bind {
                addr: config.bind,
                source,
            })?;
        let http_limits = config.http;
        let state = app::AppState {
            sessions,
            metrics: Arc::default(),
            config: Arc::new(config),
            allowed_origins,
            jobs,
            downloads: Arc::default(),
            limits,
        };
        let background = vec![sweeper, maintenance];
        Ok(Self {
            listener,
            router: app::router(state),
            http_limits,
            background,
        })
    }

    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    /// Serves until `shutdown` completes, then finishes in-flight requests and returns.
    pub async fn run_until<F>(self, shutdown: F) -> std::io::Result<()>
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let result =
            connections::serve(self.listener, self.router, self.http_limits, shutdown).await;
        for task in &self.background {
            task.abort();
        }
        result
    }
}

/// Every `interval`: removes the jobs and files of expired sessions and forgets idle
/// rate-limit state, so disk and memory stay bounded.
fn spawn_maintenance(
    jobs: jobs::JobService,
    sessions: Arc<dyn store::SessionStore>,
    limits: Arc<ratelimit::RateLimits>,
    interval: std::time::Duration,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            if let Err(error) = jobs.sweep_orphans(sessions.as_ref()).await {
                tracing::warn!(%error, "sweeping the jobs of expired sessions failed");
            }
            limits.forget_idle();
        }
    })
}
