//! [`SessionStore`] on Redis. Hot path: validating a request is one command,
//! `GETEX key PXAT now+idle` — it reads the record and slides the idle expiry (a TTL
//! update, never a record rewrite) — and a CSRF rotation request one script that does
//! the same and swaps the token. The idle expiry *is* the key's expiry
//! (`PEXPIRETIME` reads it back exactly).

use std::time::Duration;

use async_trait::async_trait;
use redis::aio::ConnectionLike;

use super::codec::{decode_csrf, decode_session, encode_csrf, encode_nonce, encode_session};
use super::keys::session_record_key;
use super::{unavailable, RedisStore};
use crate::crypto::{SessionKey, CSRF_NONCE_BYTES};
use crate::store::{CsrfState, CsrfSwap, ResolvedSwap, SessionRecord, SessionStore, StoreError};
use crate::time::Timestamp;

#[async_trait]
impl<C> SessionStore for RedisStore<C>
where
    C: ConnectionLike + Clone + Send + Sync + 'static,
{
    async fn insert_session(&self, record: &SessionRecord) -> Result<(), StoreError> {
        let created: Option<String> = self
            .query(
                redis::cmd("SET")
                    .arg(session_record_key(&record.key))
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
            .arg(session_record_key(key))
            .cmd("PEXPIRETIME")
            .arg(session_record_key(key));
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
                    .arg(session_record_key(key))
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
                        .arg(session_record_key(key))
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
                    .arg(session_record_key(key))
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
            .key(session_record_key(key))
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

    /// One script instead of `GETEX` then the swap script: a CSRF rotation request is
    /// one round trip, as validating one is.
    async fn resolve_and_swap_csrf(
        &self,
        key: &SessionKey,
        now: Timestamp,
        idle: Duration,
        _touch_step: Duration,
        presented: &[u8; CSRF_NONCE_BYTES],
        next: &CsrfState,
    ) -> Result<ResolvedSwap, StoreError> {
        let idle_expires_at = now.plus(idle);
        let (code, stored): (i64, String) = self
            .scripts
            .resolve_and_swap_csrf
            .key(session_record_key(key))
            .arg(now.as_millis())
            .arg(idle_expires_at.as_millis())
            .arg(encode_nonce(presented))
            .arg(encode_csrf(next))
            .invoke_async(&mut self.connection())
            .await
            .map_err(unavailable)?;
        if code == 2 {
            return Ok(ResolvedSwap::Gone);
        }
        let mut record = decode_session(key, &stored, idle_expires_at)?;
        let swapped = code == 1;
        if swapped {
            record.csrf = *next;
        }
        Ok(ResolvedSwap::Found { record, swapped })
    }

    async fn delete_session(&self, key: &SessionKey) -> Result<bool, StoreError> {
        let deleted: i64 = self
            .query(redis::cmd("DEL").arg(session_record_key(key)))
            .await?;
        Ok(deleted == 1)
    }

    /// Session records expire by themselves (their key's expiry is the idle expiry,
    /// moved back to the absolute one in the last idle period): nothing is left to
    /// delete, so this reports none, and [`SessionHooks::on_expired`] is not called for
    /// Redis sessions. Keep what you store with a session under its
    /// [`session_key_prefix`](super::session_key_prefix) with an expiry no later than
    /// the session's.
    ///
    /// [`SessionHooks::on_expired`]: crate::SessionHooks::on_expired
    async fn sweep_expired(&self, _now: Timestamp) -> Result<Vec<SessionKey>, StoreError> {
        Ok(Vec::new())
    }

    async fn ping(&self) -> Result<(), StoreError> {
        let _: String = self.query(&redis::cmd("PING")).await?;
        Ok(())
    }
}
