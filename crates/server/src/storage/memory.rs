//! The in-process backend: the session layer's [`MemoryStore`] and the jobs and
//! download grants beside it, swept like the others. Lost on restart; for tests and
//! throw-away runs.

use std::collections::HashMap;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use trustyconvert_session::crypto::{SessionKey, CSRF_NONCE_BYTES};
use trustyconvert_session::store::{MemoryStore, ResolvedSwap};
use trustyconvert_session::Timestamp;
use uuid::Uuid;

use super::{
    CsrfState, CsrfSwap, DownloadGrant, DownloadStore, JobRecord, JobStore, RateAction,
    RateLimitStore, RateVerdict, Reservation, SessionRecord, SessionStore, StoreError, TokenHash,
};

/// Everything in memory. Expired records are swept, so memory stays bounded by what
/// is live.
#[derive(Debug, Default)]
pub struct MemoryStorage {
    sessions: MemoryStore,
    /// Jobs by session, so a session's questions (its usage, its active jobs) cost
    /// its own jobs, not everyone's.
    jobs: Mutex<HashMap<SessionKey, HashMap<Uuid, JobRecord>>>,
    grants: Mutex<HashMap<TokenHash, DownloadGrant>>,
}

// A poisoned lock only means a panic elsewhere; every map stays consistent because
// each mutation below is a single map operation.
//
// Lock order: the session store before `jobs` before `grants`, never the other way.
// A write that must only happen while its session exists runs inside
// `MemoryStore::with_session`, which holds the session while it writes, so a delete
// comes wholly before or after.
impl MemoryStorage {
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
        self.sessions.insert_session(record).await
    }

    async fn load_session(&self, key: &SessionKey) -> Result<Option<SessionRecord>, StoreError> {
        self.sessions.load_session(key).await
    }

    async fn touch_session(
        &self,
        key: &SessionKey,
        idle_expires_at: Timestamp,
    ) -> Result<bool, StoreError> {
        self.sessions.touch_session(key, idle_expires_at).await
    }

    async fn swap_csrf(
        &self,
        key: &SessionKey,
        expected: &[u8; CSRF_NONCE_BYTES],
        next: &CsrfState,
    ) -> Result<CsrfSwap, StoreError> {
        self.sessions.swap_csrf(key, expected, next).await
    }

    async fn resolve_and_swap_csrf(
        &self,
        key: &SessionKey,
        now: Timestamp,
        idle: Duration,
        touch_step: Duration,
        presented: &[u8; CSRF_NONCE_BYTES],
        next: &CsrfState,
    ) -> Result<ResolvedSwap, StoreError> {
        self.sessions
            .resolve_and_swap_csrf(key, now, idle, touch_step, presented, next)
            .await
    }

    async fn delete_session(&self, key: &SessionKey) -> Result<bool, StoreError> {
        let existed = self.sessions.delete_session(key).await?;
        self.forget_sessions(&[*key]);
        Ok(existed)
    }

    async fn sweep_expired(&self, now: Timestamp) -> Result<Vec<SessionKey>, StoreError> {
        let swept = self.sessions.sweep_expired(now).await?;
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
        let inserted = self.sessions.with_session(&job.session, || {
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
            Ok(Reservation::Reserved)
        });
        inserted.unwrap_or(Ok(Reservation::Gone))
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

    async fn list_jobs(&self, session: &SessionKey) -> Result<Vec<JobRecord>, StoreError> {
        let mut jobs: Vec<JobRecord> = self
            .jobs()
            .get(session)
            .map(|of_session| of_session.values().cloned().collect())
            .unwrap_or_default();
        JobRecord::sort_newest_first(&mut jobs);
        Ok(jobs)
    }

    async fn update_job(&self, job: &JobRecord) -> Result<bool, StoreError> {
        let updated = self.sessions.with_session(&job.session, || {
            self.jobs()
                .get_mut(&job.session)
                .and_then(|of_session| of_session.get_mut(&job.job_id))
                .map(|stored| *stored = job.clone())
                .is_some()
        });
        Ok(updated.unwrap_or(false))
    }

    async fn reserve_output(&self, job: &JobRecord, quota: u64) -> Result<Reservation, StoreError> {
        let reserved = self.sessions.with_session(&job.session, || {
            let mut jobs = self.jobs();
            let Some(of_session) = jobs.get_mut(&job.session) else {
                return Reservation::Gone;
            };
            if !of_session.contains_key(&job.job_id) {
                return Reservation::Gone;
            }
            let used = of_session
                .values()
                .filter(|other| other.job_id != job.job_id)
                .map(JobRecord::stored_bytes)
                .sum();
            if job.stored_bytes() > quota.saturating_sub(used) {
                return Reservation::OverQuota { used };
            }
            of_session.insert(job.job_id, job.clone());
            Reservation::Reserved
        });
        Ok(reserved.unwrap_or(Reservation::Gone))
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
        let inserted = self.sessions.with_session(&grant.session, || {
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
            grants.insert(*token, grant.clone());
        });
        Ok(inserted.is_some())
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
            .cloned()
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
        self.sessions.check_rate(action, client, per_minute).await
    }

    async fn forget_idle_rates(&self) -> Result<(), StoreError> {
        self.sessions.forget_idle_rates().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn memory_storage_meets_the_storage_contract() {
        super::super::contract::check_all(&MemoryStorage::default()).await;
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
