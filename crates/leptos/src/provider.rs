//! `<SessionProvider>`: one [`SessionManager`] per page, mirrored into signals and kept
//! in step with the page's lifecycle and the other tabs.

use std::sync::Arc;

use leptos::prelude::*;
use trustyconvert_client::transport::FetchTransport;
use trustyconvert_client::{SessionEvent, SessionManager};

use crate::{page_events, tabs, ProviderConfig, UseSession};

/// Provides one session to `children`, read with [`use_session`](crate::use_session).
///
/// It creates the page's one [`SessionManager`] (over `fetch` with credentials, against
/// [`ProviderConfig::base_url`]) and:
/// - mirrors its state into signals (listeners run after the manager's lock is released,
///   so signal effects may call back into it);
/// - initializes once per page load, sync first: a live cookie is adopted, not replaced;
///   every component that asks too joins that one initialization;
/// - revalidates when the page becomes visible again: no request while the token is
///   fresh, one through the single flight when it is stale;
/// - answers a [`CSRF_ERROR_EVENT`](crate::CSRF_ERROR_EVENT) window event only if the
///   token it carries is still current;
/// - shares init, rotation and close with the other tabs on
///   [`ProviderConfig::channel`], and initializes under a Web Lock so two tabs opened
///   together make one session;
/// - removes every listener when it is cleaned up.
#[component]
pub fn SessionProvider(
    /// Where the API is and how the manager and the tab channel are set up; the default
    /// is the page's own origin, [`ManagerConfig::default()`](trustyconvert_client::ManagerConfig)
    /// and the channel [`DEFAULT_CHANNEL`](crate::DEFAULT_CHANNEL).
    #[prop(optional)]
    config: ProviderConfig,
    /// The part of the page that uses the session.
    children: Children,
) -> impl IntoView {
    let transport = Arc::new(FetchTransport::new(config.base_url()));
    let manager = SessionManager::new(transport, config.manager().clone());
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
        init_lock: Arc::from(config.init_lock_name()),
    };
    // Owned by this component: dropped (and so unsubscribed and removed) when it is
    // cleaned up.
    StoredValue::new((state_subscription, session_subscription, close_subscription));
    StoredValue::new_local(tabs::link(config.channel(), &manager, closes));
    StoredValue::new_local(page_events::listen(&context));
    provide_context(context.clone());
    // One initialization per page load; components that ask too join it.
    context.ensure_session();
    children()
}
