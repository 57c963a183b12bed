//! `SessionManager`: the one place a client obtains, shares and repairs its session.
//!
//! Invariants (see ARCHITECTURE.md):
//! - **Single flight.** At most one initialization and one token refresh are in flight;
//!   every concurrent caller joins them and gets the same outcome. The flight runs as
//!   its own task, so a caller that gives up cancels nothing for the others.
//! - **Epochs and generations.** `reset_session()`/`close_session()` start a new epoch:
//!   a flight, or the recovery of a request, from an older epoch never writes state or
//!   starts an init. Within an epoch, a flight only applies its result if no newer
//!   flight (or adopted session) has already applied one.
//! - **No revival.** Nothing installs a session while a close is in progress; `adopt`
//!   also refuses a session obtained before the current epoch began or before the last
//!   close settled, and any session this manager closed.
//! - **Throttle after success only.** Inside `min_init_interval` after a success,
//!   callers get that success (never a stale "false"); a failure is never cached.
//! - **Server time.** Expiry is the server's `expires_in` counted from when the request
//!   was sent, on this client's clock: a skewed clock changes nothing.
//! - **Time limits.** Every request has `request_timeout`; no caller waits longer than
//!   `init_deadline` for an initialization, whatever the server does.
//! - **Listeners run unlocked.** Store and event listeners are called after the core's
//!   lock is released, so they may call any method of the manager.

mod backoff;
mod flight;
mod recovery;
mod wire;

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use futures::future::{BoxFuture, FutureExt as _, Shared};
use serde::{Deserialize, Serialize};
use trustyconvert_protocol::{paths, SessionInfo, DEFAULT_CSRF_COOKIE};

use crate::clock::{Clock, SystemClock};
use crate::counters::{Counters, NetworkCounts};
use crate::envelope::decode_envelope;
use crate::error::ClientError;
use crate::hub::{Hub, Subscription};
use crate::store::Store;
use crate::transport::{HttpMethod, HttpRequest, Transport};
use flight::{Flight, FlightSlot, Job};
pub use recovery::CookieCheck;

/// Tuning of a [`SessionManager`]. The defaults suit a browser page and the CLI.
#[derive(Debug, Clone)]
pub struct ManagerConfig {
    /// After a successful init, further non-forced inits inside this window return that
    /// success without a request.
    pub min_init_interval: Duration,
    /// Refresh a token this long before its known expiry (at most half its lifetime).
    pub refresh_ahead: Duration,
    /// Attempts of one initialization on transient failures (network, timeouts, 5xx, 429).
    pub max_init_attempts: u32,
    /// First backoff delay; doubles per attempt, with jitter.
    pub backoff_base: Duration,
    /// Longest single backoff delay (also caps `Retry-After`).
    pub backoff_max: Duration,
    /// The longest any request may go without progress before it is abandoned.
    pub request_timeout: Duration,
    /// The longest one initialization (every attempt and backoff included) may take:
    /// no caller of `ensure_session()` waits longer for it.
    pub init_deadline: Duration,
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
            request_timeout: Duration::from_secs(15),
            init_deadline: Duration::from_secs(30),
            csrf_cookie_name: DEFAULT_CSRF_COOKIE.to_owned(),
        }
    }
}

/// The session as the client knows it: a handle on its [`SessionFields`], which it
/// dereferences to (`snapshot.csrf_token`). Handing it to a caller is one reference
/// count, which keeps `ensure_session()`'s fast path short. Serializable (as the
/// fields), so a browser tab can hand it to the others ([`SessionManager::adopt`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SessionSnapshot(Arc<SessionFields>);

impl SessionSnapshot {
    /// A snapshot holding `fields`.
    pub fn new(fields: SessionFields) -> Self {
        Self(Arc::new(fields))
    }
}

impl std::ops::Deref for SessionSnapshot {
    type Target = SessionFields;

    fn deref(&self) -> &SessionFields {
        &self.0
    }
}

/// Changing a snapshot copies its fields first if another handle shares them: other
/// holders keep the session as they were given it.
impl std::ops::DerefMut for SessionSnapshot {
    fn deref_mut(&mut self) -> &mut SessionFields {
        Arc::make_mut(&mut self.0)
    }
}

