//! Spawning the manager's background work on whatever executor the target has.
//!
//! The in-flight initialization is owned by the manager, not by the caller that
//! started it, so it runs as its own task: a caller dropping its future cancels nothing.

use std::future::Future;

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
