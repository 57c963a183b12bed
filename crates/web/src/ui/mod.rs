//! The conversion page. Its components each ask for the session on mount, as parts of
//! real apps do; the provider's single flight turns that into one initialization.

mod converter;
mod formats;
mod indicator;
mod privacy;

use leptos::prelude::*;

use crate::session::SessionProvider;
use converter::Converter;
use indicator::SessionIndicator;
use privacy::PrivacyNote;

/// The whole page.
#[component]
pub fn App() -> impl IntoView {
    view! {
        <SessionProvider>
            <header class="top">
                <div class="brand">
                    <span class="logo" aria-hidden="true">"⇄"</span>
                    <span>"TrustyConvert"</span>
                </div>
                <SessionIndicator />
            </header>
            <main class="page">
                <h1>"Convert files securely"</h1>
                <p class="lead">
                    "Images, Markdown, text and data files, converted on our server and "
                    "deleted when your session ends."
                </p>
                <Converter />
                <PrivacyNote />
            </main>
        </SessionProvider>
    }
}

/// Waits `millis` milliseconds (`setTimeout`).
pub(crate) async fn sleep(millis: i32) {
    let promise = js_sys::Promise::new(&mut |resolve, _reject| {
        if let Some(window) = web_sys::window() {
            let _ = window.set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, millis);
        }
    });
    let _ = wasm_bindgen_futures::JsFuture::from(promise).await;
}

/// A fresh UUID v4 from the browser's CSPRNG (job ids are client-generated).
pub(crate) fn new_job_id() -> Option<String> {
    Some(web_sys::window()?.crypto().ok()?.random_uuid())
}
