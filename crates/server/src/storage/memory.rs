//! The in-process backend: hash maps behind locks, swept like the others. Lost on
//! restart; for tests, the CLI's private converter and throw-away runs.

use std::collections::HashMap;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::{Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};

use async_trait::async_trait;
use uuid::Uuid;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;

use super::local_rates::LocalRates;
use super::{
    CsrfState, CsrfSwap, DownloadGrant, DownloadStore, JobRecord, JobStore, PreviousNonce,
    RateAction, RateLimitStore, RateVerdict, Reservation, SessionRecord, SessionStore, StoreError,
    TokenHash,
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
struct Sessions {
    compact: HashMap<SessionKey, CompactSession>,
    irregular_ids: HashMap<SessionKey, String>,
}

impl Sessions {
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

/// Everything in memory. Expired records are swept, so memory stays bounded by what
/// is live.
#[derive(Debug, Default)]
pub struct MemoryStorage {
    sessions: RwLock<Sessions>,
    /// Jobs by session, so a session's questions (its usage, its active jobs) cost
    /// its own jobs, not everyone's.
    jobs: Mutex<HashMap<SessionKey, HashMap<Uuid, JobRecord>>>,
    grants: Mutex<HashMap<TokenHash, DownloadGrant>>,
    rates: LocalRates,
}

// A poisoned lock only means a panic elsewhere; every map stays consistent because
// each mutation below is a single map operation.
//
// Lock order: `sessions` before `jobs` before `grants`, never the other way. A write
// that must only happen while its session exists holds the sessions lock (read) while
// it writes, so a delete (which takes it for writing) comes wholly before or after.
impl MemoryStorage {
    fn sessions(&self) -> RwLockReadGuard<'_, Sessions> {
        self.sessions.read().unwrap_or_else(|p| p.into_inner())
    }

    fn sessions_mut(&self) -> RwLockWriteGuard<'_, Sessions> {
        self.sessions.write().unwrap_or_else(|p| p.into_inner())
    }

    fn jobs(&self) -> MutexGuard<'_, HashMap<SessionKey, HashMap<Uuid, JobRecord>>> {
        self.jobs.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn grants(&self) -> MutexGuard<'_, HashMap<TokenHash, DownloadGrant>> {
        self.grants.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn forget_sessions(&self, keys: &[SessionKey]) {
        if keys.is_empty() {
            return;
        }
        let mut jobs = self.jobs();
        for key in keys {
            jobs.remove(key);
        }
        drop(jobs);
        self.grants()
            .retain(|_, grant| !keys.contains(&grant.session));
    }
}

#[async_trait]
impl SessionStore for MemoryStorage {
    async fn insert_session(&self, record: &SessionRecord) -> Result<(), StoreError> {
        let mut sessions = self.sessions_mut();
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
        Ok(self.sessions().get(key))
    }

    async fn touch_session(
        &self,
        key: &SessionKey,
        idle_expires_at: Timestamp,
    ) -> Result<bool, StoreError> {
        Ok(self
            .sessions_mut()
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
        let mut sessions = self.sessions_mut();
        let Some(stored) = sessions.compact.get_mut(key) else {
            return Ok(CsrfSwap::Gone);
        };
        if !constant_time_eq(&stored.csrf_current, expected) {
            return Ok(CsrfSwap::Superseded(stored.csrf()));
        }
        stored.set_csrf(next);
        Ok(CsrfSwap::Swapped)
    }

    async fn delete_session(&self, key: &SessionKey) -> Result<bool, StoreError> {
        let existed = self.sessions_mut().remove(key);
        self.forget_sessions(&[*key]);
        Ok(existed)
    }

    async fn sweep_expired(&self, now: Timestamp) -> Result<Vec<SessionKey>, StoreError> {
        let mut swept = Vec::new();
        {
            let mut sessions = self.sessions_mut();
            sessions.compact.retain(|key, session| {
                let live = session.is_live(now);
                if !live {
                    swept.push(*key);
                }
                live
            });
            for key in &swept {
                sessions.irregular_ids.remove(key);
            }
        }
        self.forget_sessions(&swept);
        self.grants().retain(|_, grant| grant.expires_at > now);
        Ok(swept)
    }

    async fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }
}

#[async_trait]
impl JobStore for MemoryStorage {
    async fn insert_job(&self, job: &JobRecord, quota: u64) -> Result<Reservation, StoreError> {
        let sessions = self.sessions();
        if !sessions.compact.contains_key(&job.session) {
            return Ok(Reservation::Gone);
        }
        let mut jobs = self.jobs();
        let of_session = jobs.entry(job.session).or_default();
        if of_session.contains_key(&job.job_id) {
            return Err(StoreError::Duplicate);
        }
        let used = of_session.values().map(JobRecord::stored_bytes).sum();
        if job.stored_bytes() > quota.saturating_sub(used) {
            if of_session.is_empty() {
                jobs.remove(&job.session);
            }
            return Ok(Reservation::OverQuota { used });
        }
        of_session.insert(job.job_id, job.clone());
        drop(sessions);
        Ok(Reservation::Reserved)
    }

    async fn load_job(
        &self,
        session: &SessionKey,
        job_id: &Uuid,
    ) -> Result<Option<JobRecord>, StoreError> {
        Ok(self
            .jobs()
            .get(session)
            .and_then(|of_session| of_session.get(job_id))
            .cloned())
    }

