//! `<SessionProvider>` and `use_session()`: the client crate's `SessionManager`, made
//! reactive for Leptos and kept in step with the page's lifecycle and the other tabs.
//!
//! The provider creates one manager per page and:
//! - mirrors its state into signals (listeners run after the manager's lock is released,
//!   so signal effects may call back into it);
//! - initializes once per page load, sync first: a live cookie is adopted, not replaced;
//! - revalidates when the page becomes visible again: no request while the token is
//!   fresh, one through the single flight when it is stale;
//! - answers a `csrf:error` window event only if the token it carries is still current;
//! - shares init, rotation and close with the other tabs (see [`tabs`]);
//! - removes every listener when it is cleaned up.

mod page_events;
mod tabs;

use std::sync::Arc;

use leptos::prelude::*;
use leptos::task::spawn_local;
use trustyconvert_client::transport::FetchTransport;
use trustyconvert_client::{
    ClientError, ManagerConfig, SessionEvent, SessionManager, SessionSnapshot, SessionState,
};

/// What `use_session()` returns: reactive state and the session actions.
#[derive(Clone)]
pub struct UseSession {
    manager: SessionManager,
    state: ReadSignal<SessionState>,
    session: ReadSignal<Option<SessionSnapshot>>,
    waiting: RwSignal<u32>,
    closes: RwSignal<u64>,
}

impl UseSession {
    /// A session is known.
    pub fn is_initialized(&self) -> Signal<bool> {
        let state = self.state;
        Signal::derive(move || state.with(|s| s.is_initialized))
    }

    /// An initialization is in flight (or waiting for another tab's to finish).
    pub fn is_initializing(&self) -> Signal<bool> {
        let (state, waiting) = (self.state, self.waiting);
        Signal::derive(move || state.with(|s| s.is_initializing) || waiting.get() > 0)
    }

    /// A CSRF token is held.
    pub fn has_csrf_token(&self) -> Signal<bool> {
        let state = self.state;
        Signal::derive(move || state.with(|s| s.has_csrf_token))
    }

    /// The last session-level failure, cleared by the next success.
    pub fn last_error(&self) -> Signal<Option<ClientError>> {
        let state = self.state;
        Signal::derive(move || state.with(|s| s.last_error.clone()))
    }

    /// The session held (its public id, for display).
    pub fn session(&self) -> ReadSignal<Option<SessionSnapshot>> {
        self.session
    }

    /// How many times the session was closed on purpose (here or in another tab) since
    /// the page loaded: work tied to the session stops when this changes. (A session
    /// merely repaired after a 401 does not count.)
    pub fn closes(&self) -> ReadSignal<u64> {
        self.closes.read_only()
    }

    /// The manager, for API calls (`manager().api()`).
    pub fn manager(&self) -> &SessionManager {
        &self.manager
    }

    /// Makes sure a session exists: no I/O when the token is fresh; otherwise the one
    /// initialization, under a lock shared by the browser's tabs so two tabs opened
    /// together make one session. Failures land in `last_error`.
    pub fn ensure_session(&self) {
        let (manager, waiting) = (self.manager.clone(), self.waiting);
        spawn_local(async move {
            let _ = ensure_across_tabs(&manager, waiting).await;
        });
    }

    /// [`ensure_session`](Self::ensure_session), awaited.
    pub async fn ensured(&self) -> Result<SessionSnapshot, ClientError> {
        ensure_across_tabs(&self.manager, self.waiting).await
    }

    /// Forgets the session here (the server keeps it).
    pub fn reset_session(&self) {
        self.manager.reset_session();
    }

    /// Closes the session on the server; the other tabs hear of it at once.
    pub async fn close_session(&self) -> Result<bool, ClientError> {
        self.manager.close_session().await
    }
}

async fn ensure_across_tabs(
    manager: &SessionManager,
    waiting: RwSignal<u32>,
) -> Result<SessionSnapshot, ClientError> {
    if let Some(session) = manager.usable_session() {
        return Ok(session);
    }
    let _waiting = Waiting::start(waiting);
    let manager = manager.clone();
    let work = async move { manager.ensure_session().await };
    tabs::with_init_lock(work).await
}

/// Counts a caller waiting for the init lock; uncounted when dropped, also when the
/// caller's future is (a cancelled conversion).
struct Waiting(RwSignal<u32>);

impl Waiting {
    fn start(counter: RwSignal<u32>) -> Self {
        counter.update(|n| *n += 1);
        Self(counter)
    }
}

impl Drop for Waiting {
    fn drop(&mut self) {
        self.0.try_update(|n| *n = n.saturating_sub(1));
    }
}

/// Provides the page's session to `children` (see the module documentation).
#[component]
pub fn SessionProvider(children: Children) -> impl IntoView {
    let transport = Arc::new(FetchTransport::new(""));
    let manager = SessionManager::new(transport, ManagerConfig::default());
    let (state, set_state) = signal(manager.state());
    let (session, set_session) = signal(manager.session());
    let state_subscription = manager.subscribe_state(move |s| set_state.set(s.clone()));
    let session_subscription = manager.subscribe_session(move |s| set_session.set(s.clone()));
    let closes = RwSignal::new(0u64);
    let close_subscription = manager.subscribe_events(move |event| {
        if *event == SessionEvent::Closed {
            closes.update(|n| *n += 1);
        }
    });
    let context = UseSession {
        manager: manager.clone(),
        state,
        session,
        waiting: RwSignal::new(0),
        closes,
    };
    // Owned by this component: dropped (and so unsubscribed and removed) when it is
    // cleaned up.
    StoredValue::new((state_subscription, session_subscription, close_subscription));
    StoredValue::new_local(tabs::link(&manager, closes));
    StoredValue::new_local(page_events::listen(&context));
    provide_context(context.clone());
    // One initialization per page load; components that ask too join it.
    context.ensure_session();
    children()
}

/// The session of the nearest `<SessionProvider>`.
///
/// # Panics
/// Outside a `<SessionProvider>`.
pub fn use_session() -> UseSession {
    use_context::<UseSession>().expect("use_session() needs a <SessionProvider> above it")
}
