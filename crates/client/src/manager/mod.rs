//! `SessionManager`: the one place a client obtains, shares and repairs its session.
//!
//! Invariants (see ARCHITECTURE.md):
//! - **Single flight.** At most one initialization and one token refresh are in flight;
//!   every concurrent caller joins them and gets the same outcome. The flight runs as
//!   its own task, so a caller that gives up cancels nothing for the others.
//! - **Epochs and generations.** `reset_session()`/`close_session()` start a new epoch:
//!   a flight from an older epoch never writes state. Within an epoch, a flight only
//!   applies its result if no newer flight has already applied one.
//! - **Throttle after success only.** Inside `min_init_interval` after a success,
//!   callers get that success (never a stale "false"); a failure is never cached.
//! - **Expiry aware.** A token within `refresh_ahead` of its expiry is refreshed before
//!   use; an expired token is never handed out.

mod backoff;
mod flight;

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use trustyconvert_protocol::{CsrfTokenResponse, SessionInfo, DEFAULT_CSRF_COOKIE};

use crate::api::{decode_envelope, ApiClient};
use crate::clock::{Clock, SystemClock};
use crate::counters::{Counters, NetworkCounts};
use crate::error::ClientError;
use crate::store::{Store, Subscription};
use crate::transport::{HttpMethod, HttpRequest, Transport};
use flight::{Flight, FlightSlot, Job};

/// Tuning of a [`SessionManager`]. The defaults suit a browser page and the CLI.
#[derive(Debug, Clone)]
pub struct ManagerConfig {
    /// After a successful init, further non-forced inits inside this window return that
    /// success without a request.
    pub min_init_interval: Duration,
    /// Refresh a token this long before its known expiry (at most half its lifetime).
    pub refresh_ahead: Duration,
    /// Attempts of one initialization on transient failures (network, 5xx, 429).
    pub max_init_attempts: u32,
    /// First backoff delay; doubles per attempt, with jitter.
    pub backoff_base: Duration,
    /// Longest single backoff delay (also caps `Retry-After`).
    pub backoff_max: Duration,
    /// Name of the CSRF cookie the server sets.
    pub csrf_cookie_name: String,
}

impl Default for ManagerConfig {
    fn default() -> Self {
        Self {
            min_init_interval: Duration::from_secs(2),
            refresh_ahead: Duration::from_secs(60),
            max_init_attempts: 3,
            backoff_base: Duration::from_millis(250),
            backoff_max: Duration::from_secs(5),
            csrf_cookie_name: DEFAULT_CSRF_COOKIE.to_owned(),
        }
    }
}

/// The session as the client knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionSnapshot {
    /// Public handle of the session.
    pub id: String,
    /// The CSRF token to send in `X-CSRF-Token`.
    pub csrf_token: String,
    /// RFC 3339 expiry as the server reported it.
    pub expires_at: String,
    /// The expiry in local milliseconds since the epoch.
    pub expires_at_millis: i64,
    /// When this client obtained it (local milliseconds since the epoch).
    pub obtained_at_millis: i64,
}

/// The observable state (the seed's `useSession()` fields).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionState {
    /// A session is known in this epoch.
    pub is_initialized: bool,
    /// An initialization is in flight.
    pub is_initializing: bool,
    /// A CSRF token is held.
    pub has_csrf_token: bool,
    /// The last error of a session operation or API call; cleared by the next success.
    pub last_error: Option<ClientError>,
}

pub(crate) struct Core {
    epoch: u64,
    next_generation: u64,
    applied_generation: u64,
    session: Option<SessionSnapshot>,
    last_success_at: Option<i64>,
    last_error: Option<ClientError>,
    /// Whether this epoch may still adopt an existing session before creating one.
    sync_first: bool,
    init: Option<FlightSlot>,
    refresh: Option<FlightSlot>,
}

pub(crate) struct Inner {
    pub(crate) transport: Arc<dyn Transport>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) config: ManagerConfig,
    pub(crate) counters: Counters,
    core: Mutex<Core>,
    token: Store<Option<String>>,
    snapshot: Store<Option<SessionSnapshot>>,
    state: Store<SessionState>,
}

