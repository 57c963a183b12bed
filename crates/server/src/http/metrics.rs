//! Counters exported at `GET /metrics` in the Prometheus text format (0.0.4).
//!
//! Hand-written rather than pulled from a metrics crate: the set is small and closed
//! (label values come from enums, never from requests), incrementing is one relaxed
//! atomic add on the hot path, and the exact exposition names are a contract.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

use trustyconvert_session::csrf::CsrfReason;
use trustyconvert_session::SessionEvents;

/// The server's counters.
#[derive(Debug, Default)]
pub struct Metrics {
    sessions_created: AtomicU64,
    session_init_requests: AtomicU64,
    sessions_closed: AtomicU64,
    csrf_rejections: [AtomicU64; CsrfReason::ALL.len()],
    connections_refused: AtomicU64,
}

/// The session layer's events, counted.
impl SessionEvents for Metrics {
    fn init_requested(&self) {
        self.session_init_requests.fetch_add(1, Ordering::Relaxed);
    }

    fn session_created(&self) {
        self.sessions_created.fetch_add(1, Ordering::Relaxed);
    }

    fn session_closed(&self) {
        self.sessions_closed.fetch_add(1, Ordering::Relaxed);
    }

    fn csrf_rejected(&self, reason: CsrfReason) {
        self.csrf_rejections[reason as usize].fetch_add(1, Ordering::Relaxed);
    }
}

impl Metrics {
    /// One more connection closed at once: its address already held its most.
    pub fn connection_refused(&self) {
        self.connections_refused.fetch_add(1, Ordering::Relaxed);
    }

    /// The exposition text, with the job service's `conversions_cancelled`.
    pub fn render(&self, conversions_cancelled: u64) -> String {
        let mut out = String::with_capacity(2048);
        let name = "trusty_conversions_cancelled_total";
        let _ = writeln!(
            out,
            "# HELP {name} Conversions stopped because their job was deleted.\n# TYPE {name} counter\n{name} {conversions_cancelled}"
        );
        let counters = [
            (
                "trusty_sessions_created_total",
                "Sessions created.",
                &self.sessions_created,
            ),
            (
                "trusty_session_init_requests_total",
                "Requests to /api/session/init.",
                &self.session_init_requests,
            ),
            (
                "trusty_sessions_closed_total",
                "Sessions closed by their client.",
                &self.sessions_closed,
            ),
            (
                "trusty_connections_refused_total",
                "Connections closed at once because their address held the most allowed.",
                &self.connections_refused,
            ),
        ];
        for (name, help, value) in counters {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
            let _ = writeln!(out, "{name} {}", value.load(Ordering::Relaxed));
        }
        let name = "trusty_csrf_rejections_total";
        let _ = writeln!(
            out,
            "# HELP {name} Unsafe requests refused by the CSRF check, by reason."
        );
        let _ = writeln!(out, "# TYPE {name} counter");
        for reason in CsrfReason::ALL {
            let value = self.csrf_rejections[reason as usize].load(Ordering::Relaxed);
            let _ = writeln!(out, "{name}{{reason=\"{}\"}} {value}", reason.label());
        }
        out
    }
}
