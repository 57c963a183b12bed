//! [`DownloadStore`] on Redis. A grant's own key (`tc:grant:<T>`) cannot share the
//! session's slot (the token is all a download names): it is written first, then
//! indexed by a script that checks the session; if the session is gone it is deleted
//! again, and closing a session deletes the grants its index names. Taking a grant is
//! `GETDEL`, so a token works once.

use async_trait::async_trait;
use redis::aio::ConnectionLike;

use super::codec::{decode_grant, encode_grant};
use super::keys::{grant_key, grant_key_of, grants_key, job_field, session_key};
use super::{millis, unavailable, RedisStorage};
use crate::storage::{DownloadGrant, DownloadStore, SessionStore as _, StoreError, TokenHash};
use trustyconvert_session::keys::encode_hex;
use trustyconvert_session::Timestamp;

impl<C> RedisStorage<C>
where
    C: ConnectionLike + Clone + Send + Sync + 'static,
{
    /// A grant's record, if its session is still live and it is valid at `now`.
    async fn valid_grant(
        &self,
        value: Option<String>,
        now: Timestamp,
    ) -> Result<Option<DownloadGrant>, StoreError> {
        let Some(value) = value else {
            return Ok(None);
        };
        let grant = decode_grant(&value)?;
        if grant.expires_at <= now {
            return Ok(None);
        }
        // A grant dies with its session (its key may outlive it by its own expiry).
        let live = self
            .load_session(&grant.session)
            .await?
            .is_some_and(|session| session.is_live(now));
        Ok(live.then_some(grant))
    }
}

#[async_trait]
impl<C> DownloadStore for RedisStorage<C>
where
    C: ConnectionLike + Clone + Send + Sync + 'static,
{
    async fn insert_grant(
        &self,
        token: &TokenHash,
        grant: &DownloadGrant,
        max_per_job: usize,
    ) -> Result<bool, StoreError> {
        let value = encode_grant(grant);
        let _: Option<String> = self
            .query(
                redis::cmd("SET")
                    .arg(grant_key(token))
                    .arg(value)
                    .arg("PXAT")
                    .arg(grant.expires_at.as_millis()),
            )
            .await?;
        // The session's index of grants decides, atomically, which older grants of
        // the job retire; the new one always stays. It refuses if the session is gone:
        // then the grant key written above goes too.
        let (added, retired): (i64, Vec<String>) = self
            .scripts
            .add_grant
            .key(grants_key(&grant.session))
            .key(session_key(&grant.session))
            .arg(job_field(&grant.job_id))
            .arg(encode_hex(&token.0))
            .arg(grant.expires_at.as_millis())
            .arg(max_per_job.saturating_sub(1))
            .arg(Timestamp::now().as_millis())
            .arg(millis(self.max_session_life))
            .invoke_async(&mut self.connection())
            .await
            .map_err(unavailable)?;
        if added == 0 {
            self.query::<i64>(redis::cmd("DEL").arg(grant_key(token)))
                .await?;
            return Ok(false);
        }
        for old in retired {
            self.query::<i64>(redis::cmd("DEL").arg(grant_key_of(&old)))
                .await?;
        }
        Ok(true)
    }

    /// `GETDEL`: of two requests racing for a token, on any instances, one gets it.
    async fn take_grant(
        &self,
        token: &TokenHash,
        now: Timestamp,
    ) -> Result<Option<DownloadGrant>, StoreError> {
        let value: Option<String> = self
            .query(redis::cmd("GETDEL").arg(grant_key(token)))
            .await?;
        self.valid_grant(value, now).await
    }

    async fn peek_grant(
        &self,
        token: &TokenHash,
        now: Timestamp,
    ) -> Result<Option<DownloadGrant>, StoreError> {
        let value: Option<String> = self.query(redis::cmd("GET").arg(grant_key(token))).await?;
        self.valid_grant(value, now).await
    }
}
