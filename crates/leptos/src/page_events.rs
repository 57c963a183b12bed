//! The page's lifecycle events that concern the session: the page becoming visible
//! again, and `csrf:error` events other code on the page dispatches.

use leptos::task::spawn_local;
use trustyconvert_client::CookieCheck;
use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast as _, JsValue};
use web_sys::{Document, Window};

use crate::UseSession;

/// The name of the window event other code dispatches when the server refused a CSRF
/// token: `new CustomEvent("csrf:error", { detail: { token } })` (or `detail: token`).
pub const CSRF_ERROR_EVENT: &str = "csrf:error";

/// The registered listeners; dropping this removes them.
pub(crate) struct PageListeners {
    window: Window,
    document: Document,
    on_visibility: Closure<dyn FnMut()>,
    on_csrf_error: Closure<dyn FnMut(web_sys::Event)>,
}

impl Drop for PageListeners {
    fn drop(&mut self) {
        let _ = self.document.remove_event_listener_with_callback(
            "visibilitychange",
            self.on_visibility.as_ref().unchecked_ref(),
        );
        let _ = self.window.remove_event_listener_with_callback(
            CSRF_ERROR_EVENT,
            self.on_csrf_error.as_ref().unchecked_ref(),
        );
    }
}

/// Registers the listeners for `session` (`None` outside a browser window).
pub(crate) fn listen(session: &UseSession) -> Option<PageListeners> {
    let window = web_sys::window()?;
    let document = window.document()?;

    let visible_session = session.clone();
    let page = document.clone();
    let on_visibility = Closure::<dyn FnMut()>::new(move || {
        if page.visibility_state() == web_sys::VisibilityState::Visible {
            became_visible(&visible_session);
        }
    });
    document
        .add_event_listener_with_callback(
            "visibilitychange",
            on_visibility.as_ref().unchecked_ref(),
        )
        .ok()?;

    let manager = session.manager().clone();
    let on_csrf_error = Closure::<dyn FnMut(web_sys::Event)>::new(move |event: web_sys::Event| {
        let Some(token) = failed_token(&event) else {
            return;
        };
        let manager = manager.clone();
        // Acts only if that token is still the current one.
        spawn_local(async move {
            let _ = manager.recover_csrf(&token).await;
        });
    });
    window
        .add_event_listener_with_callback(CSRF_ERROR_EVENT, on_csrf_error.as_ref().unchecked_ref())
        .ok()?;

    Some(PageListeners {
        window,
        document,
        on_visibility,
        on_csrf_error,
    })
}

/// Back in view: a session closed elsewhere meanwhile is forgotten, a token rotated
/// elsewhere is taken from the cookie (neither makes a request); a held session is
/// revalidated only if stale (`ensure_session` makes no request while the token is
/// fresh, one through the single flight otherwise).
fn became_visible(session: &UseSession) {
    let manager = session.manager();
    match manager.check_cookie() {
        CookieCheck::Missing => {
            manager.reset_session();
            return;
        }
        CookieCheck::Changed(_) => {
            if let Some(held) = manager.csrf_token() {
                let manager = manager.clone();
                // The held token is stale; the repair adopts the visible one, no I/O.
                spawn_local(async move {
                    let _ = manager.recover_csrf(&held).await;
                });
            }
        }
        CookieCheck::Matches | CookieCheck::NothingHeld => {}
    }
    if manager.state().is_initialized {
        session.ensure_session();
    }
}

/// The token in a `csrf:error` event's `detail`: a string, or `{ token }`.
fn failed_token(event: &web_sys::Event) -> Option<String> {
    let detail = event.dyn_ref::<web_sys::CustomEvent>()?.detail();
    detail.as_string().or_else(|| {
        js_sys::Reflect::get(&detail, &JsValue::from_str("token"))
            .ok()?
            .as_string()
    })
}
