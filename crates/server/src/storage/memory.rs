//! The in-process backend: hash maps behind locks, swept like the others. Lost on
//! restart; for tests, the CLI's private converter and throw-away runs.

use std::collections::HashMap;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::{Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};

use async_trait::async_trait;
use uuid::Uuid;

use super::local_rates::LocalRates;
use super::{
    CsrfState, DownloadGrant, DownloadStore, JobRecord, JobStore, RateAction, RateLimitStore,
    RateVerdict, SessionRecord, SessionStore, StoreError, TokenHash,
};
use crate::crypto::SessionKey;
use crate::time::Timestamp;

/// Everything in memory. Expired records are swept, so memory stays bounded by what
/// is live.
#[derive(Debug, Default)]
pub struct MemoryStorage {
    sessions: RwLock<HashMap<SessionKey, SessionRecord>>,
    /// Jobs by session, so a session's questions (its usage, its active jobs) cost
    /// its own jobs, not everyone's.
    jobs: Mutex<HashMap<SessionKey, HashMap<Uuid, JobRecord>>>,
    grants: Mutex<HashMap<TokenHash, DownloadGrant>>,
    rates: LocalRates,
}

// A poisoned lock only means a panic elsewhere; every map stays consistent because
// each mutation below is a single map operation.
impl MemoryStorage {
    fn sessions(&self) -> RwLockReadGuard<'_, HashMap<SessionKey, SessionRecord>> {
        self.sessions.read().unwrap_or_else(|p| p.into_inner())
    }

    fn sessions_mut(&self) -> RwLockWriteGuard<'_, HashMap<SessionKey, SessionRecord>> {
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
        if sessions.contains_key(&record.key) {
            return Err(StoreError::Duplicate);
        }
        sessions.insert(record.key, record.clone());
        Ok(())
    }

    async fn load_session(&self, key: &SessionKey) -> Result<Option<SessionRecord>, StoreError> {
        Ok(self.sessions().get(key).cloned())
    }

    async fn touch_session(
        &self,
        key: &SessionKey,
        idle_expires_at: Timestamp,
    ) -> Result<bool, StoreError> {
        Ok(self
            .sessions_mut()
            .get_mut(key)
            .map(|record| record.idle_expires_at = idle_expires_at)
            .is_some())
    }

    async fn set_csrf(&self, key: &SessionKey, csrf: &CsrfState) -> Result<bool, StoreError> {
        Ok(self
            .sessions_mut()
            .get_mut(key)
            .map(|record| record.csrf = *csrf)
            .is_some())
    }

    async fn delete_session(&self, key: &SessionKey) -> Result<bool, StoreError> {
        let existed = self.sessions_mut().remove(key).is_some();
        self.forget_sessions(&[*key]);
        Ok(existed)
    }

    async fn sweep_expired(&self, now: Timestamp) -> Result<Vec<SessionKey>, StoreError> {
        let mut swept = Vec::new();
        self.sessions_mut().retain(|key, record| {
            let live = record.is_live(now);
            if !live {
                swept.push(*key);
            }
            live
        });
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
    async fn insert_job(&self, job: &JobRecord) -> Result<(), StoreError> {
        let mut jobs = self.jobs();
        let of_session = jobs.entry(job.session).or_default();
        if of_session.contains_key(&job.job_id) {
            return Err(StoreError::Duplicate);
        }
        of_session.insert(job.job_id, job.clone());
        Ok(())
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
        Ok(self
            .jobs()
            .get_mut(&job.session)
            .and_then(|of_session| of_session.get_mut(&job.job_id))
            .map(|stored| *stored = job.clone())
            .is_some())
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
    ) -> Result<(), StoreError> {
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
        Ok(())
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
    #[tokio::test]
    async fn memory_storage_meets_the_storage_contract() {
        super::super::contract::check_all(&super::MemoryStorage::default()).await;
    }
}
