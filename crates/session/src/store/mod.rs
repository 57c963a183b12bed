//! What a session store must do, and what it keeps.
//!
//! A store holds [`SessionRecord`]s keyed by [`SessionKey`] (a hash of the secret id:
//! the store never holds a usable id) and the per-client counters of rate limits.
//! [`SessionStore`] and [`RateLimitStore`] together are the session [`Storage`] the
//! layer is built on. Every method is one round trip and atomic: updates only change existing records,
//! so nothing a request deleted can come back, and a CSRF rotation is a
//! compare-and-swap on the current nonce.
//!
//! The crate ships three stores, each behind a cargo feature:
//!
//! - `MemoryStore` (`memory`, on by default): in this process; for tests and for a
//!   single instance that may lose its sessions on restart.
//! - `sqlite::SqliteStore` (`sqlite`): an SQLite file; one process, sessions kept
//!   across restarts, every write committed before the answer.
//! - `redis::RedisStore` (`redis`): a Redis server or cluster shared by several
//!   instances; expiry is Redis's own.
//!
//! An application that keeps its own data per session keeps it in the same backend,
//! so that "only while the session exists" is checked in the same step that writes:
//! its tables beside the sessions (`sqlite::SqliteTables`), or keys under the
//! session's hash tag (`redis::session_key_prefix`). A store of one's own passes
//! `contract::check_store` (feature `contract`).

#[cfg(any(test, feature = "contract"))]
pub mod contract;
mod local_rates;
#[cfg(feature = "memory")]
mod memory;
mod records;
#[cfg(feature = "redis")]
pub mod redis;
#[cfg(feature = "sqlite")]
pub mod sqlite;

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::Duration;

use async_trait::async_trait;

use crate::crypto::{constant_time_eq, SessionKey, CSRF_NONCE_BYTES};
use crate::time::Timestamp;

pub use local_rates::LocalRates;
#[cfg(feature = "memory")]
pub use memory::MemoryStore;
pub use records::{
    CsrfState, CsrfSwap, PreviousNonce, RateAction, RateVerdict, ResolvedSwap, SessionRecord,
};

/// A storage failure. The layer answers every one with 503: it never fails open.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The store cannot be reached or did not answer.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// A record could not be decoded.
    #[error("store returned a corrupt record: {0}")]
    Corrupt(String),
    /// A new record collided with an existing key.
    #[error("key already exists")]
    Duplicate,
}

