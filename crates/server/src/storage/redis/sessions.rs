//! [`SessionStore`] on Redis. Hot path: validating a request is one command,
//! `GETEX key PXAT now+idle` — it reads the record and slides the idle expiry (a TTL
//! update, never a record rewrite). The idle expiry *is* the key's expiry
//! (`PEXPIRETIME` reads it back exactly). Closing a session deletes everything it owns.

use std::time::Duration;

use async_trait::async_trait;
use redis::aio::ConnectionLike;

use super::codec::{decode_csrf, decode_session, encode_csrf, encode_nonce, encode_session};
use super::keys::{
    grant_key_of, grants_key, jobs_key, leases_key, session_key, sizes_key, JOB_SESSIONS,
};
use super::{unavailable, RedisStorage};
use crate::storage::{CsrfState, CsrfSwap, JobStore as _, SessionRecord, SessionStore, StoreError};
use trustyconvert_session::crypto::{SessionKey, CSRF_NONCE_BYTES};
use trustyconvert_session::keys::encode_hex;
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

#[async_trait]
impl<C> SessionStore for RedisStorage<C>
where
    C: ConnectionLike + Clone + Send + Sync + 'static,
{
    async fn insert_session(&self, record: &SessionRecord) -> Result<(), StoreError> {
        let created: Option<String> = self
            .query(
                redis::cmd("SET")
                    .arg(session_key(&record.key))
                    .arg(encode_session(record))
                    .arg("PXAT")
                    .arg(record.idle_expires_at.as_millis())
                    .arg("NX"),
            )
            .await?;
        created.map(drop).ok_or(StoreError::Duplicate)
    }

    async fn load_session(&self, key: &SessionKey) -> Result<Option<SessionRecord>, StoreError> {
        let mut pipe = redis::pipe();
        pipe.cmd("GET")
            .arg(session_key(key))
            .cmd("PEXPIRETIME")
            .arg(session_key(key));
        let (value, expires): (Option<String>, i64) = pipe
            .query_async(&mut self.connection())
            .await
            .map_err(unavailable)?;
        let idle_expires_at = Timestamp::from_millis(expires);
        value
            .map(|value| decode_session(key, &value, idle_expires_at))
            .transpose()
    }

    /// One command: `GETEX` reads the record and slides its idle expiry. Only when
    /// the absolute expiry comes first is the key's expiry moved back to it (a second
    /// command, in the last idle period of a session's life).
    async fn resolve_session(
        &self,
        key: &SessionKey,
        now: Timestamp,
        idle: Duration,
        _touch_step: Duration,
    ) -> Result<Option<SessionRecord>, StoreError> {
        let idle_expires_at = now.plus(idle);
        let value: Option<String> = self
            .query(
                redis::cmd("GETEX")
                    .arg(session_key(key))
                    .arg("PXAT")
                    .arg(idle_expires_at.as_millis()),
            )
            .await?;
        let Some(record) = value
            .map(|value| decode_session(key, &value, idle_expires_at))
            .transpose()?
        else {
            return Ok(None);
        };
        if record.absolute_expires_at < idle_expires_at {
            let _: i64 = self
                .query(
                    redis::cmd("PEXPIREAT")
                        .arg(session_key(key))
                        .arg(record.absolute_expires_at.as_millis()),
                )
                .await?;
        }
        Ok(Some(record))
    }

    async fn touch_session(
        &self,
        key: &SessionKey,
        idle_expires_at: Timestamp,
    ) -> Result<bool, StoreError> {
        let changed: i64 = self
            .query(
                redis::cmd("PEXPIREAT")
                    .arg(session_key(key))
                    .arg(idle_expires_at.as_millis()),
            )
            .await?;
        Ok(changed == 1)
    }

    /// One script: the CSRF line of the record is replaced only if its current nonce
    /// is the expected one, over an existing key (a closed or expired session is never
    /// resurrected), keeping the key's expiry, which is the idle expiry.
    async fn swap_csrf(
        &self,
        key: &SessionKey,
        expected: &[u8; CSRF_NONCE_BYTES],
        next: &CsrfState,
    ) -> Result<CsrfSwap, StoreError> {
        let (code, stored): (i64, String) = self
            .scripts
            .swap_csrf
            .key(session_key(key))
            .arg(encode_nonce(expected))
            .arg(encode_csrf(next))
            .invoke_async(&mut self.connection())
            .await
            .map_err(unavailable)?;
        Ok(match code {
            1 => CsrfSwap::Swapped,
            0 => CsrfSwap::Superseded(decode_csrf(&stored)?),
            _ => CsrfSwap::Gone,
        })
    }

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
        let _: String = self.query(&redis::cmd("PING")).await?;
        Ok(())
    }
}
