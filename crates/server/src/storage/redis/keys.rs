//! The converter's keys. Every key of one session starts with the session layer's
//! prefix (`tc:{S}:`, S = hex of the session's store key), so a session's keys live in
//! one cluster slot with its record and the scripts may touch them together:
//!
//! ```text
//! tc:{S}:session         the session layer's record; its expiry is the idle expiry
//! tc:{S}:jobs            hash: job id → job (JSON); expires after the absolute timeout
//! tc:{S}:sizes           hash: job id → bytes its files take (the quota's sum); as jobs
//! tc:{S}:leases          hash: job id → until when (Redis time, ms) a live instance runs it; as jobs
//! tc:{S}:grants          sorted set: "<job id>:<T>" by expiry, the session's download grants
//! tc:grant:<T>           one download grant (T = hex of the token hash; expires with it)
//! tc:job-sessions        set of sessions that own jobs (for the orphan sweep); expires after
//!                        the absolute timeout, renewed by every new job
//! ```
//!
//! Every key written has an expiry, also one a background task writes (a lease), and no
//! write creates a key of a session that is gone (the scripts check `tc:{S}:session`
//! first). Expiry is Redis's: session keys die at their idle expiry, grants at theirs,
//! jobs after the absolute timeout at the latest.

use uuid::Uuid;

use crate::storage::TokenHash;
use trustyconvert_session::crypto::SessionKey;
use trustyconvert_session::keys::encode_hex;
use trustyconvert_session::store::redis::session_key_prefix as prefix;
pub(super) use trustyconvert_session::store::redis::session_record_key as session_key;

/// Global set of sessions owning jobs.
pub(super) const JOB_SESSIONS: &str = "tc:job-sessions";

pub(super) fn jobs_key(session: &SessionKey) -> String {
    format!("{}jobs", prefix(session))
}

pub(super) fn sizes_key(session: &SessionKey) -> String {
    format!("{}sizes", prefix(session))
}

pub(super) fn leases_key(session: &SessionKey) -> String {
    format!("{}leases", prefix(session))
}

pub(super) fn grants_key(session: &SessionKey) -> String {
    format!("{}grants", prefix(session))
}

pub(super) fn job_field(job_id: &Uuid) -> String {
    job_id.simple().to_string()
}

pub(super) fn grant_key(token: &TokenHash) -> String {
    grant_key_of(&encode_hex(&token.0))
}

/// A grant's key named by the hex of its token hash, as a session's index names it.
pub(super) fn grant_key_of(token_hex: &str) -> String {
    format!("tc:grant:{token_hex}")
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::JOB_SESSIONS;
    use crate::storage::redis::RedisStorage;
    use crate::storage::redis_server;

    /// Every key in the database with its `PTTL` (-1: no expiry).
    async fn keys_with_ttl(raw: &mut redis::aio::MultiplexedConnection) -> Vec<(String, i64)> {
        let keys: Vec<String> = redis::cmd("KEYS").arg("*").query_async(raw).await.unwrap();
        let mut out = Vec::new();
        for key in keys {
            let ttl: i64 = redis::cmd("PTTL").arg(&key).query_async(raw).await.unwrap();
            out.push((key, ttl));
        }
        out
    }

    #[tokio::test]
    async fn every_key_has_an_expiry_and_a_closed_session_keeps_none_after_racing_writes() {
        use crate::storage::contract::{job, record};
        use crate::storage::{
            DownloadGrant, DownloadStore as _, JobStore as _, RateAction, RateLimitStore as _,
            SessionStore as _, TokenHash,
        };
        let server = redis_server::RedisServer::start();
        let client = redis::Client::open(server.url()).unwrap();
        let mut raw = client.get_multiplexed_async_connection().await.unwrap();
        let storage = RedisStorage::new(raw.clone(), Duration::from_secs(3600));
        let now = trustyconvert_session::Timestamp::now();
        let (kept, closed) = (
            record(now, Duration::from_secs(60)),
            record(now, Duration::from_secs(60)),
        );
        let mut running = Vec::new();
        for session in [&kept, &closed] {
            storage.insert_session(session).await.unwrap();
            let mut job = job(session.key, now);
            storage.insert_job(&job, u64::MAX).await.unwrap();
            job.status = trustyconvert_protocol::JobStatus::Queued;
            storage
                .admit_job(&job, 4, Duration::from_secs(30))
                .await
                .unwrap();
            let grant = DownloadGrant {
                session: session.key,
                job_id: job.job_id,
                expires_at: now.plus(Duration::from_secs(600)),
                archive: Vec::new(),
            };
            let token = TokenHash(trustyconvert_session::crypto::random_bytes::<32>());
            assert!(storage.insert_grant(&token, &grant, 16).await.unwrap());
            running.push((session.key, job.job_id));
        }
        storage
            .check_rate(
                RateAction::named("upload"),
                "192.0.2.1".parse().unwrap(),
                std::num::NonZeroU32::new(5).unwrap(),
            )
            .await
            .unwrap();
        // The close races the lease keeper and a late upload of the closed session.
        assert!(storage.delete_session(&closed.key).await.unwrap());
        storage
            .renew_job_leases(&running, Duration::from_secs(30))
            .await
            .unwrap();
        storage
            .insert_job(&job(closed.key, now), u64::MAX)
            .await
            .unwrap();
        storage.sweep_expired(now).await.unwrap();

        let keys = keys_with_ttl(&mut raw).await;
        assert!(
            keys.len() >= 7,
            "the live session's keys are there: {keys:?}"
        );
        let without_expiry: Vec<_> = keys.iter().filter(|(_, ttl)| *ttl == -1).collect();
        assert!(
            without_expiry.is_empty(),
            "keys without expiry: {without_expiry:?}"
        );
        let tag = trustyconvert_session::keys::encode_hex(&closed.key.0);
        let leftovers: Vec<_> = keys.iter().filter(|(key, _)| key.contains(&tag)).collect();
        assert!(
            leftovers.is_empty(),
            "keys of the closed session: {leftovers:?}"
        );
        // Its grant key too (grant keys name no session; only the live one's remains).
        let grants = keys
            .iter()
            .filter(|(key, _)| key.starts_with("tc:grant:"))
            .count();
        assert_eq!(grants, 1);
        let members: Vec<String> = redis::cmd("SMEMBERS")
            .arg(JOB_SESSIONS)
            .query_async(&mut raw)
            .await
            .unwrap();
        assert_eq!(
            members,
            vec![trustyconvert_session::keys::encode_hex(&kept.key.0)]
        );
    }
}
