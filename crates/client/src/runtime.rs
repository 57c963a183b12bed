//! Spawning the manager's background work and real-time sleeping, on whatever executor
//! the target has.
//!
//! The in-flight initialization is owned by the manager, not by the caller that
//! started it, so it runs as its own task: a caller dropping its future cancels nothing.

use std::future::Future;
use std::time::Duration;

use futures::future::BoxFuture;

/// Runs `task` to completion in the background (tokio natively).
///
/// # Panics
/// Natively, when called outside a tokio runtime.
#[cfg(not(target_arch = "wasm32"))]
pub fn spawn(task: impl Future<Output = ()> + Send + 'static) {
    tokio::spawn(task);
}

/// Runs `task` to completion in the background (the browser's microtask queue).
#[cfg(target_arch = "wasm32")]
pub fn spawn(task: impl Future<Output = ()> + 'static) {
    wasm_bindgen_futures::spawn_local(task);
}

/// Completes after `duration` of real time (deadlines are real time even when a test
/// drives the manager's [`crate::Clock`]).
#[cfg(not(target_arch = "wasm32"))]
pub fn sleep(duration: Duration) -> BoxFuture<'static, ()> {
    Box::pin(tokio::time::sleep(duration))
}

/// Completes after `duration` of real time (`setTimeout`).
#[cfg(target_arch = "wasm32")]
pub fn sleep(duration: Duration) -> BoxFuture<'static, ()> {
    use wasm_bindgen::JsCast as _;
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
