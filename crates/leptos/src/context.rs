//! [`UseSession`], what [`use_session`] returns: the provider's manager, made reactive.

use std::sync::Arc;

use leptos::prelude::*;
use leptos::task::spawn_local;
use trustyconvert_client::{ClientError, SessionManager, SessionSnapshot, SessionState};

use crate::tabs;

/// What `use_session()` returns: reactive state and the session actions.
#[derive(Clone)]
pub struct UseSession {
    pub(crate) manager: SessionManager,
    pub(crate) state: ReadSignal<SessionState>,
    pub(crate) session: ReadSignal<Option<SessionSnapshot>>,
    pub(crate) waiting: RwSignal<u32>,
    pub(crate) closes: RwSignal<u64>,
    /// The Web Lock held around initialization.
    pub(crate) init_lock: Arc<str>,
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
        let (manager, waiting, lock) = (self.manager.clone(), self.waiting, self.init_lock.clone());
        spawn_local(async move {
            let _ = ensure_across_tabs(&manager, waiting, &lock).await;
        });
    }

    /// [`ensure_session`](Self::ensure_session), awaited.
    pub async fn ensured(&self) -> Result<SessionSnapshot, ClientError> {
        ensure_across_tabs(&self.manager, self.waiting, &self.init_lock).await
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

/// The usable session, or the one initialization run under the tabs' Web Lock `lock`;
/// `waiting` counts this caller until it has its answer.
async fn ensure_across_tabs(
    manager: &SessionManager,
    waiting: RwSignal<u32>,
    lock: &str,
) -> Result<SessionSnapshot, ClientError> {
    if let Some(session) = manager.usable_session() {
        return Ok(session);
    }
    let _waiting = Waiting::start(waiting);
    let manager = manager.clone();
    let work = async move { manager.ensure_session().await };
    tabs::with_init_lock(lock, work).await
}

/// Counts a caller waiting for the init lock; uncounted when dropped, also when the
/// caller's future is (a cancelled task).
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

/// The session of the nearest `<SessionProvider>`.
///
/// # Panics
/// Outside a `<SessionProvider>`.
pub fn use_session() -> UseSession {
    use_context::<UseSession>().expect("use_session() needs a <SessionProvider> above it")
}
