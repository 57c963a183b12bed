//! [`JobStore`] on Redis: a session's jobs in one hash, the bytes each takes beside
//! them (the quota's sum), and leases, so that a shared backend tells the jobs of a
//! stopped instance from those a live one runs.

use std::time::Duration;

use async_trait::async_trait;
use redis::aio::ConnectionLike;
use trustyconvert_protocol::JobStatus;
use uuid::Uuid;

use super::codec::{decode_job, encode_job};
use super::keys::{job_field, jobs_key, leases_key, session_key, sizes_key, JOB_SESSIONS};
use super::scripts::job_script;
use super::{corrupt, millis, unavailable, RedisStorage};
use crate::storage::{Admission, JobRecord, JobStore, Reservation, StoreError};
use trustyconvert_session::crypto::SessionKey;
use trustyconvert_session::keys::{decode_hex32, encode_hex};
use trustyconvert_session::Timestamp;

impl<C> RedisStorage<C>
where
    C: ConnectionLike + Clone + Send + Sync + 'static,
{
    async fn jobs_of(&self, session: &SessionKey) -> Result<Vec<JobRecord>, StoreError> {
        let values: Vec<String> = self
            .query(redis::cmd("HVALS").arg(jobs_key(session)))
            .await?;
        values.iter().map(|value| decode_job(value)).collect()
    }

    /// Decodes the `{code, used}` answer of a reserving script.
    fn reservation(code: i64, used: u64) -> Reservation {
        match code {
            1 => Reservation::Reserved,
            0 => Reservation::OverQuota { used },
            _ => Reservation::Gone,
        }
    }
}

