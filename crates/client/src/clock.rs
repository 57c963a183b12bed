//! Time, behind a trait so tests can drive it (and the browser has no `SystemTime::now`).

use futures::future::BoxFuture;
use std::time::Duration;

/// Wall-clock time in milliseconds since the Unix epoch, and sleeping.
///
/// The manager uses it for the throttle window, expiry awareness and backoff. Tests
/// substitute a manual clock whose `sleep` advances time instead of waiting.
pub trait Clock: Send + Sync + 'static {
    /// Milliseconds since the Unix epoch.
    fn now_millis(&self) -> i64;
    /// Completes after `duration`.
    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()>;
}

/// The real clock: `SystemTime` and tokio timers natively, `Date.now()` and
/// `setTimeout` in the browser.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

#[cfg(not(target_arch = "wasm32"))]
impl Clock for SystemClock {
    fn now_millis(&self) -> i64 {
        let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
        since.map(|d| d.as_millis() as i64).unwrap_or(0)
    }

    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()> {
        Box::pin(tokio::time::sleep(duration))
    }
}

#[cfg(target_arch = "wasm32")]
impl Clock for SystemClock {
    fn now_millis(&self) -> i64 {
        js_sys::Date::now() as i64
    }

    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()> {
        // JS promises are not Send; a oneshot channel bridges the timer to a Send future.
        let (tx, rx) = futures::channel::oneshot::channel::<()>();
        let millis = duration.as_millis().min(i32::MAX as u128) as i32;
        let callback = wasm_bindgen::closure::Closure::once_into_js(move || {
            let _ = tx.send(());
        });
        if let Some(window) = web_sys::window() {
            let _ = window.set_timeout_with_callback_and_timeout_and_arguments_0(
                callback.unchecked_ref(),
                millis,
            );
        }
        Box::pin(async move {
            let _ = rx.await;
        })
    }
}

#[cfg(target_arch = "wasm32")]
use wasm_bindgen::JsCast as _;
