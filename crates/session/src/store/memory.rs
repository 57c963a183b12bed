//! The in-process store: hash maps behind locks, one per shard, swept like the others.
//! Lost on restart; for tests, single instances and throw-away runs.

use std::collections::HashMap;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

use async_trait::async_trait;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;

use super::due_extension;
use super::local_rates::LocalRates;
use super::{
    CsrfState, CsrfSwap, PreviousNonce, RateAction, RateLimitStore, RateVerdict, ResolvedSwap,
    SessionRecord, SessionStore, StoreError,
};
use crate::crypto::{constant_time_eq, SessionKey, CSRF_NONCE_BYTES};
use crate::time::Timestamp;

/// A session as the memory store holds it: a [`SessionRecord`] without its key (the
/// map's key) and with the public id as its 16 bytes, 80 bytes in all, so a million
/// live sessions take about a quarter of a gigabyte with the map's own overhead.
/// Written by hand because the record type is shared with the other backends, and this
/// is the one where the size of a session is the size of the service.
#[derive(Debug, Clone, Copy)]
struct CompactSession {
    public_id: [u8; PUBLIC_ID_BYTES],
    created_at: Timestamp,
    idle_expires_at: Timestamp,
    absolute_expires_at: Timestamp,
    csrf_current: [u8; CSRF_NONCE_BYTES],
    /// `i64::MIN` when there is no previous nonce.
    previous_until: i64,
    previous_nonce: [u8; CSRF_NONCE_BYTES],
}

const PUBLIC_ID_BYTES: usize = 16;
const NO_PREVIOUS: i64 = i64::MIN;

impl CompactSession {
    /// The compact form, or `None` for a public id that is not 16 bytes in base64url
    /// (never made by this service; kept whole in a side table).
    fn of(record: &SessionRecord) -> Option<Self> {
        let public_id = URL_SAFE_NO_PAD
            .decode(&record.public_id)
            .ok()?
            .try_into()
            .ok()?;
        let compact = Self::with_public_id(record, public_id);
        // Only ids that come back exactly are stored compactly.
        (compact.public_id() == record.public_id).then_some(compact)
    }

    /// `record` with `public_id` in place of its own.
    fn with_public_id(record: &SessionRecord, public_id: [u8; PUBLIC_ID_BYTES]) -> Self {
        let mut compact = Self {
            public_id,
            created_at: record.created_at,
            idle_expires_at: record.idle_expires_at,
            absolute_expires_at: record.absolute_expires_at,
            csrf_current: record.csrf.current,
            previous_until: NO_PREVIOUS,
            previous_nonce: [0; CSRF_NONCE_BYTES],
        };
        compact.set_csrf(&record.csrf);
        compact
    }

    fn public_id(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.public_id)
    }

    fn csrf(&self) -> CsrfState {
        CsrfState {
            current: self.csrf_current,
            previous: (self.previous_until != NO_PREVIOUS).then_some(PreviousNonce {
                nonce: self.previous_nonce,
                valid_until: Timestamp::from_millis(self.previous_until),
            }),
        }
    }

    fn set_csrf(&mut self, csrf: &CsrfState) {
        self.csrf_current = csrf.current;
        (self.previous_nonce, self.previous_until) = match csrf.previous {
            Some(previous) => (previous.nonce, previous.valid_until.as_millis()),
            None => ([0; CSRF_NONCE_BYTES], NO_PREVIOUS),
        };
    }

    fn record(&self, key: SessionKey, public_id: String) -> SessionRecord {
        SessionRecord {
            key,
            public_id,
            created_at: self.created_at,
            idle_expires_at: self.idle_expires_at,
            absolute_expires_at: self.absolute_expires_at,
            csrf: self.csrf(),
        }
    }

    fn is_live(&self, now: Timestamp) -> bool {
        now < self.idle_expires_at.min(self.absolute_expires_at)
    }
}

/// Sessions in compact form, and the rare public id that has no compact form.
#[derive(Debug, Default)]
struct SessionTable {
    compact: HashMap<SessionKey, CompactSession>,
    irregular_ids: HashMap<SessionKey, String>,
}

impl SessionTable {
    fn get(&self, key: &SessionKey) -> Option<SessionRecord> {
        let compact = self.compact.get(key)?;
        let public_id = match self.irregular_ids.get(key) {
            Some(id) => id.clone(),
            None => compact.public_id(),
        };
        Some(compact.record(*key, public_id))
    }

    fn remove(&mut self, key: &SessionKey) -> bool {
        self.irregular_ids.remove(key);
        self.compact.remove(key).is_some()
    }
}

