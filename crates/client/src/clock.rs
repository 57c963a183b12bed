//! Time, behind a trait so tests can drive it (and the browser has no `SystemTime::now`).

use futures::future::BoxFuture;
use std::time::Duration;

/// Wall-clock time in milliseconds since the Unix epoch, and sleeping.
///
/// The manager uses it for the throttle window, expiry awareness and backoff. Tests
/// substitute a manual clock whose `sleep` advances time instead of waiting (request
/// timeouts and the initialization deadline always run on real time).
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

impl Clock for SystemClock {
    #[cfg(not(target_arch = "wasm32"))]
    fn now_millis(&self) -> i64 {
        let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
        since.map(|d| d.as_millis() as i64).unwrap_or(0)
    }

    #[cfg(target_arch = "wasm32")]
    fn now_millis(&self) -> i64 {
        js_sys::Date::now() as i64
    }

    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()> {
        crate::runtime::sleep(duration)
    }
}
