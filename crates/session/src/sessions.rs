//! [`Sessions`]: the session layer of one application, built once at startup and
//! cloned (one reference count) into its layer, its routes and its extractors.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::config::{ConfigError, SessionConfig};
use crate::cookies::CookieWriter;
use crate::crypto::{random_bytes, Keyring};
use crate::csrf::{CsrfPolicy, Origin, OriginRules, PublicOrigins};
use crate::events::{NoEvents, SessionEvents};
use crate::hooks::{NoHooks, SessionHooks};
use crate::rate_limit::RateLimits;
use crate::service::SessionService;
use crate::store::{Storage, StoreError};
use crate::time::Timestamp;

/// The session layer of one application: its store, configuration, keys, CSRF
/// policy, hooks and metrics. Cheap to clone.
///
/// ```
/// use std::sync::Arc;
/// use axum::{routing::post, Router};
/// use trustyconvert_session::{store::MemoryStore, CsrfChecked, Sessions};
///
/// let sessions = Sessions::builder(Arc::new(MemoryStore::default())).build().unwrap();
/// let app: Router = Router::new()
///     .nest("/api/session", sessions.router())
///     .route("/api/echo", post(|CsrfChecked(_session): CsrfChecked| async { "ok" }))
///     .layer(sessions.layer());
/// # let _ = app;
/// ```
#[derive(Clone)]
pub struct Sessions(Arc<Inner>);

struct Inner {
    service: SessionService,
    csrf: CsrfPolicy,
    rate_limits: RateLimits,
    config: SessionConfig,
    events: Arc<dyn SessionEvents>,
    store: Arc<dyn Storage>,
    /// Whether the session routes were built ([`Sessions::router`] or
    /// [`Sessions::routes`]): only then does the layer rotate a token itself.
    serves_routes: AtomicBool,
}

impl Sessions {
    /// A builder over `store`.
    pub fn builder(store: Arc<dyn Storage>) -> SessionsBuilder {
        SessionsBuilder {
            store,
            config: SessionConfig::default(),
            keyring: None,
            hooks: Arc::new(NoHooks),
            events: Arc::new(NoEvents),
        }
    }

    /// The lifecycle operations (create, resolve, rotate, close).
    pub fn service(&self) -> &SessionService {
        &self.0.service
    }

    /// The CSRF check.
    pub fn csrf(&self) -> &CsrfPolicy {
        &self.0.csrf
    }

    /// The validated configuration.
    pub fn config(&self) -> &SessionConfig {
        &self.0.config
    }

    /// Where events are counted.
    pub fn events(&self) -> &dyn SessionEvents {
        self.0.events.as_ref()
    }

    /// Per-client rate limits, counted in the store.
    pub fn rate_limits(&self) -> &RateLimits {
        &self.0.rate_limits
    }

    /// The store, for a health probe's [`ping`](crate::store::SessionStore::ping).
    pub fn store(&self) -> &Arc<dyn Storage> {
        &self.0.store
    }

    /// Notes that the session routes were built for the application.
    pub(crate) fn mark_routes_served(&self) {
        self.0.serves_routes.store(true, Ordering::Relaxed);
    }

    /// Whether the session routes were built: a `POST /api/session/csrf` is then the
    /// session router's rotation, which the layer resolves and rotates in one store
    /// step. An application without them (or with its own route there) has its
    /// requests to that path judged like any other.
    pub(crate) fn serves_routes(&self) -> bool {
        self.0.serves_routes.load(Ordering::Relaxed)
    }

    /// Removes the sessions expired at `now` (telling the hooks) and forgets idle rate
    /// counters; returns how many sessions were removed. Call it every
    /// [`Timeouts::sweep_interval`](crate::config::Timeouts::sweep_interval).
    pub async fn sweep_expired(&self, now: Timestamp) -> Result<usize, StoreError> {
        let swept = self.0.service.sweep_expired(now).await?;
        self.0.store.forget_idle_rates().await?;
        Ok(swept)
    }

    /// Runs [`sweep_expired`](Self::sweep_expired) every sweep interval on the tokio
    /// runtime, until the returned task is aborted; a failed sweep is logged and
    /// tried again at the next interval. For an application with no maintenance task
    /// of its own.
    pub fn spawn_sweeper(&self) -> tokio::task::JoinHandle<()> {
        let sessions = self.clone();
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval(sessions.config().timeouts.sweep_interval);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticker.tick().await;
                if let Err(error) = sessions.sweep_expired(Timestamp::now()).await {
                    tracing::warn!(%error, "sweeping expired sessions failed");
                }
            }
        })
    }
}

/// Builds [`Sessions`]: the defaults are [`SessionConfig::default`], a key made for
/// this process only (tokens and sessions do not survive a restart: load a key file
/// with [`crate::keys::load_or_generate`] for that), no hooks and no metrics.
#[must_use]
pub struct SessionsBuilder {
    store: Arc<dyn Storage>,
    config: SessionConfig,
    keyring: Option<Keyring>,
    hooks: Arc<dyn SessionHooks>,
    events: Arc<dyn SessionEvents>,
}

impl SessionsBuilder {
    /// The configuration (validated by [`build`](Self::build)).
    pub fn config(mut self, config: SessionConfig) -> Self {
        self.config = config;
        self
    }

    /// The keys that sign CSRF tokens (the first signs, all verify).
    pub fn keyring(mut self, keyring: Keyring) -> Self {
        self.keyring = Some(keyring);
        self
    }

    /// What to tell when sessions end.
    pub fn hooks(mut self, hooks: Arc<dyn SessionHooks>) -> Self {
        self.hooks = hooks;
        self
    }

    /// Where to count events.
    pub fn events(mut self, events: Arc<dyn SessionEvents>) -> Self {
        self.events = events;
        self
    }

    /// The session layer, or why the configuration cannot work.
    pub fn build(self) -> Result<Sessions, ConfigError> {
        self.config.validate()?;
        let keyring = self.keyring.unwrap_or_else(|| {
            Keyring::new(vec![random_bytes()]).expect("one key makes a keyring")
        });
        let cookies = CookieWriter::new(self.config.cookies.clone());
        let csrf = CsrfPolicy::new(
            origin_rules(&self.config),
            cookies.csrf_name().to_owned(),
            keyring.clone(),
        );
        let service = SessionService::new(
            self.store.clone(),
            self.hooks,
            keyring,
            self.config.timeouts,
            cookies,
        );
        Ok(Sessions(Arc::new(Inner {
            service,
            csrf,
            rate_limits: RateLimits::new(self.store.clone()),
            config: self.config,
            events: self.events,
            store: self.store,
            serves_routes: AtomicBool::new(false),
        })))
    }
}

/// The cross-origin rules of a validated `config` (every origin in it parses); says
/// where the public origin comes from when it is not configured.
fn origin_rules(config: &SessionConfig) -> OriginRules {
    let parse = |origins: &[String]| -> Vec<Origin> {
        origins
            .iter()
            .filter_map(|origin| Origin::parse(origin))
            .collect()
    };
    let public = if config.public_origins.is_empty() {
        tracing::warn!(
            "no public origin configured (--public-origin): deriving it from each request's Host header as http://<host> \
             (https only where a trusted proxy sends X-Forwarded-Proto: https); \
             set the public origin (--public-origin) behind a TLS proxy"
        );
        PublicOrigins::FromHost
    } else {
        PublicOrigins::Configured(parse(&config.public_origins))
    };
    OriginRules::new(public, parse(&config.allowed_origins))
}
