//! A read-through cache of session records in front of the embedded store.
//!
//! Validating a request is a read of one session; on SQLite that is a hand-off to the
//! blocking pool and a query (tens of microseconds), on this cache a map lookup. The
//! embedded database is served by one process (documented), so every write passes
//! through this process and the cache can be kept exact:
//! - a write goes to the database first; then the cached copy is dropped (a CSRF
//!   change, a delete, a sweep) or, for an idle-expiry extension, moved forward
//!   (extensions commute: the later expiry wins whatever their order);
//! - a read that missed fills the cache only if no write happened while it read the
//!   database (a generation counter), so a slow read never puts back a record a
//!   concurrent write has replaced.
//!
//! Hand-written rather than a caching crate: what makes it correct is this
//! write-through/generation rule, not eviction policy. When it holds
//! [`MAX_CACHED`] records it starts over empty (live sessions come back on their next
//! request), which bounds its memory.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

use crate::crypto::SessionKey;
use crate::store::SessionRecord;
use crate::time::Timestamp;

/// Most records held at once.
pub const MAX_CACHED: usize = 100_000;

/// Cached session records. See the module docs.
#[derive(Debug, Default)]
pub struct SessionCache {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    records: HashMap<SessionKey, SessionRecord>,
    /// Moves on every write that drops or changes a record.
    generation: u64,
}

/// Where the cache stood before a database read; see [`SessionCache::fill`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Generation(u64);

impl SessionCache {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The cached record of `key`, if any; otherwise the generation to pass to
    /// [`fill`](Self::fill) with what the database returns.
    pub fn get(&self, key: &SessionKey) -> Result<SessionRecord, Generation> {
        let state = self.state();
        state
            .records
            .get(key)
            .cloned()
            .ok_or(Generation(state.generation))
    }

    /// Caches `record`, read from the database after [`get`](Self::get) returned
    /// `since`, unless a write happened in between.
    pub fn fill(&self, record: &SessionRecord, since: Generation) {
        let mut state = self.state();
        if state.generation == since.0 {
            Self::put_locked(&mut state, record);
        }
    }

    /// Caches a record just written to the database (a new session, which no other
    /// request can know yet).
    pub fn put(&self, record: &SessionRecord) {
        Self::put_locked(&mut self.state(), record);
    }

    fn put_locked(state: &mut State, record: &SessionRecord) {
        if state.records.len() >= MAX_CACHED && !state.records.contains_key(&record.key) {
            state.records.clear();
        }
        state.records.insert(record.key, record.clone());
    }

    /// After the database extended `key`'s idle expiry to `idle_expires_at`.
    pub fn extended(&self, key: &SessionKey, idle_expires_at: Timestamp) {
        let mut state = self.state();
        state.generation += 1;
        if let Some(record) = state.records.get_mut(key) {
            if record.idle_expires_at < idle_expires_at {
                record.idle_expires_at = idle_expires_at;
            }
        }
    }

    /// After the database changed or removed these sessions otherwise.
    pub fn forget(&self, keys: &[SessionKey]) {
        let mut state = self.state();
        state.generation += 1;
        for key in keys {
            state.records.remove(key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::CsrfState;

    fn record(byte: u8) -> SessionRecord {
        SessionRecord {
            key: SessionKey([byte; 32]),
            public_id: format!("id-{byte}"),
            created_at: Timestamp::from_millis(0),
            idle_expires_at: Timestamp::from_millis(1_000),
            absolute_expires_at: Timestamp::from_millis(10_000),
            csrf: CsrfState {
                current: [byte; 16],
                previous: None,
            },
        }
    }

    #[test]
    fn a_read_that_raced_a_write_does_not_fill_the_cache() {
        let cache = SessionCache::default();
        let stale = record(1);
        let since = cache.get(&stale.key).unwrap_err();
        // A write lands while the read is at the database.
        cache.forget(&[stale.key]);
        cache.fill(&stale, since);
        assert!(cache.get(&stale.key).is_err(), "the stale record came back");
        // A read with nothing in between fills it.
        let since = cache.get(&stale.key).unwrap_err();
        cache.fill(&stale, since);
        assert_eq!(cache.get(&stale.key).unwrap().public_id, "id-1");
    }

    #[test]
    fn extensions_only_move_forward_and_forgetting_drops_the_record() {
        let cache = SessionCache::default();
        let session = record(2);
        cache.put(&session);
        cache.extended(&session.key, Timestamp::from_millis(5_000));
        cache.extended(&session.key, Timestamp::from_millis(3_000));
        assert_eq!(
            cache.get(&session.key).unwrap().idle_expires_at,
            Timestamp::from_millis(5_000)
        );
        cache.forget(&[session.key]);
        assert!(cache.get(&session.key).is_err());
    }
}
