//! The conversion page. Its components each ask for the session on mount, as parts of
//! real apps do; the provider's single flight turns that into one initialization.

mod converter;
mod formats;
mod indicator;
mod privacy;
mod rows;
mod sync;

use leptos::prelude::*;

use converter::Converter;
use indicator::SessionIndicator;
use privacy::PrivacyNote;
use trustyconvert_leptos::SessionProvider;

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
