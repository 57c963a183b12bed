//! A minimal Leptos page on `trustyconvert-leptos`, for the `axum-app` example server:
//! it shows the session, sends a message to the CSRF-protected `POST /api/echo` and
//! closes the session. See README.md for building and serving it.

use leptos::prelude::*;
use leptos::task::spawn_local;
use serde::{Deserialize, Serialize};
use trustyconvert_leptos::client::{ApiClient, ApiRequest, ClientError};
use trustyconvert_leptos::{use_session, SessionProvider};

/// Mounts the page on `<body>` (the module's start function).
#[wasm_bindgen::prelude::wasm_bindgen(start)]
pub fn start() {
    leptos::mount::mount_to_body(App);
}

/// The whole page: everything below the provider shares one session.
#[component]
pub fn App() -> impl IntoView {
    view! {
        <SessionProvider>
            <h1>"Leptos + trustyconvert-session"</h1>
            <SessionStatus />
            <Echo />
            <CloseSession />
        </SessionProvider>
    }
}

/// The session's public id and expiry, or what the provider is doing instead.
#[component]
fn SessionStatus() -> impl IntoView {
    let session = use_session();
    let (held, starting, error) = (
        session.session(),
        session.is_initializing(),
        session.last_error(),
    );
    let id = move || match held.with(|s| s.as_ref().map(|s| s.id.to_string())) {
        Some(id) => id,
        None if starting.get() => "starting…".to_owned(),
        None => "none".to_owned(),
    };
    let expires = move || held.with(|s| s.as_ref().map(|s| s.expires_at.to_string()));
    view! {
        <dl>
            <dt>"Session"</dt>
            <dd id="session-id">{id}</dd>
            <dt>"Expires (UTC)"</dt>
            <dd id="session-expires">{move || expires().unwrap_or_else(|| "—".to_owned())}</dd>
        </dl>
        <p id="session-error" role="alert">{move || error.get().map(|e| e.user_message())}</p>
    }
}

/// The body of `POST /api/echo`, which the server sends back.
#[derive(Serialize, Deserialize)]
struct Message {
    message: String,
}

/// The `data` of the echo's answer: the session that sent it and the body it sent.
#[derive(Deserialize)]
struct Echoed {
    session: String,
    echo: Message,
}

/// Sends the text box's message to `POST /api/echo` through the session's API client,
/// which adds `X-CSRF-Token` and, on a 403 CSRF refusal, refreshes the token and
/// replays once by itself.
async fn echo(api: ApiClient, message: String) -> Result<Echoed, ClientError> {
    let request = ApiRequest::post("/api/echo").json(&Message { message })?;
    api.call(request).await
}

/// A text box, a send button and the server's answer.
#[component]
fn Echo() -> impl IntoView {
    let session = use_session();
    let message = RwSignal::new(String::from("hello"));
    let answer = RwSignal::new(None::<Result<Echoed, String>>);
    let send = move |_| {
        let api = session.manager().api();
        let text = message.get_untracked();
        spawn_local(async move {
            let outcome = echo(api, text).await.map_err(|e| e.user_message());
            answer.set(Some(outcome));
        });
    };
    view! {
        <p>
            <input id="message" type="text" bind:value=message />
            <button id="send" type="button" on:click=send>"Send to /api/echo"</button>
        </p>
        <p id="answer">
            {move || {
                answer.with(|answer| match answer {
                    Some(Ok(echoed)) => {
                        format!("Session {} sent: {}", echoed.session, echoed.echo.message)
                    }
                    Some(Err(error)) => format!("Error: {error}"),
                    None => String::new(),
                })
            }}
        </p>
    }
}

/// Ends the session on the server (the other tabs forget it too); the next call starts
/// a new one.
#[component]
fn CloseSession() -> impl IntoView {
    let session = use_session();
    let ready = session.is_initialized();
    let close = move |_| {
        let session = session.clone();
        spawn_local(async move {
            let _ = session.close_session().await;
        });
    };
    view! {
        <button id="close" type="button" disabled=move || !ready.get() on:click=close>
            "Close the session"
        </button>
    }
}
