//! The TrustyConvert HTTP service.
//!
//! The converter is an application of `trustyconvert-session`: layers, outermost
//! first: correlation id → panic catcher → CORS → (API routes only) the session
//! layer's guard (one store read, CSRF on unsafe methods) → rate limits → handlers
//! ([`http`]) → [`jobs`] → [`storage`]. See `ARCHITECTURE.md` at the workspace root
//! for the invariants.
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

pub mod config;
pub mod http;
pub mod jobs;
mod maintenance;
mod private_fs;
pub mod storage;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;

pub use config::{
    ConfigError, CookieConfig, HttpLimits, JobLimits, LibreOfficeSetting, RateLimitConfig,
    SameSite, ServerConfig, StoreKind, Timeouts,
};
pub use trustyconvert_protocol::{DEFAULT_CSRF_COOKIE, DEFAULT_SESSION_COOKIE};
pub use trustyconvert_session::keys::{KeyError, GENERATED_KEY_FILE};
use trustyconvert_session::{SessionEvents, SessionHooks, Sessions};

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
    Store(#[from] storage::OpenError),
    /// Probing the conversion engines crashed.
    #[error("probing the conversion engines failed")]
    Engines,
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
    app: http::App,
    http_limits: HttpLimits,
    per_address: Arc<http::PerAddress>,
    metrics: Arc<http::Metrics>,
    background: Vec<tokio::task::JoinHandle<()>>,
}

impl Server {
    /// Validates `config`, loads keys, opens the storage and binds the address.
    pub async fn bind(config: ServerConfig) -> Result<Self, StartError> {
        config.validate()?;
        let storage =
            storage::open(&config.store, &config.data_dir, config.timeouts.absolute).await?;
        Self::bind_with_storage(config, storage).await
    }

    /// Like [`Server::bind`], but over a storage backend the caller built: another
    /// implementation of [`storage::ConverterStorage`], or a wrapper around one (tests use this
    /// to inject outages). `config.store` is ignored.
    pub async fn bind_with_storage(
        config: ServerConfig,
        storage: Arc<dyn storage::ConverterStorage>,
    ) -> Result<Self, StartError> {
        config.validate()?;
        let keyring = trustyconvert_session::keys::load_or_generate(
            config.secret_key_file.as_deref(),
            &config.data_dir,
        )?;
        let settings = trustyconvert_convert::EngineSettings {
            libreoffice: config.libreoffice.clone(),
            office_pool: trustyconvert_convert::PoolSettings {
                size: config.office_pool,
                recycle_after: config.office_recycle_after,
                memory_limit: config.jobs.engine_memory,
            },
        };
        let engines =
            tokio::task::spawn_blocking(move || trustyconvert_convert::probe_engines(&settings))
                .await
                .map_err(|_| StartError::Engines)?;
        for report in engines.reports() {
            match &report.version {
                Some(version) => {
                    tracing::info!(engine = report.name, version, detail = %report.detail, "conversion engine found")
                }
                None => {
                    tracing::info!(engine = report.name, detail = %report.detail, "conversion engine not available")
                }
            }
        }
        let jobs = jobs::JobService::new(
            Arc::clone(&storage),
            jobs::JobFiles::new(&config.data_dir),
            config.jobs,
            engines,
            config.timeouts.sweep_interval * maintenance::LEASE_INTERVALS,
        );
        let interrupted = jobs
            .fail_interrupted()
            .await
            .map_err(storage::OpenError::Store)?;
        if interrupted > 0 {
            tracing::warn!(
                interrupted,
                "jobs interrupted by the last shutdown were marked failed"
            );
        }
        let metrics = Arc::<http::Metrics>::default();
        let hooks: Arc<dyn SessionHooks> = Arc::new(jobs::SessionFiles::new(jobs.clone()));
        let events: Arc<dyn SessionEvents> = metrics.clone();
        let sessions = Sessions::builder(storage.clone())
            .config(config.session_config())
            .keyring(keyring)
            .hooks(hooks)
            .events(events)
            .build()
            .map_err(ConfigError::from)?;
        let maintenance = maintenance::spawn(
            sessions.clone(),
            jobs.clone(),
            config.timeouts.sweep_interval,
        );
        let listener = TcpListener::bind(config.bind)
            .await
            .map_err(|source| StartError::Bind {
                addr: config.bind,
                source,
            })?;
        let http_limits = config.http;
        let per_address = http::PerAddress::new(
            http_limits.max_connections_per_address,
            config.client_ipv6_prefix,
            config.trusted_proxies.clone(),
        );
        let state = http::AppState::new(http::Services {
            sessions,
            jobs,
            storage,
            metrics: Arc::clone(&metrics),
            config: Arc::new(config),
        });
        Ok(Self {
            listener,
            app: http::app(state),
            http_limits,
            per_address,
            metrics,
            background: Vec::from(maintenance),
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
        let result = http::connections::serve(
            self.listener,
            self.app,
            self.http_limits,
            self.per_address,
            self.metrics,
            shutdown,
        )
        .await;
        for task in &self.background {
            task.abort();
        }
        result
    }
}