/// How many independently locked tables the sessions are spread over (a power of two).
///
/// Hand-written rather than a concurrent map crate because the point is *when* the
/// work happens, not only how much: a hash table that grows rehashes everything under
/// its lock, and one table of a million sessions stopped every request for as long as
/// that took (a 176 ms p99 for new sessions in the benchmark; 130 to 580 ms for the one
/// insert that grew it to a million, most of it the kernel handing over fresh pages).
/// Spread over 128 tables, each grows on its own, 1/128 of the sessions at a time
/// (under 5 ms at a million), while the others keep serving; a sweep also takes one
/// table at a time. More tables would shorten that pause but cost memory: the
/// allocator keeps more of the arrays the tables grew out of (269 bytes per session at
/// a million with 256 tables, 252 with 128, 241 with one).
const SHARDS: usize = 128;

/// Sessions and rate counters in this process. Expired sessions are swept, so memory
/// stays bounded by what is live (80 bytes per session besides its key).
///
/// ```
/// use trustyconvert_session::store::MemoryStore;
/// let store = std::sync::Arc::new(MemoryStore::default());
/// # let _ = store;
/// ```
#[derive(Debug)]
pub struct MemoryStore {
    shards: Box<[RwLock<SessionTable>]>,
    rates: LocalRates,
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self {
            shards: (0..SHARDS).map(|_| RwLock::default()).collect(),
            rates: LocalRates::default(),
        }
    }
}

// A poisoned lock only means a panic elsewhere; the map stays consistent because each
// mutation below is a single map operation.
impl MemoryStore {
    /// The shard holding `key`. Keys are hashes of random ids, so any of their bytes
    /// spreads sessions evenly.
    fn shard(&self, key: &SessionKey) -> &RwLock<SessionTable> {
        &self.shards[usize::from(key.0[0]) % SHARDS]
    }

    fn sessions(&self, key: &SessionKey) -> RwLockReadGuard<'_, SessionTable> {
        self.shard(key).read().unwrap_or_else(|p| p.into_inner())
    }

    fn sessions_mut(&self, key: &SessionKey) -> RwLockWriteGuard<'_, SessionTable> {
        self.shard(key).write().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs `f` if the session `key` exists, holding it while `f` runs: a delete or a
    /// sweep of that session waits until `f` returns. `None` (and `f` not run) if the
    /// session is gone.
    ///
    /// This is how an application keeping its own data in the same process writes
    /// "only while the session exists" in one step: once a delete has returned, no
    /// write through here can add anything to the deleted session. `f` must not call
    /// back into this store's writing methods (they would wait for it).
    pub fn with_session<R>(&self, key: &SessionKey, f: impl FnOnce() -> R) -> Option<R> {
        let sessions = self.sessions(key);
        sessions.compact.contains_key(key).then(f)
    }
}

#[async_trait]
impl SessionStore for MemoryStore {
    async fn insert_session(&self, record: &SessionRecord) -> Result<(), StoreError> {
        let mut sessions = self.sessions_mut(&record.key);
        if sessions.compact.contains_key(&record.key) {
            return Err(StoreError::Duplicate);
        }
        let compact = match CompactSession::of(record) {
            Some(compact) => compact,
            None => {
                sessions
                    .irregular_ids
                    .insert(record.key, record.public_id.clone());
                CompactSession::with_public_id(record, [0; PUBLIC_ID_BYTES])
            }
        };
        sessions.compact.insert(record.key, compact);
        Ok(())
    }

    async fn load_session(&self, key: &SessionKey) -> Result<Option<SessionRecord>, StoreError> {
        Ok(self.sessions(key).get(key))
    }

    async fn touch_session(
        &self,
        key: &SessionKey,
        idle_expires_at: Timestamp,
    ) -> Result<bool, StoreError> {
        Ok(self
            .sessions_mut(key)
            .compact
            .get_mut(key)
            .map(|session| session.idle_expires_at = idle_expires_at)
            .is_some())
    }

    async fn swap_csrf(
        &self,
        key: &SessionKey,
        expected: &[u8; CSRF_NONCE_BYTES],
        next: &CsrfState,
    ) -> Result<CsrfSwap, StoreError> {
        let mut sessions = self.sessions_mut(key);
        let Some(stored) = sessions.compact.get_mut(key) else {
            return Ok(CsrfSwap::Gone);
        };
        if !constant_time_eq(&stored.csrf_current, expected) {
            return Ok(CsrfSwap::Superseded(stored.csrf()));
        }
        stored.set_csrf(next);
        Ok(CsrfSwap::Swapped)
    }