/// What a [`SessionSnapshot`] knows of the session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionFields {
    /// Public handle of the session.
    pub id: Arc<str>,
    /// The CSRF token to send in `X-CSRF-Token`.
    pub csrf_token: Arc<str>,
    /// RFC 3339 expiry as the server reported it (on the server's clock; for display).
    pub expires_at: Arc<str>,
    /// The expiry on this client's clock: when the request that obtained the session
    /// was sent, plus the server's `expires_in`. Immune to clock skew.
    pub expires_at_millis: i64,
    /// When the request that obtained it was sent (this client's clock, ms since the
    /// Unix epoch).
    pub obtained_at_millis: i64,
}

/// The observable state of a manager: what a page shows of its session.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionState {
    /// A session is known in this epoch.
    pub is_initialized: bool,
    /// An initialization is in flight.
    pub is_initializing: bool,
    /// A CSRF token refresh is in flight.
    pub is_refreshing: bool,
    /// A CSRF token is held.
    pub has_csrf_token: bool,
    /// The last session-level failure (initialization, token refresh, recovery that
    /// gave up); cleared by the next success. Errors of individual API calls (a file
    /// too large, say) are returned to their caller only.
    pub last_error: Option<ClientError>,
}

/// What happened to the session, for listeners that keep other parties in step (the
/// web UI forwards these to the other tabs of the browser). Sessions taken over with
/// [`SessionManager::adopt`] and local resets emit nothing, so forwarding never echoes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum SessionEvent {
    /// A session was obtained from the server (created, or an existing one joined).
    Initialized(SessionSnapshot),
    /// The same session got a new CSRF token.
    Rotated(SessionSnapshot),
    /// This client closed the session on the server.
    Closed,
    /// The server refused this CSRF token; recovery has started.
    CsrfRejected {
        /// The refused token.
        token: String,
    },
}

/// A session together with the epoch it belongs to: what a request is sent with, so
/// its recovery can tell whether a reset happened meanwhile.
#[derive(Debug, Clone)]
pub(crate) struct Ticket {
    pub session: SessionSnapshot,
    pub epoch: u64,
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
    /// A close in progress (started in the given epoch): inits started meanwhile wait
    /// for it, so they cannot join the very session being closed, and nothing installs
    /// a session until it has settled.
    closing: Option<(u64, Settled)>,
    /// `adopt` takes only sessions obtained strictly after this instant (this client's
    /// clock): moved to now when an epoch begins and when a close settles, so an
    /// announcement from before a reset or a close (possibly of the closed session) is
    /// never installed.
    adopt_after: i64,
    /// Ids of the latest sessions this manager closed (or was closing): never adopted
    /// again, whatever clock the announcement was timed by.
    closed_ids: VecDeque<Arc<str>>,
    /// Flights started under the lock, spawned by `update` once it is released.
    launches: Vec<Launch>,
}

impl Core {
    /// Whether `session`, announced from outside (another tab), may be installed at
    /// `now`: no close in progress, obtained after the current epoch began and after
    /// the last close settled, not a session closed here, newer than what is held, and
    /// not expired.
    pub(crate) fn admits(&self, session: &SessionSnapshot, now: i64) -> bool {
        let not_newer = self.session.as_ref().is_some_and(|held| {
            *held == *session || held.obtained_at_millis > session.obtained_at_millis
        });
        self.closing.is_none()
            && session.obtained_at_millis > self.adopt_after
            && !self.closed_ids.contains(&session.id)
            && !not_newer
            && session.expires_at_millis > now
    }
}

/// Resolves when a close has settled (either way).
pub(crate) type Settled = Shared<BoxFuture<'static, ()>>;

/// Spawns a flight's task; run only after the core's lock is released, so a runtime
/// that drops the task at once (shutting down) cannot re-enter the lock.
pub(crate) type Launch = Box<dyn FnOnce() + Send>;

pub(crate) struct Inner {
    pub(crate) transport: Arc<dyn Transport>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) config: ManagerConfig,
    pub(crate) counters: Counters,
    core: Mutex<Core>,
    token: Store<Option<String>>,
    snapshot: Store<Option<SessionSnapshot>>,
    state: Store<SessionState>,
    events: Hub<SessionEvent>,
}

