//! Metrics hooks: what the session layer counts, for an application to export.

use crate::csrf::CsrfReason;

/// Receives the session layer's countable events. Every method defaults to nothing;
/// calls happen on the request path, so an implementation should only bump counters
/// (labels come from enums, never from requests).
///
/// ```
/// use std::sync::atomic::{AtomicU64, Ordering};
/// use trustyconvert_session::SessionEvents;
///
/// #[derive(Default)]
/// struct Created(AtomicU64);
///
/// impl SessionEvents for Created {
///     fn session_created(&self) {
///         self.0.fetch_add(1, Ordering::Relaxed);
///     }
/// }
/// ```
pub trait SessionEvents: Send + Sync + 'static {
    /// A request reached the init route.
    fn init_requested(&self) {}
    /// A new session was created.
    fn session_created(&self) {}
    /// A client closed its session.
    fn session_closed(&self) {}
    /// An unsafe request was refused by the CSRF check for `reason`.
    fn csrf_rejected(&self, _reason: CsrfReason) {}
}

/// Counts nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoEvents;

impl SessionEvents for NoEvents {}