    /// Under one lock: resolving and rotating are one step, as on Redis.
    async fn resolve_and_swap_csrf(
        &self,
        key: &SessionKey,
        now: Timestamp,
        idle: Duration,
        touch_step: Duration,
        presented: &[u8; CSRF_NONCE_BYTES],
        next: &CsrfState,
    ) -> Result<ResolvedSwap, StoreError> {
        let mut sessions = self.sessions_mut(key);
        let Some(stored) = sessions.compact.get_mut(key) else {
            return Ok(ResolvedSwap::Gone);
        };
        let live = stored.is_live(now);
        if let Some(target) = due_extension(live, stored.idle_expires_at, now, idle, touch_step) {
            stored.idle_expires_at = target;
        }
        let swapped = live && constant_time_eq(&stored.csrf_current, presented);
        if swapped {
            stored.set_csrf(next);
        }
        Ok(sessions
            .get(key)
            .map_or(ResolvedSwap::Gone, |record| ResolvedSwap::Found {
                record,
                swapped,
            }))
    }

    async fn delete_session(&self, key: &SessionKey) -> Result<bool, StoreError> {
        Ok(self.sessions_mut(key).remove(key))
    }

    async fn sweep_expired(&self, now: Timestamp) -> Result<Vec<SessionKey>, StoreError> {
        let mut swept = Vec::new();
        // One shard at a time: the others serve meanwhile.
        for shard in self.shards.iter() {
            let mut sessions = shard.write().unwrap_or_else(|p| p.into_inner());
            let first = swept.len();
            sessions.compact.retain(|key, session| {
                let live = session.is_live(now);
                if !live {
                    swept.push(*key);
                }
                live
            });
            for key in &swept[first..] {
                sessions.irregular_ids.remove(key);
            }
        }
        Ok(swept)
    }

    async fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }
}

#[async_trait]
impl RateLimitStore for MemoryStore {
    async fn check_rate(
        &self,
        action: RateAction,
        client: IpAddr,
        per_minute: NonZeroU32,
    ) -> Result<RateVerdict, StoreError> {
        Ok(self.rates.check(action, client, per_minute))
    }

    async fn forget_idle_rates(&self) -> Result<(), StoreError> {
        self.rates.forget_idle();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_takes_eighty_bytes_besides_its_key() {
        assert_eq!(std::mem::size_of::<CompactSession>(), 80);
    }

    #[test]
    fn sessions_spread_over_every_shard() {
        let store = MemoryStore::default();
        let mut used = [false; SHARDS];
        for first in 0..=u8::MAX {
            let mut key = [0; 32];
            key[0] = first;
            let shard = store.shard(&SessionKey(key));
            let at = store
                .shards
                .iter()
                .position(|s| std::ptr::eq(s, shard))
                .unwrap();
            used[at] = true;
        }
        assert!(used.iter().all(|&u| u));
    }

    #[tokio::test]
    async fn a_sweep_takes_expired_sessions_from_every_shard() {
        use crate::crypto::generate_public_id;
        let store = MemoryStore::default();
        let record = |first: u8, expires: i64| SessionRecord {
            key: SessionKey([first; 32]),
            public_id: generate_public_id(),
            created_at: Timestamp::from_millis(0),
            idle_expires_at: Timestamp::from_millis(expires),
            absolute_expires_at: Timestamp::from_millis(expires),
            csrf: CsrfState {
                current: [first; CSRF_NONCE_BYTES],
                previous: None,
            },
        };
        for first in 0..=u8::MAX {
            // Even first bytes expire at 1 000, odd ones at 5 000.
            let expires = if first % 2 == 0 { 1_000 } else { 5_000 };
            store.insert_session(&record(first, expires)).await.unwrap();
        }
        let mut swept = store
            .sweep_expired(Timestamp::from_millis(2_000))
            .await
            .unwrap();
        swept.sort_by_key(|key| key.0[0]);
        let expected: Vec<u8> = (0..=u8::MAX).filter(|b| b % 2 == 0).collect();
        assert_eq!(
            swept.iter().map(|key| key.0[0]).collect::<Vec<_>>(),
            expected
        );
        for first in 0..=u8::MAX {
            let loaded = store.load_session(&SessionKey([first; 32])).await.unwrap();
            assert_eq!(loaded.is_some(), first % 2 == 1, "session {first}");
        }
    }

    #[tokio::test]
    async fn memory_store_meets_the_session_store_contract() {
        crate::store::contract::check_store(&MemoryStore::default()).await;
    }
}