/// Centralized session management for one client. Cheap to clone; clones share state.
///
/// Listeners (of the token, the state or the events) may call any method, including
/// `reset_session()` and `ensure_session()`: they run after the manager's lock is
/// released.
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
            closing: None,
            adopt_after: i64::MIN,
            closed_ids: VecDeque::new(),
            launches: Vec::new(),
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
                events: Hub::new(),
            }),
        }
    }

    /// A native manager talking to the server at `base_url` with a fresh cookie jar.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn connect(base_url: &str, config: ManagerConfig) -> Result<Self, ClientError> {
        let transport = crate::transport::ReqwestTransport::new(base_url)?;
        Ok(Self::new(Arc::new(transport), config))
    }

    /// Returns a usable session: at once, without I/O, if the token is fresh; otherwise
    /// joins the in-flight initialization or starts it. Never waits longer than
    /// `init_deadline`.
    pub async fn ensure_session(&self) -> Result<SessionSnapshot, ClientError> {
        Ok(self.ensure_ticket().await?.session)
    }

    /// The session, if [`ensure_session`](Self::ensure_session) would return it at once
    /// without I/O (fresh, or inside the throttle window). A caller that wants to guard
    /// an initialization with a lock of its own checks this first.
    pub fn usable_session(&self) -> Option<SessionSnapshot> {
        let now = self.inner.clock.now_millis();
        self.usable(&self.lock(), now, false)
            .map(|ticket| ticket.session)
    }

    /// [`ensure_session`](Self::ensure_session), with the epoch the session belongs to.
    pub(crate) async fn ensure_ticket(&self) -> Result<Ticket, ClientError> {
        let now = self.inner.clock.now_millis();
        // The fast path only reads: no staging, no delivery.
        if let Some(ready) = self.usable(&self.lock(), now, false) {
            return Ok(ready);
        }
        let waited = self.update(|core| match self.usable(core, now, false) {
            Some(ready) => Wait::Ready(ready),
            None => Wait::Flight(self.join_or_start_init(core, false)),
        });
        waited.outcome().await
    }

    /// Initializes explicitly. Without `force` this behaves like a throttled
    /// [`ensure_session`](Self::ensure_session) that also revalidates a fresh token once
    /// the throttle window has passed; with `force` the server replaces the session.
    pub async fn init_session(&self, force: bool) -> Result<SessionSnapshot, ClientError> {
        let now = self.inner.clock.now_millis();
        let waited = self.update(|core| match self.usable(core, now, true) {
            Some(ready) if !force => Wait::Ready(ready),
            _ => Wait::Flight(self.join_or_start_init(core, force)),
        });
        Ok(waited.outcome().await?.session)
    }

    /// The session held, if it may be used without I/O: fresh (unless
    /// `throttle_only`), or inside the throttle window after a success.
    fn usable(&self, core: &Core, now: i64, throttle_only: bool) -> Option<Ticket> {
        let session = core.session.as_ref()?;
        let fresh = !throttle_only && self.is_fresh(session, now);
        (fresh || self.inside_throttle(core, session, now)).then(|| Ticket {
            session: session.clone(),
            epoch: core.epoch,
        })
    }

    /// Forgets the session locally and starts a new epoch: nothing still in flight can
    /// change state any more, and no response from before the reset starts an init.
    /// The next `ensure_session()` starts afresh (adopting a live cookie first).
    pub fn reset_session(&self) {
        let now = self.inner.clock.now_millis();
        self.update(|core| begin_epoch(core, true, now));
    }

    /// Closes the session on the server (`POST /api/session/close`) and starts a new
    /// epoch. An initialization in flight is superseded first and awaited, so the
    /// session it may have created is the one closed: nothing revives the session, not
    /// even through the cookie jar or another tab's announcement (see
    /// [`adopt`](Self::adopt)). Never creates a session to close it. Returns whether a
    /// session was closed (`false`: there was none, or it was already gone).
    pub async fn close_session(&self) -> Result<bool, ClientError> {
        let (settle, settled) = futures::channel::oneshot::channel::<()>();
        let settled: Settled = settled.map(|_| ()).boxed().shared();
        let now = self.inner.clock.now_millis();
        let (superseded, epoch) = self.update(|core| {
            let pending = core.init.as_ref().map(|slot| slot.flight.clone());
            if let Some(held) = core.session.take() {
                remember_closed(core, held.id.clone());
            }
            // A session closed on purpose must not be silently adopted again.
            begin_epoch(core, false, now);
            core.closing = Some((core.epoch, settled));
            (pending, core.epoch)
        });
        // Released however this ends, also if the caller drops this future.
        let _settling = CloseSettling {
            manager: self.clone(),
            epoch,
            settle: Some(settle),
        };
        if let Some(init) = superseded {
            // Resolves with `Superseded`; what matters is that its cookies have landed.
            let _ = init.await;
        }
        match self.api().close_session().await {
            Ok(closed) => {
                if closed.is_some() {
                    self.update(|_| self.inner.events.publish(SessionEvent::Closed));
                }
                Ok(closed.is_some())
            }
            Err(error) => {
                self.record_error(&error);
                Err(error)
            }
        }
    }

    /// Watches the session held (id, token, expiry): called now and once per change.
    pub fn subscribe_session(
        &self,
        listener: impl Fn(&Option<SessionSnapshot>) + Send + Sync + 'static,
    ) -> Subscription {
        self.inner.snapshot.subscribe(listener)
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

    /// Watches what happens to the session (see [`SessionEvent`]), from now on.
    ///
    /// ```no_run
    /// # fn demo(manager: trustyconvert_client::SessionManager) {
    /// use trustyconvert_client::SessionEvent;
    /// let _subscription = manager.subscribe_events(|event| match event {
    ///     SessionEvent::Rotated(session) => println!("new token for {}", session.id),
    ///     other => println!("{other:?}"),
    /// });
    /// # }
    /// ```
    pub fn subscribe_events(
        &self,
        listener: impl Fn(&SessionEvent) + Send + Sync + 'static,
    ) -> Subscription {
        self.inner.events.listen(listener, None)
    }

    /// Network calls made so far, by kind.
    pub fn counts(&self) -> NetworkCounts {
        self.inner.counters.snapshot()
    }

    /// Reads the core. Never change it through this guard: use [`update`](Self::update).
    fn lock(&self) -> MutexGuard<'_, Core> {
        self.inner
            .core
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Changes the core under its lock, queues what listeners must hear, releases the
    /// lock, then delivers: listeners never run while the lock is held.
    fn update<R>(&self, change: impl FnOnce(&mut Core) -> R) -> R {
        let (result, launches) = {
            let mut core = self.lock();
            let result = change(&mut core);
            self.stage(&core);
            (result, std::mem::take(&mut core.launches))
        };
        self.inner.snapshot.deliver();
        self.inner.token.deliver();
        self.inner.state.deliver();
        self.inner.events.deliver();
        for launch in launches {
            launch();
        }
        result
    }

    /// Queues the core's view into the reactive stores (each notifies only on change).
    /// Accessors read these stores, never the core.
    fn stage(&self, core: &Core) {
        self.inner.snapshot.stage(core.session.clone());
        let token = core.session.as_ref().map(|s| s.csrf_token.to_string());
        self.inner.token.stage(token.clone());
        self.inner.state.stage(SessionState {
            is_initialized: core.session.is_some(),
            is_initializing: core.init.is_some(),
            is_refreshing: core.refresh.is_some(),
            has_csrf_token: token.is_some(),
            last_error: core.last_error.clone(),
        });
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

    /// The init flight to wait for, and the epoch it belongs to.
    fn join_or_start_init(&self, core: &mut Core, force: bool) -> (Flight, u64) {
        if let Some(slot) = &core.init {
            if slot.forced || !force {
                return (slot.flight.clone(), core.epoch);
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
        (flight, core.epoch)
    }

    /// Records a session-level failure in `last_error`.
    pub(crate) fn record_error(&self, error: &ClientError) {
        self.update(|core| core.last_error = Some(error.clone()));
    }

    /// A refusal that outlived its repair, for a request sent with `ticket`: recorded in
    /// `last_error` if that epoch is still current, else `Superseded` (a reset won).
    pub(crate) fn session_failure(&self, ticket: &Ticket, error: ClientError) -> ClientError {
        self.update(|core| {
            if core.epoch != ticket.epoch {
                return ClientError::Superseded;
            }
            core.last_error = Some(error.clone());
            error
        })
    }

    /// Clears `last_error` after a call sent with `ticket` proved the session works (if
    /// no reset happened since).
    pub(crate) fn clear_error(&self, ticket: &Ticket) {
        if self.inner.state.get().last_error.is_some() {
            self.update(|core| {
                if core.epoch == ticket.epoch {
                    core.last_error = None;
                }
            });
        }
    }

    /// A snapshot of `info`, timed from `sent_at` (this client's clock) with the
    /// server's relative lifetime, so clock skew does not matter.
    pub(crate) fn snapshot_from(&self, info: SessionInfo, sent_at: i64) -> SessionSnapshot {
        let lifetime = i64::try_from(info.expires_in.saturating_mul(1000)).unwrap_or(i64::MAX);
        SessionSnapshot::new(SessionFields {
            id: info.id.into(),
            csrf_token: info.csrf_token.into(),
            expires_at: info.expires_at.into(),
            expires_at_millis: sent_at.saturating_add(lifetime),
            obtained_at_millis: sent_at,
        })
    }

    /// A request to the API with this manager's timeout.
    pub(crate) fn request(&self, method: HttpMethod, path: impl Into<String>) -> HttpRequest {
        let mut request = HttpRequest::new(method, path);
        request.timeout = Some(self.inner.config.request_timeout);
        request
    }

    /// Reads the current token of the session a close is about to close, from the
    /// server, without ever creating one; that session's id is remembered as closed.
    pub(crate) async fn token_of_session_closing(&self) -> Result<String, ClientError> {
        Counters::bump(&self.inner.counters.csrf_refreshes);
        let session = self.fetch_session(paths::SESSION).await?;
        self.update(|core| remember_closed(core, session.id.clone()));
        Ok(session.csrf_token.to_string())
    }

    /// One GET of a session endpoint, decoded.
    async fn fetch_session(&self, path: &str) -> Result<SessionSnapshot, ClientError> {
        let sent_at = self.inner.clock.now_millis();
        let response = self
            .inner
            .transport
            .send(self.request(HttpMethod::Get, path))
            .await?;
        let info: SessionInfo = decode_envelope(response)?;
        Ok(self.snapshot_from(info, sent_at))
    }
}

/// Settles a close when dropped: inits waiting for it go ahead.
struct CloseSettling {
    manager: SessionManager,
    epoch: u64,
    settle: Option<futures::channel::oneshot::Sender<()>>,
}

impl Drop for CloseSettling {
    fn drop(&mut self) {
        let epoch = self.epoch;
        let now = self.manager.inner.clock.now_millis();
        self.manager.update(|core| {
            // Whatever was obtained before the close landed may be the closed session.
            core.adopt_after = core.adopt_after.max(now);
            if core
                .closing
                .as_ref()
                .is_some_and(|(started, _)| *started == epoch)
            {
                core.closing = None;
            }
        });
        if let Some(settle) = self.settle.take() {
            let _ = settle.send(());
        }
    }
}

/// What a caller of `ensure`/`init` waits for: nothing, or a flight of some epoch.
enum Wait {
    Ready(Ticket),
    Flight((Flight, u64)),
}

impl Wait {
    async fn outcome(self) -> Result<Ticket, ClientError> {
        match self {
            Self::Ready(ticket) => Ok(ticket),
            Self::Flight((flight, epoch)) => Ok(Ticket {
                session: flight.await?,
                epoch,
            }),
        }
    }
}

/// Starts a new epoch at `now`: forgets the session and detaches every flight in
/// progress; from now on only sessions obtained later are adopted.
fn begin_epoch(core: &mut Core, sync_first: bool, now: i64) {
    core.epoch += 1;
    core.adopt_after = core.adopt_after.max(now);
    core.session = None;
    core.last_success_at = None;
    core.last_error = None;
    core.sync_first = sync_first;
    core.init = None;
    core.refresh = None;
}

/// How many closed session ids a manager remembers (a page closes a handful at most).
const CLOSED_IDS_KEPT: usize = 16;

/// Remembers `id` as a session this manager closed: [`SessionManager::adopt`] never
/// takes it again.
fn remember_closed(core: &mut Core, id: Arc<str>) {
    if core.closed_ids.contains(&id) {
        return;
    }
    if core.closed_ids.len() == CLOSED_IDS_KEPT {
        core.closed_ids.pop_front();
    }
    core.closed_ids.push_back(id);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snapshot() -> SessionSnapshot {
        SessionSnapshot::new(SessionFields {
            id: "abc".into(),
            csrf_token: "token-1".into(),
            expires_at: "2026-11-29T01:00:00Z".into(),
            expires_at_millis: 2_000,
            obtained_at_millis: 1_000,
        })
    }

    #[test]
    fn a_snapshot_is_serialized_as_its_fields() {
        let json = serde_json::to_value(snapshot()).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "id": "abc",
                "csrf_token": "token-1",
                "expires_at": "2026-11-29T01:00:00Z",
                "expires_at_millis": 2000,
                "obtained_at_millis": 1000,
            })
        );
        let back: SessionSnapshot = serde_json::from_value(json).unwrap();
        assert_eq!(back, snapshot());
        let ours = trustyconvert_protocol::json::ToJson::to_json(&snapshot());
        assert_eq!(serde_json::to_string(&snapshot()).unwrap(), ours);
    }

    #[test]
    fn changing_a_snapshot_leaves_the_handles_given_out_unchanged() {
        let given_out = snapshot();
        let mut changed = given_out.clone();
        changed.csrf_token = "token-2".into();
        assert_eq!(&*given_out.csrf_token, "token-1");
        assert_eq!(&*changed.csrf_token, "token-2");
    }
}
