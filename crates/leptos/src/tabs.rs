//! One session for all tabs of a browser.
//!
//! Tabs share cookies, so they must share one session and one token. Two mechanisms
//! keep them in step without anyone discovering a change through a 401 or 403:
//! - a `BroadcastChannel`: every init, rotation and close this tab's manager reports is
//!   posted to the others, which `adopt` the session (or reset on a close);
//! - a Web Lock around initialization: two tabs opened together do not both create a
//!   session; the second finds the first's (its cookie, or its broadcast) instead.

use std::cell::RefCell;
use std::future::Future;
use std::rc::Rc;

use futures::StreamExt as _;
use leptos::prelude::{RwSignal, Update as _};
use leptos::task::spawn_local;
use trustyconvert_client::protocol::json::{self, ToJson as _};
use trustyconvert_client::{SessionEvent, SessionManager, Subscription};
use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast as _, JsValue};
use web_sys::{BroadcastChannel, MessageEvent};

/// This tab's end of the channel; dropping it closes the channel and unsubscribes.
pub(crate) struct TabLink {
    channel: BroadcastChannel,
    _on_message: Closure<dyn FnMut(MessageEvent)>,
    _events: Subscription,
}

impl Drop for TabLink {
    fn drop(&mut self) {
        self.channel.set_onmessage(None);
        self.channel.close();
    }
}

/// Links `manager` with the other tabs on `channel` (`None` where `BroadcastChannel` is
/// missing); a close heard from another tab counts in `closes`.
pub(crate) fn link(
    channel: &str,
    manager: &SessionManager,
    closes: RwSignal<u64>,
) -> Option<TabLink> {
    let channel = BroadcastChannel::new(channel).ok()?;
    let receiver = manager.clone();
    let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |message: MessageEvent| {
        let Some(text) = message.data().as_string() else {
            return;
        };
        if let Ok(event) = json::from_slice::<SessionEvent>(text.as_bytes()) {
            apply(&receiver, event, closes);
        }
    });
    channel.set_onmessage(Some(on_message.as_ref().unchecked_ref()));

    // Manager listeners must be Send; the channel is not. Events go through a queue to
    // a local task that posts them, and that task ends when the subscription is dropped.
    let (outbox, mut outgoing) = futures::channel::mpsc::unbounded::<SessionEvent>();
    let events = manager.subscribe_events(move |event| {
        let _ = outbox.unbounded_send(event.clone());
    });
    let poster = channel.clone();
    spawn_local(async move {
        while let Some(event) = outgoing.next().await {
            let _ = poster.post_message(&JsValue::from_str(&event.to_json()));
        }
    });
    Some(TabLink {
        channel,
        _on_message: on_message,
        _events: events,
    })
}

/// What another tab's event means here. Adopting and resetting emit nothing, so
/// nothing is echoed back.
fn apply(manager: &SessionManager, event: SessionEvent, closes: RwSignal<u64>) {
    match event {
        SessionEvent::Initialized(session) | SessionEvent::Rotated(session) => {
            // Refused during this tab's close, if obtained before this tab's last reset
            // or close (a late message may carry the closed session), or if closed
            // here; a live session refused is found through its cookie when next asked.
            manager.adopt(session);
        }
        SessionEvent::Closed => {
            manager.reset_session();
            closes.update(|n| *n += 1);
        }
        SessionEvent::CsrfRejected { token } => {
            // Repairs only if this tab holds that very token (then it is refused here
            // too); usually the other tab's repair already set the cookie, adopted
            // without a request.
            let manager = manager.clone();
            spawn_local(async move {
                let _ = manager.recover_csrf(&token).await;
            });
        }
    }
}

/// Runs `work` holding the browser-wide Web Lock `lock` (`navigator.locks`), so tabs
/// initialize one after another; without Web Locks it simply runs.
pub(crate) async fn with_init_lock<T: 'static>(
    lock: &str,
    work: impl Future<Output = T> + 'static,
) -> T {
    let (done, outcome) = futures::channel::oneshot::channel();
    let pending = Rc::new(RefCell::new(Some((work, done))));
    let taken = Rc::clone(&pending);
    let inside_lock = Closure::once_into_js(move |_lock: JsValue| -> JsValue {
        let Some((work, done)) = taken.borrow_mut().take() else {
            return JsValue::UNDEFINED;
        };
        // The lock is held until this promise settles.
        wasm_bindgen_futures::future_to_promise(async move {
            let _ = done.send(work.await);
            Ok(JsValue::UNDEFINED)
        })
        .into()
    });
    match request_lock(lock, &inside_lock) {
        Ok(granted) => {
            // A request the browser refuses (storage blocked, say) never calls back:
            // then the work runs without the lock rather than never.
            let fallback = Rc::clone(&pending);
            spawn_local(async move {
                if wasm_bindgen_futures::JsFuture::from(granted).await.is_err() {
                    let unlocked = fallback.borrow_mut().take();
                    if let Some((work, done)) = unlocked {
                        let _ = done.send(work.await);
                    }
                }
            });
        }
        Err(_) => {
            let unlocked = pending.borrow_mut().take();
            if let Some((work, _)) = unlocked {
                return work.await;
            }
        }
    }
    match outcome.await {
        Ok(value) => value,
        // The lock was never granted (the page is going away): nothing to return to.
        Err(_) => futures::future::pending().await,
    }
}

/// `navigator.locks.request(lock, callback)`, looked up dynamically because Web Locks
/// are not in web-sys's stable API. Returns the request's promise.
fn request_lock(lock: &str, callback: &JsValue) -> Result<js_sys::Promise, JsValue> {
    let navigator = web_sys::window().ok_or(JsValue::NULL)?.navigator();
    let locks = js_sys::Reflect::get(&navigator, &JsValue::from_str("locks"))?;
    if locks.is_undefined() || locks.is_null() {
        return Err(JsValue::NULL);
    }
    let request: js_sys::Function =
        js_sys::Reflect::get(&locks, &JsValue::from_str("request"))?.dyn_into()?;
    request
        .call2(&locks, &JsValue::from_str(lock), callback)?
        .dyn_into()
}