/// Centralized session management for one client. Cheap to clone; clones share state.
///
/// Accessors (`csrf_token`, `session`, `state`, `counts`) may be called from store
/// listeners; mutating methods must not be called synchronously from inside one.
#[derive(Clone)]
pub struct SessionManager {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for SessionManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionManager")
            .field("state", &self.state())
            .finish_non_exhaustive()
    }
}

impl SessionManager {
    /// A manager over `transport` with the real clock.
    pub fn new(transport: Arc<dyn Transport>, config: ManagerConfig) -> Self {
        Self::with_clock(transport, config, Arc::new(SystemClock))
    }

    /// A manager over `transport` with the given clock (tests drive time with it).
    pub fn with_clock(
        transport: Arc<dyn Transport>,
        config: ManagerConfig,
        clock: Arc<dyn Clock>,
    ) -> Self {
        let core = Core {
            epoch: 0,
            next_generation: 1,
            applied_generation: 0,
            session: None,
            last_success_at: None,
            last_error: None,
            sync_first: true,
            init: None,
            refresh: None,
        };
        Self {
            inner: Arc::new(Inner {
                transport,
                clock,
                config,
                counters: Counters::default(),
                core: Mutex::new(core),
                token: Store::new(None),
                snapshot: Store::new(None),
                state: Store::new(SessionState::default()),
            }),
        }
    }