/// Sessions and their CSRF state.
#[async_trait]
pub trait SessionStore: Send + Sync + 'static {
    /// Adds a new session; fails with [`StoreError::Duplicate`] if the key exists.
    async fn insert_session(&self, record: &SessionRecord) -> Result<(), StoreError>;

    /// Reads one session. Expired records may be returned; callers check
    /// [`SessionRecord::is_live`].
    async fn load_session(&self, key: &SessionKey) -> Result<Option<SessionRecord>, StoreError>;

    /// The session a request names, with its idle expiry moved to `now + idle` when
    /// that is at least `touch_step` later than the stored one — the request's one
    /// store round trip. `None` if it is gone. Backends that can read and slide the
    /// expiry in one command override this.
    async fn resolve_session(
        &self,
        key: &SessionKey,
        now: Timestamp,
        idle: Duration,
        touch_step: Duration,
    ) -> Result<Option<SessionRecord>, StoreError> {
        let Some(mut record) = self.load_session(key).await? else {
            return Ok(None);
        };
        let live = record.is_live(now);
        if let Some(target) = due_extension(live, record.idle_expires_at, now, idle, touch_step) {
            if !self.touch_session(key, target).await? {
                return Ok(None);
            }
            record.idle_expires_at = target;
        }
        Ok(Some(record))
    }

    /// Moves the idle expiry of an existing session. Returns `false` if it is gone.
    async fn touch_session(
        &self,
        key: &SessionKey,
        idle_expires_at: Timestamp,
    ) -> Result<bool, StoreError>;

    /// Rotates the session's CSRF state to `next` if, and only if, its current nonce
    /// is still `expected` (compare-and-swap, one atomic step); keeps its expiry and
    /// never creates a session. Of two rotations presenting the same nonce exactly one
    /// swaps; the other learns the state it lost to ([`CsrfSwap::Superseded`]).
    async fn swap_csrf(
        &self,
        key: &SessionKey,
        expected: &[u8; CSRF_NONCE_BYTES],
        next: &CsrfState,
    ) -> Result<CsrfSwap, StoreError>;

    /// [`resolve_session`](Self::resolve_session) and, if the session is live and its
    /// current nonce is `presented`, [`swap_csrf`](Self::swap_csrf) to `next` — what a
    /// CSRF rotation request needs. Backends that can do both in one atomic round trip
    /// override this (Redis: one script); the default takes two steps, each atomic, and
    /// the swap is still a compare-and-swap.
    async fn resolve_and_swap_csrf(
        &self,
        key: &SessionKey,
        now: Timestamp,
        idle: Duration,
        touch_step: Duration,
        presented: &[u8; CSRF_NONCE_BYTES],
        next: &CsrfState,
    ) -> Result<ResolvedSwap, StoreError> {
        let Some(mut record) = self.resolve_session(key, now, idle, touch_step).await? else {
            return Ok(ResolvedSwap::Gone);
        };
        if !record.is_live(now) || !constant_time_eq(&record.csrf.current, presented) {
            return Ok(ResolvedSwap::Found {
                record,
                swapped: false,
            });
        }
        let swapped = match self.swap_csrf(key, presented, next).await? {
            CsrfSwap::Swapped => {
                record.csrf = *next;
                true
            }
            CsrfSwap::Superseded(stored) => {
                record.csrf = stored;
                false
            }
            CsrfSwap::Gone => return Ok(ResolvedSwap::Gone),
        };
        Ok(ResolvedSwap::Found { record, swapped })
    }

    /// Deletes a session (and, in a backend shared with an application, what the
    /// application keeps with it). Returns whether the session existed.
    async fn delete_session(&self, key: &SessionKey) -> Result<bool, StoreError>;

    /// Deletes every session expired at `now`; returns the keys of the deleted
    /// sessions.
    async fn sweep_expired(&self, now: Timestamp) -> Result<Vec<SessionKey>, StoreError>;

    /// A cheap round trip proving the store answers.
    async fn ping(&self) -> Result<(), StoreError>;
}

/// The idle expiry a request at `now` moves a session to, if that write is due: the
/// session is `live` and `now + idle` is at least `touch_step` past its stored idle
/// expiry (so a busy session is written at most once per step). Every store's
/// resolving step applies this one rule.
pub(crate) fn due_extension(
    live: bool,
    idle_expires_at: Timestamp,
    now: Timestamp,
    idle: Duration,
    touch_step: Duration,
) -> Option<Timestamp> {
    let target = now.plus(idle);
    (live && idle_expires_at.until(target) >= touch_step).then_some(target)
}

/// Per-client rate-limit counters.
#[async_trait]
pub trait RateLimitStore: Send + Sync + 'static {
    /// Counts one `action` by `client` against `per_minute`.
    async fn check_rate(
        &self,
        action: RateAction,
        client: IpAddr,
        per_minute: NonZeroU32,
    ) -> Result<RateVerdict, StoreError>;
    /// Forgets counters of clients that are back under their limits.
    async fn forget_idle_rates(&self) -> Result<(), StoreError>;
}

/// The session storage: everything the session layer needs of a backend (its
/// sessions and its rate counters), what [`Sessions::builder`](crate::Sessions::builder)
/// takes. Implemented for every type that implements both traits; the crate's memory,
/// SQLite and Redis stores do.
pub trait Storage: SessionStore + RateLimitStore {}

impl<T: SessionStore + RateLimitStore> Storage for T {}
