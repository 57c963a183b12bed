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
//! write-through/generation rule, not eviction policy. The records are spread over
//! [`SHARDS`] maps, each behind its own lock and with its own generation (a write moves
//! only its key's shard), so requests for different sessions rarely meet on a lock.
//! Each shard holds at most its share of [`MAX_CACHED`] records; a full shard starts
//! over empty (its live sessions come back on their next request). Clearing one shard
//! drops a few hundred records, too little to stall anyone: one map of all the records
//! made every request wait while 100 000 of them were dropped, once every few seconds
//! of new sessions.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

use crate::crypto::SessionKey;
use crate::store::SessionRecord;
use crate::time::Timestamp;

/// Most records held at once, over all shards.
pub const MAX_CACHED: usize = 100_000;
/// How many maps the records are spread over.
pub const SHARDS: usize = 128;
/// Most records one shard holds.
const MAX_PER_SHARD: usize = MAX_CACHED / SHARDS;

/// Cached session records. See the module docs.
#[derive(Debug)]
pub struct SessionCache {
    shards: Box<[Mutex<Shard>]>,
}

impl Default for SessionCache {
    fn default() -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
        }
    }
}

#[derive(Debug, Default)]
struct Shard {
    records: HashMap<SessionKey, SessionRecord>,
    /// Moves on every write that drops or changes a record of this shard.
    generation: u64,
}

/// Where a key's shard stood before a database read; see [`SessionCache::fill`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Generation(u64);

impl SessionCache {
    /// The shard of `key`. Keys are hashes of random ids, so their first byte spreads
    /// them evenly.
    fn shard(&self, key: &SessionKey) -> MutexGuard<'_, Shard> {
        self.shards[usize::from(key.0[0]) % SHARDS]
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    /// The cached record of `key`, if any; otherwise the generation to pass to
    /// [`fill`](Self::fill) with what the database returns.
    pub fn get(&self, key: &SessionKey) -> Result<SessionRecord, Generation> {
        let shard = self.shard(key);
        shard
            .records
            .get(key)
            .cloned()
            .ok_or(Generation(shard.generation))
    }

    /// Caches `record`, read from the database after [`get`](Self::get) returned
    /// `since`, unless a write to its shard happened in between.
    pub fn fill(&self, record: &SessionRecord, since: Generation) {
        let mut shard = self.shard(&record.key);
        if shard.generation == since.0 {
            shard.put(record);
        }
    }

    /// Caches a record just written to the database (a new session, which no other
    /// request can know yet).
    pub fn put(&self, record: &SessionRecord) {
        self.shard(&record.key).put(record);
    }

    /// After the database extended `key`'s idle expiry to `idle_expires_at`.
    pub fn extended(&self, key: &SessionKey, idle_expires_at: Timestamp) {
        let mut shard = self.shard(key);
        shard.generation += 1;
        if let Some(record) = shard.records.get_mut(key) {
            if record.idle_expires_at < idle_expires_at {
                record.idle_expires_at = idle_expires_at;
            }
        }
    }

    /// After the database changed or removed these sessions otherwise.
    pub fn forget(&self, keys: &[SessionKey]) {
        for key in keys {
            let mut shard = self.shard(key);
            shard.generation += 1;
            shard.records.remove(key);
        }
    }
}

impl Shard {
    fn put(&mut self, record: &SessionRecord) {
        if self.records.len() >= MAX_PER_SHARD && !self.records.contains_key(&record.key) {
            self.records.clear();
        }
        self.records.insert(record.key, record.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::CsrfState;

    fn record(byte: u8) -> SessionRecord {
        keyed(SessionKey([byte; 32]), byte)
    }

    fn keyed(key: SessionKey, byte: u8) -> SessionRecord {
        SessionRecord {
            key,
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

    #[test]
    fn a_full_shard_starts_over_alone_and_the_cache_stays_bounded() {
        let cache = SessionCache::default();
        // A record in another shard than the ones filled below.
        let elsewhere = record(1);
        cache.put(&elsewhere);
        let mut key = [0u8; 32];
        for n in 0..=MAX_PER_SHARD {
            key[1..9].copy_from_slice(&(n as u64).to_le_bytes());
            cache.put(&keyed(SessionKey(key), 0));
        }
        let held: Vec<usize> = cache
            .shards
            .iter()
            .map(|shard| shard.lock().unwrap().records.len())
            .collect();
        // The full shard (first byte 0) started over with the one record that did not fit.
        assert_eq!(held[0], 1);
        assert!(held.iter().all(|&n| n <= MAX_PER_SHARD));
        assert!(
            cache.get(&elsewhere.key).is_ok(),
            "another shard was cleared"
        );
    }

    #[test]
    fn a_write_to_one_shard_leaves_a_read_of_another_free_to_fill() {
        let cache = SessionCache::default();
        let read = record(1);
        let since = cache.get(&read.key).unwrap_err();
        cache.forget(&[record(2).key]);
        cache.fill(&read, since);
        assert!(cache.get(&read.key).is_ok());
    }
}
