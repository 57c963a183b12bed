//! The TrustyConvert web UI: a Leptos client-side-rendered app, compiled to wasm32 and
//! served by `trustyconvert serve` at `/`.
//!
//! The session comes from [`trustyconvert_leptos`] (`<SessionProvider>` and
//! `use_session()`: one session per browser, kept in step across tabs); [`ui`] is the
//! conversion page, made of components that each ask for the session.

pub mod ui;

/// Mounts the app on the page's `<body>` (the module's start function).
#[wasm_bindgen::prelude::wasm_bindgen(start)]
pub fn start() {
    leptos::mount::mount_to_body(ui::App);
}
