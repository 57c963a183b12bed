//! The session indicator in the header, and the button that ends the session.

use leptos::prelude::*;
use leptos::task::spawn_local;

use trustyconvert_leptos::use_session;

/// `data-state` of the indicator.
fn state_name(ready: bool, initializing: bool, failed: bool) -> &'static str {
    match (ready, initializing, failed) {
        (true, _, _) => "ready",
        (false, true, _) => "initializing",
        (false, false, true) => "error",
        (false, false, false) => "none",
    }
}

/// Shows whether a session is active (with its public id) and offers to end it.
#[component]
pub fn SessionIndicator() -> impl IntoView {
    let session = use_session();
    session.ensure_session();
    let (ready, initializing, error) = (
        session.is_initialized(),
        session.is_initializing(),
        session.last_error(),
    );
    let snapshot = session.session();
    let state = move || state_name(ready.get(), initializing.get(), error.with(Option::is_some));
    let id = move || {
        snapshot
            .with(|s| s.as_ref().map(|s| s.id.clone()))
            .filter(|_| ready.get())
    };
    let short_id = move || id().map(|id| id.chars().take(8).collect::<String>());
    let closing = RwSignal::new(false);
    let close = {
        let session = session.clone();
        move |_| {
            let session = session.clone();
            closing.set(true);
            spawn_local(async move {
                let _ = session.close_session().await;
                closing.set(false);
            });
        }
    };
    view! {
        <div
            class="status"
            data-testid="session-status"
            data-state=state
            data-session-id=id
            role="status"
            aria-live="polite"
        >
            <span class="dot" aria-hidden="true"></span>
            <span class="status-text">
                {move || match state() {
                    "ready" => "Secure session".to_owned(),
                    "initializing" => "Starting a secure session…".to_owned(),
                    "error" => "No session".to_owned(),
                    _ => "No active session".to_owned(),
                }}
            </span>
            <Show when=move || short_id().is_some()>
                <code class="session-id" title="Your session's public id">{short_id}</code>
            </Show>
            <Show when=move || ready.get()>
                <button
                    type="button"
                    class="button quiet"
                    data-testid="close-session"
                    disabled=move || closing.get()
                    on:click=close.clone()
                >
                    "End session"
                </button>
            </Show>
        </div>
    }
}
