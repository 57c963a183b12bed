//! [`SessionStore`] and [`RateLimitStore`] on Redis: the session layer's
//! [`RedisStore`](trustyconvert_session::store::redis::RedisStore), whose hot paths
//! (one `GETEX` per request, one script per CSRF rotation request) are unchanged; closing a
//! session deletes everything it owns in the same script as its record.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::Duration;

use async_trait::async_trait;
use redis::aio::ConnectionLike;

use super::keys::{
    grant_key_of, grants_key, jobs_key, leases_key, session_key, sizes_key, JOB_SESSIONS,
};
use super::{unavailable, RedisStorage};
use crate::storage::{
    CsrfState, CsrfSwap, JobStore as _, RateAction, RateLimitStore, RateVerdict, SessionRecord,
    SessionStore, StoreError,
};
use trustyconvert_session::crypto::{SessionKey, CSRF_NONCE_BYTES};
use trustyconvert_session::keys::encode_hex;
use trustyconvert_session::store::ResolvedSwap;
use trustyconvert_session::Timestamp;

impl<C> RedisStorage<C>
where
    C: ConnectionLike + Clone + Send + Sync + 'static,
{
    /// Deletes what a session owns in one script (its record too when `with_record`),
    /// then the grant keys its index named and its entry in the set of sessions with
    /// jobs. Returns whether the record existed and how many jobs it had.
    pub(super) async fn purge(
        &self,
        session: &SessionKey,
        with_record: bool,
    ) -> Result<(bool, u64), StoreError> {
        let (existed, jobs, grants): (i64, u64, Vec<String>) = self
            .scripts
            .purge_session
            .key(session_key(session))
            .key(jobs_key(session))
            .key(sizes_key(session))
            .key(leases_key(session))
            .key(grants_key(session))
            .arg(if with_record { "1" } else { "0" })
            .invoke_async(&mut self.connection())
            .await
            .map_err(unavailable)?;
        // Each grant key lives in its own slot: one command each (few per session).
        for member in grants {
            if let Some((_, token)) = member.split_once(':') {
                self.query::<i64>(redis::cmd("DEL").arg(grant_key_of(token)))
                    .await?;
            }
        }
        self.query::<i64>(
            redis::cmd("SREM")
                .arg(JOB_SESSIONS)
                .arg(encode_hex(&session.0)),
        )
        .await?;
        Ok((existed == 1, jobs))
    }
}

/// The session layer's store, except that deleting a session deletes what it owns
/// with it, and the sweep deletes what expired sessions owned.
#[async_trait]
impl<C> SessionStore for RedisStorage<C>
where
    C: ConnectionLike + Clone + Send + Sync + 'static,
{
    async fn insert_session(&self, record: &SessionRecord) -> Result<(), StoreError> {
        self.sessions.insert_session(record).await
    }

    async fn load_session(&self, key: &SessionKey) -> Result<Option<SessionRecord>, StoreError> {
        self.sessions.load_session(key).await
    }

    async fn resolve_session(
        &self,
        key: &SessionKey,
        now: Timestamp,
        idle: Duration,
        touch_step: Duration,
    ) -> Result<Option<SessionRecord>, StoreError> {
        self.sessions
            .resolve_session(key, now, idle, touch_step)
            .await
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

    /// The record and what the session owns, in one script.
    async fn delete_session(&self, key: &SessionKey) -> Result<bool, StoreError> {
        self.purge(key, true).await.map(|(existed, _)| existed)
    }

    /// Session records expire by themselves (their key's expiry); this removes, with
    /// everything they own, the sessions with jobs whose record is gone or no longer
    /// live at `now`, and returns them (their files are the caller's to remove).
    async fn sweep_expired(&self, now: Timestamp) -> Result<Vec<SessionKey>, StoreError> {
        let mut swept = Vec::new();
        for session in self.sessions_with_jobs().await? {
            let live = self
                .load_session(&session)
                .await?
                .is_some_and(|record| record.is_live(now));
            if !live {
                self.purge(&session, true).await?;
                swept.push(session);
            }
        }
        Ok(swept)
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.sessions.ping().await
    }
}

/// The session layer's counters, unchanged.
#[async_trait]
impl<C> RateLimitStore for RedisStorage<C>
where
    C: ConnectionLike + Clone + Send + Sync + 'static,
{
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
