//! What happens to the user's files, with the session's expiry.

use leptos::prelude::*;

use trustyconvert_leptos::use_session;

/// A short note on retention; it too asks for the session when it mounts.
#[component]
pub fn PrivacyNote() -> impl IntoView {
    let session = use_session();
    session.ensure_session();
    let snapshot = session.session();
    let until = move || {
        snapshot.with(|s| {
            s.as_ref().map(|s| {
                s.expires_at
                    .replace('T', " ")
                    .trim_end_matches('Z')
                    .to_owned()
            })
        })
    };
    view! {
        <aside class="note">
            <h2>"Your files stay yours"</h2>
            <p>
                "Uploads and results belong to your session alone. Ending the session, or "
                "letting it expire, deletes them from the server."
                <Show when=move || until().is_some()>
                    " This session lasts until " {until} " UTC unless you keep using it."
                </Show>
            </p>
        </aside>
    }
}