#[async_trait]
impl<C> JobStore for RedisStorage<C>
where
    C: ConnectionLike + Clone + Send + Sync + 'static,
{
    /// The session is entered in the set of sessions with jobs first (renewing the
    /// set's expiry), so the sweep finds every session that may hold jobs; then one
    /// script checks the session, the id and the quota and writes. If the session is
    /// gone its entry stays until the sweep removes it (another request of the same
    /// session may be mid-way through this).
    async fn insert_job(&self, job: &JobRecord, quota: u64) -> Result<Reservation, StoreError> {
        let mut pipe = redis::pipe();
        pipe.cmd("SADD")
            .arg(JOB_SESSIONS)
            .arg(encode_hex(&job.session.0))
            .ignore()
            .cmd("PEXPIRE")
            .arg(JOB_SESSIONS)
            .arg(millis(self.max_session_life))
            .ignore();
        pipe.query_async::<()>(&mut self.connection())
            .await
            .map_err(unavailable)?;
        let (code, used): (i64, u64) = job_script(&self.scripts.insert_job, job)
            .arg(millis(self.max_session_life))
            .arg(quota)
            .invoke_async(&mut self.connection())
            .await
            .map_err(unavailable)?;
        if code == 3 {
            return Err(StoreError::Duplicate);
        }
        Ok(Self::reservation(code, used))
    }

    async fn load_job(
        &self,
        session: &SessionKey,
        job_id: &Uuid,
    ) -> Result<Option<JobRecord>, StoreError> {
        let value: Option<String> = self
            .query(
                redis::cmd("HGET")
                    .arg(jobs_key(session))
                    .arg(job_field(job_id)),
            )
            .await?;
        value.map(|value| decode_job(&value)).transpose()
    }

    async fn list_jobs(&self, session: &SessionKey) -> Result<Vec<JobRecord>, StoreError> {
        let mut jobs = self.jobs_of(session).await?;
        JobRecord::sort_newest_first(&mut jobs);
        Ok(jobs)
    }

    async fn update_job(&self, job: &JobRecord) -> Result<bool, StoreError> {
        let changed: i64 = job_script(&self.scripts.update_job, job)
            .invoke_async(&mut self.connection())
            .await
            .map_err(unavailable)?;
        Ok(changed == 1)
    }

    async fn reserve_output(&self, job: &JobRecord, quota: u64) -> Result<Reservation, StoreError> {
        let (code, used): (i64, u64) = job_script(&self.scripts.reserve_output, job)
            .arg(quota)
            .invoke_async(&mut self.connection())
            .await
            .map_err(unavailable)?;
        Ok(Self::reservation(code, used))
    }

    async fn count_active_jobs(&self, session: &SessionKey) -> Result<u64, StoreError> {
        Ok(self
            .jobs_of(session)
            .await?
            .iter()
            .filter(|job| job.status.is_active())
            .count() as u64)
    }

    /// One script: the status check, the count and the write are atomic, so
    /// instances racing for one job or one session's limit cannot both pass.
    async fn admit_job(
        &self,
        queued: &JobRecord,
        max_active: u64,
        lease: Duration,
    ) -> Result<Admission, StoreError> {
        let (code, active, status): (i64, u64, String) = self
            .scripts
            .admit_job
            .key(jobs_key(&queued.session))
            .key(leases_key(&queued.session))
            .key(session_key(&queued.session))
            .arg(job_field(&queued.job_id))
            .arg(encode_job(queued))
            .arg(max_active)
            .arg(millis(lease))
            .arg(millis(self.max_session_life))
            .invoke_async(&mut self.connection())
            .await
            .map_err(unavailable)?;
        Ok(match code {
            1 => Admission::Admitted,
            0 => Admission::Full(active),
            3 => Admission::NotUploaded(
                JobStatus::parse(&status).ok_or_else(|| corrupt("job status"))?,
            ),
            _ => Admission::Gone,
        })
    }

    /// One round trip: the sizes kept with each job write, summed here (every upload
    /// checks the quota; decoding every job of the session each time made an upload's
    /// cost grow with the session's jobs). Jobs written before sizes were kept (the
    /// counts differ) are summed from the jobs themselves. Instances of an older
    /// version keep no sizes: while one still writes to the same Redis (a rolling
    /// upgrade), outputs it records are not counted until the job is written again.
    async fn session_storage(&self, session: &SessionKey) -> Result<u64, StoreError> {
        let mut pipe = redis::pipe();
        pipe.cmd("HLEN")
            .arg(jobs_key(session))
            .cmd("HVALS")
            .arg(sizes_key(session));
        let (jobs, sizes): (usize, Vec<u64>) = pipe
            .query_async(&mut self.connection())
            .await
            .map_err(unavailable)?;
        if sizes.len() == jobs {
            return Ok(sizes.iter().sum());
        }
        Ok(self
            .jobs_of(session)
            .await?
            .iter()
            .map(JobRecord::stored_bytes)
            .sum())
    }

    async fn delete_job(&self, session: &SessionKey, job_id: &Uuid) -> Result<bool, StoreError> {
        // Its download grants die with it: redeeming one finds no job.
        let mut pipe = redis::pipe();
        pipe.cmd("HDEL")
            .arg(jobs_key(session))
            .arg(job_field(job_id))
            .cmd("HDEL")
            .arg(sizes_key(session))
            .arg(job_field(job_id))
            .ignore()
            .cmd("HDEL")
            .arg(leases_key(session))
            .arg(job_field(job_id))
            .ignore();
        let (deleted,): (i64,) = pipe
            .query_async(&mut self.connection())
            .await
            .map_err(unavailable)?;
        Ok(deleted == 1)
    }

    async fn delete_session_jobs(&self, session: &SessionKey) -> Result<u64, StoreError> {
        self.purge(session, false).await.map(|(_, jobs)| jobs)
    }

    async fn sessions_with_jobs(&self) -> Result<Vec<SessionKey>, StoreError> {
        let members: Vec<String> = self.query(redis::cmd("SMEMBERS").arg(JOB_SESSIONS)).await?;
        let mut sessions: Vec<SessionKey> = members
            .iter()
            .filter_map(|hex| decode_hex32(hex).map(SessionKey))
            .collect();
        sessions.sort_by_key(|session| session.0);
        Ok(sessions)
    }

    /// Fails the active jobs no live instance holds a lease on: the instance that ran
    /// them stopped. Each is re-checked and written in one script, so a job whose
    /// lease was renewed meanwhile is left alone.
    async fn fail_unfinished_jobs(&self, reason: &str, now: Timestamp) -> Result<u64, StoreError> {
        let mut failed = 0;
        for session in self.sessions_with_jobs().await? {
            let candidates: Vec<String> = self
                .scripts
                .abandoned_jobs
                .key(jobs_key(&session))
                .key(leases_key(&session))
                .invoke_async(&mut self.connection())
                .await
                .map_err(unavailable)?;
            for value in candidates {
                let mut job = decode_job(&value)?;
                job.fail(reason, now);
                let written: i64 = self
                    .scripts
                    .fail_if_abandoned
                    .key(jobs_key(&session))
                    .key(leases_key(&session))
                    .arg(job_field(&job.job_id))
                    .arg(encode_job(&job))
                    .invoke_async(&mut self.connection())
                    .await
                    .map_err(unavailable)?;
                failed += u64::from(written == 1);
            }
        }
        Ok(failed)
    }

    async fn renew_job_leases(
        &self,
        jobs: &[(SessionKey, Uuid)],
        ttl: Duration,
    ) -> Result<(), StoreError> {
        let mut by_session: std::collections::HashMap<SessionKey, Vec<String>> =
            std::collections::HashMap::new();
        for (session, job_id) in jobs {
            by_session
                .entry(*session)
                .or_default()
                .push(job_field(job_id));
        }
        for (session, ids) in by_session {
            let _: i64 = self
                .scripts
                .renew_leases
                .key(leases_key(&session))
                .key(jobs_key(&session))
                .arg(millis(ttl))
                .arg(millis(self.max_session_life))
                .arg(ids)
                .invoke_async(&mut self.connection())
                .await
                .map_err(unavailable)?;
        }
        Ok(())
    }

    fn is_shared(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::super::codec::encode_job;
    use super::super::keys::{job_field, jobs_key};
    use super::super::RedisStorage;
    use crate::storage::{contract, redis_server, Reservation};

    #[tokio::test]
    async fn jobs_stored_before_sizes_were_kept_still_count_against_the_quota() {
        use crate::storage::JobStore as _;
        let server = redis_server::RedisServer::start();
        let client = redis::Client::open(server.url()).unwrap();
        let mut raw = client.get_multiplexed_async_connection().await.unwrap();
        let storage = RedisStorage::new(raw.clone(), Duration::from_secs(3600));
        use crate::storage::SessionStore as _;
        let now = trustyconvert_session::Timestamp::now();
        let owner = contract::record(now, Duration::from_secs(60));
        storage.insert_session(&owner).await.unwrap();
        let session = owner.key;
        // One job as an older version wrote it: in the jobs hash only.
        let mut old = contract::job(session, now);
        old.output_size = Some(234);
        let _: i64 = redis::cmd("HSET")
            .arg(jobs_key(&session))
            .arg(job_field(&old.job_id))
            .arg(encode_job(&old))
            .query_async(&mut raw)
            .await
            .unwrap();
        storage
            .insert_job(&contract::job(session, now), u64::MAX)
            .await
            .unwrap();
        assert_eq!(storage.session_storage(&session).await.unwrap(), 2234);
        // The quota check inside the insert script counts the old job too.
        assert_eq!(
            storage
                .insert_job(&contract::job(session, now), 3000)
                .await
                .unwrap(),
            Reservation::OverQuota { used: 2234 }
        );
    }
}