    /// A native manager talking to the server at `base_url` with a fresh cookie jar.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn connect(base_url: &str, config: ManagerConfig) -> Result<Self, ClientError> {
        let transport = crate::transport::ReqwestTransport::new(base_url)?;
        Ok(Self::new(Arc::new(transport), config))
    }

    /// The typed API client that routes every call through this manager.
    pub fn api(&self) -> ApiClient {
        ApiClient::new(self.clone())
    }

    /// Returns a usable session: at once, without I/O, if the token is fresh; otherwise
    /// joins the in-flight initialization or starts it.
    pub async fn ensure_session(&self) -> Result<SessionSnapshot, ClientError> {
        let flight = {
            let mut core = self.lock();
            let now = self.inner.clock.now_millis();
            if let Some(session) = &core.session {
                if self.is_fresh(session, now) || self.inside_throttle(&core, session, now) {
                    return Ok(session.clone());
                }
            }
            self.join_or_start_init(&mut core, false)
        };
        flight.await
    }

    /// Initializes explicitly. Without `force` this behaves like a throttled
    /// [`ensure_session`](Self::ensure_session) that also revalidates a fresh token once
    /// the throttle window has passed; with `force` the server replaces the session.
    pub async fn init_session(&self, force: bool) -> Result<SessionSnapshot, ClientError> {
        let flight = {
            let mut core = self.lock();
            let now = self.inner.clock.now_millis();
            if !force {
                if let Some(session) = &core.session {
                    if self.inside_throttle(&core, session, now) {
                        return Ok(session.clone());
                    }
                }
            }
            self.join_or_start_init(&mut core, force)
        };
        flight.await
    }

    /// Fetches the session's current CSRF token from the server (single flight), for
    /// when the token held here was refused. Falls back to a re-init if the session is
    /// gone. Use [`ApiClient::rotate_csrf`] to ask the server for a *new* token.
    pub async fn refresh_csrf(&self) -> Result<SessionSnapshot, ClientError> {
        let failed = self.csrf_token();
        self.recover_csrf(failed.as_deref()).await
    }

    /// Forgets the session locally and starts a new epoch: an initialization still in
    /// flight can no longer change state. The next `ensure_session()` starts afresh.
    pub fn reset_session(&self) {
        let mut core = self.lock();
        core.epoch += 1;
        core.session = None;
        core.last_success_at = None;
        core.last_error = None;
        core.sync_first = true;
        core.init = None;
        core.refresh = None;
        self.publish(&core);
    }

    /// Closes the session on the server (`POST /api/session/close`), then resets.
    /// Never creates a session to close it. Returns whether a session was closed
    /// (`false`: there was none, or it was already gone).
    pub async fn close_session(&self) -> Result<bool, ClientError> {
        let closed = match self.api().close_session().await {
            Ok(closed) => closed.is_some(),
            Err(error) => {
                self.record_error(&error);
                return Err(error);
            }
        };
        self.reset_session();
        // A session closed on purpose must not be silently adopted again.
        self.lock().sync_first = false;
        Ok(closed)
    }

    /// The current CSRF token, if any.
    pub fn csrf_token(&self) -> Option<String> {
        self.inner.token.get()
    }

    /// The current session, if any (it may be stale; `ensure_session` checks).
    pub fn session(&self) -> Option<SessionSnapshot> {
        self.inner.snapshot.get()
    }

    /// The observable state.
    pub fn state(&self) -> SessionState {
        self.inner.state.get()
    }

    /// Watches the CSRF token: called now and once per change.
    pub fn subscribe_token(
        &self,
        listener: impl Fn(&Option<String>) + Send + Sync + 'static,
    ) -> Subscription {
        self.inner.token.subscribe(listener)
    }

    /// Watches the state: called now and once per change.
    pub fn subscribe_state(
        &self,
        listener: impl Fn(&SessionState) + Send + Sync + 'static,
    ) -> Subscription {
        self.inner.state.subscribe(listener)
    }

    /// Network calls made so far, by kind.
    pub fn counts(&self) -> NetworkCounts {
        self.inner.counters.snapshot()
    }

    fn lock(&self) -> MutexGuard<'_, Core> {
        self.inner
            .core
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Fresh: not within `refresh_ahead` (at most half the lifetime) of the expiry.
    fn is_fresh(&self, session: &SessionSnapshot, now: i64) -> bool {
        let lifetime = session.expires_at_millis - session.obtained_at_millis;
        let ahead = (self.inner.config.refresh_ahead.as_millis() as i64).min(lifetime / 2);
        now < session.expires_at_millis - ahead
    }

    /// Inside the throttle window after a success, and not yet expired.
    fn inside_throttle(&self, core: &Core, session: &SessionSnapshot, now: i64) -> bool {
        let window = self.inner.config.min_init_interval.as_millis() as i64;
        core.last_success_at.is_some_and(|at| now - at < window) && now < session.expires_at_millis
    }

    fn join_or_start_init(&self, core: &mut Core, force: bool) -> Flight {
        if let Some(slot) = &core.init {
            if slot.forced || !force {
                return slot.flight.clone();
            }
        }
        let job = if force {
            Job::ForceInit
        } else if core.sync_first {
            Job::SyncThenInit
        } else {
            Job::Init
        };
        let slot = self.start_flight(core, job);
        let flight = slot.flight.clone();
        core.init = Some(slot);
        self.publish(core);
        flight
    }

    /// Recovery after a 403: adopt a newer token if one is already known, otherwise
    /// fetch the current one (single flight).
    pub(crate) async fn recover_csrf(
        &self,
        failed: Option<&str>,
    ) -> Result<SessionSnapshot, ClientError> {
        let flight = {
            let mut core = self.lock();
            if let Some(newer) = newer_than(&core, failed) {
                return Ok(newer);
            }
            if let Some(session) = &core.session {
                let visible = self
                    .inner
                    .transport
                    .cookie(&self.inner.config.csrf_cookie_name);
                if let Some(visible) = visible.filter(|v| Some(v.as_str()) != failed) {
                    // Another tab or request already received the newer token.
                    let mut adopted = session.clone();
                    adopted.csrf_token = visible;
                    core.session = Some(adopted.clone());
                    self.publish(&core);
                    return Ok(adopted);
                }
            }
            match &core.refresh {
                Some(slot) => slot.flight.clone(),
                None => {
                    let slot = self.start_flight(&mut core, Job::Refresh);
                    let flight = slot.flight.clone();
                    core.refresh = Some(slot);
                    flight
                }
            }
        };
        flight.await
    }

    /// Recovery after a 401: drop the dead session (if it is still the current one) and
    /// join or start a re-initialization. Not throttled: the session is known bad.
    pub(crate) async fn recover_session(
        &self,
        failed: Option<&str>,
    ) -> Result<SessionSnapshot, ClientError> {
        let flight = {
            let mut core = self.lock();
            if let Some(newer) = newer_than(&core, failed) {
                return Ok(newer);
            }
            core.session = None;
            core.sync_first = false;
            self.join_or_start_init(&mut core, false)
        };
        flight.await
    }

    /// The token to present when no session may be created: the one held, or the one
    /// visible in the cookie.
    pub(crate) fn held_token(&self) -> Option<String> {
        self.csrf_token().or_else(|| {
            self.inner
                .transport
                .cookie(&self.inner.config.csrf_cookie_name)
        })
    }

    /// Reads the session's current token from the server without ever creating one.
    pub(crate) async fn current_token_from_server(&self) -> Result<String, ClientError> {
        Counters::bump(&self.inner.counters.csrf_refreshes);
        Ok(self.fetch_session("/api/session").await?.csrf_token)
    }

    /// Adopts the token of an explicit rotation.
    pub(crate) fn adopt_rotated(&self, rotated: &CsrfTokenResponse) -> Result<(), ClientError> {
        let expires_at_millis = parse_expiry(&rotated.expires_at)?;
        let mut core = self.lock();
        if let Some(session) = core.session.as_mut() {
            session.csrf_token = rotated.csrf_token.clone();
            session.expires_at = rotated.expires_at.clone();
            session.expires_at_millis = expires_at_millis;
        }
        self.publish(&core);
        Ok(())
    }

    /// Records the error of an API call in `last_error`.
    pub(crate) fn record_error(&self, error: &ClientError) {
        let mut core = self.lock();
        core.last_error = Some(error.clone());
        self.publish(&core);
    }

    /// Pushes the core's view into the reactive stores (each notifies only on change).
    /// Accessors read these stores, never the core, so listeners may call them.
    fn publish(&self, core: &Core) {
        self.inner.snapshot.set(core.session.clone());
        let token = core.session.as_ref().map(|s| s.csrf_token.clone());
        self.inner.token.set(token.clone());
        self.inner.state.set(SessionState {
            is_initialized: core.session.is_some(),
            is_initializing: core.init.is_some(),
            has_csrf_token: token.is_some(),
            last_error: core.last_error.clone(),
        });
    }

    /// Turns a session DTO into a snapshot timed by this client's clock.
    pub(crate) fn snapshot_from(&self, info: SessionInfo) -> Result<SessionSnapshot, ClientError> {
        let expires_at_millis = parse_expiry(&info.expires_at)?;
        Ok(SessionSnapshot {
            id: info.id,
            csrf_token: info.csrf_token,
            expires_at: info.expires_at,
            expires_at_millis,
            obtained_at_millis: self.inner.clock.now_millis(),
        })
    }

    /// One GET of a session endpoint, decoded.
    async fn fetch_session(&self, path: &str) -> Result<SessionSnapshot, ClientError> {
        let response = self
            .inner
            .transport
            .send(HttpRequest::new(HttpMethod::Get, path))
            .await?;
        let info: SessionInfo = decode_envelope(response)?;
        self.snapshot_from(info)
    }
}

/// The current session if it already carries a token other than the one that failed
/// (another caller recovered first): then there is nothing left to repair.
fn newer_than(core: &Core, failed: Option<&str>) -> Option<SessionSnapshot> {
    core.session
        .as_ref()
        .filter(|s| failed.is_some_and(|f| f != s.csrf_token))
        .cloned()
}

/// Milliseconds since the epoch of an RFC 3339 `expires_at`.
fn parse_expiry(expires_at: &str) -> Result<i64, ClientError> {
    let expires = humantime::parse_rfc3339(expires_at).map_err(|error| ClientError::Protocol {
        status: 200,
        detail: format!("bad expires_at {expires_at:?}: {error}"),
    })?;
    Ok(expires
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0))
}
