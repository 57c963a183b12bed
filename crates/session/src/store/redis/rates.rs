//! [`RateLimitStore`] on Redis: one GCRA state per client and action, counted by a
//! script on Redis's own clock (`TIME`), so instances with skewed clocks count alike;
//! each state expires when its client is idle.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::Duration;

use async_trait::async_trait;
use redis::aio::ConnectionLike;

use super::keys::rate_key;
use super::{unavailable, RedisStore};
use crate::store::{RateAction, RateLimitStore, RateVerdict, StoreError};

#[async_trait]
impl<C> RateLimitStore for RedisStore<C>
where
    C: ConnectionLike + Clone + Send + Sync + 'static,
{
    async fn check_rate(
        &self,
        action: RateAction,
        client: IpAddr,
        per_minute: NonZeroU32,
    ) -> Result<RateVerdict, StoreError> {
        let interval = 60_000 / u64::from(per_minute.get()).max(1);
        let (allowed, retry_ms): (i64, i64) = self
            .scripts
            .rate
            .key(rate_key(action, client))
            .arg(interval.max(1))
            .arg(per_minute.get())
            .invoke_async(&mut self.connection())
            .await
            .map_err(unavailable)?;
        Ok(if allowed == 1 {
            RateVerdict::Allowed
        } else {
            RateVerdict::Limited {
                retry_after: Duration::from_millis(retry_ms.max(1) as u64),
            }
        })
    }

    /// Counters expire by themselves.
    async fn forget_idle_rates(&self) -> Result<(), StoreError> {
        Ok(())
    }
}