    async fn update_job(&self, job: &JobRecord) -> Result<bool, StoreError> {
        let sessions = self.sessions();
        if !sessions.compact.contains_key(&job.session) {
            return Ok(false);
        }
        let updated = self
            .jobs()
            .get_mut(&job.session)
            .and_then(|of_session| of_session.get_mut(&job.job_id))
            .map(|stored| *stored = job.clone())
            .is_some();
        drop(sessions);
        Ok(updated)
    }

    async fn reserve_output(&self, job: &JobRecord, quota: u64) -> Result<Reservation, StoreError> {
        let sessions = self.sessions();
        if !sessions.compact.contains_key(&job.session) {
            return Ok(Reservation::Gone);
        }
        let mut jobs = self.jobs();
        let Some(of_session) = jobs.get_mut(&job.session) else {
            return Ok(Reservation::Gone);
        };
        if !of_session.contains_key(&job.job_id) {
            return Ok(Reservation::Gone);
        }
        let used = of_session
            .values()
            .filter(|other| other.job_id != job.job_id)
            .map(JobRecord::stored_bytes)
            .sum();
        if job.stored_bytes() > quota.saturating_sub(used) {
            return Ok(Reservation::OverQuota { used });
        }
        of_session.insert(job.job_id, job.clone());
        drop(jobs);
        drop(sessions);
        Ok(Reservation::Reserved)
    }

    async fn count_active_jobs(&self, session: &SessionKey) -> Result<u64, StoreError> {
        Ok(self.jobs().get(session).map_or(0, |of_session| {
            of_session
                .values()
                .filter(|job| job.status.is_active())
                .count() as u64
        }))
    }

    async fn session_storage(&self, session: &SessionKey) -> Result<u64, StoreError> {
        Ok(self.jobs().get(session).map_or(0, |of_session| {
            of_session.values().map(JobRecord::stored_bytes).sum()
        }))
    }

    async fn delete_job(&self, session: &SessionKey, job_id: &Uuid) -> Result<bool, StoreError> {
        let mut jobs = self.jobs();
        let Some(of_session) = jobs.get_mut(session) else {
            return Ok(false);
        };
        let removed = of_session.remove(job_id).is_some();
        if of_session.is_empty() {
            jobs.remove(session);
        }
        Ok(removed)
    }

    async fn delete_session_jobs(&self, session: &SessionKey) -> Result<u64, StoreError> {
        Ok(self
            .jobs()
            .remove(session)
            .map_or(0, |of_session| of_session.len() as u64))
    }

    async fn sessions_with_jobs(&self) -> Result<Vec<SessionKey>, StoreError> {
        let mut sessions: Vec<SessionKey> = self.jobs().keys().copied().collect();
        sessions.sort_by_key(|session| session.0);
        Ok(sessions)
    }

    async fn fail_unfinished_jobs(&self, reason: &str, now: Timestamp) -> Result<u64, StoreError> {
        let mut count = 0;
        for job in self
            .jobs()
            .values_mut()
            .flat_map(|of_session| of_session.values_mut())
            .filter(|job| job.status.is_active())
        {
            job.fail(reason, now);
            count += 1;
        }
        Ok(count)
    }
}

#[async_trait]
impl DownloadStore for MemoryStorage {
    async fn insert_grant(
        &self,
        token: &TokenHash,
        grant: &DownloadGrant,
        max_per_job: usize,
    ) -> Result<bool, StoreError> {
        let sessions = self.sessions();
        if !sessions.compact.contains_key(&grant.session) {
            return Ok(false);
        }
        let mut grants = self.grants();
        // The new grant always stays; the newest others fill the remaining places.
        let keep_others = max_per_job.saturating_sub(1);
        let mut others: Vec<(TokenHash, Timestamp)> = grants
            .iter()
            .filter(|(_, g)| g.session == grant.session && g.job_id == grant.job_id)
            .map(|(hash, g)| (*hash, g.expires_at))
            .collect();
        if others.len() > keep_others {
            others.sort_by_key(|(_, expires_at)| *expires_at);
            for (hash, _) in &others[..others.len() - keep_others] {
                grants.remove(hash);
            }
        }
        grants.insert(*token, *grant);
        drop(grants);
        drop(sessions);
        Ok(true)
    }

    async fn take_grant(
        &self,
        token: &TokenHash,
        now: Timestamp,
    ) -> Result<Option<DownloadGrant>, StoreError> {
        Ok(self
            .grants()
            .remove(token)
            .filter(|grant| grant.expires_at > now))
    }

    async fn peek_grant(
        &self,
        token: &TokenHash,
        now: Timestamp,
    ) -> Result<Option<DownloadGrant>, StoreError> {
        Ok(self
            .grants()
            .get(token)
            .copied()
            .filter(|grant| grant.expires_at > now))
    }
}

#[async_trait]
impl RateLimitStore for MemoryStorage {
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

    #[tokio::test]
    async fn memory_storage_meets_the_storage_contract() {
        super::super::contract::check_all(&MemoryStorage::default()).await;
    }

    #[test]
    fn a_session_takes_eighty_bytes_besides_its_key() {
        assert_eq!(std::mem::size_of::<CompactSession>(), 80);
    }

    #[tokio::test]
    async fn public_ids_of_any_shape_come_back_unchanged() {
        let store = MemoryStorage::default();
        let now = Timestamp::now();
        for id in ["not base64url!", "", "AAAAAAAAAAAAAAAAAAAAAA"] {
            let mut record =
                super::super::contract::record(now, std::time::Duration::from_secs(60));
            record.public_id = id.to_owned();
            store.insert_session(&record).await.unwrap();
            assert_eq!(store.load_session(&record.key).await.unwrap(), Some(record));
        }
    }
}
