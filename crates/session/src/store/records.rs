//! What a session store keeps. Secrets never appear here: sessions are keyed by a
//! hash of their id.

use crate::crypto::{SessionKey, CSRF_NONCE_BYTES};
use crate::time::Timestamp;

/// A CSRF nonce that was current before the last rotation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PreviousNonce {
    /// The nonce of the previous token.
    pub nonce: [u8; CSRF_NONCE_BYTES],
    /// The end of its grace window.
    pub valid_until: Timestamp,
}

/// The CSRF part of a session: which token nonces are accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CsrfState {
    /// Nonce of the current token.
    pub current: [u8; CSRF_NONCE_BYTES],
    /// Nonce of the token before the last rotation, inside its grace window.
    pub previous: Option<PreviousNonce>,
}

/// One session as the store keeps it. The secret id is not in here, only its hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    /// Hash of the secret id; the primary key.
    pub key: SessionKey,
    /// Public handle, safe for bodies and logs.
    pub public_id: String,
    /// When the session was created.
    pub created_at: Timestamp,
    /// End of the idle timeout; moved forward by activity.
    pub idle_expires_at: Timestamp,
    /// End of the absolute timeout; never moves.
    pub absolute_expires_at: Timestamp,
    /// Which CSRF tokens are accepted.
    pub csrf: CsrfState,
}

impl SessionRecord {
    /// The earlier of the idle and the absolute expiry.
    pub fn expires_at(&self) -> Timestamp {
        self.idle_expires_at.min(self.absolute_expires_at)
    }

    /// Whether the session is still valid at `now`.
    pub fn is_live(&self, now: Timestamp) -> bool {
        now < self.expires_at()
    }
}

/// An action whose rate is limited per client address: a short stable name (it
/// appears in store keys and logs). The session layer limits [`RateAction::INIT`];
/// an application names its own.
///
/// ```
/// use trustyconvert_session::store::RateAction;
/// const LOGIN: RateAction = RateAction::named("login");
/// assert_eq!(LOGIN.name(), "login");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RateAction(&'static str);

impl RateAction {
    /// Creating a session.
    pub const INIT: Self = Self("init");

    /// An action called `name`.
    pub const fn named(name: &'static str) -> Self {
        Self(name)
    }

    /// Its name.
    pub const fn name(self) -> &'static str {
        self.0
    }
}

/// The answer of a rate check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateVerdict {
    /// Counted and allowed.
    Allowed,
    /// Over the limit; allowed again after this long.
    Limited {
        /// How long to wait.
        retry_after: std::time::Duration,
    },
}

/// The answer of [`SessionStore::swap_csrf`](super::SessionStore::swap_csrf).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CsrfSwap {
    /// The expected nonce was current; the new state is stored.
    Swapped,
    /// The current nonce is no longer the expected one (another rotation won, or the
    /// request presented the previous token): nothing was written, and this is the
    /// state now stored.
    Superseded(CsrfState),
    /// The session is gone (closed or expired).
    Gone,
}

/// The answer of
/// [`SessionStore::resolve_and_swap_csrf`](super::SessionStore::resolve_and_swap_csrf):
/// the session as resolved, and whether the presented nonce was current and rotated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResolvedSwap {
    /// The session is gone (closed or expired).
    Gone,
    /// The session, its idle expiry slid as by
    /// [`resolve_session`](super::SessionStore::resolve_session). `swapped`: its current
    /// nonce was the presented one and `record.csrf` is now the new state; otherwise
    /// nothing was rotated and `record.csrf` is the state stored.
    Found {
        /// The session after this step.
        record: SessionRecord,
        /// Whether this step rotated its CSRF state.
        swapped: bool,
    },
}
